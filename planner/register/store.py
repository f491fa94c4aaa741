"""The plan register: agreed local priorities, commanders' overrides and saved plans.

A real database through SQLAlchemy Core: an SQLite file by default
(``config/store.toml``, ``url = "sqlite:///.planner/register.sqlite"``), any SQLAlchemy
URL (e.g. PostgreSQL) by configuration or the ``PLANNER_DB_URL`` environment variable.

Guarantees
----------
- Every write runs in one transaction: a failure midway leaves the database as it was.
- SQLite is opened in WAL journal mode with a busy timeout, and every write transaction
  takes the write lock up front (``BEGIN IMMEDIATE``), so processes writing at the same
  time queue instead of failing or losing rows.
- The schema is versioned (table ``schema_version``) and created on first use;
  :func:`upgrade` brings an older register up to :data:`SCHEMA_VERSION`.
- A damaged, locked or foreign database file raises :class:`RegisterError` naming the
  file and the fix; the register never deletes or recreates an existing file. An SQLite
  file is checked (``PRAGMA quick_check``) when first opened, so a damaged page is found
  before anything is written, not when a read happens to reach it.
- Permissions are checked before anything is written (:mod:`planner.register.access`): overrides
  only by a commander of the borough or a planner, agreed priorities only by the
  borough's council leader or a planner, saved plans only by a planner. Each write takes
  the ``user`` making it (default :data:`~planner.register.access.LOCAL_PLANNER`, for local mode)
  and records ``user.name`` as who made it.
- :meth:`PlanRegister.export` writes every table to one JSON backup (atomically);
  :meth:`PlanRegister.import_` restores it in one transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import operator
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from planner.config import PlannerConfig, StoreSettings
from planner.errors import ConfigError, PlannerError
from planner.files import atomic_path
from planner.register import access
from planner.register.access import LOCAL_PLANNER, PermissionDenied, User

__all__ = [
    "SCHEMA_VERSION",
    "InvalidRecordError",
    "PlanRegister",
    "RegisterError",
    "UnknownPlanError",
    "register_url",
    "upgrade",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
DEFAULT_URL = "sqlite:///.planner/register.sqlite"
ENV_URL = "PLANNER_DB_URL"
BACKUP_FORMAT = "planner-register-backup"


class RegisterError(PlannerError):
    """The plan register's database cannot be used (damaged, locked, foreign, newer)."""


class InvalidRecordError(RegisterError, ValueError):
    """A record offered to the register is incomplete or inconsistent; nothing was written."""


class UnknownPlanError(RegisterError, LookupError):
    """No saved plan has the id asked for."""


# --- schema -----------------------------------------------------------------------------


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

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
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
    sa.CheckConstraint("officers > 0", name="ck_overrides_officers"),
    sa.CheckConstraint("reason <> ''", name="ck_overrides_reason"),
    sa.CheckConstraint("from_ward <> to_ward", name="ck_overrides_wards"),
)

# Parents before children: the order of import (and the reverse order of deletion).
_DATA_TABLES = (plans, plan_rows, agreed_priorities, overrides)
_PLAN_ROW_COLUMNS = (
    "ward_code",
    "borough_code",
    "baseline_dwo",
    "baseline_pcso",
    "extra",
    "total_dwo",
    "need_score",
)


def _create_v1(conn: Connection) -> None:
    metadata.create_all(conn)


# version -> the step that brings a register from version - 1 to version.
_MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _create_v1}


