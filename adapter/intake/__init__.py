"""Accepting a message: credentials checked, body read, decoded, consent, journaled."""

from .accept import Intake, key_for
from .body import read_body
from .group_commit import GroupCommit

__all__ = ["GroupCommit", "Intake", "key_for", "read_body"]
