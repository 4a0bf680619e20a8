"""The hostile corpus (fixtures/bad, fixtures/bad/fhir) against a real `samverkan serve` in front
of the real HAPI (issue 9): every input is refused with its status, SAMV code and element as a
FHIR OperationOutcome, and journaled; afterwards the service is healthy and still delivers;
nothing of the corpus is on HAPI; no personal identity number is in the log."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx

from adapter import codec
from mappings import identifiers as ids
from mappings import to_bundle
from tests.serving import serve
from tests.support import BAD, BAD_EXPECTED, BAD_FHIR, BAD_FHIR_EXPECTED, INSKRIVNING, BadInput, bad_input, load, unique

from .conftest import Hapi

_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
#: Where a message id stands: Message/@id (XML, JSON) and the Communication's message-id identifier (FHIR JSON, XML).
_MESSAGE_ID = re.compile(
    rb'(?:<Message [^>]*?\bid="|"Message": \{\s*"id": "|message-id",\s*"value": "|message-id"/>\s*<value value=")'
    rb"([0-9a-f-]{36})"
)
_EPISODE = re.compile(rb"VT-2026-\d{6}")
#: Twelve digits that may be a personnummer or samordningsnummer (a year 18xx-20xx first).
_NUMBER = re.compile(rb"(?<![0-9])(?:18|19|20)[0-9]{10}(?![0-9])")


def _corpus() -> list[BadInput]:
    return [bad_input(n) for n in BAD_EXPECTED] + [bad_input(n, fhir=True) for n in BAD_FHIR_EXPECTED]


def _inputs_in(folder: Path, manifest: dict[str, dict[str, object]]) -> set[str]:
    """One half of the corpus as its folder holds it, whatever its manifest lists: every file but the
    manifest and the README, and every input the manifest generates (too large to keep as a file)."""
    files = {p.name for p in folder.iterdir() if p.is_file() and p.name not in ("expected.json", "README.md")}
    return files | {name for name, entry in manifest.items() if "generate" in entry}


def _own_ids(case: BadInput) -> tuple[BadInput, list[str]]:
    """``case`` with new UUIDs (the same new one for the same old one) and new episode ids, so that
    "nothing on HAPI" is about this run; and the message ids it now carries."""
    uuids: dict[bytes, bytes] = {}
    found = [m.group(1) for m in _MESSAGE_ID.finditer(case.body)]
    body = _UUID.sub(lambda m: uuids.setdefault(m.group(), str(uuid.uuid4()).encode()), case.body)
    body = _EPISODE.sub(lambda m: f"VT-HOSTILE-{uuid.uuid4().hex[:12]}".encode(), body)
    fresh = BadInput(**{**case.__dict__, "body": body})
    return fresh, [uuids[old].decode() for old in found if old in uuids]


def _refusal_problem(case: BadInput, response: httpx.Response) -> str | None:
    """What is wrong with the answer to ``case``, or None when it is the expected refusal."""
    got = f"{case.endpoint} {case.name}: {response.status_code}"
    if response.status_code != case.status:
        return f"{got}, expected {case.status}: {response.text[:300]}"
    if not response.headers.get("content-type", "").startswith("application/fhir+json"):
        return f"{got}: answered as {response.headers.get('content-type')}"
    outcome = response.json()
    issue = outcome["issue"][0] if outcome.get("resourceType") == "OperationOutcome" and outcome.get("issue") else {}
    where = (issue.get("location") or issue.get("expression") or [None])[0]
    if issue.get("severity") != "error" or not str(issue.get("diagnostics", "")).startswith(case.code):
        return f"{got}: expected {case.code}, got {issue or outcome}"
    if where != case.location:
        return f"{got}: names {where!r}, expected {case.location!r}"
    return None


def _spellings(number: bytes) -> list[str]:
    """The ways a log could spell a 12-digit identity number."""
    n = number.decode()
    return [n, f"{n[:8]}-{n[8:]}", f"{n[2:8]}-{n[8:]}", n[2:], f"{n[:8]}+{n[8:]}", f"{n[2:8]}+{n[8:]}"]


def _on_hapi(hapi: Hapi, message_ids: list[str]) -> int:
    """How many Communications HAPI holds with any of ``message_ids`` (searched 40 at a time, ORed)."""
    total = 0
    for i in range(0, len(message_ids), 40):
        values = ",".join(f"{ids.SYS_MESSAGE_ID}|{m}" for m in message_ids[i : i + 40])
        found = hapi.search("Communication", {"identifier": values, "_summary": "count", "_total": "accurate"})
        total += int(found["total"])
    return total


def _until_delivered(http: httpx.Client, message_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 60
    while (status := http.get(f"/messages/{message_id}").json())["state"] != "delivered":
        assert time.monotonic() < deadline, f"not delivered in 60 s: {status}"
        time.sleep(0.1)
    return dict(status)


def test_every_hostile_input_is_refused_and_nothing_of_it_lands(fhir_base_url: str, hapi: Hapi, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite3"
    env = {
        **os.environ,
        "SAMVERKAN_FHIR_BASE_URL": fhir_base_url,
        "SAMVERKAN_JOURNAL_PATH": str(journal),
        "SAMVERKAN_INBOUND_AUTH": "off",
        "SAMVERKAN_OVERDUE_INTERVAL": "0",
    }
    cases, message_ids = [], []
    for case in _corpus():
        fresh, found = _own_ids(case)
        cases.append(fresh)
        message_ids.extend(found)
    # Every input of the corpus, no fewer: counted from the folders, not from the manifests that built
    # the cases (a file without a manifest entry, or a case dropped on the way, fails here)
    internal, fhir = _inputs_in(BAD, BAD_EXPECTED), _inputs_in(BAD_FHIR, BAD_FHIR_EXPECTED)
    assert (set(BAD_EXPECTED), set(BAD_FHIR_EXPECTED)) == (internal, fhir)
    assert len(cases) == len(internal) + len(fhir)
    assert len(message_ids) > 150
    valid = unique(load(INSKRIVNING))
    valid_fhir = unique(load(INSKRIVNING))

    with serve(env, tmp_path) as url, httpx.Client(base_url=url, timeout=30) as http:
        # When every input of the corpus is posted as its manifest says
        problems = []
        for case in cases:
            started = time.monotonic()
            response = http.post(case.endpoint, content=case.content(), headers=case.request_headers())
            if (problem := _refusal_problem(case, response)) is not None:
                problems.append(problem)
            if time.monotonic() - started > 5:
                problems.append(f"{case.endpoint} {case.name}: took {time.monotonic() - started:.1f} s")
        # Then each got the refusal it is listed with
        assert not problems, "\n".join(problems)
        # And the service is healthy, with nothing of it accepted for relaying
        health = http.get("/health").json()
        assert (health["status"], health["journal"]) == ("ok", {})
        # And a valid message still goes through either door and is delivered
        accepted = http.post("/messages", content=codec.encode_xml(valid), headers={"Content-Type": "application/xml"})
        assert accepted.status_code == 202, accepted.text
        assert _until_delivered(http, valid.id)["state"] == "delivered"
        answered = http.post(
            "/fhir", content=json.dumps(to_bundle(valid_fhir)), headers={"Content-Type": "application/fhir+json"}
        )
        assert answered.status_code in (200, 202), answered.text
        assert _until_delivered(http, valid_fhir.id)["state"] == "delivered"
        metrics = http.get("/metrics").text

    # Each refusal is journaled with its code (the body too, except where it was never read whole)
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        journaled = Counter(code for (code,) in db.execute("SELECT code FROM rejected"))
    assert journaled == Counter(case.code for case in cases)
    for code, n in Counter(case.code for case in cases).items():
        assert f'samverkan_messages_refused_total{{code="{code}"}} {float(n)}' in metrics, code
    # Nothing of the corpus is on HAPI; the two valid messages are, once each (which also shows
    # that the ORed search finds what is there)
    assert _on_hapi(hapi, message_ids) == 0
    assert _on_hapi(hapi, [*message_ids[:20], valid.id, valid_fhir.id]) == 2
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, valid.id) == 1
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, valid_fhir.id) == 1
    # No identity number of the corpus (nor of the valid messages) in the log, however spelled
    log = (tmp_path / "serve.log").read_text()
    assert "refused POST /messages" in log  # refusals are logged, masked
    numbers = {n for case in cases for n in _NUMBER.findall(case.body)}
    numbers |= {valid.patient.id_value.encode(), valid_fhir.patient.id_value.encode()}
    assert b"191212121212" in numbers
    leaked = [s for n in sorted(numbers) for s in _spellings(n) if s in log]
    assert not leaked, leaked
