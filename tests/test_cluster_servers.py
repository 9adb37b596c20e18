"""Stateless servers: two API servers and two workers as separate processes on a real Redis and a
real PostgreSQL, as behind a load balancer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pytest
import websockets
from websockets.sync.client import connect

from tests.support.audio_files import write_wav
from tests.support.callbacks import Receiver, receive_callbacks
from tests.support.cluster import REDIS, run_redis, run_worker
from tests.support.postgres import postgres_bin, temporary_postgres
from tests.support.server import RunningServer, model_home, run_server, stop
from whisper_api.audio import decode_file
from whisper_api.jobs.store import JobStore
from whisper_api.keys import KeyLimits, KeyStore
from whisper_api.store.db import Database

pytest.importorskip("celery", reason="needs the cluster extra: pip install 'whisper-api[cluster]'")
pytest.importorskip("psycopg", reason="needs the postgres extra: pip install 'whisper-api[postgres]'")
pytestmark = pytest.mark.skipif(REDIS is None or postgres_bin() is None,
                                reason="needs redis-server and PostgreSQL (apt install redis-server postgresql)")
STREAM = "/v1/listen?encoding=linear16&sample_rate=16000"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    bindir = postgres_bin()
    assert bindir is not None
    with temporary_postgres(bindir) as url:
        yield url


def _listen(server: RunningServer, authorization: str, audio: bytes, **params: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/listen", params={"language": "en", **params}, content=audio,
                      headers={"Authorization": authorization}, timeout=60)


def _job(server: RunningServer, key: str, audio: bytes, receiver: Receiver) -> str:
    answer = _listen(server, f"Token {key}", audio, callback=f"{receiver.url}/done")
    assert answer.status_code == 200, answer.text
    return str(answer.json()["request_id"])


def _stream_status(server: RunningServer, key: str) -> int:
    """Open a live stream and close it at once: 101 when it was accepted, else the refusal's status."""
    async def attempt() -> int:
        try:
            async with websockets.connect(server.url.replace("http", "ws") + STREAM,
                                          additional_headers={"Authorization": f"Token {key}"}) as stream:
                await stream.send(json.dumps({"type": "CloseStream"}))
                async for _ in stream:
                    pass
        except websockets.InvalidStatus as refused:
            return refused.response.status_code
        return 101
    return asyncio.run(attempt())


@contextmanager
def _held_stream(server: RunningServer, key: str) -> Iterator[None]:
    """A live stream kept open (KeepAlive every 2 s, from a thread) until the block ends or the server dies."""
    url, headers = server.url.replace("http", "ws") + STREAM, {"Authorization": f"Token {key}"}
    done = threading.Event()
    with connect(url, additional_headers=headers) as stream:
        def keep_alive() -> None:
            with contextlib.suppress(websockets.ConnectionClosed, OSError):
                while not done.wait(2):
                    stream.send(json.dumps({"type": "KeepAlive"}))

        thread = threading.Thread(target=keep_alive, daemon=True)
        thread.start()
        try:
            yield
        finally:
            done.set()
            thread.join()


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_two_servers_two_workers_share_jobs_keys_limits_and_tokens(tmp_path: Path, tiny_en: Path, jfk: Path,
                                                                 postgres_url: str) -> None:
    audio = jfk.read_bytes()
    store = KeyStore(postgres_url)
    _, key = store.create("cluster", ("listen",))
    limited_record, limited = store.create("one stream", ("listen",))
    store.set_limits(limited_record.id, KeyLimits(concurrent_streams=1))
    revoked_record, revoked = store.create("to revoke", ("listen",))
    homes = [model_home(tmp_path / name, tiny_en) for name in ("api-1", "api-2", "worker-1", "worker-2")]
    with ExitStack() as stack:
        broker = stack.enter_context(run_redis(tmp_path))
        receiver = stack.enter_context(receive_callbacks())
        # Each node has a home of its own: what they share is only what the settings name.
        env = {"WHISPER_API_BROKER_URL": broker, "WHISPER_API_RATE_LIMIT_STORAGE": broker.replace("/0", "/1"),
               "WHISPER_API_DATABASE_URL": postgres_url, "WHISPER_API_SPOOL_DIR": str(tmp_path / "spool"),
               "WHISPER_API_SIGNING_SECRET": secrets.token_hex(32), "WHISPER_API_THREADS": "1",
               "WHISPER_API_ALLOWED_HOSTS": "127.0.0.1/32", "WHISPER_API_CALLBACK_RETRY_SECONDS": "0.05",
               # A visibility timeout of about 80 s: a killed worker's task comes back within the test.
               "WHISPER_API_REQUEST_TIMEOUT": "40", "WHISPER_API_CALLBACK_ATTEMPTS": "1"}
        first = stack.enter_context(run_server(homes[0], "--model", "tiny.en", env=env))
        second = stack.enter_context(run_server(homes[1], "--model", "tiny.en", env=env))
        workers = [stack.enter_context(run_worker(home, env, name)) for home, name in zip(homes[2:], "12", strict=True)]

        jobs = {_job(server, key.text, audio, receiver) for server in (first, second, first, second)}
        _wait(lambda: len(receiver.deliveries) == 4, 120, "not every callback job was delivered")
        time.sleep(1)  # a second delivery of any of them would come now
        assert {delivery.headers["dg-request-id"] for delivery in receiver.deliveries} == jobs
        assert len(receiver.deliveries) == 4

        grant = httpx.post(f"{first.url}/v1/auth/grant", headers={"Authorization": f"Token {key.text}"}).json()
        assert _listen(second, f"Bearer {grant['access_token']}", audio).status_code == 200  # signed by the other

        assert _listen(first, f"Token {revoked.text}", audio).status_code == 200
        store.revoke(revoked_record.id)
        assert [_listen(server, f"Token {revoked.text}", audio).status_code for server in (first, second)] == [401, 401]

        assert _stream_status(first, limited.text) == 101
        stack.enter_context(_held_stream(first, limited.text))  # the key's one stream, on the first server
        assert _stream_status(second, limited.text) == 429
        last_job = _job(first, key.text, audio, receiver)
        os.kill(first.pid, signal.SIGKILL)  # the server with a stream open and a job just accepted
        assert _listen(second, f"Token {key.text}", audio).status_code == 200  # the other keeps serving
        _wait(lambda: len(receiver.deliveries) == 5, 120, "the dead server's job was not delivered")
        assert receiver.deliveries[-1].headers["dg-request-id"] == last_job
        _wait(lambda: _stream_status(second, limited.text) == 101, 60, "the dead server's stream slot never lapsed")

        # A worker killed mid-task: its job finishes on another worker, delivered and counted once.
        stop(workers[1])
        counted_record, counted = store.create("counted", ("listen",))
        long_speech = write_wav(tmp_path / "long.wav", [np.tile(decode_file(jfk).mono(), 8)])  # 88 s
        killed_job = _job(second, counted.text, long_speech.read_bytes(), receiver)
        jobs_table = JobStore(Database(postgres_url))
        _wait(lambda: jobs_table.get(killed_job).status == "running", 60, "the long job never started")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(10)
        stack.enter_context(run_worker(homes[3], env, "3"))
        _wait(lambda: len(receiver.deliveries) == 6, 200, "the killed worker's job was not taken up")
        time.sleep(1)  # a second delivery would come now
        assert len(receiver.deliveries) == 6 and receiver.deliveries[-1].headers["dg-request-id"] == killed_job
        assert store.audio_seconds_since(counted_record.id, date.today()) == pytest.approx(88, abs=1.0)
