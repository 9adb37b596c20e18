"""The one SQL database the server and the CLI share: API keys, usage, async jobs.

Any SQLAlchemy URL works (SQLite by default; PostgreSQL when several servers share it), and
no table uses database-specific SQL. Tables (``store.tables``) are created on first open;
``store.migrations`` alters existing ones when the schema version moves on. SQLite files are
created private to their owner and run in WAL mode, so a reader never blocks the writer.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlmodel import Session, SQLModel, create_engine

from whisper_api.errors import DatabaseError
from whisper_api.store import tables  # noqa: F401  (registers every table with SQLModel's metadata)
from whisper_api.store.migrations import upgrade


class Database:
    def __init__(self, url: str) -> None:
        try:
            parsed = make_url(url)
        except ArgumentError:
            raise DatabaseError("the database URL is not a valid SQLAlchemy URL") from None
        self.display_url = parsed.render_as_string(hide_password=True)
        """The URL without its password: the only form that goes into messages."""
        try:
            self.engine = _open(url)
            self._migrate()
        except ImportError as exc:
            raise DatabaseError(f"no database driver for {parsed.get_backend_name()} ({exc.name} is not "
                                "installed); for PostgreSQL: pip install 'whisper-api[postgres]'") from None
        except SQLAlchemyError as exc:
            raise DatabaseError(f"cannot open the database {self.display_url}: {_reason(exc)}") from exc

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        try:
            with Session(self.engine) as session:
                yield session
        except SQLAlchemyError as exc:
            raise DatabaseError(f"database {self.display_url}: {_reason(exc)}") from exc

    def ping(self) -> None:
        """Raise DatabaseError unless the database answers a query."""
        with self.session() as session:
            session.execute(text("SELECT 1"))

    def _migrate(self) -> None:
        for attempt in range(3):  # another process may be creating the same tables right now
            try:
                SQLModel.metadata.create_all(self.engine)
                with Session(self.engine) as session:
                    upgrade(session)
                return
            except SQLAlchemyError:
                if attempt == 2:
                    raise


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
        raise DatabaseError(f"cannot create the database {path}: {exc.strerror} ({exc.filename})") from exc


def _reason(exc: SQLAlchemyError) -> str:
    original = getattr(exc, "orig", None)
    return str(original or exc).splitlines()[0]
