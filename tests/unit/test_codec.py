"""The door: documents in XML and JSON, and every bad input refused with the element named."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapter import codec
from adapter.config import Limits
from mappings import to_bundle
from mappings.errors import DocumentTooLarge, SamverkanError, UnsupportedMediaType
from mappings.model import CareType, MessageType, PartyKind, PatientIdKind
from tests.support import ALL_DOCUMENTS, BAD, BAD_EXPECTED, BAD_FHIR, BAD_FHIR_EXPECTED, INSKRIVNING, MESSAGES, bad_input, load

#: What the codec sees of the corpus: not the inputs refused for a header (Content-Encoding).
CODEC_CASES = sorted(name for name, entry in BAD_EXPECTED.items() if "headers" not in entry)


def test_the_domain_example_reads_as_stated() -> None:
    # Given the example of docs/domain.md
    m = load(INSKRIVNING)
    # Then every part of it is in the model
    assert m.type is MessageType.INSKRIVNINGSMEDDELANDE
    assert m.sent.isoformat() == "2026-03-02T09:15:00+01:00"
    assert (m.sender.hsa_id, m.sender.kind) == ("SE2321000131-E000000000011", PartyKind.SLUTENVARD)
    assert [r.kind for r in m.recipients] == [PartyKind.KOMMUN, PartyKind.NARSJUKVARD]
    assert (m.patient.id_kind, m.patient.id_value, m.patient.kommunkod) == (PatientIdKind.PERSONNUMMER, "191212121212", "1380")
    assert m.care_episode is not None
    # The issuer defaults to the slutenvård Sender (docs/domain.md, "Business identifiers")
    assert m.care_episode.issuer == m.sender.hsa_id
    assert m.care_episode.care is CareType.SOMATISK
    assert m.body.preliminary_discharge_ready is not None and m.body.preliminary_discharge_ready.isoformat() == "2026-03-05"
    assert m.body.consent is not None and m.body.consent.sip is True
    assert m.body.note == "Behov av hemsjukvård och hemtjänst efter utskrivning."


@pytest.mark.parametrize("path", MESSAGES, ids=lambda p: p.name)
def test_xml_and_json_forms_are_the_same_message(path) -> None:
    m = load(path)
    assert codec.decode(codec.encode_xml(m), "application/xml") == m
    assert codec.decode(json.dumps(codec.encode_json(m)).encode(), "application/json") == m


def _as_json_dumps_writes(value: object) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


@pytest.mark.parametrize("path", ALL_DOCUMENTS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_a_bundle_is_written_as_json_dumps_writes_it(path) -> None:
    bundle = to_bundle(load(path))
    assert codec.compact_json(bundle) == _as_json_dumps_writes(bundle)


#: What our resources hold: strings (no surrogates: XML cannot carry them), integers, booleans, lists, objects.
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)))
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_TEXT, inner, max_size=4),
    max_leaves=20,
)


@given(_JSON)
def test_compact_json_writes_what_json_dumps_writes(value: object) -> None:
    assert codec.compact_json(value) == _as_json_dumps_writes(value)


def test_encoded_xml_is_valid_against_the_xsd() -> None:
    from lxml import etree

    from adapter.codec.xsd_layout import schema

    for path in MESSAGES:
        assert schema().validate(etree.fromstring(codec.encode_xml(load(path))))


@pytest.mark.parametrize("name", CODEC_CASES, ids=str)
def test_bad_input_is_refused_naming_the_element(name: str) -> None:
    case = bad_input(name)
    with pytest.raises(SamverkanError) as info:
        codec.decode(case.body, case.content_type)
    err = info.value
    assert (err.http_status, err.code, err.path) == (case.status, case.code, case.location), str(err)


@pytest.mark.parametrize(("folder", "manifest"), [(BAD, BAD_EXPECTED), (BAD_FHIR, BAD_FHIR_EXPECTED)], ids=["internal", "fhir"])
def test_every_bad_fixture_has_an_expectation(folder, manifest: dict) -> None:
    files = {p.name for p in folder.iterdir() if p.is_file() and p.name not in ("expected.json", "README.md")}
    # A generated input (an oversized body) has no file: its manifest entry says how to make it.
    assert files == {name for name, entry in manifest.items() if "generate" not in entry}
    assert all(entry["status"] in (400, 413, 415, 422) and entry["code"] and entry["location"] for entry in manifest.values())


def test_errors_never_repeat_a_personnummer() -> None:
    with pytest.raises(SamverkanError) as info:
        codec.decode((BAD / "personnummer-check-digit.xml").read_bytes(), "application/xml")
    assert "191212121213" not in str(info.value)


def test_unknown_content_type_is_415() -> None:
    with pytest.raises(UnsupportedMediaType) as info:
        codec.decode(INSKRIVNING.read_bytes(), "text/plain")
    assert info.value.http_status == 415


def test_document_over_the_limit_is_413() -> None:
    with pytest.raises(DocumentTooLarge):
        codec.decode(INSKRIVNING.read_bytes(), "application/xml", limits=Limits(max_bytes=100))


def test_deep_json_is_refused_not_crashed() -> None:
    deep = b'{"Message": ' + b'{"Body": ' * 5000 + b"{}" + b"}" * 5001
    with pytest.raises(SamverkanError) as info:
        codec.decode(deep, "application/json")
    assert info.value.http_status == 400


def test_invalid_utf8_is_refused() -> None:
    with pytest.raises(SamverkanError) as info:
        codec.decode(b'{"Message": "\xff\xfe"}', "application/json")
    assert info.value.code == "SAMV-1003"


@pytest.mark.parametrize("char", ["\ufffe", "\uffff", "\x01"])
def test_json_with_a_character_xml_cannot_hold_is_refused_naming_the_attribute(char: str) -> None:
    """The JSON form carries only what the XML form can (found by the round-trip property test)."""
    doc = codec.encode_json(load(INSKRIVNING))
    doc["Message"]["Recipient"][0]["name"] = f"Halmstads kommun{char}"
    with pytest.raises(SamverkanError) as info:
        codec.decode(json.dumps(doc).encode(), "application/json")
    assert info.value.http_status == 400
    assert info.value.path == "/Message/Recipient[1]/@name"
    assert f"U+{ord(char):04X}" in info.value.detail
