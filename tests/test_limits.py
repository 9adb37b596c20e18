"""Per-key limits and usage: the store, the CLI, and a real server refusing with 429 and recovering."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import httpx
import pytest
import websockets
from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment

from tests.support.audio_files import speechlike, write_wav
from tests.support.cli import run_cli
from tests.support.server import RunningServer, model_home, run_server
from whisper_api.errors import InvalidOptionError
from whisper_api.keys import KeyLimits, KeyStore
from whisper_api.server.deepgram.projects import PROJECT_ID


@pytest.fixture
def store(home: Path) -> KeyStore:
    return KeyStore(f"sqlite:///{home / 'whisper-api.db'}")


def test_limits_are_stored_changed_and_cleared(store: KeyStore) -> None:
    key, _ = store.create("k")
    assert store.get(key.id).limits == KeyLimits()
    limited = store.set_limits(key.id, KeyLimits(requests_per_minute=5, audio_minutes=1.5, quota_period="day"))
    assert limited.limits == KeyLimits(5, None, 1.5, "day") == store.list()[0].limits
    assert store.set_limits(key.id, KeyLimits()).limits == KeyLimits()
    with pytest.raises(InvalidOptionError, match="quota period"):
        KeyLimits(quota_period="week")


def test_quota_periods_are_utc_days_and_months() -> None:
    moment, new_year = datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc), datetime(2027, 1, 1, tzinfo=timezone.utc)
    assert KeyLimits(quota_period="day").period(moment) == (date(2026, 12, 31), new_year)
    assert KeyLimits().period(moment) == (date(2026, 12, 1), new_year)


def test_usage_is_kept_per_key_and_day(home: Path) -> None:
    days = iter([datetime(2026, 11, 1, 12, tzinfo=timezone.utc)] * 3 + [datetime(2026, 11, 2, tzinfo=timezone.utc)] * 9)
    store = KeyStore(f"sqlite:///{home / 'whisper-api.db'}", clock=lambda: next(days))
    key, _ = store.create("k")
    store.record_usage(key.id, 30.0)
    store.record_usage(key.id, 15.0)
    store.record_usage(key.id, 60.0)
    assert [(day.day.day, day.requests, day.audio_seconds) for day in store.usage(key.id)] == [(1, 2, 45.0),
                                                                                               (2, 1, 60.0)]
    assert store.audio_seconds_since(key.id, date(2026, 11, 2)) == 60.0
    assert store.get(key.id).requests == 3 and store.usage(first=date(2026, 11, 2))[0].day == date(2026, 11, 2)


def test_the_cli_sets_limits_and_prints_usage(store: KeyStore) -> None:
    key, _ = store.create("k")
    store.record_usage(key.id, 90.0)
    result = run_cli("keys", "limit", key.id, "--rpm", "10", "--quota-minutes", "60", "--period", "day")
    assert result.returncode == 0, result.stderr
    assert store.get(key.id).limits == KeyLimits(10, None, 60.0, "day")
    assert run_cli("keys", "limit", key.id, "--streams", "2").returncode == 0
    assert store.get(key.id).limits == KeyLimits(10, 2, 60.0, "day")  # what was not given is kept
    table = run_cli("keys", "usage", key.id, env={"COLUMNS": "120"}).stdout.decode()
    assert key.id in table and "1.50" in table and "total" in table
    [line] = run_cli("keys", "usage", "--json").stdout.decode().splitlines()
    assert json.loads(line) == {"key": key.id, "day": datetime.now(timezone.utc).date().isoformat(), "requests": 1,
                                "audio_seconds": 90.0}
    assert run_cli("keys", "usage", "--since", "2099-01-01", "--json").stdout == b""
    bad = run_cli("keys", "usage", "--since", "yesterday")
    assert bad.returncode == 1 and bad.stderr.decode().startswith("error: bad date 'yesterday'")
    assert run_cli("keys", "limit", key.id, "--clear").returncode == 0
    assert store.get(key.id).limits == KeyLimits()


class Limited:
    def __init__(self, server: RunningServer, store: KeyStore, admin: str, wav: bytes) -> None:
        self.server, self.store, self.admin, self.wav = server, store, admin, wav

    def key(self, limits: KeyLimits) -> str:
        key, token = self.store.create("limited")
        self.store.set_limits(key.id, limits)
        return token.text

    def listen(self, key: str) -> httpx.Response:
        return httpx.post(f"{self.server.url}/v1/listen", content=self.wav, headers={"Authorization": f"Token {key}"},
                          timeout=60)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Iterator[Limited]:
    home = model_home(tmp_path_factory.mktemp("limits"), micro_model)
    store = KeyStore(f"sqlite:///{home / 'whisper-api.db'}")
    admin = store.create("admin", ("admin",))[1].text
    wav = write_wav(tmp_path_factory.mktemp("audio") / "clip.wav", [speechlike(seconds_per_part=0.5)]).read_bytes()
    with run_server(home, "--model", "micro", env={"WHISPER_API_THREADS": "2"}) as server:
        yield Limited(server, store, admin, wav)


def test_requests_per_minute_are_refused_then_the_sdk_waits_and_succeeds(limited: Limited) -> None:
    key = limited.key(KeyLimits(requests_per_minute=2))
    assert [limited.listen(key).status_code for _ in range(2)] == [200, 200]
    refused = limited.listen(key)
    assert refused.status_code == 429 and refused.json()["err_code"] == "TOO_MANY_REQUESTS"
    assert "limit of 2 requests per minute" in refused.json()["err_msg"]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    url = limited.server.url
    client = DeepgramClient(api_key=key, environment=DeepgramClientEnvironment(
        base=url, production=url.replace("http", "ws"), agent=url, agent_rest=url))
    started = time.monotonic()
    response = client.listen.v1.media.transcribe_file(request=limited.wav)  # honours Retry-After, then retries
    assert response.metadata.request_id and time.monotonic() - started >= 1


def test_the_audio_quota_refuses_until_it_is_raised(limited: Limited) -> None:
    key = limited.key(KeyLimits(audio_minutes=0.05))  # 3 s; each request is 4 s of audio
    assert limited.listen(key).status_code == 200  # started under the quota: runs to its end
    refused = limited.listen(key)
    assert refused.status_code == 429 and "quota of 0.05 audio minutes per month" in refused.json()["err_msg"]
    now = datetime.now(timezone.utc)
    seconds_to_next_month = (KeyLimits().period(now)[1] - now).total_seconds()
    assert abs(int(refused.headers["retry-after"]) - seconds_to_next_month) < 60
    limited.store.set_limits(key[3:15], KeyLimits(audio_minutes=1))
    assert limited.listen(key).status_code == 200


def test_concurrent_streams_are_refused_until_one_ends(limited: Limited) -> None:
    key = limited.key(KeyLimits(concurrent_streams=1))
    url = limited.server.url.replace("http", "ws") + "/v1/listen?encoding=linear16&sample_rate=16000"
    headers = {"Authorization": f"Token {key}"}

    async def scenario() -> int:
        async with websockets.connect(url, additional_headers=headers) as first:
            with pytest.raises(websockets.InvalidStatus) as refused:
                async with websockets.connect(url, additional_headers=headers):
                    pass
            await first.send(json.dumps({"type": "CloseStream"}))
            async for _ in first:
                pass
        async with websockets.connect(url, additional_headers=headers) as again:
            await again.send(json.dumps({"type": "CloseStream"}))
            async for _ in again:
                pass
        return refused.value.response.status_code

    assert asyncio.run(scenario()) == 429


def test_project_usage_in_deepgram_s_shape(limited: Limited) -> None:
    key = limited.key(KeyLimits())
    for _ in range(2):
        assert limited.listen(key).status_code == 200
    today = datetime.now(timezone.utc).date().isoformat()
    headers = {"Authorization": f"Token {limited.admin}"}
    usage = httpx.get(f"{limited.server.url}/v1/projects/{PROJECT_ID}/usage", params={"accessor": key[3:15]},
                      headers=headers).json()
    assert usage["end"] == today and usage["resolution"] == {"units": "day", "amount": 1}
    assert usage["results"] == [{"start": today, "end": today, "hours": pytest.approx(8 / 3600, abs=1e-4),
                                 "total_hours": pytest.approx(8 / 3600, abs=1e-4), "requests": 2}]
    url = limited.server.url
    client = DeepgramClient(api_key=limited.admin, environment=DeepgramClientEnvironment(
        base=url, production=url.replace("http", "ws"), agent=url, agent_rest=url))
    summary = client.manage.v1.projects.usage.get(project_id=PROJECT_ID, start=today, end=today)
    assert summary.start == today and summary.resolution.units == "day"
    assert httpx.get(f"{url}/v1/projects/{PROJECT_ID}/usage", params={"start": "soon"}, headers=headers
                     ).status_code == 400
    assert httpx.get(f"{url}/v1/projects/{PROJECT_ID}/usage", headers={"Authorization": f"Token {key}"}
                     ).status_code == 403


def test_refusals_do_not_outlast_a_changed_limit(limited: Limited) -> None:
    key = limited.key(KeyLimits(requests_per_minute=0))
    assert limited.listen(key).status_code == 429
    limited.store.set_limits(key[3:15], KeyLimits())
    assert limited.listen(key).status_code == 200
