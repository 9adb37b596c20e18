"""The one SQL database the server and the CLI share: API keys, usage, async jobs.

Any SQLAlchemy URL works (SQLite by default; PostgreSQL when several servers share it), and
no table uses database-specific SQL. Tables are created on first open; ``MIGRATIONS`` alters
existing ones when the schema version moves on. SQLite files are created private to their
owner and run in WAL mode, so a reader never blocks the writer.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, create_engine

from whisper_api.errors import KeyStoreError

SCHEMA_VERSION = 2


def as_utc(moment: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; every one we write is UTC."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=timezone.utc)


class SchemaVersionRow(SQLModel, table=True):
    __tablename__ = "whisper_api_schema"

    id: int = Field(default=1, primary_key=True)
    version: int


def _add_job_leases(session: Session) -> None:
    from whisper_api.jobs.store import add_lease_columns

    add_lease_columns(session)


# Version -> the change that brings a database from the version before up to it. Tables added
# in a later version are created by create_all; these steps alter what already exists.
MIGRATIONS: dict[int, Callable[[Session], None]] = {2: _add_job_leases}


class Database:
    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise KeyStoreError("the database URL is not a valid SQLAlchemy URL") from None
        self.display_url = parsed.render_as_string(hide_password=True)
        """The URL without its password: the only form that goes into messages."""
        try:
            self.engine = _open(url)
            self._migrate()
        except ImportError as exc:
            raise KeyStoreError(f"no database driver for {parsed.get_backend_name()} ({exc.name} is not "
                                "installed); for PostgreSQL: pip install 'whisper-api[postgres]'") from None
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"cannot open the database {self.display_url}: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session:
                yield session
        except SQLAlchemyError as exc:
            raise KeyStoreError(f"database {self.display_url}: {_reason(exc)}") from exc

    def _migrate(self) -> None:
        # Every table module registers with SQLModel's metadata; import them all before creating.
        from whisper_api.jobs import store as _jobs  # noqa: F401
        from whisper_api.keys import store as _keys  # noqa: F401

        for attempt in range(3):  # another process may be creating the same tables right now
            try:
                SQLModel.metadata.create_all(self.engine)
                with Session(self.engine) as session:
                    _upgrade(session)
                return
            except SQLAlchemyError:
                if attempt == 2:
                    raise


def _upgrade(session: Session) -> None:
    current = session.get(SchemaVersionRow, 1)
    if current is None:  # a new database: create_all has just made the current schema
        session.add(SchemaVersionRow(id=1, version=SCHEMA_VERSION))
        session.commit()
        return
    if current.version > SCHEMA_VERSION:
        raise KeyStoreError(f"the database has schema version {current.version}, newer than this "
                            f"whisper-api understands ({SCHEMA_VERSION}); upgrade whisper-api")
    for version in range(current.version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](session)
        current.version = version
        session.add(current)
        session.commit()


def _open(url: str) -> Engine:
    parsed = make_url(url)
    # hide_parameters: a failing statement's message never carries the values it was given.
    options: dict[str, Any] = {"hide_parameters": True, "pool_pre_ping": True}
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, **options)
    if parsed.database and parsed.database != ":memory:":
        _create_private_file(Path(parsed.database))
    engine = create_engine(url, connect_args={"timeout": 30}, **options)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer; a killed writer loses nothing
    cursor.execute("PRAGMA busy_timeout=30000")  # writers from other processes wait their turn
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _create_private_file(path: Path) -> None:
    """The database file is created readable by its owner only (SQLite gives -wal/-shm the same mode)."""
    if path.exists():
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as exc:
        raise KeyStoreError(f"cannot create the database {path}: {exc.strerror} ({exc.filename})") from exc


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).splitlines()[0]
