"""API keys on real SQLite files: tokens, the store, the CLI, concurrency and crash safety."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.support.cli import run_cli
from whisper_api.errors import DatabaseError, InvalidOptionError, KeyNotFoundError, KeyStoreError
from whisper_api.jobs.store import JobStore
from whisper_api.keys import KeyStore, parse_expiry
from whisper_api.keys.store import Verification
from whisper_api.keys.tokens import new_token, parse_token
from whisper_api.settings import load_settings
from whisper_api.store.db import Database
from whisper_api.store.migrations import SCHEMA_VERSION

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db_url(home: Path) -> str:
    return load_settings().database_url


@pytest.fixture
def store(db_url: str) -> KeyStore:
    return KeyStore(db_url)


def db_files(home: Path) -> list[Path]:
    return sorted(home.glob("whisper-api.db*"))


def test_tokens_carry_256_random_bits_and_parse_back() -> None:
    token = new_token()
    assert token.text.startswith("wa_") and len(token.secret) == 43  # 32 bytes, URL-safe base64
    assert parse_token(token.text) == token
    assert new_token() != token
    for bad in ("", "wa_", "wa_123_abc", "sk_" + token.text[3:], token.text + "x", token.text[:-1]):
        assert parse_token(bad) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [("30d", NOW + timedelta(days=30)), ("12h", NOW + timedelta(hours=12)), ("2w", NOW + timedelta(weeks=2)),
     ("90m", NOW + timedelta(minutes=90)), ("2027-01-01", datetime(2027, 1, 1, tzinfo=timezone.utc)),
     ("2027-01-01T10:00:00+02:00", datetime(2027, 1, 1, 8, tzinfo=timezone.utc))],
)
def test_expiry_durations_and_dates(text: str, expected: datetime) -> None:
    assert parse_expiry(text, NOW) == expected


@pytest.mark.parametrize("text", ["3x", "soon", "-5d", "2020-01-01", "0d"])
def test_bad_or_past_expiry_is_refused(text: str) -> None:
    with pytest.raises(InvalidOptionError):
        parse_expiry(text, NOW)


def test_verify_accepts_good_keys_and_says_why_it_refuses_others(db_url: str) -> None:
    clock = Clock()
    store = KeyStore(db_url, clock)
    listener, listen_token = store.create("app", ("listen",), expires_at=NOW + timedelta(days=1))
    _, admin_token = store.create("ops", ("admin",))
    assert store.verify(listen_token.text).key == listener
    assert store.verify(listen_token.text, "admin").reason == "scope"
    assert store.verify(admin_token.text, "listen").ok  # admin keys may do everything
    assert store.verify("Token nonsense").reason == "malformed"
    assert store.verify(new_token().text).reason == "unknown"
    forged = listen_token.text[:-4] + "AAAA"  # right id, wrong secret
    assert store.verify(forged).reason == "unknown"
    clock.now = NOW + timedelta(days=1)
    assert store.verify(listen_token.text).reason == "expired"


def test_revocation_takes_effect_on_the_next_check_in_another_process_s_store(store: KeyStore, db_url: str) -> None:
    key, token = store.create("ci")
    server_side = KeyStore(db_url)  # what a running server holds
    assert server_side.verify(token.text).ok
    store.revoke(key.id)
    assert server_side.verify(token.text).reason == "revoked"
    assert store.revoke(key.id).revoked_at == store.get(key.id).revoked_at  # revoking twice changes nothing


def test_unknown_ids_and_scopes_are_errors(store: KeyStore) -> None:
    with pytest.raises(KeyNotFoundError, match="no key with id 'nope'"):
        store.get("nope")
    with pytest.raises(KeyNotFoundError):
        store.revoke("nope")
    with pytest.raises(KeyStoreError, match="unknown scope 'root'"):
        store.create("x", ("root",))


def test_usage_is_recorded(store: KeyStore) -> None:
    key, _ = store.create()
    store.record_usage(key.id, 2.5)
    store.record_usage(key.id, 1.0)
    used = store.get(key.id)
    assert (used.requests, used.audio_seconds) == (2, 3.5)
    assert used.last_used_at is not None


def test_verify_async_runs_off_the_event_loop(store: KeyStore, monkeypatch: pytest.MonkeyPatch) -> None:
    _, token = store.create()
    checked_on: list[threading.Thread] = []
    verify = store.verify

    def recording(text: str, scope: str = "listen") -> Verification:
        checked_on.append(threading.current_thread())
        return verify(text, scope)

    monkeypatch.setattr(store, "verify", recording)

    async def check() -> tuple[bool, threading.Thread]:
        return (await store.verify_async(token.text)).ok, threading.current_thread()

    ok, loop_thread = asyncio.run(check())
    assert ok and checked_on and checked_on[0] is not loop_thread


def test_the_database_file_is_private_and_never_holds_a_secret(store: KeyStore, home: Path) -> None:
    tokens = [store.create(f"k{i}")[1] for i in range(20)]
    for token in tokens:
        store.verify(token.text)
    files = db_files(home)
    assert [f.name for f in files] == ["whisper-api.db", "whisper-api.db-shm", "whisper-api.db-wal"]
    for path in files:
        assert path.stat().st_mode & 0o777 == 0o600
        content = path.read_bytes()
        for token in tokens:
            assert token.secret.encode() not in content
            assert token.text.encode() not in content


def test_cli_round_trip_never_shows_the_secret_again(db_url: str, home: Path) -> None:
    created = run_cli("keys", "create", "--name", "ci", "--expires", "30d")
    assert created.returncode == 0
    key = created.stdout.decode().strip()
    assert parse_token(key) is not None
    assert "only time" in created.stderr.decode() and key not in created.stderr.decode()
    key_id = parse_token(key).id  # type: ignore[union-attr]
    server_side = KeyStore(db_url)
    assert server_side.verify(key).ok
    outputs = [run_cli("keys", "list", env={"COLUMNS": "200"}), run_cli("keys", "list", "--json"),
               run_cli("keys", "show", key_id), run_cli("keys", "revoke", key_id)]
    for result in outputs:
        assert result.returncode == 0, result.stderr
        assert key_id in (result.stdout + result.stderr).decode()
        assert parse_token(key).secret not in (result.stdout + result.stderr).decode()  # type: ignore[union-attr]
    listed = json.loads(outputs[1].stdout.decode().splitlines()[0])
    assert (listed["name"], listed["scopes"], listed["status"]) == ("ci", ["listen"], "active")
    assert server_side.verify(key).reason == "revoked"
    assert "revoked" in run_cli("keys", "list", env={"COLUMNS": "200"}).stdout.decode()


def test_cli_json_create_for_scripts() -> None:
    data = json.loads(run_cli("keys", "create", "--scope", "admin", "--json").stdout)
    assert parse_token(data["key"]) is not None
    assert data["scopes"] == ["admin"] and data["expires"] is None


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["show", "nope"], {}, "error: no key with id 'nope'"),
        (["revoke", "nope"], {}, "error: no key with id 'nope'"),
        (["create", "--expires", "3x"], {}, "error: bad expiry '3x'"),
        (["create", "--scope", "root"], {}, "error: unknown scope 'root'"),
        (["list"], {"WHISPER_API_DATABASE_URL": "not a url"}, "error: the database URL is not a valid"),
    ],
)
def test_cli_errors_are_one_line(args: list[str], env: dict[str, str], message: str) -> None:
    result = run_cli("keys", *args, env=env)
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == [result.stderr.decode().strip()]
    assert result.stderr.decode().startswith(message)


def test_an_unwritable_database_is_a_one_line_error(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    for url in (f"sqlite:///{not_a_folder}/keys.db", f"sqlite:///{tmp_path}"):
        result = run_cli("keys", "list", env={"WHISPER_API_DATABASE_URL": url})
        assert result.returncode == 1
        [line] = result.stderr.decode().splitlines()
        assert line.startswith("error: cannot ")


def test_a_password_in_the_url_is_never_printed() -> None:
    result = run_cli("keys", "list", env={"WHISPER_API_DATABASE_URL": "postgresql+psycopg://u:hunter2@127.0.0.1:1/k"})
    assert result.returncode == 1
    assert "hunter2" not in result.stderr.decode() + result.stdout.decode()


WRITER = """
import sys
from whisper_api.keys import KeyStore
store = KeyStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    key, token = store.create(f"{sys.argv[3]}-{i}")
    store.record_usage(key.id, 0.5)
    print(token.text, flush=True)
