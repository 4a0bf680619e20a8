"""Who may send: API keys (`samverkan sender ...`) and OAuth2 bearer tokens, through the real app
with a real SQLite journal (nothing is relayed: relay_parallel=0)."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter import codec
from adapter.cli import app as cli
from adapter.config import Settings
from adapter.http import create_app
from mappings.model import Party
from tests.support import FIXTURES, INSKRIVNING, load, offline_settings, unique

runner = CliRunner()
MED1 = "SE2321000131-E000000000011"  # the sender of the Inskrivningsmeddelande fixture
OTHER = "SE2321000131-E000000000999"
ISSUER, AUDIENCE = "https://idp.region.example/realms/vard", "samverkan"


def _settings(tmp_path: Path, **given: Any) -> Settings:
    return offline_settings(tmp_path / "j.sqlite3", **{"inbound_auth": "required", **given})


def _document(sender: str = MED1) -> bytes:
    message = unique(load(INSKRIVNING))
    if sender != message.sender.hsa_id:
        message = replace(message, sender=Party(sender, message.sender.kind, message.sender.name))
    return codec.encode_xml(message)


def _post(client: TestClient, body: bytes, **headers: str):
    return client.post("/messages", content=body, headers={"Content-Type": "application/xml", **headers})


def _add_sender(path: Path, name: str, *hsa_ids: str) -> str:
    args = [a for h in hsa_ids for a in ("--hsa-id", h)]
    result = runner.invoke(cli, ["sender", "add", name, *args], env={"SAMVERKAN_SENDERS_FILE": str(path)})
    assert result.exit_code == 0, result.output
    key = result.stdout.strip().splitlines()[-1]
    assert key.startswith("svk_")
    return key


def _issue(outcome: dict[str, Any]) -> dict[str, Any]:
    assert outcome["resourceType"] == "OperationOutcome"
    issue: dict[str, Any] = outcome["issue"][0]
    return issue


def test_with_authentication_required_and_nothing_configured_every_message_is_refused(tmp_path: Path) -> None:
    with TestClient(create_app(_settings(tmp_path))) as client:
        answer = _post(client, _document())
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        assert "no sender credentials configured" in _issue(answer.json())["diagnostics"]
        assert client.get("/messages").json()["items"] == []


def test_an_api_key_sends_as_its_hsa_ids_only(tmp_path: Path) -> None:
    senders = tmp_path / "senders.json"
    key = _add_sender(senders, "med1", MED1)
    assert key not in senders.read_text()  # only its hash is kept
    with TestClient(create_app(_settings(tmp_path, senders_file=str(senders)))) as client:
        assert _post(client, _document(), **{"X-API-Key": key}).status_code == 202
        # No key, a wrong key: 401, and nothing is journaled as accepted.
        assert _post(client, _document()).status_code == 401
        assert _post(client, _document(), **{"X-API-Key": key + "x"}).status_code == 401
        # The right key, another sender's HSA-id: 403, naming the element; journaled as a refusal.
        other = _document(OTHER)
        answer = _post(client, other, **{"X-API-Key": key})
        assert answer.status_code == 403
        issue = _issue(answer.json())
        assert issue["diagnostics"].startswith("SAMV-5001")
        assert issue["location"] == ["/Message/Sender/@hsaId"]
        listed = client.get("/messages").json()["items"]
        assert len(listed) == 1
        refused_id = codec.decode(other, "application/xml").id
        audit = client.get("/audit").json()
        assert [(a["actor"], a["action"], a["messageId"]) for a in audit] == [("med1", "refused", refused_id)]
        assert "SAMV-5001" in audit[0]["detail"]
        # A removed sender is out at its next request, without a restart.
        result = runner.invoke(cli, ["sender", "remove", "med1"], env={"SAMVERKAN_SENDERS_FILE": str(senders)})
        assert result.exit_code == 0, result.output
        assert _post(client, _document(), **{"X-API-Key": key}).status_code == 401


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, Any]:
    """An RSA key in a JWKS file (kid k1), and a second key the adapter does not know."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return {"private": private, "stranger": stranger, "file": path, "public_pem": public_pem}


