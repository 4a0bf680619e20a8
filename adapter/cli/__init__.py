"""The ``samverkan`` command: one module per command group, joined in :mod:`.main`."""

from .main import app, main

__all__ = ["app", "main"]
