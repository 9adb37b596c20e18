"""A real ``whisper-api serve`` process on 127.0.0.1, for tests that talk HTTP to it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import websockets


@dataclass(frozen=True)
class RunningServer:
    url: str
    log: Path
    pid: int

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@dataclass(frozen=True)
class Live:
    """A running server with a listen key, and a folder for a test's audio."""

    server: RunningServer
    key: str
    audio: Path

    @property
    def ws(self) -> str:
        return self.server.url.replace("http", "ws") + "/v1/listen"


def model_home(home: Path, model: Path) -> Path:
    """A fresh WHISPER_API_HOME with ``model`` installed under its own name."""
    (home / "models").mkdir(parents=True)
    shutil.copyfile(model, home / "models" / model.name)
    return home


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def run_server(home: Path, *args: str, env: dict[str, str] | None = None,
               ready_path: str = "/readyz") -> Iterator[RunningServer]:
    port = free_port()
    log = home / f"server-{port}.log"
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("WHISPER_API_")}
    environment = {**inherited, "WHISPER_API_HOME": str(home), **(env or {})}
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "whisper_api", "serve", "--port", str(port), *args],
                                   stdout=out, stderr=subprocess.STDOUT, env=environment)
    server = RunningServer(f"http://127.0.0.1:{port}", log, process.pid)
    try:
        _wait_ready(server, process, ready_path)
        yield server
    finally:
        stop(process)


def stop(process: subprocess.Popen[bytes], seconds: float = 20) -> None:
    """Ask the process to stop (SIGTERM), and kill it if it has not within ``seconds``."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_ready(server: RunningServer, process: subprocess.Popen[bytes], path: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not become ready:\n{server.log_text()}")


async def stream_finals(url: str, key: str, samples: np.ndarray) -> list[str]:
    """Send 16 kHz samples as linear16 to a ``/v1/listen`` WebSocket URL (0.2 s a message, as fast as the
    server takes them), close the stream, and return the final transcripts in order."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    finals: list[str] = []
    async with websockets.connect(url, additional_headers={"Authorization": f"Token {key}"}, max_size=None) as socket:
        for start in range(0, len(pcm), 6400):
            await socket.send(pcm[start:start + 6400])
        await socket.send(json.dumps({"type": "CloseStream"}))
        async for message in socket:
            event = json.loads(message)
            if event.get("type") == "Results" and event.get("is_final"):
                finals.append(event["channel"]["alternatives"][0]["transcript"])
    return finals
