"""`samverkan suspension ...`: the operators' flag that the region's outpatient services are not
available, which keeps those days of an episode out of the municipality's payment (docs/domain.md
rule 5). The same as ``/suspensions`` over HTTP."""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapter.config import Settings
from adapter.journal import Journal, Suspension, open_journal

suspension_app = typer.Typer(
    help="flag days on which the region's outpatient services were not available (no payment for them)", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

_DAY = ["%Y-%m-%d"]


#: Who the audit log names for a change made here: the account that ran the command.
_ACTOR = f"cli:{getpass.getuser()}"


@contextmanager
def _journal() -> Iterator[Journal]:
    journal = open_journal(Settings())
    try:
        yield journal
    finally:
        journal.close()


def _show(flag: Suspension, verb: str) -> None:
    last = flag.last_day.isoformat() if flag.last_day else "until further notice"
    out.print(f"suspension {flag.id} {verb}: {flag.key}, {flag.first_day} to {last} ({flag.reason})", highlight=False)


def _fail(text: str) -> typer.Exit:
    err.print(text, highlight=False)
    return typer.Exit(2)


@suspension_app.command("add")
def add(
    key: Annotated[str, typer.Argument(help="the episode's key, episode:<issuer>:<id> (see `samverkan journal`)")],
    first: Annotated[datetime, typer.Option("--from", help="first day not available (YYYY-MM-DD)", formats=_DAY)],
    reason: Annotated[str, typer.Option(help="why, for whoever reads the payment report")],
    last: Annotated[
        datetime | None, typer.Option("--to", help="last day not available; leave out while it lasts", formats=_DAY)
    ] = None,
) -> None:
    """Flag an episode's days on which the region's outpatient services were not available."""
    if not key.startswith("episode:"):
        raise _fail(f"{key}: only a care episode (episode:...) has a payment clock to suspend")
    with _journal() as journal:
        if not journal.list(key=key, limit=1):
            raise _fail(f"{key}: no messages of this episode in {journal.where}")
        try:
            flag = journal.suspend(key, first.date(), last.date() if last else None, reason, now=time.time())
            flag.audited(journal, _ACTOR, "suspension-add", now=time.time())
        except ValueError as exc:
            raise _fail(str(exc)) from None
    _show(flag, "set")


@suspension_app.command("end")
def end(
    suspension_id: Annotated[int, typer.Argument(help="the flag's id (see `samverkan suspension list`)")],
    last: Annotated[datetime, typer.Option("--on", help="the last day not available (YYYY-MM-DD)", formats=_DAY)],
) -> None:
    """Set the last day of a flag once the services are available again."""
    with _journal() as journal:
        try:
            flag = journal.end_suspension(suspension_id, last.date(), now=time.time())
            flag.audited(journal, _ACTOR, "suspension-end", now=time.time())
        except KeyError:
            raise _fail(f"no suspension {suspension_id}") from None
        except ValueError as exc:
            raise _fail(str(exc)) from None
    _show(flag, "ended")


@suspension_app.command("remove")
def remove(suspension_id: Annotated[int, typer.Argument(help="the flag's id")]) -> None:
    """Withdraw a flag set by mistake (its days become payable again)."""
    with _journal() as journal:
        try:
            flag = journal.remove_suspension(suspension_id).audited(journal, _ACTOR, "suspension-remove", now=time.time())
        except KeyError:
            raise _fail(f"no suspension {suspension_id}") from None
    _show(flag, "removed")


@suspension_app.command("list")
def listed(
    key: Annotated[str | None, typer.Option(help="only this episode's flags")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Every flag, oldest first."""
    with _journal() as journal:
        flags = journal.suspensions(key)
    if as_json:
        print(json.dumps([f.as_json() for f in flags], ensure_ascii=False, indent=2))
        return
    table = Table(title="Outpatient services not available")
    for column in ("id", "episode", "from", "to", "reason", "set"):
        table.add_column(column, overflow="fold")
    for f in flags:
        shown = f.as_json()
        table.add_row(str(f.id), f.key, shown["from"], shown["to"] or "-", f.reason, shown["setAt"][:19])
    out.print(table)
