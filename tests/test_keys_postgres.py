"""The key store on a real PostgreSQL server: the setup for several servers sharing keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.postgres import postgres_bin, temporary_postgres
from whisper_api.jobs.store import DELIVERING, DONE, QUEUED, RUNNING, JobStore
from whisper_api.keys import KeyLimits, KeyStore
from whisper_api.store.db import Database


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed")
    pytest.importorskip("psycopg")
    with temporary_postgres(bindir) as url:
        yield url


def test_two_servers_share_keys_revocations_and_counters(postgres_url: str) -> None:
    first, second = KeyStore(postgres_url), KeyStore(postgres_url)  # as two servers would
    key, token = first.create("shared", ("listen",))
    assert second.verify(token.text).ok
    threads = [threading.Thread(target=lambda store=store: [store.record_usage(key.id, 0.5) for _ in range(25)])
               for store in (first, second) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    used = second.get(key.id)
    assert (used.requests, used.audio_seconds) == (100, 50.0)
    [today] = first.usage(key.id)  # four writers raced to create the day's row; none lost a request
    assert (today.requests, today.audio_seconds) == (100, 50.0)
    second.revoke(key.id)
    assert first.verify(token.text).reason == "revoked"
    assert [k.id for k in first.list()] == [key.id]


def test_the_password_never_shows(postgres_url: str) -> None:
    store = KeyStore(postgres_url.replace("whisper@", "whisper:hunter2@"))
    assert "hunter2" not in store.display_url


def test_limits_and_callback_jobs_live_in_the_shared_database(postgres_url: str) -> None:
    store = KeyStore(postgres_url)
    key, _ = store.create("limited")
    store.set_limits(key.id, KeyLimits(requests_per_minute=5, audio_minutes=10.0))
    assert KeyStore(postgres_url).get(key.id).limits == KeyLimits(5, None, 10.0, "month")
    jobs = JobStore(Database(postgres_url))
    jobs.add("job-1", key.id, "{}", "/srv/a/jobs/job-1/audio", "0" * 64, "https://example.com/hook", "POST")
    assert [job.id for job in jobs.unfinished(Path("/srv/a/jobs"))] == ["job-1"]
    assert not jobs.unfinished(Path("/srv/b/jobs"))
    assert jobs.advance("job-1", (QUEUED, RUNNING), status=DELIVERING, result="{}")
    assert not jobs.advance("job-1", (QUEUED, RUNNING), status=DELIVERING)  # a second run finds it stored
    now = datetime.now(timezone.utc)
    assert jobs.claim_attempt("job-1", 0, now, now + timedelta(seconds=35))
    assert not jobs.claim_attempt("job-1", 0, now, now + timedelta(seconds=35))  # one run makes each attempt
    finished = jobs.update("job-1", status=DONE, attempts=1, result='{"ok": true}')
    assert (finished.status, finished.attempts) == (DONE, 1)
    assert jobs.prune(finished.updated_at) == 0 and jobs.prune(finished.updated_at + timedelta(seconds=1)) == 1
