"""OAuth2 client credentials and TLS settings of the FHIR client, against in-process transports.

The real path (a TLS proxy with a token endpoint in front of HAPI) is
tests/integration/test_fhir_security.py; here are the cases that need a clock or exact timing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import trustme

from adapter.config import Settings
from adapter.fhir import FhirClient, Final, Retryable, TokenRefused
from adapter.fhir.auth import TOKEN_ATTEMPTS, ClientCredentials, client_credentials, tls_context

TOKEN_URL = "https://idp.test/oauth2/token"
SECRET = "s3cret/with+odd chars"
METADATA = {"resourceType": "CapabilityStatement"}


class Idp:
    """A token endpoint: issues tok-1, tok-2, ... or answers what ``answer`` says."""

    def __init__(self, expires_in: object = 3600, answer: Callable[[httpx.Request], httpx.Response] | None = None):
        self.expires_in, self.answer = expires_in, answer
        self.requests: list[httpx.Request] = []
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        await asyncio.sleep(self.delay)
        if self.answer is not None:
            return self.answer(request)
        return httpx.Response(
            200, json={"access_token": f"tok-{len(self.requests)}", "token_type": "bearer", "expires_in": self.expires_in}
        )


class Server:
    """A FHIR server that takes the tokens in ``valid`` and records the Authorization it saw."""

    def __init__(self, *valid: str):
        self.valid = set(valid)
        self.seen: list[str | None] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        given = request.headers.get("Authorization")
        self.seen.append(given)
        if given not in {f"Bearer {t}" for t in self.valid}:
            return httpx.Response(401, json={"resourceType": "OperationOutcome"})
        return httpx.Response(200, json=METADATA)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def _no_wait(seconds: float) -> None:
    """The token fetch's backoff, skipped: these tests count requests, not seconds."""


def _client(idp: Idp, server: Server, clock: Clock | None = None, scope: str | None = "system/*.write") -> FhirClient:
    auth = ClientCredentials(
        TOKEN_URL, "samverkan", SECRET, scope=scope, transport=httpx.MockTransport(idp), clock=clock or Clock(), sleep=_no_wait
    )
    return FhirClient("https://fhir.test/fhir", auth=auth, transport=httpx.MockTransport(server))


def _run(scenario: Callable[[FhirClient], Awaitable[Any]], client: FhirClient) -> Any:
    async def go() -> Any:
        async with client:
            return await scenario(client)

    return asyncio.run(go())


def test_the_token_request_is_client_credentials_with_http_basic_and_the_scope() -> None:
    idp, server = Idp(), Server("tok-1")
    _run(lambda fhir: fhir.capabilities(), _client(idp, server))
    (sent,) = idp.requests
    assert sent.method == "POST" and str(sent.url) == TOKEN_URL
    assert parse_qs(sent.content.decode()) == {"grant_type": ["client_credentials"], "scope": ["system/*.write"]}
    # RFC 6749 section 2.3.1: id and secret form-encoded, then Basic
    user, _, password = base64.b64decode(sent.headers["Authorization"].removeprefix("Basic ")).decode().partition(":")
    assert (user, password) == ("samverkan", "s3cret%2Fwith%2Bodd+chars")
    assert server.seen == ["Bearer tok-1"]


def test_no_scope_is_asked_for_when_none_is_set() -> None:
    idp = Idp()
    _run(lambda fhir: fhir.capabilities(), _client(idp, Server("tok-1"), scope=None))
    assert parse_qs(idp.requests[0].content.decode()) == {"grant_type": ["client_credentials"]}


def test_concurrent_requests_wait_for_one_token_request() -> None:
    idp, server = Idp(), Server("tok-1")
    idp.delay = 0.05  # every request arrives while the first token is on its way

    async def many(fhir: FhirClient) -> None:
        await asyncio.gather(*(fhir.capabilities() for _ in range(20)))

    _run(many, _client(idp, server))
    assert len(idp.requests) == 1 and server.seen == ["Bearer tok-1"] * 20


