"""docs/configuration.md lists every setting as adapter/config.py declares it (scripts/config_docs.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from adapter.config import Settings
from tests.support import ROOT


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("config_docs", ROOT / "scripts" / "config_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_table_is_what_the_code_says() -> None:
    # Given the page as committed and the table generated from Settings now
    generator = _generator()
    page = generator.PAGE.read_text(encoding="utf-8")
    # Then regenerating it changes nothing
    assert generator.render(page) == page, "docs/configuration.md is stale: run .venv/bin/python scripts/config_docs.py"


def test_every_setting_has_a_row_and_a_description() -> None:
    table = _generator().table()
    for name, field in Settings.model_fields.items():
        assert f"| `SAMVERKAN_{name.upper()}` |" in table, name
        assert field.description, f"Settings.{name} has no description for the docs"


def test_the_check_command_fails_on_a_stale_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    generator = _generator()
    stale = tmp_path / "configuration.md"
    page = generator.PAGE.read_text(encoding="utf-8")
    stale.write_text(page.replace("| `SAMVERKAN_PORT` |", "| `SAMVERKAN_PORTS` |"), encoding="utf-8")
    monkeypatch.setattr(generator, "PAGE", stale)
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0
    assert stale.read_text(encoding="utf-8") == page
