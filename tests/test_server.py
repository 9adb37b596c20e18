"""The Deepgram-compatible server, as a real process, with the official SDK and raw HTTP clients."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import numpy as np
import pytest
from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment

from tests.support.audio_files import convert, long_silence, noise, speechlike, write_wav
from tests.support.http_server import ServedFiles, serve
from tests.support.server import RunningServer, model_home, run_server
from whisper_api.keys import KeyStore
from whisper_api.settings import load_settings


@dataclass(frozen=True)
class Keys:
    listen: str
    admin: str
    revoked: str
    expired: str


@dataclass(frozen=True)
class Setup:
    server: RunningServer
    keys: Keys
    home: Path
    wav: bytes
    stereo: bytes


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Iterator[Setup]:
    home = tmp_path_factory.mktemp("server-home")
    (home / "models").mkdir()
    shutil.copyfile(micro_model, home / "models" / "ggml-micro.bin")
    store = KeyStore(f"sqlite:///{home / 'whisper-api.db'}")
    listen, admin, revoked = (store.create(name, scopes)[1].text
                              for name, scopes in (("l", ("listen",)), ("a", ("admin",)), ("r", ("listen",))))
    store.revoke(revoked[3:15])
    past = datetime.now(timezone.utc) - timedelta(days=2)
    expired = KeyStore(f"sqlite:///{home / 'whisper-api.db'}", clock=lambda: past).create(
        "e", expires_at=past + timedelta(days=1))[1].text
    audio = tmp_path_factory.mktemp("server-audio")
    wav = write_wav(audio / "clip.wav", [speechlike()]).read_bytes()
    stereo = write_wav(audio / "stereo.wav", [speechlike(seed=1), noise(10.0, seed=7)]).read_bytes()
    env = {"WHISPER_API_MAX_UPLOAD_MB": "5", "WHISPER_API_ALLOWED_HOSTS": "127.0.0.1/32",
           "WHISPER_API_QUEUE_SIZE": "1", "WHISPER_API_THREADS": "2"}
    with run_server(home, "--model", "micro", env=env) as server:
        yield Setup(server, Keys(listen, admin, revoked, expired), home, wav, stereo)


def client(setup: Setup, key: str | None = None, token: str | None = None) -> DeepgramClient:
    env = DeepgramClientEnvironment(base=setup.server.url, production=setup.server.url.replace("http", "ws"),
                                    agent=setup.server.url.replace("http", "ws"), agent_rest=setup.server.url)
    if token:
        return DeepgramClient(access_token=token, environment=env)
    return DeepgramClient(api_key=key or setup.keys.listen, environment=env)


def post(setup: Setup, body: bytes | None = None, key: str | None = "listen", query: str = "",
         **kwargs: object) -> httpx.Response:
    headers = {"Authorization": f"Token {getattr(setup.keys, key)}"} if key else {}
    headers.update(kwargs.pop("headers", {}))  # type: ignore[arg-type]
    kwargs.setdefault("timeout", 120)
    return httpx.post(f"{setup.server.url}/v1/listen{query}", content=body, headers=headers,
                      **kwargs)  # type: ignore[arg-type]


def assert_healthy(setup: Setup) -> None:
    assert httpx.get(f"{setup.server.url}/healthz").json() == {"status": "ok"}


# -- the official SDK ------------------------------------------------------------------------------

def test_sdk_transcribe_file_parses_into_the_response_type(setup: Setup) -> None:
    response = client(setup).listen.v1.media.transcribe_file(request=setup.wav, model="nova-3", smart_format=True)
    assert type(response).__name__ == "ListenV1Response"
    metadata = response.metadata
    for field in ("request_id", "sha256", "created", "duration", "channels", "models", "model_info"):
        assert getattr(metadata, field) is not None, field
    assert metadata.duration == 10.0 and metadata.channels == 1
    alternative = response.results.channels[0].alternatives[0]
    assert alternative.transcript is not None and alternative.words is not None


def test_sdk_transcribe_url_from_a_trusted_local_host(setup: Setup) -> None:
    with serve(ServedFiles({"/clip.wav": setup.wav})) as url:
        response = client(setup).listen.v1.media.transcribe_url(url=f"{url}/clip.wav", punctuate=True)
    assert type(response).__name__ == "ListenV1Response"
    assert response.metadata.duration == 10.0


def test_sdk_temporary_token_works_as_access_token(setup: Setup) -> None:
    grant = client(setup).auth.v1.tokens.grant(ttl_seconds=60)
    assert grant.expires_in == 60 and grant.access_token
    response = client(setup, token=grant.access_token).listen.v1.media.transcribe_file(request=setup.wav)
    assert type(response).__name__ == "ListenV1Response"


def test_sdk_lists_models(setup: Setup) -> None:
    models = client(setup).manage.v1.models.list()
    assert [model.name for model in models.stt] == ["micro"]
    assert "en" in models.stt[0].languages


# -- errors, as raw requests ---------------------------------------------------------------------

@pytest.mark.parametrize(
    ("case", "status", "err_code"),
    [
        ("no auth", 401, "INVALID_AUTH"),
        ("corrupt audio", 400, "Bad Request"),
        ("zero bytes", 400, "Bad Request"),
        ("oversized body", 413, "PAYLOAD_TOO_LARGE"),
        ("unknown language", 400, "Bad Request"),
    ],
)
def test_error_cases(setup: Setup, case: str, status: int, err_code: str) -> None:
    """On a real server (the refusals that need no audio run in-process: tests/unit/test_requests.py)."""
    requests = {
        "no auth": lambda: post(setup, setup.wav, key=None),
        "corrupt audio": lambda: post(setup, b"\x00garbage" * 500),
        "zero bytes": lambda: post(setup, b""),
        "oversized body": lambda: post(setup, b"\x00" * 6_000_000),
        "unknown language": lambda: post(setup, setup.wav, query="?language=xx"),
    }
    response = requests[case]()
    assert response.status_code == status, response.text
    body = response.json()
    assert body["err_code"] == err_code and body["err_msg"]
    assert body["request_id"] == response.headers["dg-request-id"]
    assert_healthy(setup)


def test_unknown_parameters_are_ignored(setup: Setup) -> None:
    response = post(setup, setup.wav, query="?tier=nova&alternatives=2&no_delay=true&summarize=v2&topics=true")
    assert response.status_code == 200


# -- parameters ----------------------------------------------------------------------------------

def listen_json(setup: Setup, query: str, body: bytes | None = None) -> dict:  # type: ignore[type-arg]
    response = post(setup, body or setup.wav, query=query)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_punctuate_and_smart_format_switch_punctuated_words(setup: Setup) -> None:
    plain_words = listen_json(setup, "")["results"]["channels"][0]["alternatives"][0]["words"]
    assert all("punctuated_word" not in word for word in plain_words)
    for flag in ("punctuate", "smart_format"):
        words = listen_json(setup, f"?{flag}=true")["results"]["channels"][0]["alternatives"][0]["words"]
        assert all("punctuated_word" in word for word in words)


def test_utterances_paragraphs_search_replace_tags(setup: Setup) -> None:
    body = listen_json(setup, "?utterances=true&paragraphs=true&search=hello&replace=a:b&tag=one&tag=two"
                              "&extra=team:asr&detect_language=true")
    assert isinstance(body["results"]["utterances"], list)
    channel = body["results"]["channels"][0]
    assert "paragraphs" in channel["alternatives"][0]
    assert channel["search"][0]["query"] == "hello"
    assert channel["detected_language"]
    assert body["metadata"]["tags"] == ["one", "two"] and body["metadata"]["extra"] == {"team": "asr"}


def test_multichannel_on_a_stereo_file(setup: Setup) -> None:
    body = listen_json(setup, "?multichannel=true&utterances=true", setup.stereo)
    assert body["metadata"]["channels"] == 2
    assert len(body["results"]["channels"]) == 2


def test_headerless_linear16_with_encoding_and_sample_rate(setup: Setup) -> None:
    pcm = (np.clip(speechlike(), -1, 1) * 32767).astype("<i2").tobytes()
    body = listen_json(setup, "?encoding=linear16&sample_rate=16000&channels=1", pcm)
    assert body["metadata"]["duration"] == 10.0


def test_chunked_upload_without_content_length(setup: Setup) -> None:
    def chunks() -> Iterator[bytes]:
        for start in range(0, len(setup.wav), 4096):
            yield setup.wav[start:start + 4096]

    response = post(setup, chunks())  # type: ignore[arg-type]
    assert response.status_code == 200
    assert response.json()["metadata"]["duration"] == 10.0


def test_sha256_and_usage_are_recorded(setup: Setup) -> None:
    import hashlib

    store = KeyStore(f"sqlite:///{setup.home / 'whisper-api.db'}")
    before = store.get(setup.keys.admin[3:15]).requests
    body = post(setup, setup.wav, key="admin").json()
    assert body["metadata"]["sha256"] == hashlib.sha256(setup.wav).hexdigest()
    used = store.get(setup.keys.admin[3:15])
    assert used.requests == before + 1 and used.audio_seconds >= 10.0


# -- overload and disconnects --------------------------------------------------------------------

def long_opus(setup: Setup, seconds: float) -> bytes:
    """Minutes of noise, compressed to stay under the server's 5 MB upload limit."""
    wav = write_wav(setup.home / f"long-{seconds:g}.wav", [noise(seconds, seed=int(seconds))])
    return convert(wav, wav.with_suffix(".ogg"), "-c:a", "libopus", "-b:a", "16k").read_bytes()


