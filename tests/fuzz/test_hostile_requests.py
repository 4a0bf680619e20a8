"""The hostile requests of fixtures/bad/requests/expected.json against the app: inputs whose hostile part
is not a document (headers, paths, query and body parameters; issue 16, findings 8, 9 and 10).

Each gets its status, never a 500; a refusal is an OperationOutcome naming the parameter; what an
entry lists as ``absent`` (an identity number, however written) is nowhere in the answer nor in
the app's log. The app runs in its open mode, so every operator route is reached. A real
`samverkan serve` refuses the largest headers itself (tests/integration/test_serve.py).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from adapter.http import create_app
from adapter.observability import logging_config
from adapter.observability.correlation import CorrelationFilter
from adapter.observability.redaction import RedactingFilter
from tests.support import BAD_REQUESTS, bad_request, offline_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    journal: Path = tmp_path_factory.mktemp("hostile-requests") / "journal.sqlite3"
    with TestClient(create_app(offline_settings(journal)), raise_server_exceptions=False) as c:
        yield c


def test_the_corpus_has_each_kind_of_hostile_request() -> None:
    assert len(BAD_REQUESTS) == 16
    kinds = {"header-16-mib", "headers-500", "request-id-personnummer", "path-personnummer-404", "since-year-1"}
    assert kinds <= set(BAD_REQUESTS)


@contextmanager
def _app_log() -> Iterator[io.StringIO]:
    """What the app's log handlers write (with the correlation id and the masking of
    adapter.observability.logs), the test client's own httpx lines left out."""
    written = io.StringIO()
    handler = logging.StreamHandler(written)
    handler.addFilter(lambda record: not record.name.startswith(("httpx", "httpcore")))
    handler.addFilter(CorrelationFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter(logging_config()["formatters"]["line"]["format"]))
    root = logging.getLogger()
    level, root.level = root.level, logging.DEBUG
    root.addHandler(handler)
    try:
        yield written
    finally:
        root.removeHandler(handler)
        root.level = level


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_a_hostile_request_gets_its_answer_and_echoes_nothing(client: TestClient, name: str) -> None:
    case = bad_request(name)
    with _app_log() as log:
        answer = client.request(case.method, case.path, headers=case.headers, json=case.json)
    assert answer.status_code == case.status, answer.text[:500]
    if case.status >= 400:
        assert answer.headers["content-type"].startswith("application/fhir+json")
        issue = answer.json()["issue"][0]
        assert issue["severity"] == "error"
        if case.expression is not None:
            assert issue["expression"] == [case.expression]
    shown = answer.text + "".join(f"{k}: {v}\n" for k, v in answer.headers.items())
    logged = log.getvalue()
    assert [a for a in case.absent if a in shown] == [], "echoed in the answer"
    assert [a for a in case.absent if a in logged] == [], "written to the log"
