"""Operators' accounts: `samverkan user ...` writes the users file, ``Accounts.check`` reads it,
and the console's login, pages and roles work through the real app (a real SQLite journal;
nothing is relayed)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter import codec
from adapter.cli import app
from adapter.config import Settings
from adapter.http import create_app
from adapter.security import Accounts, Role
from tests.support import INSKRIVNING, csrf_token, load, unique

runner = CliRunner()
PASSWORD = "correct horse battery"
#: scrypt at 2^14 here, not OWASP's 2^17 (half a second a check): these tests are not about its cost.
COST = {"SAMVERKAN_PASSWORD_COST": "14"}


def _user(users: Path, *args: str, password: str = PASSWORD) -> str:
    result = runner.invoke(
        app, ["user", "add", *args, "--password-stdin"], input=password + "\n", env={"SAMVERKAN_USERS_FILE": str(users), **COST}
    )
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture
def users(tmp_path: Path) -> Path:
    path = tmp_path / "users.json"
    _user(path, "olle", "--role", "operator")
    _user(path, "ada", "--role", "auditor")
    _user(path, "rut", "--role", "operator", "--role", "reveal")
    _user(path, "vera", "--role", "reveal")  # may unmask, but sees nothing to unmask
    return path


@pytest.fixture
def client(tmp_path: Path, users: Path):
    settings = Settings(
        journal_path=str(tmp_path / "j.sqlite3"),
        journal_url=None,
        relay_parallel=0,
        overdue_interval=0,
        fhir_base_url="http://127.0.0.1:9/fhir",  # nothing relays
        users_file=str(users),
        password_cost=14,
    )
    with TestClient(create_app(settings)) as c:
        yield c


def _login(client: TestClient, name: str, password: str = PASSWORD, target: str = "/ui"):
    return client.post("/ui/login", data={"name": name, "password": password, "next": target}, follow_redirects=False)


# -- the CLI and the file -------------------------------------------------------------------------


def test_user_add_writes_a_hash_never_the_password_and_list_and_remove_follow(users: Path) -> None:
    env = {"SAMVERKAN_USERS_FILE": str(users), **COST}
    stored = json.loads(users.read_text())
    assert stored["rut"]["roles"] == ["operator", "reveal"]
    assert stored["rut"]["password"].startswith("scrypt$") and PASSWORD not in users.read_text()
    assert stat.S_IMODE(users.stat().st_mode) == 0o600

    listed = runner.invoke(app, ["user", "list"], env=env)
    assert listed.exit_code == 0
    assert all(name in listed.output for name in ("olle", "ada", "rut", "vera")) and "scrypt" not in listed.output

    assert "updated ada" in _user(users, "ada", "--role", "auditor", "--role", "reveal", password="another long secret")
    accounts = Accounts.load(str(users), cost=14)
    assert accounts.check("ada", "another long secret") is not None and accounts.check("ada", PASSWORD) is None

    assert runner.invoke(app, ["user", "remove", "olle"], env=env).exit_code == 0
    assert "olle" not in json.loads(users.read_text())
    gone = runner.invoke(app, ["user", "remove", "olle"], env=env)
    assert gone.exit_code == 1 and "no account olle" in gone.output


def test_user_add_asks_for_the_password_twice(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    env = {"SAMVERKAN_USERS_FILE": str(users), **COST}
    typed = runner.invoke(app, ["user", "add", "anna", "--role", "operator"], input=f"{PASSWORD}\n{PASSWORD}\n", env=env)
    assert typed.exit_code == 0, typed.output
    assert Accounts.load(str(users), cost=14).check("anna", PASSWORD) is not None
    # A mistyped confirmation is asked again; here the input ends, and nothing is written.
    mistyped = runner.invoke(app, ["user", "add", "bo", "--role", "operator"], input=f"{PASSWORD}\nsomething else\n", env=env)
    assert mistyped.exit_code != 0 and "bo" not in json.loads(users.read_text())


@pytest.mark.parametrize(
    ("args", "password", "says"),
    [
        (["--role", "admin"], PASSWORD, "admin"),  # not a role
        ([], PASSWORD, "--role"),  # at least one role
        (["--role", "operator"], "short", "at least 12"),
    ],
)
def test_user_add_refuses(tmp_path: Path, args: list[str], password: str, says: str) -> None:
    users = tmp_path / "users.json"
    result = runner.invoke(
        app,
        ["user", "add", "anna", *args, "--password-stdin"],
        input=password + "\n",
        env={"SAMVERKAN_USERS_FILE": str(users), **COST},
    )
    assert result.exit_code == 2 and says in result.output
    assert not users.exists()


def test_user_needs_the_users_file_setting() -> None:
    result = runner.invoke(app, ["user", "list"], env={"SAMVERKAN_USERS_FILE": None})
    assert result.exit_code == 2 and "SAMVERKAN_USERS_FILE" in result.output


def test_check_takes_the_right_password_only(users: Path) -> None:
    accounts = Accounts.load(str(users), cost=14)
    right = accounts.check("rut", PASSWORD)
    assert right is not None and right.name == "rut" and right.roles == {Role.OPERATOR, Role.REVEAL}
    assert accounts.check("rut", PASSWORD + "x") is None
    assert accounts.check("rut", "") is None
    assert accounts.check("nobody", PASSWORD) is None


# -- the console through the real app -------------------------------------------------------------


def test_the_console_sends_whoever_is_not_logged_in_to_the_login(client: TestClient) -> None:
    for page in ("/ui", "/ui/messages/x", "/ui/episodes/episode:a:b", "/ui/audit"):
        response = client.get(page, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/ui/login?next=%2Fui")
    assert client.get("/messages").status_code == 401  # the API behind it too
    login = client.get("/ui/login")
    assert login.status_code == 200 and '<label for="password">' in login.text
    # The assets are public: the login page needs them.
    assert client.get("/ui/static/ui.css").headers["content-type"].startswith("text/css")
    assert client.get("/ui/static/ui.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/static/../api.py").status_code == 404


def test_login_sets_the_session_and_logout_ends_it(client: TestClient) -> None:
    wrong = _login(client, "olle", "wrong password!")
    assert wrong.status_code == 401 and "Wrong name or password" in wrong.text and "session" not in wrong.cookies
    assert _login(client, "nobody").status_code == 401
    assert client.get("/messages").status_code == 401

    right = _login(client, "olle", target="/ui/audit")
    assert right.status_code == 303 and right.headers["location"] == "/ui/audit"
    assert "session" in right.cookies
    assert client.get("/messages").status_code == 200  # the session is the user's
    page = client.get("/ui")
    assert page.status_code == 200 and "olle" in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"] and page.headers["cache-control"] == "no-store"

    out = client.post("/ui/logout", data={"csrf": csrf_token(client)}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/ui/login"
    assert client.get("/messages").status_code == 401
    assert client.get("/ui", follow_redirects=False).status_code == 303


def test_a_removed_account_loses_its_session_without_a_restart(client: TestClient, users: Path) -> None:
    assert _login(client, "olle").status_code == 303
    assert client.get("/messages").status_code == 200
    result = runner.invoke(app, ["user", "remove", "olle"], env={"SAMVERKAN_USERS_FILE": str(users), **COST})
    assert result.exit_code == 0, result.output
    assert client.get("/messages").status_code == 401
    assert client.get("/ui", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("target", ["//evil.example/ui", "https://evil.example/", "/ui/login", "/other"])
def test_login_goes_only_to_the_console_afterwards(client: TestClient, target: str) -> None:
    assert _login(client, "olle", target=target).headers["location"] == "/ui"


def test_roles_decide_what_the_pages_offer_and_the_api_allows(client: TestClient) -> None:
    message = unique(load(INSKRIVNING))
    _login(client, "olle")
    accepted = client.post("/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})
    assert accepted.status_code == 202, accepted.text

    # An operator may replay (refused here only because the message is not dead-lettered) and sees the buttons.
    assert client.post(f"/messages/{message.id}/replay", headers={"X-CSRF-Token": csrf_token(client)}).status_code == 409
    page = client.get(f"/ui/messages/{message.id}").text
    assert 'id="replay"' in page and 'id="cancel"' in page and 'id="reveal"' not in page

    _login(client, "ada")
    refused = client.post(f"/messages/{message.id}/replay", headers={"X-CSRF-Token": csrf_token(client)})
    assert refused.status_code == 403 and refused.json()["resourceType"] == "OperationOutcome"
    page = client.get(f"/ui/messages/{message.id}").text
    assert 'id="replay"' not in page and 'id="reveal"' not in page
    assert client.get("/ui/audit").status_code == 200

    _login(client, "rut")
    assert 'id="reveal"' in client.get(f"/ui/messages/{message.id}").text

    _login(client, "vera")
    forbidden = client.get("/ui")
    assert forbidden.status_code == 403 and "Not allowed" in forbidden.text


def test_pages_escape_what_they_are_given(client: TestClient) -> None:
    _login(client, "olle")
    page = client.get("/ui/messages/%22%3E%3Cimg%20src=x%20onerror=alert(1)%3E").text
    assert "<img src=x" not in page and "&#34;&gt;&lt;img src=x" in page
    listed = client.get("/ui", params={"key": '"><img src=x onerror=alert(1)>'}).text
    assert "<img src=x" not in listed and "&lt;img src=x" in listed


def test_open_mode_needs_no_login(tmp_path: Path) -> None:
    settings = Settings(
        journal_path=str(tmp_path / "j.sqlite3"), journal_url=None, relay_parallel=0, overdue_interval=0, users_file=None,
        fhir_base_url="http://127.0.0.1:9/fhir",
    )  # fmt: skip
    with TestClient(create_app(settings)) as client:
        assert client.get("/ui/login", follow_redirects=False).headers["location"] == "/ui"
        page = client.get("/ui")
        assert page.status_code == 200 and "Open mode" in page.text and "Log out" not in page.text
