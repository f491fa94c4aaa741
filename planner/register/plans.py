"""The saved plans of the plan register: saving, loading and listing allocations.

A saved plan is one ``plans`` row (name, who saved it and when, the settings and data
manifest that produced it) and one ``plan_rows`` row per ward. :class:`SavedPlans` holds
the register's methods for them; :class:`~planner.register.store.PlanRegister` is built on
it. :func:`check_override_plan` checks, inside an override's write transaction, that the
plan the override adjusts exists and holds both its wards.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from planner.register import access, records
from planner.register.access import LOCAL_PLANNER, User
from planner.register.database import RegisterDatabase, RegisterError
from planner.register.schema import PLAN_ROW_COLUMNS, imports, plan_rows, plans

__all__ = ["SavedPlans", "UnknownPlanError", "check_override_plan"]

log = logging.getLogger(__name__)


class UnknownPlanError(RegisterError, LookupError):
    """No saved plan has the id asked for."""


class SavedPlans(RegisterDatabase):
    """The register's saved plans: save, load and list allocations.

    The part of :class:`~planner.register.store.PlanRegister` that deals with plans.
    Permission messages name boroughs from ``_names`` (borough name by E09 code), which
    :class:`~planner.register.store.PlanRegister` sets.
    """

    _names: dict[str, str]
    _local_writes: bool = True  # may LOCAL_PLANNER write? (only where local mode is in force)

    def _check(self, user: User, action: str, borough: str | None = None) -> None:
        """Raise :class:`~planner.register.access.PermissionDenied` unless *user* may write.

        Beyond the role table: the local planner writes only where local mode is in force,
        so a command run on a server with sign-in never records "local planner".
        """
        if isinstance(user, User) and user.is_local and not self._local_writes:
            reason = (
                f"{user.name!r} may not {access.ACTIONS[action]} here: sign-in is configured "
                "(or allow_local_mode = false), so a write must say who makes it"
            )
            raise access.PermissionDenied(
                f"{reason}. Nothing was written. On the command line give --user EMAIL of a "
                "person listed in config/access.toml with that role",
                reason=reason,
            )
        access.check(user, action, borough, names=self._names)

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
        self._check(user, access.SAVE_PLAN)
        parent, rows = records.saved_plan_rows(
            user,
            name=name,
            allocation=allocation,
            settings=settings,
            manifest=manifest,
            created_by=created_by,
        )

        def insert(conn: Connection) -> int:
            plan_id = int(conn.execute(sa.insert(plans).values(**parent)).inserted_primary_key[0])
            _insert_plan_rows(conn, plan_id, rows)
            return plan_id

        plan_id = self._write(f"saving plan {name!r}", insert)
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
            cols = [plan_rows.c[c] for c in PLAN_ROW_COLUMNS]
            query = sa.select(*cols).where(plan_rows.c.plan_id == plan_id)
            rows = conn.execute(query.order_by(plan_rows.c.id)).all()
        frame = pd.DataFrame([tuple(r) for r in rows], columns=list(PLAN_ROW_COLUMNS))
        ints = ["baseline_dwo", "baseline_pcso", "extra", "total_dwo"]
        frame = frame.astype({c: "int64" for c in ints} | {"need_score": "float64"})
        return dict(meta), frame.set_index("ward_code")

    def list_plans(self) -> pd.DataFrame:
        """Saved plans, newest first: id, name, created_at, created_by, n_wards, extra,
        imported_by (who imported it from a backup; None for a plan saved here)."""
        n_wards = sa.func.count(plan_rows.c.id).label("n_wards")
        extra = sa.func.coalesce(sa.func.sum(plan_rows.c.extra), 0).label("extra")
        columns = (plans.c.id, plans.c.name, plans.c.created_at, plans.c.created_by)
        query = (
            sa.select(*columns)
            .add_columns(n_wards, extra, imports.c.imported_by)
            .select_from(
                plans.outerjoin(plan_rows).outerjoin(imports, plans.c.import_id == imports.c.id)
            )
            .group_by(*columns, imports.c.imported_by)
            .order_by(plans.c.created_at.desc(), plans.c.id.desc())
        )
        return self._frame(query, None, "listing saved plans")

    def latest_plan(self) -> int | None:
        """The id of the newest saved plan, or None if none is saved."""
        query = sa.select(plans.c.id).order_by(plans.c.created_at.desc(), plans.c.id.desc())
        with self._transaction("finding the latest plan") as conn:
            found = conn.execute(query.limit(1)).scalar()
        return None if found is None else int(found)


def check_override_plan(
    conn: Connection, row: dict[str, Any], plan_id: Any, problems: list[str]
) -> None:
    """An override's saved plan (*plan_id* as given) must exist and hold both its wards."""
    if row["plan_id"] is not None and not _plan_exists(conn, row["plan_id"]):
        problems.append(f"plan_id {plan_id!r} is not a saved plan (see list_plans())")
    elif row["plan_id"] is not None:
        _check_plan_wards(conn, row, problems)


def _insert_plan_rows(conn: Connection, plan_id: int, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(sa.insert(plan_rows), [{"plan_id": plan_id, **r} for r in rows])


def _plan_exists(conn: Connection, plan_id: int) -> bool:
    return conn.execute(sa.select(plans.c.id).where(plans.c.id == plan_id)).first() is not None


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
