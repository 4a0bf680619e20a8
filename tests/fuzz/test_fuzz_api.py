"""The API in process under mutated fixtures: both doors answer every document with 200/202, or
with a 4xx whose body is an OperationOutcome with at least one issue (naming the element for a
400 or 422); never a 500. A refused document leaves no accepted message in the journal.

    POST /messages                 mutated internal documents (XML and JSON), and vendor bundles
    POST /fhir                     mutated vendor bundles (FHIR JSON and XML), and internal documents
    POST /fhir/$process-message    the same

Content types vary (the right one, the other format, none, nonsense) and so does the format the
FHIR door answers in. Nothing is relayed (``relay_parallel=0``) and the FHIR door does not wait
for a relay (``fhir_answer_wait=0``): no FHIR server is needed.

To fuzz longer: ``SAMVERKAN_FUZZ_EXAMPLES=5000 HYPOTHESIS_PROFILE=dev .venv/bin/python -m pytest tests/fuzz``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from adapter.http import create_app
from adapter.journal import Journal
from tests.fuzz.mutations import INTERNAL, VENDOR, Doc, bounded, fuzzed, outcome
from tests.support import offline_settings

pytestmark = pytest.mark.fuzz

_FHIR_NS = "{http://hl7.org/fhir}"
_CONTENT_TYPES = [
    "application/xml",
    "text/xml",
    "application/json",
    "application/fhir+json",
    "application/fhir+xml",
    "application/json; charset=utf-8",
    "application/fhir+json; fhirVersion=4.0",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/",
    ";",
    "",
]
#: Any of them, or no Content-Type at all.
_ANY_TYPE = st.sampled_from([*_CONTENT_TYPES, None])


def _app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = offline_settings(tmp_path_factory.mktemp("fuzz-api") / "j.sqlite3", fhir_answer_wait=0)
    # A 500 must come back as a response (and fail the test), not as an exception in the client.
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app for all examples of the module: what one example accepted, another may conflict with."""
    yield from _app_client(tmp_path_factory)


@pytest.fixture
def fresh_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """An app with an empty journal (a fixture's XML and JSON twins share the message id)."""
    yield from _app_client(tmp_path_factory)


def _accepted(client: TestClient) -> int:
    journal: Journal = client.app.state.services.journal  # type: ignore[attr-defined]
    return sum(journal.counts().values())


def _issues(response: httpx.Response) -> list[dict[str, Any]]:
    """The issues of the OperationOutcome in ``response`` (FHIR JSON or FHIR XML)."""
    media = response.headers.get("content-type", "")
    if "xml" in media:
        root = etree.fromstring(response.content)
        assert root.tag == f"{_FHIR_NS}OperationOutcome", response.text[:500]
        issues = []
        for issue in root.iter(f"{_FHIR_NS}issue"):
            found: dict[str, Any] = {}
            for child in issue:
                name = etree.QName(child).localname
                if name in ("expression", "location"):
                    found.setdefault(name, []).append(child.get("value"))
                else:
                    found[name] = child.get("value")
            issues.append(found)
        return issues
    body = json.loads(response.content)
    assert body.get("resourceType") == "OperationOutcome", response.text[:500]
    found_issues: list[dict[str, Any]] = body.get("issue") or []
    return found_issues


def answered_well(client: TestClient, path: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
    """Posts ``raw`` and checks the answer: 2xx, or a 4xx OperationOutcome; nothing journaled as
    accepted when refused, at most one message when accepted."""
    before = _accepted(client)
    response = client.post(path, content=raw, headers=headers)
    after = _accepted(client)
    status = response.status_code
    outcome(f"{path.split('?')[0]} answered {status}")
    assert status in (200, 202) or 400 <= status < 500, f"{status} {response.text[:500]}"
    if status >= 400:
        issues = _issues(response)
        assert issues and all(i.get("severity") and i.get("code") for i in issues), response.text[:500]
        if status in (400, 422):
            assert issues[0].get("expression") or issues[0].get("location"), f"names no element: {response.text[:500]}"
        assert after == before, f"refused with {status}, yet the journal has {after - before} more accepted"
    else:
        assert after - before in (0, 1), response.text[:500]
    return response


def _headers(content_type: str | None, accept: str | None = None) -> dict[str, str]:
    headers = {"Content-Type": content_type} if content_type is not None else {}
    if accept is not None:
        headers["Accept"] = accept
    return headers


def _fits(doc: Doc, fhir: bool) -> str:
    if fhir:
        return "application/fhir+xml" if doc.kind == "xml" else "application/fhir+json"
    return "application/xml" if doc.kind == "xml" else "application/json"


def _mostly(usual: st.SearchStrategy[Any], other: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """``usual`` three times in four: a document at its own door gets furthest, to the checks and the mapping."""
    return st.one_of(usual, usual, usual, other)


def _endpoint(doc: Doc) -> str:
    return "/fhir/$process-message" if b'"message"' in doc.raw or b'<type value="message"/>' in doc.raw else "/fhir"


@bounded(250)
@given(st.data())
def test_post_messages_answers_mutated_documents_with_2xx_or_an_operation_outcome(
    client: TestClient, data: st.DataObject
) -> None:
    doc, raw = data.draw(_mostly(fuzzed(INTERNAL), fuzzed(VENDOR)), label="document")
    content_type = data.draw(_mostly(st.just(_fits(doc, fhir=False)), _ANY_TYPE), label="content type")
    answered_well(client, "/messages", raw, _headers(content_type))


@bounded(250)
@given(st.data())
def test_the_fhir_door_answers_mutated_bundles_with_2xx_or_an_operation_outcome(client: TestClient, data: st.DataObject) -> None:
    doc, raw = data.draw(_mostly(fuzzed(VENDOR), fuzzed(INTERNAL)), label="bundle")
    path = data.draw(_mostly(st.just(_endpoint(doc)), st.sampled_from(["/fhir", "/fhir/$process-message"])), label="endpoint")
    content_type = data.draw(_mostly(st.just(_fits(doc, fhir=True)), _ANY_TYPE), label="content type")
    accept = data.draw(st.sampled_from([None, "application/fhir+json", "application/fhir+xml", "text/html", "*/*"]))
    fmt = data.draw(st.sampled_from(["", "?_format=json", "?_format=xml", "?_format=application/fhir+xml", "?_format=x"]))
    answered_well(client, path + fmt, raw, _headers(content_type, accept))


#: The good fixtures in groups without two of the same message (twins in XML and JSON, and the
#: vendor bundles of journey messages, share the message id and would conflict).
_GROUPS = {
    "internal-xml": [d for d in INTERNAL if not d.name.startswith("palliativ-01-json/")],
    "internal-json-journey": [d for d in INTERNAL if d.name.startswith("palliativ-01-json/")],
    "vendor-json": [d for d in VENDOR if d.kind == "json"],
    "vendor-xml": [d for d in VENDOR if d.kind == "xml"],
}


@pytest.mark.parametrize("group", sorted(_GROUPS))
def test_every_good_fixture_is_accepted(fresh_client: TestClient, group: str) -> None:
    # The fuzzers start from these: unmutated, each must get through its door.
    for doc in _GROUPS[group]:
        path = "/messages" if doc in INTERNAL else _endpoint(doc)
        response = answered_well(fresh_client, path, doc.raw, _headers(_fits(doc, fhir=doc in VENDOR)))
        assert response.status_code == 202, f"{doc.name}: {response.text}"
