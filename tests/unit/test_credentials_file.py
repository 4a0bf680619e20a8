"""The credentials file behind operators' accounts and senders' keys: saved owner-only and whole,
read again exactly when another writer changed it."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapter.security.credentials_file import CredentialsFile


def _file(path: Path | None) -> CredentialsFile[tuple[str, int]]:
    def parse(entry: Any) -> tuple[str, int]:
        return entry["secret"], entry["n"]

    def dump(entry: tuple[str, int]) -> dict[str, Any]:
        return {"secret": entry[0], "n": entry[1]}

    return CredentialsFile(path, parse=parse, dump=dump)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    # Given a umask that leaves new files readable by everyone,
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def test_a_saved_file_is_owner_only_even_with_a_permissive_umask(tmp_path: Path, permissive_umask: None) -> None:
    path = tmp_path / "creds.json"
    path.write_text("{}")
    path.chmod(0o644)  # and an old file that others could read
    f = _file(path)
    # When entries are saved,
    f.entries["anna"] = ("s3cret", 1)
    f.save()
    # Then only the owner may read the file, and it holds the entries.
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"anna": {"secret": "s3cret", "n": 1}}


def test_a_new_file_is_owner_only_from_its_creation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The file is never written with other rights and then narrowed: every open asks for 0600.
    modes: list[int] = []
    real_open = os.open

    def spying_open(file: Any, flags: int, mode: int = 0o777, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_CREAT:
            modes.append(mode)
        return real_open(file, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spying_open)
    previous = os.umask(0)
    try:
        f = _file(tmp_path / "new.json")
        f.entries["anna"] = ("s3cret", 1)
        f.save()
    finally:
        os.umask(previous)
    assert modes == [0o600]
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o600


def test_a_change_by_another_writer_is_read_and_an_unchanged_file_is_not(tmp_path: Path) -> None:
    path = tmp_path / "creds.json"
    ours, theirs = _file(path), _file(path)
    assert ours.entries == {}
    # Another writer (another process: the CLI beside a running serve) saves,
    theirs.entries["olle"] = ("pw", 2)
    theirs.save()
    ours.refresh()
    assert ours.entries == {"olle": ("pw", 2)}
    # and an editor rewrites the file in place (the same inode).
    path.write_text(path.read_text().replace('"pw"', '"password"'))
    ours.refresh()
    assert ours.entries == {"olle": ("password", 2)}
    # An unchanged file is not read again: what was changed here (not yet saved) stays.
    ours.entries["rut"] = ("x", 3)
    ours.refresh()
    assert set(ours.entries) == {"olle", "rut"}
    # A removed file has no entries.
    path.unlink()
    ours.refresh()
    assert ours.entries == {}


def test_a_save_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    f = _file(tmp_path / "creds.json")
    for n in range(3):
        f.entries[f"name{n}"] = ("s", n)
        f.save()
    assert [p.name for p in tmp_path.iterdir()] == ["creds.json"]
    assert set(_file(tmp_path / "creds.json").entries) == {"name0", "name1", "name2"}


def test_a_save_that_fails_midway_leaves_the_old_file_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "creds.json"
    f = _file(path)
    f.entries["anna"] = ("old", 1)
    f.save()
    before = path.read_bytes()

    def fails(*args: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fails)
    f.entries["anna"] = ("new", 2)
    with pytest.raises(OSError, match="No space left"):
        f.save()
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["creds.json"]


def test_without_a_path_there_are_no_entries_and_nothing_to_save(tmp_path: Path) -> None:
    f = _file(None)
    f.refresh()
    assert f.entries == {}
    with pytest.raises(AssertionError):
        f.save()
