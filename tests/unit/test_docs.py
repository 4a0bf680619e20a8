"""The docs stay true: they cover every message type and body part, their links and paths
resolve, and the README's walkthrough uses routes, a fixture and a sender that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter.cli import app as cli
from adapter.codec.body_xml import PARTS
from adapter.config import Settings
from adapter.http import create_app
from mappings.model import MessageType
from tests.support import ROOT, offline_settings

FORMAT = (ROOT / "docs" / "message-format.md").read_text()
MAPPING = (ROOT / "docs" / "mapping.md").read_text()
README = (ROOT / "README.md").read_text()
#: Every page a reader can reach from the README.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]

_LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
_CODE_BLOCK = re.compile(r"^```.*?^```", re.S | re.M)
#: Paths that exist only once something has run.
RUNTIME = {"hapi/data"}
_PATH = re.compile(r"`((?:adapter|mappings|tests|scripts|fixtures|profiles|hapi|bench|docs)/[\w./-]*)`")


def _slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(page: Path) -> set[str]:
    text = _CODE_BLOCK.sub("", page.read_text())
    return {_slug(m) for m in re.findall(r"^#{1,6} (.+)$", text, re.M)}


def _prose(page: Path) -> str:
    return _CODE_BLOCK.sub("", page.read_text())


@pytest.mark.parametrize("mtype", list(MessageType), ids=str)
def test_every_type_has_a_section_and_a_mapping_row(mtype: MessageType) -> None:
    assert f"### {mtype.value}\n" in FORMAT
    assert f"\n| {mtype.value} | " in MAPPING


def test_every_body_part_is_documented() -> None:
    for part in PARTS:
        assert f"| `{part.element}` |" in FORMAT, part.element


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_and_heading(page: Path) -> None:
    for match in _LINK.finditer(_prose(page)):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        assert file.exists(), f"{page.relative_to(ROOT)} links to {target}, which does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in _anchors(file), f"{page.relative_to(ROOT)} links to {target}: no such heading"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_named_in_the_prose_exists(page: Path) -> None:
    # Module paths go stale when code moves: a reader must find what the page names.
    for path in _PATH.findall(_prose(page)):
        if path in RUNTIME:
            continue
        assert (ROOT / path).exists(), f"{page.relative_to(ROOT)} names `{path}`, which does not exist"


def test_every_samverkan_variable_named_is_a_setting_or_a_test_variable() -> None:
    prefix = str(Settings.model_config.get("env_prefix"))
    settings = {prefix + name.upper() for name in Settings.model_fields}
    others = {
        "SAMVERKAN_SETTINGS_FILE",  # names the settings file itself (adapter/config.py)
        "SAMVERKAN_TEST_FHIR_URL",
        "SAMVERKAN_TEST_HAPI_PORT",
        "SAMVERKAN_TEST_POSTGRES_URL",
        "SAMVERKAN_TEST_PG_PORT",
        "SAMVERKAN_TEST_ARTIFACTS",
        "SAMVERKAN_FUZZ_EXAMPLES",
    }
    for page in PAGES:
        for name in re.findall(r"\bSAMVERKAN_[A-Z_]*[A-Z]\b", page.read_text()):
            assert name in settings | others, f"{page.relative_to(ROOT)} names {name}, which nothing reads"


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) <= 200


def _walkthrough() -> str:
    start = README.index("## First curl")
    return README[start : README.index("\n## ", start + 1)]


def _calls() -> list[tuple[str, str]]:
    """(method, path) of every curl of the walkthrough."""
    calls = []
    for line in re.findall(r"^(?:curl|until curl).*$", _walkthrough(), re.M):
        method = "post" if re.search(r"-X POST|--data-binary", line) else "get"
        calls += [(method, path) for path in re.findall(r"localhost:8000(/[^\s'\"]*)", line)]
    return calls


def test_the_walkthrough_calls_operations_of_the_openapi_document(tmp_path: Path) -> None:
    schema = create_app(offline_settings(tmp_path / "journal.sqlite3")).openapi()["paths"]

    def declared(method: str, path: str) -> bool:
        for template, operations in schema.items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            if re.match(pattern, path) and method in operations:
                return True
        return False

    calls = _calls()
    assert {(m, p.split("/")[1]) for m, p in calls} >= {("post", "messages"), ("get", "messages"), ("get", "health")}
    for method, path in calls:
        assert declared(method, path), f"the README's walkthrough calls {method.upper()} {path}, which the API lacks"


def test_the_walkthrough_works_against_the_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a sender made with the walkthrough's own command line
    text = _walkthrough()
    senders = tmp_path / "senders.json"
    monkeypatch.setenv("SAMVERKAN_SENDERS_FILE", str(senders))
    [add] = re.findall(r"samverkan (sender add .*)\)", text)
    made = CliRunner().invoke(cli, add.split())
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    [fixture] = set(re.findall(r"--data-binary @(\S+)", text))
    settings = offline_settings(tmp_path / "journal.sqlite3", inbound_auth="required", senders_file=str(senders))
    with TestClient(create_app(settings)) as client:
        # When the walkthrough's requests are sent (the relay is off here: nothing leaves the test)
        posted = client.post(
            "/messages",
            content=(ROOT / fixture).read_bytes(),
            headers={"X-API-Key": key, "Content-Type": "application/xml"},
        )
        # Then the message is accepted, and polled where the README polls it
        assert posted.status_code == 202, posted.text
        polls = [p for m, p in _calls() if m == "get" and p.startswith("/messages/")]
        assert polls == [posted.headers["location"]]
        assert client.get(polls[0], headers={"X-API-Key": key}).status_code == 200
        assert client.get("/health").status_code == 200
        # And the console the README opens answers (no users file: an anonymous operator)
        for path in re.findall(r"127\.0\.0\.1:8000(/[^\s>)]*)", text):
            assert client.get(path).status_code == 200, path
        # And without the key the message is refused, as the README says
        assert client.post("/messages", content=b"<x/>", headers={"Content-Type": "application/xml"}).status_code == 401


def test_the_walkthrough_posts_a_fixture_whose_sender_it_registers() -> None:
    text = _walkthrough()
    [fixture] = set(re.findall(r"--data-binary @(\S+)", text))
    document = (ROOT / fixture).read_text()
    [hsa_id] = re.findall(r"sender add \S+ --hsa-id ([\w-]+)", text)
    assert f'<Sender hsaId="{hsa_id}"' in document, "the walkthrough's key would not be allowed to send its fixture"
    message_id = re.search(r'<Message [^>]*\bid="([^"]+)"', document)
    assert message_id is not None
    assert f"/messages/{message_id.group(1)}" in text, "the walkthrough polls another message than it posts"
