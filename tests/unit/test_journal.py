"""The journal (both backends: SQLite, and a real PostgreSQL) and the worker's retry rules.

The worker's FHIR server here is a transport that answers as told (the real one cannot be made to
answer 503 or 429 on demand); the reliability of the whole against the real HAPI is in
tests/integration/test_reliability.py.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from adapter import codec
from adapter.config import RetryPolicy
from adapter.fhir import FhirClient
from adapter.journal import Accept, Conflict, Invoice, Journal, Query
from adapter.journal.postgres import MIGRATIONS as PG_MIGRATIONS
from adapter.journal.postgres import PostgresJournal
from adapter.journal.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from adapter.journal.sqlite import SqliteJournal
from adapter.relay import Worker
from tests.support import INSKRIVNING, load, unique

Opener = Callable[[], Journal]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the same journal (again) on one backend; closes what it opened."""
    url = request.getfixturevalue("postgres_schema_url") if request.param == "postgres" else None
    opened: list[Journal] = []

    def open_() -> Journal:
        opened.append(PostgresJournal(url) if url else SqliteJournal(tmp_path / "j.sqlite3"))
        return opened[-1]

    yield open_
    for journal in opened:
        journal.close()


def _accept(journal: Journal, mid: str, key: str, now: float = 0.0, doc: bytes = b"<x/>") -> None:
    journal.accept(mid, key=key, message_type="Inskrivningsmeddelande", document=doc, content_type="application/xml", now=now)


def test_accepting_is_idempotent_and_other_content_is_a_conflict(opener: Opener) -> None:
    j = opener()
    first, created = j.accept("m1", key="k", message_type="T", document=b"<a/>", content_type="application/xml", now=1.0)
    again, created_again = j.accept("m1", key="k", message_type="T", document=b"<a/>", content_type="application/xml", now=2.0)
    assert created and not created_again and again.seq == first.seq and again.accepted_at == 1.0
    with pytest.raises(Conflict) as info:
        j.accept("m1", key="k", message_type="T", document=b"<b/>", content_type="application/xml", now=3.0)
    assert info.value.http_status == 409


def test_one_key_goes_in_order_and_other_keys_in_parallel(opener: Opener) -> None:
    j = opener()
    for mid, key in (("a1", "A"), ("a2", "A"), ("b1", "B")):
        _accept(j, mid, key)
    assert [r.message_id for r in j.claim("w", now=1, lease=30, limit=10)] == ["a1", "b1"]
    assert j.claim("w", now=2, lease=30, limit=10) == []  # a2 waits for a1
    j.delivered("a1", ["Communication/1"], now=3)
    assert [r.message_id for r in j.claim("w", now=4, lease=30, limit=10)] == ["a2"]


def test_a_dead_letter_holds_its_key_until_replayed_or_cancelled(opener: Opener) -> None:
    j = opener()
    _accept(j, "a1", "A")
    _accept(j, "a2", "A")
    j.claim("w", now=1, lease=30, limit=10)
    j.dead_letter("a1", "refused", now=2)
    assert j.claim("w", now=3, lease=30, limit=10) == []
    held = j.get("a2")
    assert held is not None and held.state == "held"
    assert j.counts() == {"dead-lettered": 1, "held": 1}
    assert [r.message_id for r in j.list(state="held")] == ["a2"]
    replayed = j.replay("a1", now=4)
    assert replayed.state == "replayed" and replayed.queued_at == 4
    assert [r.message_id for r in j.claim("w", now=5, lease=30, limit=10)] == ["a1"]
    j.dead_letter("a1", "refused again", now=6)
    j.cancel("a1", now=7)
    assert [r.message_id for r in j.claim("w", now=8, lease=30, limit=10)] == ["a2"]
    with pytest.raises(ValueError):
        j.replay("a2", now=9)  # relaying: not for an operator to replay


