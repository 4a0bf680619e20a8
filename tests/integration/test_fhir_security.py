"""The FHIR server guarded by TLS and OAuth2 (issue 9): relays through the adapter's real path.

HAPI sits behind tests/guardproxy.py, which terminates TLS with a certificate of its own CA and
lets through only requests carrying a bearer token from its own token endpoint.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter import codec
from adapter.config import Settings
from adapter.http import create_app
from mappings import identifiers as ids
from mappings.model import Message
from tests.guardproxy import GuardProxy
from tests.support import INSKRIVNING, load, unique

from .conftest import Hapi

SECRET = "the-right-secret-" + uuid.uuid4().hex


def _origin(fhir_base_url: str) -> str:
    origin, _, rest = fhir_base_url.partition("/fhir")
    assert rest == "", f"expected a base URL ending in /fhir: {fhir_base_url}"
    return origin


@pytest.fixture
def tls_proxy(fhir_base_url: str) -> Iterator[GuardProxy]:
    with GuardProxy(_origin(fhir_base_url), tls=True) as proxy:
        yield proxy


@pytest.fixture
def token_proxy(fhir_base_url: str) -> Iterator[GuardProxy]:
    with GuardProxy(_origin(fhir_base_url), tokens=True, client_secret=SECRET) as proxy:
        yield proxy


def _settings(proxy: GuardProxy, tmp_path: Path, **given: Any) -> Settings:
    # No overdue scheduler: the proxy's counts are the relays' and the watcher's first look only.
    defaults: dict[str, Any] = {
        "fhir_base_url": f"{proxy.url}/fhir",
        "journal_path": str(tmp_path / "journal.sqlite3"),
        "retry_base": 0.2,
        "retry_cap": 1.0,
        "fhir_timeout": 10,
        "overdue_interval": 0,
    }
    return Settings(**(defaults | given))


def _credentials(proxy: GuardProxy, secret: str = SECRET) -> dict[str, Any]:
    return {
        "fhir_token_url": f"{proxy.url}/token",
        "fhir_client_id": "samverkan",
        "fhir_client_secret": secret,
        "fhir_scope": "system/*.write",
    }


def _post(client: TestClient) -> Message:
    message = unique(load(INSKRIVNING))
    response = client.post("/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    return message


def _until(client: TestClient, message_id: str, done: Any, seconds: float = 60) -> dict[str, Any]:
    """The message's status once ``done(status)`` holds (the worker relays in the background)."""
    deadline = time.monotonic() + seconds
    while True:
        status: dict[str, Any] = client.get(f"/messages/{message_id}").json()
        if done(status):
            return status
        assert time.monotonic() < deadline, f"still {status['state']} after {seconds} s: {status}"
        time.sleep(0.05)


def _delivered(client: TestClient, message_id: str) -> dict[str, Any]:
    status = _until(client, message_id, lambda s: s["state"] in ("delivered", "dead-lettered"))
    assert status["state"] == "delivered", status
    return status


def _tried(status: dict[str, Any]) -> bool:
    return bool(status["attemptLog"]) or status["state"] not in ("accepted", "relaying")


def _ready(client: TestClient) -> Any:
    """/ready once the watcher has looked at the FHIR server (it does so at start-up)."""
    deadline = time.monotonic() + 30
    while True:
        response = client.get("/ready")
        if "has not been looked at yet" not in response.text or time.monotonic() > deadline:
            return response
        time.sleep(0.05)


# TLS


def test_with_the_ca_bundle_messages_go_over_https_to_hapi(tls_proxy: GuardProxy, tmp_path: Path, hapi: Hapi) -> None:
    # Given the adapter told which CA signed the FHIR server's certificate
    settings = _settings(tls_proxy, tmp_path, fhir_ca_bundle=tls_proxy.write_ca(tmp_path / "ca.pem"))
    assert settings.fhir_base_url.startswith("https://")
    with TestClient(create_app(settings)) as client:
        # When messages are posted
        sent = [_post(client) for _ in range(2)]
        # Then they are delivered over https, HAPI has them, and /ready looked through the same client
        for message in sent:
            _delivered(client, message.id)
            assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
        assert _ready(client).status_code == 200
    assert tls_proxy.forwarded >= 3  # two transactions (and their look-ups) and the watcher's /metadata


def test_without_the_ca_bundle_the_certificate_is_refused_and_nothing_lands(
    tls_proxy: GuardProxy, tmp_path: Path, hapi: Hapi
) -> None:
    # Given an adapter that trusts only the usual public CAs
    with TestClient(create_app(_settings(tls_proxy, tmp_path))) as client:
        message = _post(client)
        # Then the relay is retried, and the attempt says the certificate was not trusted
        status = _until(client, message.id, _tried)
        # Retried, not given up on (it may already be in its next attempt when we look)
        assert status["state"] in ("retrying", "relaying"), status
        error = status["attemptLog"][0]["error"]
        assert error.startswith("SAMV-4001") and "certificate" in error and tls_proxy.url in error, error
        ready = _ready(client)
        assert ready.status_code == 503 and ready.json()["issue"][0]["expression"] == ["fhir"], ready.text
        # The why is for operators (/stats), not for whoever asks /ready (issue 16, finding 13)
        assert "certificate" in client.get("/stats").json()["fhir"]["error"]
    # And nothing went past the TLS handshake
    assert tls_proxy.forwarded == 0
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 0


