"""The plan register: agreed local priorities, commanders' overrides and saved plans.

A real database through SQLAlchemy Core: an SQLite file by default
(``config/store.toml``, ``url = "sqlite:///.planner/register.sqlite"``), any SQLAlchemy
URL (e.g. PostgreSQL) by configuration or the ``PLANNER_DB_URL`` environment variable.
:class:`PlanRegister` is the one way in; its parts live beside it:

- :mod:`planner.register.database`: the connection, one transaction per action, the
  SQLite locking and what a damaged, locked or foreign file raises (:class:`RegisterError`);
- :mod:`planner.register.schema`: the tables, :data:`SCHEMA_VERSION` and :func:`upgrade`;
- :mod:`planner.register.records`: the checks of every record before it is written
  (:class:`InvalidRecordError`);
- :mod:`planner.register.plans`: saving, loading and listing plans
  (:class:`UnknownPlanError`);
- :mod:`planner.register.backup`: the JSON backup file, and
  :mod:`planner.register.imported`: a backup's rows checked as live writes are.

This module holds the register itself: agreed priorities, overrides and the backup, on
top of the saved plans (:class:`~planner.register.plans.SavedPlans`) and the connection
(:class:`~planner.register.database.RegisterDatabase`). Its names above are importable
from here too.

Guarantees
----------
- Every write runs in one transaction: a failure midway leaves the database as it was.
- SQLite is opened in WAL journal mode with a busy timeout, and every write transaction
  takes the write lock up front (``BEGIN IMMEDIATE``), so processes writing at the same
  time queue instead of failing or losing rows.
- The schema is versioned (table ``schema_version``) and created on first use;
  :func:`upgrade` brings an older register up to :data:`SCHEMA_VERSION`.
- A damaged, locked or foreign database file raises :class:`RegisterError` naming the
  file and the fix; the register never deletes or recreates an existing file.
- Permissions are checked before anything is written (:mod:`planner.register.access`): overrides
  only by a commander of the borough or a planner, agreed priorities only by the
  borough's council leader or a planner, saved plans only by a planner. Each write takes
  the ``user`` making it (default :data:`~planner.register.access.LOCAL_PLANNER`, for local mode)
  and records ``user.name`` as who made it.
- On PostgreSQL, a write the server aborts to break a deadlock (or a serialization
  conflict) is retried, so people writing at once never see that error.
- :meth:`PlanRegister.export` writes every table to one JSON backup (atomically);
  :meth:`PlanRegister.import_` restores it in one transaction, by a planner only, after
  every row has passed the checks of a live write, and records who imported it
  (:meth:`PlanRegister.imports`; each imported row's ``imported_by``, beside its author).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

from planner.config import PlannerConfig, StoreSettings
from planner.errors import ConfigError
from planner.register import access, backup, records
from planner.register.access import LOCAL_PLANNER, User
from planner.register.database import RegisterError, RegisterReadOnly, register_url
from planner.register.plans import SavedPlans, UnknownPlanError, check_override_plan
from planner.register.records import InvalidRecordError
from planner.register.schema import (
    SCHEMA_VERSION,
    agreed_priorities,
    imports,
    overrides,
    upgrade,
)

__all__ = [
    "SCHEMA_VERSION",
    "InvalidRecordError",
    "PlanRegister",
    "RegisterError",
    "RegisterReadOnly",
    "UnknownPlanError",
    "register_url",
    "upgrade",
]

log = logging.getLogger(__name__)


class PlanRegister(SavedPlans):
    """The plan register database: agreed priorities, overrides, saved plans.

    The database and its schema are created on first use (the first read or write),
    not when the object is made. Safe to share between threads; several processes may
    write to the same SQLite file at once. The connection and its transactions are
    :class:`~planner.register.database.RegisterDatabase`'s, the saved plans' methods
    :class:`~planner.register.plans.SavedPlans`'.

    Parameters
    ----------
    settings
        ``config.store``: the database URL and SQLite's busy timeout.
    url
        A SQLAlchemy URL; default from :func:`register_url` (``$PLANNER_DB_URL``, then
        *settings*). A relative SQLite path is resolved against the working directory now,
        and its folder is created on first use.
    borough_names
        Borough name by E09 code, for messages and checks: an agreement's borough code
        and name must agree, an override's borough must be one of them (none given: no
        such check).
    borough_aliases
        Other spellings of borough names (``"City of Westminster"``), accepted as names.
    local_writes
        Whether :data:`~planner.register.access.LOCAL_PLANNER` may write: :meth:`from_config`
        allows it only where local mode is in force (no sign-in configured and
        ``allow_local_mode`` true), so a command run where sign-in is configured never
        records "local planner".

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
        borough_aliases: Mapping[str, str] | None = None,
        local_writes: bool = True,
    ) -> None:
        super().__init__(settings, url=url)
        self._names = dict(borough_names or {})
        self._aliases = dict(borough_aliases or {})
        self._local_writes = local_writes

    @classmethod
    def from_config(cls, config: PlannerConfig, *, url: str | None = None) -> PlanRegister:
        """The register of *config* (``config/store.toml``, ``$PLANNER_DB_URL``, or *url*).

        The local planner may write only when local mode is in force for *config*.
        """
        return cls(
            config.store,
            url=url,
            borough_names=config.borough_names,
            borough_aliases=config.borough_aliases,
            local_writes=_local_mode(config),
        )

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
            Listing every missing or inconsistent field (a borough code and name that do
            not agree among them).
        RegisterError
            The database cannot be written.
        """
        self._check(user, access.RECORD_PRIORITIES, records.code(borough_code))
        row = records.priorities_row(
            user,
            borough_code=borough_code,
            borough_name=borough_name,
            year=year,
            priorities=priorities,
            agreed_by=agreed_by,
            agreed_at=agreed_at,
            notes=notes,
            recorded_by=recorded_by,
            evidence=evidence,
            names=self._names,
            aliases=self._aliases,
        )

        def insert(conn: sa.Connection) -> int:
            return int(
                conn.execute(sa.insert(agreed_priorities).values(**row)).inserted_primary_key[0]
            )

        new_id = self._write("recording agreed priorities", insert)
        log.info("recorded priorities %s %d: %s", row["borough_code"], year, row["priorities"])
        return new_id

    def priorities_history(self, borough_code: str | None = None) -> pd.DataFrame:
        """Every agreement recorded (for one borough, or all), newest first.

        Returns
        -------
        pandas.DataFrame
            One row per record: id, borough_code, borough_name, year, priorities (list),
            agreed_by, agreed_at (UTC), notes, recorded_by, evidence, import_id and
            imported_by (who imported it from a backup; None for a record made here).
        """
        query = _with_importer(agreed_priorities).order_by(
            agreed_priorities.c.agreed_at.desc(), agreed_priorities.c.id.desc()
        )
        if borough_code is not None:
            query = query.where(agreed_priorities.c.borough_code == borough_code)
        return self._frame(query, None, "reading the priorities history")

    def agreed_priorities(self, borough_code: str, year: int) -> dict[str, Any] | None:
        """The latest agreement for *borough_code* and plan *year*, or None if none.

        Returns
        -------
        dict or None
            The record's fields (see :meth:`priorities_history`).
        """
        t = agreed_priorities
        query = (
            _with_importer(t)
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
        self._check(user, access.RECORD_OVERRIDE, records.code(borough_code))
        problems: list[str] = []
        row = records.override_row(
            user,
            plan_id=plan_id,
            borough_code=borough_code,
            from_ward=from_ward,
            to_ward=to_ward,
            officers=officers,
            reason=reason,
            recorded_by=recorded_by,
            wards_in_borough=wards_in_borough,
            problems=problems,
            names=self._names,
        )

        def insert(conn: sa.Connection) -> int:
            found = list(problems)
            check_override_plan(conn, row, plan_id, found)
            records.raise_problems("override", found)
            return int(conn.execute(sa.insert(overrides).values(**row)).inserted_primary_key[0])

        new_id = self._write("recording an override", insert)
        log.info(
            "recorded override %s -> %s (%d) in %s", from_ward, to_ward, officers, borough_code
        )
        return new_id

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
            recorded_at (UTC), import_id and imported_by (see :meth:`priorities_history`).
        """
        query = _with_importer(overrides).order_by(overrides.c.recorded_at, overrides.c.id)
        if plan_id is not None:
            query = query.where(overrides.c.plan_id == plan_id)
        if borough_code is not None:
            query = query.where(overrides.c.borough_code == borough_code)
        frame = self._frame(query, None, "reading overrides")
        frame["plan_id"] = frame["plan_id"].astype("Int64")
        frame["import_id"] = frame["import_id"].astype("Int64")
        return frame

    def imports(self) -> pd.DataFrame:
        """Every backup imported into this register, newest first.

        Returns
        -------
        pandas.DataFrame
            id, imported_at (UTC), imported_by, source_file, source_register (the URL it
            was exported from, password hidden), exported_at (UTC), row_counts (rows per
            table). Rows from earlier imports of the register a backup came from are kept.
        """
        query = sa.select(imports).order_by(imports.c.imported_at.desc(), imports.c.id.desc())
        return self._frame(query, imports, "reading the imports")

    # -- backup --

    def export(self, path: str | Path) -> Path:
        """Write every table to a JSON backup file (atomically: all or nothing).

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = Path(path)
        with self._transaction("exporting the register") as conn:
            tables = backup.dump(conn)
        backup.write(path, tables, source=self.url)
        log.info("exported the register to %s (%s)", path, backup.describe(tables))
        return path

    def import_(
        self, path: str | Path, *, replace: bool = False, user: User = LOCAL_PLANNER
    ) -> dict[str, int]:
        """Restore a backup written by :meth:`export`, keeping its ids, in one transaction.

        A backup is data anyone could have edited: every row is checked as a record
        written through the register is (:mod:`planner.register.imported`), before
        anything is written. Only a planner may import (a backup holds every borough's
        records). The import is recorded (:meth:`imports`): who, when, from which file;
        every imported row keeps its own author and time, and gets ``imported_by``.

        Parameters
        ----------
        path
            The JSON backup file (any schema version up to this planner's).
        replace
            Delete the register's records first. Without it, the register must be empty.
        user
            Who is importing: a planner. Default
            :data:`~planner.register.access.LOCAL_PLANNER` (local mode, no sign-in).

        Returns
        -------
        dict
            Rows imported per table of records (plans, plan_rows, agreed_priorities,
            overrides).

        Raises
        ------
        PermissionDenied
            *user* is not a planner; nothing was read or written.
        InvalidRecordError
            A row fails a check (listing every problem: table, row, field); nothing
            changed.
        RegisterError
            The file is not a register backup, is newer than this planner, or the
            register is not empty and *replace* is False; nothing changed.
        """
        self._check(user, access.IMPORT_BACKUP)
        path = Path(path)
        read = backup.read(path)

        def restore(conn: sa.Connection) -> int:
            return backup.restore(
                conn, read, path, replace=replace, register=self.url, imported_by=user.name,
                names=self._names, aliases=self._aliases,
            )  # fmt: skip

        import_id = self._write(f"importing {path}", restore)
        counts = backup.table_counts(read.tables)
        log.info(
            "import %d: %s imported into the register by %s (%s)",
            import_id, path, user.name, backup.describe(counts),
        )  # fmt: skip
        return counts


def _local_mode(config: PlannerConfig) -> bool:
    """Whether local mode is in force (no sign-in configured, ``allow_local_mode`` true)."""
    from planner.register.identity import load_access

    try:
        return load_access(config).source.mode == "local"
    except ConfigError:  # e.g. no sign-in while allow_local_mode = false: nobody is local
        return False


def _with_importer(table: sa.Table) -> sa.Select:
    """*table*'s rows with ``imported_by``: who imported each (None if made here)."""
    return sa.select(table, imports.c.imported_by).select_from(
        table.outerjoin(imports, table.c.import_id == imports.c.id)
    )