def test_overload_gives_429_with_retry_after_and_no_5xx(setup: Setup) -> None:
    long_clip = long_opus(setup, 45.0)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(timeout=300) as http:
            headers = {"Authorization": f"Token {setup.keys.listen}"}
            return await asyncio.gather(*(http.post(f"{setup.server.url}/v1/listen", content=long_clip,
                                                    headers=headers) for _ in range(5)))

    responses = asyncio.run(burst())
    statuses = sorted(response.status_code for response in responses)
    assert 429 in statuses and 200 in statuses
    assert all(status in (200, 429) for status in statuses)
    for response in responses:
        if response.status_code == 429:
            assert int(response.headers["Retry-After"]) >= 1
            assert response.json()["err_code"] == "TOO_MANY_REQUESTS"


def test_a_client_that_disconnects_cancels_its_job(setup: Setup, tmp_path: Path) -> None:
    with pytest.raises(httpx.ReadTimeout):  # an hour of audio: minutes of work on any machine
        post(setup, long_silence(tmp_path / "hour.flac").read_bytes(), timeout=httpx.Timeout(60, read=3))
    deadline = time.monotonic() + 60
    while " 499 " not in setup.server.log_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert " 499 " in setup.server.log_text()
    assert post(setup, setup.wav).status_code == 200  # the worker is free again


