"""schemathesis against the adapter's own OpenAPI document, in process over ASGI: every operation,
with data the document allows and data it does not.

    not_a_server_error              never a 5xx (the one exception: /ready's 503, which it declares)
    status_code_conformance         every status answered is one the document declares
    content_type_conformance        and in a media type it declares for that status
    response_schema_conformance     and with a body its schema allows

So the document tells vendors and operators the truth: what each endpoint takes, and the
OperationOutcome of each refusal. The operator routes are open (no users file), sender
authentication is off, nothing is relayed (``relay_parallel=0``).

To fuzz longer: ``SAMVERKAN_FUZZ_EXAMPLES=500 .venv/bin/python -m pytest tests/fuzz/test_fuzz_openapi.py``
(examples per operation and phase).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.python.asgi import shutdown_lifespans
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from adapter.http import create_app
from tests.fuzz.mutations import examples
from tests.support import JOURNEYS, content_type, offline_settings

pytestmark = pytest.mark.fuzz

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    settings_ = offline_settings(tmp_path_factory.mktemp("fuzz-openapi") / "j.sqlite3", fhir_answer_wait=0, users_file=None)
    app = create_app(settings_)
    # A journey in the journal, so that the reports, the timeline and the searches have episodes to read.
    with TestClient(app) as client:
        for path in sorted(JOURNEYS[0].iterdir()):
            sent = client.post("/messages", content=path.read_bytes(), headers={"Content-Type": content_type(path)})
            assert sent.status_code == 202, f"{path.name}: {sent.status_code} {sent.text}"
    # The app's lifespan (journal, watcher) runs again from schemathesis's first request until the module is done.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    yield schema
    shutdown_lifespans()


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture(autouse=True)
def _node_id_for_schemathesis(request: pytest.FixtureRequest) -> None:
    # schemathesis 4.32's lazy schema reads ``node._nodeid``, which pytest 9 no longer has.
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


@schema.parametrize()
@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
def test_every_operation_answers_as_its_openapi_document_says(case: schemathesis.Case) -> None:
    response = case.call()
    if case.operation.label == "GET /ready" and response.status_code == 503:
        # Not ready (no FHIR server here) is its declared 503, not a server error.
        case.validate_response(response, checks=[c for c in CHECKS if c is not not_a_server_error])
        return
    case.validate_response(response, checks=CHECKS)
