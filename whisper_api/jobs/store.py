"""The job table: every accepted ``callback=`` request, from queued to delivered (or failed).

A job row is written before the client hears its request id, and changes state only in the
database, so a server that stops at any moment finds its unfinished jobs again on start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Text, delete, update
from sqlmodel import Field, SQLModel, col, select

from whisper_api.database import Database, as_utc, utc_now
from whisper_api.errors import WhisperApiError

QUEUED, RUNNING, DELIVERING, DONE, FAILED = "queued", "running", "delivering", "done", "failed"
UNFINISHED = (QUEUED, RUNNING, DELIVERING)


class JobNotFoundError(WhisperApiError):
    pass


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
    next_attempt_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True), index=True)


@dataclass(frozen=True)
class Job:
    id: str
    key_id: str | None
    status: str
    query: str
    audio_path: str
    sha256: str
    callback: str
    callback_method: str
    result: str | None
    result_type: str | None
    error: str | None
    delivery_error: str | None
    attempts: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: JobRow) -> Job:
        values = {name: getattr(row, name) for name in cls.__dataclass_fields__}
        for name in ("next_attempt_at", "created_at", "updated_at"):
            values[name] = as_utc(values[name])
        return cls(**values)


class JobStore:
    def __init__(self, database: Database) -> None:
        self.database = database

    def add(self, job_id: str, key_id: str | None, query: str, audio_path: str, sha256: str, callback: str,
            callback_method: str) -> Job:
        now = utc_now()
        row = JobRow(id=job_id, key_id=key_id, status=QUEUED, query=query, audio_path=audio_path, sha256=sha256,
                     callback=callback, callback_method=callback_method, created_at=now, updated_at=now)
        with self.database.session() as session:
            session.add(row)
            session.commit()
            session.refresh(row)
            return Job.of(row)

    def get(self, job_id: str) -> Job:
        with self.database.session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise JobNotFoundError(f"no job {job_id}")
            return Job.of(row)

    def update(self, job_id: str, **values: Any) -> Job:
        statement: Any = update(JobRow).where(col(JobRow.id) == job_id).values(updated_at=utc_now(), **values)
        with self.database.session() as session:
            session.execute(statement)
            session.commit()
        return self.get(job_id)

    def unfinished(self, audio_root: str) -> list[Job]:
        """Jobs a restarted server must take up again: unfinished, with their audio under its folder."""
        query: Any = select(JobRow).where(col(JobRow.status).in_(UNFINISHED)).order_by(col(JobRow.created_at))
        with self.database.session() as session:
            rows = session.exec(query).all()
            return [Job.of(row) for row in rows if row.audio_path.startswith(audio_root)]

    def prune(self, before: datetime) -> int:
        """Forget finished jobs (and their results) last changed before ``before``."""
        statement: Any = delete(JobRow).where(col(JobRow.status).in_((DONE, FAILED)), col(JobRow.updated_at) < before)
        with self.database.session() as session:
            result: Any = session.execute(statement)
            deleted = result.rowcount
            session.commit()
        return int(deleted or 0)
