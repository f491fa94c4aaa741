"""The plan register's database connection: URL, engine, transactions and failures.

:class:`RegisterDatabase` is the base of :class:`~planner.register.store.PlanRegister`: it
opens the database named by the configuration and gives every read and write its own
transaction, so the register itself only says what to read and write.

Guarantees
----------
- Every transaction (:meth:`RegisterDatabase._transaction`) is committed on success and
  rolled back on any exception: a failure midway leaves the database as it was.
- SQLite is opened in WAL journal mode with a busy timeout, and every write transaction
  takes the write lock up front (``BEGIN IMMEDIATE``), so processes writing at the same
  time queue instead of failing or losing rows.
- On PostgreSQL, a write that the server aborts to break a deadlock or a serialization
  conflict (SQLSTATE 40P01, 40001) is retried from the start, a few times with a growing
  pause (:meth:`RegisterDatabase._write`), so people writing at once never see it.
- The schema (:mod:`planner.register.schema`) is created or upgraded on first use, not
  when the object is made, under a lock (SQLite's write lock; a PostgreSQL advisory
  lock), so processes opening a new register at once create it once; a register newer
  than this planner is refused.
- A damaged, locked or foreign database file raises :class:`RegisterError` naming the
  file and the fix; the register never deletes or recreates an existing file. An SQLite
  file is checked (``PRAGMA quick_check``) when first opened, so a damaged page is found
  before anything is written, not when a read happens to reach it. A server that cannot
  be reached, a wrong password or a missing database says so, with the URL (password
  hidden) and the fix.
- An SQLite register that cannot be written (a read-only mount, a file or folder without
  write permission) is opened read-only (:attr:`RegisterDatabase.read_only`): everything can
  be read, and every write raises :class:`RegisterReadOnly` saying writes are unavailable,
  before anything is tried.

The URL in force comes from :func:`register_url`: an explicit URL, else
``$PLANNER_DB_URL`` (:data:`ENV_URL`), else ``config/store.toml``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Self, TypeVar

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine

from planner.config import StoreSettings
from planner.errors import ConfigError, PlannerError
from planner.register.schema import SCHEMA_VERSION, UTCDateTime, schema_version, upgrade

__all__ = [
    "DEFAULT_URL",
    "ENV_URL",
    "RegisterDatabase",
    "RegisterError",
    "RegisterReadOnly",
    "hide_password",
    "register_url",
]

log = logging.getLogger(__name__)

DEFAULT_URL = "sqlite:///.planner/register.sqlite"
ENV_URL = "PLANNER_DB_URL"
T = TypeVar("T")

TRANSIENT_SQLSTATES = frozenset({"40001", "40P01"})  # serialization failure, deadlock
WRITE_ATTEMPTS = 6  # a write the server aborted is tried this many times in all
CONNECT_TIMEOUT_S = 10  # PostgreSQL: give up reaching the server after this long
_SCHEMA_LOCK = 0x706C616E  # PostgreSQL advisory lock key held while creating the schema
_PASSWORD = re.compile(r"(?P<head>://[^/@:\s]*:)(?P<password>[^@\s]*)@")


def hide_password(text: str) -> str:
    """*text* with the password of any database URL in it replaced by ``***``."""
    return _PASSWORD.sub(r"\g<head>***@", text)


class RegisterError(PlannerError):
    """The plan register's database cannot be used (damaged, locked, foreign, newer)."""


class RegisterReadOnly(RegisterError):
    """The register can be read but not written (a read-only file, folder or mount)."""


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


