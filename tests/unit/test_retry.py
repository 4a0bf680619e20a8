"""One rule for trying again (``adapter.fhir.retry``), held by every caller.

The FHIR client, the token fetch and the outbound HTTP channel meet the same answers and must make
the same decision: retryable or final. Their servers here are ``httpx.MockTransport`` functions:
a real HAPI cannot answer 408, 425 or a Retry-After on demand. The relay's reading of a 409 that
stays (retryable, after reading the server again) and the in-process retries (tenacity) of the
commands are here too.
"""

from __future__ import annotations

import asyncio
import json
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapter.config import RetryPolicy
from adapter.fhir import FhirClient, Final, Retryable, TokenRefused, classify, compute_backoff, profiles, retrying
from adapter.fhir.auth import TOKEN_ATTEMPTS, ClientCredentials
from adapter.fhir.retry import IN_PROCESS_CAP, next_delay, parse_retry_after
from adapter.journal import Accept
from adapter.journal.sqlite import SqliteJournal
from adapter.relay import relay_message
from adapter.relay.outbound import HTTP, OutboundWorker
from tests.support import INSKRIVNING, load, unique

OUTCOME = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing"}]}
#: Stands for an HTTP-date 120 s ahead, written when the answer is made (the test may run later).
IN_120_S = "<an HTTP-date 120 s ahead>"


@dataclass(frozen=True)
class Case:
    """One answer of a server, and the decision every caller must make of it."""

    name: str
    status: int | None  # None: the connection fails
    verdict: str  # "retryable" or "final"
    headers: dict[str, str] = field(default_factory=dict)
    retry_after: float | None = None  # what the callers must read from the Retry-After

    def answer(self, request: httpx.Request) -> httpx.Response:
        if self.status is None:
            raise httpx.ConnectError("connection refused", request=request)
        headers = {k: formatdate(time.time() + 120, usegmt=True) if v == IN_120_S else v for k, v in self.headers.items()}
        return httpx.Response(self.status, headers=headers, json=OUTCOME)


CASES = [
    Case("400", 400, "final"),
    Case("408", 408, "retryable"),
    Case("409", 409, "final"),  # a conflict, for a plain request; the relay reads it again (below)
    Case("425", 425, "retryable"),
    Case("429", 429, "retryable"),
    Case("500", 500, "retryable"),
    Case("502", 502, "retryable"),
    Case("503", 503, "retryable"),
    Case("504", 504, "retryable"),
    Case("network error", None, "retryable"),
    Case("429 Retry-After 2", 429, "retryable", {"Retry-After": "2"}, 2.0),
    Case("503 Retry-After an HTTP-date", 503, "retryable", {"Retry-After": IN_120_S}, 120.0),
]


def _near(seen: float | None, wanted: float | None) -> bool:
    """The same Retry-After (an HTTP-date has whole seconds, and the clock moves on)."""
    return seen == wanted if wanted is None or seen is None else abs(seen - wanted) <= 2


async def _fhir_client(case: Case, tmp_path: Path) -> str:
    """(a) The FHIR client raises Retryable or Final; it never retries by itself."""
    requests: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return case.answer(request)

    async with FhirClient("http://fhir.test/fhir", transport=httpx.MockTransport(server)) as fhir:
        try:
            await fhir.capabilities()
        except Retryable as exc:
            assert exc.status == case.status and _near(exc.retry_after, case.retry_after)
            return "retryable"
        except Final as exc:
            assert exc.status == case.status and exc.outcome == OUTCOME
            return "final"
        finally:
            assert len(requests) == 1
    raise AssertionError("no error")


