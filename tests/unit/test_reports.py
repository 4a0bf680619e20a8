"""Reports over a real journal (SQLite): payment responsibility, overdue acknowledgements, findings,
Halland's model and a journey's timeline, from the CLI and over HTTP."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from adapter import codec
from adapter.cli import app
from adapter.config import Settings
from adapter.http import create_app
from adapter.journal import Journal, open_journal
from adapter.reports import Episodes, payment_rows, timeline
from adapter.rules.deadlines import STOCKHOLM
from adapter.rules.payment import PaymentRules
from mappings.keys import order_key
from mappings.model import CareType, Message
from tests.support import JOURNEYS, load

J = JOURNEYS[0]
runner = CliRunner()


def at(y: int, mo: int, d: int, h: int = 10) -> datetime:
    return datetime(y, mo, d, h, tzinfo=STOCKHOLM)


def _episode() -> list[Message]:
    """Admission, discharge-ready, its withdrawal, a new date (D = 2026-03-17, so payable from the
    20th) and, here, a discharge on the 25th: 20th-24th, five payable days."""
    steps = [
        "03-Inskrivningsmeddelande",
        "04-Kvittens",
        "10-Utskrivningsklar",
        "11-AtertagUtskrivningsklar",
        "12-Utskrivningsklar",
    ]
    messages = [load(J / f"{s}.xml") for s in steps]
    discharge = load(J / "14-Utskrivningsmeddelande.xml")
    discharge = replace(discharge, sent=at(2026, 3, 25, 12), body=replace(discharge.body, discharged=at(2026, 3, 25, 11)))
    return [*messages, discharge]


def _journal(path: Path, messages: list[Message]) -> Journal:
    journal = open_journal(Settings(journal_path=str(path), journal_url=None))
    first = messages[0]
    for i, m in enumerate(messages):
        key = order_key(first) if m.care_episode is None else order_key(m)
        journal.accept(
            m.id, key=key, message_type=m.type.value, document=codec.encode_xml(m), content_type="application/xml", now=i
        )
    return journal


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    path = tmp_path / "journal.sqlite3"
    _journal(path, _episode()).close()
    return path


def test_payable_days_and_amount_of_an_episode_with_a_withdrawal(journal_path: Path) -> None:
    journal = open_journal(Settings(journal_path=str(journal_path), journal_url=None))
    episodes = Episodes.read(journal)
    journal.close()
    rules = {"13": PaymentRules(daily_amount={2026: 9_000})}
    (row,) = payment_rows(episodes, rules, region="13", start=date(2026, 3, 1), end=date(2026, 3, 31), today=date(2026, 4, 1))
    assert (row.notified, row.start, row.end, row.price.days, row.price.amount) == (
        date(2026, 3, 17),
        date(2026, 3, 20),
        date(2026, 3, 25),
        5,
        45_000,
    )
    # Only the days inside the report's range.
    (part,) = payment_rows(episodes, rules, region="13", start=date(2026, 3, 22), end=date(2026, 3, 31), today=date(2026, 4, 1))
    assert part.price.days == 3
    # 2026 has no amount in the law's defaults: reported, never guessed.
    (unpriced,) = payment_rows(
        episodes, {"*": PaymentRules()}, region="13", start=date(2026, 3, 1), end=date(2026, 3, 31), today=date(2026, 4, 1)
    )
    assert (unpriced.price.days, unpriced.price.amount, unpriced.price.unpriced_days) == (0, 0, 5)
    assert unpriced.note == "5 days unpriced: no daily amount configured for 2026"
    assert (
        payment_rows(
            episodes, rules, region="13", start=date(2026, 3, 1), end=date(2026, 3, 31), today=date(2026, 4, 1), kommun="1381"
        )
        == []
    )
    assert payment_rows(episodes, rules, region="14", start=date(2026, 3, 1), end=date(2026, 3, 31), today=date(2026, 4, 1)) == []


def test_halland_covers_its_own_units_episodes_until_october_2018_and_prices_the_later_days(tmp_path: Path) -> None:
    """DOMAIN.md: the flat model covers days up to 2018-10-31 of episodes at Region Halland's own units
    of Halland residents; the episode's later days are priced per day; elsewhere every day is."""
    klar, ut = load(J / "10-Utskrivningsklar.xml"), load(J / "14-Utskrivningsmeddelande.xml")
    klar = replace(klar, sent=at(2018, 10, 25), body=replace(klar.body, discharge_ready=date(2018, 10, 25)))
    ut = replace(ut, sent=at(2018, 11, 5, 12), body=replace(ut.body, discharged=at(2018, 11, 5, 11)))
    journal = _journal(tmp_path / "j.sqlite3", [klar, ut])
    episodes = Episodes.read(journal)
    journal.close()
    assert klar.care_episode is not None and klar.care_episode.issuer == "SE2321000131-E000000000011"
    window = {"region": "13", "start": date(2018, 1, 1), "end": date(2018, 12, 31), "today": date(2019, 1, 1)}
    own = {"13": PaymentRules(flat_model_units=frozenset({"SE2321000131-E000000000011"}))}
    (row,) = payment_rows(episodes, own, **window)  # type: ignore[arg-type]
    # Payable 28 October to 4 November: 28-31 October covered, 1-4 November at 7,100 SEK.
    assert (row.price.days, row.price.amount) == (4, 28_400)
    assert row.note == "4 days covered by Halland's flat model"
    elsewhere = {"13": PaymentRules(flat_model_units=frozenset({"SE2321000131-E000000000999"}))}
    (row,) = payment_rows(episodes, elsewhere, **window)  # type: ignore[arg-type]
    assert (row.price.days, row.price.amount, row.note) == (8, 56_800, "")


