"""Callback jobs on a real task queue: Redis, a server and `whisper-api worker` processes on loopback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.support.audio_files import write_wav
from tests.support.callbacks import Receiver, receive_callbacks
from tests.support.cluster import REDIS, run_redis, run_worker
from tests.support.server import RunningServer, free_port, model_home, run_server
from whisper_api.audio import decode_file
from whisper_api.jobs.store import JobStore
from whisper_api.keys import KeyStore
from whisper_api.store.db import Database

pytest.importorskip("celery", reason="needs the cluster extra: pip install 'whisper-api[cluster]'")
redis = pytest.importorskip("redis", reason="needs the cluster extra: pip install 'whisper-api[cluster]'")
pytestmark = pytest.mark.skipif(REDIS is None, reason="needs redis-server (apt install redis-server)")
QUICK = {"WHISPER_API_ALLOWED_HOSTS": "127.0.0.1/32", "WHISPER_API_CALLBACK_RETRY_SECONDS": "0.05",
         "WHISPER_API_THREADS": "1", "WHISPER_API_REQUEST_TIMEOUT": "40"}


@pytest.fixture
def cluster_home(tmp_path: Path, tiny_en: Path) -> Path:
    return model_home(tmp_path / "home", tiny_en)


def _submit(server: RunningServer, key: str, audio: bytes, receiver: Receiver) -> str:
    answer = httpx.post(f"{server.url}/v1/listen", params={"callback": f"{receiver.url}/done", "language": "en"},
                        content=audio, headers={"Authorization": f"Token {key}"}, timeout=30)
    assert answer.status_code == 200, answer.text
    return str(answer.json()["request_id"])


def _wait(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_callback_job_runs_on_a_worker_and_survives_the_worker_being_killed(cluster_home: Path, jfk: Path) -> None:
    home = cluster_home
    store = KeyStore(f"sqlite:///{home / 'whisper-api.db'}")
    record, key = store.create("cluster", ("listen",))
    speech = decode_file(jfk).mono()
    long_speech = write_wav(home / "long.wav", [np.tile(speech, 8)]).read_bytes()  # 88 s: long enough to kill
    with run_redis(home) as broker, receive_callbacks() as receiver:
        env = {**QUICK, "WHISPER_API_BROKER_URL": broker}
        with run_server(home, "--model", "tiny.en", env=env) as server:
            with run_worker(home, env, "a") as first:
                quick_id = _submit(server, key.text, jfk.read_bytes(), receiver)
                _wait(lambda: len(receiver.deliveries) == 1, 60, "the first job was not delivered")
                assert b"ask not what your country" in receiver.deliveries[0].body.lower()
                assert receiver.deliveries[0].headers["dg-request-id"] == quick_id
                assert not (home / "jobs" / quick_id).exists()  # the audio goes once the result is stored

                jobs = JobStore(Database(f"sqlite:///{home / 'whisper-api.db'}"))
                killed_id = _submit(server, key.text, long_speech, receiver)
                _wait(lambda: jobs.get(killed_id).status == "running", 60, "the job never started")
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            with run_worker(home, env, "b"):  # the task comes back once the broker's visibility timeout passes
                _wait(lambda: len(receiver.deliveries) == 2, 150, "the killed worker's job was not taken up")
                time.sleep(1)  # a second delivery of the same job would come now
    assert len(receiver.deliveries) == 2 and receiver.deliveries[1].headers["dg-request-id"] == killed_id
    assert jobs.get(killed_id).status == "done" and jobs.get(killed_id).attempts == 1
    counted = store.audio_seconds_since(record.id, date.today())
    assert counted == pytest.approx(len(speech) * 9 / 16000, abs=1.0)  # each job once: 11 s and 88 s


def test_a_worker_without_a_broker_says_what_it_needs(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "whisper_api", "worker"], capture_output=True, text=True,
                          env={**os.environ, "WHISPER_API_HOME": str(tmp_path)}, check=False)
    assert done.returncode == 1 and "WHISPER_API_BROKER_URL" in done.stderr
    wrong = subprocess.run([sys.executable, "-m", "whisper_api", "worker", "--queues", "jobs,nope"],
                           capture_output=True, text=True, check=False,
                           env={**os.environ, "WHISPER_API_HOME": str(tmp_path),
                                "WHISPER_API_BROKER_URL": "redis://127.0.0.1:1/0"})
    assert wrong.returncode == 1 and "unknown queue nope; choose from requests, jobs" in wrong.stderr


def test_a_server_whose_broker_is_down_refuses_the_job_and_keeps_nothing(tmp_path: Path, micro_model: Path) -> None:
    home = model_home(tmp_path / "home", micro_model)
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("cluster", ("listen",))[1]
    env = {**QUICK, "WHISPER_API_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with run_server(home, "--model", "micro", env=env) as server, receive_callbacks() as receiver:
        answer = httpx.post(f"{server.url}/v1/listen", params={"callback": f"{receiver.url}/done"},
                            content=write_wav(tmp_path / "a.wav", [np.zeros(16000, np.float32)]).read_bytes(),
                            headers={"Authorization": f"Token {key.text}"}, timeout=60)
    assert answer.status_code == 503 and "task queue" in answer.json()["err_msg"]
    assert not any((home / "jobs").iterdir())


def test_jobs_queued_before_redis_restarts_run_after_it_returns(cluster_home: Path, jfk: Path) -> None:
    home, port = cluster_home, free_port()
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("cluster", ("listen",))[1].text
    env = {**QUICK, "WHISPER_API_BROKER_URL": f"redis://127.0.0.1:{port}/0"}
    with ExitStack() as running:
        receiver = running.enter_context(receive_callbacks())
        with ExitStack() as first_redis:
            first_redis.enter_context(run_redis(home, port, persist=True))
            server = running.enter_context(run_server(home, "--model", "tiny.en", env=env))
            before = [_submit(server, key, jfk.read_bytes(), receiver) for _ in range(2)]
        running.enter_context(run_redis(home, port, persist=True))  # Redis is back; the server stayed up
        after = _submit(server, key, jfk.read_bytes(), receiver)
        running.enter_context(run_worker(home, env, "after-restart"))
        _wait(lambda: len(receiver.deliveries) == 3, 120, "a job queued before the restart was lost")
    assert sorted(delivery.headers["dg-request-id"] for delivery in receiver.deliveries) == sorted([*before, after])


def test_a_server_with_remote_workers_answers_from_them(cluster_home: Path, jfk: Path) -> None:
    home = cluster_home
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("cluster", ("listen",))[1]
    headers = {"Authorization": f"Token {key.text}"}
    with run_redis(home) as broker:
        env = {**QUICK, "WHISPER_API_BROKER_URL": broker, "WHISPER_API_QUEUE_SIZE": "1"}
        with run_server(home, "--model", "tiny.en", "--remote-workers", env=env) as server:
            def listen(audio: bytes) -> httpx.Response:
                return httpx.post(f"{server.url}/v1/listen", params={"language": "en"}, content=audio,
                                  headers=headers, timeout=60)

            with ThreadPoolExecutor(1) as pool:  # no worker yet: the first request waits in the queue
                waiting = pool.submit(listen, jfk.read_bytes())
                queue = redis.Redis.from_url(broker)
                _wait(lambda: queue.llen("whisper-api-requests") == 1, 30, "the request was never queued")
                refused = listen(jfk.read_bytes())
                assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0  # the queue is full
                with run_worker(home, env, "a"):
                    answer = waiting.result(60)
                    assert answer.status_code == 200, answer.text
                    words = answer.json()["results"]["channels"][0]["alternatives"][0]["words"]
                    assert "country" in " ".join(word["word"] for word in words)
                    corrupt = listen(b"not audio at all" * 100)
                    assert corrupt.status_code == 400 and "audio" in corrupt.json()["err_msg"]
                    openai = httpx.post(f"{server.url}/v1/audio/transcriptions", headers=headers, timeout=60,
                                        files={"file": ("jfk.wav", jfk.read_bytes())}, data={"model": "whisper-1"})
                    assert openai.status_code == 200 and "country" in openai.json()["text"]
    assert "loaded in" not in server.log_text()  # the server itself loaded no model
    assert not list((home / "jobs" / "requests").iterdir())  # each request's audio went with its answer

