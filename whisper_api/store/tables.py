"""Every table of the shared database, in one place: keys, their limits and usage, jobs, the schema version.

The stores (``whisper_api.keys.store``, ``whisper_api.jobs.store``) read and write these rows; the
database creates them all on first open (``store.db``), and ``store.migrations`` alters older ones.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import DateTime, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


class UtcDateTime(TypeDecorator[datetime]):
    """A UTC moment: written with its zone, read back aware on every database (SQLite forgets the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None or value.tzinfo is not None:
            return value
        return value.replace(tzinfo=timezone.utc)


class SchemaVersionRow(SQLModel, table=True):
    __tablename__ = "whisper_api_schema"

    id: int = Field(default=1, primary_key=True)
    version: int


class ApiKeyRow(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=32)
    name: str = Field(default="", max_length=200)
    scopes: str = Field(max_length=100)
    """Space-separated scope names: a portable column type on every database."""
    secret_sha256: str = Field(max_length=64)
    created_at: datetime = Field(sa_type=UtcDateTime)
    expires_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    last_used_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    requests: int = 0
    audio_seconds: float = 0.0


class KeyLimitsRow(SQLModel, table=True):
    __tablename__ = "api_key_limits"

    key_id: str = Field(primary_key=True, max_length=32)
    requests_per_minute: int | None = None
    concurrent_streams: int | None = None
    audio_minutes: float | None = None
    quota_period: str = Field(default="month", max_length=10)


class KeyUsageRow(SQLModel, table=True):
    __tablename__ = "api_key_usage"

    key_id: str = Field(primary_key=True, max_length=32)
    day: date = Field(primary_key=True)
    requests: int = 0
    audio_seconds: float = 0.0


class JobRow(SQLModel, table=True):
    __tablename__ = "listen_jobs"

    id: str = Field(primary_key=True, max_length=64)
    key_id: str | None = Field(default=None, max_length=32)
    status: str = Field(max_length=16, index=True)
    query: str = Field(sa_type=Text)
    """The request's query parameters as JSON, parsed again when the job runs."""
    audio_path: str = Field(max_length=1000)
    sha256: str = Field(max_length=64)
    callback: str = Field(sa_type=Text)
    callback_method: str = Field(max_length=8)
    result: str | None = Field(default=None, sa_type=Text)
    result_type: str | None = Field(default=None, max_length=100)
    error: str | None = Field(default=None, sa_type=Text)
    """Why the job failed: its transcription, or its delivery once every attempt has failed."""
    delivery_error: str | None = Field(default=None, sa_type=Text)
    """Why the last delivery attempt failed."""
    attempts: int = 0
    next_attempt_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime, index=True)
