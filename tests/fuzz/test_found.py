"""What the fuzzers found, each kept as a plain named example: the input, and the refusal it must get.

Each was a crash (an exception other than ``SamverkanError``, a 500 over HTTP) or a wrong status
before its fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from adapter.codec import read_bundle
from adapter.config import Limits
from adapter.http import create_app
from adapter.http.routes.fhir import _message
from mappings import to_bundle
from mappings.errors import SamverkanError
from tests.support import FIXTURES, load, offline_settings

VENDOR = FIXTURES / "vendor"


def _vendor_json(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((VENDOR / name).read_text())
    return found


def _mapped(bundle: dict[str, Any]) -> Any:
    """What POST /fhir does with a JSON Bundle up to the journal: read, check, map back, check again."""
    return _message(read_bundle(json.dumps(bundle).encode(), "application/fhir+json"), Limits())


def _refusal(call: Any) -> SamverkanError:
    with pytest.raises(SamverkanError) as info:
        call()
    return info.value


# -- fhir.resources' readers raise KeyError, TypeError, AttributeError on what R4 does not define --


def test_fhir_xml_with_an_element_where_r4_has_none_is_refused() -> None:
    # <type> moved from the Bundle into an entry: fhir.resources' XML reader raised KeyError('type').
    raw = (VENDOR / "inskrivning-contained.xml").read_bytes()
    raw = raw.replace(b'<type value="transaction"/>\n', b"", 1).replace(b"<entry>", b'<entry><type value="transaction"/>', 1)
    err = _refusal(lambda: read_bundle(raw, "application/fhir+xml"))
    assert (err.http_status, err.path) == (422, "Bundle")


def test_fhir_xml_in_no_namespace_is_refused() -> None:
    # A Bundle outside the FHIR namespace: the reader raised KeyError(None).
    raw = (VENDOR / "kvittens-message.xml").read_bytes().replace(b'xmlns="http://hl7.org/fhir"', b"", 1)
    err = _refusal(lambda: read_bundle(raw, "application/fhir+xml"))
    assert (err.http_status, err.path) == (422, "Bundle")


@pytest.mark.parametrize(
    "resource_type",
    ["Vårdcentralen", ["Patient"], {"": None}],
    ids=["unknown", "array", "object"],
)
def test_fhir_json_with_a_resource_type_r4_does_not_define_is_refused(resource_type: object) -> None:
    # KeyError('R4.VårdcentralenType'), TypeError (str + list) from the JSON model's validator.
    bundle = _vendor_json("kvittens-message.json")
    bundle["entry"][1]["resource"]["resourceType"] = resource_type
    err = _refusal(lambda: read_bundle(json.dumps(bundle).encode(), "application/fhir+json"))
    assert (err.http_status, err.path) == (422, "Bundle")


def test_fhir_json_with_a_number_for_a_url_is_refused() -> None:
    # AttributeError("'int' object has no attribute 'startswith'") from the url validator.
    bundle = _vendor_json("kvittens-message.json")
    bundle["entry"][0]["resource"]["source"]["endpoint"] = 7
    err = _refusal(lambda: read_bundle(json.dumps(bundle).encode(), "application/fhir+json"))
    assert 400 <= err.http_status < 500 and err.path


# -- fhir.resources converts what R4 JSON does not allow, and the mapping read the unconverted value --


def test_fhir_json_with_an_element_as_a_string_of_json_is_refused() -> None:
    # CareTeam.participant[0] sent as a string holding its JSON: the model parsed it, the mapping
    # got the string and raised AttributeError ('str' object has no attribute 'get').
    bundle = _vendor_json("sip-absolute-references.json")
    i, team = next((i, e["resource"]) for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "CareTeam")
    team["participant"][0] = json.dumps(team["participant"][0])
    err = _refusal(lambda: _mapped(bundle))
    assert (err.http_status, err.path) == (422, f"Bundle.entry[{i}].resource.participant[0]")


@pytest.mark.parametrize("sent", [1773133200, None], ids=["number", "null"])
def test_fhir_json_with_a_number_or_null_for_a_datetime_is_refused(sent: object) -> None:
    # A number the model read as seconds since 1970; null it dropped. The mapping raised TypeError.
    bundle = _vendor_json("kvittens-message.json")
    i, comm = next((i, e["resource"]) for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Communication")
    comm["sent"] = sent
    err = _refusal(lambda: _mapped(bundle))
    assert (err.http_status, err.path) == (422, f"Bundle.entry[{i}].resource.sent")


# -- the mapping back read dates and times with fromisoformat, and required what R4 leaves optional --


def _ours(fixture: str) -> dict[str, Any]:
    """Our own Bundle of an internal fixture, as a vendor could send it back (JSON)."""
    bundle: dict[str, Any] = json.loads(json.dumps(to_bundle(load(FIXTURES / "messages" / fixture))))
    return bundle


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)
    return found


def _extension(resource: dict[str, Any], ending: str) -> dict[str, Any]:
    found: dict[str, Any] = next(e for e in resource["extension"] if e["url"].endswith(ending))
    return found


def _refused_at(bundle: dict[str, Any], path: str) -> None:
    err = _refusal(lambda: _mapped(bundle))
    assert (err.http_status, err.path) == (422, path), repr(err)


@pytest.mark.parametrize("sent", ["2026", "2026-03", "2026-03-02"], ids=["year", "month", "day"])
def test_a_communication_sent_at_less_than_a_moment_is_refused(sent: str) -> None:
    # R4 allows a dateTime of a year or a month: fromisoformat raised ValueError (a 500).
    # A day alone became midnight without a time zone, refused as /Message/@sent: a path the vendor never sent.
    bundle = _ours("Inskrivningsmeddelande-01.xml")
    _resource(bundle, "Communication")["sent"] = sent
    _refused_at(bundle, "Communication.sent")


def test_an_admission_of_a_year_is_refused() -> None:
    bundle = _ours("Inskrivningsmeddelande-01.xml")
    episode = _extension(_resource(bundle, "Communication"), "/care-episode")
    next(e for e in episode["extension"] if e["url"] == "admitted")["valueDateTime"] = "2026"
    _refused_at(bundle, "Communication.extension")


def test_a_discharge_ready_date_of_a_month_is_refused() -> None:
    bundle = _ours("Inskrivningsmeddelande-01.xml")
    _extension(_resource(bundle, "Communication"), "/preliminary-discharge-ready")["valueDate"] = "2026-03"
    _refused_at(bundle, "Communication.extension")


def test_a_home_visit_without_its_date_is_refused() -> None:
    # date.fromisoformat(None): TypeError.
    bundle = _ours("MeddelandeUtanforVardtillfalle-01.json")
    visit = _extension(_resource(bundle, "Communication"), "/home-visit")
    visit["extension"] = [e for e in visit["extension"] if e["url"] != "date"]
    _refused_at(bundle, "Communication.extension")


def test_a_sip_follow_up_of_a_month_is_refused() -> None:
    bundle = _ours("SIP-01.xml")
    _extension(_resource(bundle, "CarePlan"), "/next-follow-up")["valueDate"] = "2026-03"
    _refused_at(bundle, "CarePlan.extension")


def test_a_referral_answer_planned_to_start_in_a_year_is_refused() -> None:
    bundle = _ours("RemissSvar-01.json")
    _resource(bundle, "Task")["executionPeriod"]["start"] = "2026"
    _refused_at(bundle, "Task.executionPeriod.start")


@pytest.mark.parametrize("missing", ["start", "end"])
def test_a_meeting_without_its_start_or_its_end_is_refused(missing: str) -> None:
    # res["start"], res["end"]: KeyError. (The end is needed where there are no minutes.)
    bundle = _ours("KallelseSamordnadPlanering-01.xml")
    appointment = _resource(bundle, "Appointment")
    for name in ("start",) if missing == "start" else ("end", "minutesDuration"):
        appointment.pop(name, None)
    _refused_at(bundle, f"Appointment.{missing}")


def test_a_meeting_mode_without_a_code_is_refused() -> None:
    # mode_coding["code"]: KeyError.
    bundle = _ours("KallelseSamordnadPlanering-01.xml")
    del _extension(_resource(bundle, "Appointment"), "/meeting-mode")["valueCoding"]["code"]
    _refused_at(bundle, "Appointment.extension")


def test_a_given_name_carried_only_by_its_extension_is_left_out() -> None:
    # R4 JSON's null in a primitive array, its value in _given: " ".join raised TypeError.
    bundle = _ours("Inskrivningsmeddelande-01.xml")
    name = _resource(bundle, "Patient")["name"][0]
    name["given"], name["_given"] = [None, *name["given"]], [{"extension": [{"url": "urn:x", "valueString": "x"}]}, None]
    message, _ = _mapped(bundle)
    assert message.patient.given == "Tolvan"


# -- over HTTP: what schemathesis found against the OpenAPI document --


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    settings = offline_settings(tmp_path_factory.mktemp("found") / "j.sqlite3")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _outcome(response: Any, status: int) -> list[dict[str, Any]]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"], body
    issues: list[dict[str, Any]] = body["issue"]
    return issues


def test_a_json_body_fastapi_cannot_parse_is_an_operation_outcome(client: TestClient) -> None:
    # FastAPI's own 400 answered {"detail": "There was an error parsing the body"}.
    response = client.post("/messages/search", content=b"\xff{", headers={"Content-Type": "application/json"})
    assert _outcome(response, 400)[0]["expression"] == ["body"]


def test_no_such_route_and_no_such_method_are_operation_outcomes(client: TestClient) -> None:
    # Starlette's 404 and 405 answered {"detail": ...}.
    assert _outcome(client.get("/no-such-route"), 404)[0]["code"] == "not-found"
    response = client.delete("/health")
    assert _outcome(response, 405)[0]["code"] == "not-supported"
    assert response.headers["allow"] == "GET"


@pytest.mark.parametrize(
    ("method", "url", "body", "element"),
    [
        ("GET", f"/messages?before={2**63}", None, "query.before"),
        ("POST", "/messages/search", {"before": 2**63}, "body.before"),
        ("DELETE", f"/suspensions/{2**63}", None, "path.suspension_id"),
        ("PATCH", f"/suspensions/{2**63}", {"to": None}, "path.suspension_id"),
    ],
)
def test_an_integer_the_journal_cannot_hold_is_refused_naming_it(
    client: TestClient, method: str, url: str, body: object, element: str
) -> None:
    # OverflowError from the database driver: a 500.
    response = client.request(method, url, json=body)
    assert _outcome(response, 400)[0]["expression"] == [element]


def test_the_openapi_document_declares_every_refusal_as_an_operation_outcome(client: TestClient) -> None:
    # FastAPI declared 422 HTTPValidationError (never answered: the handler answers 400), and
    # nothing of the 404s, 409s, 415s and 503s that were answered; POST /fhir declared no body.
    doc = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    assert doc["components"]["schemas"]["OperationOutcome"]["required"] == ["resourceType", "issue"]
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status.startswith("4"):
                    schema = response["content"]["application/fhir+json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/OperationOutcome"}, (method, path, status)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "400" in operation["responses"], (method, path)
    door = doc["paths"]["/fhir"]["post"]
    assert set(door["requestBody"]["content"]) == {"application/fhir+json", "application/fhir+xml"}
    assert {"200", "202", "409", "413", "415", "422", "502", "503"} <= set(door["responses"])
    assert set(doc["paths"]["/messages/{message_id}"]["get"]["responses"]) >= {"200", "401", "403", "404"}
    assert "text/csv" in doc["paths"]["/reports/payment"]["get"]["responses"]["200"]["content"]
