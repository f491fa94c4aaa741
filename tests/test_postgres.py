"""The plan register as a London-wide deployment runs it: PostgreSQL and SQLite side by side.

Every test here that takes ``engine_url`` or ``new_url`` runs on an SQLite file and, marked
``postgres``, on a new database of the throwaway PostgreSQL server of tests/conftest.py
(initdb into a temporary folder, ``pg_ctl start`` on a free loopback port, stopped at the
end). What each proves:

- **32 writers at once** (:func:`test_32_boroughs_writing_at_once_lose_nothing`): 4
  processes x 8 threads, one writer per borough, every writer starting on an empty database
  at the same moment (so the schema is created while others wait); each saves a plan as a
  planner, records overrides against it as the borough's commander and agrees priorities as
  its council leader. Every row is checked, borough by borough: none lost, none doubled, each
  carrying who made it, and no error reached a writer.
- **Deadlocks are retried** (:func:`test_a_deadlock_is_retried_and_never_shown`): two
  register writes that really deadlock on PostgreSQL both succeed; other errors are not
  retried.
- **Migrations** (:func:`test_a_version_1_register_upgrades_in_place` and the tests after
  it): a register built with the schema of version 1 as released (spelled out here, frozen),
  holding rows, is upgraded in place to version 2 and reads back every row; the upgraded
  schema equals a new register's; a failing upgrade leaves version 1 as it was; a version 1
  backup file imports. (A register newer than the code is refused on both engines:
  tests/test_store.py ``test_newer_schema_is_refused``.)
- **Backup and restore across engines**
  (:func:`test_backup_round_trip_sqlite_postgres_sqlite`): ``planner register export``
  from SQLite, ``import`` into PostgreSQL by a planner, export, and import into a new SQLite
  file keep every row, author and time, and record each import.
- **Server failures** (:func:`test_server_failures_name_the_url_and_the_fix`) and **a writer
  killed mid-save** on PostgreSQL (:func:`test_killing_a_writer_mid_save_on_postgres`).
"""

from __future__ import annotations

import json
import multiprocessing
import queue
import random
import sys
import threading
import time
import types
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from planner.cli import main
from planner.register import schema
from planner.register.access import COMMANDER, COUNCIL_LEADER, PLANNER, User
from planner.register.database import ENV_URL, TRANSIENT_SQLSTATES
from planner.register.store import SCHEMA_VERSION, PlanRegister, RegisterError
from tests.factories import config_copy, register_at, shipped_config

BOROUGHS = [f"E09{n:06d}" for n in range(2, 34)]  # the 32 boroughs (the City aside)
PROCESSES, THREADS = 4, 8  # 32 writers
WARDS_PER_PLAN = 20
OVERRIDES_PER_WRITER = 5
YEARS = (2026, 2027)


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)


def _sql(url: str, query: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.exec_driver_sql(query)]
    finally:
        engine.dispose()


# --- 32 boroughs writing at once ----------------------------------------------------------


def people(code: str) -> tuple[User, User, User]:
    """A borough's planner, commander and council leader, as sign-in would give them."""
    n = code[-2:]
    return (
        User(f"planner{n}@met.police.uk", PLANNER),
        User(f"commander{n}@met.police.uk", COMMANDER, frozenset({code})),
        User(f"leader{n}@council{n}.gov.uk", COUNCIL_LEADER, frozenset({code})),
    )


def wards_of(code: str) -> pd.DataFrame:
    """A plan's allocation table for one borough: WARDS_PER_PLAN wards, extras 0, 1, 2, ..."""
    wards = pd.Index([f"E05{code[-2:]}{i:04d}" for i in range(WARDS_PER_PLAN)], name="ward_code")
    extra = np.arange(WARDS_PER_PLAN, dtype=np.int64) % 4
    return pd.DataFrame(
        {"borough_code": code, "baseline_dwo": 2, "baseline_pcso": 1, "extra": extra,
         "total_dwo": 2 + extra, "need_score": np.linspace(0.1, 0.9, WARDS_PER_PLAN)},
        index=wards,
    )  # fmt: skip


