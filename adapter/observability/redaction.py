"""Masking of personal identity numbers in any text that leaves the process.

Logs, metrics, error pages and OperationOutcome diagnostics go through :func:`redact`; the
same mask is what operators see in lists (``1912****-****``): the birth year, nothing of the date
or the number (issue 16: the full birth date with the sex digit narrows a patient down).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

__all__ = ["RedactingFilter", "initials", "redact"]

# 12 digits (YYYYMMDDNNNC) or 10 (YYMMDDNNNC), with an optional - or + before the last four.
# Month 01-12 and day 01-91 (samordningsnummer add 60): organisation numbers, and so HSA-ids,
# have a "month" of 20 or more and stay readable.
_PNR = re.compile(r"(?<![0-9])((?:19|20)?[0-9]{2})(?:0[1-9]|1[0-2])(?:[0-8][0-9]|9[01])[-+]?[0-9]{4}(?![0-9])")
_MASK = r"\1****-****"


def initials(name: str | None) -> str | None:
    """A patient's name as an operator without the reveal right sees it.

    >>> initials("Tolvan Tolvansson")
    'T. T.'
    """
    return None if name is None else " ".join(f"{part[0]}." for part in name.split())


def redact(text: str, *, names: str | None = None) -> str:
    """``text`` with every personnummer-shaped number masked but for its birth year.

    >>> redact("patient 191212121212 and 19121212-1212 and 121212+1212")
    'patient 1912****-**** and 1912****-**** and 12****-****'
    >>> redact('<Name family="Tolvansson" given="Tolvan"/>', names="Tolvan Tolvansson")
    '<Name family="T." given="T."/>'
    >>> redact("unit SE2321000131-E000000000001")
    'unit SE2321000131-E000000000001'
    >>> redact("GET /messages?key=%31%39%31%32%31%32%31%32%31%32%31%32")
    'GET /messages?key=1912****-****'
    """
    masked = _PNR.sub(_MASK, text)
    for part in (names or "").split():
        if len(part) > 1:
            # The patient's own name, where it is known (the journal keeps it): its initial only.
            masked = re.sub(rf"(?<!\w){re.escape(part)}(?!\w)", f"{part[0]}.", masked)
    if "%" in masked:
        # A URL in a log line may carry the number percent-encoded (%31%39...): masked decoded.
        decoded = unquote(masked)
        if (again := _PNR.sub(_MASK, decoded)) != decoded:
            return again
    return masked


class RedactingFilter(logging.Filter):
    """Rewrites each record's message, traceback and stack with :func:`redact` before any handler
    formats it: an exception's text often carries a request URL, and a search URL carries the
    personnummer."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            # Formatters use exc_text when it is set, so the raw traceback is never rendered.
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
