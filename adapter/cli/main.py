"""The ``samverkan`` command.

samverkan relay FILE... [--server URL]     relay internal messages, print what they became
samverkan validate FILE... [--server URL]  validate what the files are or become, locally and by $validate
samverkan profiles install [--server URL]  put our profiles, code systems and maps on a FHIR server
samverkan profiles docs [--out DIR]        write a Markdown page per profile
samverkan journal [--state S] [--key K]    the journal's messages, oldest first
samverkan journal tail [--follow]          the latest changes, as they happen
samverkan journal show ID                  one message with every relay attempt
samverkan journal prune --older-than DAYS  delete delivered and cancelled messages (or only their bodies)
samverkan replay ID... | --state S         send dead-lettered (or cancelled) messages again
samverkan report findings|overdue|payment|halland   the discharge rules' reports
samverkan suspension add|end|list|remove   days the region's outpatient services were not available
samverkan user add|list|remove             the operators' accounts of the console
samverkan serve [--host H] [--port P]      run the HTTP API, the console and the relay workers on uvicorn
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from adapter.codec import decode
from adapter.config import Limits, RetryPolicy, Settings
from adapter.fhir import FhirClient, RelayError, profiles, retrying
from adapter.journal import Journal
from adapter.observability import logging_config, redact, setup_logging
from adapter.relay import RelayResult, bundle_of, relay_message
from mappings.errors import SamverkanError

from .report import report_app
from .sender import sender_app
from .suspension import suspension_app
from .tail import tail
from .user import user_app

__all__ = ["app", "main"]

# Locals in tracebacks could show a personnummer: never print them.
app = typer.Typer(
    help="samverkan: care-coordination messages to FHIR R4 and back.", no_args_is_help=True, pretty_exceptions_show_locals=False
)
out = Console()
err = Console(stderr=True)


def _content_type(path: Path) -> str:
    return "application/json" if path.suffix.lower() == ".json" else "application/xml"


async def _relay_all(paths: list[Path], settings: Settings) -> list[tuple[Path, RelayResult | SamverkanError]]:
    limits, policy = Limits.of(settings), RetryPolicy.of(settings)
    results: list[tuple[Path, RelayResult | SamverkanError]] = []
    async with FhirClient.from_settings(settings) as fhir:
        for path in paths:
            try:
                message = decode(path.read_bytes(), _content_type(path), limits=limits)
                # No journal: the file is accepted as it is read (a second run keeps the first AuditEvent),
                # and what may pass is tried again a few times while the operator waits.
                relayed: RelayResult = await retrying(policy)(relay_message, message, fhir, recorded=datetime.now(UTC))
                results.append((path, relayed))
            except SamverkanError as exc:
                results.append((path, exc))
    return results


@app.command()
def relay(
    files: Annotated[list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="XML or JSON documents")],
    server: Annotated[str | None, typer.Option(help="FHIR base URL (default: SAMVERKAN_FHIR_BASE_URL or the local HAPI)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the results as JSON lines")] = False,
) -> None:
    """Relay internal messages to the FHIR server and print the resources they became."""
    setup_logging("WARNING")
    settings = Settings() if server is None else Settings(fhir_base_url=server)
    results = asyncio.run(_relay_all(files, settings))
    failures = [(path, r) for path, r in results if isinstance(r, SamverkanError)]
    if as_json:
        for path, result in results:
            if isinstance(result, SamverkanError):
                line = {"file": str(path), "error": result.code, "detail": redact(result.detail), "path": result.path}
            else:
                line = {"file": str(path), **result.as_json()}
            out.print(json.dumps(line, ensure_ascii=False), soft_wrap=True, highlight=False)
    else:
        table = Table(title=f"Relayed to {settings.fhir_base_url}")
        for column in ("file", "message", "type", "resource", "status", "server id"):
            table.add_column(column, overflow="fold")
        for path, result in results:
            if isinstance(result, SamverkanError):
                continue
            for i, entry in enumerate(result.entries):
                first = i == 0
                table.add_row(
                    path.name if first else "",
                    result.message_id[:8] if first else "",
                    result.message_type if first else "",
                    entry.resource_type,
                    entry.status,
                    entry.id or "",
                )
        if len(failures) < len(results):
            if not out.is_terminal:
                out.width = max(out.width, 120)  # a pipe or CI log: don't fold the ids
            out.print(table)
    for path, failure in failures:
        where = f" at {failure.path}" if failure.path else ""
        err.print(f"[red]{path}: {failure.code}[/] {redact(failure.detail)}{where}", highlight=False)
    if failures:
        err.print(f"[red]{len(failures)} of {len(results)} documents were not relayed[/]")
        raise typer.Exit(1)


def _documents(path: Path) -> list[dict[str, Any]]:
    """The FHIR resources a file is (a resource or Bundle) or becomes (an internal message)."""
    raw = path.read_bytes()
    if path.suffix.lower() == ".json":
        doc = json.loads(raw)
        if isinstance(doc, dict) and "resourceType" in doc:
            return list(profiles.resources_in(doc))
    # What the relay would send now, its AuditEvent included.
    return list(profiles.resources_in(bundle_of(decode(raw, _content_type(path)), recorded=datetime.now(UTC))))


async def _validate_all(paths: list[Path], server: str | None) -> list[tuple[Path, str, list[profiles.Issue]]]:
    found: list[tuple[Path, str, list[profiles.Issue]]] = []
    fhir = FhirClient(server) if server else None
    try:
        for path in paths:
            try:
                resources = _documents(path)
            except (SamverkanError, ValueError) as exc:
                where = getattr(exc, "path", None) or "/"
                found.append((path, "(document)", [profiles.Issue("error", where, redact(str(exc)))]))
                continue
            for res in resources:
                issues = profiles.validate_locally(res)
                if fhir is not None:
                    issues += await profiles.validate_on(fhir, res)
                found.append((path, str(res.get("resourceType")), issues))
    finally:
        if fhir is not None:
            await fhir.aclose()
    return found


@app.command()
def validate(
    files: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, readable=True, help="internal messages, or FHIR JSON")
    ],
    server: Annotated[str | None, typer.Option(help="also run this FHIR server's $validate against our profiles")] = None,
    warnings: Annotated[bool, typer.Option(help="print warnings as well as errors")] = False,
) -> None:
    """Validate FHIR resources: the files' own, or those an internal message maps to. Exits 1 on errors."""
    setup_logging("WARNING")
    try:
        results = asyncio.run(_validate_all(files, server))
    except RelayError as exc:
        err.print(f"[red]{exc.code}[/] {redact(exc.detail)}", highlight=False)
        raise typer.Exit(2) from None
    table = Table(title="Validation" + (f" (local and {server})" if server else " (local, structure only)"))
    for column in ("file", "resource", "severity", "location", "issue"):
        table.add_column(column, overflow="fold")
    errors = n_warnings = 0
    for path, rtype, issues in results:
        for issue in issues:
            errors += issue.is_error
            n_warnings += issue.severity == "warning"
            if issue.is_error or (warnings and issue.severity == "warning"):
                table.add_row(path.name, rtype, issue.severity, issue.location, redact(issue.message))
    if table.row_count:
        if not out.is_terminal:
            out.width = max(out.width, 160)
        out.print(table)
    out.print(f"{len(results)} resources validated: {errors} errors, {n_warnings} warnings", highlight=False)
    if errors:
        raise typer.Exit(1)


