"""The live-transcription core: decoders, resampling, voice activity and the utterance state machine."""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio_files import convert, espeak, noise, silence, tone, write_wav
from whisper_api.audio import SAMPLE_RATE, decode_file, find_ffmpeg
from whisper_api.core import Transcriber
from whisper_api.engine.base import CONTEXT_FLOOR, audio_context
from whisper_api.errors import AudioDecodeError, InvalidOptionError, TranscriptionCancelled
from whisper_api.options import TranscribeOptions
from whisper_api.server.admission import BATCH, LIVE_FINAL, LIVE_INTERIM, Admission
from whisper_api.server.deepgram.params import parse_stream
from whisper_api.settings import load_settings
from whisper_api.streaming.channel import ChannelStream
from whisper_api.streaming.decoders import FfmpegDecoder, PcmDecoder, open_decoder
from whisper_api.streaming.events import DEFAULT_ENDPOINTING, SpeechStarted, StreamOptions, StreamResult, UtteranceEnd
from whisper_api.streaming.live import MIN_DECODE_SAMPLES, LiveSession, transcribe_job
from whisper_api.streaming.resample import Resampler
from whisper_api.transcript import Word
from whisper_api.vad import FRAME_SAMPLES
from whisper_api.vad.detector import EnergyVad, open_vad, speech_probabilities

SHARED_SILERO = Path(__file__).resolve().parents[2] / "shared" / "models" / "for-tests-silero-v6.2.0-ggml.bin"


def ffmpeg_decode(data: bytes, *input_options: str) -> np.ndarray:
    result = subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", *input_options, "-i", "pipe:0",
                             "-f", "f32le", "pipe:1"], input=data, capture_output=True, check=True)
    return np.frombuffer(result.stdout, "<f4")


@pytest.mark.parametrize("encoding", ["mulaw", "alaw"])
def test_g711_decodes_like_ffmpeg(encoding: str) -> None:
    data = bytes(range(256)) * 4
    ours = PcmDecoder(encoding, SAMPLE_RATE, 1, mono=True).feed(data)[:, 0]
    np.testing.assert_allclose(ours, ffmpeg_decode(data, "-f", encoding, "-ar", str(SAMPLE_RATE)), atol=1e-6)


def test_pcm_frames_split_across_messages_are_kept_whole() -> None:
    samples = (np.sin(np.arange(4000) / 7) * 20000).astype("<i2")
    stereo = np.stack([samples, -samples], axis=1).tobytes()
    decoder = PcmDecoder("linear16", SAMPLE_RATE, 2, mono=False)
    pieces = [decoder.feed(stereo[start:start + 333]) for start in range(0, len(stereo), 333)]
    joined = np.concatenate([*pieces, decoder.finish()])
    assert joined.shape == (4000, 2)
    np.testing.assert_allclose(joined[:, 0], samples / 32768, atol=1e-7)
    np.testing.assert_allclose(joined[:, 1], -samples / 32768, atol=1e-7)


def test_linear32_mixes_to_mono() -> None:
    frames = np.array([[2**30, -(2**30)], [2**30, 2**30]], "<i4").tobytes()
    assert PcmDecoder("linear32", SAMPLE_RATE, 2, mono=True).feed(frames)[:, 0].tolist() == [0.0, 0.5]


@pytest.mark.parametrize("rate", [8000, 22050, 44100, 48000])
def test_resampling_keeps_pitch_length_and_chunking_invariance(rate: int) -> None:
    wave = np.sin(2 * np.pi * 440 * np.arange(rate * 2) / rate).astype(np.float32)[:, None]
    whole = Resampler(rate, 1)(wave, last=True)
    chunked_resampler = Resampler(rate, 1)
    chunked = np.concatenate([*(chunked_resampler(wave[start:start + 777]) for start in range(0, len(wave), 777)),
                              chunked_resampler(wave[:0], last=True)])
    np.testing.assert_allclose(chunked, whole, atol=1e-5)
    assert abs(len(whole) - 2 * SAMPLE_RATE) <= 2
    crossings = np.count_nonzero(np.diff(np.signbit(whole[100:-100, 0])))
    assert abs(crossings / 2 / ((len(whole) - 200) / SAMPLE_RATE) - 440) < 3


