#!/usr/bin/env python3
"""whisper-api against its peers on the same weights and the same audio, in one run.

Systems (real tiny.en; every one gets the same decoded 16 kHz audio and language en):
  whisper-api            the Transcriber with its defaults (VAD gate, guard, fitted context; the f16
                         model runs as bf16 where the CPU and the binding do bf16: weights = auto)
  whisper-api stored     the same with weights = stored: the f16 model as it is
  whisper-api q8_0 ...   the same with the model quantized by `whisper-api models quantize`
  whisper.cpp            raw whisper.cpp through pywhispercpp, its default parameters
  faster-whisper int8 / float32   the same weights in CTranslate2 form
each greedy and with beam 5, with 1 and with 2 threads, each in a process of its own (so its peak
resident memory is its own; model loading is not timed). Sets: ``short`` and ``long`` of
../shared/data/asr-dev, and ``10 min``: the English clips back to back (short, long,
conversational) and the long passage again, 610 s, its reference the references joined.
Columns: CPU seconds per audio minute (the process's, all threads), wall real-time factor, peak
RSS, WER after Whisper's English normaliser; the ratio is faster-whisper int8's wall time over
the system's on the same set and settings (above 1: faster than faster-whisper int8).

``--seed`` also times the warm server against the seed's design on 5 s clips (the long passage
cut in 12 pieces): a real ``whisper-api serve`` answering ``POST /v1/listen`` one clip at a time,
against spawning ffmpeg (to 16 kHz WAV) and then whisper-cli (greedy, the same threads) per clip.

usage: bench/peers.py [--threads 1 2] [--beams 1 5] [--systems ...] [--sets short long "10 min"] [--seed]
                     [--repeat N]  (N runs of every system, taking turns; the table shows medians)
       (needs: pip install '.[peers]', and whisper-cli built for --seed)
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import jiwer
import numpy as np
from accuracy import (
    DATA,
    MODELS,
    Clip,
    Transcribe,
    ensure_models,
    faster_whisper,
    load_clips,
    normalise,
    quantized,
    raw_whisper_cpp,
    whisper_api,
)

from whisper_api.audio import SAMPLE_RATE
from whisper_api.engine.weights import STORED
from whisper_api.engine.whisper_cli_build import installed_binary
from whisper_api.keys import KeyStore
from whisper_api.models.catalogue import BY_NAME
from whisper_api.models.packaged import fetch_checkpoint

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.audio_files import write_wav
from tests.support.server import run_server

MODEL = "tiny.en"
SETS = ("short", "long", "10 min")
BASELINE = "faster-whisper int8"
SEED_CLIPS, SEED_SECONDS = 12, 5.0


def system(name: str, threads: int, beam: int, ct2: Path) -> Transcribe:
    if name == "whisper.cpp":
        return raw_whisper_cpp(MODELS / BY_NAME[MODEL].filename, threads, beam)
    if name.startswith("faster-whisper"):
        return faster_whisper(ct2, threads, name.rsplit(maxsplit=1)[-1], beam)
    kind = name.removeprefix("whisper-api").strip()
    if kind == STORED:
        return whisper_api(MODELS, MODEL, threads, weights=STORED, beam_size=beam)
    return whisper_api(MODELS, quantized(MODEL, kind) if kind else MODEL, threads, beam_size=beam)


SYSTEMS = ("whisper-api", f"whisper-api {STORED}", "whisper-api q8_0", "whisper-api q5_1", "whisper-api q4_0",
           "whisper-api bf16", "whisper.cpp",
           "faster-whisper int8", "faster-whisper float32")


def clips_of(sets: list[str]) -> list[Clip]:
    english = load_clips(["short", "long", "conversational"])
    chosen = [clip for clip in english if clip.set in sets]
    if "10 min" in sets:
        parts = [*english, *(clip for clip in english if clip.set == "long")]
        chosen.append(Clip("10 min", DATA, " ".join(clip.text for clip in parts), "en",
                           np.concatenate([clip.samples for clip in parts])))
    return chosen


def measure(transcribe: Transcribe, clips: list[Clip]) -> dict[str, dict[str, float]]:
    """Per set: word edits, reference words, CPU and wall seconds, audio seconds."""
    found: dict[str, dict[str, float]] = {}
    for clip in clips:
        cpu, wall = time.process_time(), time.perf_counter()
        text = transcribe(clip.samples, clip.language)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        words = jiwer.process_words(normalise(clip.text, "en"), normalise(text, "en"))
        entry = found.setdefault(clip.set, dict.fromkeys(("edits", "words", "cpu", "wall", "audio"), 0.0))
        entry["edits"] += words.substitutions + words.deletions + words.insertions
        entry["words"] += len(normalise(clip.text, "en").split())
        entry["cpu"] += cpu
        entry["wall"] += wall
        entry["audio"] += clip.seconds
    return found


def child(args: argparse.Namespace) -> None:
    """One system at one setting, in this process; prints its figures as JSON."""
    transcribe = system(args.child, args.threads[0], args.beams[0], Path(args.ct2))
    clips = clips_of(args.sets)
    transcribe(clips[0].samples[:SAMPLE_RATE], "en")  # first call's one-off set-up outside the timing
    figures = measure(transcribe, clips)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"sets": figures, "peak_mib": peak}))


def run_child(name: str, threads: int, beam: int, sets: list[str], ct2: Path) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", name, "--threads", str(threads), "--beams", str(beam),
               "--ct2", str(ct2), "--sets", *sets]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def median_result(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Every figure of one system's repeated runs at its median (peak memory at its largest)."""
    sets = {name: {figure: statistics.median(run["sets"][name][figure] for run in runs)
                   for figure in runs[0]["sets"][name]} for name in runs[0]["sets"]}
    return {"sets": sets, "peak_mib": max(run["peak_mib"] for run in runs)}


