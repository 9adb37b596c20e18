"""What a caller can ask of diarization (kept free of numpy and scipy, so options import fast)."""

from __future__ import annotations

from dataclasses import dataclass, field

from whisper_api.errors import InvalidOptionError

DEFAULT_THRESHOLD = 0.28
"""Cosine distance at which clustering stops merging windows (tuned on AMI meetings); deliberately
low, the over-split is undone on cluster centroids (see whisper_api.diarize.clustering)."""
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

    def clamp(self, count: int) -> int:
        if self.exact:
            return self.exact
        return max(self.minimum or 1, min(self.maximum or count, count))


@dataclass(frozen=True)
class DiarizeOptions:
    mode: str = "speaker"
    """``speaker``: tell voices apart; ``channel``: one speaker per audio channel (stereo call recordings)."""
    speakers: SpeakerCount = field(default_factory=SpeakerCount)
    threshold: float = DEFAULT_THRESHOLD
    """Higher merges more (fewer speakers); lower splits more."""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidOptionError(f"diarize mode must be one of {', '.join(MODES)}, not '{self.mode}'")
        if not 0 < self.threshold < 2:
            raise InvalidOptionError(f"the speaker threshold must be between 0 and 2, not {self.threshold}")
