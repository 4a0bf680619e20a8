"""What the fuzzers found, each kept as a plain named example: the input, and the refusal it must get.

Each was a crash (an exception other than ``SamverkanError``, a 500 over HTTP) or a wrong status
before its fix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from adapter.api_fhir import _message
from adapter.codec import Limits
from adapter.fhir_format import read_bundle
from mappings.errors import SamverkanError
from tests.support import FIXTURES

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
