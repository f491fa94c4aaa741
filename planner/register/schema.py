"""The plan register's tables, their timestamp type and the versioned schema.

What the database holds, as SQLAlchemy Core tables on one :data:`metadata`:

- ``schema_version``: the versions applied, with when;
- ``agreed_priorities``: each borough's agreed local priorities per plan year (the
  history keeps every agreement);
- ``plans`` and ``plan_rows``: saved plans and their ward rows;
- ``overrides``: commanders' overrides, optionally tied to a saved plan;
- ``imports`` (version 2): every backup imported, with who imported it and when; each
  imported priorities, override and plan row points at its import (``import_id``), so
  the importer is recorded beside the row's original author.

Timestamps are :class:`UTCDateTime`: timezone-aware UTC on every backend. The schema is
versioned: :data:`SCHEMA_VERSION` is the version this planner writes. An empty database
gets the current tables at once (:func:`create`); an older register is brought up to date
by the steps of :data:`MIGRATIONS`, one per version, on the caller's transaction
(:func:`upgrade`). :mod:`planner.register.database` runs it when a register is first
opened. A released step is never edited: it must keep upgrading the registers that
release made.

Versions
--------
1. The first release: ``agreed_priorities``, ``plans``, ``plan_rows``, ``overrides``.
2. ``imports``, and ``import_id`` on ``agreed_priorities``, ``overrides`` and ``plans``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

__all__ = [
    "DATA_TABLES",
    "MIGRATIONS",
    "PLAN_ROW_COLUMNS",
    "RECORD_TABLES",
    "SCHEMA_VERSION",
    "UTCDateTime",
    "agreed_priorities",
    "create",
    "imports",
    "metadata",
    "overrides",
    "plan_rows",
    "plans",
    "schema_version",
    "upgrade",
    "utcnow",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive, in UTC)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamp {value!r} has no time zone; give it in UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


metadata = sa.MetaData()


def _import_key() -> sa.Column:
    """The import that brought a row into this register (None for a row written here)."""
    return sa.Column("import_id", sa.ForeignKey("imports.id"), nullable=True)


schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

imports = sa.Table(
    "imports",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("imported_at", UTCDateTime, nullable=False),
    sa.Column("imported_by", sa.Text, nullable=False),
    sa.Column("source_file", sa.Text, nullable=False),  # the backup file's name
    sa.Column("source_register", sa.Text, nullable=False),  # its "source" (password hidden)
    sa.Column("exported_at", UTCDateTime, nullable=True),
    sa.Column("row_counts", sa.JSON, nullable=False),  # rows imported per table
)

agreed_priorities = sa.Table(
    "agreed_priorities",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("borough_code", sa.String(16), nullable=False, index=True),
    sa.Column("borough_name", sa.String(100), nullable=False),
    sa.Column("year", sa.Integer, nullable=False),
    sa.Column("priorities", sa.JSON, nullable=False),  # list of names, in agreed order
    sa.Column("agreed_by", sa.Text, nullable=False),
    sa.Column("agreed_at", UTCDateTime, nullable=False),
    sa.Column("notes", sa.Text, nullable=False, default=""),
    sa.Column("recorded_by", sa.Text, nullable=False),
    sa.Column("evidence", sa.JSON, nullable=True),  # the evidence sentences when agreed
    _import_key(),
    sa.CheckConstraint("year BETWEEN 1990 AND 2200", name="ck_priorities_year"),
)

plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.Text, nullable=False),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("manifest", sa.JSON, nullable=False),
    _import_key(),
)

plan_rows = sa.Table(
    "plan_rows",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("plan_id", sa.ForeignKey("plans.id", ondelete="CASCADE"), nullable=False),
    sa.Column("ward_code", sa.String(16), nullable=False),
    sa.Column("borough_code", sa.String(16), nullable=False),
    sa.Column("baseline_dwo", sa.Integer, nullable=False),
    sa.Column("baseline_pcso", sa.Integer, nullable=False),
    sa.Column("extra", sa.Integer, nullable=False),
    sa.Column("total_dwo", sa.Integer, nullable=False),
    sa.Column("need_score", sa.Float, nullable=True),
    sa.UniqueConstraint("plan_id", "ward_code", name="uq_plan_rows_ward"),
)

overrides = sa.Table(
    "overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("plan_id", sa.ForeignKey("plans.id"), nullable=True, index=True),
    sa.Column("borough_code", sa.String(16), nullable=False, index=True),
    sa.Column("from_ward", sa.String(16), nullable=False),
    sa.Column("to_ward", sa.String(16), nullable=False),
    sa.Column("officers", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recorded_by", sa.Text, nullable=False),
    sa.Column("recorded_at", UTCDateTime, nullable=False),
    _import_key(),
    sa.CheckConstraint("officers > 0", name="ck_overrides_officers"),
    sa.CheckConstraint("reason <> ''", name="ck_overrides_reason"),
    sa.CheckConstraint("from_ward <> to_ward", name="ck_overrides_wards"),
)

# Parents before children: the order of import (and the reverse order of deletion).
DATA_TABLES = (imports, plans, plan_rows, agreed_priorities, overrides)
# The tables of records people make (each row has an author and an import_id).
RECORD_TABLES = (plans, agreed_priorities, overrides)
# The columns of a saved plan's ward rows (besides plan_id), in stored order.
PLAN_ROW_COLUMNS = (
    "ward_code",
    "borough_code",
    "baseline_dwo",
    "baseline_pcso",
    "extra",
    "total_dwo",
    "need_score",
)


def create(conn: Connection) -> None:
    """Create the current tables in an empty database."""
    metadata.create_all(conn)


def _v2_imports(conn: Connection) -> None:
    """Version 2: the ``imports`` table, and ``import_id`` on every table of records.

    Frozen as released: the table is spelled out here, not taken from :data:`imports`.
    """
    sa.Table(
        "imports",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("imported_at", UTCDateTime, nullable=False),
        sa.Column("imported_by", sa.Text, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
        sa.Column("source_register", sa.Text, nullable=False),
        sa.Column("exported_at", UTCDateTime, nullable=True),
        sa.Column("row_counts", sa.JSON, nullable=False),
    ).create(conn)
    for table in ("plans", "agreed_priorities", "overrides"):
        conn.exec_driver_sql(
            f"ALTER TABLE {table} ADD COLUMN import_id INTEGER REFERENCES imports (id)"
        )


# version -> the step that brings a register from version - 1 to version. Version 1 was
# the first release's create_all; an empty database gets the current tables (create).
MIGRATIONS: dict[int, Callable[[Connection], None]] = {2: _v2_imports}


def upgrade(conn: Connection, current: int) -> int:
    """Bring a register at schema version *current* (0 = empty) to :data:`SCHEMA_VERSION`.

    An empty database gets the current tables (:func:`create`); a register of an older
    version gets each step of :data:`MIGRATIONS` after its own, in order. Runs on the
    caller's transaction, so a failing step leaves the register as it was (DDL is
    transactional on SQLite and PostgreSQL).

    Parameters
    ----------
    conn
        A connection inside a write transaction.
    current
        The register's version now; 0 for a database without the register's tables.

    Returns
    -------
    int
        The version reached.
    """
    if current == 0:
        create(conn)
        _applied(conn, SCHEMA_VERSION)
        log.info("plan register created at schema version %d", SCHEMA_VERSION)
        return SCHEMA_VERSION
    for version in range(current + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version](conn)
        _applied(conn, version)
        log.info("plan register schema upgraded to version %d", version)
    return max(current, SCHEMA_VERSION)


def _applied(conn: Connection, version: int) -> None:
    conn.execute(sa.insert(schema_version).values(version=version, applied_at=utcnow()))
