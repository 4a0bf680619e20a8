"""`samverkan serve` as a user runs it: a real uvicorn process in front of the real HAPI."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from adapter import codec
from mappings import identifiers as ids
from tests.support import INSKRIVNING, load, unique

from .conftest import Hapi


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def served(fhir_base_url: str, tmp_path) -> Iterator[tuple[str, object]]:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w+")
    env = {
        **os.environ,
        "SAMVERKAN_FHIR_BASE_URL": fhir_base_url,
        "SAMVERKAN_PORT": str(port),
        "SAMVERKAN_JOURNAL_PATH": str(tmp_path / "journal.sqlite3"),
    }
    proc = subprocess.Popen([sys.executable, "-m", "adapter.cli", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, "samverkan serve exited"
            assert time.monotonic() < deadline, "samverkan serve did not answer /health in 30 s"
            time.sleep(0.2)
        yield url, log
    finally:
        proc.terminate()
        try:
            code = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            code = None
        log.seek(0)
        tail = log.read()[-2000:]
        log.close()
    assert code is not None, f"samverkan serve did not stop within 15 s of SIGTERM; its log ends:\n{tail}"


def test_serve_relays_a_message_and_logs_no_personnummer(served, hapi: Hapi) -> None:
    url, log = served
    message = unique(load(INSKRIVNING))
    response = httpx.post(f"{url}/messages", content=codec.encode_xml(message), headers={"Content-Type": "application/xml"})
    assert response.status_code == 202, response.text
    deadline = time.monotonic() + 120
    while (status := httpx.get(f"{url}/messages/{message.id}").json())["state"] != "delivered":
        assert time.monotonic() < deadline, f"not delivered in 120 s: {status}"
        time.sleep(0.1)
    assert hapi.count("Communication", ids.SYS_MESSAGE_ID, message.id) == 1
    refused = httpx.post(f"{url}/messages", content=b"<Message", headers={"Content-Type": "application/xml"})
    assert refused.status_code == 400
    log.flush()
    log.seek(0)
    text = log.read()
    assert "POST /messages" in text  # the access log is on
    assert message.patient.id_value not in text