def test_cli_payment_report_as_csv(journal_path: Path, tmp_path: Path) -> None:
    rules = tmp_path / "payment.json"
    rules.write_text(json.dumps({"13": {"daily_amount": {"2026": 9000}}}))
    env = {"SAMVERKAN_JOURNAL_PATH": str(journal_path), "SAMVERKAN_PAYMENT_FILE": str(rules)}
    result = runner.invoke(
        app, ["report", "payment", "--region", "13", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "csv"], env=env
    )
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "episode,kommunkod,notified,start,end,days,pricedDays,amount,unpricedDays,note"
    assert lines[1].endswith(",1380,2026-03-17,2026-03-20,2026-03-25,5,5,45000,0,")


def _in_episode(m: Message, episode: str, care: CareType | None = None) -> Message:
    assert m.care_episode is not None
    return replace(m, id=str(uuid.uuid4()), care_episode=replace(m.care_episode, id=episode, care=care or m.care_episode.care))


def test_cli_payment_report_reads_each_case_and_states_the_unpriced_part(tmp_path: Path) -> None:
    """Issue 17: a re-sent Utskrivningsklar, a withdrawal with a past date, a December-2018
    psychiatric episode running into 2019, which has no daily amount (the law's defaults)."""
    klar, atertag, ut = (
        load(J / f"{s}.xml") for s in ("10-Utskrivningsklar", "11-AtertagUtskrivningsklar", "14-Utskrivningsmeddelande")
    )

    def ready(episode: str, sent: datetime, day: date, care: CareType | None = None) -> Message:
        return replace(_in_episode(klar, episode, care), sent=sent, body=replace(klar.body, discharge_ready=day))

    def discharged(episode: str, when: datetime) -> Message:
        return replace(_in_episode(ut, episode), sent=when, body=replace(ut.body, discharged=when))

    withdrawn = replace(
        _in_episode(atertag, "B"), sent=at(2018, 3, 20, 8), body=replace(atertag.body, withdrawal=date(2018, 3, 13))
    )
    messages = [
        # A: re-sent with the same date: 4-19 March, 16 days, 113,600 SEK.
        ready("A", at(2018, 3, 1), date(2018, 3, 1)),
        ready("A", at(2018, 3, 8), date(2018, 3, 1)),
        discharged("A", at(2018, 3, 20)),
        # B: withdrawn on the 20th, dated the 13th: 4-12 March, 9 days, 63,900 SEK.
        ready("B", at(2018, 3, 1), date(2018, 3, 1)),
        withdrawn,
        # C: psychiatric, notified 20 December 2018: payable from 1 January 2019 (not D+30), 1-4 January.
        ready("C", at(2018, 12, 20), date(2018, 12, 20), CareType.PSYKIATRISK),
        discharged("C", at(2019, 1, 5)),
    ]
    journal = open_journal(Settings(journal_path=str(tmp_path / "j.sqlite3"), journal_url=None))
    for m in messages:
        document = codec.encode_xml(m)
        journal.accept(
            m.id, key=order_key(m), message_type=m.type.value, document=document, content_type="application/xml", now=0
        )
    journal.close()
    env = {"SAMVERKAN_JOURNAL_PATH": str(tmp_path / "j.sqlite3")}
    query = ["report", "payment", "--region", "13", "--from", "2018-01-01", "--to", "2019-12-31"]
    table = runner.invoke(app, query, env=env)
    assert table.exit_code == 0, table.output
    assert "177 500 SEK for 25 days; 4 days in 1 row unpriced (no daily amount configured)" in " ".join(table.output.split())
    data = json.loads(runner.invoke(app, [*query, "--format", "json"], env=env).output)
    figures = {r["episode"].split(":")[-1]: (r["start"], r["pricedDays"], r["amount"], r["unpricedDays"]) for r in data["rows"]}
    assert figures == {
        "A": ("2018-03-04", 16, 113_600, 0),
        "B": ("2018-03-04", 9, 63_900, 0),
        "C": ("2019-01-01", 0, 0, 4),
    }
    assert data["total"] == {"pricedDays": 25, "amount": 177_500, "unpricedDays": 4, "unpricedRows": 1}


