"""The body of a POST to either door, read within the size limit.

    await read_body(headers, stream, limit, where) -> bytes     413 past ``limit``, 415 if compressed

The body is never read whole into memory first: a declared ``Content-Length`` over the limit is
refused before a byte is read, and a chunked body as soon as it passes the limit. A
``Content-Encoding`` (gzip, deflate, br) is refused rather than inflated: a few kilobytes of gzip
inflate to gigabytes, and no sender of ours needs it. The refusal is a ``CodecError`` naming
``where``; :class:`adapter.intake.Intake` journals it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from adapter.codec.safe_parse import Where, shorten
from mappings.errors import DocumentTooLarge, UnsupportedMediaType

__all__ = ["read_body"]

_IDENTITY = ("", "identity")


async def read_body(headers: Mapping[str, str], stream: AsyncIterator[bytes], limit: int, where: Where = ("/", "xpath")) -> bytes:
    """The body ``stream`` carries, at most ``limit`` bytes and not encoded; else a ``CodecError`` naming ``where``."""
    path, kind = where
    encoding = headers.get("content-encoding", "").strip().lower()
    if encoding not in _IDENTITY:
        raise UnsupportedMediaType(
            f"Content-Encoding {shorten(encoding, 40)} is not accepted: send the document uncompressed", path=path, path_kind=kind
        )
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(f"the document is larger than {limit} bytes", path=path, path_kind=kind)
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise DocumentTooLarge(f"the document is larger than {limit} bytes", path=path, path_kind=kind)
        chunks.append(chunk)
    return b"".join(chunks)