def table(results: dict[str, dict[str, object]], sets: list[str], threads: int, beam: int) -> None:
    print(f"\n{threads} thread{'s' if threads > 1 else ''}, {'greedy' if beam == 1 else f'beam {beam}'}: "
          "CPU s per audio minute / wall RTF / WER % / x faster-whisper int8 (wall), and peak RSS\n")
    print("| system | " + " | ".join(sets) + " | peak RSS |")
    print("|---|" + "---|" * (len(sets) + 1))
    for name, found in results.items():
        cells = []
        for set_name in sets:
            entry = found["sets"][set_name]  # type: ignore[index]
            ratio = (f"{results[BASELINE]['sets'][set_name]['wall'] / entry['wall']:.2f}x"  # type: ignore[index]
                     if BASELINE in results else "-")
            cells.append(f"{60 * entry['cpu'] / entry['audio']:.2f} / {entry['wall'] / entry['audio']:.3f} / "
                         f"{100 * entry['edits'] / entry['words']:.1f} / {ratio}")
        print(f"| {name} | " + " | ".join(cells) + f" | {found['peak_mib']:.0f} MiB |")


def seed_design(threads: int) -> None:
    """Warm server against ffmpeg + whisper-cli spawned per clip, on 5 s clips."""
    binary = installed_binary("whisper-cli", Path.home())
    if binary is None or shutil.which("ffmpeg") is None:
        print("\n--seed needs whisper-cli built (whisper-api engine build) and ffmpeg")
        return
    passage = next(clip for clip in load_clips(["long"]))
    step = round(SEED_SECONDS * SAMPLE_RATE)
    with tempfile.TemporaryDirectory() as home:
        folder = Path(home)
        paths = [write_wav(folder / f"clip{index}.wav", [passage.samples[index * step:(index + 1) * step]])
                 for index in range(SEED_CLIPS)]
        spawned = timed_each(paths, lambda path: spawn_per_request(binary, path, threads, folder))
        (folder / "models").symlink_to(MODELS)
        key = KeyStore(f"sqlite:///{folder / 'whisper-api.db'}").create("bench", ("listen",))[1].text
        with run_server(folder, "--model", MODEL, env={"WHISPER_API_THREADS": str(threads)}) as server, \
                httpx.Client(base_url=server.url, headers={"Authorization": f"Token {key}"}, timeout=120) as client:
            def post(path: Path) -> None:
                client.post("/v1/listen?language=en", content=path.read_bytes()).raise_for_status()

            post(paths[0])  # the model loads on the first request
            warm = timed_each(paths, post)
    print(f"\n5 s clips, {threads} threads, greedy, one at a time ({SEED_CLIPS} clips): warm server "
          f"{warm:.2f} s per clip, ffmpeg + whisper-cli per clip {spawned:.2f} s: {spawned / warm:.2f}x")


def timed_each(paths: list[Path], action: Callable[[Path], object]) -> float:
    started = time.perf_counter()
    for path in paths:
        action(path)
    return (time.perf_counter() - started) / len(paths)


def spawn_per_request(binary: Path, path: Path, threads: int, folder: Path) -> None:
    converted = folder / "converted.wav"
    subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(path), "-ar", "16000", "-ac", "1",
                    str(converted)], check=True)
    subprocess.run([str(binary), "-m", str(MODELS / BY_NAME[MODEL].filename), "-f", str(converted),
                    "-t", str(threads), "-bs", "1", "-bo", "1", "-nt", "-np", "-l", "en"],
                   check=True, capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=SETS)
    parser.add_argument("--seed", action="store_true", help="also time the warm server against the seed's design")
    parser.add_argument("--repeat", type=int, default=1, help="runs of every system; the table shows medians")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--ct2", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    ensure_models(MODELS, [MODEL])
    for name in args.systems:  # quantized copies made once, before any timing
        if name.startswith("whisper-api ") and name != f"whisper-api {STORED}":
            quantized(MODEL, name.split()[-1])
    with tempfile.TemporaryDirectory() as work:
        ct2 = fetch_checkpoint(BY_NAME[MODEL].converted, Path(work) / MODEL)  # type: ignore[arg-type]
        for threads in args.threads:
            for beam in args.beams:
                rounds = [{name: run_child(name, threads, beam, args.sets, ct2) for name in args.systems}
                          for _ in range(args.repeat)]  # systems take turns, so the machine's drift hits all
                table({name: median_result([found[name] for found in rounds]) for name in args.systems},
                      args.sets, threads, beam)
    if args.seed:
        for threads in args.threads:
            seed_design(threads)


if __name__ == "__main__":
    main()
