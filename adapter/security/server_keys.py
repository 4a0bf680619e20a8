"""The adapter's own two keys, kept out of the journal.

    keys = ServerKeys.resolve(settings, journal)
    keys.session     signs the console's session cookies        SAMVERKAN_SESSION_SECRET
    keys.search      keys the patient hashes (searches, keys)   SAMVERKAN_SEARCH_KEY

Each is taken from its setting, else from the secrets file (``SAMVERKAN_SECRETS_FILE``, a JSON
object written owner-only), else made once and written there. The journal holds documents in
clear; anyone who can read it must not also get the keys that forge a session or reverse the
patient hashes, so it keeps only each key's fingerprint (a SHA-256 of it, cut short). Replicas on
one PostgreSQL journal must share the keys: one whose key differs from the fingerprint the first
replica left refuses to start, naming the setting. A journal from before this kept the keys in
its meta table: they are moved to the secrets file (so every hash already made still matches)
and taken out of the journal.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from adapter.config import Settings
from adapter.journal import Journal

from .credentials_file import CredentialsFile

__all__ = ["ServerKeys"]

log = logging.getLogger(__name__)

#: Each key's name (in the secrets file, and in journals that kept it before) and its setting.
_SETTINGS = {"session-key": "SAMVERKAN_SESSION_SECRET", "patient-search-key": "SAMVERKAN_SEARCH_KEY"}


def _fingerprint(key: str) -> str:
    return hashlib.sha256(b"samverkan key fingerprint\0" + key.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class ServerKeys:
    session: str
    search: str

    @classmethod
    def resolve(cls, settings: Settings, journal: Journal) -> ServerKeys:
        """The keys ``settings`` give or the secrets file keeps; ValueError if they are not the
        ones the journal's other replicas use."""
        path = Path(settings.secrets_file)
        _warn_if_open(path)
        given = {"session-key": settings.session_secret, "patient-search-key": settings.search_key}
        kept = _kept(path, {name: journal.take_secret(name) for name in _SETTINGS}, given)
        keys = {name: _checked(name, given[name] or kept[name], journal) for name in _SETTINGS}
        return cls(session=keys["session-key"], search=keys["patient-search-key"])


def _kept(path: Path, older: dict[str, str | None], given: dict[str, str | None]) -> dict[str, str]:
    """The secrets file's keys, with those it lacks made (or taken from an older journal) and saved.

    A new file is created exclusively: of replicas starting at once, the first one's keys win and
    the others read them."""
    file: CredentialsFile[str] = CredentialsFile(path, parse=str, dump=str)
    wanted = [name for name in _SETTINGS if given[name] is None and name not in file.entries]
    missing = {name: older[name] or secrets.token_hex(32) for name in wanted}
    if missing and not path.exists():
        try:
            with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w", encoding="utf-8") as f:
                json.dump(missing, f, indent=2)
                f.flush()
                os.fsync(f.fileno())
            return missing
        except FileExistsError:
            file.refresh()  # another replica made it first: its keys are the ones
            missing = {name: value for name, value in missing.items() if name not in file.entries}
    if missing:
        file.entries.update(missing)
        file.save()
    return {**missing, **file.entries}


def _checked(name: str, key: str, journal: Journal) -> str:
    first = journal.secret(f"{name}:fingerprint", lambda: _fingerprint(key))
    if first != _fingerprint(key):
        where = f"{_SETTINGS[name]} (or {name} in SAMVERKAN_SECRETS_FILE)"
        raise ValueError(f"{where} is not the key the journal's other replicas use: give every replica the same key")
    return key


def _warn_if_open(path: Path) -> None:
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return
    if mode & 0o077:
        log.warning("the secrets file %s is readable by others (mode %o): chmod 600 it", path, mode)
