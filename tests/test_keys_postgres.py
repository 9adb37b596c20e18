"""The key store on a real PostgreSQL server: the setup for several servers sharing keys."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.support.postgres import postgres_bin, temporary_postgres
from whisper_api.keys import KeyStore


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
    second.revoke(key.id)
    assert first.verify(token.text).reason == "revoked"
    assert [k.id for k in first.list()] == [key.id]


def test_the_password_never_shows(postgres_url: str) -> None:
    store = KeyStore(postgres_url.replace("whisper@", "whisper:hunter2@"))
    assert "hunter2" not in store.display_url