def test_resampling_filters_what_16_khz_cannot_hold() -> None:
    rate = 48000
    high = np.sin(2 * np.pi * 12000 * np.arange(rate) / rate).astype(np.float32)[:, None]  # aliases to 4 kHz
    assert np.abs(Resampler(rate, 1)(high)[200:]).max() < 0.05


@pytest.mark.parametrize("container", ["wav", "webm", "ogg", "flac"])
def test_ffmpeg_decoder_streams_containers_in_small_pieces_exactly(tmp_path: Path, container: str) -> None:
    wav = write_wav(tmp_path / "clip.wav", [np.concatenate([silence(1.0), tone(2.0) * 0.5])])
    source = wav if container == "wav" else convert(wav, tmp_path / f"clip.{container}")
    decoder = open_decoder(None, None, 1, mono=True)
    try:
        data = source.read_bytes()
        pieces = [decoder.feed(data[start:start + 500]) for start in range(0, len(data), 500)]
        streamed = np.concatenate([*pieces, decoder.finish()])[:, 0]
    finally:
        decoder.close()
    np.testing.assert_array_equal(streamed, decode_file(source).mono())  # nothing lost while ffmpeg probes


def test_mp3_from_a_pipe_keeps_its_length(tmp_path: Path) -> None:
    # From a pipe ffmpeg cannot trim the encoder's delay as it does for a file: a few ms more.
    mp3 = convert(write_wav(tmp_path / "clip.wav", [tone(3.0)]), tmp_path / "clip.mp3")
    decoder = open_decoder(None, None, 1, mono=True)
    try:
        frames = decoder.feed(mp3.read_bytes()).shape[0] + decoder.finish().shape[0]
    finally:
        decoder.close()
    assert abs(frames / SAMPLE_RATE - 3.0) < 0.05


def test_ffmpeg_decoder_reports_the_channel_count_of_a_container(tmp_path: Path) -> None:
    wav = write_wav(tmp_path / "stereo.wav", [tone(1.0), tone(1.0, 880)])
    decoder = open_decoder(None, None, 1, mono=False)
    try:
        first = decoder.feed(wav.read_bytes())
        assert first.shape[0] == 0 or first.shape[1] == 2
        assert decoder.finish().shape[1] == 2
    finally:
        decoder.close()


def test_declared_opus_that_is_not_ogg_fails_at_once() -> None:
    decoder = open_decoder("opus", None, 1, mono=True)
    try:
        with pytest.raises(AudioDecodeError, match="cannot be decoded"):
            decoder.feed(b"\x00garbage that is not an Ogg page" * 10)
    finally:
        decoder.close()


def test_garbage_container_fails_at_the_end_of_the_stream() -> None:
    decoder = FfmpegDecoder(None, mono=True)
    try:
        decoder.feed(np.random.default_rng(0).bytes(20000))
        with pytest.raises(AudioDecodeError):
            decoder.finish()
    finally:
        decoder.close()


def test_unknown_encoding_and_missing_sample_rate_are_refused() -> None:
    with pytest.raises(InvalidOptionError):
        open_decoder("speex", 16000, 1, mono=True)
    with pytest.raises(InvalidOptionError, match="sample_rate"):
        open_decoder("linear16", None, 1, mono=True)


def test_energy_vad_tells_a_tone_from_silence() -> None:
    vad = EnergyVad()
    quiet = vad.probabilities(silence(1.0)[: 31 * FRAME_SAMPLES] + 1e-4 * noise(1.0)[: 31 * FRAME_SAMPLES])
    loud = vad.probabilities(tone(1.0)[: 31 * FRAME_SAMPLES] * 0.3)
    assert quiet.max() < 0.1 and loud.min() > 0.9


