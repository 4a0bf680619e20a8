"""`samverkan serve` as a user runs it: a real uvicorn process in front of the real HAPI."""

from __future__ import annotations

import os
import time

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
