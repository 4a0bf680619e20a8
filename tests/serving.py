"""`samverkan serve` as a user runs it, for the tests that need a real process and port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

__all__ = ["free_port", "serve"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextmanager
def serve(env: dict[str, str], workdir: Path) -> Iterator[str]:
    """`samverkan serve` as a user runs it, with ``env``, its log in ``workdir/serve.log``; stopped
    with SIGTERM at the end, which it must obey within 15 s (its log is shown on a failure)."""
    port = free_port()
    log = (workdir / "serve.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "adapter.cli", "serve", "--port", str(port)],
        env=env,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
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
        yield url
    except BaseException:
        log.seek(0)
        print(f"samverkan serve's log ends:\n{log.read()[-4000:]}")
        raise
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
            hung = False
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            hung = True
        log.close()
    assert not hung, f"samverkan serve did not stop within 15 s of SIGTERM; see {workdir / 'serve.log'}"
