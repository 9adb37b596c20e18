"""The time, always timezone-aware UTC: stored, compared and sent in one form everywhere."""

from __future__ import annotations

from datetime import datetime, timezone


def utc_now() -> datetime:
    return datetime.now(timezone.utc)
