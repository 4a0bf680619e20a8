"""How the adapter proves who it is to the FHIR server, and checks who the server is (issue 9).

    SAMVERKAN_FHIR_TOKEN_URL=https://idp.example/oauth2/token   OAuth2 client credentials
    SAMVERKAN_FHIR_CLIENT_ID=samverkan                           (RFC 6749 section 4.4)
    SAMVERKAN_FHIR_CLIENT_SECRET=...                             HTTP Basic to the token endpoint
    SAMVERKAN_FHIR_SCOPE=system/*.write                          asked for when set
    SAMVERKAN_FHIR_CA_BUNDLE=/etc/samverkan/ca.pem               the CAs servers are checked against

:class:`ClientCredentials` is an ``httpx.Auth``: it fetches a bearer token, keeps it until shortly
before it expires, fetches one request at a time however many relays wait for it, and when the
FHIR server answers 401 fetches a new one and sends the request once more. Its failures are the
relay's own errors (``adapter.fhir.errors``), decided by ``adapter.fhir.retry.classify`` as for
every other caller:

    Retryable                   SAMV-4001 the token endpoint cannot be reached, times out, 408, 425, 429, 5xx
    └── TokenRefused            SAMV-4004 it refused the adapter's client credentials (400, 401, ...)

A Retryable failure is tried again within the request that needs the token, a few times
(:data:`TOKEN_ATTEMPTS`, tenacity), before the caller gets it: one request must not hang, and the
relay's own durable retries take over from there.

Neither the secret nor a token is ever logged or put in an error's text.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus, urlsplit

import httpx

from .errors import RelayError, Retryable, TokenRefused, mapped_errors, timeouts
from .retry import classify, retrying

if TYPE_CHECKING:
    from adapter.config import Settings

__all__ = ["TOKEN_ATTEMPTS", "ClientCredentials", "client_credentials", "tls_context"]

log = logging.getLogger("adapter.fhir.auth")

#: Renew a token this long before it expires, at most (a tenth of its lifetime for short ones):
#: a request must not set out with a token that dies on the way.
RENEW_MARGIN = 30.0
#: Token requests one fetch makes at most while the endpoint's failures are retryable.
TOKEN_ATTEMPTS = 3


def tls_context(ca_bundle: str | None) -> ssl.SSLContext | bool:
    """What httpx's ``verify`` gets: the CAs of ``ca_bundle`` only, or True (httpx's default CAs)."""
    if ca_bundle is None:
        return True
    try:
        return ssl.create_default_context(cafile=ca_bundle)
    except (OSError, ssl.SSLError) as exc:  # fail at start-up, not at the first relay
        raise ValueError(f"SAMVERKAN_FHIR_CA_BUNDLE={ca_bundle} is not a readable PEM file of CAs: {exc}") from exc


def client_credentials(settings: Settings, *, verify: ssl.SSLContext | bool = True) -> ClientCredentials | None:
    """The auth the settings ask for, or None without a token URL; half a configuration is an error."""
    given = {
        "SAMVERKAN_FHIR_CLIENT_ID": settings.fhir_client_id,
        "SAMVERKAN_FHIR_CLIENT_SECRET": settings.fhir_client_secret,
    }
    if settings.fhir_token_url is None:
        named = [name for name, value in given.items() if value] + (["SAMVERKAN_FHIR_SCOPE"] if settings.fhir_scope else [])
        if named:
            raise ValueError(f"{', '.join(named)} set without SAMVERKAN_FHIR_TOKEN_URL")
        return None
    missing = [name for name, value in given.items() if not value]
    if missing:
        raise ValueError(f"SAMVERKAN_FHIR_TOKEN_URL is set but {' and '.join(missing)} not")
    assert settings.fhir_client_id and settings.fhir_client_secret  # for mypy: checked just above
    return ClientCredentials(
        settings.fhir_token_url,
        settings.fhir_client_id,
        settings.fhir_client_secret,
        scope=settings.fhir_scope,
        verify=verify,
        timeout=timeouts(settings.fhir_timeout),
    )


class ClientCredentials(httpx.Auth):
    """Bearer tokens from an OAuth2 token endpoint by the client credentials grant (async only).

    auth = ClientCredentials("https://idp/token", "samverkan", secret, scope="system/*.write")
    fhir = FhirClient("https://fhir/R4", auth=auth)
    """

    # The request is sent again after a 401, so its body must be at hand.
    requires_request_body = True

    def __init__(
        self,
        token_url: str,
        client_id: str,
        client_secret: str,
        *,
        scope: str | None = None,
        verify: ssl.SSLContext | bool = True,
        timeout: httpx.Timeout | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        attempts: int = TOKEN_ATTEMPTS,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        rng: random.Random | None = None,
    ):
        self.token_url, self.client_id, self.scope = token_url, client_id, scope
        self._attempts, self._sleep, self._rng = attempts, sleep, rng
        # RFC 6749 section 2.3.1: both are form-encoded before they go into HTTP Basic.
        self._basic = httpx.BasicAuth(quote_plus(client_id), quote_plus(client_secret))
        self._verify, self._timeout, self._transport, self._clock = verify, timeout or timeouts(30.0), transport, clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        self._fetches = 0  # how many fetches have finished, for callers that waited on one
        self._failure: RelayError | None = None  # what the last fetch raised, if it failed
        url = urlsplit(token_url)
        if url.scheme != "https" and url.hostname not in ("127.0.0.1", "::1", "localhost"):
            log.warning("the FHIR client secret goes to %s without TLS", token_url)

    def __repr__(self) -> str:
        return f"ClientCredentials(token_url={self.token_url!r}, client_id={self.client_id!r}, scope={self.scope!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise RuntimeError("ClientCredentials works with httpx.AsyncClient only (its lock is asyncio's)")

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        token = await self.token()
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            # Revoked, or expired early (the server restarted, clocks differ): one new token, one
            # more try; a second 401 goes to the caller, who treats it as the 4xx it is.
            request.headers["Authorization"] = f"Bearer {await self.token(stale=token)}"
            yield request

    async def token(self, *, stale: str | None = None) -> str:
        """A token valid for a while yet (not ``stale``, which the server refused)."""
        seen = self._fetches
        async with self._lock:
            if self._fetches != seen and self._failure is not None:
                # The fetch this caller queued behind has just failed: share its answer, so a
                # token endpoint that is down costs one request, not one per waiting relay.
                raise self._failure.with_traceback(None)
            if self._token is not None and self._token != stale and self._clock() < self._renew_at:
                return self._token
            self._token = None
            try:
                token, lifetime = await self._fetch()
            except RelayError as exc:
                self._failure = exc
                raise
            finally:
                self._fetches += 1
            self._failure = None
            now = self._clock()
            self._token = token
            self._renew_at = now + lifetime - min(RENEW_MARGIN, lifetime / 10) if lifetime is not None else float("inf")
            return token

    async def _fetch(self) -> tuple[str, float | None]:
        """The token and its lifetime in seconds (None: the endpoint did not say), after at most
        ``attempts`` requests while the endpoint's failures are retryable, none begun after one
        request's timeout has passed: the request that waits for the token must not hang."""
        within = self._timeout.read or 30.0
        again = retrying(attempts=self._attempts, within=within, rng=self._rng, sleep=self._sleep)
        fetched: tuple[str, float | None] = await again(self._request)
        return fetched

    async def _request(self) -> tuple[str, float | None]:
        """One token request."""
        form = {"grant_type": "client_credentials"} | ({"scope": self.scope} if self.scope else {})
        async with httpx.AsyncClient(verify=self._verify, timeout=self._timeout, transport=self._transport) as http:
            with mapped_errors(self.token_url, what="the token endpoint"):
                response = await http.post(self.token_url, data=form, auth=self._basic, headers={"Accept": "application/json"})
        status = response.status_code
        decision = classify(status, response.headers)
        if decision.retryable:
            # No status: an attempt's status is the FHIR server's, which never saw this request; no
            # overload either: the throttle measures the FHIR server, not the token endpoint.
            raise Retryable(f"the token endpoint at {self.token_url} answered {status}", retry_after=decision.retry_after)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            body = {}
        if status != 200:
            # RFC 6749 section 5.2: `error` is a code such as invalid_client; its description is the
            # endpoint's text, cut short. Neither can hold our secret.
            error = str(body.get("error", "no error code"))[:64]
            described = f": {str(body['error_description'])[:200]}" if body.get("error_description") else ""
            raise TokenRefused(
                f"the token endpoint at {self.token_url} refused the client credentials of {self.client_id!r}"
                f" with {status} ({error}{described}); check SAMVERKAN_FHIR_CLIENT_ID, _CLIENT_SECRET and _SCOPE"
            )
        token, kind = body.get("access_token"), str(body.get("token_type", "")).lower()
        if not isinstance(token, str) or not token or kind != "bearer":
            raise TokenRefused(f"the token endpoint at {self.token_url} answered 200 without a bearer access_token")
        lifetime = _seconds(body.get("expires_in"))
        log.info("a new token for the FHIR server from %s, valid for %s s", self.token_url, lifetime or "unstated")
        return token, lifetime


def _seconds(value: object) -> float | None:
    """``expires_in`` as seconds; some endpoints send it as a string, and it is only RECOMMENDED."""
    if not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds > 0 else None