def test_a_whole_recording_goes_a_minute_at_a_time_and_stops_when_cancelled() -> None:
    recording = np.concatenate([noise(70.0) * 0.01, tone(5.0), silence(0.01)])
    stepped = speech_probabilities(recording, EnergyVad())
    padded = np.pad(recording, (0, -len(recording) % FRAME_SAMPLES))
    np.testing.assert_array_equal(stepped, EnergyVad().probabilities(padded))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TranscriptionCancelled):
        speech_probabilities(recording, EnergyVad(), cancel)


def test_silero_through_whisper_cpp_finds_speech(tmp_path: Path) -> None:
    if not SHARED_SILERO.is_file():
        pytest.skip("needs ../shared/models (the real Silero model)")
    wav = espeak("Ask not what your country can do for you.", tmp_path / "speech.wav")
    if wav is None:
        pytest.skip("espeak-ng is not installed")
    speech = np.concatenate([silence(1.0), decode_file(wav).mono()])
    speech = speech[: len(speech) // FRAME_SAMPLES * FRAME_SAMPLES]
    whole_vad, piece_vad = open_vad(SHARED_SILERO), open_vad(SHARED_SILERO)
    try:
        whole = whole_vad.probabilities(speech)
        step = 5 * FRAME_SAMPLES
        pieces = np.concatenate([piece_vad.probabilities(speech[i:i + step]) for i in range(0, len(speech), step)])
    finally:
        whole_vad.close()
        piece_vad.close()
    np.testing.assert_allclose(pieces, whole, atol=1e-5)
    # Silero's first frame after a reset can read as speech; the stream needs several frames to start speech.
    assert whole[1:25].max() < 0.2 and whole[40:].max() > 0.8


class ScriptedVad:
    """Voice activity read off the audio itself: frames louder than 0.01 are speech."""

    def probabilities(self, frames: np.ndarray) -> np.ndarray:
        return (np.abs(frames.reshape(-1, FRAME_SAMPLES)).max(axis=1) > 0.01).astype(np.float32)

    def close(self) -> None:
        pass


def speech(seconds: float) -> np.ndarray:
    return tone(seconds) * 0.5


def push(stream: ChannelStream, samples: np.ndarray) -> list:  # type: ignore[type-arg]
    return stream.analyse(stream.vad.probabilities(stream.accept(samples)))


def run_channel(audio: np.ndarray, options: StreamOptions, chunk: float = 0.1) -> tuple[ChannelStream, list]:  # type: ignore[type-arg]
    stream = ChannelStream(0, 1, options, ScriptedVad())
    events: list = []  # type: ignore[type-arg]
    step = int(chunk * SAMPLE_RATE)
    for start in range(0, len(audio), step):
        events += push(stream, audio[start:start + step])
        while (job := stream.next_job()) is not None:
            events += [job, *stream.complete(job, (Word("w", 0.0, job.samples.size / SAMPLE_RATE, 1.0),)
                                             if job.samples.size else ())]
    return stream, events


def finals(events: list) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, StreamResult) and e.is_final]


def test_endpointing_ends_an_utterance_with_speech_final() -> None:
    audio = np.concatenate([silence(1.0), speech(2.0), silence(1.0)])
    _, events = run_channel(audio, StreamOptions(endpointing=0.5))
    [final] = finals(events)
    assert final.speech_final and final.start == 0.0
    assert final.start + final.duration == pytest.approx(3.3, abs=0.05)  # speech end + the kept tail
    assert final.words[0].start == pytest.approx(0.7, abs=0.05)  # the pre-roll before the speech onset


def test_a_short_pause_ends_a_final_only_when_the_client_asks_for_quick_endpoints() -> None:
    """By default a 0.35 s pause inside a sentence keeps it one final (decoded whole); endpointing=250 cuts."""
    audio = np.concatenate([speech(2.0), silence(0.35), speech(2.0), silence(1.0)])
    assert len(finals(run_channel(audio, StreamOptions())[1])) == 1
    assert len(finals(run_channel(audio, StreamOptions(endpointing=0.25))[1])) == 2


