"""What a caller can ask of one transcription, and of diarization (free of numpy: options import fast)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from whisper_api.errors import InvalidOptionError

MODES = ("speaker", "channel")


def require_channels(channels: int) -> None:
    """Channel mode's one condition: a speaker per channel needs more than one channel."""
    if channels < 2:
        raise InvalidOptionError("channel diarization needs audio with one speaker per channel; "
                                 "this recording has one channel")


@dataclass(frozen=True)
class SpeakerCount:
    """What the caller knows of the number of speakers: exact, or bounds, or nothing."""

    exact: int | None = None
    minimum: int | None = None
    maximum: int | None = None

    def __post_init__(self) -> None:
        for name, value in (("speakers", self.exact), ("min_speakers", self.minimum), ("max_speakers", self.maximum)):
            if value is not None and value < 1:
                raise InvalidOptionError(f"{name} must be 1 or more, not {value}")
        if self.minimum and self.maximum and self.minimum > self.maximum:
            raise InvalidOptionError(f"min_speakers ({self.minimum}) is above max_speakers ({self.maximum})")

    def allows(self, number: int) -> bool:
        """Whether ``number`` speakers is within what the caller said."""
        return (self.exact is None or number <= self.exact) and (self.maximum is None or number <= self.maximum)


@dataclass(frozen=True)
class DiarizeOptions:
    mode: str = "speaker"
    """``speaker``: tell voices apart; ``channel``: one speaker per audio channel (stereo call recordings)."""
    speakers: SpeakerCount = field(default_factory=SpeakerCount)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidOptionError(f"diarize mode must be one of {', '.join(MODES)}, not '{self.mode}'")


@dataclass(frozen=True)
class Thresholds:
    """whisper.cpp's checks on each 30 s window it decodes (docs/hallucination-guard.md)."""

    no_speech: float = 0.6
    logprob: float = -1.0
    entropy: float = 2.4


THRESHOLDS_OFF = Thresholds(no_speech=1.0, logprob=-math.inf, entropy=0.0)
"""Values whisper.cpp's comparisons never meet: a probability is never above 1 (``>``), an average
log-probability never below -inf and an entropy never below 0 (``<``)."""
DEFAULT_THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class Range:
    """The values an option takes, declared once: the CLI, the REST and OpenAI parsers and Python
    callers (through ``TranscribeOptions``) all check against it."""

    low: float
    high: float

    @property
    def wanted(self) -> str:
        return f"a number from {self.low:g} to {self.high:g}"

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high  # NaN holds nowhere

    def bounds(self) -> dict[str, float]:
        """typer's ``min``/``max`` for the finite ends."""
        return {name: end for name, end in (("min", self.low), ("max", self.high)) if math.isfinite(end)}


RANGES = {
    "temperature": Range(0.0, 1.0),
    "no_speech_threshold": Range(0.0, 1.0),
    "logprob_threshold": Range(-math.inf, 0.0),
    "entropy_threshold": Range(0.0, math.inf),
}


@dataclass(frozen=True)
class TranscribeOptions:
    """Decoding options. ``None`` means "the configured default" (see settings)."""

    model: str | None = None
    """A catalogue name (``base.en``), an installed file's name, or a path to a ``.bin``."""
    language: str | None = None
    """An ISO 639-1 code such as ``en``; None or ``auto`` detects the language."""
    translate: bool = False
    """Translate the speech into English."""
    threads: int | None = None
    initial_prompt: str | None = None
    """Text the decoder sees as if it came before the audio: names, spellings, style."""
    beam_size: int = 1
    """1 decodes greedily; more runs beam search with that many beams."""
    best_of: int = 5
    """Candidates sampled per window when the temperature falls back above 0."""
    temperature: float = 0.0
    temperature_fallback: bool = True
    """Re-decode a window at higher temperatures when the output looks degenerate."""
    vad: bool | None = None
    """Decode only what a Silero VAD model finds to be speech. None: when ``silero-vad`` is installed
    (or ``vad_model`` is given) and the guard is on; True requires the model; False never."""
    vad_model: str | None = None
    """A VAD model name or path; default: the installed ``silero-vad``."""
    word_timestamps: bool = True
    """Time each word from token timestamps; off spreads words evenly over their segment."""
    multichannel: bool = False
    """Transcribe each audio channel on its own instead of a mono mix."""
    timestamps: bool = True
    """Off, whisper decodes without timestamp tokens: one segment, fewer tokens (live interim results)."""
    audio_context: int = 0
    """Encoder frames to use (50 per second of audio); 0 uses all 1500 (30 s). Fewer is faster on short audio."""
    max_tokens: int = 0
    """At most this many tokens per segment; 0 means no limit."""
    guard: bool = True
    """The hallucination guard (docs/hallucination-guard.md); False turns off the automatic VAD, the
    thresholds and the repetition filter (an explicit ``vad=True`` still applies)."""
    no_speech_threshold: float = DEFAULT_THRESHOLDS.no_speech
    """A window whose no-speech probability is above this and whose average log-probability is below
    ``logprob_threshold`` is dropped as silence; 1 never drops one."""
    logprob_threshold: float = DEFAULT_THRESHOLDS.logprob
    """A window below this average token log-probability is re-decoded hotter (``temperature_fallback``)
    or, as above, dropped; ``-math.inf`` never."""
    entropy_threshold: float = DEFAULT_THRESHOLDS.entropy
    """A long window whose tokens' entropy is below this is a loop and is re-decoded hotter; 0 never."""
    repetition_filter: bool = True
    """Drop a segment that repeats the one before, and collapse a phrase repeated over and over."""
    diarize: DiarizeOptions | None = None
    """Label every word with its speaker (see docs/diarization.md); None skips diarization."""

    def __post_init__(self) -> None:
        for name, allowed in RANGES.items():
            value = getattr(self, name)
            if not allowed.holds(value):
                raise InvalidOptionError(f"{name} must be {allowed.wanted}, not {value}")

    @property
    def keeps_channels(self) -> bool:
        """Whether the audio must be decoded channel by channel rather than as a mono mix."""
        return self.multichannel or (self.diarize is not None and self.diarize.mode == "channel")

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds the engine passes to whisper.cpp: all off with the guard off."""
        if not self.guard:
            return THRESHOLDS_OFF
        return Thresholds(self.no_speech_threshold, self.logprob_threshold, self.entropy_threshold)

    @property
    def filters_repetitions(self) -> bool:
        return self.guard and self.repetition_filter

    @property
    def auto_language(self) -> bool:
        return self.language in (None, "", "auto")
