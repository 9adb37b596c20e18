"""The job table: every accepted ``callback=`` request, from queued to delivered (or failed).

A job row is written before the client hears its request id, and changes state only in the
database, so a server that stops at any moment finds its unfinished jobs again on start-up (or,
with a task queue, a worker finds how far a job got when its task runs again).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import Delete, Update, delete, or_, update
from sqlmodel import col, select

from whisper_api.clock import utc_now
from whisper_api.errors import JobNotFoundError
from whisper_api.store.db import Database
from whisper_api.store.tables import JobRow

QUEUED, RUNNING, DELIVERING, DONE, FAILED = "queued", "running", "delivering", "done", "failed"
UNFINISHED = (QUEUED, RUNNING, DELIVERING)


Job = JobRow
"""A job as read from the database: a row, detached from its session (every column loaded, times in UTC)."""


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
            return row

    def get(self, job_id: str) -> Job:
        with self.database.session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                raise JobNotFoundError(f"no job {job_id}")
            return row

    def update(self, job_id: str, **values: object) -> Job:
        self._rows_changed(update(JobRow).where(col(JobRow.id) == job_id).values(updated_at=utc_now(), **values))
        return self.get(job_id)

    def advance(self, job_id: str, statuses: Sequence[str], **values: object) -> bool:
        """Set ``values`` if the job is in one of ``statuses``; False when it is not (another run of the
        same job got there first)."""
        statement = update(JobRow).where(col(JobRow.id) == job_id, col(JobRow.status).in_(statuses)).values(
            updated_at=utc_now(), **values)
        return self._rows_changed(statement) == 1

    def claim_attempt(self, job_id: str, attempts: int, now: datetime, busy_until: datetime) -> bool:
        """Hold the job for its next delivery attempt until ``busy_until``, when it is delivering, has had
        ``attempts`` attempts and its next one is due; False when another run has it or it is not due."""
        statement = update(JobRow).where(
            col(JobRow.id) == job_id, col(JobRow.status) == DELIVERING, col(JobRow.attempts) == attempts,
            or_(col(JobRow.next_attempt_at).is_(None), col(JobRow.next_attempt_at) <= now),
        ).values(next_attempt_at=busy_until)
        return self._rows_changed(statement) == 1

    def stale(self, before: datetime) -> list[Job]:
        """Unfinished jobs unchanged since ``before``, oldest first."""
        query = select(JobRow).where(col(JobRow.status).in_(UNFINISHED), col(JobRow.updated_at) < before).order_by(
            col(JobRow.updated_at))
        with self.database.session() as session:
            return list(session.exec(query).all())

    def unfinished(self, audio_root: Path) -> list[Job]:
        """Unfinished jobs with their audio in ``audio_root``, oldest first."""
        query = select(JobRow).where(col(JobRow.status).in_(UNFINISHED)).order_by(col(JobRow.created_at))
        with self.database.session() as session:
            return [row for row in session.exec(query).all() if Path(row.audio_path).is_relative_to(audio_root)]

    def prune(self, before: datetime) -> int:
        """Forget finished jobs (and their results) last changed before ``before``."""
        return self._rows_changed(delete(JobRow).where(col(JobRow.status).in_((DONE, FAILED)),
                                                       col(JobRow.updated_at) < before))

    def _rows_changed(self, statement: Update | Delete) -> int:
        with self.database.session() as session:
            changed = session.connection().execute(statement).rowcount
            session.commit()
        return int(changed or 0)