"""


def test_two_processes_creating_keys_at_once(db_url: str) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, db_url, "40", name], stdout=subprocess.PIPE, text=True)
               for name in ("a", "b")]  # both start on a database that does not exist yet
    tokens = [line for writer in writers for line in writer.communicate(timeout=120)[0].split()]
    assert all(writer.returncode == 0 for writer in writers)
    store = KeyStore(db_url)
    assert len(store.list()) == len(tokens) == 80
    assert all(store.verify(token).ok for token in tokens)


def test_a_process_killed_mid_write_leaves_a_sound_database(db_url: str, home: Path) -> None:
    writer = subprocess.Popen([sys.executable, "-c", WRITER, db_url, "100000", "k"], stdout=subprocess.PIPE,
                              text=True)
    assert writer.stdout is not None
    for _ in range(50):  # let it get well into its writes
        writer.stdout.readline()
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    with sqlite3.connect(home / "whisper-api.db") as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    keys = KeyStore(db_url).list()
    assert len(keys) >= 50
    assert all(key.requests in (0, 1) for key in keys)


INCREMENTER = """
import sys
from whisper_api.keys import KeyStore
store = KeyStore(sys.argv[1])
for _ in range(int(sys.argv[3])):
    store.record_usage(sys.argv[2], 0.25)
