"""A proxy of ours between the adapter and the real HAPI that has bad days on purpose.

HAPI cannot be made to answer 503 or 429, reset a connection or hang on demand, so this stands
in front of it (a test double docs/architecture.md, "Real parts", allows). Each request gets, by a seeded draw,
one of the faults below or is passed through. Some faults happen *after* HAPI has done the work
(the reply is lost): the hardest case for "exactly once in effect".

    with FaultProxy("http://127.0.0.1:8091", faults={"503": 0.05, "reset-after": 0.03}) as proxy:
        ...  # point the adapter at proxy.url + "/fhir"
        print(proxy.counts)  # by kind: {"pass": 812, "503": 41, ...}
        print(proxy.hits("reset-after"))  # by request: {("POST", "/fhir/"): 9, ("GET", "/fhir/Encounter"): 3, ...}

With ``load_latency`` it also stands in for a server that slows down under load, as HAPI does on a
slow disk: each forwarded request first waits ``load_latency`` seconds for every request in the
proxy at that moment (itself included), and a request the client gave up on still takes its turn.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import httpx

__all__ = ["FAULTS", "FaultProxy"]

#: What can happen to a request, besides being passed through ("pass").
FAULTS = (
    "503",  # Service Unavailable, HAPI never sees the request
    "429",  # Too Many Requests with Retry-After: 1
    "reset-before",  # the connection is reset before HAPI sees the request
    "reset-after",  # HAPI did the work; the connection is reset instead of the reply
    "timeout-before",  # no answer until the client gives up; HAPI never sees the request
    "timeout-after",  # HAPI did the work; the reply never comes
)

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length", "proxy-connection", "upgrade"}


class FaultProxy:
    """An HTTP/1.1 proxy on 127.0.0.1 (a thread with its own event loop) in front of ``target``."""

    def __init__(
        self, target: str, *, faults: Mapping[str, float], hang: float = 30.0, seed: int = 2017612, load_latency: float = 0.0
    ):
        unknown = set(faults) - set(FAULTS)
        assert not unknown, f"unknown faults {unknown}"
        self.target = target.rstrip("/")
        self.faults = dict(faults)
        self.hang = hang  # how long a "timeout" fault holds the connection: longer than the client waits
        self.rng = random.Random(seed)
        self.counts: Counter[str] = Counter()  # requests by what happened to them ("pass" or a fault)
        #: Requests by what happened to them, method and path (without the query string).
        self.requests: Counter[tuple[str, str, str]] = Counter()
        self.enabled = True
        self.load_latency = load_latency
        self.busy = self.peak_busy = 0  # requests being forwarded now, and the most at once
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hits(self, fault: str) -> Counter[tuple[str, str]]:
        """The requests ``fault`` happened to, by method and path (``"pass"``: those passed through)."""
        return Counter({(method, path): n for (f, method, path), n in self.requests.items() if f == fault})

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        assert self._ready.wait(10), "the fault proxy did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._serve())
            # Connections still held by a "timeout" fault end with the proxy.
            pending = asyncio.all_tasks(self._loop)
            for task in pending:
                task.cancel()
            self._loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self._http = httpx.AsyncClient(base_url=self.target, timeout=120, limits=httpx.Limits(max_connections=64))
        server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        async with server:
            await self._stop.wait()
        await self._http.aclose()

    def _draw(self) -> str:
        if not self.enabled:
            return "pass"
        x, edge = self.rng.random(), 0.0
        for fault, share in self.faults.items():
            edge += share
            if x < edge:
                return fault
        return "pass"

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while request := await _read_request(reader):
                fault = self._draw()
                self.counts[fault] += 1
                self.requests[(fault, request[0], request[1].partition("?")[0])] += 1
                if not await self._handle(fault, request, writer):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # The proxy is stopping. Ending quietly: Python 3.11's start_server logs a cancelled
            # handler as an error, which would bury a failing test's own message.
            pass
        finally:
            if not writer.is_closing():
                writer.close()

    async def _handle(self, fault: str, request: tuple[str, str, dict[str, str], bytes], writer: asyncio.StreamWriter) -> bool:
        """Answers one request as ``fault`` says; False when the connection is gone."""
        if fault == "503":
            await _respond(writer, 503, {"Content-Type": "text/plain"}, b"injected: service unavailable")
            return True
        if fault == "429":
            await _respond(writer, 429, {"Content-Type": "text/plain", "Retry-After": "1"}, b"injected: too many requests")
            return True
        if fault == "pass" or fault.endswith("-after"):
            answer = await self._forward(*request)
        if fault == "pass":
            await _respond(writer, *answer)
            return True
        if fault.startswith("timeout"):
            await asyncio.sleep(self.hang)
        _reset(writer)
        return False

    async def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        sent = {k: v for k, v in headers.items() if k.lower() not in _HOP and k.lower() != "host"}
        self.busy += 1
        self.peak_busy = max(self.peak_busy, self.busy)
        try:
            await asyncio.sleep(self.load_latency * self.busy)
            response = await self._http.request(method, path, headers=sent, content=body or None)
        finally:
            self.busy -= 1
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP}
        return response.status_code, kept, response.content


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers: dict[str, Any] = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip()] = value.strip()
    length = int(next((v for k, v in headers.items() if k.lower() == "content-length"), "0"))
    body = await reader.readexactly(length) if length else b""
    return method, path, headers, body


async def _respond(writer: asyncio.StreamWriter, status: int, headers: Mapping[str, str], body: bytes) -> None:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()] + [f"Content-Length: {len(body)}", "", ""]
    writer.write("\r\n".join(lines).encode("latin-1") + body)
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    """Closes with RST (linger 0), which the client sees as 'connection reset by peer'."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
