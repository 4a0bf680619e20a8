"""Group commit of accepted messages: many senders, one flush to disk.

Each accept must be on disk before its 202. Flushing once per message puts the disk's flush time
(milliseconds, and far more when the FHIR server on the same disk is busy) in every sender's
latency, one after another. Here accepts that arrive while a commit is in flight wait for the
next one, which takes them all: latency stays near one flush however many arrive, and the event
loop never waits for the disk.
"""

from __future__ import annotations

import asyncio

from adapter.journal import Accept, Conflict, Journal, Record

__all__ = ["GroupCommit"]


class GroupCommit:
    """Accepts for one journal, committed in batches from a thread."""

    def __init__(self, journal: Journal, *, max_batch: int = 256):
        self.journal = journal
        self.max_batch = max_batch
        self._pending: list[tuple[Accept, asyncio.Future[tuple[Record, bool]]]] = []
        self._draining = False
        self.batches = 0

    async def accept(self, item: Accept) -> tuple[Record, bool]:
        future: asyncio.Future[tuple[Record, bool]] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if not self._draining:
            self._draining = True
            asyncio.get_running_loop().create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending[: self.max_batch], self._pending[self.max_batch :]
                try:
                    results = await asyncio.to_thread(self.journal.accept_many, [item for item, _ in batch])
                except Exception as exc:  # the journal is away: every sender in the batch hears it
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                self.batches += 1
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():  # the sender went away; its message is journaled all the same
                        continue
                    if isinstance(result, Conflict):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._draining = False
