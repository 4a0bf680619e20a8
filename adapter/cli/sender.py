"""`samverkan sender ...`: senders' API keys in ``SAMVERKAN_SENDERS_FILE`` (``adapter.security.senders``).

    samverkan sender add halmstad-med1 --hsa-id SE2321000131-E000000000011    prints the key once
    samverkan sender list
    samverkan sender remove halmstad-med1

``add`` on an existing name makes a new key (the old one stops working) and sets its HSA-ids.
A running ``serve`` reads the file again when it changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapter.config import Settings
from adapter.security.senders import SenderKeys, key_digest, new_api_key
from mappings.identifiers import is_valid_hsa_id

__all__ = ["sender_app"]

sender_app = typer.Typer(help="senders' API keys and the HSA-ids each may send as (SAMVERKAN_SENDERS_FILE)", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _keys() -> SenderKeys:
    path = Settings().senders_file
    if path is None:
        err.print("set SAMVERKAN_SENDERS_FILE to the senders file first (it is made if missing)", highlight=False)
        raise typer.Exit(2)
    return SenderKeys(Path(path))


@sender_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="the sender's name, as the audit log will show it")],
    hsa_ids: Annotated[list[str], typer.Option("--hsa-id", help="an HSA-id the sender may send as; repeatable")],
) -> None:
    """Add a sender (or give an existing one a new key) and print its API key, once."""
    bad = [h for h in hsa_ids if not is_valid_hsa_id(h)]
    if bad:
        err.print(f"not an HSA-id: {', '.join(bad)}", highlight=False)
        raise typer.Exit(2)
    keys = _keys()
    key = new_api_key()
    existed = name in keys.entries
    keys.entries[name] = (key_digest(key), frozenset(hsa_ids))
    keys.save()
    err.print(f"{'new key for' if existed else 'added'} {name} in {keys.path}; the key is shown only now:", highlight=False)
    out.print(key, highlight=False, soft_wrap=True)


@sender_app.command("list")
def listed() -> None:
    """Every sender and the HSA-ids it may send as (never a key)."""
    keys = _keys()
    table = Table(title=f"Senders in {keys.path}")
    table.add_column("name")
    table.add_column("may send as")
    for name, (_, hsa_ids) in sorted(keys.entries.items()):
        table.add_row(name, ", ".join(sorted(hsa_ids)))
    out.print(table)


@sender_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="the sender's name")]) -> None:
    """Remove a sender: its key is refused from its next request."""
    keys = _keys()
    if keys.entries.pop(name, None) is None:
        err.print(f"no sender {name} in {keys.path}", highlight=False)
        raise typer.Exit(1)
    keys.save()
    out.print(f"removed {name} from {keys.path}", highlight=False)