def test_cli_overdue_lists_the_missing_kvittens_and_exits_1(journal_path: Path) -> None:
    env = {"SAMVERKAN_JOURNAL_PATH": str(journal_path)}
    before = runner.invoke(app, ["report", "overdue", "--at", "2026-03-10T12:00", "--format", "json"], env=env)
    assert before.exit_code == 0 and json.loads(before.output) == []
    after = runner.invoke(app, ["report", "overdue", "--at", "2026-03-30T12:00", "--format", "json"], env=env)
    assert after.exit_code == 1
    overdue = json.loads(after.output)
    # The närsjukvård never acknowledged the Inskrivningsmeddelande (the kommun did, 04-Kvittens).
    inskrivning = load(J / "03-Inskrivningsmeddelande.xml")
    assert f"{inskrivning.id} → SE2321000131-E000000000201" in {f["subject"] for f in overdue}
    assert f"{inskrivning.id} → SE2321000131-E000000000101" not in {f["subject"] for f in overdue}


def test_cli_halland_report_reproduces_domain_md_to_the_krona() -> None:
    result = runner.invoke(app, ["report", "halland", "--format", "json"])
    rows = {r["municipality"]: r["monthly"] for r in json.loads(result.output)}
    assert rows == {
        "Falkenberg": 420,
        "Kungsbacka": 125_134,
        "Varberg": 35_714,
        "Halmstad": 13_025,
        "Laholm": 14_755,
        "Hylte": 0,
        "sum of the rows": 189_048,
        "total (1/12 of the invoiced total)": 189_049,
    }


def test_http_reports_and_the_journey_timeline(journal_path: Path) -> None:
    settings = Settings(journal_path=str(journal_path), journal_url=None, relay_parallel=0, overdue_interval=0)
    key = order_key(_episode()[0])
    with TestClient(create_app(settings)) as client:
        findings = client.get("/reports/findings", params={"at": "2026-03-30T12:00:00+02:00", "open": "true"}).json()
        assert {f["rule"] for f in findings} == {"kvittens"}
        assert client.get("/reports/halland").json()["total"] == 189_049
        payment = client.get("/reports/payment", params={"region": "13", "from": "2026-03-01", "to": "2026-03-31"}).json()
        # No 2026 amount configured: five days, none priced, and the total says so.
        assert [(p["days"], p["pricedDays"], p["amount"], p["unpricedDays"]) for p in payment["rows"]] == [(5, 0, 0, 5)]
        assert payment["total"] == {"pricedDays": 0, "amount": 0, "unpricedDays": 5, "unpricedRows": 1}
        line = client.get(f"/episodes/{key}/timeline", params={"at": "2026-03-30T12:00:00+02:00"}).json()
        assert [m["type"] for m in line["messages"]][:2] == ["Inskrivningsmeddelande", "Kvittens"]
        assert {a["status"] for a in line["acknowledgements"]} == {"received", "overdue"}
        assert [(p["start"], p["end"], p["days"]) for p in line["payment"]] == [
            ("2026-03-16", "2026-03-16", 0),  # withdrawn before it started
            ("2026-03-20", "2026-03-25", 5),
        ]
        missing = client.get("/episodes/episode:nobody/timeline")
        assert missing.status_code == 404 and missing.json()["resourceType"] == "OperationOutcome"


def test_timeline_of_an_unknown_key_is_none() -> None:
    assert timeline(Episodes(), "episode:x", at(2026, 3, 1)) is None