def test_the_server_default_endpointing_is_ours_and_explicit_values_are_kept() -> None:
    assert parse_stream({}).options.endpointing == DEFAULT_ENDPOINTING
    assert parse_stream({"endpointing": ["300"]}).options.endpointing == pytest.approx(0.3)
    assert parse_stream({"endpointing": ["false"]}).options.endpointing is None


def test_finals_tile_the_stream_without_overlap_and_cut_long_speech_at_its_quietest_point() -> None:
    audio = np.concatenate([speech(7.5), silence(0.1), speech(6.0), silence(1.0), speech(1.0), silence(1.0)])
    _, events = run_channel(audio, StreamOptions(endpointing=0.5, max_utterance=10.0))
    windows = [(final.start, final.start + final.duration, final.speech_final) for final in finals(events)]
    assert [speech_final for *_, speech_final in windows] == [False, True, True]
    assert windows[0][1] == pytest.approx(7.55, abs=0.04)  # cut inside the 0.1 s pause
    for (_, end, _), (start, _, _) in itertools.pairwise(windows):
        assert start == pytest.approx(end, abs=1e-9)


def test_a_click_is_not_an_utterance() -> None:
    audio = np.concatenate([silence(1.0), speech(0.05), silence(2.0)])
    stream, events = run_channel(audio, StreamOptions(endpointing=0.3, vad_events=True))
    assert not finals(events) and not stream.jobs


def test_speech_started_only_when_asked() -> None:
    audio = np.concatenate([silence(0.5), speech(1.0), silence(1.0)])
    assert not [e for e in run_channel(audio, StreamOptions())[1] if isinstance(e, SpeechStarted)]
    [started] = [e for e in run_channel(audio, StreamOptions(vad_events=True))[1] if isinstance(e, SpeechStarted)]
    assert started.timestamp == pytest.approx(0.5, abs=0.04)


def test_interims_come_every_second_including_empty_ones_in_silence() -> None:
    audio = np.concatenate([silence(2.0), speech(3.2)])
    _, events = run_channel(audio, StreamOptions(interim_results=True, endpointing=None))
    interims = [e for e in events if isinstance(e, StreamResult) and not e.is_final]
    assert len(interims) == 5
    assert not interims[0].words and interims[-1].words
    assert all(i.start == 0.0 for i in interims)  # the window runs from the last final to the cursor


def test_finalize_flushes_mid_utterance_and_in_silence() -> None:
    stream, _ = run_channel(np.concatenate([silence(0.5), speech(1.5)]), StreamOptions(endpointing=None))
    stream.finalize()
    job = stream.next_job()
    assert job is not None and job.is_final and job.from_finalize and job.samples.size > SAMPLE_RATE
    stream.complete(job, ())
    push(stream, silence(0.5))
    stream.finalize()
    empty = stream.next_job()
    assert empty is not None and empty.from_finalize and empty.samples.size == 0
    assert empty.window_start == pytest.approx(2.0) and empty.window_end == pytest.approx(2.5)


def test_utterance_end_follows_a_word_gap() -> None:
    audio = np.concatenate([speech(1.0), silence(2.5)])
    _, events = run_channel(audio, StreamOptions(endpointing=0.3, utterance_end=1.0))
    [end] = [e for e in events if isinstance(e, UtteranceEnd)]
    assert end.last_word_end == pytest.approx(1.3, abs=0.05)
    assert events.index(end) > events.index(finals(events)[0])


def test_audio_context_is_reduced_for_short_audio_only() -> None:
    assert audio_context(1.1) == 128 and audio_context(10) == 576 and audio_context(40) == 1500
    assert audio_context(1.1, CONTEXT_FLOOR) == 768 and audio_context(20, CONTEXT_FLOOR) == 1088


