"""Finding a patient's messages by identity number without storing the number (issue 7).

The journal keeps, per message, an HMAC of the patient's identity number under a key that is not
in the journal: ``SAMVERKAN_SEARCH_KEY``, or else one made once and kept in the secrets file
(:mod:`.server_keys`, which also makes sure every replica has the same). A search hashes the number it is given the same way.
The number is never echoed: a search answers with messages, not with the number. A keyed hash
rather than a plain one because personnummer are few enough to hash them all: without the key,
the column could be reversed in minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import re

__all__ = ["PatientHasher", "normalise"]

_SEPARATORS = re.compile(r"[\s+-]")


def normalise(number: str) -> str:
    """One spelling per number: ``19121212-1212`` and ``191212121212`` are the same patient.

    >>> normalise(" 19121212-1212 ")
    '191212121212'
    """
    return _SEPARATORS.sub("", number).upper()


class PatientHasher:
    def __init__(self, key: bytes):
        self._key = key

    def __call__(self, number: str) -> str:
        return hmac.new(self._key, normalise(number).encode(), hashlib.sha256).hexdigest()[:40]