class RegisterDatabase:
    """The register's database: its engine, its schema and one transaction per action.

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

    Raises
    ------
    ConfigError
        The URL is not a valid SQLAlchemy URL, or its driver is not installed.
    """

    def __init__(self, settings: StoreSettings, *, url: str | None = None) -> None:
        self._url = _parse_url(register_url(settings, url))
        self._busy_timeout_s = settings.busy_timeout_s
        path = self.path
        self._read_only = path is not None and path.exists() and not _writable(path)
        if self._read_only:
            log.info("the plan register %s cannot be written: opened read-only", path)
        self._engine = self._create_engine()
        self._ready = False
        self._lock = threading.Lock()

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
    def read_only(self) -> bool:
        """True when the register can be read but not written (writes raise
        :class:`RegisterReadOnly`)."""
        return self._read_only

    def writes_unavailable(self) -> str | None:
        """Why writes are unavailable, in a sentence with the fix; None when they are not."""
        if not self._read_only:
            return None
        return (
            f"{self._where()} is read-only (the file, its folder or the disk cannot be "
            "written), so writes are unavailable: plans, overrides and agreed priorities can "
            "be read but not saved. Make the folder writable for the planner, or copy the "
            f"register somewhere writable and point ${ENV_URL} (or config/store.toml) at it"
        )

    @property
    def schema_version(self) -> int:
        """The register's schema version (creating the register if needed)."""
        with self._transaction("reading the schema version") as conn:
            return int(conn.execute(sa.select(sa.func.max(schema_version.c.version))).scalar())

    def close(self) -> None:
        """Close every pooled connection (the register can still be used afterwards)."""
        self._engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # -- connections and transactions (for the register's methods) --

    def _create_engine(self) -> Engine:
        url = self._url
        try:
            if url.get_backend_name() != "sqlite":
                connect = {}
                if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
                    connect = {"connect_timeout": CONNECT_TIMEOUT_S}
                return sa.create_engine(
                    url, pool_pre_ping=True, json_serializer=_dumps, connect_args=connect
                )
            # One shared connection for an in-memory database, so every thread sees it.
            memory = {"poolclass": sa.StaticPool} if self.path is None else {}
            if self._read_only and self.path is not None:
                memory = {"creator": _read_only_connect(self.path, self._busy_timeout_s)}
                url = sa.make_url("sqlite://")
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
        _sqlite_events(
            engine, busy_timeout_ms=int(self._busy_timeout_s * 1000), read_only=self._read_only
        )
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
        if conn.dialect.name == "postgresql":  # one process creates or upgrades at a time
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
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
        if self._read_only and current != SCHEMA_VERSION:
            raise RegisterError(
                f"{self._where()} is read-only and at schema version {current}, not "
                f"{SCHEMA_VERSION}: it cannot be created or upgraded. "
                + (self.writes_unavailable() or "")
            )
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

    def _write(self, action: str, work: Callable[[Connection], T]) -> T:
        """Run *work* in one write transaction; retried when the server aborts it.

        PostgreSQL aborts one of two transactions that deadlock (SQLSTATE 40P01) or
        conflict under serializable isolation (40001); the aborted one wrote nothing, so
        it is run again from the start, up to :data:`WRITE_ATTEMPTS` times in all, after
        a short random pause. *work* must be safe to repeat (it only writes through
        *conn*). Any other failure is raised at once.
        """
        unavailable = self.writes_unavailable()
        if unavailable:
            raise RegisterReadOnly(f"{action}: {unavailable}. Nothing was written")
        for attempt in range(1, WRITE_ATTEMPTS + 1):
            try:
                with self._transaction(action, write=True) as conn:
                    return work(conn)
            except RegisterError as exc:
                if attempt == WRITE_ATTEMPTS or not _transient(exc.__cause__):
                    raise
                pause = random.uniform(0.5, 1.5) * 0.02 * 2**attempt
                log.info("%s: retrying after %s (attempt %d)", action, exc.__cause__, attempt)
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn database failures into :class:`RegisterError` naming the file and the fix."""
        try:
            yield
        except (sa.exc.DBAPIError, sqlite3.Error) as exc:
            raise RegisterError(self._explain(exc, action)) from exc
        except sa.exc.TimeoutError as exc:  # every pooled connection stayed busy
            raise RegisterError(
                f"{action}: every connection to {self._where()} stayed busy ({exc}). Nothing "
                "was written; retry, and if it persists check the server's load and "
                "max_connections"
            ) from exc
        except OSError as exc:
            raise RegisterError(
                f"{action}: {self._where()} cannot be reached ({exc}); check the folder exists "
                f"and is writable, or point config/store.toml or ${ENV_URL} elsewhere"
            ) from exc

    def _explain(self, exc: Exception, action: str) -> str:
        text = hide_password(str(getattr(exc, "orig", None) or exc).strip())
        if self._url.password:
            text = text.replace(str(self._url.password), "***")
        low = text.lower()
        where = self._where()
        server = self._server_problem(low, text, action)
        if server is not None:
            return server
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

    def _server_problem(self, low: str, text: str, action: str) -> str | None:
        """What a database server's refusal means and what to do (None: not one of these)."""
        if self.path is not None or self._url.get_backend_name() == "sqlite":
            return None
        where = f"the database {self.url}"
        setting = f"${ENV_URL} (or url in config/store.toml)"
        if "password authentication failed" in low or "no password supplied" in low:
            fix = (
                f"check the user name and password in {setting}; keep the password outside "
                "the repository (the service's environment or .streamlit/secrets.toml)"
            )
        elif "does not exist" in low and "database" in low:
            owner, name = self._url.username or "USER", self._url.database
            fix = f"create it (createdb -O {owner} {name}) or correct {setting}"
        elif any(
            s in low
            for s in ("connection refused", "could not translate host", "timeout expired",
                      "no route to host", "name or service not known", "connection failed")
        ):  # fmt: skip
            fix = (
                f"check that the server is running and reachable at "
                f"{self._url.host or 'localhost'}:{self._url.port or 5432}, or correct {setting}"
            )
        elif "permission denied" in low:
            fix = (
                f"grant the register's database user ({self._url.username}) the right to "
                "create and write tables (e.g. make it the database's owner: ALTER DATABASE "
                f"{self._url.database} OWNER TO {self._url.username})"
            )
        else:
            return None
        return f"{action}: {where} cannot be used ({text}). Nothing was written; {fix}"

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


