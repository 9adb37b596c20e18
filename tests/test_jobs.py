"""Callback jobs on a real server: delivery with retries, the job table, polling, restarts."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment

from tests.support.audio_files import speechlike, write_wav
from tests.support.callbacks import receive_callbacks
from tests.support.server import RunningServer, model_home, run_server
from whisper_api.jobs.store import JobStore
from whisper_api.keys import KeyStore
from whisper_api.store.db import Database

FAST_RETRIES = {"WHISPER_API_ALLOWED_HOSTS": "127.0.0.1/32", "WHISPER_API_CALLBACK_RETRY_SECONDS": "0.05",
                "WHISPER_API_THREADS": "2"}


def _keys(home: Path) -> tuple[str, str, str]:
    store = KeyStore(f"sqlite:///{home / 'whisper-api.db'}")
    keys = [store.create(name, scopes)[1].text for name, scopes in (("a", ("listen",)), ("b", ("listen",)),
                                                                     ("admin", ("admin",)))]
    store.close()
    return keys[0], keys[1], keys[2]


def _key_id(key: str) -> str:
    return key[3:15]


@pytest.fixture(scope="module")
def wav(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return write_wav(tmp_path_factory.mktemp("audio") / "clip.wav", [speechlike(seconds_per_part=0.5)]).read_bytes()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory,
           micro_model: Path) -> Iterator[tuple[RunningServer, Path, tuple[str, str, str]]]:
    home = model_home(tmp_path_factory.mktemp("jobs"), micro_model)
    keys = _keys(home)
    with run_server(home, "--model", "micro", env={**FAST_RETRIES, "WHISPER_API_CALLBACK_ATTEMPTS": "4"}) as server:
        yield server, home, keys


def _wait_for(server: RunningServer, job_id: str, key: str, statuses: tuple[str, ...] = ("done", "failed"),
              seconds: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job: dict[str, Any] = httpx.get(f"{server.url}/v1/listen/jobs/{job_id}",
                                        headers={"Authorization": f"Token {key}"}).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} is still {job['status']}")


def test_the_callback_gets_the_result_after_refused_attempts(served: tuple[RunningServer, Path, tuple[str, str, str]],
                                                            wav: bytes) -> None:
    server, _, (key, other, admin) = served
    with receive_callbacks(refuse=2) as receiver:
        callback = receiver.url.replace("://", "://hook:s3cret@") + "/done?token=abc"
        answer = httpx.post(f"{server.url}/v1/listen", params={"callback": callback, "callback_method": "put"},
                            content=wav, headers={"Authorization": f"Token {key}"})
        assert answer.status_code == 200, answer.text
        job_id = answer.json()["request_id"]
        assert answer.json() == {"request_id": job_id} and answer.headers["dg-request-id"] == job_id
        assert not receiver.deliveries  # answered before the job was transcribed, whatever the machine's speed
        job = _wait_for(server, job_id, key)
    assert job["status"] == "done" and job["attempts"] == 3 and job["error"] is None
    assert job["callback"] == f"{receiver.url}/done"  # neither the credentials nor the query
    assert [delivery.method for delivery in receiver.deliveries] == ["PUT"] * 3
    delivered = receiver.accepted[0]
    assert delivered.path == "/done?token=abc"
    assert delivered.headers["dg-token"] == _key_id(key)
    assert key not in json.dumps(delivered.headers) and delivered.headers["dg-request-id"] == job_id
    assert delivered.headers["authorization"] == "Basic " + base64.b64encode(b"hook:s3cret").decode()
    result = json.loads(delivered.body)
    assert result == job["result"] and result["metadata"]["request_id"] == job_id
    assert result["results"]["channels"][0]["alternatives"][0]["transcript"]
    for who in (other, "wa_nonsense"):  # another key (or none) cannot see the job
        assert httpx.get(f"{server.url}/v1/listen/jobs/{job_id}", headers={"Authorization": f"Token {who}"}
                         ).status_code in (401, 404)
    assert httpx.get(f"{server.url}/v1/listen/jobs/{job_id}", headers={"Authorization": f"Token {admin}"}
                     ).json()["status"] == "done"


def test_a_job_fails_visibly_when_every_attempt_is_refused(served: tuple[RunningServer, Path, tuple[str, str, str]],
                                                          wav: bytes) -> None:
    server, home, (key, _, _) = served
    with receive_callbacks(refuse=100) as receiver:
        answer = httpx.post(f"{server.url}/v1/listen", params={"callback": receiver.url, "format": "srt"},
                            content=wav, headers={"Authorization": f"Token {key}"})
        job = _wait_for(server, answer.json()["request_id"], key)
    assert job["status"] == "failed" and job["attempts"] == 4 and len(receiver.deliveries) == 4
    assert job["error"] == "the callback failed 4 times; last: the callback answered HTTP 500"
    assert receiver.deliveries[0].headers["content-type"].startswith("application/x-subrip")
    assert job["result"] == receiver.deliveries[0].body.decode() and "-->" in job["result"]
    assert not (home / "jobs" / job["request_id"]).exists()  # the audio went once transcribed


def test_bad_audio_is_delivered_as_an_error(served: tuple[RunningServer, Path, tuple[str, str, str]]) -> None:
    server, _, (key, _, _) = served
    with receive_callbacks() as receiver:
        answer = httpx.post(f"{server.url}/v1/listen", params={"callback": receiver.url}, content=b"not audio" * 100,
                            headers={"Authorization": f"Token {key}"})
        job = _wait_for(server, answer.json()["request_id"], key)
    assert job["status"] == "failed" and job["attempts"] == 1
    body = json.loads(receiver.deliveries[0].body)
    assert body["err_code"] == "Bad Request" and body["request_id"] == job["request_id"]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"callback": "http://10.1.2.3/hook"}, "callback's host 10.1.2.3 resolves to 10.1.2.3, a private"),
        ({"callback": "ftp://example.com/hook"}, "callback must be an http or https URL"),
        ({"callback": "http://127.0.0.1:8/x", "callback_method": "GET"}, "callback_method must be POST or PUT"),
    ],
)
def test_bad_callbacks_are_refused_before_anything_is_kept(served: tuple[RunningServer, Path, tuple[str, str, str]],
                                                           wav: bytes, params: dict[str, str], message: str) -> None:
    server, home, (key, _, _) = served
    answer = httpx.post(f"{server.url}/v1/listen", params=params, content=wav,
                        headers={"Authorization": f"Token {key}"})
    assert answer.status_code == 400 and message in answer.json()["err_msg"]
    assert not any((home / "jobs").glob("*/audio"))


def test_the_deepgram_sdk_gets_an_accepted_response(served: tuple[RunningServer, Path, tuple[str, str, str]],
                                                    wav: bytes) -> None:
    server, _, (key, _, _) = served
    client = DeepgramClient(api_key=key, environment=DeepgramClientEnvironment(
        base=server.url, production=server.url.replace("http", "ws"), agent=server.url, agent_rest=server.url))
    with receive_callbacks() as receiver:
        accepted = client.listen.v1.media.transcribe_file(request=wav, callback=receiver.url)
        job = _wait_for(server, accepted.request_id, key)
    assert job["status"] == "done" and len(receiver.accepted) == 1


def test_a_restarted_server_resumes_its_jobs(tmp_path: Path, micro_model: Path, wav: bytes) -> None:
    home = model_home(tmp_path / "home", micro_model)
    key, _, _ = _keys(home)
    slow = {**FAST_RETRIES, "WHISPER_API_CALLBACK_RETRY_SECONDS": "1"}
    with receive_callbacks(refuse=1) as receiver:
        with run_server(home, "--model", "micro", env=slow) as first:
            job_id = httpx.post(f"{first.url}/v1/listen", params={"callback": receiver.url}, content=wav,
                                headers={"Authorization": f"Token {key}"}).json()["request_id"]
            _wait_for(first, job_id, key, statuses=("delivering",))
            while not receiver.deliveries:
                time.sleep(0.05)
        # Stopped between the refused attempt and the next. Two more jobs wait in the table: one whose
        # audio is lost, one whose audio is in another server's spool folder (that server's to take up).
        store = JobStore(Database(f"sqlite:///{home / 'whisper-api.db'}"))
        for name, spool in (("lost-audio", home / "jobs"), ("elsewhere", tmp_path / "other-spool")):
            store.add(name, _key_id(key), "{}", str(spool / name / "audio"), "0" * 64, receiver.url, "POST")
        with run_server(home, "--model", "micro", env=slow) as second:
            job = _wait_for(second, job_id, key)
            lost = _wait_for(second, "lost-audio", key)
            elsewhere = httpx.get(f"{second.url}/v1/listen/jobs/elsewhere",
                                  headers={"Authorization": f"Token {key}"}).json()
    assert job["status"] == "done" and job["attempts"] == 2
    assert lost["status"] == "failed" and "audio was lost" in lost["error"]
    assert elsewhere["status"] == "queued"
    assert {json.loads(delivery.body)["err_msg"] for delivery in receiver.deliveries
            if b"err_msg" in delivery.body} == {lost["error"]}


def test_usage_counts_callback_jobs(served: tuple[RunningServer, Path, tuple[str, str, str]], wav: bytes) -> None:
    server, home, (_, other, _) = served
    with receive_callbacks() as receiver:
        job_id = httpx.post(f"{server.url}/v1/listen", params={"callback": receiver.url}, content=wav,
                            headers={"Authorization": f"Token {other}"}).json()["request_id"]
        _wait_for(server, job_id, other)
    [day] = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").usage(_key_id(other))
    assert day.requests == 1 and day.audio_seconds == pytest.approx(4.0, abs=0.05)




def test_each_step_of_a_job_is_claimed_by_one_run(tmp_path: Path) -> None:
    """What lets a job's task run again (a worker gone, a task sent twice) without doing anything twice."""
    jobs = JobStore(Database(f"sqlite:///{tmp_path / 'jobs.db'}"))
    jobs.add("job", None, "{}", str(tmp_path / "jobs" / "job" / "audio"), "0" * 64, "http://127.0.0.1:9/", "POST")
    assert jobs.advance("job", ("queued", "running"), status="running")
    assert jobs.advance("job", ("queued", "running"), status="delivering", result="{}")
    assert not jobs.advance("job", ("queued", "running"), status="running")  # stored: not transcribed again
    now = datetime.now(timezone.utc)
    assert jobs.claim_attempt("job", 0, now, now + timedelta(seconds=35))
    assert not jobs.claim_attempt("job", 0, now, now + timedelta(seconds=35))  # another run has it
    jobs.update("job", attempts=1, next_attempt_at=now + timedelta(seconds=60))
    assert not jobs.claim_attempt("job", 1, now, now + timedelta(seconds=35))  # not due yet
    assert jobs.claim_attempt("job", 1, now + timedelta(seconds=61), now + timedelta(seconds=96))
    assert [job.id for job in jobs.stale(now + timedelta(seconds=1))] == ["job"]
