#!/usr/bin/env python3
"""What the server costs on top of whisper.cpp, and what a warm server buys over the seed design.

  1. 60 s clip: ``POST /v1/listen`` to a warm ``whisper-api serve`` (HTTP, key check, decoding,
     Deepgram JSON) against pywhispercpp's ``Model.transcribe`` in-process on the same samples;
  2. 5 s clips: the warm server against spawning ``whisper-cli`` per request (the seed design:
     write a WAV, start the process, load the model, decode, parse the JSON).

Same model file (real size, random weights), audio and parameters everywhere: 2 threads,
greedy, temperature fallback on (the server's default), language en. Each warm context sees
the same sequence of calls, so sampling at raised temperatures draws the same numbers.

usage: bench/server_overhead.py [--dims tiny base] [--runs 3] [--clips 60 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from common import SHARED, random_model, timed
from pywhispercpp.model import Model

from whisper_api.audio import SAMPLE_RATE, decode_file
from whisper_api.engine import Decoding, EngineJob
from whisper_api.engine.whisper_cli import CliEngine
from whisper_api.keys import KeyStore
from whisper_api.options import TranscribeOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.audio_files import write_wav
from tests.support.server import run_server

THREADS = 2




def compare(first: Callable[[], object], second: Callable[[], object], runs: int) -> tuple[float, float]:
    first(), second()  # warm-up
    times: tuple[list[float], list[float]] = ([], [])
    for _ in range(runs):
        times[0].append(timed(first))
        times[1].append(timed(second))
    return statistics.median(times[0]), statistics.median(times[1])


def measure(dims: str, home: Path, clips: dict[int, Path], key: str, runs: int, lengths: list[int]) -> None:
    model = random_model(dims, home / "models")
    env = {"WHISPER_API_THREADS": str(THREADS), "WHISPER_API_QUEUE_SIZE": "4"}
    headers = {"Authorization": f"Token {key}"}
    with run_server(home, "--model", model.stem[len("ggml-"):], env=env) as server, httpx.Client(
            timeout=1800, headers=headers) as http:

        def post(clip: Path) -> Callable[[], object]:
            body = clip.read_bytes()
            return lambda: http.post(f"{server.url}/v1/listen", content=body).raise_for_status()

        if 60 in lengths:
            samples = decode_file(clips[60]).mono()
            raw = Model(str(model), n_threads=THREADS, language="en", token_timestamps=True, print_progress=False,
                        print_realtime=False)
            served, in_process = compare(post(clips[60]), lambda: raw.transcribe(samples), runs)
            print(f"{dims:5s} 60 s  server {served:7.3f} s   in-process {in_process:7.3f} s   "
                  f"server/in-process {served / in_process:5.3f}", flush=True)
        if 5 not in lengths:
            return
        cli = CliEngine(home=home)
        job = EngineJob(audio=decode_file(clips[5]).mono(), model_path=model,
                        decoding=Decoding.of(TranscribeOptions(language="en")), threads=THREADS)
        served, spawned = compare(post(clips[5]), lambda: cli.transcribe(job), runs)
        print(f"{dims:5s}  5 s  server {served:7.3f} s   whisper-cli per request {spawned:7.3f} s   "
              f"speed-up {spawned / served:5.2f}x ({1000 * (spawned - served):.0f} ms per request)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", nargs="+", default=["tiny", "base"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--clips", nargs="+", type=int, choices=[60, 5], default=[60, 5],
                        help="which comparisons to run (60: server vs in-process, 5: server vs whisper-cli)")
    args = parser.parse_args()
    speech = decode_file(SHARED / "data" / "speech" / "jfk.wav").mono()
    print(f"{THREADS} threads, greedy, fallback on, language en; median of {args.runs} interleaved runs", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder)
        (home / "models").mkdir()
        clips = {seconds: write_wav(home / f"clip-{seconds}s.wav", [np.tile(speech, 6)[: seconds * SAMPLE_RATE]])
                 for seconds in (60, 5)}
        key = KeyStore(f"sqlite:///{home / 'whisper-api.db'}").create("bench")[1].text
        for dims in args.dims:
            measure(dims, home, clips, key, args.runs, args.clips)


if __name__ == "__main__":
    main()