@dataclass
class WriterResult:
    """What one borough's writer did: the ids it was given, when, and any error it saw."""

    borough: str
    plan_id: int = 0
    override_ids: list[int] = field(default_factory=list)
    priorities_ids: list[int] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0
    error: str = ""


def write_borough(register: PlanRegister, code: str, start: threading.Barrier) -> WriterResult:
    """One borough's people writing: a plan, overrides against it, two agreements."""
    planner, commander, leader = people(code)
    result = WriterResult(code)
    name = shipped_config().borough_names[code]
    try:
        start.wait(timeout=120)
        result.started = time.time()
        start.wait(timeout=120)  # again: every writer has started before any writes
        table = wards_of(code)
        result.plan_id = register.save_plan(
            f"{code} draft", table, settings={"pool": int(table["extra"].sum())},
            manifest={"by": planner.name}, user=planner,
        )  # fmt: skip
        wards = list(table.index)
        for i in range(OVERRIDES_PER_WRITER):
            result.override_ids.append(
                register.record_override(
                    code,
                    wards[i],
                    wards[-1 - i],
                    1,
                    f"{code} move {i}",
                    user=commander,
                    plan_id=result.plan_id,
                )
            )
            if i < len(YEARS):
                result.priorities_ids.append(
                    register.record_priorities(
                        code,
                        name,
                        YEARS[i],
                        ["Burglary", f"Robbery {code}"],
                        agreed_by=f"{commander.name} and {leader.name}",
                        user=leader,
                    )
                )
        result.finished = time.time()
    except Exception as exc:  # reported to the test, which fails on it
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def write_process(url: str, boroughs: list[str], barrier, results) -> None:
    """A spawned process: one register shared by a thread per borough (as Streamlit does)."""
    register = register_at(url)  # not opened yet: the first writes create the schema
    # each round waits for every thread here, then for every process (a loaded machine can
    # leave a thread unscheduled past one barrier while another finishes its writes)
    start = threading.Barrier(len(boroughs), action=lambda: barrier.wait(timeout=120))
    done: list[WriterResult] = []
    threads = [
        threading.Thread(target=lambda c=c: done.append(write_borough(register, c, start)))
        for c in boroughs
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    register.close()
    results.put([vars(r) for r in done])


def run_writers(url: str, *, processes: int = PROCESSES, threads: int = THREADS) -> list[dict]:
    """32 writers (processes x threads) on *url*, all starting at once; their results."""
    # a spawned child re-runs the parent's __main__ (after AppTest an app page): give it none
    saved_main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        ctx = multiprocessing.get_context("spawn")
        barrier, results = ctx.Barrier(processes), ctx.Queue()
        groups = [BOROUGHS[i * threads : (i + 1) * threads] for i in range(processes)]
        procs = [ctx.Process(target=write_process, args=(url, g, barrier, results)) for g in groups]
        for p in procs:
            p.start()
        found: list[dict] = []
        for _ in procs:
            found += results.get(timeout=300)
        for p in procs:
            p.join(timeout=60)
        assert [p.exitcode for p in procs] == [0] * processes
        return found
    finally:
        sys.modules["__main__"] = saved_main


def test_32_boroughs_writing_at_once_lose_nothing(engine_url: str) -> None:
    results = run_writers(engine_url)
    assert len(results) == len(BOROUGHS) == 32
    assert [r["error"] for r in results if r["error"]] == []  # no error reached anyone
    register = register_at(engine_url)
    plans, overrides = register.list_plans(), register.overrides()
    history = register.priorities_history()
    assert len(plans) == 32 and plans["id"].is_unique
    assert len(overrides) == 32 * OVERRIDES_PER_WRITER and overrides["id"].is_unique
    assert len(history) == 32 * len(YEARS) and history["id"].is_unique
    for r in results:  # row by row, borough by borough
        code = r["borough"]
        planner, commander, leader = people(code)
        plan = plans.set_index("id").loc[r["plan_id"]]
        assert (plan["name"], plan["created_by"], plan["n_wards"]) == (
            f"{code} draft", planner.name, WARDS_PER_PLAN,
        )  # fmt: skip
        _meta, table = register.load_plan(r["plan_id"])
        pd.testing.assert_frame_equal(table, wards_of(code))
        mine = overrides[overrides["borough_code"] == code]
        assert mine["id"].tolist() == r["override_ids"]  # the ids each writer was given
        assert mine["reason"].tolist() == [f"{code} move {i}" for i in range(5)]
        assert set(mine["recorded_by"]) == {commander.name}
        assert set(mine["plan_id"]) == {r["plan_id"]}
        agreed = history[history["borough_code"] == code].sort_values("id")
        assert agreed["id"].tolist() == r["priorities_ids"]
        assert agreed["year"].tolist() == list(YEARS)
        assert set(agreed["recorded_by"]) == {leader.name}
        assert agreed["priorities"].tolist() == [["Burglary", f"Robbery {code}"]] * 2
    assert max(r["started"] for r in results) < min(r["finished"] for r in results)  # overlap
    assert _sql(engine_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    orphans = "SELECT COUNT(*) FROM plan_rows WHERE plan_id NOT IN (SELECT id FROM plans)"
    assert _sql(engine_url, orphans) == [(0,)]


# --- deadlocks ------------------------------------------------------------------------------


@pytest.mark.postgres
def test_a_deadlock_is_retried_and_never_shown(postgres_url: str) -> None:
    """Two writes taking two rows in opposite orders deadlock; the server aborts one (40P01),
    the register runs it again, and both callers see success."""
    register = register_at(postgres_url)
    first = register.save_plan("a", wards_of(BOROUGHS[0]), settings={}, manifest={})
    second = register.save_plan("b", wards_of(BOROUGHS[1]), settings={}, manifest={})
    both_hold_one = threading.Barrier(2)
    attempts: list[str] = []
    errors: queue.Queue[BaseException] = queue.Queue()

    def rename(order: tuple[int, int], label: str):
        def work(conn: sa.Connection) -> None:
            attempts.append(label)
            for k, plan in enumerate(order):
                conn.execute(
                    sa.update(schema.plans).where(schema.plans.c.id == plan).values(name=label)
                )
                if k == 0 and attempts.count(label) == 1:  # first attempt: meet, then cross
                    both_hold_one.wait(timeout=30)

        def run() -> None:
            try:
                register._write(f"renaming plans {label}", work)
            except BaseException as exc:
                errors.put(exc)

        return threading.Thread(target=run)

    threads = [rename((first, second), "x"), rename((second, first), "y")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors.empty(), errors.get()
    assert sorted(attempts) in (["x", "x", "y"], ["x", "y", "y"])  # one of them ran again
    names = set(register.list_plans()["name"])
    assert names in ({"x"}, {"y"})  # the one run again renamed both, last

    def refused(conn: sa.Connection) -> None:
        attempts.append("z")
        conn.execute(sa.insert(schema.plan_rows).values(plan_id=999, ward_code="W"))

    with pytest.raises(RegisterError, match=r"refused the record"):
        register._write("a refused write", refused)
    assert attempts.count("z") == 1  # not transient: not retried
    assert {"40P01", "40001"} == TRANSIENT_SQLSTATES


# --- migrations -------------------------------------------------------------------------------


def v1_metadata() -> sa.MetaData:
    """The register's tables at schema version 1, as released (planner/register/schema.py
    before version 2): frozen here, so the test builds what that release built."""
    meta = sa.MetaData()
    sa.Table(
        "schema_version", meta,
        sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("applied_at", schema.UTCDateTime, nullable=False),
    )  # fmt: skip
    sa.Table(
        "agreed_priorities", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("borough_code", sa.String(16), nullable=False, index=True),
        sa.Column("borough_name", sa.String(100), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
        sa.Column("priorities", sa.JSON, nullable=False),
        sa.Column("agreed_by", sa.Text, nullable=False),
        sa.Column("agreed_at", schema.UTCDateTime, nullable=False),
        sa.Column("notes", sa.Text, nullable=False, default=""),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("evidence", sa.JSON, nullable=True),
        sa.CheckConstraint("year BETWEEN 1990 AND 2200", name="ck_priorities_year"),
    )  # fmt: skip
    sa.Table(
        "plans", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("created_at", schema.UTCDateTime, nullable=False),
        sa.Column("created_by", sa.Text, nullable=False),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("manifest", sa.JSON, nullable=False),
    )  # fmt: skip
    sa.Table(
        "plan_rows", meta,
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
    )  # fmt: skip
    sa.Table(
        "overrides", meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("plan_id", sa.ForeignKey("plans.id"), nullable=True, index=True),
        sa.Column("borough_code", sa.String(16), nullable=False, index=True),
        sa.Column("from_ward", sa.String(16), nullable=False),
        sa.Column("to_ward", sa.String(16), nullable=False),
        sa.Column("officers", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("recorded_by", sa.Text, nullable=False),
        sa.Column("recorded_at", schema.UTCDateTime, nullable=False),
        sa.CheckConstraint("officers > 0", name="ck_overrides_officers"),
        sa.CheckConstraint("reason <> ''", name="ck_overrides_reason"),
        sa.CheckConstraint("from_ward <> to_ward", name="ck_overrides_wards"),
    )  # fmt: skip
    return meta


T0 = datetime(2025, 4, 1, 9, 30, 12, 345678, tzinfo=UTC)
V1_ROWS: dict[str, list[dict[str, Any]]] = {
    "plans": [
        {"id": 1, "name": "2025 plan", "created_at": T0, "created_by": "planner@met.police.uk",
         "settings": {"pool": 600, "method": "webster"}, "manifest": {"dataset": "met-2022"}},
    ],
    "plan_rows": [
        {"id": k + 1, "plan_id": 1, "ward_code": f"E0501000{k}", "borough_code": "E09000007",
         "baseline_dwo": 2, "baseline_pcso": 1, "extra": k, "total_dwo": 2 + k,
         "need_score": 0.25 * k}
        for k in range(3)
    ],
    "agreed_priorities": [
        {"id": 1, "borough_code": "E09000007", "borough_name": "Camden", "year": 2025,
         "priorities": ["Burglary", "Robbery"], "agreed_by": "Ch Supt A and Cllr B",
         "agreed_at": T0, "notes": "first", "recorded_by": "leader@camden.gov.uk",
         "evidence": ["Robbery is 2.1x the London rate"]},
        {"id": 2, "borough_code": "E09000012", "borough_name": "Hackney", "year": 2025,
         "priorities": ["Vehicle crime", "Theft from the person"], "agreed_by": "both",
         "agreed_at": T0 + timedelta(days=1), "notes": "", "recorded_by": "leader@hackney.gov.uk",
         "evidence": None},
    ],
    "overrides": [
        {"id": 1, "plan_id": 1, "borough_code": "E09000007", "from_ward": "E05010002",
         "to_ward": "E05010000", "officers": 1, "reason": "school", "recorded_at": T0,
         "recorded_by": "cmdr@met.police.uk"},
        {"id": 2, "plan_id": None, "borough_code": "E09000012", "from_ward": "E05009001",
         "to_ward": "E05009002", "officers": 2, "reason": "events",
         "recorded_at": T0 + timedelta(hours=2), "recorded_by": "cmdr2@met.police.uk"},
    ],
}  # fmt: skip


def build_v1(url: str) -> None:
    """A register as the version 1 release left it, with a row of every kind."""
    meta = v1_metadata()
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            meta.create_all(conn)
            conn.execute(sa.insert(meta.tables["schema_version"]), {"version": 1, "applied_at": T0})
            for name in ("plans", "plan_rows", "agreed_priorities", "overrides"):
                conn.execute(sa.insert(meta.tables[name]), V1_ROWS[name])
            if conn.dialect.name == "postgresql":  # explicit ids: move the sequences on
                for name in ("plans", "plan_rows", "agreed_priorities", "overrides"):
                    conn.exec_driver_sql(
                        f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), 10)"
                    )
    finally:
        engine.dispose()


def _shape(url: str) -> dict[str, Any]:
    """Tables, their columns (name, type, nullable), keys and indexes, as the engine has them."""
    engine = sa.create_engine(url)
    try:
        insp = sa.inspect(engine)
        return {
            t: {
                "columns": sorted(
                    (c["name"], str(c["type"]).split("(")[0], c["nullable"])
                    for c in insp.get_columns(t)
                ),
                "foreign_keys": sorted(
                    (tuple(f["constrained_columns"]), f["referred_table"])
                    for f in insp.get_foreign_keys(t)
                ),
                "primary_key": insp.get_pk_constraint(t)["constrained_columns"],
                "indexes": sorted(tuple(i["column_names"]) for i in insp.get_indexes(t)),
            }
            for t in sorted(insp.get_table_names())
        }
    finally:
        engine.dispose()


def test_a_version_1_register_upgrades_in_place(engine_url: str) -> None:
    build_v1(engine_url)
    register = register_at(engine_url)
    assert register.schema_version == SCHEMA_VERSION == 2
    versions = _sql(engine_url, "SELECT version FROM schema_version ORDER BY version")
    assert versions == [(1,), (2,)]
    history = register.priorities_history().sort_values("id")
    want = V1_ROWS["agreed_priorities"]
    for col in ("borough_code", "year", "priorities", "agreed_by", "notes", "recorded_by",
                "evidence"):  # fmt: skip
        assert history[col].tolist() == [r[col] for r in want], col
    assert history["agreed_at"].tolist() == [r["agreed_at"] for r in want]  # to the microsecond
    assert history["imported_by"].isna().all() and history["import_id"].isna().all()
    overrides = register.overrides()
    assert overrides[["id", "reason", "recorded_by", "officers"]].values.tolist() == [
        [r["id"], r["reason"], r["recorded_by"], r["officers"]] for r in V1_ROWS["overrides"]
    ]
    assert overrides["recorded_at"].tolist() == [r["recorded_at"] for r in V1_ROWS["overrides"]]
    assert overrides["plan_id"].tolist() == [1, pd.NA]
    meta, table = register.load_plan(1)
    assert (meta["name"], meta["created_by"], meta["created_at"]) == (
        "2025 plan",
        "planner@met.police.uk",
        T0,
    )
    assert meta["settings"] == {"pool": 600, "method": "webster"} and meta["import_id"] is None
    assert table["extra"].tolist() == [0, 1, 2] and table["need_score"].tolist() == [0, 0.25, 0.5]
    # the upgraded register takes new records, ids after the old ones
    assert register.record_override("E09000007", "E05010001", "E05010000", 1, "new") > 2
    assert register.save_plan("new", wards_of("E09000007"), settings={}, manifest={}) > 1


def test_an_upgraded_register_has_the_schema_of_a_new_one(new_url) -> None:
    upgraded, fresh = new_url(), new_url()
    build_v1(upgraded)
    register_at(upgraded).schema_version  # noqa: B018 - opening it upgrades it
    register_at(fresh).schema_version  # noqa: B018 - opening it creates it
    assert _shape(upgraded) == _shape(fresh)
    assert "import_id" in {c[0] for c in _shape(upgraded)["overrides"]["columns"]}


def test_a_failed_upgrade_leaves_version_1_as_it_was(engine_url: str, monkeypatch) -> None:
    build_v1(engine_url)
    before = _shape(engine_url)

    def upgrade_then_fail(conn) -> None:
        schema._v2_imports(conn)  # the real step runs, then the process fails
        raise sa.exc.OperationalError("ALTER", {}, Exception("server closed the connection"))

    monkeypatch.setitem(schema.MIGRATIONS, 2, upgrade_then_fail)
    with pytest.raises(RegisterError, match=r"opening the register: .*server closed"):
        register_at(engine_url).list_plans()
    assert _shape(engine_url) == before  # no imports table, no import_id: all rolled back
    assert _sql(engine_url, "SELECT version FROM schema_version") == [(1,)]
    monkeypatch.undo()
    assert register_at(engine_url).schema_version == 2


def test_a_version_1_backup_imports_into_version_2(engine_url: str, tmp_path: Path) -> None:
    def text(value: Any) -> Any:
        return value.isoformat() if isinstance(value, datetime) else value

    tables = {
        name: [{k: text(v) for k, v in r.items()} for r in rows] for name, rows in V1_ROWS.items()
    }
    backup = tmp_path / "v1.json"
    backup.write_text(json.dumps({
        "format": "planner-register-backup", "schema_version": 1,
        "exported_at": T0.isoformat(), "source": "sqlite:///old/register.sqlite",
        "tables": {"schema_version": [{"version": 1, "applied_at": T0.isoformat()}], **tables},
    }))  # fmt: skip
    register = register_at(engine_url)
    assert register.import_(backup) == {
        "plans": 1, "plan_rows": 3, "agreed_priorities": 2, "overrides": 2,
    }  # fmt: skip
    assert register.overrides()["recorded_by"].tolist() == [
        "cmdr@met.police.uk",
        "cmdr2@met.police.uk",
    ]
    made = register.imports()
    assert made["source_register"].tolist() == ["sqlite:///old/register.sqlite"]
    assert made["exported_at"].tolist() == [T0]


# --- backup and restore across engines --------------------------------------------------------


ACCESS = """sign_in = "header"
trusted_header = "X-Forwarded-Email"
default_role = "viewer"
allow_local_mode = false

[users."planning.team@met.police.uk"]
role = "planner"
name = "Planning Team"

[users."camden.commander@met.police.uk"]
role = "commander"
boroughs = ["Camden"]
name = "Ch Supt A. Example"

[users."leader@camden.gov.uk"]
role = "council_leader"
boroughs = ["Camden"]
"""
PLANNER_EMAIL = "planning.team@met.police.uk"


def fill_by_three_people(register: PlanRegister) -> None:
    """Every kind of record, by a planner, a commander and a council leader, at known times."""
    planner = User(f"Planning Team <{PLANNER_EMAIL}>", PLANNER)
    commander = User(
        "Ch Supt A. Example <camden.commander@met.police.uk>", COMMANDER, frozenset({"E09000007"})
    )
    leader = User("leader@camden.gov.uk", COUNCIL_LEADER, frozenset({"E09000007"}))
    table = wards_of("E09000007")
    table["need_score"] = [0.1 + 0.2, 1 / 3, *np.linspace(0, 1e-9, WARDS_PER_PLAN - 2)]
    plan = register.save_plan(
        "2026 draft — Camden «final»", table, user=planner,
        settings={"pool": 600, "weights": {"harm": 0.45, "trend": 0.1}, "nested": [1, [2, None]]},
        manifest={"files": {"wards.gpkg": "ab12"}, "note": "naïve “quotes”"},
    )  # fmt: skip
    wards = list(table.index)
    register.record_override(
        "E09000007",
        wards[0],
        wards[1],
        2,
        "Night-time economy\nline 2",
        user=commander,
        plan_id=plan,
    )
    register.record_override(
        "E09000007",
        wards[2],
        wards[3],
        1,
        "school run",
        user=commander,
        wards_in_borough=set(wards),
    )
    for year, at in ((2025, T0), (2026, T0 + timedelta(days=365, microseconds=1))):
        register.record_priorities(
            "E09000007", "Camden", year, ["Robbery", "Burglary"], user=leader, agreed_at=at,
            agreed_by="Ch Supt A. Example and Cllr B", notes=f"agreed {year} 'at' the \"panel\"",
            evidence=["Robbery: 4.5 times the London rate, down 9 %", {"harm share": 0.25}],
        )  # fmt: skip


def records_of(url: str) -> dict[str, list[dict[str, Any]]]:
    """Every record's columns (ids, authors, times) as a backup holds them, without imports."""
    tables = json.loads(Path(export_to(url)).read_text())["tables"]
    return {
        name: [{k: v for k, v in row.items() if k != "import_id"} for row in tables[name]]
        for name in ("plans", "plan_rows", "agreed_priorities", "overrides")
    }


def export_to(url: str) -> str:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="planner-export-")) / "b.json"
    register_at(url).export(path)
    return str(path)


@pytest.mark.postgres
def test_backup_round_trip_sqlite_postgres_sqlite(
    tmp_path: Path, postgres_url: str, monkeypatch, capsys
) -> None:
    folder = config_copy(tmp_path, access=ACCESS)
    source = f"sqlite:///{tmp_path / 'single-machine.sqlite'}"
    fill_by_three_people(register_at(source))
    want = records_of(source)

    def cli(url: str, *args: str) -> int:
        monkeypatch.setenv(ENV_URL, url)
        return main(["--config", str(folder), "register", *args])

    # SQLite -> PostgreSQL, with the command line, by a planner
    assert cli(source, "export", str(tmp_path / "from-sqlite.json")) == 0
    assert (
        cli(postgres_url, "import", str(tmp_path / "from-sqlite.json"), "--user", PLANNER_EMAIL)
        == 0
    )
    assert records_of(postgres_url) == want  # every row, author and time
    on_postgres = register_at(postgres_url)
    for frame in (
        on_postgres.list_plans(),
        on_postgres.overrides(),
        on_postgres.priorities_history(),
    ):
        assert set(frame["imported_by"]) == {f"Planning Team <{PLANNER_EMAIL}>"}
    live = register_at(source)
    pd.testing.assert_frame_equal(on_postgres.load_plan(1)[1], live.load_plan(1)[1])
    assert on_postgres.load_plan(1)[0]["settings"] == live.load_plan(1)[0]["settings"]
    # ... and back to a new SQLite file
    back = f"sqlite:///{tmp_path / 'restored.sqlite'}"
    assert cli(postgres_url, "export", str(tmp_path / "from-postgres.json")) == 0
    assert cli(back, "import", str(tmp_path / "from-postgres.json"), "--user", PLANNER_EMAIL) == 0
    assert records_of(back) == want
    imports = register_at(back).imports()  # both imports are on record, newest first
    assert imports["source_file"].tolist() == ["from-postgres.json", "from-sqlite.json"]
    assert imports["source_register"].iloc[0] == on_postgres.url  # the password hidden
    assert "***" in on_postgres.url
    assert sa.make_url(postgres_url).password not in (tmp_path / "from-postgres.json").read_text()
    capsys.readouterr()
    assert cli(back, "history") == 0 and "Planning Team" in capsys.readouterr().out


# --- a server that refuses, a writer killed -------------------------------------------------


@pytest.mark.postgres
def test_server_failures_name_the_url_and_the_fix(postgres) -> None:
    secret = "not-the-password-4242"
    with pytest.raises(
        RegisterError,
        match=r"planner:\*\*\*@127\.0\.0\.1:\d+/postgres cannot be used .*password authentication "
        r"failed.*check the user name and password in \$PLANNER_DB_URL",
    ) as info:
        register_at(postgres.url("postgres", password=secret)).list_plans()
    assert secret not in str(info.value)
    with pytest.raises(RegisterError, match=r"create it \(createdb -O planner no_such_db\)"):
        register_at(postgres.url("no_such_db")).list_plans()
    closed = postgres.url("postgres").replace(f":{postgres.port}/", ":1/")
    with pytest.raises(
        RegisterError, match=r"check that the server is running and reachable at 127\.0\.0\.1:1"
    ):
        register_at(closed).list_plans()


@pytest.mark.postgres
def test_killing_a_writer_mid_save_on_postgres(postgres_url: str) -> None:
    from tests.test_reliability import WARDS_PER_PLAN as WARDS
    from tests.test_reliability import kill_mid_save

    rng = random.Random(20260515)
    reported: dict[int, int] = {}
    killed = []
    for round_ in range(2):
        saved, saving = kill_mid_save(postgres_url, 1000 * round_, rng)
        reported |= saved
        killed.append(saving)
    register = register_at(postgres_url)
    for i, plan_id in reported.items():
        meta, table = register.load_plan(plan_id)
        assert meta["name"] == f"plan {i}" and len(table) == WARDS
    plans = register.list_plans()
    assert (plans["n_wards"] == WARDS).all()  # the plan being saved: all of it or nothing
    assert set(plans["name"]) - {f"plan {i}" for i in reported} <= {f"plan {i}" for i in killed}
    orphans = "SELECT COUNT(*) FROM plan_rows WHERE plan_id NOT IN (SELECT id FROM plans)"
    assert _sql(postgres_url, orphans) == [(0,)]
    assert register.save_plan("after", wards_of("E09000007"), settings={}, manifest={}) > max(
        reported.values()
    )
