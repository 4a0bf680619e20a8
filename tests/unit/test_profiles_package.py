"""The package in profiles/: complete, under one canonical base, documented, and usable by the CLI."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from typer.testing import CliRunner

from adapter.cli import app as cli
from adapter.cli.profile_docs import pages
from adapter.fhir import profiles
from adapter.relay import bundle_of
from mappings import identifiers as ids
from mappings import to_bundle
from tests.support import INSKRIVNING, ROOT, load


def test_every_extension_and_profile_we_use_is_defined_under_the_canonical_base() -> None:
    urls = {r["url"] for r in profiles.package()}
    assert all(u.startswith(ids.CANONICAL + "/") for u in urls)
    used = {getattr(ids, n) for n in ids.__all__ if n.startswith("EXT_")} | {ids.profile_url(t) for t in ids.PROFILED}
    assert used <= urls, used - urls
    versions = {r["version"] for r in profiles.package()}
    assert versions == {ids.PACKAGE_VERSION}


def test_every_resource_the_mappings_make_declares_its_profile() -> None:
    # What the relay sends: the mapping, the acknowledgement Tasks and the AuditEvent.
    relayed = bundle_of(load(INSKRIVNING), recorded=datetime(2026, 3, 2, 8, 15, tzinfo=UTC))
    assert {e["resource"]["resourceType"] for e in relayed["entry"]} >= {"Task", "AuditEvent"}
    for entry in relayed["entry"]:
        res = entry["resource"]
        assert res["meta"]["profile"] == [ids.profile_url(res["resourceType"])]


def test_the_profile_pages_are_generated_from_the_json() -> None:
    # Regenerate with: samverkan profiles docs
    for name, text in pages().items():
        assert (ROOT / "docs" / "profiles" / name).read_text() == text, f"docs/profiles/{name} is stale"


def test_validate_reports_a_structural_error_with_its_fhirpath_and_fails(tmp_path) -> None:  # type: ignore[no-untyped-def]
    comm = next(e["resource"] for e in to_bundle(load(INSKRIVNING))["entry"] if e["resource"]["resourceType"] == "Communication")
    comm["status"] = 42
    bad = tmp_path / "communication.json"
    bad.write_text(json.dumps(comm))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "Communication.status" in result.output and "1 errors" in result.output.replace("\n", " ")


def test_validate_passes_an_internal_message_through_its_mapping() -> None:
    result = CliRunner().invoke(cli, ["validate", str(INSKRIVNING)])
    assert result.exit_code == 0, result.output
    # Patient, 3 Organizations, Encounter, Communication, a Task per recipient's Kvittens, the AuditEvent.
    assert "9 resources validated: 0 errors" in result.output