async def _token_fetch(case: Case, tmp_path: Path) -> str:
    """(b) The token fetch tries a retryable failure again, a few times, as Retry-After asks, and
    gives up at once when the server asks for longer than a request may wait; a final answer is a
    refusal of the credentials (TokenRefused), never tried again."""
    requests: list[httpx.Request] = []
    waits: list[float] = []

    def idp(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return case.answer(request)

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    auth = ClientCredentials(
        "https://idp.test/token", "samverkan", "secret", transport=httpx.MockTransport(idp), sleep=sleep, rng=random.Random(1)
    )
    try:
        await auth.token()
    except TokenRefused:
        assert len(requests) == 1 and waits == []
        return "final"
    except Retryable as exc:
        assert exc.status is None and _near(exc.retry_after, case.retry_after)
        waited_for = case.retry_after is None or case.retry_after <= IN_PROCESS_CAP
        assert len(requests) == (TOKEN_ATTEMPTS if waited_for else 1) and len(waits) == len(requests) - 1
        assert all(w >= (case.retry_after or 0.0) for w in waits)
        return "retryable"
    raise AssertionError("no error")


async def _outbound(case: Case, tmp_path: Path) -> str:
    """(c) The outbound HTTP channel schedules a retry (the journal row: retrying, due after the
    backoff or the Retry-After) or fails the delivery for good."""
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    journal.accept_many([Accept("m1", "k1", "T", b"<m1/>", "application/xml", 1000.0, outbound=(HTTP,))])
    worker = OutboundWorker(
        journal,
        directory=None,
        url="http://internal.test/in",
        transport=httpx.MockTransport(case.answer),
        clock=lambda: 1000.0,
        policy=RetryPolicy(base=1, cap=10),
    )
    try:
        assert await worker.run_once() == 1
        [row] = journal.outbound("m1")
        assert row.attempts == 1
        if row.state == "failed":
            assert str(case.status) in (row.last_error or "")
            return "final"
        assert row.state == "retrying"
        # Due after the first backoff (0.5 to 1 s), or after what Retry-After asked.
        earliest, latest = (0.49, 1.0) if case.retry_after is None else (case.retry_after - 1.5, case.retry_after + 0.5)
        assert journal.outbound_claim("probe", now=1000.0 + earliest, lease=60, limit=1) == []
        assert len(journal.outbound_claim("probe", now=1000.0 + latest, lease=60, limit=1)) == 1
        return "retryable"
    finally:
        await worker.aclose()
        journal.close()


CALLERS: dict[str, Callable[[Case, Path], Awaitable[str]]] = {
    "fhir client": _fhir_client,
    "token fetch": _token_fetch,
    "outbound http": _outbound,
}


@pytest.mark.parametrize("caller", sorted(CALLERS))
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_caller_makes_the_same_decision(case: Case, caller: str, tmp_path: Path) -> None:
    assert asyncio.run(CALLERS[caller](case, tmp_path)) == case.verdict
    if case.status is not None:
        assert classify(case.status, {}).verdict == case.verdict  # and it is the one rule's


def test_a_409_that_stays_is_retryable_for_the_relay() -> None:
    # Given a server that answers every transaction with 409 (HAPI's answer to the loser of two
    # identical conditional creates at once), when a message is relayed...
    posts: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(200, json={"resourceType": "Bundle", "type": "searchset", "entry": []})
        posts.append(request)
        return httpx.Response(409, json=OUTCOME)

    async def go() -> None:
        async with FhirClient("http://fhir.test/fhir", transport=httpx.MockTransport(server)) as fhir:
            await relay_message(unique(load(INSKRIVNING)), fhir, recorded=datetime.now(UTC))

    # ...then it reads the server again, and, the conflict staying, leaves it to a later attempt.
    with pytest.raises(Retryable) as caught:
        asyncio.run(go())
    assert caught.value.status == 409 and len(posts) >= 1


def test_the_outbound_worker_stops_at_the_time_limit_as_the_relay_does(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    journal.accept_many(
        [Accept(m, m, "T", b"<x/>", "application/xml", t, outbound=(HTTP,)) for m, t in (("old", 0), ("new", 7000))]
    )
    policy = RetryPolicy(max_attempts=100, max_age=3600, base=1, cap=10)
    worker = OutboundWorker(
        journal,
        directory=None,
        url="http://internal.test/in",
        transport=httpx.MockTransport(lambda r: httpx.Response(503)),
        clock=lambda: 7200.0,
        policy=policy,
    )

    async def go() -> None:
        try:
            assert await worker.run_once() == 2
        finally:
            await worker.aclose()

    asyncio.run(go())
    # Accepted two hours ago with a limit of one: given up on after one attempt; the other retries.
    [old], [new] = journal.outbound("old"), journal.outbound("new")
    assert (old.state, new.state) == ("failed", "retrying")
    assert (old.last_error or "").startswith("gave up after 1 attempts: SAMV-4001")
    journal.close()


# -- classify ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "verdict", "overload"),
    [
        (200, "success", False),
        (201, "success", False),
        (204, "success", False),
        (301, "retryable", False),  # not understood: capped, never lost
        (400, "final", False),
        (401, "final", False),
        (404, "final", False),
        (408, "retryable", False),
        (409, "final", False),
        (412, "final", False),
        (422, "final", False),
        (425, "retryable", False),
        (429, "retryable", True),
        (500, "retryable", False),
        (501, "retryable", False),
        (502, "retryable", False),
        (503, "retryable", True),
        (504, "retryable", False),
    ],
)
def test_classify_decides_each_status(status: int, verdict: str, overload: bool) -> None:
    decision = classify(status, {})
    assert (decision.verdict, decision.overload, decision.retry_after) == (verdict, overload, None)
    assert [decision.success, decision.retryable, decision.final].count(True) == 1


NOW = 784111777.0  # Sun, 06 Nov 1994 08:49:37 GMT, RFC 9110's example


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Sun, 06 Nov 1994 08:51:37 GMT", 120.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:51:37 GMT", 120.0),  # obsolete RFC 850
        ("Sun Nov  6 08:51:37 1994", 120.0),  # obsolete asctime, no zone: GMT
        ("Sun, 06 Nov 1994 08:00:00 GMT", 0.0),  # in the past: now, never negative
        ("-5", None),
        ("soon", None),
        ("", None),
        ("inf", None),
        ("nan", None),
        ("1e3", None),
        ("１２", None),  # digits, but not ASCII ones
        (None, None),
    ],
)
def test_retry_after_is_read_in_both_forms_never_negative(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=NOW) == seconds
    headers = {} if value is None else {"RETRY-AFTER": value}  # any case of the name
    assert classify(503, headers, now=NOW).retry_after == seconds
    if value is None or value.isascii():  # what httpx can carry
        assert classify(503, httpx.Headers(headers), now=NOW).retry_after == seconds


