"""What the adapter logs never carries a personnummer in clear text, tracebacks included."""

from __future__ import annotations

import json
import logging

import httpx
import pytest

from adapter.observability import correlation_id, setup_logging

PNR = "191212121212"


@pytest.fixture
def logged(capsys: pytest.CaptureFixture[str]):
    def read() -> str:
        return capsys.readouterr().err

    yield read
    # The handlers hold this test's capture stream, which pytest closes after it.
    for name in ("", "uvicorn", "uvicorn.access"):
        logging.getLogger(name).handlers.clear()


def test_a_message_argument_is_masked(logged) -> None:
    setup_logging("INFO")  # here, so its handler writes to the stream capsys reads in this phase
    logging.getLogger("adapter.test").warning("patient %s", PNR)
    text = logged()
    assert "patient 1912****-****" in text
    assert PNR not in text


def test_a_traceback_whose_exception_names_a_search_url_is_masked(logged) -> None:
    setup_logging("INFO")
    request = httpx.Request(
        "GET", f"http://hapi/fhir/Patient?identifier=http://electronichealth.se/identifier/personnummer|{PNR}"
    )
    try:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)
    except httpx.ReadTimeout:
        logging.getLogger("adapter.test").exception("relay failed")
    text = logged()
    assert "Traceback" in text and "ReadTimeout" in text
    assert "1912****-****" in text
    assert PNR not in text


def test_a_stack_dump_is_masked(logged) -> None:
    """A stack shows source lines, and a line may hold a number (a fixture, a literal in a script)."""
    setup_logging("INFO")

    def deep(pnr: str) -> None:
        logging.getLogger("adapter.test").info("here", stack_info=True)

    deep("191212121212")
    text = logged()
    assert "Stack (most recent call last)" in text
    assert PNR not in text


def test_json_lines_carry_the_correlation_id_and_are_masked(logged) -> None:
    setup_logging("INFO", "json")
    token = correlation_id.set("req-1234")
    try:
        logging.getLogger("adapter.test").warning("refused patient %s", PNR)
        try:
            raise ValueError(f"bad number {PNR}")
        except ValueError:
            logging.getLogger("adapter.test").exception("failed")
    finally:
        correlation_id.reset(token)
    logging.getLogger("adapter.test").warning("outside a request")
    first, second, third = (json.loads(line) for line in logged().splitlines())
    assert (first["level"], first["logger"], first["correlationId"]) == ("WARNING", "adapter.test", "req-1234")
    assert first["message"] == "refused patient 1912****-****"
    assert "ValueError: bad number 1912****-****" in second["exception"] and PNR not in second["exception"]
    assert third["correlationId"] is None