def test_an_operators_flag_keeps_the_days_without_outpatient_services_out_of_payment(journal_path: Path) -> None:
    """Rule 5: the clock does not run while the region's own outpatient services are not available."""
    settings = Settings(journal_path=str(journal_path), journal_url=None, relay_parallel=0, overdue_interval=0)
    key = order_key(_episode()[0])
    query = {"region": "13", "from": "2026-03-01", "to": "2026-03-31"}
    with TestClient(create_app(settings)) as client:
        added = client.post(f"/episodes/{key}/suspensions", json={"from": "2026-03-21", "reason": "hemsjukvården full"})
        assert added.status_code == 201, added.text
        flag = added.json()
        assert added.headers["Location"] == f"/suspensions/{flag['id']}" and flag["to"] is None
        # Open-ended: every day from the 21st is out.
        assert [p["days"] for p in client.get("/reports/payment", params=query).json()["rows"]] == [1]
        ended = client.patch(f"/suspensions/{flag['id']}", json={"to": "2026-03-22"})
        assert ended.status_code == 200 and ended.json()["to"] == "2026-03-22"
        assert [p["days"] for p in client.get("/reports/payment", params=query).json()["rows"]] == [3]  # 20th, 23rd, 24th
        line = client.get(f"/episodes/{key}/timeline", params={"at": "2026-03-30T12:00:00+02:00"}).json()
        assert [p["days"] for p in line["payment"]] == [0, 3]
        assert [(s["from"], s["to"]) for s in line["suspensions"]] == [("2026-03-21", "2026-03-22")]
        assert [s["id"] for s in client.get("/suspensions", params={"key": key}).json()] == [flag["id"]]

        # Refusals name what is wrong, as OperationOutcomes.
        missing = client.post(f"/episodes/{key}/suspensions", json={"reason": "x"})
        assert missing.status_code == 400 and missing.json()["issue"][0]["expression"] == ["body.from"]
        backwards = client.patch(f"/suspensions/{flag['id']}", json={"to": "2026-03-20"})
        assert backwards.status_code == 422 and "before the first day" in backwards.json()["issue"][0]["diagnostics"]
        unknown = client.post("/episodes/episode:nobody:1/suspensions", json={"from": "2026-03-21", "reason": "x"})
        assert unknown.status_code == 404 and unknown.json()["resourceType"] == "OperationOutcome"
        assert client.post("/episodes/referral:x:1/suspensions", json={"from": "2026-03-21", "reason": "x"}).status_code == 422
        assert client.delete("/suspensions/999").status_code == 404

        assert client.delete(f"/suspensions/{flag['id']}").status_code == 200
        assert [p["days"] for p in client.get("/reports/payment", params=query).json()["rows"]] == [5]


def test_cli_sets_ends_lists_and_removes_a_suspension(journal_path: Path) -> None:
    env = {"SAMVERKAN_JOURNAL_PATH": str(journal_path)}
    key = order_key(_episode()[0])
    rules = ["report", "payment", "--region", "13", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "json"]

    def days() -> list[int]:
        result = runner.invoke(app, rules, env=env)
        assert result.exit_code == 0, result.output
        return [r["days"] for r in json.loads(result.output)["rows"]]

    added = runner.invoke(app, ["suspension", "add", key, "--from", "2026-03-23", "--reason", "vårdcentralen stängd"], env=env)
    assert added.exit_code == 0, added.output
    assert "suspension 1 set" in added.output and "until further notice" in added.output
    assert days() == [3]
    ended = runner.invoke(app, ["suspension", "end", "1", "--on", "2026-03-23"], env=env)
    assert ended.exit_code == 0 and "2026-03-23 to 2026-03-23" in ended.output
    assert days() == [4]
    listed = json.loads(runner.invoke(app, ["suspension", "list", "--json"], env=env).output)
    assert [(s["key"], s["from"], s["to"], s["reason"]) for s in listed] == [
        (key, "2026-03-23", "2026-03-23", "vårdcentralen stängd")
    ]
    wrong = runner.invoke(app, ["suspension", "add", "episode:nobody:1", "--from", "2026-03-23", "--reason", "x"], env=env)
    assert wrong.exit_code == 2 and "no messages of this episode" in wrong.output
    assert runner.invoke(app, ["suspension", "end", "1", "--on", "2026-03-01"], env=env).exit_code == 2
    assert runner.invoke(app, ["suspension", "remove", "1"], env=env).exit_code == 0
    assert days() == [5]
    assert runner.invoke(app, ["suspension", "remove", "1"], env=env).exit_code == 2
