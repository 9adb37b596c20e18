"""The real server against hostile clients: playlists naming server files, amplification headers,
long and CR/LF parameters, slow, oversized and abandoned bodies, idle streams. None may get a 5xx,
read a file it was not sent, or hold what it no longer needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families

from tests.security.corpus import CANARY_SECONDS, canary, playlists, wav_declaring
from tests.support.audio_files import long_silence, speechlike, write_wav
from tests.support.http_server import ServedFiles, serve
from tests.support.server import RunningServer, run_server
from whisper_api.keys import KeyStore

UPLOAD_MB = 5


@dataclass(frozen=True)
class Target:
    server: RunningServer
    key: str
    home: Path
    folder: Path
    """Files on the server's machine that no request may read (the canary) and test audio."""
    wav: bytes

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.key}"}

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.url.removeprefix("http://").split(":")
        return host, int(port)

    def post(self, body: bytes, query: str = "", **kwargs: object) -> httpx.Response:
        kwargs.setdefault("timeout", 120)
        return httpx.post(f"{self.server.url}/v1/listen{query}", content=body,
                          headers={**self.headers, **kwargs.pop("headers", {})},  # type: ignore[dict-item]
                          **kwargs)  # type: ignore[arg-type]

    def metric(self, name: str) -> float:
        scrape = httpx.get(f"{self.server.url}/metrics").text
        return sum(sample.value for family in text_string_to_metric_families(scrape)
                   for sample in family.samples if sample.name == name)


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Iterator[Target]:
    """One worker, a small queue, a 5 MB upload limit, a 2 s body timeout and 2 live streams; the model
    given by its path, which no response may show."""
    home, folder = tmp_path_factory.mktemp("hostile-home"), tmp_path_factory.mktemp("server-files")
    model = shutil.copyfile(micro_model, folder / "ggml-micro.bin")
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("k", ("listen",))[1].text
    wav = write_wav(folder / "clip.wav", [speechlike()]).read_bytes()
    env = {"WHISPER_API_MAX_UPLOAD_MB": str(UPLOAD_MB), "WHISPER_API_ALLOWED_HOSTS": "127.0.0.1/32",
           "WHISPER_API_QUEUE_SIZE": "2", "WHISPER_API_THREADS": "2", "WHISPER_API_BODY_TIMEOUT": "2",
           "WHISPER_API_MAX_STREAMS": "2"}
    with run_server(home, "--model", str(model), env=env) as server:
        yield Target(server, key, home, folder, wav)


def assert_refused(response: httpx.Response) -> None:
    assert response.status_code == 400, response.text
    assert str(CANARY_SECONDS) not in response.text


# -- 1. media that names other files ---------------------------------------------------------------

@pytest.mark.parametrize("kind", list(playlists(Path("canary.m4a"))))
def test_a_playlist_never_makes_the_server_read_a_file(target: Target, kind: str) -> None:
    manifest = playlists(canary(target.folder))[kind]
    assert_refused(target.post(manifest))
    with serve(ServedFiles({"/list": manifest})) as base:
        assert_refused(target.post(json.dumps({"url": f"{base}/list"}).encode(),
                                   headers={"Content-Type": "application/json"}))
    openai = httpx.post(f"{target.server.url}/v1/audio/transcriptions", headers=target.headers, timeout=120,
                        files={"file": ("list.mpd", manifest)}, data={"model": "whisper-1"})
    assert openai.status_code == 400
    assert str(CANARY_SECONDS) not in openai.text


# -- 2. decode amplification -----------------------------------------------------------------------

def test_a_tiny_file_claiming_ten_hours_is_refused_before_decoding(target: Target) -> None:
    assert target.post(wav_declaring(1, 36_000)).status_code == 400
    raw = target.post(bytes(2048), "?encoding=linear16&sample_rate=1")
    assert raw.status_code == 400
    assert raw.json()["err_code"] == "INVALID_QUERY_PARAMETER"
    assert "sample_rate" in raw.json()["err_msg"]


# -- 4 and 5. parameters that must not reach the file system or a header ---------------------------

