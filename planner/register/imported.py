"""The checks of a backup's rows before they are imported: the live write path's, row by row.

A backup file is data anyone could have edited, so nothing in it is trusted: every row of
every table goes through the same field checks as a record written through the register
(:mod:`planner.register.records`): the agreed priorities through
:func:`~planner.register.records.priorities_row` (the borough's code and name must agree),
the overrides through :func:`~planner.register.records.override_row`, each saved plan and
its ward rows through :func:`~planner.register.records.plan_row` and
:func:`~planner.register.records.allocation_rows` (as
:func:`~planner.register.records.saved_plan_rows` does). Only the author and
the time come from the file instead of from the person writing: they are checked as the
live path checks a name typed in local mode, and as a timezone-aware time.

:func:`checked_tables` returns the cleaned rows, ids kept, or raises one
:class:`~planner.register.records.InvalidRecordError` listing what is wrong (table, row,
field), before anything is written. The overrides' saved plans are checked on the write
transaction, after the plans are in, with the live path's
:func:`~planner.register.plans.check_override_plan`
(:func:`planner.register.backup.restore`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from planner.register import records
from planner.register.access import LOCAL_PLANNER
from planner.register.database import hide_password
from planner.register.records import InvalidRecordError
from planner.register.schema import DATA_TABLES, PLAN_ROW_COLUMNS

__all__ = ["MAX_LISTED", "checked_tables"]

MAX_LISTED = 12  # problems spelt out in the message; the rest are counted
Rows = dict[str, list[dict[str, Any]]]
Objects = list[tuple[str, dict[str, Any]]]  # (where, row) of one table
Names = Mapping[str, str] | None


def checked_tables(
    tables: Mapping[str, list[Any]],
    path: Path,
    *,
    names: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> Rows:
    """Every row of a backup's *tables*, checked and cleaned as the live write path does.

    Parameters
    ----------
    tables
        Table name -> rows, as :func:`planner.register.backup.read` gives them.
    path
        The backup file (for messages).
    names, aliases
        Borough name by E09 code and other spellings (``config/boroughs.toml``): an agreed
        priorities row's code and name must agree, an override's borough must be one.

    Returns
    -------
    dict
        Table name -> cleaned rows (ids kept; timestamps timezone-aware UTC), for every
        table of :data:`~planner.register.schema.DATA_TABLES`.

    Raises
    ------
    InvalidRecordError
        Listing every problem found (the first :data:`MAX_LISTED` spelt out); nothing
        has been written.
    """
    problems: list[str] = []
    out: Rows = {}
    for table in DATA_TABLES:
        rows = tables.get(table.name) or []
        allowed = set(table.c.keys())
        objects = []
        for i, row in enumerate(rows):
            where = f"{table.name} row {i + 1}"
            if not isinstance(row, dict):
                problems.append(f"{where} should be an object, found {type(row).__name__}")
                continue
            unknown = sorted(set(row) - allowed)
            if unknown:
                problems.append(f"{where} has unknown column(s) {', '.join(unknown)}")
            objects.append((where, row))
        out[table.name] = _ROWS[table.name](objects, problems, names, aliases)
        _unique_ids(table.name, out[table.name], problems)
    if not problems:  # (a plan whose rows were refused would be reported twice)
        _plans_have_rows(out, problems)
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = len(problems) - MAX_LISTED
        raise InvalidRecordError(
            f"{path}: {len(problems)} problem(s) in the backup, so nothing was imported: "
            f"{listed}{f'; and {more} more' if more > 0 else ''}. Every row must pass the "
            "checks a record written through the planner passes; correct the file, or "
            "export it again from its register"
        )
    return out


# --- one table each -----------------------------------------------------------------------


def _imports(
    objects: Objects, problems: list[str], names: Names, aliases: Names
) -> list[dict[str, Any]]:
    """Earlier imports (the history of the register the backup came from)."""
    out = []
    for where, row in objects:
        found: list[str] = []
        counts = row.get("row_counts")
        if not isinstance(counts, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in counts.values()
        ):
            found.append(f"row_counts should map table names to row counts, found {counts!r}")
            counts = {}
        source = records._text(row.get("source_register"), "source_register", found)
        out.append(
            {
                "id": _key(row, found),
                "imported_at": _stamp(row, "imported_at", found),
                "imported_by": records._name(row.get("imported_by"), "imported_by", found),
                "source_file": records._text(row.get("source_file"), "source_file", found),
                "source_register": hide_password(source),
                "exported_at": _stamp(row, "exported_at", found, required=False),
                "row_counts": {str(k): v for k, v in counts.items()},
            }
        )
        problems += [f"{where}: {p}" for p in found]
    return out


def _plans(
    objects: Objects, problems: list[str], names: Names, aliases: Names
) -> list[dict[str, Any]]:
    """Saved plans: checked with their ward rows (``plan_rows``) in :func:`_plan_rows`."""
    out = []
    for where, row in objects:
        found: list[str] = []
        parent = records.plan_row(
            LOCAL_PLANNER,
            name=row.get("name"),
            settings=row.get("settings"),
            manifest=row.get("manifest"),
            created_by=_author(row, "created_by"),
            problems=found,
        )
        parent["created_at"] = _stamp(row, "created_at", found)
        out.append({"id": _key(row, found), **parent})
        problems += [f"{where}: {p}" for p in found]
    return out


def _plan_rows(
    objects: Objects, problems: list[str], names: Names, aliases: Names
) -> list[dict[str, Any]]:
    """Each saved plan's ward rows, as one allocation table through the live check."""
    by_plan: dict[Any, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for where, row in objects:
        by_plan[row.get("plan_id")].append((where, row))
    out = []
    for plan_id, group in by_plan.items():
        found: list[str] = []
        key = records._plan_key(plan_id, found)
        ids = [_key(row, found) for _, row in group]
        for col in ("ward_code", "borough_code"):
            kinds = sorted({type(r.get(col)).__name__ for _, r in group} - {"str"})
            if kinds:
                found.append(f"{col} should be text in every row, found {', '.join(kinds)}")
        frame = pd.DataFrame(
            [{c: row.get(c) for c in PLAN_ROW_COLUMNS} for _, row in group], dtype=object
        )
        cleaned = records.allocation_rows(frame, found)
        out += [{"id": i, "plan_id": key, **r} for i, r in zip(ids, cleaned, strict=False)]
        first, last = group[0][0], group[-1][0].rsplit(" ", 1)[-1]
        problems += [f"{first} to {last} (plan_id {plan_id!r}): {p}" for p in found]
    return out


def _priorities(
    objects: Objects, problems: list[str], names: Names, aliases: Names
) -> list[dict[str, Any]]:
    out = []
    for where, row in objects:
        found: list[str] = []
        stamp = _stamp(row, "agreed_at", found)
        cleaned = records.priorities_row(
            LOCAL_PLANNER,
            borough_code=row.get("borough_code"),
            borough_name=row.get("borough_name"),
            year=row.get("year"),
            priorities=row.get("priorities"),
            agreed_by=row.get("agreed_by"),
            agreed_at=stamp or datetime.now(UTC),  # a missing time is reported above
            notes=row.get("notes"),
            recorded_by=_author(row, "recorded_by"),
            evidence=row.get("evidence"),
            names=names,
            aliases=aliases,
            problems=found,
        )
        out.append({"id": _key(row, found), **cleaned})
        problems += [f"{where}: {p}" for p in found]
    return out


def _overrides(
    objects: Objects, problems: list[str], names: Names, aliases: Names
) -> list[dict[str, Any]]:
    out = []
    for where, row in objects:
        found: list[str] = []
        cleaned = records.override_row(
            LOCAL_PLANNER,
            plan_id=row.get("plan_id"),
            borough_code=row.get("borough_code"),
            from_ward=row.get("from_ward"),
            to_ward=row.get("to_ward"),
            officers=row.get("officers"),
            reason=row.get("reason"),
            recorded_by=_author(row, "recorded_by"),
            wards_in_borough=None,  # the plan's wards are checked when the plans are in
            problems=found,
            names=names,
        )
        cleaned["recorded_at"] = _stamp(row, "recorded_at", found)
        out.append({"id": _key(row, found), **cleaned})
        problems += [f"{where}: {p}" for p in found]
    return out


_ROWS = {
    "imports": _imports,
    "plans": _plans,
    "plan_rows": _plan_rows,
    "agreed_priorities": _priorities,
    "overrides": _overrides,
}


# --- fields -------------------------------------------------------------------------------


def _author(row: Mapping[str, Any], column: str) -> Any:
    """Who made a record, from the file: never None (None would mean "the local planner")."""
    value = row.get(column)
    return "" if value is None else value


def _key(row: Mapping[str, Any], problems: list[str]) -> int:
    """A row's id, checked as every whole number in the register is."""
    return records._positive_int(row.get("id"), "id", problems)


def _stamp(
    row: Mapping[str, Any], column: str, problems: list[str], *, required: bool = True
) -> datetime | None:
    """An ISO 8601 time with its offset, as the export writes it, in UTC."""
    value = row.get(column)
    if value is None and not required:
        return None
    try:
        stamp = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        stamp = None
    if stamp is None or stamp.tzinfo is None:
        problems.append(
            f"{column} should be a time with its UTC offset (ISO 8601, as `planner register "
            f"export` writes it, e.g. 2026-03-01T09:30:00+00:00), found {value!r}"
        )
        return None
    return stamp.astimezone(UTC)


def _plans_have_rows(out: Rows, problems: list[str]) -> None:
    """Every saved plan has ward rows (as a saved plan must), every ward row a plan."""
    plans = {r["id"] for r in out["plans"]}
    held = {r["plan_id"] for r in out["plan_rows"]}
    for plan in sorted(plans - held):
        problems.append(f"plans: plan {plan} has no plan_rows (a saved plan has its wards)")
    for plan in sorted(held - plans, key=str):
        problems.append(f"plan_rows: plan_id {plan!r} is not a plan of the backup")


def _unique_ids(name: str, rows: list[dict[str, Any]], problems: list[str]) -> None:
    seen: set[int] = set()
    repeated = sorted({r["id"] for r in rows if r["id"] in seen or seen.add(r["id"])})
    if repeated:
        problems.append(f"{name}: id repeated: {', '.join(map(str, repeated[:5]))}")
