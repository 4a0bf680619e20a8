"""`samverkan serve` as a user runs it: a real uvicorn process in front of the real HAPI."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterable

import httpx

from adapter import codec
from mappings import identifiers as ids
from tests.serving import serve
from tests.support import INSKRIVNING, load, unique

from .conftest import Hapi


def test_serve_relays_a_message_and_logs_no_personnummer(fhir_base_url: str, hapi: Hapi, tmp_path) -> None:
    env = {
        **os.environ,
        "SAMVERKAN_FHIR_BASE_URL": fhir_base_url,
        "SAMVERKAN_JOURNAL_PATH": str(tmp_path / "journal.sqlite3"),
    }
    message = unique(load(INSKRIVNING))
    with serve(env, tmp_path) as url:
        response = httpx.post(f"{url}/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})
        assert response.status_code == 202, response.text
        deadline = time.monotonic() + 120
        while (status := httpx.get(f"{url}/messages/{message.id}").json())["state"] != "delivered":
            assert time.monotonic() < deadline, f"not delivered in 120 s: {status}"
            time.sleep(0.1)
        assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
        refused = httpx.post(f"{url}/messages", content=b"<Message", headers={"Content-Type": "application/xml"})
        assert refused.status_code == 400
    # Read after the process stopped (within 15 s of SIGTERM, or serve() fails): the whole log.
    text = (tmp_path / "serve.log").read_text()
    assert "POST /messages" in text  # the access log is on
    assert message.patient.id_value not in text


def _raw(url: str, head: bytes, filler: Iterable[bytes] = ()) -> tuple[bytes, int]:
    """Sends ``head``, then ``filler`` (more of the headers) and the blank line, as one request on
    a socket of its own; what came back (b"" if the server hung up) and how much was sent."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as s:
        try:
            for part in (head, *filler, b"\r\n"):
                s.sendall(part)
                sent += len(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped reading and closed: refused without reading it all
        answer = b""
        try:
            while chunk := s.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    return answer, sent


def test_serve_refuses_huge_or_too_many_headers_before_the_app_reads_them(fhir_base_url: str, tmp_path) -> None:
    # Finding 8: a 16 MB header got 200, and nothing bounded the number of headers.
    env = {
        **os.environ,
        "SAMVERKAN_FHIR_BASE_URL": fhir_base_url,
        "SAMVERKAN_JOURNAL_PATH": str(tmp_path / "journal.sqlite3"),
        "SAMVERKAN_RELAY_PARALLEL": "0",
    }
    with serve(env, tmp_path) as url:
        head = b"GET /health HTTP/1.1\r\nHost: samverkan\r\nConnection: close\r\n"
        huge, sent = _raw(url, head + b"X-Huge: ", (b"x" * 65536 for _ in range(256)))  # 16 MiB
        many, _ = _raw(url, head + b"".join(b"X-Many-%d: x\r\n" % i for i in range(500)))
        normal, _ = _raw(url, head + b"X-Fine: x\r\n")
        assert httpx.get(f"{url}/health").status_code == 200  # and it still serves
    # The huge header: the server answered 400 and hung up, or hung up while it was still being sent.
    assert huge.startswith(b"HTTP/1.1 400 ") or (huge == b"" and sent < 16 * 2**20), huge[:200]
    assert many.startswith(b"HTTP/1.1 431 ") and b'"too-long"' in many, many[:300]
    assert normal.startswith(b"HTTP/1.1 200 "), normal[:300]