@pytest.mark.parametrize(("expires_in", "kept_until"), [(3600, 3570.0), ("100", 90.0), (5, 4.5)])
def test_a_token_is_renewed_shortly_before_it_expires(expires_in: object, kept_until: float) -> None:
    # 30 s before it expires, or a tenth of its lifetime when that is shorter (a string is read too)
    idp, server, clock = Idp(expires_in), Server("tok-1", "tok-2"), Clock()

    async def scenario(fhir: FhirClient) -> None:
        start = clock.now
        await fhir.capabilities()
        clock.now = start + kept_until - 0.01
        await fhir.capabilities()
        assert len(idp.requests) == 1
        clock.now = start + kept_until + 0.01
        await fhir.capabilities()

    _run(scenario, _client(idp, server, clock))
    assert len(idp.requests) == 2 and server.seen == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_token_without_expires_in_is_kept_until_the_server_refuses_it() -> None:
    idp, server, clock = Idp(expires_in=None), Server("tok-1"), Clock()

    async def scenario(fhir: FhirClient) -> None:
        await fhir.capabilities()
        clock.now += 10 * 86400
        await fhir.capabilities()
        server.valid = {"tok-2"}  # revoked
        await fhir.capabilities()

    _run(scenario, _client(idp, server, clock))
    assert len(idp.requests) == 2 and server.seen == ["Bearer tok-1", "Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]


def test_a_401_fetches_a_new_token_and_sends_the_request_once_more_with_its_body() -> None:
    idp, seen = Idp(), []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["Authorization"], json.loads(request.content)))
        if request.headers["Authorization"] == "Bearer tok-1":
            return httpx.Response(401)
        return httpx.Response(200, json={"resourceType": "Bundle", "entry": []})

    auth = ClientCredentials(TOKEN_URL, "samverkan", SECRET, transport=httpx.MockTransport(idp))
    client = FhirClient("https://fhir.test/fhir", auth=auth, transport=httpx.MockTransport(server))
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": []}
    _run(lambda fhir: fhir.transaction(bundle), client)
    assert seen == [("Bearer tok-1", bundle), ("Bearer tok-2", bundle)] and len(idp.requests) == 2


def test_a_second_401_is_the_servers_answer_not_a_loop() -> None:
    idp, server = Idp(), Server()  # takes no token at all
    with pytest.raises(Final) as caught:
        _run(lambda fhir: fhir.capabilities(), _client(idp, server))
    assert caught.value.status == 401 and len(server.seen) == 2 and len(idp.requests) == 2


@pytest.mark.parametrize("status", [500, 503, 429])
def test_a_token_endpoint_in_trouble_is_retryable(status: int) -> None:
    idp = Idp(answer=lambda r: httpx.Response(status, text="busy"))
    with pytest.raises(Retryable) as caught:
        _run(lambda fhir: fhir.capabilities(), _client(idp, Server()))
    assert not isinstance(caught.value, TokenRefused)
    assert caught.value.status is None  # the attempt's status is the FHIR server's, which never saw it
    assert TOKEN_URL in str(caught.value) and str(status) in str(caught.value)


def test_a_token_endpoint_out_of_reach_is_retryable() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with pytest.raises(Retryable, match=re.escape(f"the token endpoint at {TOKEN_URL} could not be reached")):
        _run(lambda fhir: fhir.capabilities(), _client(Idp(answer=down), Server()))


def test_relays_waiting_behind_a_failed_token_request_share_its_error() -> None:
    idp = Idp(answer=lambda r: httpx.Response(503))
    idp.delay = 0.05

    async def many(fhir: FhirClient) -> list[object]:
        results: list[object] = await asyncio.gather(*(fhir.capabilities() for _ in range(10)), return_exceptions=True)
        return results

    results = _run(many, _client(idp, Server()))
    # One fetch (its few attempts), not one per waiting relay.
    assert all(isinstance(r, Retryable) for r in results) and len(idp.requests) == TOKEN_ATTEMPTS