def test_readiness_and_the_startup_line(setup: Setup) -> None:
    assert httpx.get(f"{setup.server.url}/readyz").json()["status"] == "ready"
    log = setup.server.log_text()
    assert "whisper-api serving on http://127.0.0.1:" in log and "model: micro" in log and "auth: API keys" in log
    for key in (setup.keys.listen, setup.keys.admin):
        assert key[15:] not in log  # no secret in any log line


def test_the_default_model_must_exist_before_serving(tmp_path: Path) -> None:
    from tests.support.cli import run_cli

    result = run_cli("serve", "--port", "1", env={"WHISPER_API_HOME": str(tmp_path)})
    assert result.returncode == 1
    assert "whisper-api models download base" in result.stderr.decode()


def test_a_busy_port_is_one_line_and_exit_1_before_anything_loads(tmp_path: Path, micro_model: Path) -> None:
    from tests.support.cli import run_cli

    home = model_home(tmp_path / "home", micro_model)
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--model", "micro", env={"WHISPER_API_HOME": str(home)})
    assert result.returncode == 1
    output = (result.stdout + result.stderr).decode()
    assert output.strip() == f"error: cannot listen on 127.0.0.1:{port}: another program is listening there; " \
        "choose another with --port"


def test_settings_know_the_server_defaults() -> None:
    settings = load_settings()
    assert (settings.host, settings.port, settings.workers, settings.no_auth) == ("127.0.0.1", 7860, 1, False)


# -- management ----------------------------------------------------------------------------------

def test_sdk_manages_keys_with_an_admin_key(setup: Setup) -> None:
    manage = client(setup, key=setup.keys.admin).manage.v1
    [project] = manage.projects.list().projects
    created = manage.projects.keys.create(project.project_id, request={"comment": "from-sdk", "scopes": ["member"]})
    key = created.key if hasattr(created, "key") else created["key"]  # type: ignore[index]
    assert post(setup, setup.wav, key=None, headers={"Authorization": f"Token {key}"}).status_code == 200
    listed = manage.projects.keys.list(project.project_id)
    ids = [item.api_key.api_key_id for item in listed.api_keys]
    key_id = key[3:15]
    assert key_id in ids
    assert manage.projects.keys.get(project.project_id, key_id).item.member.api_key.comment == "from-sdk"
    manage.projects.keys.delete(project.project_id, key_id)
    assert post(setup, setup.wav, key=None, headers={"Authorization": f"Token {key}"}).status_code == 401


