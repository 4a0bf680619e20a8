"""`samverkan report ...`: findings, overdue acknowledgements, payment responsibility, Halland."""

from __future__ import annotations

import csv
import getpass
import json
import sys
import time
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adapter.config import Settings
from adapter.invoices import MarkRefused, basis, freeze, month_days
from adapter.journal import Conflict, open_journal
from adapter.observability import redact
from adapter.reports import PAYMENT_COLUMNS, Episodes, PaymentTotal, load_payment_rules, load_units, payment_rows
from adapter.rules import halland
from adapter.rules.deadlines import STOCKHOLM

report_app = typer.Typer(help="reports: findings, overdue acknowledgements, payment responsibility", no_args_is_help=True)
out = Console()


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _at(value: str | None) -> datetime:
    """``--at``: an ISO time (Stockholm when it has no offset); now by default."""
    if value is None:
        return datetime.now(STOCKHOLM)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=STOCKHOLM)


def _episodes(key: str | None = None) -> Episodes:
    journal = open_journal(Settings())
    try:
        return Episodes.read(journal, key=key)
    finally:
        journal.close()


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: Format, title: str) -> None:
    if fmt is Format.JSON:
        print(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt is Format.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table(title=title)
        for c in columns:
            table.add_column(c, overflow="fold")
        for row in rows:
            table.add_row(*("" if row.get(c) is None else redact(str(row[c])) for c in columns))
        if not out.is_terminal:
            out.width = max(out.width, 160)
        out.print(table)


_FINDING_COLUMNS = ["rule", "key", "subject", "severity", "raised", "due", "cleared", "detail"]


@report_app.command("findings")
def report_findings(
    key: Annotated[str | None, typer.Option(help="only this key (episode:<issuer>:<id>, referral:..., sip:...)")] = None,
    open_only: Annotated[bool, typer.Option("--open", help="only findings not yet cleared")] = False,
    at: Annotated[str | None, typer.Option(help="evaluate as of this time (ISO 8601); default now")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE,
) -> None:
    """What the rules of the discharge process say about every key in the journal."""
    now = _at(at)
    found = _episodes(key).findings(now, kommun_of=load_units(Settings().units_file))
    rows = [f.as_json() for f in found if f.open or not open_only]
    _emit(rows, _FINDING_COLUMNS, fmt, f"Findings as of {now.isoformat(timespec='minutes')}: {len(rows)}")


@report_app.command("overdue")
def report_overdue(
    at: Annotated[str | None, typer.Option(help="evaluate as of this time (ISO 8601); default now")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE,
) -> None:
    """Acknowledgements (Kvittens) not received by their due time. Exits 1 when there are any."""
    now = _at(at)
    rows = [f.as_json() for f in _episodes().findings(now) if f.rule == "kvittens" and f.overdue(now)]
    _emit(rows, _FINDING_COLUMNS, fmt, f"Overdue acknowledgements as of {now.isoformat(timespec='minutes')}: {len(rows)}")
    raise typer.Exit(1 if rows else 0)


@report_app.command("payment")
def report_payment(
    region: Annotated[str, typer.Option(help="county code of the municipalities (first two digits of kommunkod, e.g. 13)")],
    start: Annotated[str, typer.Option("--from", help="first day (YYYY-MM-DD)")],
    end: Annotated[str, typer.Option("--to", help="last day (YYYY-MM-DD), included")],
    kommun: Annotated[str | None, typer.Option(help="only this municipality (kommunkod)")] = None,
    fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE,
) -> None:
    """The municipalities' payment responsibility per episode: payable days and amount (rules 5-7, 14)."""
    settings = Settings()
    today = datetime.now(STOCKHOLM).date()
    rows = payment_rows(
        _episodes(),
        load_payment_rules(settings.payment_file),
        region=region,
        start=date.fromisoformat(start),
        end=date.fromisoformat(end),
        today=today,
        kommun=kommun,
    )
    total = PaymentTotal.of(rows)
    if fmt is Format.JSON:  # the rows and the headline's figures, as GET /reports/payment gives them
        print(json.dumps({"rows": [r.as_json() for r in rows], "total": total.as_json()}, ensure_ascii=False, indent=2))
        return
    title = f"Payment responsibility, region {region}, {start}..{end}: {total.headline()}"
    _emit([r.as_json() for r in rows], PAYMENT_COLUMNS, fmt, title)


@report_app.command("invoice")
def report_invoice(
    municipality: Annotated[str, typer.Option(help="the municipality's kommunkod, e.g. 1380")],
    month: Annotated[str, typer.Option(help="the month, YYYY-MM")],
    mark_invoiced: Annotated[
        bool, typer.Option("--mark-invoiced", help="freeze the month (it must have ended); audited under your login")
    ] = False,
    fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE,
) -> None:
    """A municipality's invoice basis for a month: each episode's payable days and amount, and the
    corrections of invoiced months; frozen once marked invoiced."""
    try:
        month_days(month)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--month") from None
    settings = Settings()
    today = datetime.now(STOCKHOLM).date()
    rules = load_payment_rules(settings.payment_file)
    journal = open_journal(settings)
    try:
        episodes = Episodes.read(journal)
        if mark_invoiced:
            actor = f"cli:{getpass.getuser()}"
            try:
                frozen = freeze(
                    episodes, journal.invoices(municipality), rules, kommunkod=municipality, month=month, today=today,
                    actor=actor, now=time.time(),
                )  # fmt: skip
                journal.mark_invoiced(frozen)
            except (MarkRefused, Conflict) as exc:
                out.print(f"[red]not marked:[/red] {exc}")
                raise typer.Exit(1) from None
        found, invoice = basis(episodes, journal.invoices(municipality), rules, kommunkod=municipality, month=month, today=today)
    finally:
        journal.close()
    data = {**found.as_json(), "invoiced": invoice.as_json() if invoice else None}
    if fmt is Format.JSON:
        print(json.dumps(data, ensure_ascii=False, indent=2))
        return
    rows = [{**x, "corrects": "", "messageId": ""} for x in data["lines"]] + data["corrections"]
    t = data["total"]
    status = f"invoiced {invoice.as_json()['markedAt'][:10]} by {invoice.marked_by}" if invoice else "open"
    title = f"Invoice basis {municipality} {month} ({status}): {t['amount']:,} SEK for {t['pricedDays']} days".replace(
        ",", " "
    ) + (f"; {t['unpricedDays']} days in {t['unpricedRows']} rows unpriced" if t["unpricedDays"] else "")
    _emit(rows, ["episode", "corrects", "days", "pricedDays", "amount", "unpricedDays", "messageId", "note"], fmt, title)


@report_app.command("halland")
def report_halland(fmt: Annotated[Format, typer.Option("--format")] = Format.TABLE) -> None:
    """Halland's transitional model 2018-01-01..2018-10-31: each municipality's monthly amount (rule 14)."""
    r = halland.monthly()
    rows: list[dict[str, Any]] = [
        {"municipality": name, "invoiced_2017": halland.INVOICED_2017[name], "monthly": amount} for name, amount in r.rows.items()
    ]
    rows.append({"municipality": "sum of the rows", "invoiced_2017": r.invoiced_total, "monthly": r.row_sum})
    rows.append({"municipality": "total (1/12 of the invoiced total)", "invoiced_2017": r.invoiced_total, "monthly": r.total})
    _emit(rows, ["municipality", "invoiced_2017", "monthly"], fmt, "Halland's transitional model, monthly amounts (SEK)")
