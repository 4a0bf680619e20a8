"""`samverkan journal tail [--follow]`: the journal's latest changes in the terminal, as they happen."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from adapter.config import Settings
from adapter.journal import Query, Record, State, open_journal

out = Console(highlight=False)

_STYLE = {
    State.DELIVERED: "green",
    State.DEAD_LETTERED: "bold red",
    State.HELD: "yellow",
    State.RETRYING: "yellow",
    State.CANCELLED: "dim",
}


def _line(r: Record) -> Text:
    at = datetime.fromtimestamp(r.updated_at, UTC).astimezone().strftime("%H:%M:%S")
    text = Text(f"{at} ")
    text.append(f"{r.state:<13}", style=_STYLE.get(r.state, "cyan"))
    text.append(f" {r.message_type:<28} {r.message_id}  attempts {r.attempts}")
    if r.last_error and r.state != State.DELIVERED:
        text.append(f"  {r.last_error}", style="dim")  # errors are masked when journaled
    return text


def tail(
    lines: Annotated[int, typer.Option("--lines", "-n", help="how many of the latest changes to show first")] = 20,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep showing changes as they happen (Ctrl-C stops)")] = False,
    interval: Annotated[float, typer.Option(help="seconds between looks when following")] = 1.0,
) -> None:
    """The latest changes of the journal's messages: accepted, relaying, delivered, dead-lettered..."""
    journal = open_journal(Settings())
    try:
        latest = sorted(journal.search(Query(limit=lines)), key=lambda r: (r.updated_at, r.seq))
        for r in latest:
            out.print(_line(r))
        out.file.flush()  # a pipe (| grep, a log shipper) sees each change as it happens
        # Changes are read by time of change; a message seen at this time is not shown twice.
        since = max((r.updated_at for r in latest), default=0.0)
        shown = {(r.message_id, r.updated_at) for r in latest}
        while follow:
            time.sleep(interval)
            for r in journal.changes(since):
                if (r.message_id, r.updated_at) not in shown:
                    out.print(_line(r))
                    shown.add((r.message_id, r.updated_at))
                since = max(since, r.updated_at)
            out.file.flush()
            shown = {s for s in shown if s[1] >= since}
    except KeyboardInterrupt:
        pass
    finally:
        journal.close()
