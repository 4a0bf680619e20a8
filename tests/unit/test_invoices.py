"""A municipality's invoice basis per month: frozen once invoiced, later changes as correction rows
in the next open month naming their message (docs/domain.md, "Invoices are frozen").

The episode (Halmstad, kommunkod 1380; 9,000 SEK a day configured for 2026): Utskrivningsklar sent
10 March for 10 March, so payable from the 13th; discharged 5 April. March is 13-31 March, 19 days;
April is 1-4 April, 4 days. The expected figures are counted from those dates by hand.
"""

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
from adapter.invoices import MarkRefused, basis, freeze
from adapter.journal import Accept, Conflict, Journal, open_journal
from adapter.reports import Episodes
from adapter.rules.deadlines import STOCKHOLM
from adapter.rules.payment import PaymentRules
from mappings.keys import order_key
from mappings.model import Message
from tests.support import JOURNEYS, load, offline_settings

J = JOURNEYS[0]
RULES = {"13": PaymentRules(daily_amount={2026: 9_000})}
runner = CliRunner()


def at(mo: int, d: int, h: int = 10) -> datetime:
    return datetime(2026, mo, d, h, tzinfo=STOCKHOLM)


def _ready(sent: datetime, day: date) -> Message:
    m = load(J / "10-Utskrivningsklar.xml")
    return replace(m, id=str(uuid.uuid4()), sent=sent, body=replace(m.body, discharge_ready=day))


def _withdrawn(sent: datetime, day: date) -> Message:
    m = load(J / "11-AtertagUtskrivningsklar.xml")
    return replace(m, id=str(uuid.uuid4()), sent=sent, body=replace(m.body, withdrawal=day))


def _discharged(when: datetime) -> Message:
    m = load(J / "14-Utskrivningsmeddelande.xml")
    return replace(m, id=str(uuid.uuid4()), sent=when, body=replace(m.body, discharged=when))


def _accept(journal: Journal, *messages: Message) -> None:
    # The patient as intake names it: by a keyed hash (here a stand-in), which the access log carries.
    journal.accept_many(
        [
            Accept(m.id, order_key(m), m.type.value, codec.encode_xml(m), "application/xml", 0, patient_hash="patient-1")
            for m in messages
        ]
    )


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = open_journal(Settings(journal_path=str(tmp_path / "journal.sqlite3"), journal_url=None))
    _accept(j, _ready(at(3, 10), date(2026, 3, 10)), _discharged(at(4, 5)))
    return j


def _basis(journal: Journal, month: str, today: date = date(2026, 4, 20)) -> dict:  # type: ignore[type-arg]
    found, _ = basis(Episodes.read(journal), journal.invoices("1380"), RULES, kommunkod="1380", month=month, today=today)
    return found.as_json()


def _mark(journal: Journal, month: str, today: date = date(2026, 4, 20)) -> None:
    invoice = freeze(
        Episodes.read(journal), journal.invoices("1380"), RULES, kommunkod="1380", month=month, today=today, actor="op", now=1.0
    )
    journal.mark_invoiced(invoice)


def test_a_months_basis_lists_each_episodes_days_in_it(journal: Journal) -> None:
    march, april = _basis(journal, "2026-03"), _basis(journal, "2026-04")
    [line] = march["lines"]
    assert (line["days"], line["amount"], line["dates"][0], line["dates"][-1]) == (19, 171_000, "2026-03-13", "2026-03-31")
    assert april["lines"][0]["dates"] == ["2026-04-01", "2026-04-02", "2026-04-03", "2026-04-04"]
    assert march["total"] == {"pricedDays": 19, "amount": 171_000, "unpricedDays": 0, "unpricedRows": 0}
    assert _basis(journal, "2026-05")["lines"] == []


