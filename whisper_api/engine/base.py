"""The engine protocol and the registry engines are looked up in by name.

An engine turns 16 kHz mono samples into segments of timed words. Everything around that
(decoding files, channels, formats) belongs to the core, so a new engine is one module.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from whisper_api.audio import FloatArray
from whisper_api.errors import InvalidOptionError
from whisper_api.options import Thresholds, TranscribeOptions
from whisper_api.transcript import Segment

if TYPE_CHECKING:
    from whisper_api.settings import Settings

ENCODER_FRAMES_PER_SECOND = 50
FULL_CONTEXT = 1500
"""whisper's encoder context: 30 s."""
CONTEXT_MARGIN = 64
"""Encoder frames beyond the audio when the context is reduced (1.3 s): whisper reads a little past the end."""
CONTEXT_FLOOR = 768
"""The smallest reduced context (15.4 s): on real speech a context fitted to a short utterance cost
tiny.en 6 WER points; from 15 s on, decodes matched the full 30 s on short clips at half the cost
(docs/benchmarks.md, "Live finals: encoder context")."""


def audio_context(seconds: float, floor: int = 0) -> int:
    """A reduced encoder context for ``seconds`` of audio, at least ``floor``, in whisper.cpp's units
    (FULL_CONTEXT = 30 s)."""
    frames = math.ceil(seconds * ENCODER_FRAMES_PER_SECOND) + CONTEXT_MARGIN
    return min(FULL_CONTEXT, max(floor, math.ceil(frames / 64) * 64))


ProgressCallback = Callable[[float], None]
"""Called with the fraction (0..1) of the audio decoded so far."""


class DecodeProgress:
    """A job's progress from two sources: whisper.cpp's own, which moves once per 30 s window, and
    the end of each new segment, which moves every few seconds of audio, so a progress bar can show
    a rate and an ETA. What it reports never goes back."""

    def __init__(self, report: ProgressCallback, audio_seconds: float) -> None:
        self._report, self._seconds, self._reached = report, audio_seconds, 0.0

    def percent(self, percent: float) -> None:
        self._advance(percent / 100)

    def segment_ended(self, seconds: float) -> None:
        if self._seconds > 0:
            self._advance(seconds / self._seconds)

    def _advance(self, fraction: float) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        if fraction > self._reached:
            self._reached = fraction
            self._report(fraction)


@dataclass(frozen=True)
class Decoding:
    """What an engine decodes with: the options of a transcription that reach whisper.cpp, and no
    others (the guard's gate and filter, diarization, channels and formats are the core's)."""

    language: str | None
    """An ISO 639-1 code; None detects the language."""
    translate: bool
    initial_prompt: str | None
    beam_size: int
    best_of: int
    temperature: float
    temperature_fallback: bool
    thresholds: Thresholds
    word_timestamps: bool
    timestamps: bool
    audio_context: int
    max_tokens: int

    @classmethod
    def of(cls, options: TranscribeOptions) -> Decoding:
        """The decoding part of ``options`` (whose meanings and defaults it keeps)."""
        return cls(None if options.auto_language else options.language, options.translate, options.initial_prompt,
                   options.beam_size, options.best_of, options.temperature, options.temperature_fallback,
                   options.thresholds, options.word_timestamps, options.timestamps, options.audio_context,
                   options.max_tokens)

    @property
    def auto_language(self) -> bool:
        return self.language is None


@dataclass(frozen=True)
class EngineJob:
    """One mono channel to transcribe, with every option already resolved."""

    audio: FloatArray
    model_path: Path
    decoding: Decoding
    threads: int
    progress: ProgressCallback | None = None
    cancel: threading.Event | None = None
    """Set it from any thread to stop the job; the engine raises TranscriptionCancelled."""


@dataclass(frozen=True)
class EngineResult:
    segments: tuple[Segment, ...]
    language: str
    language_confidence: float | None = None


class Engine(Protocol):
    name: str

    def transcribe(self, job: EngineJob) -> EngineResult: ...

    def preload(self, model_path: Path) -> None:
        """Load a model ahead of the first job (servers call this at start-up)."""

    def close(self) -> None:
        """Free loaded models."""


def resolve_language(options: Decoding, multilingual: bool, known: Callable[[str], bool]) -> str:
    """whisper.cpp's language value (a code or ``auto``), after checking the model can do what is asked.

    ``known`` tells whether whisper.cpp knows a language code.
    """
    if not multilingual:
        if options.translate:
            raise InvalidOptionError("this model is English-only and cannot translate; use a multilingual model")
        if not options.auto_language and options.language != "en":
            raise InvalidOptionError(
                f"this model is English-only; language '{options.language}' needs a multilingual model"
            )
        return "en"
    if options.auto_language:
        return "auto"
    assert options.language is not None
    if not known(options.language):
        raise InvalidOptionError(f"unknown language '{options.language}'")
    return options.language


EngineFactory = Callable[["Settings"], Engine]
_REGISTRY: dict[str, EngineFactory] = {}


def register_engine(name: str, factory: EngineFactory) -> None:
    _REGISTRY[name] = factory


def engine_names() -> list[str]:
    return sorted(_REGISTRY)


def create_engine(name: str, settings: Settings) -> Engine:
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise InvalidOptionError(f"unknown engine '{name}'; available: {', '.join(engine_names())}") from None
    return factory(settings)
