"""Our profiles on the real HAPI: they install and snapshot, and HAPI's own validator agrees that
every resource we send conforms, and refuses each invariant broken on purpose."""

from __future__ import annotations

import asyncio
import copy
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import pytest

from adapter.fhir import FhirClient, profiles
from adapter.relay import bundle_of, relay_message
from mappings import identifiers as ids
from mappings import to_bundle
from tests.support import FIXTURES, INSKRIVNING, JOURNEYS, MESSAGES, Renamer, load

from .conftest import Hapi

#: When a message of these tests was accepted (the AuditEvent's recorded).
ACCEPTED = datetime(2026, 3, 2, 8, 15, tzinfo=UTC)


def _validate(base_url: str, resource: dict[str, Any], profile: str | None = None) -> list[profiles.Issue]:
    async def go() -> list[profiles.Issue]:
        async with FhirClient(base_url) as fhir:
            if profile is None:
                return await profiles.validate_on(fhir, resource)
            return profiles.issues_of(await fhir.validate(resource, profile), resource["resourceType"])

    return asyncio.run(go())


def test_the_package_is_on_the_server_with_snapshots(installed_profiles: dict[str, int], hapi: Hapi) -> None:
    package = profiles.package()
    assert installed_profiles == dict(Counter(r["resourceType"] for r in package))
    for sd in (r for r in package if r["resourceType"] == "StructureDefinition"):
        stored = hapi.search("StructureDefinition", {"url": sd["url"]})["entry"][0]["resource"]
        assert stored["snapshot"]["element"], f"{sd['id']} has no snapshot"


# StructureDefinitions are checked by the test above: HAPI generated their snapshots. Its
# $validate of a stored StructureDefinition re-generates the snapshot and fails for extensions on
# "hl7.fhir.r4.core#null" (a validator set-up limit: no core package is installed here).
@pytest.mark.parametrize("kind", ["CodeSystem", "ValueSet", "ConceptMap"])
def test_the_conformance_resources_themselves_validate(kind: str, fhir_base_url: str) -> None:
    checked = 0
    for res in (r for r in profiles.package() if r["resourceType"] == kind):
        errors = [i for i in _validate(fhir_base_url, res) if i.is_error]
        assert errors == [], f"{res['id']}: {errors}"
        checked += 1
    assert checked


def test_every_resource_of_every_fixture_passes_hapis_validate(
    fhir_base_url: str, hapi: Hapi, capsys: pytest.CaptureFixture[str]
) -> None:
    # Relay every fixture and the journeys, then validate what HAPI holds, as stored.
    message_ids = []

    async def relay_all() -> None:
        async with FhirClient(fhir_base_url) as fhir:
            for docs in [[p] for p in MESSAGES] + [sorted(j.iterdir()) for j in JOURNEYS]:
                rename = Renamer()
                for path in docs:
                    message = rename(load(path))
                    await relay_message(message, fhir, recorded=datetime.now(UTC))
                    message_ids.append(message.id)

    asyncio.run(relay_all())
    seen: dict[str, dict[str, Any]] = {}
    for mid in message_ids:
        for entry in hapi.message(mid)["entry"]:
            res = entry["resource"]
            seen[f"{res['resourceType']}/{res['id']}"] = res
            if res["resourceType"] == "Communication":  # and the acknowledgement Tasks and AuditEvent that point to it
                for task in hapi.search("Task", {"focus": f"Communication/{res['id']}"}).get("entry", ()):
                    seen[f"Task/{task['resource']['id']}"] = task["resource"]
                for event in hapi.search("AuditEvent", {"entity": f"Communication/{res['id']}"}).get("entry", ()):
                    seen[f"AuditEvent/{event['resource']['id']}"] = event["resource"]
    by_type: Counter[str] = Counter()
    warnings = 0
    errors = []
    for key, res in seen.items():
        assert res["meta"]["profile"] == [ids.profile_url(res["resourceType"])], key
        issues = _validate(fhir_base_url, res)
        errors += [(key, i) for i in issues if i.is_error]
        warnings += sum(i.severity == "warning" for i in issues)
        by_type[res["resourceType"]] += 1
    with capsys.disabled():  # the figures belong in the CI log
        print(f"\n$validate: {len(seen)} resources ({dict(sorted(by_type.items()))}), {len(errors)} errors, {warnings} warnings")
    assert errors == []
    assert set(by_type) == ids.PROFILED


def _resource(path: Any, resource_type: str) -> dict[str, Any]:
    bundle = to_bundle(load(path))
    return copy.deepcopy(next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type))


def _audit_event() -> dict[str, Any]:
    """The AuditEvent the relay sends with the Inskrivningsmeddelande."""
    return copy.deepcopy(bundle_of(load(INSKRIVNING), recorded=ACCEPTED)["entry"][-1]["resource"])


def _ack_task() -> dict[str, Any]:
    """An acknowledgement Task the relay sends with the Inskrivningsmeddelande."""
    return copy.deepcopy(
        next(
            e["resource"]
            for e in bundle_of(load(INSKRIVNING), recorded=ACCEPTED)["entry"]
            if e["resource"]["resourceType"] == "Task"
        )
    )