def test_a_crashed_workers_claims_expire_and_a_stopping_worker_gives_them_back(opener: Opener) -> None:
    j = opener()
    _accept(j, "a1", "A")
    _accept(j, "b1", "B")
    assert len(j.claim("dead", now=1, lease=30, limit=1)) == 1
    assert [r.message_id for r in j.claim("other", now=2, lease=30, limit=10)] == ["b1"]
    assert [r.message_id for r in j.claim("other", now=32, lease=30, limit=10)] == ["a1"]  # the lease ran out
    assert j.release("other", now=33) == 2
    assert {r.state for r in j.list()} == {"retrying"}


def test_the_schema_is_versioned_and_a_reopened_journal_keeps_everything(opener: Opener) -> None:
    j = opener()
    _accept(j, "a1", "A")
    j.close()
    again = opener()
    assert again.get("a1") is not None
    assert again.schema_version() == len(SQLITE_MIGRATIONS if isinstance(again, SqliteJournal) else PG_MIGRATIONS)


class _Server:
    """Answers a transaction with the statuses it is given, in turn, then 200."""

    def __init__(self, *answers: httpx.Response):
        self.answers = list(answers)
        self.calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":  # the relay reads state resources first: none yet
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        self.calls += 1
        if self.answers:
            return self.answers.pop(0)
        bundle = json.loads(request.content)
        entries = [
            {"response": {"status": "201 Created", "location": f"{e['resource']['resourceType']}/{i}/_history/1"}}
            for i, e in enumerate(bundle["entry"])
        ]
        return httpx.Response(200, json={"resourceType": "Bundle", "type": "transaction-response", "entry": entries})


def _run(
    tmp_path: Path, server: _Server, clock: list[float], rounds: int, policy: RetryPolicy | None = None
) -> tuple[SqliteJournal, str]:
    j = SqliteJournal(tmp_path if tmp_path.suffix == ".sqlite3" else tmp_path / "j.sqlite3")
    message = unique(load(INSKRIVNING))
    j.accept(
        message.id,
        key="k",
        message_type="Inskrivningsmeddelande",
        document=codec.encode_xml(message),
        content_type="application/xml",
        now=clock[0],
    )

    async def go() -> None:
        async with FhirClient("http://fhir.test/fhir", transport=httpx.MockTransport(server)) as fhir:
            worker = Worker(j, fhir, clock=lambda: clock[0], policy=policy or RetryPolicy(base=1, cap=10))
            for _ in range(rounds):
                await worker.run_once()
                clock[0] += 100  # past any backoff

    asyncio.run(go())
    return j, message.id


def test_a_5xx_is_retried_after_a_backoff_with_jitter_then_delivered(tmp_path: Path) -> None:
    clock = [1000.0]
    j, mid = _run(tmp_path, _Server(httpx.Response(503)), clock, rounds=1)
    record = j.get(mid)
    assert record is not None and record.state == "retrying" and record.attempts == 1
    assert 1000 + 0.5 <= record.next_attempt <= 1000 + 1  # the first backoff, with jitter
    j.close()


def test_a_429_waits_as_long_as_retry_after_says_and_then_delivers(tmp_path: Path) -> None:
    clock = [2000.0]
    j, mid = _run(tmp_path, _Server(httpx.Response(429, headers={"Retry-After": "42"})), clock, rounds=1)
    record = j.get(mid)
    assert record is not None and record.next_attempt >= 2000 + 42
    j.close()
    j2, mid2 = _run(tmp_path / "x.sqlite3", _Server(httpx.Response(429, headers={"Retry-After": "42"})), [0.0], rounds=2)
    done = j2.get(mid2)
    assert done is not None and done.state == "delivered" and done.attempts == 2 and done.server_ids


def test_a_4xx_is_final_and_dead_letters_with_the_servers_outcome(tmp_path: Path) -> None:
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": "HAPI-0450: bad"}],
    }
    j, mid = _run(tmp_path, _Server(httpx.Response(400, json=outcome)), [0.0], rounds=2)
    record = j.get(mid)
    assert record is not None and record.state == "dead-lettered" and record.attempts == 1
    [stored] = j.attempts(mid)
    assert stored.status == 400 and stored.outcome == outcome