def test_a_very_long_model_name_is_a_400_with_deepgrams_body(target: Target) -> None:
    response = target.post(target.wav, "?model=" + "m" * 5000)
    assert response.status_code == 400
    assert "No such model" in response.json()["err_msg"]
    assert "m" * 200 not in response.text


def ws_refusal(target: Target, query: str) -> websockets.InvalidStatus:
    async def connect() -> None:
        async with websockets.connect(f"{target.server.url.replace('http', 'ws')}/v1/listen{query}",
                                      additional_headers=target.headers):
            pass

    with pytest.raises(websockets.InvalidStatus) as refused:
        asyncio.run(connect())
    return refused.value


def test_websocket_refusals_carry_a_body_and_a_clean_header(target: Target) -> None:
    long_name = ws_refusal(target, "?model=" + "m" * 5000).response
    assert long_name.status_code == 400
    assert "No such model" in json.loads(long_name.body or b"{}")["err_msg"]
    injected = ws_refusal(target, "?model=whisper-x%0d%0aX-Injected:%201").response
    assert injected.status_code == 400
    assert "x-injected" not in {name.lower() for name in injected.headers}
    assert re.fullmatch(r"[ -~]*", injected.headers["dg-error"])


# -- 6. bodies: declared too large, too slow, too long ------------------------------------------------

def raw_request(target: Target, head: str, body: bytes = b"") -> tuple[bytes, bool]:
    """Send a request by hand; returns the response bytes and whether the server then closed."""
    with socket.create_connection(target.address, timeout=60) as connection:
        connection.sendall(head.encode() + b"\r\n" + body)
        response = b""
        while b"\r\n\r\n" not in response or not _complete(response):
            chunk = connection.recv(65536)
            if not chunk:
                return response, True
            response += chunk
        connection.settimeout(30)
        try:
            return response, connection.recv(1) == b""
        except (TimeoutError, ConnectionResetError):
            return response, False


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    length = re.search(rb"(?i)content-length: (\d+)", head)
    return length is not None and len(body) >= int(length.group(1))


def head(target: Target, *lines: str) -> str:
    host, port = target.address
    return "\r\n".join(["POST /v1/listen HTTP/1.1", f"Host: {host}:{port}", f"Authorization: Token {target.key}",
                        *lines, ""])


def test_a_declared_length_over_the_limit_is_refused_before_reading(target: Target) -> None:
    response, closed = raw_request(target, head(target, "Content-Length: 1000000000000"), b"x")
    assert response.startswith(b"HTTP/1.1 413")
    assert b"PAYLOAD_TOO_LARGE" in response
    assert closed


def test_a_body_that_stops_arriving_times_out_and_is_closed(target: Target) -> None:
    response, closed = raw_request(target, head(target, "Content-Length: 100000"), b"RIFF")
    assert response.startswith(b"HTTP/1.1 408")
    assert b"REQUEST_TIMEOUT" in response
    assert closed


def test_an_oversized_chunked_body_stops_being_read(target: Target) -> None:
    chunk, sent = b"%x\r\n%s\r\n" % (1 << 20, b"\0" * (1 << 20)), 0
    with socket.create_connection(target.address, timeout=60) as connection:
        connection.sendall(head(target, "Transfer-Encoding: chunked").encode() + b"\r\n")
        with contextlib.suppress(OSError):  # the server answered 413 and closed: sending fails
            while sent < 4 * UPLOAD_MB:
                connection.sendall(chunk)
                sent += 1
    assert sent < 4 * UPLOAD_MB
    assert until(lambda: " POST /v1/listen 413 " in target.server.log_text())


# -- 3 and 7. clients that leave ------------------------------------------------------------------