def _token(key: Any, *, kid: str | None = "k1", alg: str = "RS256", **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "iat": now, "scope": "samverkan.send", "hsa_ids": [MED1]}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


@pytest.fixture
def token_client(tmp_path: Path, keys: dict[str, Any]):
    settings = _settings(tmp_path, jwt_keys_file=str(keys["file"]), jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_valid_bearer_token_sends_as_the_hsa_ids_it_names(token_client: TestClient, keys: dict[str, Any]) -> None:
    token = _token(keys["private"], client_id="vendor-x")
    assert _post(token_client, _document(), Authorization=f"Bearer {token}").status_code == 202
    answer = _post(token_client, _document(OTHER), Authorization=f"Bearer {token}")
    assert answer.status_code == 403
    assert token_client.get("/audit").json()[0]["actor"] == "vendor-x"


@pytest.mark.parametrize(
    ("case", "status", "says"),
    [
        ("expired", 401, "expired"),
        ("other issuer", 401, "issuer"),
        ("other audience", 401, "Audience"),
        ("no expiry", 401, "exp"),
        ("signed by a stranger", 401, "Signature"),
        ("unknown kid", 401, "does not know"),
        ("alg none", 401, "not valid"),
        ("HMAC with the public key as secret", 401, "not valid"),
        ("not a JWT", 401, "not a JWT"),
        ("without the scope", 403, "scope"),
        ("without HSA-ids", 403, "HSA-id"),
    ],
)
def test_a_bad_bearer_token_is_refused(token_client: TestClient, keys: dict[str, Any], case: str, status: int, says: str) -> None:
    private = keys["private"]
    token = {
        "expired": lambda: _token(private, exp=int(time.time()) - 120),
        "other issuer": lambda: _token(private, iss="https://evil.example"),
        "other audience": lambda: _token(private, aud="another-service"),
        "no expiry": lambda: _token(private, exp=None),
        "signed by a stranger": lambda: _token(keys["stranger"]),
        "unknown kid": lambda: _token(private, kid="k2"),
        "alg none": lambda: _token(None, alg="none"),
        # The classic algorithm confusion: an HS256 token keyed with the (public) RSA key.
        "HMAC with the public key as secret": lambda: _hs256(keys["public_pem"]),
        "not a JWT": lambda: "not-a-token",
        "without the scope": lambda: _token(private, scope="samverkan.read"),
        "without HSA-ids": lambda: _token(private, hsa_ids=None),
    }[case]()
    answer = _post(token_client, _document(), Authorization=f"Bearer {token}")
    assert answer.status_code == status, answer.text
    assert says in _issue(answer.json())["diagnostics"]
    if status == 401:
        assert 'error="invalid_token"' in answer.headers["WWW-Authenticate"]
    assert token_client.get("/messages").json()["items"] == []


def _hs256(secret: bytes) -> str:
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"}).encode())
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "exp": now + 300, "scope": "samverkan.send", "hsa_ids": [MED1]}
    body = b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{b64(signature)}"


def test_a_pem_key_and_an_ec_algorithm_work_too(tmp_path: Path) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        private.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    settings = _settings(tmp_path, jwt_keys_file=str(pem), jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwt_hsa_claim="hsa")
    with TestClient(create_app(settings)) as client:
        token = _token(private, kid=None, alg="ES256", hsa=MED1)
        assert _post(client, _document(), Authorization=f"Bearer {token}").status_code == 202


def test_the_fhir_doors_authenticate_and_name_the_communications_sender(token_client: TestClient, keys: dict[str, Any]) -> None:
    bundle = (FIXTURES / "vendor" / "inskrivning-contained.json").read_text()
    headers = {"Content-Type": "application/fhir+json"}
    assert token_client.post("/fhir", content=bundle, headers=headers).status_code == 401
    token = _token(keys["private"], hsa_ids=[OTHER])
    answer = token_client.post("/fhir", content=bundle, headers={**headers, "Authorization": f"Bearer {token}"})
    assert answer.status_code == 403
    assert _issue(answer.json())["expression"] == ["Communication.sender"]
    assert token_client.get("/fhir/metadata").status_code == 200  # the CapabilityStatement is public