def upgrade(conn: Connection, current: int) -> int:
    """Bring a register at schema version *current* (0 = empty) to :data:`SCHEMA_VERSION`.

    Runs on the caller's transaction, so a failing step leaves the register as it was.

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
    for version in range(current + 1, SCHEMA_VERSION + 1):
        _MIGRATIONS[version](conn)
        conn.execute(sa.insert(schema_version).values(version=version, applied_at=_utcnow()))
        log.info("plan register schema upgraded to version %d", version)
    return max(current, SCHEMA_VERSION)


# --- configuration ----------------------------------------------------------------------


def register_url(settings: StoreSettings, url: str | None = None) -> str:
    """The database URL in force: *url*, else ``$PLANNER_DB_URL``, else ``config/store.toml``.

    Parameters
    ----------
    settings
        ``config.store``.
    url
        An explicit SQLAlchemy URL; wins over everything else.

    Returns
    -------
    str
    """
    if url:
        return url
    env = os.environ.get(ENV_URL, "").strip()
    return env or settings.url


# --- the register -----------------------------------------------------------------------


class PlanRegister:
    """The plan register database: agreed priorities, overrides, saved plans.

    The database and its schema are created on first use (the first read or write),
    not when the object is made. Safe to share between threads; several processes may
    write to the same SQLite file at once.

    Parameters
    ----------
    settings
        ``config.store``: the database URL and SQLite's busy timeout.
    url
        A SQLAlchemy URL; default from :func:`register_url` (``$PLANNER_DB_URL``, then
        *settings*). A relative SQLite path is resolved against the working directory now,
        and its folder is created on first use.
    borough_names
        Borough name by E09 code, for messages.

    Raises
    ------
    ConfigError
        The URL is not a valid SQLAlchemy URL, or its driver is not installed.
    """

    def __init__(
        self,
        settings: StoreSettings,
        *,
        url: str | None = None,
        borough_names: Mapping[str, str] | None = None,
    ) -> None:
        self._url = _parse_url(register_url(settings, url))
        self._busy_timeout_s = settings.busy_timeout_s
        self._names = dict(borough_names or {})
        self._engine = self._create_engine()
        self._ready = False
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: PlannerConfig, *, url: str | None = None) -> PlanRegister:
        """The register of *config* (``config/store.toml``, ``$PLANNER_DB_URL``, or *url*)."""
        return cls(config.store, url=url, borough_names=config.borough_names)

    # -- identity and lifecycle --

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self._url.render_as_string(hide_password=True)

    @property
    def path(self) -> Path | None:
        """The SQLite file, or None for a server database or an in-memory one."""
        return _sqlite_path(self._url)

    @property
    def schema_version(self) -> int:
        """The register's schema version (creating the register if needed)."""
        with self._transaction("reading the schema version") as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar())

    def close(self) -> None:
        """Close every pooled connection (the register can still be used afterwards)."""
        self._engine.dispose()

    def __enter__(self) -> PlanRegister:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"PlanRegister({self.url!r})"

    # -- agreed priorities --

    def record_priorities(
        self,
        borough_code: str,
        borough_name: str,
        year: int,
        priorities: list[str] | tuple[str, ...],
        *,
        agreed_by: str,
        notes: str = "",
        user: User = LOCAL_PLANNER,
        recorded_by: str | None = None,
        evidence: Any = None,
        agreed_at: datetime | None = None,
    ) -> int:
        """Record a borough's agreed local priorities for a plan year.

        A new agreement for the same borough and year does not overwrite the old one: the
        history keeps both and :meth:`agreed_priorities` returns the latest.

        Parameters
        ----------
        borough_code, borough_name
            The borough (ONS code, e.g. ``E09000007``, and name).
        year
            The plan year the priorities are agreed for, e.g. 2026.
        priorities
            Two or more distinct priority names, in agreed order.
        agreed_by
            Who agreed them (e.g. the borough commander and the council leader).
        notes
            Free text.
        user
            Who is recording it: the borough's council leader or a planner. Default
            :data:`~planner.register.access.LOCAL_PLANNER` (local mode, no sign-in).
        recorded_by
            Deprecated; local mode only: a name typed in by the person at the machine,
            recorded instead of ``user.name``. A signed-in user's records carry their own
            name.
        evidence
            The evidence shown at agreement time (JSON-ready: e.g. a list of sentences).
        agreed_at
            When they were agreed, timezone-aware; default now (UTC).

        Returns
        -------
        int
            The new record's id.

        Raises
        ------
        PermissionDenied
            *user* may not record this borough's priorities; nothing was written.
        InvalidRecordError
            Listing every missing or inconsistent field.
        RegisterError
            The database cannot be written.
        """
        access.check(user, access.RECORD_PRIORITIES, _code(borough_code), names=self._names)
        problems: list[str] = []
        row = {
            "borough_code": _text(borough_code, "borough_code", problems),
            "borough_name": _text(borough_name, "borough_name", problems),
            "year": _year(year, problems),
            "priorities": _priority_list(priorities, problems),
            "agreed_by": _text(agreed_by, "agreed_by", problems),
            "agreed_at": _timestamp(agreed_at, "agreed_at", problems),
            "notes": _text(notes, "notes", problems, required=False),
            "recorded_by": _author(user, recorded_by, "recorded_by", problems),
            "evidence": _json_field(evidence, "evidence", problems),
        }
        _raise_problems("agreed priorities", problems)
        with self._transaction("recording agreed priorities", write=True) as conn:
            new_id = conn.execute(sa.insert(agreed_priorities).values(**row)).inserted_primary_key
        log.info("recorded priorities %s %d: %s", row["borough_code"], year, row["priorities"])
        return int(new_id[0])

    def priorities_history(self, borough_code: str | None = None) -> pd.DataFrame:
        """Every agreement recorded (for one borough, or all), newest first.

        Returns
        -------
        pandas.DataFrame
            One row per record: id, borough_code, borough_name, year, priorities (list),
            agreed_by, agreed_at (UTC), notes, recorded_by, evidence.
        """
        query = sa.select(agreed_priorities).order_by(
            agreed_priorities.c.agreed_at.desc(), agreed_priorities.c.id.desc()
        )
        if borough_code is not None:
            query = query.where(agreed_priorities.c.borough_code == borough_code)
        return self._frame(query, agreed_priorities, "reading the priorities history")

    def agreed_priorities(self, borough_code: str, year: int) -> dict[str, Any] | None:
        """The latest agreement for *borough_code* and plan *year*, or None if none.

        Returns
        -------
        dict or None
            The record's fields (see :meth:`priorities_history`).
        """
        t = agreed_priorities
        query = (
            sa.select(t)
            .where(t.c.borough_code == borough_code, t.c.year == int(year))
            .order_by(t.c.agreed_at.desc(), t.c.id.desc())
            .limit(1)
        )
        with self._transaction("reading agreed priorities") as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def previous_year(self, borough_code: str, year: int) -> dict[str, Any] | None:
        """Last year's agreement (plan year ``year - 1``) for the annual review, or None."""
        return self.agreed_priorities(borough_code, int(year) - 1)

    # -- overrides --

    def record_override(
        self,
        borough_code: str,
        from_ward: str,
        to_ward: str,
        officers: int,
        reason: str,
        *,
        user: User = LOCAL_PLANNER,
        recorded_by: str | None = None,
        plan_id: int | None = None,
        wards_in_borough: set[str] | frozenset[str] | None = None,
    ) -> int:
        """Record a commander's override: *officers* moved from one ward to another.

        Parameters
        ----------
        borough_code
            The borough both wards are in.
        from_ward, to_ward
            Ward codes; they must differ.
        officers
            Officers moved, a whole number above 0.
        reason
            Why, in words; required.
        user
            Who is making it: a commander of the borough or a planner. Default
            :data:`~planner.register.access.LOCAL_PLANNER` (local mode, no sign-in).
        recorded_by
            Deprecated; local mode only: a name typed in by the person at the machine,
            recorded instead of ``user.name``.
        plan_id
            The saved plan it adjusts, if any; it must exist, and both wards must be
            wards of *borough_code* in it.
        wards_in_borough
            The borough's ward codes (from the allocation table); when given, both wards
            must be in it. Give it (or *plan_id*): the permission is checked on
            *borough_code*, so the wards must be shown to belong to it.

        Returns
        -------
        int
            The new override's id.

        Raises
        ------
        PermissionDenied
            *user* may not record overrides in this borough; nothing was written.
        InvalidRecordError
            Listing every problem (empty reason, officers not above 0, same ward twice,
            a ward outside the borough, unknown plan).
        RegisterError
            The database cannot be written.
        """
        access.check(user, access.RECORD_OVERRIDE, _code(borough_code), names=self._names)
        problems: list[str] = []
        row = {
            "plan_id": None if plan_id is None else _plan_key(plan_id, problems),
            "borough_code": _text(borough_code, "borough_code", problems),
            "from_ward": _text(from_ward, "from_ward", problems),
            "to_ward": _text(to_ward, "to_ward", problems),
            "officers": _positive_int(officers, "officers", problems),
            "reason": _text(reason, "reason", problems, fix="say why the allocation changed"),
            "recorded_by": _author(user, recorded_by, "recorded_by", problems),
            "recorded_at": _utcnow(),
        }
        if row["from_ward"] and row["from_ward"] == row["to_ward"]:
            problems.append(
                f"from_ward and to_ward are both {row['from_ward']!r}; they must differ"
            )
        if wards_in_borough is not None:
            for key in ("from_ward", "to_ward"):
                if row[key] and row[key] not in wards_in_borough:
                    problems.append(
                        f"{key} {row[key]!r} is not a ward of borough {row['borough_code']!r} "
                        f"({len(wards_in_borough)} wards in the allocation table)"
                    )
        with self._transaction("recording an override", write=True) as conn:
            if row["plan_id"] is not None and not _plan_exists(conn, row["plan_id"]):
                problems.append(f"plan_id {plan_id!r} is not a saved plan (see list_plans())")
            elif row["plan_id"] is not None:
                _check_plan_wards(conn, row, problems)
            _raise_problems("override", problems)
            new_id = conn.execute(sa.insert(overrides).values(**row)).inserted_primary_key
        log.info(
            "recorded override %s -> %s (%d) in %s", from_ward, to_ward, officers, borough_code
        )
        return int(new_id[0])

    def overrides(
        self, plan_id: int | None = None, borough_code: str | None = None
    ) -> pd.DataFrame:
        """Overrides recorded, in the order they were recorded (oldest first).

        Parameters
        ----------
        plan_id, borough_code
            Keep only those for this plan and/or this borough.

        Returns
        -------
        pandas.DataFrame
            id, plan_id, borough_code, from_ward, to_ward, officers, reason, recorded_by,
            recorded_at (UTC).
        """
        query = sa.select(overrides).order_by(overrides.c.recorded_at, overrides.c.id)
        if plan_id is not None:
            query = query.where(overrides.c.plan_id == plan_id)
        if borough_code is not None:
            query = query.where(overrides.c.borough_code == borough_code)
        frame = self._frame(query, overrides, "reading overrides")
        frame["plan_id"] = frame["plan_id"].astype("Int64")
        return frame

    # -- saved plans --

    def save_plan(
        self,
        name: str,
        allocation: pd.DataFrame,
        *,
        settings: Mapping[str, Any],
        manifest: Mapping[str, Any],
        user: User = LOCAL_PLANNER,
        created_by: str | None = None,
    ) -> int:
        """Save an allocation with the settings and data manifest that produced it.

        Parameters
        ----------
        name
            A label for people (need not be unique).
        allocation
            One row per ward, ``ward_code`` as index or column, with borough_code,
            baseline_dwo, baseline_pcso, extra, total_dwo and (optionally) need_score;
            other columns are not stored (they follow from these and the settings).
        settings, manifest
            JSON-ready mappings (numpy scalars, paths, dates and NaN are converted).
        user
            Who is saving it: planners only. Default :data:`~planner.register.access.LOCAL_PLANNER`
            (local mode, no sign-in).
        created_by
            Deprecated; local mode only: a name typed in by the person at the machine,
            recorded instead of ``user.name``.

        Returns
        -------
        int
            The new plan's id.

        Raises
        ------
        PermissionDenied
            *user* is not a planner; nothing was written.
        InvalidRecordError
            A required column is missing, a ward code is empty or repeated, a count is
            not a whole number >= 0; every problem is listed.
        RegisterError
            The database cannot be written; nothing was saved.
        """
        access.check(user, access.SAVE_PLAN, names=self._names)
        problems: list[str] = []
        parent = {
            "name": _text(name, "name", problems),
            "created_at": _utcnow(),
            "created_by": _author(user, created_by, "created_by", problems),
            "settings": _json_mapping(settings, "settings", problems),
            "manifest": _json_mapping(manifest, "manifest", problems),
        }
        rows = _allocation_rows(allocation, problems)
        _raise_problems("plan", problems)
        with self._transaction(f"saving plan {name!r}", write=True) as conn:
            plan_id = int(conn.execute(sa.insert(plans).values(**parent)).inserted_primary_key[0])
            _insert_plan_rows(conn, plan_id, rows)
        log.info("saved plan %d %r (%d wards)", plan_id, name, len(rows))
        return plan_id

    def load_plan(self, plan_id: int) -> tuple[dict[str, Any], pd.DataFrame]:
        """A saved plan: its metadata and its allocation table.

        Returns
        -------
        meta : dict
            id, name, created_at (UTC), created_by, settings, manifest.
        allocation : pandas.DataFrame
            Indexed by ward_code, in saved order: borough_code, baseline_dwo,
            baseline_pcso, extra, total_dwo, need_score.

        Raises
        ------
        UnknownPlanError
            No plan has that id.
        """
        with self._transaction(f"loading plan {plan_id!r}") as conn:
            meta = conn.execute(sa.select(plans).where(plans.c.id == plan_id)).mappings().first()
            if meta is None:
                raise UnknownPlanError(
                    f"no saved plan with id {plan_id!r} in the register {self.url}; "
                    "list_plans() (or `planner register list`) shows the ids"
                )
            cols = [plan_rows.c[c] for c in _PLAN_ROW_COLUMNS]
            query = sa.select(*cols).where(plan_rows.c.plan_id == plan_id)
            rows = conn.execute(query.order_by(plan_rows.c.id)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(_PLAN_ROW_COLUMNS))
        ints = ["baseline_dwo", "baseline_pcso", "extra", "total_dwo"]
        frame = frame.astype({c: "int64" for c in ints} | {"need_score": "float64"})
        return dict(meta), frame.set_index("ward_code")

    def list_plans(self) -> pd.DataFrame:
        """Saved plans, newest first: id, name, created_at, created_by, n_wards, extra."""
        n_wards = sa.func.count(plan_rows.c.id).label("n_wards")
        extra = sa.func.coalesce(sa.func.sum(plan_rows.c.extra), 0).label("extra")
        query = (
            sa.select(plans.c.id, plans.c.name, plans.c.created_at, plans.c.created_by)
            .add_columns(n_wards, extra)
            .select_from(plans.outerjoin(plan_rows))
            .group_by(plans.c.id, plans.c.name, plans.c.created_at, plans.c.created_by)
            .order_by(plans.c.created_at.desc(), plans.c.id.desc())
        )
        return self._frame(query, None, "listing saved plans")

    def latest_plan(self) -> int | None:
        """The id of the newest saved plan, or None if none is saved."""
        query = sa.select(plans.c.id).order_by(plans.c.created_at.desc(), plans.c.id.desc())
        with self._transaction("finding the latest plan") as conn:
            found = conn.execute(query.limit(1)).scalar()
        return None if found is None else int(found)

    # -- backup --

    def export(self, path: str | Path) -> Path:
        """Write every table to a JSON backup file (atomically: all or nothing).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = Path(path)
        tables: dict[str, list[dict[str, Any]]] = {}
        with self._transaction("exporting the register") as conn:
            for table in (schema_version, *_DATA_TABLES):
                pk = list(table.primary_key.columns)
                result = conn.execute(sa.select(table).order_by(*pk)).mappings()
                tables[table.name] = [_json_row(row) for row in result]
        backup = {
            "format": BACKUP_FORMAT,
            "schema_version": SCHEMA_VERSION,
            "exported_at": _utcnow().isoformat(),
            "source": self.url,
            "tables": tables,
        }
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(backup, indent=1, allow_nan=False), encoding="utf-8")
        log.info("exported the register to %s (%s)", path, _counts(tables))
        return path

    def import_(self, path: str | Path, *, replace: bool = False) -> dict[str, int]:
        """Restore a backup written by :meth:`export`, keeping its ids, in one transaction.

        Parameters
        ----------
        path
            The JSON backup file.
        replace
            Delete the register's records first. Without it, the register must be empty.

        Returns
        -------
        dict
            Rows imported per table.

        Raises
        ------
        RegisterError
            The file is not a register backup, is newer than this planner, conflicts with
            itself, or the register is not empty and *replace* is False; nothing changed.
        """
        path = Path(path)
        tables = _read_backup(path)
        with self._transaction(f"importing {path}", write=True) as conn:
            held = {t.name: _count(conn, t) for t in _DATA_TABLES}
            if any(held.values()) and not replace:
                raise RegisterError(
                    f"the register {self.url} already holds records ({_counts(held)}); "
                    f"import {path} into a new register (set {ENV_URL}), or replace its "
                    "records with replace=True (`planner register import --replace`)"
                )
            for table in reversed(_DATA_TABLES):
                conn.execute(sa.delete(table))
            for table in _DATA_TABLES:
                rows = [_from_json_row(table, r, path, i) for i, r in enumerate(tables[table.name])]
                if rows:
                    conn.execute(sa.insert(table), rows)
            _reset_sequences(conn)
        counts = {name: len(tables[name]) for name in (t.name for t in _DATA_TABLES)}
        log.info("imported %s into the register (%s)", path, _counts(counts))
        return counts

    # -- private --

    def _create_engine(self) -> Engine:
        url = self._url
        try:
            if url.get_backend_name() != "sqlite":
                return sa.create_engine(url, pool_pre_ping=True, json_serializer=_dumps)
            # One shared connection for an in-memory database, so every thread sees it.
            memory = {"poolclass": sa.StaticPool} if self.path is None else {}
            engine = sa.create_engine(
                url,
                json_serializer=_dumps,
                connect_args={"timeout": self._busy_timeout_s, "check_same_thread": False},
                **memory,
            )
        except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as exc:
            raise ConfigError(
                f"cannot open the plan register at {self.url}: {exc}. Check the URL in "
                f"config/store.toml or ${ENV_URL}, and install the database driver it names"
            ) from exc
        _sqlite_events(engine, busy_timeout_ms=int(self._busy_timeout_s * 1000))
        return engine

    def _ensure(self) -> None:
        """Create or upgrade the schema once per object (first use)."""
        if self._ready:
            return
        with self._lock:
            if self._ready:
                return
            with self._guard("opening the register"):
                path = self.path
                if path is not None and not path.exists():
                    log.info("creating the plan register %s", path)
                    path.parent.mkdir(parents=True, exist_ok=True)
                with self._engine.connect() as conn:
                    conn.execution_options(planner_write=True)
                    with conn.begin():
                        self._check_and_upgrade(conn)
            self._ready = True

    def _check_and_upgrade(self, conn: Connection) -> None:
        self._check_integrity(conn)
        inspector = sa.inspect(conn)
        names = set(inspector.get_table_names())
        if "schema_version" not in names:
            if names:
                raise RegisterError(
                    f"{self._where()} is a database but not a plan register (it has tables "
                    f"{', '.join(sorted(names)[:5])} and no schema_version); point "
                    f"config/store.toml or ${ENV_URL} at another database"
                )
            current = 0
        else:
            current = conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar()
            current = int(current or 0)
        if current > SCHEMA_VERSION:
            raise RegisterError(
                f"{self._where()} has schema version {current}, newer than this planner "
                f"understands ({SCHEMA_VERSION}); upgrade the planner (pip install -U) "
                "before using this register"
            )
        if current < SCHEMA_VERSION:
            upgrade(conn, current)

    def _check_integrity(self, conn: Connection) -> None:
        """SQLite: refuse a file whose pages are damaged before anything writes to it.

        Without this, a damaged page is found only when a read reaches it, and writes to
        the rest of the file (which SQLite allows) could spread the damage.
        """
        if conn.dialect.name != "sqlite":
            return
        found = [str(row[0]) for row in conn.exec_driver_sql("PRAGMA quick_check(5)")]
        if found != ["ok"]:
            lines = [s.strip() for f in found for s in f.splitlines()]
            problems = "; ".join(s for s in lines if s and not s.startswith("***"))
            raise RegisterError(
                f"opening the register: {self._where()} is damaged (SQLite quick_check: "
                f"{problems}). Nothing was changed. Move the file aside and restore "
                "your latest backup (`planner register import BACKUP.json` into a new "
                f"register), or point config/store.toml or ${ENV_URL} at another file"
            )

    @contextlib.contextmanager
    def _transaction(self, action: str, *, write: bool = False) -> Iterator[Connection]:
        """One transaction; committed on success, rolled back on any exception."""
        self._ensure()
        with self._guard(action), self._engine.connect() as conn:
            if write:
                conn.execution_options(planner_write=True)
            with conn.begin():
                yield conn

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn database failures into :class:`RegisterError` naming the file and the fix."""
        try:
            yield
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            raise RegisterError(self._explain(exc, action)) from exc
        except OSError as exc:
            raise RegisterError(
                f"{action}: {self._where()} cannot be reached ({exc}); check the folder exists "
                f"and is writable, or point config/store.toml or ${ENV_URL} elsewhere"
            ) from exc

    def _explain(self, exc: Exception, action: str) -> str:
        text = str(getattr(exc, "orig", None) or exc).strip()
        low = text.lower()
        where = self._where()
        if "locked" in low or "busy" in low:
            return (
                f"{action}: {where} is locked by another process (waited "
                f"{self._busy_timeout_s:g} s). Nothing was written. Close other planner "
                "sessions writing to it and retry; raise busy_timeout_s in "
                "config/store.toml if writes are expected to take longer"
            )
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            return (
                f"{action}: {where} is damaged or is not an SQLite database ({text}). Nothing "
                "was changed. Move the file aside and restore your latest backup "
                "(`planner register import BACKUP.json` into a new register), or point "
                f"config/store.toml or ${ENV_URL} at another file; a missing file is created "
                "empty on first use"
            )
        if isinstance(exc, sa.exc.IntegrityError):
            return (
                f"{action}: the register {where} refused the record ({text}); nothing was written"
            )
        return (
            f"{action}: the register {where} cannot be used ({text}). Nothing was written; "
            f"check that the file or server is reachable and writable, or set {ENV_URL}"
        )

    def _where(self) -> str:
        path = self.path
        return f"the database file {path}" if path is not None else f"the database {self.url}"

    def _frame(self, query: sa.Select, table: sa.Table | None, action: str) -> pd.DataFrame:
        with self._transaction(action) as conn:
            result = conn.execute(query)
            columns = list(result.keys())
            frame = pd.DataFrame([tuple(r) for r in result], columns=columns)
        for col in columns:
            typed = table is None or isinstance(table.c[col].type, UTCDateTime)
            if typed and col.endswith("_at"):
                frame[col] = pd.to_datetime(frame[col], utc=True)
        return frame


