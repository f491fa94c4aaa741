"""The plan register's backup file: one JSON document holding every table.

The format (``"format": "planner-register-backup"``)::

    {"format": ..., "schema_version": 1, "exported_at": ISO time, "source": register URL,
     "tables": {"schema_version": [rows], "plans": [rows], "plan_rows": [rows],
                "agreed_priorities": [rows], "overrides": [rows]}}

with each row an object of its columns, timestamps as ISO text. :func:`dump` reads the
tables on a connection and :func:`write` writes the file atomically (all or nothing);
:func:`read` checks a file (format, version, table names) and :func:`restore` puts its
rows back on the caller's write transaction, keeping their ids.
:meth:`~planner.register.store.PlanRegister.export` and
:meth:`~planner.register.store.PlanRegister.import_` run them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from planner.files import atomic_path
from planner.register.database import ENV_URL, RegisterError
from planner.register.schema import DATA_TABLES, SCHEMA_VERSION, UTCDateTime, schema_version, utcnow

__all__ = ["BACKUP_FORMAT", "describe", "dump", "read", "restore", "table_counts", "write"]

BACKUP_FORMAT = "planner-register-backup"


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
        "source": source,
        "tables": tables,
    }
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(backup, indent=1, allow_nan=False), encoding="utf-8")


def read(path: Path) -> dict[str, list[dict[str, Any]]]:
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
    for table in DATA_TABLES:
        rows = tables.setdefault(table.name, [])
        if not isinstance(rows, list):
            raise RegisterError(f"{path}: table {table.name!r} should be a list of rows")
    return tables


def restore(
    conn: Connection,
    tables: Mapping[str, list[Any]],
    path: Path,
    *,
    replace: bool,
    register: str,
) -> None:
    """Put the rows of *tables* (from :func:`read`) back, ids kept, on *conn*'s transaction.

    Parameters
    ----------
    conn
        A connection inside a write transaction.
    tables, path
        The backup's tables and the file they came from (for messages).
    replace
        Delete the register's records first. Without it, the register must be empty.
    register
        The register's URL, for messages.

    Raises
    ------
    RegisterError
        The register holds records and *replace* is False, or a row is not one of its
        table's; the caller's transaction then writes nothing.
    """
    held = {t.name: _count(conn, t) for t in DATA_TABLES}
    if any(held.values()) and not replace:
        raise RegisterError(
            f"the register {register} already holds records ({describe(held)}); "
            f"import {path} into a new register (set {ENV_URL}), or replace its "
            "records with replace=True (`planner register import --replace`)"
        )
    for table in reversed(DATA_TABLES):
        conn.execute(sa.delete(table))
    for table in DATA_TABLES:
        rows = [_from_json_row(table, r, path, i) for i, r in enumerate(tables[table.name])]
        if rows:
            conn.execute(sa.insert(table), rows)
    _reset_sequences(conn)


def table_counts(tables: Mapping[str, list[Any]]) -> dict[str, int]:
    """Rows per data table of a backup's *tables*."""
    return {name: len(tables[name]) for name in (t.name for t in DATA_TABLES)}


def describe(counts: Mapping[str, Any]) -> str:
    """``"plans: 2, plan_rows: 8, ..."``: rows per table, from counts or lists of rows."""
    return ", ".join(
        f"{name}: {len(v) if isinstance(v, list) else v}" for name, v in counts.items()
    )


# --- private helpers --------------------------------------------------------------------


def _json_row(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in row.items()}


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