profiles_app = typer.Typer(
    help="Our FHIR package: StructureDefinitions, CodeSystems, ValueSets, ConceptMaps.", no_args_is_help=True
)
app.add_typer(profiles_app, name="profiles")


@profiles_app.command("install")
def profiles_install(
    server: Annotated[str | None, typer.Option(help="FHIR base URL (default: SAMVERKAN_FHIR_BASE_URL or the local HAPI)")] = None,
) -> None:
    """Put the package on a FHIR server, snapshots generated by the server ($snapshot)."""
    setup_logging("WARNING")
    settings = Settings() if server is None else Settings(fhir_base_url=server)

    async def go() -> profiles.InstallResult:
        async with FhirClient.from_settings(settings) as fhir:
            return await profiles.install(fhir, policy=RetryPolicy.of(settings))

    try:
        result = asyncio.run(go())
    except RelayError as exc:
        err.print(f"[red]{exc.code}[/] {redact(exc.detail)}", highlight=False)
        raise typer.Exit(1) from None
    done = ", ".join(f"{n} {t}" for t, n in result.counts.items())
    out.print(f"installed on {settings.fhir_base_url}: {done}", highlight=False)


@profiles_app.command("docs")
def profiles_docs(
    out_dir: Annotated[Path, typer.Option("--out", help="directory for the pages")] = Path("docs/profiles"),
) -> None:
    """Write a Markdown page per profile and extension, from the package's JSON."""
    from .profile_docs import write_pages

    written = write_pages(out_dir)
    out.print(f"wrote {len(written)} pages to {out_dir}", highlight=False)


app.add_typer(report_app, name="report")
app.add_typer(suspension_app, name="suspension")
app.add_typer(user_app, name="user")
app.add_typer(sender_app, name="sender")

journal_app = typer.Typer(help="the journal: list, tail, show, prune", no_args_is_help=False)
app.add_typer(journal_app, name="journal")


def _journal() -> Journal:
    from adapter.journal import open_journal

    return open_journal(Settings())