# --- private helpers --------------------------------------------------------------------


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _parse_url(url: str) -> URL:
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError(
            f"{url!r} is not a database URL ({exc}); use e.g. "
            f"{DEFAULT_URL!r} in config/store.toml or ${ENV_URL}"
        ) from exc
    db = parsed.database
    if (
        parsed.get_backend_name() == "sqlite"
        and db
        and db != ":memory:"
        and not db.startswith("file:")
    ):
        parsed = parsed.set(database=str(Path(db).expanduser().resolve()))
    return parsed


def _sqlite_path(url: URL) -> Path | None:
    db = url.database
    if url.get_backend_name() != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


def _sqlite_events(engine: Engine, *, busy_timeout_ms: int) -> None:
    """WAL, busy timeout and foreign keys on every connection; BEGIN IMMEDIATE for writes."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            cur.execute("PRAGMA foreign_keys = ON")
            mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() not in {"wal", "memory"}:
                log.warning("SQLite journal mode is %s, not WAL: concurrent writers wait", mode)
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("planner_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _plan_exists(conn: Connection, plan_id: int) -> bool:
    return conn.execute(sa.select(plans.c.id).where(plans.c.id == plan_id)).first() is not None


def _plan_key(value: Any, problems: list[str]) -> int | None:
    try:
        if isinstance(value, bool):
            raise TypeError
        return operator.index(value)
    except TypeError:
        problems.append(f"plan_id should be a saved plan's id (a whole number), found {value!r}")
        return None


def _insert_plan_rows(conn: Connection, plan_id: int, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(sa.insert(plan_rows), [{"plan_id": plan_id, **r} for r in rows])


def _count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())


def _counts(counts: Mapping[str, Any]) -> str:
    return ", ".join(
        f"{name}: {len(v) if isinstance(v, list) else v}" for name, v in counts.items()
    )


def _reset_sequences(conn: Connection) -> None:
    """After inserting explicit ids on PostgreSQL, move each id sequence past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in _DATA_TABLES:
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
        )


