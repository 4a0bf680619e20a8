"""Who may send messages, and as whom: senders' API keys and OAuth2 bearer tokens.

Every door that takes a message (``POST /messages``, ``POST /fhir``, ``/fhir/$process-message``)
asks :meth:`Senders.authenticate` for the caller first; a message is then accepted only if its
sender's HSA-id is one the caller's credential is bound to (403 otherwise, see ``adapter.http.app``).

Two kinds of credential, either or both configured:

- API keys, in ``SAMVERKAN_SENDERS_FILE`` (``samverkan sender add``), sent as ``X-API-Key``. The
  file keeps a SHA-256 of each key, never the key: the keys are 256 random bits, so a plain hash
  is as good as a slow one and costs nothing per request::

      {"halmstad-med1": {"key": "sha256$<hex>", "hsa_ids": ["SE2321000131-E000000000011"]}}

- OAuth2 bearer tokens (JWT) from the region's authorisation server, verified against the public
  keys in ``SAMVERKAN_JWT_KEYS_FILE`` (a JWKS or one PEM key) with issuer, audience, expiry and
  scope checks. The claim ``SAMVERKAN_JWT_HSA_CLAIM`` lists the HSA-ids the client may send as.
  Only asymmetric algorithms are accepted, chosen by the key's type: a token can never pick
  ``none`` or HMAC with a public key as its secret.

``SAMVERKAN_INBOUND_AUTH=off`` lets anyone send as anyone (a developer's machine); ``serve``
warns. With authentication required and nothing configured, every message is refused (401).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from fastapi import Request

from adapter.config import Settings

from .accounts import NotAllowed
from .credentials_file import CredentialsFile

__all__ = ["Caller", "JwtVerifier", "SenderKeys", "Senders", "key_digest", "new_api_key"]

log = logging.getLogger("adapter.security.senders")

_REALM = 'Bearer realm="samverkan"'


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated sender: a name for the audit log, and the HSA-ids it may send as."""

    name: str
    hsa_ids: frozenset[str]
    anyone: bool = False  # authentication is off: may send as any HSA-id

    def may_send_as(self, hsa_id: str) -> bool:
        return self.anyone or hsa_id in self.hsa_ids


OPEN = Caller("anonymous", frozenset(), anyone=True)


def _refused(detail: str, error: str | None = None) -> NotAllowed:
    # RFC 6750 §3: a 401 names the scheme, and (for a bad token) the error.
    challenge = f'{_REALM}, error="{error}"' if error else _REALM
    return NotAllowed(401, detail, headers={"WWW-Authenticate": challenge})


def new_api_key() -> str:
    """A new API key: 256 random bits, prefixed so a leaked one is recognisable in a scan."""
    return "svk_" + secrets.token_urlsafe(32)


def key_digest(key: str) -> str:
    return "sha256$" + hashlib.sha256(key.encode()).hexdigest()


def _sender(entry: Any) -> tuple[str, frozenset[str]]:
    return entry["key"], frozenset(entry["hsa_ids"])


def _sender_json(sender: tuple[str, frozenset[str]]) -> dict[str, Any]:
    digest, hsa_ids = sender
    return {"key": digest, "hsa_ids": sorted(hsa_ids)}


class SenderKeys:
    """The API keys file, read again whenever it changes (a removed sender is out at once)."""

    def __init__(self, path: Path | None):
        self.file = CredentialsFile(path, parse=_sender, dump=_sender_json)

    @property
    def path(self) -> Path | None:
        return self.file.path

    @property
    def entries(self) -> dict[str, tuple[str, frozenset[str]]]:
        """``{name: (key digest, HSA-ids)}``; changes here are kept by :meth:`save`."""
        return self.file.entries

    def save(self) -> None:
        self.file.save()

    def caller(self, key: str) -> Caller | None:
        self.file.refresh()
        given = key_digest(key)
        found = None
        for name, (stored, hsa_ids) in self.entries.items():
            # Every entry is compared, in constant time: no timing says how close a guess came.
            if hmac.compare_digest(given, stored):
                found = Caller(name, hsa_ids)
        return found


def _algorithms(key: Any) -> list[str]:
    """The algorithms a key of this type can verify; never HMAC, never none."""
    if isinstance(key, rsa.RSAPublicKey):
        return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
    if isinstance(key, ec.EllipticCurvePublicKey):
        return ["ES256", "ES384", "ES512"]
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return ["EdDSA"]
    raise ValueError(f"a {type(key).__name__} cannot verify senders' tokens: use an RSA, EC or Ed25519 public key")


def _scopes(claims: dict[str, Any]) -> set[str]:
    """The scopes a token grants: ``scope`` as RFC 9068 has it (space-separated), and ``scp`` as
    some issuers send it (a string or an array)."""
    granted: set[str] = set()
    for claim in (claims.get("scope"), claims.get("scp")):
        if isinstance(claim, str):
            granted.update(claim.split())
        elif isinstance(claim, list):
            granted.update(c for c in claim if isinstance(c, str))
    return granted


