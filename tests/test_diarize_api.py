"""Diarization through every front end: the CLI, ``POST /v1/listen`` and the live WebSocket."""

from __future__ import annotations

import asyncio
import json
import shutil
import wave
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from deepgram import DeepgramClient

from tests.support.cli import run_cli
from tests.support.conversation import Turn, agreement, write_conversation
from tests.support.server import Live, RunningServer, run_server
from tests.test_live import chunks, converse

pytestmark = pytest.mark.usefixtures("real_models")


def _made(made: tuple[Path, list[Turn]] | None) -> tuple[Path, list[Turn]]:
    if made is None:
        pytest.skip("espeak-ng is not installed")
    return made


@pytest.fixture(scope="module")
def conversation(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Turn]]:
    return _made(write_conversation(tmp_path_factory.mktemp("conversation")))


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Turn]]:
    """Three lines (about 15 s): enough for two speakers, short for transcription on a random model."""
    return _made(write_conversation(tmp_path_factory.mktemp("short"), lines=3))


def _install(models: Path, real_models: Path, micro_model: Path) -> None:
    models.mkdir(parents=True, exist_ok=True)
    for path in real_models.iterdir():
        (models / path.name).symlink_to(path)
    shutil.copyfile(micro_model, models / "ggml-micro.bin")


@pytest.fixture
def models(home: Path, real_models: Path, micro_model: Path) -> Path:
    _install(home / "models", real_models, micro_model)
    return home / "models"


def _rttm_turns(text: str) -> list[tuple[float, float, int]]:
    turns = []
    for line in text.splitlines():
        kind, _, channel, start, duration, _, _, label, _, _ = line.split()
        assert (kind, channel) == ("SPEAKER", "1")
        turns.append((float(start), float(start) + float(duration), int(label.removeprefix("speaker_"))))
    return turns


def test_cli_diarize_prints_rttm_and_json(models: Path, conversation: tuple[Path, list[Turn]],
                                          tmp_path: Path) -> None:
    path, truth = conversation
    result = run_cli("diarize", str(path), "--rttm")
    assert result.returncode == 0, result.stderr
    turns = _rttm_turns(result.stdout.decode())
    assert all(line.split()[1] == "conversation" for line in result.stdout.decode().splitlines())
    assert agreement(truth, turns) > 0.95 and {speaker for *_, speaker in turns} == {0, 1}
    result = run_cli("diarize", str(path), "--json", "--speakers", "1", "-o", str(tmp_path / "out"))
    document = json.loads((tmp_path / "out" / "conversation.json").read_text())
    assert document["speakers"] == 1 and {turn["speaker"] for turn in document["turns"]} == {0}


