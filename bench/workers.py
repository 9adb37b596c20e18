#!/usr/bin/env python3
"""Throughput of several workers on few cores: the thread policy against oversubscription.

The same clips (the short and conversational sets of ../shared/data/asr-dev, real tiny.en
weights, greedy, language en) are decoded by N workers at once, each a Transcriber with its own
loaded model on its own thread, as the server runs them. Three set-ups, in the same run:

  1. one worker with the default threads (the usable cores, at most 4);
  2. three workers as the server now runs them (``engine_slots``: never more decodes at once than
     the cores take with the default threads, here 1 each);
  3. three workers with the old defaults: each decode with the cores' count of threads, all three at
     once (what the server did before: ggml's spinning threads oversubscribe the cores).

Reported: wall seconds for all clips, audio seconds decoded per wall second, and the ratio to
set-up 1 (the target: three workers >= 0.95x one worker).

usage: bench/workers.py [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import SHARED

from whisper_api.audio import DecodedAudio, decode_file
from whisper_api.core import Transcriber
from whisper_api.options import TranscribeOptions
from whisper_api.settings import default_threads, engine_slots, load_settings, usable_cores

MODELS = Path(__file__).resolve().parents[1] / "models"


def clips() -> list[DecodedAudio]:
    root = SHARED / "data" / "asr-dev"
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    return [decode_file(root / row["path"]) for row in rows if row["set"] in ("short", "conversational")]


def decode_all(audio: list[DecodedAudio], workers: int, threads: int) -> float:
    """Wall seconds for ``workers`` transcribers, ``threads`` each, to decode every clip between them."""
    settings = load_settings({"models_dir": str(MODELS), "threads": threads, "workers": workers})
    transcribers = [Transcriber(settings) for _ in range(workers)]
    options = TranscribeOptions(model="tiny.en", language="en", threads=threads)
    for transcriber in transcribers:  # load outside the timing
        transcriber.engine.preload(transcriber.model_path("tiny.en"))
    queue = list(audio)

    def work(transcriber: Transcriber) -> None:
        while queue:
            try:
                clip = queue.pop()
            except IndexError:
                return
            transcriber.transcribe(clip, options)

    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(work, transcribers))
    elapsed = time.perf_counter() - started
    for transcriber in transcribers:
        transcriber.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="runs of each set-up; the best counts")
    args = parser.parse_args()
    if not (MODELS / "ggml-tiny.en.bin").is_file():
        sys.exit(f"needs real tiny.en in {MODELS} (whisper-api models download tiny.en --models-dir ...)")
    audio = clips()
    seconds = sum(clip.duration for clip in audio)
    cores = usable_cores()
    slots, _ = engine_slots(load_settings({"workers": 3}))
    setups = {"1 worker (default threads)": (1, default_threads(1)),
              f"3 workers, policy ({slots} at once x {default_threads(3)} thread)": (slots, default_threads(3)),
              f"3 workers, old defaults (3 at once x {min(4, cores)} threads)": (3, min(4, cores))}
    print(f"{len(audio)} clips, {seconds:.0f} s of audio, {cores} usable cores")
    with tempfile.TemporaryDirectory() as home:
        os.environ["WHISPER_API_HOME"] = home
        best = {name: min(decode_all(audio, *setup) for _ in range(args.rounds)) for name, setup in setups.items()}
    baseline = next(iter(best.values()))
    for name, wall in best.items():
        print(f"{name:48} {wall:6.1f} s  {seconds / wall:5.1f} audio-s per s  {baseline / wall:.2f}x")


if __name__ == "__main__":
    main()
