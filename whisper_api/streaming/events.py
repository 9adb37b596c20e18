"""What a live transcription is asked to do, and what it reports back.

Times are seconds from the start of the stream; ``channel`` counts from 0 of ``channels``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from whisper_api.options import TranscribeOptions
from whisper_api.transcript import Word
from whisper_api.vad.regions import LIVE_RULES

PCM_ENCODINGS = ("linear16", "linear32", "mulaw", "alaw")
"""Headerless audio a stream may send (with its sample rate); anything else is a container."""
MIN_ENDPOINTING = LIVE_RULES.min_silence
"""Shorter endpointing is raised to this (see LIVE_RULES)."""
DEFAULT_ENDPOINTING = 0.5
"""When the client names none (Deepgram's own default is 10 ms): a final is decoded alone and loses
the sentence around it; on real read speech finals cut at 0.25 s pauses had 7.8 % WER against 6.3 %
at 0.5 s and 5.6 % for batch decoding, for 0.25 s more latency (docs/benchmarks.md, "Live finals")."""


@dataclass(frozen=True)
class StreamOptions:
    transcribe: TranscribeOptions = field(default_factory=TranscribeOptions)
    interim_results: bool = False
    endpointing: float | None = DEFAULT_ENDPOINTING
    """Seconds of silence that end an utterance (``speech_final``); None never ends one on silence."""
    utterance_end: float | None = None
    """Send UtteranceEnd after a gap this long after the last word; None never."""
    vad_events: bool = False
    multichannel: bool = False
    interim_every: float = 1.0
    """Seconds of new audio between interim results."""
    max_utterance: float = 10.0
    """An utterance longer than this is cut (``is_final`` without ``speech_final``) at its quietest point."""

    @property
    def effective_endpointing(self) -> float | None:
        return None if self.endpointing is None else max(self.endpointing, MIN_ENDPOINTING)


@dataclass(frozen=True)
class StreamResult:
    """A transcript of the window ``start .. start + duration`` of one channel."""

    channel: int
    channels: int
    start: float
    duration: float
    words: tuple[Word, ...]
    is_final: bool
    speech_final: bool = False
    from_finalize: bool = False


@dataclass(frozen=True)
class SpeechStarted:
    channel: int
    channels: int
    timestamp: float


@dataclass(frozen=True)
class UtteranceEnd:
    channel: int
    channels: int
    last_word_end: float


StreamEvent = StreamResult | SpeechStarted | UtteranceEnd
