"""The plan register's backup file: one JSON document holding every table.

The format (``"format": "planner-register-backup"``)::

    {"format": ..., "schema_version": 2, "exported_at": ISO time, "source": register URL,
     "tables": {"schema_version": [rows], "imports": [rows], "plans": [rows],
                "plan_rows": [rows], "agreed_priorities": [rows], "overrides": [rows]}}

with each row an object of its columns, timestamps as ISO text with their offset. A
version 1 file (no ``imports``, no ``import_id``) is read as it is. :func:`dump` reads the
tables on a connection and :func:`write` writes the file atomically (all or nothing);
:func:`read` checks a file (format, version, table names) and :func:`restore` puts its
rows back on the caller's write transaction, keeping their ids, after every row has
passed the live write path's checks (:mod:`planner.register.imported`), and records the
import (who, when, from which file) in ``imports``, which every imported row points at.
:meth:`~planner.register.store.PlanRegister.export` and
:meth:`~planner.register.store.PlanRegister.import_` run them.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from planner.files import atomic_path
from planner.register import imported, records
from planner.register.database import ENV_URL, RegisterError, hide_password
from planner.register.plans import check_override_plan
from planner.register.schema import (
    DATA_TABLES,
    RECORD_TABLES,
    SCHEMA_VERSION,
    imports,
    overrides,
    schema_version,
    utcnow,
)

__all__ = [
    "BACKUP_FORMAT",
    "Backup",
    "describe",
    "dump",
    "read",
    "restore",
    "table_counts",
    "write",
]

BACKUP_FORMAT = "planner-register-backup"


@dataclasses.dataclass(frozen=True)
class Backup:
    """A backup file as read: its tables (name -> rows) and where and when it was made."""

    tables: dict[str, list[Any]]
    schema_version: int
    exported_at: datetime | None
    source: str


def dump(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Every table's rows, in primary-key order, as JSON-ready objects."""
    tables: dict[str, list[dict[str, Any]]] = {}
    for table in (schema_version, *DATA_TABLES):
        pk = list(table.primary_key.columns)
        result = conn.execute(sa.select(table).order_by(*pk)).mappings()
        tables[table.name] = [_json_row(row) for row in result]
    return tables


def write(path: Path, tables: Mapping[str, list[dict[str, Any]]], *, source: str) -> None:
    """Write *tables* (from :func:`dump`) to the backup file *path*, atomically."""
    backup = {
        "format": BACKUP_FORMAT,
        "schema_version": SCHEMA_VERSION,
        "exported_at": utcnow().isoformat(),
        "source": hide_password(source),
        "tables": tables,
    }
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(backup, indent=1, allow_nan=False), encoding="utf-8")
    except OSError as exc:
        raise RegisterError(
            f"the backup file {path} cannot be written ({exc.strerror or exc}); nothing was "
            "written there. Choose a folder that exists, is writable and has space"
        ) from exc


def read(path: Path) -> Backup:
    """A backup file, checked for format, version and table names (not yet its rows)."""
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
    if not isinstance(version, int) or isinstance(version, bool) or version > SCHEMA_VERSION:
        raise RegisterError(
            f"{path} has schema version {version!r}; this planner reads up to {SCHEMA_VERSION}. "
            "Upgrade the planner before importing it"
        )
    tables = data.get("tables")
    if not isinstance(tables, dict):
        raise RegisterError(f"{path} has no 'tables' object; {fix}")
    for table in DATA_TABLES:
        rows = tables.setdefault(table.name, [])
        if not isinstance(rows, list):
            raise RegisterError(f"{path}: table {table.name!r} should be a list of rows")
    exported = data.get("exported_at")
    try:
        when = datetime.fromisoformat(exported) if isinstance(exported, str) else None
    except ValueError:
        when = None
    source = data.get("source")
    return Backup(
        tables,
        version,
        when if when is not None and when.tzinfo is not None else None,
        hide_password(source) if isinstance(source, str) and source.strip() else "unknown",
    )


