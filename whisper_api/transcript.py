"""The transcript: what every engine produces and every formatter consumes.

Times are seconds (floats) from the start of the audio; confidences are 0..1.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Word:
    """One word as spoken, with punctuation attached (``"Hello,"``)."""

    text: str
    start: float
    end: float
    confidence: float
    speaker: int | None = None
    """The speaker's number (0, 1, ... by first appearance) when the transcript was diarized."""
    speaker_confidence: float | None = None


@dataclass(frozen=True, slots=True)
class SpeakerTurn:
    """A stretch of time in which one speaker talks."""

    start: float
    end: float
    speaker: int
    confidence: float

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of speech the engine decoded as one piece, from one audio channel."""

    start: float
    end: float
    words: tuple[Word, ...]
    channel: int = 0

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    @property
    def confidence(self) -> float:
        if not self.words:
            return 0.0
        return sum(word.confidence for word in self.words) / len(self.words)


@dataclass(frozen=True, slots=True)
class Transcript:
    """Everything said in one recording, in time order within each channel."""

    segments: tuple[Segment, ...]
    duration: float
    language: str
    language_confidence: float | None = None
    channels: int = 1
    model: str = ""
    warnings: tuple[str, ...] = field(default=())
    speaker_turns: tuple[SpeakerTurn, ...] = field(default=())
    """Who spoke when, when the transcript was diarized (empty otherwise)."""
    speakers: int = 0
    """How many speakers diarization found; 0 when it did not run."""

    @property
    def diarized(self) -> bool:
        return self.speakers > 0

    @property
    def text(self) -> str:
        return "\n".join(segment.text for segment in self.segments if segment.words)

    def words(self, channel: int | None = None) -> Iterator[Word]:
        for segment in self.channel_segments(channel):
            yield from segment.words

    def channel_segments(self, channel: int | None = None) -> tuple[Segment, ...]:
        """Segments of one channel, or of all channels when ``channel`` is None."""
        if channel is None:
            return self.segments
        return tuple(segment for segment in self.segments if segment.channel == channel)
