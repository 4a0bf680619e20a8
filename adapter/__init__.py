"""samverkan's adapter: everything with I/O (HTTP API, CLI, FHIR client, codec, config).

The public surface is the app factory and the CLI; both are imported on first use, so that
``import adapter.codec.internal`` does not pull in the web stack.
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "main"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from adapter.http import create_app

        return create_app
    if name == "main":
        from adapter.cli import main

        return main
    raise AttributeError(name)