"""


def test_concurrent_usage_increments_add_up_exactly(store: KeyStore, db_url: str) -> None:
    key, _ = store.create()
    processes = [subprocess.Popen([sys.executable, "-c", INCREMENTER, db_url, key.id, "60"]) for _ in range(2)]
    threads = [threading.Thread(target=lambda: [store.record_usage(key.id, 0.25) for _ in range(60)])
               for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(process.wait(120) == 0 for process in processes)
    used = store.get(key.id)
    assert (used.requests, used.audio_seconds) == (300, 75.0)


def test_a_database_from_a_newer_version_is_refused(store: KeyStore, db_url: str, home: Path) -> None:
    store.close()
    with sqlite3.connect(home / "whisper-api.db") as connection:
        assert connection.execute("SELECT version FROM whisper_api_schema").fetchone() == (SCHEMA_VERSION,)
        connection.execute("UPDATE whisper_api_schema SET version = 99")
    with pytest.raises(DatabaseError, match="schema version 99, newer than this whisper-api understands"):
        KeyStore(db_url)


def test_the_default_database_lives_in_home(home: Path) -> None:
    assert load_settings().database_url == f"sqlite:///{home / 'whisper-api.db'}"


def test_absurd_durations_are_refused() -> None:
    with pytest.raises(InvalidOptionError, match="too far"):
        parse_expiry("99999999999w", NOW)


OLD_JOB_COLUMNS = ("id VARCHAR(64) PRIMARY KEY, key_id VARCHAR(32), status VARCHAR(16), query TEXT, "
                   "audio_path VARCHAR(1000), sha256 VARCHAR(64), callback TEXT, callback_method VARCHAR(8), "
                   "result TEXT, result_type VARCHAR(100), error TEXT, delivery_error TEXT, attempts INTEGER, "
                   "next_attempt_at DATETIME, created_at DATETIME, updated_at DATETIME")
OLD_JOB = ("'old', NULL, 'queued', '{}', '/a', '', 'http://x', 'POST', NULL, NULL, NULL, NULL, 0, NULL, "
           "'2026-11-24 05:00:00', '2026-11-24 05:00:00'")


@pytest.mark.parametrize(("version", "extra_columns", "extra_values"), [
    (1, "", ""),  # schema 1: no leases yet
    (2, ", owner VARCHAR(64), lease_until DATETIME", ", 'server-1', NULL"),  # schema 2: job leases
])
def test_an_older_database_keeps_its_jobs_and_loses_the_lease_columns(home: Path, db_url: str, version: int,
                                                                      extra_columns: str, extra_values: str) -> None:
    home.mkdir(parents=True)
    with sqlite3.connect(home / "whisper-api.db") as connection:
        connection.execute("CREATE TABLE whisper_api_schema (id INTEGER PRIMARY KEY, version INTEGER NOT NULL)")
        connection.execute(f"INSERT INTO whisper_api_schema VALUES (1, {version})")
        connection.execute(f"CREATE TABLE listen_jobs ({OLD_JOB_COLUMNS}{extra_columns})")
        connection.execute(f"INSERT INTO listen_jobs VALUES ({OLD_JOB}{extra_values})")
    job = JobStore(Database(db_url)).get("old")
    assert (job.status, job.callback) == ("queued", "http://x")
    with sqlite3.connect(home / "whisper-api.db") as connection:
        assert connection.execute("SELECT version FROM whisper_api_schema").fetchone() == (SCHEMA_VERSION,)
        columns = {row[1] for row in connection.execute("PRAGMA table_info(listen_jobs)")}
    assert not columns & {"owner", "lease_until"}