class JwtVerifier:
    """Verifies a sender's bearer token and names what it may send as."""

    def __init__(self, settings: Settings):
        if not settings.jwt_keys_file:
            raise ValueError("SAMVERKAN_JWT_KEYS_FILE is not set")
        if not settings.jwt_issuer or not settings.jwt_audience:
            # A token from any issuer, or meant for any service, would do: refuse to start instead.
            raise ValueError("SAMVERKAN_JWT_ISSUER and SAMVERKAN_JWT_AUDIENCE must be set with SAMVERKAN_JWT_KEYS_FILE")
        self.issuer, self.audience = settings.jwt_issuer, settings.jwt_audience
        self.scope, self.claim, self.leeway = settings.jwt_scope, settings.jwt_hsa_claim, settings.jwt_leeway
        path = Path(settings.jwt_keys_file)
        try:
            self.keys = self._load(path)
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise ValueError(f"cannot use the senders' token keys in {path}: {exc}") from exc
        if not self.keys:
            raise ValueError(f"no signing key in {path}")

    @staticmethod
    def _load(path: Path) -> dict[str | None, Any]:
        """Public keys by ``kid`` (None: a single PEM key, or a JWKS key without a kid)."""
        text = path.read_text("utf-8")
        if text.lstrip().startswith("{"):
            keys = {}
            for jwk in jwt.PyJWKSet.from_json(text).keys:
                if jwk.public_key_use not in (None, "sig"):
                    continue
                key = jwk.key.public_key() if hasattr(jwk.key, "private_bytes") else jwk.key
                _algorithms(key)
                keys[jwk.key_id] = key
            return keys
        key = serialization.load_pem_public_key(text.encode())
        _algorithms(key)
        return {None: key}

    def caller(self, token: str) -> Caller:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise _refused("the bearer token is not a JWT", "invalid_token") from None
        key = self.keys.get(kid)
        if key is None and kid is None and len(self.keys) == 1:
            key = next(iter(self.keys.values()))  # one key: a token need not name it
        if key is None:
            raise _refused("the bearer token is signed with a key this adapter does not know", "invalid_token")
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=_algorithms(key),
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise _refused("the bearer token has expired", "invalid_token") from None
        except jwt.PyJWTError as exc:
            # PyJWT's messages name the claim that failed (audience, issuer, signature), never its value.
            raise _refused(f"the bearer token is not valid: {exc}", "invalid_token") from None
        scopes = _scopes(claims)
        if self.scope not in scopes:
            raise NotAllowed(
                403,
                f"the bearer token does not grant the scope {self.scope}",
                headers={"WWW-Authenticate": f'{_REALM}, error="insufficient_scope", scope="{self.scope}"'},
            )
        named = claims.get(self.claim)
        hsa_ids = frozenset([named] if isinstance(named, str) else named or ())
        if not hsa_ids or not all(isinstance(h, str) for h in hsa_ids):
            raise NotAllowed(403, f"the bearer token names no HSA-id to send as (claim {self.claim})")
        name = claims.get("client_id") or claims.get("azp") or claims.get("sub") or "token"
        return Caller(str(name), hsa_ids)


class Senders:
    """Authenticates the caller of a message door (see the module's docstring)."""

    def __init__(self, settings: Settings):
        self.open = settings.inbound_auth == "off"
        self.keys = SenderKeys(Path(settings.senders_file)) if settings.senders_file else None
        self.tokens = JwtVerifier(settings) if settings.jwt_keys_file else None
        if self.open:
            log.warning("SAMVERKAN_INBOUND_AUTH=off: anyone who can reach the adapter may send messages as any sender")
        elif self.keys is None and self.tokens is None:
            log.warning(
                "no sender credentials are configured (SAMVERKAN_SENDERS_FILE, SAMVERKAN_JWT_KEYS_FILE):"
                " every message will be refused with 401"
            )

    @staticmethod
    def presented(request: Request) -> tuple[str | None, str | None]:
        """The bearer token and the API key the request carries, if any."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        bearer = token.strip() if scheme.lower() == "bearer" and token.strip() else None
        return bearer, request.headers.get("x-api-key") or None

    def authenticate(self, request: Request) -> Caller:
        if self.open:
            return OPEN
        token, key = self.presented(request)
        if token is not None:
            if self.tokens is None:
                raise _refused("this adapter takes no bearer tokens: send an API key (X-API-Key)")
            return self.tokens.caller(token)
        if key is not None:
            caller = self.keys.caller(key) if self.keys is not None else None
            if caller is None:
                raise _refused("the API key is not known")
            return caller
        if self.keys is None and self.tokens is None:
            raise _refused("this adapter has no sender credentials configured: no message can be accepted")
        raise _refused("authenticate first: a bearer token (Authorization: Bearer) or an API key (X-API-Key)")
