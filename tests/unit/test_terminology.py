"""Codes are data: the model's codes are the CodeSystems' codes, and translations are ConceptMaps."""

from __future__ import annotations

import json
from collections import defaultdict
from enum import StrEnum
from pathlib import Path

import pytest

from mappings import identifiers as ids
from mappings import model
from mappings.errors import UnmappedCode
from mappings.terminology import reverse, translate
from tests.support import ALL_DOCUMENTS, ROOT, load

PROFILES = ROOT / "profiles"

#: CodeSystem id -> the model's enumeration of the same codes.
ENUMS: dict[str, type[StrEnum]] = {
    "message-type": model.MessageType,
    "party-kind": model.PartyKind,
    "care-type": model.CareType,
    "service-kind": model.ServiceKind,
    "general-subject": model.GeneralSubject,
    "meeting-mode": model.MeetingMode,
    "abort-reason": model.AbortReason,
    "care-level": model.CareLevel,
    "referral-criterion": model.ReferralCriterion,
    "provider-choice": model.ProviderChoice,
    "referral-decision": model.DecisionOutcome,
    "sip-status": model.SipStatus,
}


def _codes(code_system_id: str) -> list[str]:
    data = json.loads((PROFILES / f"CodeSystem-{code_system_id}.json").read_text())
    return [c["code"] for c in data["concept"]]


@pytest.mark.parametrize("cs", sorted(ENUMS))
def test_the_models_codes_are_the_code_systems(cs: str) -> None:
    assert [e.value for e in ENUMS[cs]] == _codes(cs)


def test_care_contact_roles_are_care_team_roles() -> None:
    assert {r.value for r in model.CareContactRole} <= set(_codes("care-team-role"))


@pytest.mark.parametrize("path", sorted(PROFILES.glob("ConceptMap-*.json")), ids=lambda p: p.stem)
def test_every_concept_map_translates_all_of_its_source_system(path: Path) -> None:
    data = json.loads(path.read_text())
    assert data["url"] == f"{ids.CANONICAL}/ConceptMap/{data['id']}"
    (group,) = data["group"]
    source_id = group["source"].rsplit("/", 1)[1]
    mapped = [el["code"] for el in group["element"]]
    assert set(mapped) <= set(_codes(source_id))
    if data["id"] != "message-type-to-encounter-status":  # a map of the few types that set a status
        assert sorted(mapped) == sorted(_codes(source_id))
    for code in mapped:
        assert translate(data["id"], code)


def test_a_code_without_a_translation_fails_loudly() -> None:
    with pytest.raises(UnmappedCode) as info:
        translate("meeting-mode-to-participation-mode", "brevduva", path="/Message/Body/Meeting/@mode")
    assert info.value.code == "SAMV-2004" and info.value.path == "/Message/Body/Meeting/@mode"
    assert reverse("meeting-mode-to-participation-mode", "VIDEOCONF") == "video"
    with pytest.raises(UnmappedCode):
        reverse("sip-status-to-request-status", "active")  # four statuses map to active: not reversible


def test_one_unit_is_described_one_way_across_all_fixtures() -> None:
    # Organizations are master data, created once and never overwritten (the relay contract):
    # fixtures that describe a unit differently would read back differently from the server.
    seen: dict[str, set[tuple[str, str | None]]] = defaultdict(set)
    for path in ALL_DOCUMENTS:
        m = load(path)
        b = m.body
        units = [m.sender, *m.recipients, *b.invitees, *b.participants]
        if b.provider is not None:
            units.append(model.Party(b.provider.hsa_id, b.provider.kind, b.provider.name))
        for u in units:
            seen[u.hsa_id].add((u.kind.value, u.name))
    assert {hsa: d for hsa, d in seen.items() if len(d) > 1} == {}