# -- validation (each helper appends its problems and returns the cleaned value) --


def _raise_problems(what: str, problems: list[str]) -> None:
    if problems:
        raise InvalidRecordError(
            f"{what} not recorded ({len(problems)} problem(s)): " + "; ".join(problems)
        )


def _text(
    value: Any, name: str, problems: list[str], *, required: bool = True, fix: str = ""
) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        value = ""
    if not isinstance(value, str):
        problems.append(f"{name} should be text, found {value!r} ({type(value).__name__})")
        return ""
    value = value.strip()
    if required and not value:
        problems.append(f"{name} is required and was empty" + (f"; {fix}" if fix else ""))
    return value


def _code(value: Any) -> str | None:
    """A borough code as the permission check sees it (validation reports bad ones)."""
    return value.strip() if isinstance(value, str) else None


def _author(user: User, given: str | None, name: str, problems: list[str]) -> str:
    """Who made a record: *user*'s name, or in local mode a name typed in (*given*)."""
    if given is None:
        return user.name
    if not user.is_local and (not isinstance(given, str) or given.strip() != user.name):
        raise PermissionDenied(
            f"{user.describe()} is signed in, so the record carries their own name; "
            f"{name}={given!r} can only be given in local mode (no sign-in). Nothing was "
            "written"
        )
    return _text(given, name, problems)


