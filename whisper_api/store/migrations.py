"""Schema versions: what brings a database written by an older whisper-api up to this one.

Tables added in a later version are created by ``create_all`` on open; the steps here alter
tables that already exist. A database newer than this code is refused, never written.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from sqlalchemy import inspect, text
from sqlmodel import Session

from whisper_api.errors import DatabaseError
from whisper_api.store.tables import JobRow, SchemaVersionRow

SCHEMA_VERSION = 3
LEASE_COLUMNS = ("owner", "lease_until")
"""Schema 2 added them to the job table for servers sharing jobs by leases; schema 3 drops them
(servers share jobs through a task queue now, docs/scaling.md)."""


def no_change(session: Session) -> None:
    """Schema 2 added the job lease columns, which schema 3 removes again: nothing to do on the way."""


def drop_lease_columns(session: Session) -> None:
    """Schema 3: the job table loses the lease columns (kept, unused, where SQLite is older than 3.35,
    which cannot drop a column)."""
    connection = session.connection()
    if connection.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 35):
        return
    present = {column["name"] for column in inspect(connection).get_columns(JobRow.__tablename__)}
    for name in LEASE_COLUMNS:
        if name in present:
            connection.execute(text(f"ALTER TABLE {JobRow.__tablename__} DROP COLUMN {name}"))


# Version -> the change that brings a database from the version before up to it.
MIGRATIONS: dict[int, Callable[[Session], None]] = {2: no_change, 3: drop_lease_columns}


def upgrade(session: Session) -> None:
    current = session.get(SchemaVersionRow, 1)
    if current is None:  # a new database: create_all has just made the current schema
        session.add(SchemaVersionRow(id=1, version=SCHEMA_VERSION))
        session.commit()
        return
    if current.version > SCHEMA_VERSION:
        raise DatabaseError(f"the database has schema version {current.version}, newer than this "
                            f"whisper-api understands ({SCHEMA_VERSION}); upgrade whisper-api")
    for version in range(current.version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](session)
        current.version = version
        session.add(current)
        session.commit()