def test_an_invoiced_month_never_changes_and_late_messages_correct_it_in_the_next_open_month(journal: Journal) -> None:
    _mark(journal, "2026-03")
    invoiced = _basis(journal, "2026-03")
    # Late: a withdrawal dated 20 March (March loses 20-31: 12 days), then a new Utskrivningsklar
    # sent 25 March for the 25th (payable again from the 28th: 28-31 March, 4 days).
    late_withdrawal, late_ready = _withdrawn(at(3, 20), date(2026, 3, 20)), _ready(at(3, 25), date(2026, 3, 25))
    _accept(journal, late_withdrawal, late_ready)
    assert _basis(journal, "2026-03") == invoiced
    april = _basis(journal, "2026-04")
    assert april["corrects"] == ["2026-03"]
    assert [(c["corrects"], c["days"], c["amount"], c["messageId"], c["messageType"]) for c in april["corrections"]] == [
        ("2026-03", -12, -108_000, late_withdrawal.id, "AtertagUtskrivningsklar"),
        ("2026-03", 4, 36_000, late_ready.id, "Utskrivningsklar"),
    ]
    assert april["corrections"][1]["added"] == ["2026-03-28", "2026-03-29", "2026-03-30", "2026-03-31"]
    # April's own days (1-4 April) stay, and the total carries the corrections: (4 - 12 + 4) days.
    assert april["total"] == {"pricedDays": -4, "amount": -36_000, "unpricedDays": 0, "unpricedRows": 0}

    # Once April is invoiced too, its corrections are billed: May gets only what comes after.
    _mark(journal, "2026-04", today=date(2026, 5, 2))
    assert _basis(journal, "2026-05", today=date(2026, 5, 2))["corrections"] == []
    again = _withdrawn(at(3, 29), date(2026, 3, 29))  # takes back 29-31 March and 1-4 April
    _accept(journal, again)
    may = _basis(journal, "2026-05", today=date(2026, 5, 2))
    assert sorted((c["corrects"], c["days"], c["messageId"]) for c in may["corrections"]) == [
        ("2026-03", -3, again.id),
        ("2026-04", -4, again.id),
    ]


def test_months_are_marked_once_in_order_and_only_when_they_have_ended(journal: Journal) -> None:
    with pytest.raises(MarkRefused, match="has not ended"):
        _mark(journal, "2026-04", today=date(2026, 4, 30))
    _mark(journal, "2026-04", today=date(2026, 5, 1))
    with pytest.raises(MarkRefused, match="in order"):
        _mark(journal, "2026-03", today=date(2026, 5, 1))
    with pytest.raises(Conflict):
        _mark(journal, "2026-04", today=date(2026, 5, 1))
    assert [(e.actor, e.action, e.detail) for e in journal.audit_log() if e.action == "invoice-marked"] == [
        ("op", "invoice-marked", "1380 2026-04")
    ]


def test_invoices_over_http_and_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    j = open_journal(Settings(journal_path=str(path), journal_url=None))
    _accept(j, _ready(at(3, 10), date(2026, 3, 10)), _discharged(at(4, 5)))
    j.close()
    payment = tmp_path / "payment.json"
    payment.write_text(json.dumps({"13": {"daily_amount": {"2026": 9000}}}))
    settings = offline_settings(path, payment_file=str(payment), password_cost=14)
    episode = order_key(_ready(at(3, 10), date(2026, 3, 10)))
    with TestClient(create_app(settings)) as client:
        got = client.get("/reports/invoice", params={"kommun": "1380", "month": "2026-03"})
        assert got.status_code == 200, got.text
        assert got.json()["total"]["amount"] == 171_000 and got.json()["invoiced"] is None
        marked = client.post("/reports/invoice/1380/2026-03/invoiced")
        assert marked.status_code == 201, marked.text
        assert marked.json()["invoiced"]["markedBy"]
        assert client.post("/reports/invoice/1380/2026-03/invoiced").status_code == 409
        future = client.post("/reports/invoice/1380/2099-01/invoiced")
        assert future.status_code == 422 and "has not ended" in future.json()["issue"][0]["diagnostics"]
        # Every read names the episode's patient in the access log.
        reads = [e for e in client.get("/audit", params={"limit": 100}).json() if e["action"] == "read-invoice"]
        assert [(e["action"], e["detail"]) for e in reads] == [("read-invoice", episode)] * 2
        bad = client.get("/reports/invoice", params={"kommun": "1380", "month": "2026-13"})
        assert bad.status_code == 400 and bad.json()["issue"][0]["expression"] == ["month"]
        # The last month of year 9999 has no next month to correct into: refused, not a 500.
        far = client.get("/reports/invoice", params={"kommun": "1380", "month": "9999-12"})
        assert far.status_code == 400 and far.json()["issue"][0]["expression"] == ["month"]
    env = {"SAMVERKAN_JOURNAL_PATH": str(path), "SAMVERKAN_PAYMENT_FILE": str(payment)}
    shown = runner.invoke(app, ["report", "invoice", "--municipality", "1380", "--month", "2026-03"], env=env)
    assert shown.exit_code == 0, shown.output
    assert "invoiced" in shown.output and "171 000 SEK" in shown.output
    as_json = runner.invoke(
        app, ["report", "invoice", "--municipality", "1380", "--month", "2026-04", "--format", "json"], env=env
    )
    assert json.loads(as_json.output)["total"]["amount"] == 36_000