def _check_plan_wards(conn: Connection, row: dict[str, Any], problems: list[str]) -> None:
    """Both wards of an override must be wards of its borough in the plan it adjusts."""
    wards = [w for w in (row["from_ward"], row["to_ward"]) if w]
    query = sa.select(plan_rows.c.ward_code, plan_rows.c.borough_code).where(
        plan_rows.c.plan_id == row["plan_id"], plan_rows.c.ward_code.in_(wards)
    )
    found = dict(conn.execute(query).all())
    for key in ("from_ward", "to_ward"):
        ward = row[key]
        if ward and found.get(ward) != row["borough_code"]:
            where = f"is in {found[ward]!r}" if ward in found else "is not in the plan"
            problems.append(
                f"{key} {ward!r} {where}, not a ward of borough {row['borough_code']!r} "
                f"in plan {row['plan_id']}"
            )


def _positive_int(value: Any, name: str, problems: list[str]) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        number = operator.index(value)
    except TypeError:
        problems.append(f"{name} should be a whole number above 0, found {value!r}")
        return 0
    if number <= 0:
        problems.append(f"{name} should be a whole number above 0, found {number}")
    return number


def _year(value: Any, problems: list[str]) -> int:
    try:
        if isinstance(value, bool):
            raise TypeError
        year = operator.index(value)
    except TypeError:
        problems.append(f"year should be a whole year such as 2026, found {value!r}")
        return 0
    if not 1990 <= year <= 2200:
        problems.append(f"year should be a plan year such as 2026, found {year}")
    return year


