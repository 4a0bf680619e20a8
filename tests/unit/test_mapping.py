"""Rule-based checks over every fixture's bundle, and each resource valid against FHIR R4(B)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote
from uuid import uuid5

import pytest
from fhir.resources.R4B import get_fhir_model_class
from hypothesis import given
from hypothesis import strategies as st

from mappings import from_fhir, to_bundle
from mappings import identifiers as ids
from mappings.bundle import Entry, conditional_query, transaction
from mappings.fhir import _FULLURL_NS, full_url
from tests.support import ALL_DOCUMENTS, INSKRIVNING, MESSAGES, ROOT, load


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                yield value
            else:
                yield from _references(value)
    elif isinstance(node, list):
        for item in node:
            yield from _references(item)


def _check_rules(bundle: dict[str, Any], source_text: str) -> None:
    entries = bundle["entry"]
    full_urls = [e["fullUrl"] for e in entries]
    assert len(set(full_urls)) == len(full_urls), "fullUrls are unique"
    for e in entries:
        contained = {f"#{c['id']}" for c in e["resource"].get("contained", ())}
        for ref in _references(e["resource"]):
            assert ref in (contained if ref.startswith("#") else full_urls), f"reference {ref} resolves inside the bundle"
    identities = [(e["resource"]["resourceType"], e["request"].get("ifNoneExist") or e["request"]["url"]) for e in entries]
    assert len(set(identities)) == len(identities), "never two entries for one identity"
    for e in entries:
        assert e["resource"], "no resource is empty"
        for ident in e["resource"].get("identifier", ()):
            value = ident["value"]
            issuer, _, own = value.partition(":")
            assert value in source_text or (issuer in source_text and own in source_text), "identifiers come from the input"


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: p.name)
def test_fixture_bundles_follow_the_rules(path) -> None:
    message = load(path)
    _check_rules(to_bundle(message), path.read_text())


@pytest.mark.parametrize("path", ALL_DOCUMENTS, ids=lambda p: str(p.relative_to(p.parents[1])))
def test_every_fixture_maps_to_fhir_and_back(path) -> None:
    message = load(path)
    assert from_fhir(json.loads(json.dumps(to_bundle(message)))) == message


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: p.name)
def test_every_resource_is_valid_fhir(path) -> None:
    bundle = to_bundle(load(path))
    get_fhir_model_class("Bundle").model_validate(bundle)
    for entry in bundle["entry"]:
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])


def test_writes_follow_the_relay_contract() -> None:
    bundle = to_bundle(load(INSKRIVNING))
    requests = {e["resource"]["resourceType"]: e["request"] for e in bundle["entry"]}
    # Master data: conditional create, never overwritten.
    assert requests["Patient"] == {
        "method": "POST",
        "url": "Patient",
        "ifNoneExist": f"identifier={ids.PERSONNUMMER}|191212121212",
    }
    assert requests["Organization"]["method"] == "POST"
    # The adapter owns the episode's state: conditional update by its identifier.
    assert requests["Encounter"] == {
        "method": "PUT",
        "url": f"Encounter?identifier={ids.SYS_VARDTILLFALLE}|SE2321000131-E000000000011:VT-2026-000123",
    }
    # One Communication per message, created once.
    assert requests["Communication"]["ifNoneExist"] == f"identifier={ids.SYS_MESSAGE_ID}|6f1c0e0a-6a43-4a57-9d0b-0a1c2b3d4e5f"


def test_the_same_message_gives_the_same_bundle() -> None:
    assert to_bundle(load(INSKRIVNING)) == to_bundle(load(INSKRIVNING))


def test_fullurls_do_not_disclose_the_personnummer() -> None:
    text = json.dumps([e["fullUrl"] for e in to_bundle(load(INSKRIVNING))["entry"]])
    assert "191212121212" not in text and "urn:uuid:" in text


def test_systems_hang_off_the_canonical_base_of_the_package() -> None:
    package = json.loads((ROOT / "profiles" / "package.json").read_text())
    assert ids.SYS_MESSAGE_ID == f"{package['canonical']}/NamingSystem/message-id"
    assert ids.SYS_VARDTILLFALLE == f"{package['canonical']}/NamingSystem/vardtillfalle"


def test_conditional_query_is_one_canonical_form() -> None:
    assert conditional_query("urn:oid:1.2.752.29.4.19", "SE1") == "identifier=urn:oid:1.2.752.29.4.19|SE1"
    assert conditional_query("s", "a b&c") == "identifier=s|a%20b%26c"


#: Any text a message can carry (XML 1.0 characters: no surrogates).
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(_TEXT | st.from_regex(r"[A-Za-z0-9_.~:%-]*", fullmatch=True))
def test_conditional_query_encodes_every_value_as_quote_does(value: str) -> None:
    # Values of only unreserved characters skip quote(); the result must not show it.
    assert conditional_query("s", value) == f"identifier=s|{quote(value, safe='-._~:')}"


@given(_TEXT, st.sampled_from(["Patient", "Organization", "Encounter"]), _TEXT)
def test_full_urls_are_uuid5_of_message_type_and_key(message_id: str, resource_type: str, key: str) -> None:
    # Written out without the UUID object; released bundles' fullUrls must not change.
    assert full_url(message_id, resource_type, key) == f"urn:uuid:{uuid5(_FULLURL_NS, f'{message_id}/{resource_type}/{key}')}"


def test_a_bundle_refuses_two_entries_for_one_identity() -> None:
    entry = Entry("urn:uuid:1", {"resourceType": "Patient"}, "create", ids.PERSONNUMMER, "191212121212")
    with pytest.raises(ValueError, match="two entries for one identity"):
        transaction([entry, Entry("urn:uuid:2", {"resourceType": "Patient"}, "create", ids.PERSONNUMMER, "191212121212")])
