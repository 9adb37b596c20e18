"""Usage per key and per UTC day: requests and audio seconds, for reports and quotas."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from whisper_api.store.tables import KeyUsageRow


@dataclass(frozen=True)
class DayUsage:
    """One key's usage on one UTC day."""

    key_id: str
    day: date
    requests: int
    audio_seconds: float


def add_day_usage(session: Session, key_id: str, day: date, requests: int, audio_seconds: float) -> None:
    """Add to a key's row for ``day``, creating it on the day's first request.

    A concurrent first insert makes the caller's commit fail with an integrity error; the
    caller retries, and the retry finds the row and updates it.
    """
    statement = (
        update(KeyUsageRow)
        .where(col(KeyUsageRow.key_id) == key_id, col(KeyUsageRow.day) == day)
        .values(requests=col(KeyUsageRow.requests) + requests,
                audio_seconds=col(KeyUsageRow.audio_seconds) + audio_seconds)
    )
    if session.connection().execute(statement).rowcount == 0:  # a CursorResult: it has a rowcount
        session.add(KeyUsageRow(key_id=key_id, day=day, requests=requests, audio_seconds=audio_seconds))


def days(session: Session, key_id: str | None, first: date | None, last: date | None) -> list[DayUsage]:
    query = select(KeyUsageRow)
    if key_id is not None:
        query = query.where(col(KeyUsageRow.key_id) == key_id)
    if first is not None:
        query = query.where(col(KeyUsageRow.day) >= first)
    if last is not None:
        query = query.where(col(KeyUsageRow.day) <= last)
    rows = session.exec(query.order_by(col(KeyUsageRow.day), col(KeyUsageRow.key_id))).all()
    return [DayUsage(row.key_id, row.day, row.requests, row.audio_seconds) for row in rows]


def audio_seconds_since(session: Session, key_id: str, first: date) -> float:
    query = select(func.coalesce(func.sum(col(KeyUsageRow.audio_seconds)), 0.0)).where(
        col(KeyUsageRow.key_id) == key_id, col(KeyUsageRow.day) >= first)
    return float(session.exec(query).one())