def _dumps(value: Any) -> str:
    return json.dumps(value, allow_nan=False, ensure_ascii=False)


def _transient(exc: BaseException | None) -> bool:
    """Whether a database error is a deadlock or serialization failure (worth a retry)."""
    orig = getattr(exc, "orig", None)
    code = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    return code in TRANSIENT_SQLSTATES


def _parse_url(url: str) -> URL:
    try:
        parsed = sa.make_url(url)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ConfigError(
            f"{hide_password(url)!r} is not a database URL; use e.g. "
            f"{DEFAULT_URL!r} in config/store.toml or ${ENV_URL}"
        ) from None
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


def _writable(path: Path) -> bool:
    """Whether the SQLite file, its write-ahead files and its folder can be written."""
    parts = [path, path.parent]
    parts += [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
    return all(os.access(p, os.W_OK) for p in parts)


def _read_only_connect(path: Path, timeout: float) -> Callable[[], sqlite3.Connection]:
    """A connection factory opening *path* read-only.

    ``mode=ro`` where its write-ahead files exist (SQLite reads them read-only); else
    ``immutable=1``, which needs no ``-shm`` file in the folder that cannot be written.
    """
    from urllib.parse import quote

    def connect() -> sqlite3.Connection:
        has_wal = Path(f"{path}-wal").exists() and Path(f"{path}-shm").exists()
        flags = "mode=ro" if has_wal else "mode=ro&immutable=1"
        uri = f"file:{quote(str(path))}?{flags}"
        return sqlite3.connect(uri, uri=True, timeout=timeout, check_same_thread=False)

    return connect


def _sqlite_events(engine: Engine, *, busy_timeout_ms: int, read_only: bool = False) -> None:
    """WAL, busy timeout and foreign keys on every connection; BEGIN IMMEDIATE for writes."""

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see _on_begin)
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            cur.execute("PRAGMA foreign_keys = ON")
            if read_only:
                return  # the journal mode is the file's; it cannot be changed
            mode = cur.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() not in {"wal", "memory"}:
                log.warning("SQLite journal mode is %s, not WAL: concurrent writers wait", mode)
        finally:
            cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("planner_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")
