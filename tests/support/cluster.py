"""A real Redis and real `whisper-api worker` processes on loopback, for the task-queue tests and bench."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.server import free_port, stop

REDIS = shutil.which("redis-server")


@contextmanager
def run_redis(folder: Path, port: int | None = None, persist: bool = False) -> Iterator[str]:
    """A Redis on loopback (on ``port``, else a free one); with ``persist``, its data in an
    append-only file in ``folder``, so another one started there finds it."""
    assert REDIS is not None
    port = port or free_port()
    process = subprocess.Popen([REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "yes" if persist else "no", "--dir", str(folder)],
                               stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextmanager
def run_worker(home: Path, env: dict[str, str], name: str) -> Iterator[subprocess.Popen[bytes]]:
    log = home / f"worker-{name}.log"
    inherited = {key: value for key, value in os.environ.items() if not key.startswith("WHISPER_API_")}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "whisper_api", "worker", "--model", "tiny.en"],
                                   stdout=out, stderr=subprocess.STDOUT,
                                   env={**inherited, "WHISPER_API_HOME": str(home), **env})
    try:
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text(errors="replace"):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.1)
        yield process
    finally:
        stop(process, 30)
