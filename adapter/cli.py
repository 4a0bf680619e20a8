"""The ``samverkan`` command.

samverkan relay FILE... [--server URL]   relay internal messages, print what they became
samverkan serve [--host H] [--port P]    run the HTTP API on uvicorn
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from mappings.errors import SamverkanError

from .codec import Limits, decode
from .config import Settings
from .fhir_client import FhirClient
from .logs import logging_config, setup_logging
from .redact import redact
from .relay import RelayResult, relay_message

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
    limits = Limits(max_bytes=settings.max_document_bytes, max_depth=settings.max_depth)
    results: list[tuple[Path, RelayResult | SamverkanError]] = []
    async with FhirClient(settings.fhir_base_url, timeout=settings.fhir_timeout) as fhir:
        for path in paths:
            try:
                message = decode(path.read_bytes(), _content_type(path), limits=limits)
                results.append((path, await relay_message(message, fhir)))
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


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
    port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
) -> None:
    """Run the HTTP API (POST /messages, GET /health) on uvicorn."""
    import uvicorn

    from .api import create_app

    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=host or settings.host,
        port=port or settings.port,
        log_config=logging_config(settings.log_level),
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