def _unbroken(key: str) -> dict[str, Any]:
    """The resource the mappings made that :func:`_broken` breaks for invariant ``key``: the positive control."""
    messages = FIXTURES / "messages"
    if key.startswith("sam-aud-"):
        return _audit_event()
    if key.startswith("sam-task-"):
        return _ack_task()
    source = {
        "sam-com-1": (messages / "Kvittens-01.json", "Communication"),
        "sam-com-2": (INSKRIVNING, "Communication"),
        "sam-enc-1": (INSKRIVNING, "Encounter"),
        "sam-enc-2": (INSKRIVNING, "Encounter"),
        "sam-ct-1": (messages / "SIP-01.xml", "CareTeam"),
        "sam-cp-1": (messages / "SIP-01.xml", "CarePlan"),
        "sam-pat-1": (INSKRIVNING, "Patient"),
    }
    return _resource(*source[key])


def _broken(key: str) -> dict[str, Any]:
    """:func:`_unbroken`'s resource, changed to break invariant ``key`` and nothing else."""
    res = _unbroken(key)
    if key == "sam-com-1":  # a Kvittens without inResponseTo
        del res["inResponseTo"]
    elif key == "sam-com-2":  # no message type
        res["category"] = [{"text": "meddelande"}]
    elif key in ("sam-enc-1", "sam-enc-2"):  # a discharge-ready date before the admission
        url = ids.EXT_DISCHARGE_READY if key == "sam-enc-1" else ids.EXT_PRELIMINARY_DISCHARGE_READY
        res["extension"] = [e for e in res.get("extension", []) if e["url"] != url] + [{"url": url, "valueDate": "2026-02-01"}]
    elif key == "sam-ct-1":  # a SIP's care team without its samordnare
        res["participant"] = [p for p in res["participant"] if p["role"][0]["coding"][0]["code"] != "samordnare"]
    elif key == "sam-cp-1":  # a SIP without its Consent
        del res["supportingInfo"]
    elif key == "sam-task-1":  # an acknowledgement Task that is also a referral's
        res["identifier"].append({"system": ids.SYS_REMISS, "value": "SE2321000131-E000000000201:REM-1"})
    elif key == "sam-task-2":  # an acknowledgement Task waiting with no due time
        assert res["status"] == "requested"
        del res["restriction"]
    elif key == "sam-aud-1":  # the message's entity not named by its message id
        res["entity"][0]["name"] = "Inskrivningsmeddelande"
    elif key == "sam-aud-2":  # the patient's entity not in the role of patient
        res["entity"][1]["role"].update(code="4", display="Domain Resource")
    elif key == "sam-pat-1":  # a patient identified by something else
        res["identifier"] = [{"system": "urn:oid:1.2.752.29.4.19", "value": "SE2321000131-E000000000011"}]
    else:
        raise AssertionError(key)
    return res


INVARIANTS = sorted(
    c["key"]
    for sd in profiles.package()
    if sd["resourceType"] == "StructureDefinition"
    for el in sd["differential"]["element"]
    for c in el.get("constraint", [])
)


#: The resource type whose profile declares each invariant.
_DECLARED_ON = {
    c["key"]: sd["type"]
    for sd in profiles.package()
    if sd["resourceType"] == "StructureDefinition"
    for el in sd["differential"]["element"]
    for c in el.get("constraint", [])
}


def test_every_invariant_has_a_negative_test() -> None:
    assert INVARIANTS == [
        "sam-aud-1",
        "sam-aud-2",
        "sam-com-1",
        "sam-com-2",
        "sam-cp-1",
        "sam-ct-1",
        "sam-enc-1",
        "sam-enc-2",
        "sam-pat-1",
        "sam-task-1",
        "sam-task-2",
    ]


@pytest.mark.parametrize("key", INVARIANTS)
def test_hapi_refuses_a_resource_that_breaks_the_invariant(key: str, fhir_base_url: str) -> None:
    unbroken, broken = _unbroken(key), _broken(key)
    # The positive control is the same resource, of the type the invariant is declared on
    assert broken["resourceType"] == unbroken["resourceType"] == _DECLARED_ON[key]
    assert broken != unbroken
    issues = _validate(fhir_base_url, broken)
    assert key in [i.key for i in issues if i.is_error], issues
    # and the same resource, unbroken, passes
    assert key not in [i.key for i in _validate(fhir_base_url, unbroken) if i.is_error]


def test_the_cli_validates_against_the_server_and_names_the_broken_invariant(fhir_base_url: str, tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from adapter.cli import app as cli

    broken = tmp_path / "kvittens.json"
    broken.write_text(json.dumps(_broken("sam-com-1")))
    result = CliRunner().invoke(cli, ["validate", "--server", fhir_base_url, str(broken)])
    assert result.exit_code == 1
    assert "sam-com-1" in result.output and "0 warnings" not in result.output
    good = CliRunner().invoke(cli, ["validate", "--server", fhir_base_url, str(FIXTURES / "messages" / "SIP-01.xml")])
    assert good.exit_code == 0, good.output
    assert " 0 errors" in good.output