# -- compute_backoff -----------------------------------------------------------------------------


def test_backoff_doubles_within_jitter_and_stops_at_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 40):
        ceiling = min(60.0, 0.5 * 2 ** (attempt - 1))
        assert ceiling / 2 <= compute_backoff(attempt, base=0.5, cap=60.0, rng=rng) <= ceiling
    assert compute_backoff(10_000, base=1.0, cap=300.0, rng=rng) <= 300.0  # no overflow, however many


def test_backoff_is_jittered_and_pure() -> None:
    draws = [compute_backoff(3, base=1.0, cap=60.0, rng=random.Random(seed)) for seed in range(50)]
    assert len(set(draws)) == 50  # clients that failed together do not come back together
    state = random.getstate()
    again = [compute_backoff(3, base=1.0, cap=60.0, rng=random.Random(seed)) for seed in range(50)]
    assert again == draws and random.getstate() == state  # the same seed, the same waits; nothing global drawn


def test_a_durable_retry_waits_for_the_backoff_or_the_retry_after_whichever_is_longer() -> None:
    policy = RetryPolicy(base=1, cap=10)
    assert 0.5 <= next_delay(policy, 1, None, rng=random.Random(0)) <= 1.0
    assert next_delay(policy, 1, 42.0, rng=random.Random(0)) == 42.0
    assert next_delay(policy, 20, 0.0, rng=random.Random(0)) <= 10.0


# -- retries inside one process (tenacity) -------------------------------------------------------


class _Flaky:
    """Raises the given errors in turn, then answers "done"."""

    def __init__(self, *errors: Exception):
        self.errors, self.calls = list(errors), 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "done"


