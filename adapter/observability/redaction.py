"""Masking of personal identity numbers in any text that leaves the process.

Logs, metrics, error pages and OperationOutcome diagnostics go through :func:`redact`; the
same mask is what operators see in lists (``19121212-****``).
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote

__all__ = ["RedactingFilter", "redact"]

# 12 digits (YYYYMMDDNNNC) or 10 (YYMMDDNNNC), with an optional - or + before the last four.
# Month 01-12 and day 01-91 (samordningsnummer add 60): organisation numbers, and so HSA-ids,
# have a "month" of 20 or more and stay readable.
_PNR = re.compile(r"(?<![0-9])((?:19|20)?[0-9]{2}(?:0[1-9]|1[0-2])(?:[0-8][0-9]|9[01]))[-+]?[0-9]{4}(?![0-9])")


def redact(text: str) -> str:
    """``text`` with every personnummer-shaped number masked after its date part.

    >>> redact("patient 191212121212 and 19121212-1212 and 121212+1212")
    'patient 19121212-**** and 19121212-**** and 121212-****'
    >>> redact("unit SE2321000131-E000000000001")
    'unit SE2321000131-E000000000001'
    >>> redact("GET /messages?key=%31%39%31%32%31%32%31%32%31%32%31%32")
    'GET /messages?key=19121212-****'
    """
    masked = _PNR.sub(r"\1-****", text)
    if "%" in masked:
        # A URL in a log line may carry the number percent-encoded (%31%39...): masked decoded.
        decoded = unquote(masked)
        if (again := _PNR.sub(r"\1-****", decoded)) != decoded:
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
