"""The plan register: a real SQLite database in tmp_path, and the same tests on PostgreSQL.

Tests taking the ``register`` (or ``engine_url``) fixture run twice: on an SQLite file and,
marked ``postgres``, on a new database of the throwaway PostgreSQL server of
tests/conftest.py. Tests of what only SQLite has (the file, WAL, locks, damaged pages)
take ``sqlite_register``.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import sqlite3
import sys
import time
import types
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from planner.config import PlannerConfig, StoreSettings, load_config
from planner.errors import ConfigError, PlannerError
from planner.register import plans as saved_plans
from planner.register import records, schema
from planner.register.access import LOCAL_PLANNER
from planner.register.database import DEFAULT_URL, ENV_URL
from planner.register.store import (
    SCHEMA_VERSION,
    InvalidRecordError,
    PlanRegister,
    RegisterError,
    UnknownPlanError,
    register_url,
)
from tests.factories import config_copy, register_at

CAMDEN, HACKNEY = "E09000007", "E09000012"


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "register" / "plans.sqlite"


@pytest.fixture
def sqlite_register(db_path: Path) -> PlanRegister:
    reg = register_at(f"sqlite:///{db_path}")
    yield reg
    reg.close()


@pytest.fixture
def register(engine_url: str) -> PlanRegister:
    """A new register on SQLite and (marked postgres) on PostgreSQL."""
    reg = register_at(engine_url)
    yield reg
    reg.close()


def _count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(f"SELECT COUNT(*) FROM {table}").scalar())
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _execute(url: str, *statements: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.exec_driver_sql(statement)
    finally:
        engine.dispose()


def _allocation(n: int = 4, *, borough: str = CAMDEN) -> pd.DataFrame:
    wards = pd.Index([f"E0501{i:04d}" for i in range(n)], name="ward_code")
    extra = np.arange(n, dtype=np.int64)
    return pd.DataFrame(
        {
            "borough_code": borough,
            "baseline_dwo": np.full(n, 2, np.int64),
            "baseline_pcso": np.full(n, 1, np.int64),
            "extra": extra,
            "total_dwo": 2 + extra,
            "need_score": np.linspace(0.1, 0.9, n),
        },
        index=wards,
    )


NAMES = {CAMDEN: "Camden", HACKNEY: "Hackney"}


def _agree(reg: PlanRegister, borough: str = CAMDEN, year: int = 2026, **kw) -> int:
    kw.setdefault("agreed_by", "Borough Commander and Council Leader")
    priorities = kw.pop("priorities", ["Burglary", "Robbery"])
    name = kw.pop("name", NAMES.get(borough, "Camden"))
    return reg.record_priorities(borough, name, year, priorities, **kw)


# --- creation, configuration, schema ----------------------------------------------------


def test_created_on_first_use_with_schema_version(db_path: Path) -> None:
    reg = register_at(f"sqlite:///{db_path}")
    assert not db_path.exists()  # making the object touches nothing
    assert reg.list_plans().empty
    assert db_path.is_file()
    assert reg.schema_version == SCHEMA_VERSION == 2
    with sqlite3.connect(db_path) as conn:
        versions = conn.execute("SELECT version FROM schema_version").fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert versions == [(2,)]  # a new register is made at the current version at once
    assert mode == "wal"


@pytest.mark.postgres
def test_created_on_first_use_on_postgres(postgres_url: str) -> None:
    reg = register_at(postgres_url)
    assert _tables(postgres_url) == set()  # making the object touches nothing
    assert reg.list_plans().empty
    assert _tables(postgres_url) == {t.name for t in schema.metadata.sorted_tables}
    assert reg.schema_version == SCHEMA_VERSION
    assert reg.path is None
    password = sa.make_url(postgres_url).password
    assert "planner:***@" in reg.url and password not in reg.url and password not in repr(reg)


def test_url_precedence_config_env_argument(
    tmp_path: Path, monkeypatch, config: PlannerConfig
) -> None:
    monkeypatch.chdir(tmp_path)
    shipped = config.store
    assert shipped.url == DEFAULT_URL
    reg = PlanRegister(shipped)
    assert reg.path == tmp_path / ".planner" / "register.sqlite"  # relative to the cwd
    assert PlanRegister.from_config(config).path == reg.path
    assert register_url(shipped) == DEFAULT_URL
    env = f"sqlite:///{tmp_path / 'env.sqlite'}"
    monkeypatch.setenv(ENV_URL, env)
    assert register_url(shipped) == env
    assert PlanRegister(shipped).path == tmp_path / "env.sqlite"
    assert PlanRegister.from_config(config).path == tmp_path / "env.sqlite"
    arg = f"sqlite:///{tmp_path / 'arg.sqlite'}"
    assert register_url(shipped, arg) == arg
    explicit = PlanRegister(shipped, url=arg)
    assert explicit.path == tmp_path / "arg.sqlite"
    assert PlanRegister.from_config(config, url=arg).path == tmp_path / "arg.sqlite"


STORE_TOML = 'url = "sqlite:///.planner/register.sqlite"\nbusy_timeout_s = 30.0\n'
"""config/store.toml as shipped, without its comments (test data)."""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (
            STORE_TOML + "timeout = 3\n",
            r": unknown key 'timeout' \(did you mean 'busy_timeout_s'\?\); correct its spelling "
            r"or remove it \(keys allowed here: busy_timeout_s, url\)",
        ),
        (STORE_TOML.replace(DEFAULT_URL, ""), r": url should be a database URL"),
        (
            STORE_TOML.replace("30.0", "-1"),
            r": busy_timeout_s should be seconds >= 0, found -1",
        ),
        (
            STORE_TOML.replace("busy_timeout_s = 30.0\n", ""),
            r": missing key 'busy_timeout_s' \(a number\); add `busy_timeout_s = \.\.\.`",
        ),
    ],
    ids=["unknown-key", "empty-url", "negative-timeout", "no-timeout"],
)
def test_bad_store_config(tmp_path: Path, text: str, match: str) -> None:
    folder = config_copy(tmp_path, store=text)
    with pytest.raises(ConfigError, match=r"1 problem\(s\) in the configuration") as info:
        load_config(folder)
    assert re.search(re.escape(str(folder / "store.toml")) + match, str(info.value))


def test_bad_store_url(tmp_path: Path) -> None:
    """A URL SQLAlchemy cannot parse is refused when the configuration is loaded."""
    cdir = config_copy(tmp_path, store=STORE_TOML.replace(DEFAULT_URL, "no such url"))
    with pytest.raises(ConfigError, match=r"store\.toml: url 'no such url' is not a database URL"):
        load_config(cdir)
    with pytest.raises(ConfigError, match=r"is not a database URL"):
        PlanRegister(StoreSettings(url=DEFAULT_URL, busy_timeout_s=1.0), url="no such url")
    with pytest.raises(ConfigError, match=r"busy_timeout_s should be seconds >= 0"):
        StoreSettings(url=DEFAULT_URL, busy_timeout_s=-1.0)  # settings check themselves


def test_a_bad_url_never_shows_its_password(tmp_path: Path) -> None:
    text = 'url = "postgresql+psycopg://planner:hunter2@db:notaport/x"\nbusy_timeout_s = 1\n'
    with pytest.raises(ConfigError, match=r"planner:\*\*\*@db") as info:
        load_config(config_copy(tmp_path, store=text))
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match=r"is not a database URL") as info:
        register_at("postgresql+psycopg://planner:hunter2@db:notaport/x")
    assert "hunter2" not in str(info.value)


def test_failed_creation_leaves_no_tables(engine_url: str, monkeypatch) -> None:
    def create_then_fail(conn) -> None:
        schema.metadata.create_all(conn)
        raise sa.exc.OperationalError("CREATE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(schema, "create", create_then_fail)
    with pytest.raises(RegisterError, match=r"opening the register: .*disk I/O error"):
        register_at(engine_url).list_plans()
    assert _tables(engine_url) == set()  # the tables made before the failure are gone
    monkeypatch.undo()
    assert register_at(engine_url).schema_version == SCHEMA_VERSION  # the next open succeeds


def test_in_memory_register() -> None:
    reg = register_at("sqlite://")
    assert reg.path is None
    _agree(reg)
    assert len(reg.priorities_history()) == 1


def test_newer_schema_is_refused(register: PlanRegister, engine_url: str) -> None:
    _agree(register)
    _execute(engine_url, "INSERT INTO schema_version VALUES (99, '2030-01-01 00:00:00')")
    with pytest.raises(
        RegisterError,
        match=rf"has schema version 99, newer than this planner understands \({SCHEMA_VERSION}\); "
        r"upgrade the planner",
    ):
        register_at(engine_url).list_plans()
    assert _count(engine_url, "agreed_priorities") == 1  # untouched


def test_foreign_database_is_refused_and_untouched(engine_url: str) -> None:
    _execute(engine_url, "CREATE TABLE customers (name TEXT)")
    with pytest.raises(RegisterError, match=r"is a database but not a plan register"):
        register_at(engine_url).list_plans()
    assert _tables(engine_url) == {"customers"}


# --- agreed priorities ------------------------------------------------------------------


def test_priorities_history_survives_reopening(register: PlanRegister, engine_url: str) -> None:
    first = _agree(register, notes="first draft", evidence=["Burglary up 12% on last year"])
    _agree(register, HACKNEY, priorities=["Violence with injury", "Theft from the person"])
    later = _agree(register, priorities=["Robbery", "Vehicle crime", "ASB"], recorded_by="ana")
    register.close()

    reopened = register_at(engine_url)
    history = reopened.priorities_history()
    assert list(history["id"]) == [later, 2, first]  # newest first
    assert str(history["agreed_at"].dt.tz) == "UTC"
    camden = reopened.priorities_history(CAMDEN)
    assert list(camden["id"]) == [later, first]
    row = camden.iloc[1]
    assert row["priorities"] == ["Burglary", "Robbery"]
    assert row["evidence"] == ["Burglary up 12% on last year"]
    assert (row["notes"], row["recorded_by"]) == ("first draft", LOCAL_PLANNER.name)
    assert row["imported_by"] is None  # made here, not imported

    latest = reopened.agreed_priorities(CAMDEN, 2026)
    assert latest["id"] == later
    assert latest["priorities"] == ["Robbery", "Vehicle crime", "ASB"]
    assert latest["agreed_at"].tzinfo is UTC
    assert reopened.agreed_priorities(CAMDEN, 2025) is None


SQL_TEXT = "x'); DROP TABLE plans; --"


def test_typed_text_is_stored_as_text_never_run_as_sql(register: PlanRegister) -> None:
    """Bound parameters only: text shaped like SQL is a value like any other."""
    plan = register.save_plan(SQL_TEXT, _allocation(), settings={}, manifest={}, created_by="p")
    _agree(register, notes=SQL_TEXT, agreed_by=f"O'Brien {SQL_TEXT}")
    assert register.load_plan(plan)[0]["name"] == SQL_TEXT
    row = register.agreed_priorities(CAMDEN, 2026)
    assert (row["notes"], row["agreed_by"]) == (SQL_TEXT, f"O'Brien {SQL_TEXT}")
    assert register.list_plans()["name"].tolist() == [SQL_TEXT]  # the table is still there


def test_previous_year_for_the_annual_review(register: PlanRegister) -> None:
    agreed = datetime(2025, 4, 1, 9, 30, tzinfo=UTC)
    _agree(register, year=2025, agreed_at=agreed, priorities=["Burglary", "ASB"])
    _agree(register, year=2026)
    last = register.previous_year(CAMDEN, 2026)
    assert (last["year"], last["priorities"], last["agreed_at"]) == (
        2025,
        ["Burglary", "ASB"],
        agreed,
    )
    assert register.previous_year(CAMDEN, 2025) is None
    assert register.previous_year(HACKNEY, 2026) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"priorities": ["Burglary"]}, r"at least two distinct priorities"),
        ({"priorities": ["Burglary", "burglary "]}, r"priorities repeat"),
        ({"priorities": "Burglary, Robbery"}, r"should be a list of two or more"),
        ({"agreed_by": "  "}, r"agreed_by is required"),
        ({"year": 26}, r"year should be a plan year such as 2026, found 26"),
        ({"agreed_at": datetime(2026, 1, 1)}, r"agreed_at should be a timezone-aware"),
        ({"evidence": [object()]}, r"evidence cannot be stored as JSON"),
        ({"name": "Hackney"}, r"borough_name 'Hackney' is not the name of E09000007 \('Camden'\)"),
        ({"agreed_by": "a\x00b"}, r"agreed_by contains a NUL character"),
        ({"agreed_by": "Ana\nSigned: Commissioner"}, r"agreed_by .* contains control characters"),
        ({"notes": "x\x00"}, r"notes contains a NUL character"),
    ],
    ids=[
        "one",
        "repeated",
        "string",
        "no-agreed-by",
        "two-digit-year",
        "naive-time",
        "evidence",
        "name-of-another-borough",
        "nul-in-name",
        "line-break-in-name",
        "nul-in-notes",
    ],
)
def test_invalid_priorities_write_nothing(register: PlanRegister, kwargs: dict, match: str) -> None:
    with pytest.raises(InvalidRecordError, match=match):
        _agree(register, **kwargs)
    assert register.priorities_history().empty


ALIASES = {"City of Westminster": "Westminster"}


def test_unknown_borough_code_and_long_codes_are_refused(
    register: PlanRegister, engine_url
) -> None:
    with pytest.raises(InvalidRecordError, match=r"borough_code 'E09000099' is not a borough"):
        _agree(register, "E09000099", name="Nowhere")
    with pytest.raises(InvalidRecordError, match=r"longer than 16 characters"):
        register.record_override(CAMDEN, "E05" + "0" * 20, "E05000001", 1, "why")
    with pytest.raises(InvalidRecordError, match=r"E09000099' is not a borough"):
        register.record_override("E09000099", "E05000000", "E05000001", 1, "why")
    with pytest.raises(InvalidRecordError, match=r"officers should be a whole number up to"):
        register.record_override(CAMDEN, "E05000000", "E05000001", 2**31, "why")
    assert register.priorities_history().empty and register.overrides().empty
    aliases = register_at(engine_url, borough_aliases=ALIASES)
    _agree(aliases, "E09000033", name="City of Westminster")  # an alias of Westminster
    _agree(aliases, "E09000033", name=" westminster ")  # case and spacing aside
    with pytest.raises(InvalidRecordError, match=r"is not the name of E09000033"):
        _agree(register, "E09000033", name="City of Westminster")  # no aliases given


def test_every_problem_is_listed_at_once(register: PlanRegister) -> None:
    with pytest.raises(InvalidRecordError, match=r"3 problem\(s\).*borough_code.*year.*agreed_by"):
        register.record_priorities("", "Camden", 1066, ["A", "B"], agreed_by="")


# --- overrides --------------------------------------------------------------------------


def test_override_recorded_and_filtered(register: PlanRegister) -> None:
    plan = register.save_plan("scenario", _allocation(), settings={}, manifest={}, created_by="p")
    wards = set(_allocation().index)
    first = register.record_override(
        CAMDEN,
        "E05010000",
        "E05010003",
        np.int64(2),
        "  Violence spike after the station closure  ",
        recorded_by="Ch Supt Smith",
        plan_id=plan,
        wards_in_borough=wards,
    )
    register.record_override(HACKNEY, "E05009001", "E05009002", 1, "Events", recorded_by="x")
    table = register.overrides()
    assert len(table) == 2 and table["id"].iloc[0] == first
    mine = register.overrides(plan_id=plan)
    assert mine["reason"].tolist() == ["Violence spike after the station closure"]
    assert mine["officers"].tolist() == [2]
    assert register.overrides(borough_code=HACKNEY)["plan_id"].isna().all()


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (("W1", "W2", 1, ""), {}, r"reason is required and was empty; say why"),
        (("W1", "W2", 1, "   "), {}, r"reason is required"),
        (("W1", "W2", 0, "busy"), {}, r"officers should be a whole number above 0, found 0"),
        (("W1", "W2", -3, "busy"), {}, r"officers should be a whole number above 0, found -3"),
        (("W1", "W2", 1.5, "busy"), {}, r"officers should be a whole number above 0, found 1.5"),
        (("W1", "W2", True, "busy"), {}, r"officers should be a whole number"),
        (("W1", "W1", 1, "busy"), {}, r"from_ward and to_ward are both 'W1'"),
        (
            ("W1", "W9", 1, "busy"),
            {"wards_in_borough": {"W1", "W2"}},
            r"to_ward 'W9' is not a ward of borough 'E09000007'",
        ),
        (("W1", "W2", 1, "busy"), {"plan_id": 42}, r"plan_id 42 is not a saved plan"),
        (("W1", "W2", 1, "busy"), {"plan_id": 0}, r"plan_id 0 is not a saved plan"),
        (("W1", "W2", 1, "busy"), {"plan_id": "7"}, r"plan_id should be a saved plan's id"),
        (("W1", "W2", 1, "busy"), {"recorded_by": ""}, r"recorded_by is required"),
    ],
    ids=[
        "empty-reason",
        "blank-reason",
        "zero",
        "negative",
        "fraction",
        "bool",
        "same-ward",
        "outside-borough",
        "unknown-plan",
        "plan-zero",
        "plan-text",
        "no-author",
    ],
)
def test_override_validation(register: PlanRegister, args: tuple, kwargs: dict, match: str) -> None:
    kwargs = {"recorded_by": "Ch Supt Smith", **kwargs}
    with pytest.raises(InvalidRecordError, match=match):
        register.record_override(CAMDEN, *args, **kwargs)
    assert register.overrides().empty


# --- saved plans ------------------------------------------------------------------------


def test_save_and_load_plan_round_trip(register: PlanRegister) -> None:
    allocation = _allocation(6)
    allocation.loc["E05010002", "need_score"] = np.nan  # a ward without a score
    allocation["quota"] = 1.5  # derived columns are not stored
    settings = {"method": "webster", "pool": np.int64(15), "weights": (0.5, 0.5)}
    manifest = {"files": {"wards.gpkg": "ab12"}, "run_at": datetime(2026, 3, 1, tzinfo=UTC)}
    plan_id = register.save_plan(
        "Pool 15", allocation, settings=settings, manifest=manifest, created_by="p"
    )

    meta, loaded = register.load_plan(plan_id)
    pd.testing.assert_frame_equal(loaded, allocation.drop(columns="quota"))
    assert meta["name"] == "Pool 15" and meta["created_by"] == "p"
    assert meta["settings"] == {"method": "webster", "pool": 15, "weights": [0.5, 0.5]}
    assert meta["manifest"]["run_at"] == "2026-03-01T00:00:00+00:00"
    assert meta["created_at"].tzinfo is UTC

    second = register.save_plan(
        "ward codes as a column", allocation.reset_index(), settings={}, manifest={}, created_by="q"
    )
    assert register.latest_plan() == second
    plans = register.list_plans()
    assert plans["id"].tolist() == [second, plan_id]
    assert plans[["n_wards", "extra"]].iloc[1].tolist() == [6, allocation["extra"].sum()]


def test_unknown_plan_and_empty_register(register: PlanRegister) -> None:
    assert register.latest_plan() is None
    with pytest.raises(UnknownPlanError, match=r"no saved plan with id 7"):
        register.load_plan(7)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (
            lambda a: a.rename(index={"E05010001": np.nan}),
            r"1 allocation row\(s\) have no ward_code",
        ),
        (lambda a: a.rename(index={"E05010001": "E05010000"}), r"ward_code repeated: E05010000"),
        (lambda a: a.drop(columns="total_dwo"), r"allocation lacks column\(s\) total_dwo"),
        (lambda a: a.assign(extra=[0, 1.5, 2, 3]), r"extra should be whole numbers >= 0; rows 2"),
        (lambda a: a.iloc[:0], r"allocation has no rows"),
    ],
    ids=["nan-ward", "repeated-ward", "missing-column", "fractional-extra", "empty"],
)
def test_invalid_plan_saves_nothing(register: PlanRegister, engine_url: str, change, match) -> None:
    with pytest.raises(InvalidRecordError, match=match):
        register.save_plan("bad", change(_allocation()), settings={}, manifest={}, created_by="p")
    assert register.list_plans().empty
    assert _count(engine_url, "plan_rows") == 0


def test_failure_after_parent_insert_rolls_back(
    register: PlanRegister, engine_url: str, monkeypatch
):
    kept = register.save_plan("kept", _allocation(), settings={}, manifest={}, created_by="p")
    before = None, _count(engine_url, "plans"), _count(engine_url, "plan_rows")

    def insert_then_fail(conn, plan_id, rows):
        original(conn, plan_id, rows[:2])  # half the children are written ...
        raise RuntimeError("disk pulled out")  # ... then the process fails

    original = saved_plans._insert_plan_rows
    monkeypatch.setattr(saved_plans, "_insert_plan_rows", insert_then_fail)
    with pytest.raises(RuntimeError, match="disk pulled out"):
        register.save_plan("lost", _allocation(), settings={}, manifest={}, created_by="p")
    assert (_count(engine_url, "plans"), _count(engine_url, "plan_rows")) == before[1:]
    assert register.latest_plan() == kept


def test_database_refusal_midway_rolls_back(register: PlanRegister, engine_url: str, monkeypatch):
    """Validation bypassed: the NOT NULL ward_code refuses a child row after the parent."""

    def unvalidated(allocation, problems):
        rows = [
            dict(zip(schema.PLAN_ROW_COLUMNS, r, strict=True))
            for r in [
                ("E05010000", CAMDEN, 2, 1, 0, 2, 0.1),
                (None, CAMDEN, 2, 1, 1, 3, 0.2),
            ]
        ]
        return rows

    monkeypatch.setattr(records, "allocation_rows", unvalidated)
    with pytest.raises(RegisterError, match=r"(?i)refused the record .*not[ -]null"):
        register.save_plan("nan ward", _allocation(), settings={}, manifest={}, created_by="p")
    assert (_count(engine_url, "plans"), _count(engine_url, "plan_rows")) == (0, 0)


# --- concurrency and damaged files ------------------------------------------------------


NAMES_BY_CODE = {"E09000002": "Barking and Dagenham", "E09000003": "Barnet"}


def _write_priorities(url: str, worker: int, n: int, barrier) -> None:
    """Spawned worker: *n* agreements, each its own transaction, a breath apart."""
    reg = register_at(url)
    reg.list_plans()  # open (and maybe create) the register before the race starts
    barrier.wait(timeout=60)
    for i in range(n):
        reg.record_priorities(
            f"E09{worker + 1:06d}",  # two real boroughs: Barking and Dagenham, Barnet
            NAMES_BY_CODE[f"E09{worker + 1:06d}"],
            2026,
            ["Burglary", f"Item {i}"],
            agreed_by=f"worker {worker}",
            recorded_by=f"process {worker}",
        )
        time.sleep(0.002)  # let the other writer in: the writes interleave
    reg.close()


def test_two_processes_writing_lose_nothing(db_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{db_path}"
    # a spawned child re-runs the parent's __main__; after AppTest that is an app page, which
    # only runs under Streamlit: give the children a main module with nothing to re-run
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [ctx.Process(target=_write_priorities, args=(url, w, 50, barrier)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    history = register_at(url).priorities_history()
    assert len(history) == 100 and history["id"].is_unique
    spans = history.groupby("borough_code")["agreed_at"].agg(["min", "max", "size"])
    assert spans["size"].tolist() == [50, 50]
    assert spans["min"].max() < spans["max"].min()  # the two writers really overlapped
    items = history.loc[history["borough_code"] == "E09000002", "priorities"].str[1]
    assert sorted(items) == sorted(f"Item {i}" for i in range(50))


def test_damaged_file_raises_and_is_left_alone(tmp_path: Path) -> None:  # SQLite
    path = tmp_path / "register.sqlite"
    garbage = bytes(range(256)) * 16
    path.write_bytes(garbage)
    reg = register_at(f"sqlite:///{path}")
    with pytest.raises(RegisterError, match=r"register\.sqlite is damaged .*restore your latest"):
        reg.priorities_history()
    with pytest.raises(PlannerError, match=r"not an SQLite database"):  # still, on every call
        _agree(reg)
    assert path.read_bytes() == garbage


def test_locked_file_raises_after_the_busy_timeout(db_path: Path) -> None:  # SQLite
    reg = register_at(f"sqlite:///{db_path}", busy_timeout_s=0.2)
    _agree(reg)
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        with pytest.raises(
            RegisterError, match=r"plans\.sqlite is locked by another process \(waited 0\.2 s\)"
        ):
            _agree(reg, year=2027)
        assert len(reg.priorities_history()) == 1  # readers are not blocked (WAL)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _agree(reg, year=2027)
    assert len(reg.priorities_history()) == 2


# --- backup -----------------------------------------------------------------------------


def _fill(reg: PlanRegister) -> int:
    _agree(reg, evidence={"sentences": ["Robbery is 2.1x the London rate"]})
    _agree(reg, year=2027, agreed_at=datetime.now(UTC) + timedelta(days=1))
    plan = reg.save_plan("base", _allocation(), settings={"pool": 6}, manifest={}, created_by="p")
    reg.record_override(
        CAMDEN, "E05010000", "E05010001", 1, "School", recorded_by="c", plan_id=plan
    )
    return plan


IMPORT_COLUMNS = ["import_id", "imported_by"]


def test_export_import_round_trip(register: PlanRegister, tmp_path: Path, new_url) -> None:
    plan = _fill(register)
    backup = register.export(tmp_path / "backups" / "register.json")
    data = json.loads(backup.read_text(encoding="utf-8"))
    assert data["format"] == "planner-register-backup" and data["schema_version"] == 2
    assert {k: len(v) for k, v in data["tables"].items()} == {
        "schema_version": 1,
        "imports": 0,
        "plans": 1,
        "plan_rows": 4,
        "agreed_priorities": 2,
        "overrides": 1,
    }

    restored = register_at(new_url())
    counts = restored.import_(backup)
    assert counts == {"plans": 1, "plan_rows": 4, "agreed_priorities": 2, "overrides": 1}
    for got, want in [
        (restored.priorities_history(), register.priorities_history()),
        (restored.overrides(), register.overrides()),
        (restored.list_plans(), register.list_plans()),
    ]:
        assert (got["imported_by"] == LOCAL_PLANNER.name).all()  # beside the author
        assert want["imported_by"].isna().all()
        pd.testing.assert_frame_equal(
            got.drop(columns=IMPORT_COLUMNS, errors="ignore"),
            want.drop(columns=IMPORT_COLUMNS, errors="ignore"),
        )
    got_meta, want_meta = restored.load_plan(plan)[0], register.load_plan(plan)[0]
    assert got_meta.pop("import_id") == 1 and want_meta.pop("import_id") is None
    assert got_meta == want_meta
    pd.testing.assert_frame_equal(restored.load_plan(plan)[1], register.load_plan(plan)[1])
    assert _agree(restored, year=2030) == 3  # ids continue after the imported ones
    made = restored.imports()
    assert made[["id", "imported_by", "source_file"]].values.tolist() == [
        [1, LOCAL_PLANNER.name, "register.json"]
    ]
    assert made["row_counts"].iloc[0] == counts
    assert made["source_register"].iloc[0] == register.url  # password hidden


def test_import_refuses_a_register_with_records(register: PlanRegister, tmp_path: Path) -> None:
    _fill(register)
    backup = register.export(tmp_path / "b.json")
    _agree(register, year=2031)
    with pytest.raises(RegisterError, match=r"already holds records .*replace=True"):
        register.import_(backup)
    assert len(register.priorities_history()) == 3
    register.import_(backup, replace=True)
    assert len(register.priorities_history()) == 2


def test_bad_backup_changes_nothing(register: PlanRegister, tmp_path: Path) -> None:
    _fill(register)
    backup = register.export(tmp_path / "b.json")
    data = json.loads(backup.read_text(encoding="utf-8"))
    data["tables"]["plan_rows"][0]["plan_id"] = 999  # a row whose plan is missing
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(RegisterError, match=r"broken\.json: .*plan_id 999 is not a plan"):
        register.import_(broken, replace=True)
    assert len(register.priorities_history()) == 2 and len(register.overrides()) == 1
    not_backup = tmp_path / "other.json"
    not_backup.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(RegisterError, match=r"other\.json is not a plan register backup"):
        register.import_(not_backup)