def test_tls_and_a_token_together(fhir_base_url: str, tmp_path: Path, hapi: Hapi) -> None:
    # The usual production set-up: the token endpoint and the FHIR server both behind the private CA.
    with GuardProxy(_origin(fhir_base_url), tls=True, tokens=True, client_secret=SECRET) as proxy:
        settings = _settings(proxy, tmp_path, fhir_ca_bundle=proxy.write_ca(tmp_path / "ca.pem"), **_credentials(proxy))
        with TestClient(create_app(settings)) as client:
            message = _post(client)
            _delivered(client, message.id)
        assert proxy.token_requests == 1 and proxy.unauthorized == 0
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1


# OAuth2 client credentials


def test_every_request_carries_a_token_and_messages_share_one(
    token_proxy: GuardProxy, tmp_path: Path, hapi: Hapi, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    with TestClient(create_app(_settings(token_proxy, tmp_path, **_credentials(token_proxy)))) as client:
        # When several messages of different episodes are relayed at once
        sent = [_post(client) for _ in range(5)]
        for message in sent:
            _delivered(client, message.id)
        assert _ready(client).status_code == 200
    # Then every request to HAPI carried a valid token, and one token served them all
    assert token_proxy.unauthorized == 0 and token_proxy.forwarded >= 6
    assert token_proxy.token_requests == 1
    assert token_proxy.scopes == ["system/*.write"]
    for message in sent:
        assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
    # And neither the token nor the secret was logged
    assert "a new token for the FHIR server" in caplog.text
    token = token_proxy.issued[0][0]
    assert token not in caplog.text and SECRET not in caplog.text


def test_a_token_about_to_expire_is_renewed(token_proxy: GuardProxy, tmp_path: Path) -> None:
    token_proxy.token_lifetime = 4  # renewed 0.4 s before it runs out
    with TestClient(create_app(_settings(token_proxy, tmp_path, **_credentials(token_proxy)))) as client:
        _delivered(client, _post(client).id)
        assert token_proxy.token_requests == 1
        # When the token has run out
        time.sleep(max(0.0, token_proxy.issued[0][1] + 4.1 - time.monotonic()))
        status = _delivered(client, _post(client).id)
    # Then a new one was fetched before the server had to refuse anything
    assert token_proxy.token_requests == 2 and token_proxy.unauthorized == 0
    assert [a["status"] for a in status["attemptLog"]] == [200]


def test_a_revoked_token_is_replaced_and_the_request_sent_once_more(token_proxy: GuardProxy, tmp_path: Path, hapi: Hapi) -> None:
    with TestClient(create_app(_settings(token_proxy, tmp_path, **_credentials(token_proxy)))) as client:
        _delivered(client, _post(client).id)
        # When the server forgets the token long before it expires
        token_proxy.revoke()
        message = _post(client)
        status = _delivered(client, message.id)
    # Then the requests with it got 401 (the relay's look-ups go out together), one new token was
    # fetched for all of them, and the relay went on in the same attempt
    assert token_proxy.unauthorized >= 1 and token_proxy.token_requests == 2
    assert [a["status"] for a in status["attemptLog"]] == [200]
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1


def test_a_wrong_secret_is_a_clear_error_and_fixing_it_delivers(token_proxy: GuardProxy, tmp_path: Path, hapi: Hapi) -> None:
    wrong = "not-the-secret-" + uuid.uuid4().hex
    token_url = f"{token_proxy.url}/token"
    with TestClient(create_app(_settings(token_proxy, tmp_path, **_credentials(token_proxy, wrong)))) as client:
        message = _post(client)
        status = _until(client, message.id, _tried)
        # Then the attempt names the token endpoint and what it said, never the secret
        # Retried, not given up on (it may already be in its next attempt when we look)
        assert status["state"] in ("retrying", "relaying"), status
        error = status["attemptLog"][0]["error"]
        assert error.startswith("SAMV-4004") and token_url in error and "invalid_client" in error, error
        assert wrong not in client.get(f"/messages/{message.id}").text
    assert token_proxy.forwarded == 0 and token_proxy.unauthorized == 0
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 0
    # When an operator fixes the secret and restarts, the same journal delivers without a replay
    with TestClient(create_app(_settings(token_proxy, tmp_path, **_credentials(token_proxy)))) as client:
        status = _delivered(client, message.id)
        assert status["attemptLog"][-1]["status"] == 200
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
