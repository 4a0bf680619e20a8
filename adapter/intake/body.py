"""The body of a POST to either door, read within the size limit.

    read_body(request, limit, where, actor=) -> bytes     413 past ``limit``, 415 if compressed
    record_refusal(request, exc, document, actor=, message_id=)   a refusal counted and journaled

The body is never read whole into memory first: a declared ``Content-Length`` over the limit is
refused before a byte is read, and a chunked body as soon as it passes the limit. A
``Content-Encoding`` (gzip, deflate, br) is refused rather than inflated: a few kilobytes of gzip
inflate to gigabytes, and no sender of ours needs it. These refusals happen before a document
exists, so they are journaled here, without the body (it is what was too large, or not a
document); ``adapter.http.app``'s ``take`` journals every later one, with the body it read, through
the same :func:`record_refusal`.
"""

from __future__ import annotations

import logging
import time

from fastapi import Request

from adapter.codec.safe_parse import Where, shorten
from adapter.journal.base import Journal
from adapter.observability.redaction import redact
from mappings.errors import CodecError, DocumentTooLarge, SamverkanError, UnsupportedMediaType

__all__ = ["read_body", "record_refusal"]

log = logging.getLogger("adapter.intake.body")

_IDENTITY = ("", "identity")


async def read_body(request: Request, limit: int, where: Where = ("/", "xpath"), *, actor: str = "anonymous") -> bytes:
    """The body of ``request``, at most ``limit`` bytes and not encoded; else a ``CodecError``
    naming ``where``, journaled as a refusal by ``actor`` (the authenticated sender)."""
    path, kind = where
    try:
        encoding = request.headers.get("content-encoding", "").strip().lower()
        if encoding not in _IDENTITY:
            raise UnsupportedMediaType(
                f"Content-Encoding {shorten(encoding, 40)} is not accepted: send the document uncompressed",
                path=path,
                path_kind=kind,
            )
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise DocumentTooLarge(f"the document is larger than {limit} bytes", path=path, path_kind=kind)
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise DocumentTooLarge(f"the document is larger than {limit} bytes", path=path, path_kind=kind)
            chunks.append(chunk)
    except CodecError as exc:
        try:
            record_refusal(request, exc, b"", actor=actor)
        except Exception:
            # The sender still gets the refusal it is owed; the journal's trouble is for operators.
            log.exception("could not journal the refusal %s of %s %s", exc.code, request.method, request.url.path)
        raise
    return b"".join(chunks)


def record_refusal(request: Request, exc: SamverkanError, document: bytes, *, actor: str, message_id: str | None = None) -> None:
    """Counts the refusal and keeps it in the journal with what was sent, audited under ``actor``."""
    request.app.state.metrics.refused.labels(exc.code).inc()
    journal: Journal = request.app.state.journal
    journal.reject(
        document=document,
        content_type=request.headers.get("content-type"),
        code=exc.code,
        location=exc.path,
        detail=redact(exc.detail),
        now=time.time(),
        actor=actor,
        message_id=message_id,
    )
