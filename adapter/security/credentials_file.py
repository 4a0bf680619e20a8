"""A JSON file of credentials by name, read again when it changes and saved owner-only, atomically.

    users = CredentialsFile(Path("users.json"), parse=account, dump=account_json)
    users.entries["anna"] = ...     # {name: entry}, as last read (and as changed here until saved)
    users.save()                    # the file now holds exactly ``entries``
    users.refresh()                 # another writer's change is read; an unchanged file is not

Both the operators' accounts (:mod:`.accounts`) and the senders' API keys (:mod:`.senders`) are
such files. A running ``serve`` calls :meth:`~CredentialsFile.refresh` on every request that
needs them, so a removed account or key is out at once; a stat per request is all it costs.

A save writes a new file beside the old one, created readable by its owner only, flushes it to
disk and renames it over the old one: a reader sees the old file or the new one, never half of
one, and the credentials are never readable by others, not even for a moment (as they were with a
write followed by a chmod).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

__all__ = ["CredentialsFile"]

T = TypeVar("T")

#: What tells a changed file: a save by anyone replaces the file (a new inode), and an editor that
#: writes in place changes its time or size.
_Stamp = tuple[int, int, int]


def _stamp(st: os.stat_result) -> _Stamp:
    return st.st_mtime_ns, st.st_size, st.st_ino


class CredentialsFile(Generic[T]):
    """``{name: entry}`` in a JSON object file; ``parse`` and ``dump`` convert one entry.

    Without a path there is no file: no entries, and nothing to save.
    """

    def __init__(self, path: Path | None, *, parse: Callable[[Any], T], dump: Callable[[T], Any]) -> None:
        self.path = path
        self._parse, self._dump = parse, dump
        self.entries: dict[str, T] = {}
        self._stamp: _Stamp | None = None
        self.refresh()

    def _look(self) -> _Stamp | None:
        if self.path is None:
            return None
        try:
            return _stamp(self.path.stat())
        except FileNotFoundError:
            return None

    def refresh(self) -> None:
        """Reads the file again if it changed since it was last read or saved here."""
        stamp = self._look()  # before reading: a change during the read is seen next time, not lost
        if stamp == self._stamp:
            return
        assert self.path is not None
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except FileNotFoundError:
            data = {}
        self.entries = {name: self._parse(entry) for name, entry in data.items()}
        self._stamp = stamp

    def save(self) -> None:
        """Replaces the file with ``entries``: mode 0600, never half-written (see the module's docstring)."""
        assert self.path is not None, "no credentials file is configured"
        text = json.dumps({name: self._dump(e) for name, e in sorted(self.entries.items())}, indent=2) + "\n"
        target = self.path.resolve()  # a symlinked file is written where it points, as before
        temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                os.fchmod(f.fileno(), 0o600)  # exactly 0600, whatever the umask took away
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
                stamp = _stamp(os.fstat(f.fileno()))  # the file's own: another writer's later save is still seen
            os.replace(temporary, target)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        _sync_directory(target.parent)
        self._stamp = stamp


def _sync_directory(directory: Path) -> None:
    """Flushes the rename itself, so that after a power cut the file is the new one, not the old."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
