"""Accepting a message: credentials checked, body read, decoded, consent, journaled."""

from .accept import Intake, key_for
from .body import read_body
from .group_commit import GroupCommit
from .rekey import rekey_patients

__all__ = ["GroupCommit", "Intake", "key_for", "read_body", "rekey_patients"]