def until(condition: Callable[[], bool], seconds: float = 60.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def test_an_upload_abandoned_halfway_is_a_499_not_a_server_error(target: Target) -> None:
    with socket.create_connection(target.address, timeout=60) as connection:
        connection.sendall(head(target, "Content-Length: 1000000").encode() + b"\r\n" + target.wav[:1000])
        time.sleep(0.5)
    assert until(lambda: " POST /v1/listen 499 " in target.server.log_text())
    assert " POST /v1/listen 500 " not in target.server.log_text()


@pytest.fixture(scope="module")
def hour_of_silence(target: Target) -> bytes:
    """An hour of audio in 0.7 MB: a job that holds the worker for minutes."""
    return long_silence(target.folder / "hour.flac").read_bytes()


def hold_the_worker(target: Target, audio: bytes) -> socket.socket:
    """Start a long transcription on a raw connection: closing it is the client leaving."""
    connection = socket.create_connection(target.address, timeout=60)
    connection.sendall(head(target, f"Content-Length: {len(audio)}").encode() + b"\r\n" + audio)
    assert until(lambda: target.metric("whisper_api_workers_busy") == 1)
    return connection


def test_waiting_requests_leave_the_queue_the_moment_their_client_does(target: Target,
                                                                       hour_of_silence: bytes) -> None:
    running = hold_the_worker(target, hour_of_silence)
    try:
        waiting = [socket.create_connection(target.address, timeout=60) for _ in range(2)]
        for connection in waiting:
            connection.sendall(head(target, f"Content-Length: {len(target.wav)}").encode() + b"\r\n" + target.wav)
        assert until(lambda: target.metric("whisper_api_queue_depth") == 2)
        full = target.post(target.wav)  # the queue is full: refused with a wait an SDK will honour
        assert full.status_code == 429
        assert 1 <= int(full.headers["Retry-After"]) <= 60
        for connection in waiting:
            connection.close()
        assert until(lambda: target.metric("whisper_api_queue_depth") == 0, seconds=10)
        assert target.metric("whisper_api_workers_busy") == 1  # the hour-long job is still running
    finally:
        running.close()
    assert until(lambda: target.metric("whisper_api_workers_busy") == 0)  # it stopped when its client left
    assert target.post(target.wav).status_code == 200
    log = target.server.log_text()
    assert "never retrieved" not in log and "Traceback" not in log


# -- 8. live streams ----------------------------------------------------------------------------------

def test_the_server_caps_live_streams_and_echoes_little(target: Target) -> None:
    url = f"{target.server.url.replace('http', 'ws')}/v1/listen?encoding=linear16&sample_rate=16000"

    async def scenario() -> tuple[int, str, dict[str, object]]:
        async with websockets.connect(url, additional_headers=target.headers) as first, \
                websockets.connect(url, additional_headers=target.headers):
            try:
                async with websockets.connect(url, additional_headers=target.headers):
                    pass
            except websockets.InvalidStatus as refused:
                status, retry = refused.response.status_code, refused.response.headers["Retry-After"]
            await first.send("{" * (1 << 20))
            error = json.loads(await first.recv())
            return status, retry, error

    status, retry, error = asyncio.run(scenario())
    assert status == 429
    assert retry == "5"
    assert error["type"] == "Error"
    assert len(str(error["message"])) <= 256


# -- 10. minor ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("caption", ["vtt", "text"])
def test_caption_formats_name_their_charset_once(target: Target, caption: str) -> None:
    response = target.post(target.wav, f"?format={caption}")
    assert response.status_code == 200
    assert response.headers["content-type"].count("charset") == 1


def test_no_response_shows_the_models_path(target: Target) -> None:
    ready = httpx.get(f"{target.server.url}/readyz")
    assert ready.json()["model"] == "micro"
    result = target.post(target.wav)
    assert [info["name"] for info in result.json()["metadata"]["model_info"].values()] == ["micro"]
    for response in (ready, result):
        assert str(target.folder) not in response.text


def test_nothing_in_this_corpus_got_a_server_error(target: Target) -> None:
    scrape = httpx.get(f"{target.server.url}/metrics").text
    # /readyz answers 503 until the model is loaded, by design: start-up polls may have seen that.
    statuses = {sample.labels["status"] for family in text_string_to_metric_families(scrape)
                for sample in family.samples
                if sample.name == "whisper_api_requests_total" and sample.labels["route"] != "/readyz"}
    assert statuses and not {status for status in statuses if status.startswith("5")}

    assert httpx.get(f"{target.server.url}/healthz").json() == {"status": "ok"}