def test_cli_diarize_reports_a_bad_file_and_goes_on(models: Path, conversation: tuple[Path, list[Turn]],
                                                    tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF, but not really")
    result = run_cli("diarize", str(broken), str(conversation[0]))
    assert result.returncode == 1
    assert b"broken.wav" in result.stderr and _rttm_turns(result.stdout.decode())


def test_cli_without_the_encoder_says_how_to_get_it(home: Path, conversation: tuple[Path, list[Turn]]) -> None:
    result = run_cli("diarize", str(conversation[0]), "--no-download")
    assert result.returncode == 1
    assert b"whisper-api models download speaker-encoder" in result.stderr


def test_cli_transcribe_diarize_writes_voices_and_speaker_words(models: Path, short: tuple[Path, list[Turn]]) -> None:
    path, _ = short
    transcribe = ("transcribe", str(path), "--diarize", "--model", "micro", "--no-fallback", "-o", "-")
    vtt = run_cli(*transcribe, "--vtt")
    assert vtt.returncode == 0, vtt.stderr
    assert b"<v Speaker " in vtt.stdout
    result = run_cli(*transcribe, "--json")
    document = json.loads(result.stdout)
    words = [word for segment in document["segments"] for word in segment["words"]]
    assert words and all(isinstance(word["speaker"], int) for word in words)
    assert document["speakers"] == 2 and document["speaker_turns"]
    srt = run_cli(*transcribe, "--srt")
    assert b"[Speaker " in srt.stdout


def test_ami_rttm_is_scored_by_pyannote(models: Path, shared: Path) -> None:
    metrics = pytest.importorskip("pyannote.metrics.diarization")
    from pyannote.core import Annotation, Segment

    result = run_cli("diarize", str(shared / "data/ami/dev00.wav"), "--rttm")
    assert result.returncode == 0, result.stderr
    hypothesis, reference = Annotation(uri="dev00"), Annotation(uri="dev00")
    for index, (start, end, speaker) in enumerate(_rttm_turns(result.stdout.decode())):
        hypothesis[Segment(start, end), index] = speaker
    for index, line in enumerate((shared / "data/ami/debug.development.rttm").read_text().splitlines()):
        fields = line.split()
        if fields[1] == "dev00":
            reference[Segment(float(fields[3]), float(fields[3]) + float(fields[4])), index] = fields[7]
    error = metrics.DiarizationErrorRate(collar=0.25)(reference, hypothesis)
    assert 0 <= error < 0.5


def test_ami_transcribe_writes_voice_tagged_webvtt(models: Path, shared: Path) -> None:
    result = run_cli("transcribe", str(shared / "data/ami/dev00.wav"), "--diarize", "--vtt", "--model", "micro",
                     "--no-fallback", "-o", "-")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"WEBVTT") and b"<v Speaker " in result.stdout


# The server.

@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, real_models: Path, micro_model: Path,
           tiny_en: Path) -> Iterator[RunningServer]:
    """Real tiny.en words: a random model's decoding, with temperature fallback, can take minutes on a busy machine."""
    home = tmp_path_factory.mktemp("diarize-home")
    _install(home / "models", real_models, micro_model)
    (home / "models" / tiny_en.name).symlink_to(tiny_en)
    with run_server(home, "--model", "tiny.en", "--no-auth") as running:
        yield running


def _listen(server: RunningServer, audio: Path, query: str) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/listen?{query}", content=audio.read_bytes(), timeout=120)


def test_listen_diarize_puts_speakers_in_words_utterances_and_paragraphs(
        server: RunningServer, short: tuple[Path, list[Turn]]) -> None:
    response = _listen(server, short[0], "diarize=true&utterances=true&paragraphs=true&punctuate=true")
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    words = results["channels"][0]["alternatives"][0]["words"]
    assert words and all(type(word["speaker"]) is int and 0 <= word["speaker_confidence"] <= 1 for word in words)
    assert all(type(utterance["speaker"]) is int for utterance in results["utterances"])
    paragraphs = results["channels"][0]["alternatives"][0]["paragraphs"]
    assert all(type(paragraph["speaker"]) is int for paragraph in paragraphs["paragraphs"])
    assert paragraphs["transcript"].startswith("\nSpeaker ")


def test_listen_without_diarize_has_no_speakers(server: RunningServer, short: tuple[Path, list[Turn]]) -> None:
    response = _listen(server, short[0], "utterances=true")
    words = response.json()["results"]["channels"][0]["alternatives"][0]["words"]
    assert words and all("speaker" not in word for word in words)


def test_the_deepgram_sdk_reads_speakers(server: RunningServer, short: tuple[Path, list[Turn]]) -> None:
    from deepgram.environment import DeepgramClientEnvironment

    environment = DeepgramClientEnvironment(base=server.url, production=server.url.replace("http", "ws"),
                                            agent=server.url.replace("http", "ws"), agent_rest=server.url)
    client = DeepgramClient(api_key="unused", environment=environment)
    response = client.listen.v1.media.transcribe_file(request=short[0].read_bytes(), model="nova-3",
                                                      diarize=True, utterances=True)
    assert all(isinstance(word.speaker, int) for word in response.results.channels[0].alternatives[0].words)
    assert all(isinstance(utterance.speaker, int) for utterance in response.results.utterances)


