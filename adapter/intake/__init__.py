"""Accepting a message: credentials checked, body read, decoded, consent, journaled."""

from .body import read_body, record_refusal
from .group_commit import GroupCommit

__all__ = ["GroupCommit", "read_body", "record_refusal"]