@pytest.mark.parametrize(
    ("status", "body", "said"),
    [
        (401, {"error": "invalid_client", "error_description": "bad secret"}, "invalid_client: bad secret"),
        (400, {"error": "invalid_scope"}, "invalid_scope"),
        (404, None, "no error code"),
        (200, {"token_type": "bearer"}, "without a bearer access_token"),
    ],
)
def test_refused_credentials_name_the_token_url_and_the_error_never_the_secret(status: int, body: Any, said: str) -> None:
    idp = Idp(answer=lambda r: httpx.Response(status, json=body) if body is not None else httpx.Response(status))
    with pytest.raises(TokenRefused) as caught:
        _run(lambda fhir: fhir.capabilities(), _client(idp, Server()))
    text = str(caught.value)
    assert text.startswith("SAMV-4004") and TOKEN_URL in text and said in text
    assert SECRET not in text and "s3cret" not in text
    # Retryable by decision: fixing the secret delivers what waits, without a replay
    assert isinstance(caught.value, Retryable)


def test_neither_the_token_nor_the_secret_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # httpx's and httpcore's debug lines too
    idp, server = Idp(), Server("tok-2")
    idp.answer = lambda r: httpx.Response(200, json={"access_token": f"tok-{len(idp.requests)}-x9Q", "token_type": "Bearer"})
    server.valid = {"tok-2-x9Q"}  # the first is refused: the refresh path is logged too
    client = _client(idp, server)
    _run(lambda fhir: fhir.capabilities(), client)
    assert "a new token for the FHIR server from https://idp.test/oauth2/token" in caplog.text
    assert "x9Q" not in caplog.text and "s3cret" not in caplog.text
    assert "s3cret" not in repr(client._http.auth)


def test_the_sync_flow_is_refused_rather_than_sending_no_token() -> None:
    auth = ClientCredentials(TOKEN_URL, "samverkan", SECRET)
    with pytest.raises(RuntimeError, match="AsyncClient only"), httpx.Client(auth=auth) as sync:
        sync.get("https://fhir.test/fhir/metadata")


def test_from_settings_applies_timeouts_ca_bundle_and_credentials(tmp_path: Path) -> None:
    bundle = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(bundle))
    settings = Settings(
        fhir_base_url="https://fhir.test/fhir",
        fhir_timeout=20,
        fhir_ca_bundle=str(bundle),
        fhir_token_url=TOKEN_URL,
        fhir_client_id="samverkan",
        fhir_client_secret=SECRET,
    )
    client = FhirClient.from_settings(settings)
    try:
        assert client._http.timeout == httpx.Timeout(connect=10.0, read=20.0, write=20.0, pool=20.0)
        assert isinstance(client.verify, ssl.SSLContext)
        assert isinstance(client._http.auth, ClientCredentials) and client._http.auth.token_url == TOKEN_URL
    finally:
        asyncio.run(client.aclose())


def test_without_settings_there_is_no_token_and_the_default_cas() -> None:
    assert client_credentials(Settings()) is None
    assert tls_context(None) is True


@pytest.mark.parametrize(
    ("given", "said"),
    [
        ({"fhir_token_url": TOKEN_URL, "fhir_client_id": "samverkan"}, "SAMVERKAN_FHIR_CLIENT_SECRET not"),
        ({"fhir_client_secret": SECRET}, "SAMVERKAN_FHIR_CLIENT_SECRET set without SAMVERKAN_FHIR_TOKEN_URL"),
    ],
)
def test_half_a_set_of_credentials_is_refused_at_start(given: dict[str, str], said: str) -> None:
    with pytest.raises(ValueError, match=said) as caught:
        client_credentials(Settings(**given))  # type: ignore[arg-type]
    assert SECRET not in str(caught.value)


def test_a_ca_bundle_that_cannot_be_read_is_refused_at_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"SAMVERKAN_FHIR_CA_BUNDLE=.*missing\.pem"):
        tls_context(str(tmp_path / "missing.pem"))