def test_attempts_are_capped(tmp_path: Path) -> None:
    server = _Server(*[httpx.Response(503) for _ in range(10)])
    j, mid = _run(tmp_path, server, [0.0], rounds=6, policy=RetryPolicy(max_attempts=3, base=1, cap=10))
    record = j.get(mid)
    assert record is not None and record.state == "dead-lettered" and record.attempts == 3 and server.calls == 3


def test_the_cli_lists_the_journal_and_replays_dead_letters(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from adapter.cli import app as cli

    path = tmp_path / "j.sqlite3"
    j = SqliteJournal(path)
    for mid in ("a1", "b1"):
        _accept(j, mid, mid)
    j.claim("w", now=1, lease=30, limit=10)
    j.dead_letter("a1", "SAMV-4100: refused", now=2)
    j.dead_letter("b1", "SAMV-4100: refused", now=2)
    j.close()
    monkeypatch.setenv("SAMVERKAN_JOURNAL_PATH", str(path))
    listed = CliRunner().invoke(cli, ["journal", "--state", "dead-lettered"])
    assert listed.exit_code == 0 and "a1" in listed.output and "SAMV-4100" in listed.output
    replayed = CliRunner().invoke(cli, ["replay", "--state", "dead-lettered"])
    assert replayed.exit_code == 0, replayed.output
    assert "2 of 2 messages queued again" in replayed.output
    again = SqliteJournal(path)
    assert {r.state for r in again.list()} == {"replayed"}
    assert sorted((e.action, e.message_id) for e in again.audit_log()) == [("replay", "a1"), ("replay", "b1")]
    again.close()
    assert CliRunner().invoke(cli, ["replay", "nope"]).exit_code == 1


def test_replicas_claiming_at_once_never_share_a_message_nor_break_a_keys_order(opener: Opener) -> None:
    # Four replicas, each with its own connection, as four processes would have.
    first = opener()
    for i in range(60):
        for n in range(4):
            _accept(first, f"k{i}-{n}", f"k{i}")
    replicas = [opener() for _ in range(4)]
    delivered: list[str] = []
    lock = threading.Lock()

    def work(journal: Journal, name: str) -> None:
        idle = 0
        while idle < 20:
            got = journal.claim(name, now=time.time(), lease=60, limit=3)
            idle = 0 if got else idle + 1
            for r in got:
                with lock:
                    delivered.append(r.message_id)
                journal.delivered(r.message_id, [], now=time.time())

    threads = [threading.Thread(target=work, args=(j, f"w{i}")) for i, j in enumerate(replicas)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(delivered) == sorted(f"k{i}-{n}" for i in range(60) for n in range(4))  # each once
    for i in range(60):
        assert [m for m in delivered if m.startswith(f"k{i}-")] == [f"k{i}-{n}" for n in range(4)]


def test_pruning_deletes_old_delivered_and_cancelled_messages_only(opener: Opener) -> None:
    j = opener()
    for mid in ("old-done", "old-cancelled", "old-open", "new-done"):
        _accept(j, mid, mid, now=10)
    j.claim("w", now=10, lease=30, limit=10)
    j.delivered("old-done", [], now=20)
    j.release("w", now=20)
    j.cancel("old-cancelled", now=20)
    j.delivered("new-done", [], now=500)
    j.reject(document=b"<x/>", content_type="application/xml", code="SAMV-1003", location="/", detail="bad", now=20)
    assert j.prune(before=100) == 2
    assert {r.message_id for r in j.list()} == {"old-open", "new-done"}
    assert j.attempts("old-done") == []


def test_the_time_limit_counts_from_the_replay_not_the_first_acceptance(tmp_path: Path) -> None:
    policy = RetryPolicy(max_attempts=100, max_age=3600, base=1, cap=10)
    clock = [0.0]
    j, mid = _run(tmp_path, _Server(httpx.Response(503)), clock, rounds=1, policy=policy)
    j.dead_letter(mid, "given up", now=clock[0])
    clock[0] = 10 * 3600.0  # long after the first acceptance
    j.replay(mid, now=clock[0])
    record = j.get(mid)
    assert record is not None
    assert not policy.gives_up(record, attempts=1, now=clock[0] + 60)
    assert policy.gives_up(record, attempts=1, now=clock[0] + 3600)
    j.close()


def test_accepts_that_arrive_together_share_one_commit_and_a_conflict_fails_only_its_sender(opener: Opener) -> None:
    from adapter.intake import GroupCommit
    from adapter.journal import Accept

    j = opener()
    _accept(j, "taken", "K", doc=b"<original/>")
    intake = GroupCommit(j)

    async def go() -> list[object]:
        items = [Accept(f"m{i}", f"k{i % 7}", "T", b"<x/>", "application/xml", 1.0) for i in range(100)]
        items.insert(50, Accept("taken", "K", "T", b"<changed/>", "application/xml", 1.0))
        return await asyncio.gather(*(intake.accept(i) for i in items), return_exceptions=True)

    results = asyncio.run(go())
    assert isinstance(results[50], Conflict)
    accepted = [r for r in results if not isinstance(r, BaseException)]
    assert len(accepted) == 100 and all(created for _, created in accepted)  # type: ignore[misc]
    assert intake.batches < 10  # one flush for many senders
    # Within a key, the order of acceptance is the order of arrival.
    assert [r.message_id for r in j.list(key="k3")] == [f"m{i}" for i in range(100) if i % 7 == 3]


def test_an_operators_suspension_flags_are_kept_ended_and_withdrawn(opener: Opener) -> None:
    j = opener()
    first = j.suspend("episode:A", date(2026, 3, 12), None, "no home nursing capacity", now=10.0)
    other = j.suspend("episode:B", date(2026, 3, 1), date(2026, 3, 2), "vårdcentralen closed", now=11.0)
    assert first.last_day is None and first.days == (date(2026, 3, 12), date.max)
    ended = j.end_suspension(first.id, date(2026, 3, 14), now=12.0)
    assert ended.days == (date(2026, 3, 12), date(2026, 3, 15))  # the last day is suspended too
    assert ended.set_at == 10.0 and ended.updated_at == 12.0
    with pytest.raises(ValueError, match="before the first day"):
        j.end_suspension(first.id, date(2026, 3, 11), now=13.0)
    with pytest.raises(ValueError, match="before the first day"):
        j.suspend("episode:A", date(2026, 3, 12), date(2026, 3, 11), "typo", now=13.0)
    j.close()
    j = opener()  # kept across restarts
    assert [s.id for s in j.suspensions()] == [first.id, other.id]
    assert j.suspensions("episode:A") == [ended]
    assert j.remove_suspension(other.id).key == "episode:B"
    assert j.suspensions("episode:B") == []
    with pytest.raises(KeyError):
        j.remove_suspension(other.id)
    with pytest.raises(KeyError):
        j.end_suspension(other.id, None, now=14.0)


def test_an_invoiced_month_is_stored_once_as_it_was_and_audited(opener: Opener) -> None:
    j = opener()
    basis = {"lines": [{"episode": "A:1", "dates": ["2026-03-13"], "amount": 9000}], "corrections": [], "corrects": []}
    j.mark_invoiced(Invoice("1380", "2026-03", 100.0, "olle", 7, basis))
    j.mark_invoiced(Invoice("1380", "2026-02", 101.0, "olle", 8, {"lines": []}))
    j.mark_invoiced(Invoice("1381", "2026-03", 102.0, "ada", 9, {"lines": []}))
    with pytest.raises(Conflict):
        j.mark_invoiced(Invoice("1380", "2026-03", 103.0, "ada", 10, {"lines": []}))
    assert [(i.month, i.marked_by, i.through_seq) for i in j.invoices("1380")] == [("2026-02", "olle", 8), ("2026-03", "olle", 7)]
    assert j.invoices("1380")[1].basis == basis
    marks = [(e.actor, e.detail) for e in j.audit_log() if e.action == "invoice-marked"]
    assert sorted(marks) == [("ada", "1381 2026-03"), ("olle", "1380 2026-02"), ("olle", "1380 2026-03")]


def test_report_rows_shown_are_audited_once_per_patient_of_each_key(opener: Opener) -> None:
    # The access log of a report (issue 16, item 15): one entry per patient of each row's key.
    j = opener()
    rows = [("m1", "episode:A", "anna"), ("m2", "episode:A", "anna"), ("m3", "episode:A", "bo"), ("m4", "episode:B", "cia")]
    j.accept_many([Accept(m, k, "Inskrivningsmeddelande", b"<x/>", "application/xml", 1.0, patient_hash=p) for m, k, p in rows])
    j.accept_many([Accept("m5", "episode:C", "Inskrivningsmeddelande", b"<x/>", "application/xml", 1.0)])  # no patient
    assert j.audit_shown("olle", "read-payment-report", ["episode:A", "episode:C", "episode:A", "episode:Z"], now=2.0) == 2
    assert j.audit_shown("olle", "read-findings", [], now=3.0) == 0
    assert [(e.actor, e.action, e.message_id, e.detail) for e in j.access_log("anna")] == [
        ("olle", "read-payment-report", None, "episode:A")
    ]
    assert [e.detail for e in j.access_log("bo")] == ["episode:A"] and j.access_log("cia") == []
    assert [e.at for e in j.access_log("bo")] == [2.0]


def _size(j: Journal) -> int:
    """What the journal takes on disk: the SQLite file (and its WAL), or PostgreSQL's tables."""
    if isinstance(j, SqliteJournal):
        return sum(os.path.getsize(p) for p in (j.path, j.path + "-wal") if os.path.exists(p))
    with j.tx(write=False) as tx:
        row = tx.one("SELECT pg_total_relation_size('messages') + pg_total_relation_size('attempts')")
    assert row is not None
    return int(row[0])


def _fill(j: Journal, prefix: str, n: int, *, now: float) -> None:
    for i in range(n):
        # Random bytes (base64) do not compress: the size on disk is the size of the documents.
        _accept(j, f"{prefix}{i}", f"k{i}", now=now, doc=b"<x>" + base64.b64encode(os.urandom(15_000)) + b"</x>")
    for record in j.claim("w", now=now, lease=60, limit=n):
        j.attempt(record.message_id, status=200, latency_ms=5, error=None, outcome={"resourceType": "Bundle"}, now=now)
        j.delivered(record.message_id, ["Communication/1"], now=now)


def test_retention_prunes_bodies_keeps_what_operators_search_and_frees_the_space(opener: Opener) -> None:
    j = opener()
    _fill(j, "old", 150, now=10)
    _accept(j, "waiting", "k-open", now=10, doc=b"<x>still to go</x>")
    full = _size(j)
    assert j.prune_bodies(before=100, now=200) == 150
    assert j.prune_bodies(before=100, now=300) == 0  # once
    (record,) = j.search(Query(message_id="old7"))
    assert (record.state, record.document, record.pruned_at, record.server_ids) == ("delivered", b"", 200, ["Communication/1"])
    assert len(j.search(Query(state="delivered", limit=500))) == 150  # still searchable
    assert [a.outcome for a in j.attempts("old7")] == [None] and j.attempts("old7")[0].status == 200
    assert j.bundle("old7") is None
    waiting = j.get("waiting")
    assert waiting is not None and waiting.document == b"<x>still to go</x>"  # only delivered bodies go
    j.vacuum()
    if isinstance(j, SqliteJournal):
        assert _size(j) < full / 4, f"{_size(j)} bytes after VACUUM, {full} before"
    # As much again fits in the space freed: without pruning the journal would double.
    _fill(j, "new", 150, now=400)
    assert _size(j) < full * 1.5, f"{_size(j)} bytes after refilling, {full} before pruning"


def test_journal_tail_follows_changes_as_they_happen(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    j = SqliteJournal(path)
    _accept(j, "before", "k1", now=time.time())
    env = {**os.environ, "SAMVERKAN_JOURNAL_PATH": str(path), "COLUMNS": "200"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapter.cli", "journal", "tail", "--follow", "--interval", "0.1"],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "before" in first and "accepted" in first
        _accept(j, "after", "k2", now=time.time() + 1)
        j.claim("w", now=time.time() + 2, lease=60, limit=5)
        j.dead_letter("after", "SAMV-4100: HTTP 422 from the FHIR server", now=time.time() + 3)
        # Each look shows what changed since the last one; read until the dead letter shows.
        # (A thread reads: select() on a buffered pipe misses lines already in Python's buffer.)
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
        seen, deadline = [], time.monotonic() + 30
        while not any("dead-lettered" in line for line in seen):
            assert time.monotonic() < deadline, f"tail showed only {seen}"
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=1))
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close() if proc.stdout else None
        j.close()
    text = "".join(seen)
    assert "after" in text and "dead-lettered" in text and "HTTP 422" in text


def test_outbound_deliveries_are_journaled_with_the_message_claimed_in_order_and_held_by_a_failure(opener: Opener) -> None:
    j = opener()

    def fhir_in(mid: str, key: str, now: float) -> None:
        accepted = j.accept_many(
            [Accept(mid, key, "T", f"<{mid}/>".encode(), "application/xml", now, outbound=("directory", "http"))]
        )
        assert isinstance(accepted[0], tuple)

    fhir_in("a1", "A", 1)
    fhir_in("a2", "A", 2)
    fhir_in("b1", "B", 3)
    _accept(j, "internal", "C", now=4)  # came from the internal systems: nothing to send back
    first = j.outbound_claim("w", now=10, lease=60, limit=10)
    # One per key and channel: a2 waits for a1 on each channel.
    assert sorted((o.message_id, o.channel) for o in first) == [
        ("a1", "directory"),
        ("a1", "http"),
        ("b1", "directory"),
        ("b1", "http"),
    ]
    assert {o.document for o in first if o.message_id == "a1"} == {b"<a1/>"}
    assert j.outbound_claim("other", now=11, lease=60, limit=10) == []  # claimed
    j.outbound_done("a1", "directory", now=12)
    j.outbound_failed("a1", "http", "HTTP 400 from the endpoint", now=12)
    j.outbound_retry("b1", "http", 100, "HTTP 503", now=12)
    j.outbound_done("b1", "directory", now=12)
    assert [(o.message_id, o.channel) for o in j.outbound_claim("w", now=20, lease=60, limit=10)] == [("a2", "directory")]
    assert j.outbound_claim("w", now=20, lease=60, limit=10) == []  # a1's failure holds a2 on http; b1 not due
    assert [o.as_json()["state"] for o in j.outbound("a1")] == ["done", "failed"]
    assert j.outbound_replay("a1", now=40) == 1
    (again,) = j.outbound_claim("w", now=41, lease=60, limit=10)[:1]
    assert (again.message_id, again.channel, again.attempts) == ("a1", "http", 0)
    # A delivery not yet done keeps its message, and its document, through pruning.
    for record in j.claim("w", now=50, lease=60, limit=10):
        j.delivered(record.message_id, [], now=50)
    assert j.prune_bodies(before=1000, now=60) == 1 and j.get("internal").pruned_at == 60
    assert j.get("b1").document == b"<b1/>"
    assert j.prune(before=1000) == 1 and j.get("internal") is None
    assert j.get("a1") is not None and j.get("b1") is not None


def test_the_latest_consent_an_episode_stated_is_the_one_that_counts(opener: Opener) -> None:
    j = opener()

    def accept(mid: str, key: str, consent: bool | None, now: float) -> None:
        j.accept_many([Accept(mid, key, "T", f"<{mid}/>".encode(), "application/xml", now, information_transfer=consent)])

    assert j.information_transfer("E") is None
    accept("m1", "E", True, 1.0)
    accept("m2", "E", None, 2.0)  # states nothing: the earlier consent stands
    assert j.information_transfer("E") is True
    accept("m3", "E", False, 3.0)
    accept("m4", "E", None, 4.0)
    accept("other", "F", True, 5.0)  # another episode's consent is not this one's
    assert j.information_transfer("E") is False
    j.cancel("m3", now=6.0)  # an operator's cancel withdraws what the message said
    assert j.information_transfer("E") is True
    assert opener().information_transfer("E") is True  # kept, as every journal fact
