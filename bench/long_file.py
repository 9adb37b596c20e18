#!/usr/bin/env python3
"""Long recordings: memory flat in the length, and no words lost to decoding in pieces.

1. Peak resident memory (GNU time's) and wall time of ``whisper-api transcribe`` (a process of its own, real
   tiny.en, Silero installed, language en, --threads) on the long passage of ../shared/data/asr-dev
   played back to back to make each of --minutes.
2. WER and wall time, in this process, on the 10-minute recording of bench/peers.py (every English
   clip of asr-dev back to back, then the long passage again: 610 s), decoded in three-minute pieces
   (the default) and in one run (pieces longer than the recording).

usage: bench/long_file.py [--minutes 5 15 60] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jiwer
import numpy as np
from accuracy import DATA, MODELS, ensure_models, load_clips, normalise, whisper_api
from peers import clips_of

from whisper_api import core
from whisper_api.audio import SAMPLE_RATE

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.audio_files import write_wav

MODEL = "tiny.en"
GNU_TIME = "/usr/bin/time"


def peak_of_cli(recording: Path, threads: int, folder: Path) -> tuple[float, float]:
    """Peak RSS (MiB) and wall seconds of one ``whisper-api transcribe`` process, as GNU time reports it
    (this process's own count of its children would include its own memory: a child starts as a copy)."""
    report = folder / "time.txt"
    command = [GNU_TIME, "-f", "%M", "-o", str(report), sys.executable, "-m", "whisper_api", "transcribe",
               str(recording), "--model", MODEL, "--language", "en", "--threads", str(threads), "--txt", "-o", "-"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env={**os.environ, "WHISPER_API_MODELS_DIR": str(MODELS)})
    wall = time.perf_counter() - start
    return int(report.read_text().split()[-1]) / 1024, wall


def memory(minutes: list[int], threads: int) -> None:
    [passage] = load_clips(["long"])
    print(f"model {MODEL} ({(MODELS / 'ggml-tiny.en.bin').stat().st_size / 2**20:.0f} MiB), "
          f"the passage ({passage.seconds:.0f} s) back to back, {threads} threads")
    print("| length | peak RSS | wall | real-time factor |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for length in minutes:
            times = -(-length * 60 * SAMPLE_RATE // passage.samples.size)
            recording = write_wav(Path(folder) / f"{length}.wav",
                                  [np.tile(passage.samples, times)[: length * 60 * SAMPLE_RATE]])
            peak, wall = peak_of_cli(recording, threads, Path(folder))
            print(f"| {length} min | {peak:.0f} MiB | {wall:.0f} s | {wall / (length * 60):.3f} |", flush=True)


def pieces_against_one_run(threads: int) -> None:
    [recording] = [clip for clip in clips_of(["10 min"]) if clip.set == "10 min"]
    transcribe = whisper_api(MODELS, MODEL, threads)
    transcribe(recording.samples[:SAMPLE_RATE], "en")  # the model loads outside the timing
    reference = normalise(recording.text, "en")
    print(f"\n10-minute recording ({recording.seconds:.0f} s), {threads} threads\n"
          "| decoded | WER | wall |\n|---|---|---|")
    for name, limit in (("in three-minute pieces", core.PIECE_SECONDS), ("in one run", 1e9)):
        core.PIECE_SECONDS = limit
        start = time.perf_counter()
        text = transcribe(recording.samples, "en")
        wall = time.perf_counter() - start
        print(f"| {name} | {100 * jiwer.wer(reference, normalise(text, 'en')):.1f} % | {wall:.1f} s |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=int, nargs="+", default=[5, 15, 60])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if not DATA.is_dir() or not Path(GNU_TIME).is_file():
        sys.exit(f"needs {DATA} and GNU time ({GNU_TIME}: apt install time)")
    ensure_models(MODELS, [MODEL])
    memory(args.minutes, args.threads)
    pieces_against_one_run(args.threads)


if __name__ == "__main__":
    main()
