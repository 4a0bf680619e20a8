"""Alerts on state changes only (issue 7): the real HAPI behind our fault proxy, a real journal,
and a real HTTP receiver standing in for the operators' alert hook."""

from __future__ import annotations

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from adapter.fhir import FhirClient
from adapter.journal.sqlite import SqliteJournal
from adapter.relay import Watch
from tests.faultproxy import FaultProxy


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).got.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_one_alert_when_trouble_starts_and_one_when_it_clears(fhir_base_url: str, tmp_path: Path) -> None:
    _Receiver.got = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    origin, _, path = fhir_base_url.partition("/fhir")
    try:
        with FaultProxy(origin, faults={"reset-before": 1.0}) as proxy:
            proxy.enabled = False

            async def scenario() -> list[list[str]]:
                async with FhirClient(f"{proxy.url}/fhir{path}", timeout=10) as fhir:
                    watch = Watch(journal, fhir, alert_url=f"http://127.0.0.1:{hook.server_port}/alerts")
                    looks = [await watch.look()]  # a server that answers at start is no news
                    proxy.enabled = True
                    looks += [await watch.look(), await watch.look()]  # unreachable: said once
                    assert watch.state.fhir_reachable is False and watch.state.fhir_error
                    proxy.enabled = False
                    looks.append(await watch.look())
                    journal.accept(
                        "m1", key="episode:A", message_type="T", document=b"<x/>", content_type="application/xml", now=1
                    )
                    journal.accept(
                        "m2", key="episode:A", message_type="T", document=b"<y/>", content_type="application/xml", now=2
                    )
                    journal.claim("w", now=3, lease=60, limit=1)
                    journal.dead_letter("m1", "HTTP 422", now=4)
                    looks += [await watch.look(), await watch.look()]  # held: said once
                    journal.replay("m1", now=5)
                    looks.append(await watch.look())
                    return [[e["event"] for e in look] for look in looks]

            looks = asyncio.run(scenario())
    finally:
        hook.shutdown()
        hook.server_close()
        journal.close()
    assert looks == [[], ["fhir-unreachable"], [], ["fhir-reachable"], ["held"], [], ["released"]]
    assert [a["event"] for a in _Receiver.got] == ["fhir-unreachable", "fhir-reachable", "held", "released"]
    held = _Receiver.got[2]
    assert (held["key"], held["messageId"]) == ("episode:A", "m1") and held["at"]