def test_a_redirect_to_a_private_address_is_refused(setup: Setup) -> None:
    served = ServedFiles({"/clip.wav": setup.wav}, redirects={"/moved.wav": "http://[::1]:9/clip.wav"})
    with serve(served) as url:
        response = post(setup, f'{{"url": "{url}/moved.wav"}}'.encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert "private or local address" in response.json()["err_msg"]
    assert served.requests == [("/moved.wav", None)]  # the redirect target was never contacted


# -- limits, on a server without authentication ---------------------------------------------------

@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("open-home")
    (home / "models").mkdir()
    shutil.copyfile(micro_model, home / "models" / "ggml-micro.bin")
    env = {"WHISPER_API_MAX_AUDIO_MINUTES": "1", "WHISPER_API_THREADS": "2"}
    with run_server(home, "--model", "micro", "--no-auth", env=env) as server:
        yield server


def opus(tmp_path: Path, seconds: float) -> bytes:
    wav = write_wav(tmp_path / "clip.wav", [noise(seconds, seed=3)])
    return convert(wav, tmp_path / "clip.ogg", "-c:a", "libopus", "-b:a", "16k").read_bytes()


def test_no_auth_accepts_requests_without_a_key_and_says_so(open_server: RunningServer, tmp_path: Path) -> None:
    response = httpx.post(f"{open_server.url}/v1/listen", content=opus(tmp_path, 2.0), timeout=60)
    assert response.status_code == 200
    assert "authentication is off" in open_server.log_text()


def test_audio_over_the_length_limit_is_refused(open_server: RunningServer, tmp_path: Path) -> None:
    response = httpx.post(f"{open_server.url}/v1/listen", content=opus(tmp_path, 70.0), timeout=60)
    assert response.status_code == 400
    assert "longer than 60 seconds" in response.json()["err_msg"]


def test_a_transcription_past_the_timeout_is_504(tmp_path: Path, micro_model: Path) -> None:
    # An hour of audio takes minutes on one thread, a second of it a fraction of one: 10 s sits safely
    # between them on any machine, busy or not.
    home = model_home(tmp_path / "home", micro_model)
    env = {"WHISPER_API_REQUEST_TIMEOUT": "10", "WHISPER_API_THREADS": "1"}
    with run_server(home, "--model", "micro", "--no-auth", env=env) as server:
        response = httpx.post(f"{server.url}/v1/listen", content=long_silence(tmp_path / "hour.flac").read_bytes(),
                              timeout=120)
        assert response.status_code == 504
        assert response.json()["err_code"] == "GATEWAY_TIMEOUT"
        assert httpx.post(f"{server.url}/v1/listen", content=opus(tmp_path, 1.0), timeout=60).status_code == 200


# -- hostile or odd input ------------------------------------------------------------------------

def test_bcp47_languages_are_understood(setup: Setup) -> None:
    assert post(setup, setup.wav, query="?language=en-US").status_code == 200


def test_a_model_that_fails_to_load_gives_503_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "ggml-broken.bin").write_bytes(b"lmgg" + b"\x00" * 100)
    with run_server(tmp_path, "--model", "broken", "--no-auth", ready_path="/healthz") as server:
        deadline = time.monotonic() + 30
        while "model: loading" in httpx.get(f"{server.url}/readyz").text and time.monotonic() < deadline:
            time.sleep(0.1)
        readiness = httpx.get(f"{server.url}/readyz")
        assert readiness.status_code == 503
        assert readiness.json()["problems"] == ["model: failed to load (see the server log)"]
        response = httpx.post(f"{server.url}/v1/listen", content=b"RIFF....", timeout=30)
        assert response.status_code == 503


# -- captions over the API (our format= extension) ------------------------------------------------

def test_format_srt_vtt_and_text_are_caption_files(setup: Setup) -> None:
    import io

    import srt
    import webvtt

    as_srt = post(setup, setup.wav, query="?format=srt")
    assert as_srt.status_code == 200 and as_srt.headers["content-type"].startswith("application/x-subrip")
    subtitles = list(srt.parse(as_srt.text))
    assert subtitles and all(cue.end > cue.start for cue in subtitles)
    as_vtt = post(setup, setup.wav, query="?format=vtt")
    assert as_vtt.headers["content-type"].startswith("text/vtt") and as_vtt.headers["dg-request-id"]
    captions = webvtt.from_buffer(io.StringIO(as_vtt.text))  # random weights: the words differ per request
    assert len(captions) > 0 and all(caption.text for caption in captions)
    as_text = post(setup, setup.wav, query="?format=text")
    assert as_text.headers["content-type"].startswith("text/plain") and as_text.text.strip()
    assert "results" in post(setup, setup.wav, query="?format=json").json()