def _retrying(waits: list[float], **options: Any) -> Any:
    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    return retrying(RetryPolicy(base=1, cap=300), sleep=sleep, rng=random.Random(0), **options)


def test_in_process_retries_try_again_what_may_pass_within_their_attempts() -> None:
    waits: list[float] = []
    flaky = _Flaky(Retryable("503", status=503), Retryable("timeout"))
    assert asyncio.run(_retrying(waits)(flaky)) == "done" and flaky.calls == 3
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2
    always = _Flaky(*[Retryable("503", status=503)] * 5)
    with pytest.raises(Retryable):
        asyncio.run(_retrying([])(always))
    assert always.calls == 3


@pytest.mark.parametrize("error", [Final("400", status=400), TokenRefused("invalid_client"), ValueError("a bug")])
def test_in_process_retries_leave_what_cannot_pass(error: Exception) -> None:
    flaky = _Flaky(error)
    with pytest.raises(type(error)):
        asyncio.run(_retrying([])(flaky))
    assert flaky.calls == 1


def test_in_process_retries_honour_retry_after_but_never_wait_longer_than_their_cap() -> None:
    waits: list[float] = []
    flaky = _Flaky(Retryable("429", status=429, retry_after=5))
    assert asyncio.run(_retrying(waits)(flaky)) == "done" and waits == [5]
    patient = _Flaky(Retryable("429", status=429, retry_after=IN_PROCESS_CAP + 1))
    with pytest.raises(Retryable) as caught:
        asyncio.run(_retrying([])(patient))
    assert patient.calls == 1 and caught.value.retry_after == IN_PROCESS_CAP + 1  # for the durable retry to honour


def test_in_process_retries_begin_none_once_their_time_is_used_up() -> None:
    # A token request that hung until its timeout is not sent again: the request waiting for it would hang twice.
    flaky = _Flaky(Retryable("timed out", overload=True))
    with pytest.raises(Retryable):
        asyncio.run(_retrying([], within=0.0)(flaky))
    assert flaky.calls == 1


def test_profiles_install_sends_a_resource_again_after_a_503() -> None:
    puts: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/$snapshot"):  # the definition back, as if with its snapshot
            return httpx.Response(200, json=json.loads(request.content)["parameter"][0]["resource"])
        puts.append(request.url.path)
        return httpx.Response(503 if len(puts) == 1 else 200, json={})

    async def no_wait(seconds: float) -> None:
        pass

    async def go() -> dict[str, int]:
        async with FhirClient("http://fhir.test/fhir", transport=httpx.MockTransport(server)) as fhir:
            return (await profiles.install(fhir, sleep=no_wait)).counts

    counts = asyncio.run(go())
    assert sum(counts.values()) == len(profiles.package()) == len(puts) - 1 and puts[0] == puts[1]


@pytest.fixture
def flaky_fhir() -> Iterator[tuple[str, list[str]]]:
    """A FHIR server on a local port: no state resources yet, the first transaction 503, then 201s."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/fhir+json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self._send(200, b'{"resourceType": "Bundle", "type": "searchset", "entry": []}')

        def do_POST(self) -> None:
            bundle = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            seen.append("POST")
            if len(seen) == 1:
                self._send(503, b"{}")
                return
            entries = [
                {"response": {"status": "201 Created", "location": f"{e['resource']['resourceType']}/{i}/_history/1"}}
                for i, e in enumerate(bundle["entry"])
            ]
            self._send(200, json.dumps({"resourceType": "Bundle", "type": "transaction-response", "entry": entries}).encode())

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/fhir", seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_relay_command_tries_a_503_again_while_the_operator_waits(
    flaky_fhir: tuple[str, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from adapter.cli import app

    url, seen = flaky_fhir
    monkeypatch.setenv("SAMVERKAN_RETRY_BASE", "0.01")  # the policy's backoff, short for the test
    result = CliRunner().invoke(app, ["relay", "--json", "--server", url, str(INSKRIVNING)])
    assert result.exit_code == 0, result.output
    assert seen == ["POST", "POST"] and '"201 Created"' in result.output