@journal_app.callback(invoke_without_command=True)
def journal_list(
    ctx: typer.Context,
    state: Annotated[str | None, typer.Option(help="only messages in this state (e.g. dead-lettered, held)")] = None,
    key: Annotated[str | None, typer.Option(help="only messages of this order key (e.g. episode:<issuer>:<id>)")] = None,
    limit: Annotated[int, typer.Option(help="at most this many")] = 100,
) -> None:
    """List the journal, oldest first: state, attempts and last error per message."""
    if ctx.invoked_subcommand is not None:
        return
    journal = _journal()
    try:
        counts = ", ".join(f"{n} {s}" for s, n in sorted(journal.counts().items()))
        table = Table(title=f"Journal {journal.where}: {counts or 'empty'}")
        for column in ("message", "type", "state", "attempts", "updated", "last error"):
            table.add_column(column, overflow="fold")
        for r in journal.list(state=state, key=key, limit=limit):
            table.add_row(
                r.message_id, r.message_type, r.state, str(r.attempts), r.as_json()["updatedAt"][:19], r.last_error or ""
            )
        if not out.is_terminal:
            out.width = max(out.width, 160)
        out.print(table)
    finally:
        journal.close()


journal_app.command("tail")(tail)


@journal_app.command("show")
def journal_show(message_id: Annotated[str, typer.Argument(help="message id")]) -> None:
    """One message as JSON: state, server ids, and every relay attempt with the server's answer."""
    journal = _journal()
    try:
        record = journal.get(message_id)
        if record is None:
            err.print(f"{message_id}: not in the journal")
            raise typer.Exit(1)
        shown = {**record.as_json(), "key": record.key, "attemptLog": [a.as_json() for a in journal.attempts(message_id)]}
        out.print_json(json.dumps(shown))
    finally:
        journal.close()


@journal_app.command("prune")
def journal_prune(
    older_than: Annotated[float, typer.Option(help="days since a delivered or cancelled message last changed")],
    bodies_only: Annotated[
        bool, typer.Option(help="empty only the documents and bundles of delivered messages; keep what, who and when")
    ] = False,
    vacuum: Annotated[
        bool, typer.Option(help="give the freed space back to the file system (locks the journal a while)")
    ] = False,
) -> None:
    """Delete delivered and cancelled messages (and refusals) older than N days. Open messages are never pruned."""
    import time

    journal = _journal()
    try:
        now = time.time()
        if bodies_only:
            pruned = journal.prune_bodies(now - older_than * 86400, now=now)
        else:
            pruned = journal.prune(now - older_than * 86400)
        if vacuum:
            journal.vacuum()
        what = "the bodies of " if bodies_only else ""
        out.print(f"pruned {what}{pruned} messages from {journal.where}", highlight=False)
    finally:
        journal.close()


@app.command()
def replay(
    ids: Annotated[list[str] | None, typer.Argument(help="message ids")] = None,
    state: Annotated[str | None, typer.Option(help="replay every message in this state (dead-lettered or cancelled)")] = None,
) -> None:
    """Send dead-lettered (or cancelled) messages again; the running service's workers relay them."""
    import getpass
    import time

    from rich.progress import Progress

    if not ids and state is None:
        err.print("name message ids or --state")
        raise typer.Exit(2)
    journal = _journal()
    try:
        targets = (
            list(ids or []) + [r.message_id for r in journal.list(state=state, limit=1_000_000)] if state else list(ids or [])
        )
        failed = 0
        with Progress(console=err, transient=True) as progress:
            task = progress.add_task("replaying", total=len(targets))
            for mid in targets:
                try:
                    journal.replay(mid, now=time.time())
                    journal.audit(f"cli:{getpass.getuser()}", "replay", mid, None, now=time.time())
                except (KeyError, ValueError) as exc:
                    failed += 1
                    err.print(f"[red]{mid}[/]: {exc if isinstance(exc, ValueError) else 'not in the journal'}", highlight=False)
                progress.advance(task)
        out.print(f"{len(targets) - failed} of {len(targets)} messages queued again", highlight=False)
    finally:
        journal.close()
    if failed:
        raise typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Run the HTTP API (POST /messages, GET /health) on uvicorn."""
    import uvicorn

    from adapter.http import create_app

    settings = Settings()
    try:
        asgi = create_app(settings)
    except ValueError as exc:  # a setting that cannot work (e.g. token keys without an issuer)
        err.print(f"samverkan serve: {exc}", highlight=False)
        raise typer.Exit(2) from None
    uvicorn.run(
        asgi,
        host=host or settings.host,
        port=port or settings.port,
        log_config=logging_config(settings.log_level, settings.log_format),
        # h11, not httptools: it stops reading a request whose line and headers pass the limit
        # (400), where httptools reads any size into memory (adapter/http/header_limits.py).
        http="h11",
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


def main() -> None:
    app()
