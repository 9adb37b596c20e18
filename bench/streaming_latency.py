#!/usr/bin/env python3
"""Live transcription latency: the ``/v1/listen`` WebSocket streamed at real time.

For each model size and number of concurrent streams, every stream sends the same clip in
100 ms chunks at 1x (interim_results, endpointing=300). Per utterance with a known end of
speech it reports the time from that end to its ``speech_final`` result; for every interim,
Deepgram's lag (seconds sent minus the end of the interim's window); and the server's CPU
seconds per second of audio, against the baseline measured in the same run: one batch
``POST /v1/listen`` of the same clip. Then the decode cost of the streaming options
(reduced encoder context for interims) on utterance-sized audio, in-process.

Clips: espeak-ng sentences with silences between them (the ends of speech are known), and
../shared/data/speech/jfk.wav when present (ends from an offline Silero pass). Models: real
size, random weights, so every decode runs to the token limit the streaming engine sets; real
weights stop earlier, so these latencies are an upper bound.

usage: bench/streaming_latency.py [--dims tiny base] [--streams 1 3]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
import websockets
from common import SHARED, random_model, timed

from whisper_api.audio import SAMPLE_RATE, decode_file
from whisper_api.core import Transcriber
from whisper_api.keys import KeyStore
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings
from whisper_api.streaming.channel import DecodeJob
from whisper_api.streaming.live import transcribe_job
from whisper_api.vad.detector import open_vad

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.audio_files import espeak, silence, write_wav
from tests.support.server import run_server

CHUNK_SECONDS = 0.1
ENDPOINTING = 0.3
SILERO = SHARED / "models" / "for-tests-silero-v6.2.0-ggml.bin"
SENTENCES = ["The quick brown fox jumps over the lazy dog.", "Speech recognition runs on two cores here.",
             "Every utterance ends with a short pause.", "Then the final result should arrive quickly.",
             "Interim results show the words while they are spoken."]


@dataclass
class Clip:
    name: str
    samples: np.ndarray
    speech_ends: list[float]


@dataclass
class StreamLog:
    started: float = 0.0
    arrivals: list[tuple[float, dict]] = field(default_factory=list)  # type: ignore[type-arg]


def espeak_clip(folder: Path) -> Clip | None:
    parts, ends, cursor = [silence(1.0)], [], 1.0
    for index, sentence in enumerate(SENTENCES):
        wav = espeak(sentence, folder / f"sentence-{index}.wav")
        if wav is None:
            return None
        speech = decode_file(wav).mono()
        loud = np.flatnonzero(np.abs(speech) > 0.01)
        speech = speech[loud[0]:loud[-1] + 1]
        parts += [speech, silence(1.5)]
        cursor += len(speech) / SAMPLE_RATE
        ends.append(round(cursor, 3))
        cursor += 1.5
    return Clip("espeak sentences", np.concatenate(parts), ends)


def jfk_clip() -> Clip | None:
    path = SHARED / "data" / "speech" / "jfk.wav"
    if not path.is_file() or not SILERO.is_file():
        return None
    samples = np.concatenate([decode_file(path).mono(), silence(1.5)])
    vad = open_vad(SILERO)
    frames = samples[: len(samples) // 512 * 512]
    speaking = vad.probabilities(frames) >= 0.5
    vad.close()
    ends = [round((index + 1) * 512 / SAMPLE_RATE, 3) for index in range(1, len(speaking))
            if speaking[index] and not speaking[index + 1:index + 1 + 10].any() and index + 10 < len(speaking)]
    return Clip("jfk.wav", samples, ends)


async def run_streams(url: str, key: str, pcm: bytes, count: int) -> list[StreamLog]:
    return list(await asyncio.gather(*(stream(url, key, pcm) for _ in range(count))))


async def stream(url: str, key: str, pcm: bytes) -> StreamLog:
    log = StreamLog()
    query = f"?encoding=linear16&sample_rate=16000&interim_results=true&endpointing={int(ENDPOINTING * 1000)}"
    async with websockets.connect(url + query, additional_headers={"Authorization": f"Token {key}"}) as socket:
        async def read() -> None:
            async for message in socket:
                log.arrivals.append((time.perf_counter(), json.loads(message)))

        reader = asyncio.create_task(read())
        step = int(CHUNK_SECONDS * SAMPLE_RATE) * 2
        log.started = time.perf_counter()
        for index, start in enumerate(range(0, len(pcm), step)):
            await asyncio.sleep(max(0.0, log.started + index * CHUNK_SECONDS - time.perf_counter()))
            await socket.send(pcm[start:start + step])
        await socket.send(json.dumps({"type": "CloseStream"}))
        await asyncio.wait_for(reader, 600)
    return log


def final_latencies(log: StreamLog, ends: list[float]) -> list[float]:
    latencies, pending = [], list(ends)
    for arrival, message in log.arrivals:
        if message.get("type") != "Results" or not message["speech_final"] or not pending:
            continue
        window_end = message["start"] + message["duration"]
        while pending and window_end >= pending[0] - 0.2:
            latencies.append(arrival - (log.started + pending.pop(0)))
            break
    return latencies


def interim_lags(log: StreamLog, duration: float) -> list[float]:
    return [min(arrival - log.started, duration) - (message["start"] + message["duration"])
            for arrival, message in log.arrivals if message.get("type") == "Results" and not message["is_final"]]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    return float(np.percentile(values, share * 100)) if values else float("nan")


def measure(dims: str, home: Path, key: str, clips: list[Clip], stream_counts: list[int]) -> None:
    model = random_model(dims, home / "models")
    env = {"WHISPER_API_THREADS": "2", "WHISPER_API_QUEUE_SIZE": "8"}
    with run_server(home, "--model", model.stem[len("ggml-"):], env=env) as server:
        url = server.url.replace("http", "ws") + "/v1/listen"
        for clip in clips:
            pcm = (clip.samples * 32767).astype("<i2").tobytes()
            duration = len(clip.samples) / SAMPLE_RATE
            wav = write_wav(home / "clip.wav", [clip.samples]).read_bytes()
            before = cpu_seconds(server.pid)
            httpx.post(f"{server.url}/v1/listen", content=wav, headers={"Authorization": f"Token {key}"},
                       timeout=600).raise_for_status()
            batch_cpu = (cpu_seconds(server.pid) - before) / duration
            for count in stream_counts:
                before = cpu_seconds(server.pid)

                logs = asyncio.run(run_streams(url, key, pcm, count))
                live_cpu = (cpu_seconds(server.pid) - before) / duration / count
                finals = [value for log in logs for value in final_latencies(log, clip.speech_ends)]
                lags = [value for log in logs for value in interim_lags(log, duration)]
                print(f"{dims:5} {clip.name:17} streams={count}  speech_final after end of speech: "
                      f"p50 {percentile(finals, 0.5):.2f} s  p95 {percentile(finals, 0.95):.2f} s "
                      f"({len(finals)}/{len(clip.speech_ends) * count} utterances)  interim lag: "
                      f"p50 {percentile(lags, 0.5):.2f} s  p95 {percentile(lags, 0.95):.2f} s  "
                      f"CPU s per audio s: {live_cpu:.2f} per stream (batch baseline {batch_cpu:.2f}, "
                      f"ratio {live_cpu / batch_cpu:.2f})", flush=True)


def decode_costs(dims: str, folder: Path) -> None:
    """Utterance-sized decodes: reduced encoder context against the full 30 s, and an interim
    decoded without timestamp tokens against the streaming default (with them)."""
    model = random_model(dims, folder)
    rng = np.random.default_rng(0)
    base = TranscribeOptions(model=str(model), threads=2)
    with Transcriber(load_settings({})) as transcriber:
        def median_time(job: DecodeJob, options: TranscribeOptions, reduce_finals: bool = True) -> float:
            transcribe_job(transcriber, job, options, None, reduce_finals)  # warm-up
            return statistics.median(timed(lambda: transcribe_job(transcriber, job, options, None, reduce_finals))
                                     for _ in range(3))

        for seconds in (1, 2, 4, 8):
            audio = (rng.standard_normal(seconds * SAMPLE_RATE) * 0.1).astype(np.float32)
            final, interim = (DecodeJob(0, audio, 0.0, 0.0, float(seconds), is_final) for is_final in (True, False))
            full, reduced = median_time(final, base, False), median_time(final, base)
            timestamps = median_time(interim, base)
            no_timestamps = median_time(interim, dataclasses.replace(base, timestamps=False))
            print(f"{dims:5} {seconds} s utterance: final with full context {full * 1000:.0f} ms, reduced "
                  f"{reduced * 1000:.0f} ms ({full / reduced:.2f}x); interim with timestamp tokens "
                  f"{timestamps * 1000:.0f} ms, without {no_timestamps * 1000:.0f} ms "
                  f"({timestamps / no_timestamps:.2f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", nargs="+", default=["tiny", "base"])
    parser.add_argument("--streams", nargs="+", type=int, default=[1, 3])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="whisper-api-bench-") as work:
        home = Path(work)
        (home / "models").mkdir()
        if SILERO.is_file():
            shutil.copyfile(SILERO, home / "models" / "ggml-silero-v6.2.0.bin")
        key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("bench", ("listen",))[1].text
        clips = [clip for clip in (espeak_clip(home), jfk_clip()) if clip is not None]
        if not clips:
            sys.exit("needs espeak-ng or ../shared/data/speech/jfk.wav")
        print(f"VAD: {'Silero' if SILERO.is_file() else 'energy (no ../shared Silero model)'}; "
              f"endpointing {ENDPOINTING * 1000:.0f} ms; {os.cpu_count()} CPUs")
        for dims in args.dims:
            measure(dims, home, key, clips, args.streams)
        for dims in args.dims:
            decode_costs(dims, home / "models")


if __name__ == "__main__":
    main()