def restore(
    conn: Connection,
    backup: Backup,
    path: Path,
    *,
    replace: bool,
    register: str,
    imported_by: str,
    names: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> int:
    """Put the rows of *backup* back, ids kept, on *conn*'s transaction; record the import.

    Every row is checked first (:func:`planner.register.imported.checked_tables`, the live
    write path's checks); the overrides' saved plans once the plans are in
    (:func:`~planner.register.plans.check_override_plan`). The import itself becomes a row
    of ``imports`` (*imported_by*, now, the file's name, the register it came from), and
    every imported record points at it (``import_id``), beside its own author.

    Parameters
    ----------
    conn
        A connection inside a write transaction.
    backup, path
        The backup (from :func:`read`) and the file it came from (for messages).
    replace
        Delete the register's records first. Without it, the register must be empty.
    register
        The register's URL, for messages.
    imported_by
        Who is importing it (the user's name, as every record carries it).
    names, aliases
        Borough names by code and other spellings, for the checks.

    Returns
    -------
    int
        The id of the new ``imports`` row.

    Raises
    ------
    InvalidRecordError
        A row fails a check; every problem is listed and nothing is written.
    RegisterError
        The register holds records and *replace* is False; the caller's transaction then
        writes nothing.
    """
    rows = imported.checked_tables(backup.tables, path, names=names, aliases=aliases)
    _lock(conn)
    held = {t.name: _count(conn, t) for t in DATA_TABLES}
    if any(held.values()) and not replace:
        raise RegisterError(
            f"the register {register} already holds records ({describe(held)}); "
            f"import {path} into a new register (set {ENV_URL}), or replace its "
            "records with replace=True (`planner register import --replace`)"
        )
    for table in reversed(DATA_TABLES):
        conn.execute(sa.delete(table))
    import_id = max((r["id"] for r in rows["imports"]), default=0) + 1
    rows["imports"].append(
        {
            "id": import_id,
            "imported_at": utcnow(),
            "imported_by": imported_by,
            "source_file": path.name,
            "source_register": backup.source,
            "exported_at": backup.exported_at,
            "row_counts": table_counts(backup.tables),
        }
    )
    for table in RECORD_TABLES:
        for row in rows[table.name]:
            row["import_id"] = import_id
    for table in DATA_TABLES:
        if table is overrides:
            _check_override_plans(conn, rows[table.name], path)
        if rows[table.name]:
            conn.execute(sa.insert(table), rows[table.name])
    _reset_sequences(conn)
    return import_id


def table_counts(tables: Mapping[str, list[Any]]) -> dict[str, int]:
    """Rows per table of records (plans, plan_rows, priorities, overrides) of *tables*."""
    return {t.name: len(tables.get(t.name) or []) for t in DATA_TABLES if t is not imports}


def describe(counts: Mapping[str, Any]) -> str:
    """``"plans: 2, plan_rows: 8, ..."``: rows per table, from counts or lists of rows."""
    return ", ".join(
        f"{name}: {len(v) if isinstance(v, list) else v}" for name, v in counts.items()
    )


# --- private helpers --------------------------------------------------------------------


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


def _check_override_plans(conn: Connection, rows: list[dict[str, Any]], path: Path) -> None:
    """The live path's check of each override's saved plan, now that the plans are in."""
    problems: list[str] = []
    for i, row in enumerate(rows):
        found: list[str] = []
        check_override_plan(conn, row, row["plan_id"], found)
        problems += [f"overrides row {i + 1}: {p}" for p in found]
    if problems:
        more = len(problems) - imported.MAX_LISTED
        raise records.InvalidRecordError(
            f"{path}: {len(problems)} problem(s) in the backup, so nothing was imported: "
            + "; ".join(problems[: imported.MAX_LISTED])
            + (f"; and {more} more" if more > 0 else "")
        )


def _lock(conn: Connection) -> None:
    """PostgreSQL: hold off other writers until the import commits (readers go on)."""
    if conn.dialect.name == "postgresql":
        names = ", ".join(t.name for t in DATA_TABLES)
        conn.exec_driver_sql(f"LOCK TABLE {names} IN EXCLUSIVE MODE")


def _count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar())


def _reset_sequences(conn: Connection) -> None:
    """After inserting explicit ids on PostgreSQL, move each id sequence past them."""
    if conn.dialect.name != "postgresql":
        return
    for table in DATA_TABLES:
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
            f"COALESCE((SELECT MAX(id) FROM {table.name}), 0) + 1, false)"
        )
