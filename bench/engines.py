#!/usr/bin/env python3
"""What a resident model buys: per-request cost of the cli engine (a new whisper-cli process per
request: start-up, model load, decode) against the native engine with the model already loaded,
on the same model file, audio and parameters.

Models are real-size with random weights (../shared/tools/random_ggml_model.py); clips are 5 s and
60 s cut from (or tiled from) ../shared/data/speech/jfk.wav. Median of interleaved runs.

usage: bench/engines.py [--dims tiny base] [--runs 3] [--threads 2] [--whisper-cli PATH]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import SHARED, random_model

from whisper_api.audio import SAMPLE_RATE, FloatArray, decode_file
from whisper_api.engine import Decoding, Engine, EngineJob
from whisper_api.engine.native import NativeEngine
from whisper_api.engine.whisper_cli import CliEngine
from whisper_api.options import TranscribeOptions

OPTIONS = TranscribeOptions(language="en", temperature_fallback=False)



def clip(speech: FloatArray, seconds: int) -> FloatArray:
    repeats = int(np.ceil(seconds * SAMPLE_RATE / speech.size))
    return np.ascontiguousarray(np.tile(speech, repeats)[: seconds * SAMPLE_RATE])


def per_request(engine: Engine, job: EngineJob) -> float:
    start = time.perf_counter()
    engine.transcribe(job)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", nargs="+", default=["tiny", "base"])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--whisper-cli", default=None)
    args = parser.parse_args()
    speech = decode_file(SHARED / "data" / "speech" / "jfk.wav").mono()
    native = NativeEngine()
    cli = CliEngine(args.whisper_cli, home=Path(tempfile.gettempdir()))
    print(f"whisper-cli: {cli.binary}; {args.threads} threads, greedy, no fallback, language en, "
          f"median of {args.runs}")
    print(f"{'model':6s} {'clip':>5s} {'native (resident)':>18s} {'cli (process)':>14s} {'cli/native':>11s} "
          f"{'cli extra':>10s}")
    with tempfile.TemporaryDirectory() as folder:
        for dims in args.dims:
            model = random_model(dims, Path(folder))
            native.preload(model)
            for seconds in (5, 60):
                job = EngineJob(audio=clip(speech, seconds), model_path=model, decoding=Decoding.of(OPTIONS),
                                threads=args.threads)
                per_request(native, job)  # warm-up: caches, first-call allocations
                native_times, cli_times = [], []
                for _ in range(args.runs):
                    native_times.append(per_request(native, job))
                    cli_times.append(per_request(cli, job))
                a, b = statistics.median(native_times), statistics.median(cli_times)
                print(f"{dims:6s} {seconds:4d}s {a:17.3f}s {b:13.3f}s {b / a:11.2f} {1000 * (b - a):8.0f}ms")
            native.close()


if __name__ == "__main__":
    main()
