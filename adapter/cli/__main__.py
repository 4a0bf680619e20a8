"""``python -m adapter.cli``: the ``samverkan`` command."""

from .main import main

main()