def test_token_settings_without_issuer_or_audience_do_not_start(tmp_path: Path, keys: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="ISSUER and SAMVERKAN_JWT_AUDIENCE"):
        create_app(_settings(tmp_path, jwt_keys_file=str(keys["file"]), jwt_issuer=ISSUER))


def test_serve_says_what_is_wrong_with_the_token_settings_and_does_not_start(tmp_path: Path, keys: dict[str, Any]) -> None:
    env = {"SAMVERKAN_JWT_KEYS_FILE": str(keys["file"]), "SAMVERKAN_JOURNAL_PATH": str(tmp_path / "j.sqlite3")}
    result = runner.invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert "SAMVERKAN_JWT_ISSUER" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text('{"keys": [{"kty": "RSA"}]}')
    env = {**env, "SAMVERKAN_JWT_KEYS_FILE": str(broken), "SAMVERKAN_JWT_ISSUER": ISSUER, "SAMVERKAN_JWT_AUDIENCE": AUDIENCE}
    result = runner.invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert str(broken) in result.stderr


def test_serve_does_not_start_with_fhir_server_settings_that_cannot_work(tmp_path: Path) -> None:
    env = {"SAMVERKAN_JOURNAL_PATH": str(tmp_path / "j.sqlite3"), "SAMVERKAN_FHIR_CA_BUNDLE": str(tmp_path / "missing.pem")}
    result = runner.invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert "SAMVERKAN_FHIR_CA_BUNDLE" in result.stderr
    env = {"SAMVERKAN_JOURNAL_PATH": str(tmp_path / "j.sqlite3"), "SAMVERKAN_FHIR_TOKEN_URL": "https://idp.example/token"}
    result = runner.invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2
    assert "SAMVERKAN_FHIR_CLIENT" in result.stderr


def test_a_sender_polls_the_messages_it_sent_and_no_others(tmp_path: Path) -> None:
    senders, users = tmp_path / "senders.json", tmp_path / "users.json"
    key = _add_sender(senders, "med1", MED1)
    other_key = _add_sender(senders, "other", OTHER)
    users.write_text("{}")  # operators' routes closed: only accounts (none here) or senders get in
    with TestClient(create_app(_settings(tmp_path, senders_file=str(senders), users_file=str(users)))) as client:
        posted = _post(client, _document(), **{"X-API-Key": key})
        assert posted.status_code == 202
        where = posted.headers["Location"]
        polled = client.get(where, headers={"X-API-Key": key})
        assert polled.status_code == 200 and polled.json()["state"] == "accepted"
        assert client.get(where, headers={"X-API-Key": other_key}).status_code == 404  # not told it exists
        assert client.get(where).status_code == 401
        assert client.get("/messages", headers={"X-API-Key": key}).status_code == 401  # the log is for operators


def test_a_body_refused_before_it_is_read_is_audited_under_its_sender(tmp_path: Path) -> None:
    senders = tmp_path / "senders.json"
    key = _add_sender(senders, "med1", MED1)
    with TestClient(create_app(_settings(tmp_path, senders_file=str(senders), max_document_bytes=1024))) as client:
        answer = _post(client, b"<x/>" * 1000, **{"X-API-Key": key})
        assert answer.status_code == 413
        assert [(a["actor"], a["action"]) for a in client.get("/audit").json()] == [("med1", "refused")]


@pytest.mark.parametrize("granted", [{"scope": None, "scp": ["samverkan.send"]}, {"scope": None, "scp": "other samverkan.send"}])
def test_the_scope_may_come_as_scp_a_string_or_an_array(
    token_client: TestClient, keys: dict[str, Any], granted: dict[str, Any]
) -> None:
    # Issue 16, finding 14: a token granting the scope in `scp` (as some issuers send it) was refused.
    token = _token(keys["private"], **granted)
    assert _post(token_client, _document(), Authorization=f"Bearer {token}").status_code == 202