def _priority_list(value: Any, problems: list[str]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        problems.append(f"priorities should be a list of two or more names, found {value!r}")
        return []
    names = [v.strip() if isinstance(v, str) else v for v in value]
    bad = [v for v in names if not isinstance(v, str) or not v]
    if bad:
        problems.append(f"priorities should be non-empty names, found {bad!r}")
    names = [v for v in names if isinstance(v, str) and v]
    folded = [v.casefold() for v in names]
    repeated = sorted({v for v in names if folded.count(v.casefold()) > 1})
    if repeated:
        problems.append(f"priorities repeat {', '.join(map(repr, repeated))}")
    if len(set(folded)) < 2:
        problems.append(
            f"at least two distinct priorities must be agreed, found {len(set(folded))}"
        )
    return names


def _timestamp(value: datetime | None, name: str, problems: list[str]) -> datetime:
    if value is None:
        return _utcnow()
    if not isinstance(value, datetime) or value.tzinfo is None:
        problems.append(f"{name} should be a timezone-aware datetime (UTC), found {value!r}")
        return _utcnow()
    return value.astimezone(UTC)


def _json_field(value: Any, name: str, problems: list[str]) -> Any:
    try:
        return _jsonable(value)
    except TypeError as exc:
        problems.append(f"{name} cannot be stored as JSON: {exc}")
        return None


def _json_mapping(value: Any, name: str, problems: list[str]) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        problems.append(f"{name} should be a mapping (dict), found {type(value).__name__}")
        return {}
    return _json_field(value, name, problems) or {}


def _jsonable(value: Any) -> Any:
    """*value* in plain JSON types (numpy scalars, dates, paths converted; NaN -> None)."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, datetime | date | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return [_jsonable(v) for v in items]
    if value is pd.NA or value is pd.NaT:
        return None
    raise TypeError(f"{type(value).__name__} {value!r} is not JSON data")


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def _allocation_rows(allocation: Any, problems: list[str]) -> list[dict[str, Any]]:
    """The plan rows of an allocation table, validated (every problem listed)."""
    if not isinstance(allocation, pd.DataFrame):
        problems.append(f"allocation should be a DataFrame, found {type(allocation).__name__}")
        return []
    frame = allocation
    if "ward_code" not in frame.columns and frame.index.name == "ward_code":
        frame = frame.reset_index()
    missing = [c for c in _PLAN_ROW_COLUMNS if c not in frame.columns and c != "need_score"]
    if missing:
        problems.append(
            f"allocation lacks column(s) {', '.join(missing)} (ward_code may be the index); "
            f"found {', '.join(map(str, frame.columns))}"
        )
        return []
    if frame.empty:
        problems.append("allocation has no rows")
    wards = frame["ward_code"]
    blank = wards.isna() | (wards.astype("string").str.strip() == "")
    if blank.any():
        problems.append(
            f"{int(blank.sum())} allocation row(s) have no ward_code (rows {_first(blank)})"
        )
    repeated = wards[wards.duplicated() & ~blank]
    if not repeated.empty:
        problems.append(f"ward_code repeated: {', '.join(map(str, repeated.unique()[:5]))}")
    for col in ("baseline_dwo", "baseline_pcso", "extra", "total_dwo"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() | (values < 0) | (values % 1 != 0)
        if bad.any():
            problems.append(f"{col} should be whole numbers >= 0; rows {_first(bad)} are not")
    if problems:
        return []
    need = frame["need_score"] if "need_score" in frame.columns else pd.Series(np.nan, frame.index)
    out = []
    for row, score in zip(frame.itertuples(index=False), need, strict=True):
        out.append(
            {
                "ward_code": str(row.ward_code).strip(),
                "borough_code": str(row.borough_code),
                "baseline_dwo": int(row.baseline_dwo),
                "baseline_pcso": int(row.baseline_pcso),
                "extra": int(row.extra),
                "total_dwo": int(row.total_dwo),
                "need_score": None if pd.isna(score) else float(score),
            }
        )
    return out


def _first(mask: pd.Series, n: int = 5) -> str:
    positions = np.flatnonzero(mask.to_numpy())[:n]
    return ", ".join(str(p + 1) for p in positions) + (" ..." if mask.sum() > n else "")


# -- backup files --


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def _read_backup(path: Path) -> dict[str, list[dict[str, Any]]]:
    """The tables of a backup file, checked for format, version and table names."""
    fix = "give a file written by `planner register export` (PlanRegister.export)"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise RegisterError(f"backup file {path} not found; {fix}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RegisterError(f"backup file {path} cannot be read as JSON ({exc}); {fix}") from exc
    if not isinstance(data, dict) or data.get("format") != BACKUP_FORMAT:
        raise RegisterError(
            f"{path} is not a plan register backup (no format {BACKUP_FORMAT!r}); {fix}"
        )
    version = data.get("schema_version")
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RegisterError(
            f"{path} has schema version {version!r}; this planner reads up to {SCHEMA_VERSION}. "
            "Upgrade the planner before importing it"
        )
    tables = data.get("tables")
    if not isinstance(tables, dict):
        raise RegisterError(f"{path} has no 'tables' object; {fix}")
    for table in _DATA_TABLES:
        rows = tables.setdefault(table.name, [])
        if not isinstance(rows, list):
            raise RegisterError(f"{path}: table {table.name!r} should be a list of rows")
    return tables


def _from_json_row(table: sa.Table, row: Any, path: Path, index: int) -> dict[str, Any]:
    where = f"{path}: table {table.name!r} row {index + 1}"
    if not isinstance(row, dict):
        raise RegisterError(f"{where} should be an object, found {type(row).__name__}")
    unknown = sorted(set(row) - set(table.c.keys()))
    if unknown:
        raise RegisterError(f"{where} has unknown column(s) {', '.join(unknown)}")
    out = dict(row)
    for col in table.c:
        if isinstance(col.type, UTCDateTime) and out.get(col.name) is not None:
            try:
                stamp = datetime.fromisoformat(out[col.name])
            except (TypeError, ValueError) as exc:
                raise RegisterError(
                    f"{where}: {col.name} {out[col.name]!r} is not a timestamp"
                ) from exc
            out[col.name] = stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)
    return out
