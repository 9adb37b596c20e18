"""OpenAI's speech-to-text API on a real server, through the official ``openai`` package."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import srt

from tests.support.audio_files import speechlike, write_wav
from tests.support.server import RunningServer, run_server
from whisper_api.keys import KeyStore

openai = pytest.importorskip("openai")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, micro_model: Path) -> Iterator[tuple[RunningServer, str, Path]]:
    home = tmp_path_factory.mktemp("openai-home")
    (home / "models").mkdir()
    shutil.copyfile(micro_model, home / "models" / "ggml-micro.bin")
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("openai", ("listen",))[1].text
    clip = write_wav(tmp_path_factory.mktemp("openai-audio") / "clip.wav", [speechlike()])
    with run_server(home, "--model", "micro", env={"WHISPER_API_THREADS": "2"}) as server:
        yield server, key, clip


def client(served: tuple[RunningServer, str, Path], key: str | None = None) -> openai.OpenAI:
    server, good_key, _ = served
    return openai.OpenAI(api_key=key or good_key, base_url=f"{server.url}/v1", max_retries=0)


def test_transcription_json_text_and_captions(served: tuple[RunningServer, str, Path]) -> None:
    clip = served[2]
    with clip.open("rb") as audio:
        result = client(served).audio.transcriptions.create(model="whisper-1", file=audio)
    assert isinstance(result.text, str) and result.text
    with clip.open("rb") as audio:
        text = client(served).audio.transcriptions.create(model="whisper-1", file=audio, response_format="text")
    assert isinstance(text, str) and text.strip()
    with clip.open("rb") as audio:
        captions = client(served).audio.transcriptions.create(model="whisper-1", file=audio, response_format="srt")
    assert list(srt.parse(captions))


def test_verbose_json_with_words(served: tuple[RunningServer, str, Path]) -> None:
    with served[2].open("rb") as audio:
        result = client(served).audio.transcriptions.create(
            model="whisper-1", file=audio, response_format="verbose_json", timestamp_granularities=["word", "segment"],
            language="en", prompt="tones and noise", temperature=0.0)
    assert result.language == "en" and result.duration == pytest.approx(10.0, abs=0.1)
    assert result.segments and result.words
    assert all(word.end >= word.start for word in result.words)


def test_translation_runs_as_a_translation(served: tuple[RunningServer, str, Path]) -> None:
    """The route asks the engine to translate (random weights: what it says is noise; the real-weight
    tests check that French comes out in English)."""
    with served[2].open("rb") as audio:
        plain = client(served).audio.translations.create(model="whisper-1", file=audio)
    with served[2].open("rb") as audio:
        result = client(served).audio.translations.create(model="whisper-1", file=audio,
                                                          response_format="verbose_json")
    assert isinstance(plain.text, str)
    assert result.task == "translate" and result.duration == pytest.approx(10.0, abs=0.1)  # type: ignore[attr-defined]


def test_errors_have_openai_shape(served: tuple[RunningServer, str, Path]) -> None:
    with served[2].open("rb") as audio, pytest.raises(openai.AuthenticationError) as refused:
        client(served, key="wa_0000_wrong").audio.transcriptions.create(model="whisper-1", file=audio)
    assert refused.value.status_code == 401 and refused.value.body["code"] == "invalid_api_key"
    broken = io.BytesIO(b"not audio at all")
    broken.name = "broken.wav"
    with pytest.raises(openai.BadRequestError) as bad:
        client(served).audio.transcriptions.create(model="whisper-1", file=broken)
    assert bad.value.body["type"] == "invalid_request_error"
    server, key, _ = served
    response = httpx.post(f"{server.url}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {key}"},
                          files={"file": ("a.wav", served[2].read_bytes())}, data={"response_format": "docx"})
    assert response.status_code == 400 and "response_format" in response.json()["error"]["message"]
    missing = httpx.post(f"{server.url}/v1/audio/transcriptions", headers={"Authorization": f"Bearer {key}"},
                         data={"model": "whisper-1"})
    assert missing.status_code == 400 and "error" in missing.json()
