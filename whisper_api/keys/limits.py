"""Per-key limits: requests per minute, concurrent live streams, and an audio-minutes quota.

Kept in their own table (one row per limited key), so keys without limits cost nothing and
older databases gain the table without a migration (the table: ``whisper_api.store.tables``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from whisper_api.errors import InvalidOptionError
from whisper_api.store.tables import KeyLimitsRow

QUOTA_PERIODS = ("day", "month")


@dataclass(frozen=True)
class KeyLimits:
    """None means unlimited."""

    requests_per_minute: int | None = None
    concurrent_streams: int | None = None
    audio_minutes: float | None = None
    """Audio a key may have transcribed per quota period (UTC calendar day or month)."""
    quota_period: str = "month"

    def __post_init__(self) -> None:
        if self.quota_period not in QUOTA_PERIODS:
            raise InvalidOptionError(f"quota period must be one of {', '.join(QUOTA_PERIODS)}")
        for name in ("requests_per_minute", "concurrent_streams", "audio_minutes"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise InvalidOptionError(f"{name.replace('_', ' ')} must be 0 or more")

    @classmethod
    def of(cls, row: KeyLimitsRow | None) -> KeyLimits:
        if row is None:
            return cls()
        return cls(row.requests_per_minute, row.concurrent_streams, row.audio_minutes, row.quota_period)

    @property
    def unlimited(self) -> bool:
        return self == KeyLimits(quota_period=self.quota_period)

    def period(self, now: datetime) -> tuple[date, datetime]:
        """The first day of the quota period holding ``now``, and when the next period starts."""
        today = now.astimezone(timezone.utc).date()
        if self.quota_period == "day":
            first, following = today, today + timedelta(days=1)
        else:
            first = today.replace(day=1)
            following = (first + timedelta(days=32)).replace(day=1)
        return first, datetime.combine(following, time(), timezone.utc)
