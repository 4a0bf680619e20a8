"""`samverkan user ...`: the operators' local accounts in ``SAMVERKAN_USERS_FILE`` (``adapter.security.accounts``).

    samverkan user add anna --role operator --role reveal      asks for the password twice
    echo "$PW" | samverkan user add robot --role auditor --password-stdin
    samverkan user list
    samverkan user remove anna

``add`` on an existing name sets a new password and roles. A running ``serve`` reads the file
again when it changes: a removed account is locked out at its next request.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from adapter.config import Settings
from adapter.security import Accounts, Role

__all__ = ["user_app"]

user_app = typer.Typer(
    help="operators' accounts for the console and the operator routes (SAMVERKAN_USERS_FILE)", no_args_is_help=True
)
out = Console()
err = Console(stderr=True)

_MIN_PASSWORD = 12


def _accounts() -> Accounts:
    settings = Settings()
    if settings.users_file is None:
        err.print("set SAMVERKAN_USERS_FILE to the accounts file first (it is made if missing)", highlight=False)
        raise typer.Exit(2)
    return Accounts.load(settings.users_file, cost=settings.password_cost)


@user_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="login name")],
    roles: Annotated[
        list[Role], typer.Option("--role", help="operator (acts), auditor (reads, with the audit), reveal (unmasks); repeatable")
    ],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from the first line of stdin")
    ] = False,
) -> None:
    """Add an account, or set a new password and roles for an existing one."""
    if not name or ":" in name or name != name.strip():
        # HTTP Basic splits at the first colon.
        err.print("a name has no colon and no surrounding spaces", highlight=False)
        raise typer.Exit(2)
    accounts = _accounts()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    if len(password) < _MIN_PASSWORD:
        err.print(f"the password must have at least {_MIN_PASSWORD} characters", highlight=False)
        raise typer.Exit(2)
    existed = name in accounts.entries
    accounts.add(name, password, frozenset(roles))
    accounts.save()
    shown = ", ".join(sorted(set(roles)))
    out.print(f"{'updated' if existed else 'added'} {name} ({shown}) in {accounts.path}", highlight=False)


@user_app.command("list")
def listed() -> None:
    """Every account and its roles (never a password)."""
    accounts = _accounts()
    table = Table(title=f"Accounts in {accounts.path}")
    table.add_column("name")
    table.add_column("roles")
    for name, (_, roles) in sorted(accounts.entries.items()):
        table.add_row(name, ", ".join(sorted(roles)))
    out.print(table)


@user_app.command("remove")
def remove(name: Annotated[str, typer.Argument(help="login name")]) -> None:
    """Remove an account: a running serve locks it out at its next request."""
    accounts = _accounts()
    if accounts.entries.pop(name, None) is None:
        err.print(f"no account {name} in {accounts.path}", highlight=False)
        raise typer.Exit(1)
    accounts.save()
    out.print(f"removed {name} from {accounts.path}", highlight=False)
