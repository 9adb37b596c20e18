"""``GET /metrics`` on a real server, scraped and parsed with prometheus-client's own parser."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from tests.support.audio_files import speechlike, write_wav
from tests.support.server import Live, RunningServer, model_home, run_server
from tests.test_live import PCM, SPEECH, chunks, converse


def scrape(server: RunningServer) -> tuple[str, dict[str, list[Sample]]]:
    response = httpx.get(f"{server.url}/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {family.name: family.samples for family in text_string_to_metric_families(response.text)}
    return response.text, families


def value(families: dict[str, list[Sample]], family: str, sample: str, **labels: str) -> float:
    return sum(item.value for item in families[family]
               if item.name == sample and all(item.labels.get(name) == wanted for name, wanted in labels.items()))


def test_a_scrape_counts_requests_audio_errors_queues_and_streams(live: Live) -> None:
    wav = write_wav(live.audio / "clip.wav", [speechlike(seconds_per_part=0.5)]).read_bytes()
    auth = {"Authorization": f"Token {live.key}"}
    assert httpx.post(f"{live.server.url}/v1/listen", content=wav, headers=auth, timeout=60).status_code == 200
    assert httpx.post(f"{live.server.url}/v1/listen", content=b"junk" * 50, headers=auth).status_code == 400
    assert httpx.get(f"{live.server.url}/v1/listen/jobs/nope", headers=auth).status_code == 404
    paced = list(itertools.chain.from_iterable((chunk, 0.02) for chunk in chunks(SPEECH)))
    talk = asyncio.run(converse(live, PCM + "&interim_results=true", [*paced, {"type": "CloseStream"}]))
    assert talk.finals()
    text, families = scrape(live.server)

    requests = "whisper_api_requests"
    assert value(families, requests, "whisper_api_requests_total", route="/v1/listen", method="POST", status="200") == 1
    assert value(families, requests, "whisper_api_requests_total", route="/v1/listen", method="POST", status="400") == 1
    assert value(families, requests, "whisper_api_requests_total", route="/v1/listen/jobs/{job_id}",
                 status="404") == 1
    assert value(families, requests, "whisper_api_requests_total", route="/v1/listen", method="WS", status="101") == 1
    assert value(families, "whisper_api_errors", "whisper_api_errors_total", code="Bad Request") == 1
    assert value(families, "whisper_api_errors", "whisper_api_errors_total", code="REQUEST_NOT_FOUND") == 1
    assert value(families, "whisper_api_audio_seconds", "whisper_api_audio_seconds_total",
                 source="rest") == pytest.approx(4.0, abs=0.05)
    assert value(families, "whisper_api_audio_seconds", "whisper_api_audio_seconds_total",
                 source="stream") == pytest.approx(12.0, abs=0.2)
    assert value(families, "whisper_api_real_time_factor", "whisper_api_real_time_factor_count") == 1
    assert value(families, "whisper_api_queue_wait_seconds", "whisper_api_queue_wait_seconds_count",
                 priority="batch") == 2  # the junk is found out on the worker, by the decoder
    assert value(families, "whisper_api_queue_wait_seconds", "whisper_api_queue_wait_seconds_count",
                 priority="live_final") >= 1
    assert value(families, "whisper_api_model_load_seconds", "whisper_api_model_load_seconds_count") == 1
    assert value(families, "whisper_api_stream_first_interim_seconds",
                 "whisper_api_stream_first_interim_seconds_count") == 1
    assert value(families, "whisper_api_stream_speech_end_to_final_seconds",
                 "whisper_api_stream_speech_end_to_final_seconds_count") >= 1
    for gauge in ("whisper_api_active_streams", "whisper_api_queue_depth", "whisper_api_workers_busy",
                  "whisper_api_callback_jobs_pending"):
        assert value(families, gauge, gauge) == 0
    assert live.key not in text and live.key[3:15] not in text  # no key, not even its id


def test_metrics_can_be_switched_off(tmp_path: Path, micro_model: Path) -> None:
    home = model_home(tmp_path / "home", micro_model)
    with run_server(home, "--model", "micro", "--no-auth", env={"WHISPER_API_METRICS": "false"}) as server:
        assert httpx.get(f"{server.url}/metrics").status_code == 404