@pytest.mark.parametrize("query", ["diarize=true&num_speakers=0", "diarize=true&min_speakers=3&max_speakers=2",
                                   "diarize=true&max_speakers=many", "diarize=true&diarize_mode=voices"])
def test_bad_speaker_parameters_are_400(server: RunningServer, short: tuple[Path, list[Turn]],
                                        query: str) -> None:
    response = _listen(server, short[0], query)
    assert response.status_code == 400 and response.json()["err_code"] == "INVALID_QUERY_PARAMETER"


def test_channel_mode_on_a_stereo_call(server: RunningServer, tmp_path: Path) -> None:
    made = write_conversation(tmp_path, stereo=True)
    assert made is not None
    response = _listen(server, made[0], "diarize=true&diarize_mode=channel&utterances=true")
    assert response.status_code == 200, response.text
    assert {word["speaker"] for word in response.json()["results"]["channels"][0]["alternatives"][0]["words"]} \
        <= {0, 1}
    mono = _listen(server, _downmix(made[0], tmp_path), "diarize=true&diarize_mode=channel")
    assert mono.status_code == 400 and "one channel" in mono.json()["err_msg"]


def _downmix(path: Path, folder: Path) -> Path:
    with wave.open(str(path)) as source:
        frames = np.frombuffer(source.readframes(source.getnframes()), "<i2").reshape(-1, 2)
    target = folder / "mono.wav"
    with wave.open(str(target), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(frames.mean(axis=1).astype("<i2").tobytes())
    return target


# The live WebSocket: one set of speaker numbers for the whole stream.

def _pcm(path: Path) -> bytes:
    with wave.open(str(path)) as source:
        return source.readframes(source.getnframes())


def test_live_diarize_keeps_speakers_consistent(server: RunningServer,
                                                conversation: tuple[Path, list[Turn]]) -> None:
    path, truth = conversation
    live = Live(server, "unused", path.parent)
    talk = asyncio.run(converse(live, "?encoding=linear16&sample_rate=16000&diarize=true&endpointing=300",
                                [*chunks(_pcm(path), 32000), b""], auth=False))
    assert talk.code == 1000
    spoken = [(word["start"], word["end"], word["speaker"]) for final in talk.finals()
              for word in final["channel"]["alternatives"][0]["words"]]
    assert spoken and all("speaker_confidence" not in word for final in talk.finals()
                          for word in final["channel"]["alternatives"][0]["words"])
    assert {speaker for *_, speaker in spoken} == {0, 1}
    assert agreement(truth, spoken) > 0.8


def test_live_channel_mode_needs_multichannel(server: RunningServer) -> None:
    response = httpx.get(server.url + "/v1/listen?diarize=true&diarize_mode=channel",
                         headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                  "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert response.status_code == 400 and "multichannel" in response.json()["err_msg"]


def test_live_diarize_without_the_encoder_is_refused(home: Path, micro_model: Path) -> None:
    (home / "models").mkdir(parents=True)
    shutil.copyfile(micro_model, home / "models" / "ggml-micro.bin")
    with run_server(home, "--model", "micro", "--no-auth") as running:
        response = httpx.get(running.url.replace("http", "http") + "/v1/listen?diarize=true",
                             headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        assert response.status_code == 400
        assert "speaker-encoder" in response.json()["err_msg"]


def test_the_diarization_benchmark_beats_its_baseline(shared: Path) -> None:
    pytest.importorskip("pyannote.metrics")
    import subprocess
    import sys

    bench = Path(__file__).resolve().parents[1] / "bench" / "diarization.py"
    result = subprocess.run([sys.executable, str(bench), "--files", "dev00", "dev01", "trn03"],
                            capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    ratio = float(result.stdout.split("pooled DER: ")[1].split()[0])
    assert ratio < 1.0  # better than Silero VAD with one speaker, on the same clips in the same run