def test_transcribe_job_decodes_short_audio_and_keeps_words_inside_it(micro_model: Path) -> None:
    stream = ChannelStream(0, 1, StreamOptions(endpointing=None), ScriptedVad())
    push(stream, speech(0.6))
    stream.finalize()
    job = stream.next_job()
    assert job is not None and job.samples.size < MIN_DECODE_SAMPLES
    with Transcriber(load_settings({})) as transcriber:
        words = transcribe_job(transcriber, job, TranscribeOptions(model=str(micro_model)))
    assert all(word.start < job.samples.size / SAMPLE_RATE for word in words)


def test_live_session_runs_finals_through_the_real_engine(micro_model: Path) -> None:
    events: list = []  # type: ignore[type-arg]

    async def main() -> None:
        with Transcriber(load_settings({})) as transcriber:
            options = TranscribeOptions(model=str(micro_model))

            async def decode(job):  # type: ignore[no-untyped-def]
                return await asyncio.to_thread(transcribe_job, transcriber, job, options)

            async def emit(event):  # type: ignore[no-untyped-def]
                events.append(event)

            session = LiveSession(StreamOptions(interim_results=True, endpointing=0.3), [EnergyVad()], decode, emit)
            runner = asyncio.create_task(session.run())
            audio = np.concatenate([speech(1.5), silence(1.0), speech(1.5), silence(0.5)])
            for start in range(0, len(audio), 1600):
                await session.push(audio[start:start + 1600, None])
            session.end()
            await runner

    asyncio.run(main())
    results = [e for e in events if isinstance(e, StreamResult) and e.is_final]
    assert len(results) == 2 and all(r.words for r in results)
    assert results[1].start == results[0].start + results[0].duration
    assert all(results[1].start <= w.start <= w.end <= 4.5 for w in results[1].words)


def test_admission_serves_live_finals_then_interims_then_batch() -> None:
    async def main() -> list[str]:
        admission = Admission(["worker"], queue_size=4)
        order: list[str] = []

        async def job(name: str, priority: int) -> None:
            async with admission.worker(priority):
                order.append(name)

        async with admission.worker(BATCH):  # busy: everyone queues
            tasks = [asyncio.create_task(job(name, priority))
                     for name, priority in (("batch", BATCH), ("interim", LIVE_INTERIM), ("final", LIVE_FINAL))]
            await asyncio.sleep(0.01)
        await asyncio.gather(*tasks)
        return order

    assert asyncio.run(main()) == ["final", "interim", "batch"]


def test_cli_live_prints_utterances_from_a_pipe_and_json_for_pipelines(micro_model: Path, tmp_path: Path) -> None:
    from tests.support.cli import run_cli

    audio = np.concatenate([speech(1.5), silence(1.0), speech(1.5), silence(1.0)])
    pcm = (audio * 32767).astype("<i2").tobytes()
    text = run_cli("live", "-", "--model", str(micro_model), "--encoding", "linear16", "--sample-rate", "16000",
                   "--full-context", stdin=pcm)
    assert text.returncode == 0, text.stderr
    assert len(text.stdout.decode().splitlines()) == 2  # one line per utterance
    assert b"loudness" in text.stderr  # no VAD model installed: the energy detector, said once

    wav = write_wav(tmp_path / "clip.wav", [audio])
    lines = run_cli("live", str(wav), "--model", str(micro_model), "--json", "--interim")
    messages = [json.loads(line) for line in lines.stdout.decode().splitlines()]
    assert lines.returncode == 0, lines.stderr
    assert [m["type"] for m in messages].count("SpeechStarted") == 2 and messages[-1]["type"] == "Metadata"
    assert [m["is_final"] for m in messages if m["type"] == "Results"].count(True) == 2


def test_cli_live_reports_undecodable_input(micro_model: Path) -> None:
    from tests.support.cli import run_cli

    result = run_cli("live", "-", "--model", str(micro_model), stdin=b"not audio at all" * 100)
    assert result.returncode == 1 and b"cannot be decoded" in result.stderr
