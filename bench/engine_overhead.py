#!/usr/bin/env python3
"""What our layers cost on top of whisper.cpp: the same model file, audio and parameters through

  (a) pywhispercpp's own ``Model.transcribe`` (the baseline),
  (b) our core, ``Transcriber.transcribe`` on decoded samples (engine, token data, word merging),
  (b') our core on the file path (adds decoding with ffmpeg),
  (c) ``whisper-api transcribe`` as a new process (adds start-up, model load and decoding).

Models are real-size with random weights (../shared/tools/random_ggml_model.py), so the compute
per window and per token is a real model's. Runs are interleaved and the median is reported.

usage: bench/engine_overhead.py [--dims tiny base] [--runs 5] [--threads 2] [--audio FILE]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from common import SHARED, random_model, timed
from pywhispercpp.model import Model

from whisper_api import DecodedAudio, TranscribeOptions, Transcriber
from whisper_api.audio import decode_file
from whisper_api.settings import load_settings


def measure(model: Path, audio_file: Path, runs: int, threads: int) -> dict[str, float]:
    samples = decode_file(audio_file).mono()
    transcriber = Transcriber(load_settings())  # first: its engine routes whisper.cpp's log for both
    baseline = Model(str(model), n_threads=threads, language="en", temperature_inc=0.0, token_timestamps=True,
                     print_progress=False, print_realtime=False)
    options = TranscribeOptions(model=str(model), language="en", threads=threads, temperature_fallback=False)
    decoded = DecodedAudio.from_array(samples)
    command = [sys.executable, "-m", "whisper_api", "transcribe", str(audio_file), "--model", str(model),
               "--language", "en", "--threads", str(threads), "--no-fallback", "--txt", "-o", "-"]
    variants: dict[str, Callable[[], object]] = {
        "a pywhispercpp": lambda: baseline.transcribe(samples),
        "b core (samples)": lambda: transcriber.transcribe(decoded, options),
        "b' core (file)": lambda: transcriber.transcribe(audio_file, options),
        "c cli process": lambda: subprocess.run(command, check=True, capture_output=True),
    }
    raw_segments = len(baseline.transcribe(samples))
    our_segments = len(transcriber.transcribe(decoded, options).segments)
    print(f"  segments decoded: pywhispercpp {raw_segments}, core {our_segments} (same decode expected)")
    times: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(runs):  # interleaved, so drift on the machine hits every variant alike
        for name, action in variants.items():
            times[name].append(timed(action))
    transcriber.close()
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", nargs="+", default=["tiny", "base"])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--audio", type=Path, default=SHARED / "data" / "speech" / "jfk.wav")
    args = parser.parse_args()
    if not args.audio.is_file():
        sys.exit(f"audio file not found: {args.audio}")
    print(f"audio {args.audio.name} ({decode_file(args.audio).duration:.1f} s), {args.threads} threads, "
          f"greedy, no fallback, language en, median of {args.runs}")
    with tempfile.TemporaryDirectory() as folder:
        for dims in args.dims:
            print(f"\n{dims} (random weights, real size)")
            medians = measure(random_model(dims, Path(folder)), args.audio, args.runs, args.threads)
            base = medians["a pywhispercpp"]
            for name, seconds in medians.items():
                print(f"  {name:18s} {seconds:7.3f} s   ratio to a: {seconds / base:5.3f}")


if __name__ == "__main__":
    main()
