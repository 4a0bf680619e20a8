"""A proxy of ours that guards the real HAPI the way a customer's FHIR server is guarded.

HAPI here neither terminates TLS nor checks tokens, so this stands in front of it (a test double
docs/architecture.md, "Real parts", allows): FaultProxy's forwarding, without faults, behind

- TLS, with a certificate for 127.0.0.1 from a CA of its own (trustme), which nothing trusts
  unless it is given :meth:`GuardProxy.write_ca`'s file;
- bearer tokens: every request to HAPI must carry one it issued and has not revoked, else 401;
  its own token endpoint, ``POST /token``, issues them by the client credentials grant (HTTP
  Basic), counts the requests, and refuses a wrong secret with 401 ``invalid_client``.

    with GuardProxy("http://127.0.0.1:8091", tls=True, tokens=True) as proxy:
        ...  # the adapter at proxy.url + "/fhir", its token URL proxy.url + "/token"
        proxy.revoke()
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import ssl
import time
from pathlib import Path
from urllib.parse import parse_qs, unquote_plus

import httpx
import trustme

from tests.faultproxy import FaultProxy, _respond

__all__ = ["GuardProxy"]


class GuardProxy(FaultProxy):
    """HTTP(S)/1.1 on 127.0.0.1 in front of ``target``; see the module's docstring."""

    def __init__(
        self,
        target: str,
        *,
        tls: bool = False,
        tokens: bool = False,
        client_id: str = "samverkan",
        client_secret: str = "the-right-secret",
        token_lifetime: int = 3600,
    ):
        super().__init__(target, faults={})
        self.ca = trustme.CA() if tls else None
        self.tokens, self.client_id, self.client_secret = tokens, client_id, client_secret
        self.token_lifetime = token_lifetime  # seconds, for tokens issued from now on
        self.token_requests = 0  # every POST /token, granted or not
        self.scopes: list[str | None] = []  # the scope each granted request asked for
        self.issued: list[tuple[str, float]] = []  # (token, monotonic time of issue)
        self.forwarded = 0  # requests passed to HAPI (with tokens on, each carried a valid one)
        self.unauthorized = 0  # requests to HAPI refused with 401
        self._valid: dict[str, float] = {}  # token -> monotonic expiry

    def __enter__(self) -> GuardProxy:
        super().__enter__()
        return self

    @property
    def url(self) -> str:
        return f"{'https' if self.ca else 'http'}://127.0.0.1:{self.port}"

    def write_ca(self, path: Path) -> str:
        """The CA's certificate as a PEM file (what SAMVERKAN_FHIR_CA_BUNDLE names); its path."""
        assert self.ca is not None, "a proxy without TLS has no CA"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    def revoke(self) -> None:
        """Every token issued so far stops working (the server forgot them, or an admin revoked them)."""
        self._valid.clear()

    async def _serve(self) -> None:
        context = None
        if self.ca is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        self._stop = asyncio.Event()
        self._http = httpx.AsyncClient(base_url=self.target, timeout=120, limits=httpx.Limits(max_connections=64))
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0, ssl=context)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        await self._http.aclose()

    async def _handle(self, fault: str, request: tuple[str, str, dict[str, str], bytes], writer: asyncio.StreamWriter) -> bool:
        method, path, headers, body = request
        if path == "/token":
            await _respond(writer, *self._token(method, headers, body))
            return True
        if self.tokens and not self._authorized(headers):
            self.unauthorized += 1
            challenge = {"WWW-Authenticate": 'Bearer error="invalid_token"', "Content-Type": "application/json"}
            await _respond(writer, 401, challenge, b'{"error": "invalid_token"}')
            return True
        self.forwarded += 1
        await _respond(writer, *await self._forward(*request))
        return True

    def _authorized(self, headers: dict[str, str]) -> bool:
        given = _header(headers, "authorization")
        token = given[7:] if given.lower().startswith("bearer ") else None
        return token is not None and time.monotonic() < self._valid.get(token, 0.0)

    def _token(self, method: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        """RFC 6749 section 4.4 with client authentication by HTTP Basic (section 2.3.1)."""
        self.token_requests += 1
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        basic = _header(headers, "authorization")
        try:
            user, _, password = base64.b64decode(basic.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user = password = ""
        if (unquote_plus(user), unquote_plus(password)) != (self.client_id, self.client_secret):
            return _json(401, {"error": "invalid_client", "error_description": "client authentication failed"})
        if method != "POST" or form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        token = secrets.token_urlsafe(24)
        now = time.monotonic()
        self._valid[token] = now + self.token_lifetime
        self.issued.append((token, now))
        self.scopes.append(form.get("scope"))
        return _json(200, {"access_token": token, "token_type": "Bearer", "expires_in": self.token_lifetime})


def _header(headers: dict[str, str], name: str) -> str:
    return next((v for k, v in headers.items() if k.lower() == name), "")


def _json(status: int, body: dict[str, object]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json", "Cache-Control": "no-store"}, json.dumps(body).encode()
