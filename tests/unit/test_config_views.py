"""The views of the settings (``adapter.config``): each default written once, on the setting.

``Limits`` and ``RetryPolicy`` are built from settings by ``of``; their own defaults must be the
settings' defaults, and a setting an operator changes must reach them.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapter import codec, relay
from adapter.config import Limits, RetryPolicy, Settings
from tests.support import INSKRIVNING

#: setting -> (view, the view's field)
VIEWED = {
    "max_document_bytes": (Limits, "max_bytes"),
    "max_depth": (Limits, "max_depth"),
    "max_elements": (Limits, "max_elements"),
    "max_fhir_depth": (Limits, "max_fhir_depth"),
    "max_attempts": (RetryPolicy, "max_attempts"),
    "max_age": (RetryPolicy, "max_age"),
    "retry_base": (RetryPolicy, "base"),
    "retry_cap": (RetryPolicy, "cap"),
}


@pytest.fixture
def plain(monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The settings' defaults: no samverkan.env, no SAMVERKAN_* of the environment for these fields."""
    for name in VIEWED:
        monkeypatch.delenv(f"SAMVERKAN_{name.upper()}", raising=False)
    return Settings(_env_file=None)  # type: ignore[call-arg]


def test_the_views_defaults_are_the_settings_defaults(plain: Settings) -> None:
    assert Limits() == Limits.of(plain)
    assert RetryPolicy() == RetryPolicy.of(plain)
    assert codec.DEFAULT_LIMITS == Limits()


@pytest.mark.parametrize("setting", VIEWED)
def test_a_changed_setting_reaches_its_view(setting: str, monkeypatch: pytest.MonkeyPatch, plain: Settings) -> None:
    view, field = VIEWED[setting]
    changed = getattr(plain, setting) * 3
    assert getattr(view.of(Settings(_env_file=None, **{setting: changed})), field) == changed  # type: ignore[call-arg]
    monkeypatch.setenv(f"SAMVERKAN_{setting.upper()}", str(changed))
    assert getattr(view.of(Settings(_env_file=None)), field) == changed  # type: ignore[call-arg]


def test_the_views_have_one_home() -> None:
    # One way of building each: the codec and the relay use config's views and offer none of their own.
    assert not hasattr(codec, "Limits") and not hasattr(relay, "RetryPolicy")


def test_the_relay_command_keeps_every_limit_the_settings_set(monkeypatch: pytest.MonkeyPatch) -> None:
    # SAMVERKAN_MAX_ELEMENTS used to be left out of the command's limits; the document is refused
    # before anything is sent (the server named does not exist).
    from adapter.cli import app

    monkeypatch.setenv("SAMVERKAN_MAX_ELEMENTS", "5")
    result = CliRunner().invoke(app, ["relay", str(INSKRIVNING), "--server", "http://127.0.0.1:9/fhir", "--json"])
    assert result.exit_code == 1 and "SAMV-1006" in result.output, result.output
    assert Path(INSKRIVNING).name in result.output
