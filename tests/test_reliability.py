"""The plan register under faults: killed writers, damaged and locked files, a full disk, backups.

test_store.py covers a garbage file, a lock held past the busy timeout and a failure midway
through a save; these tests add a process killed (SIGKILL) while saving, files damaged in
the ways disks and copies damage them, a disk that fills up mid-save, a lock that is
released in time, and backups made and restored with the command line (those on SQLite and,
marked ``postgres``, on PostgreSQL; tests/test_postgres.py kills a writer on PostgreSQL).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from planner.cli import main
from planner.config import PlannerConfig
from planner.register.access import PLANNER, User
from planner.register.database import ENV_URL
from planner.register.store import PlanRegister, RegisterError, RegisterReadOnly
from tests.factories import REPO, register_at

CAMDEN = "E09000007"
PLANNER_USER = User("planner@met.police.uk", PLANNER)


@pytest.fixture(autouse=True)
def _no_env_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_URL, raising=False)


def _allocation(n: int, extra: int) -> pd.DataFrame:
    wards = pd.Index([f"E05{i:06d}" for i in range(n)], name="ward_code")
    return pd.DataFrame(
        {
            "borough_code": CAMDEN,
            "baseline_dwo": np.full(n, 2, np.int64),
            "baseline_pcso": np.full(n, 1, np.int64),
            "extra": np.full(n, extra, np.int64),
            "total_dwo": np.full(n, 2 + extra, np.int64),
        },
        index=wards,
    )


def _sql(path: Path, query: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(query).fetchall()


# --- a writer killed in the middle of a save -----------------------------------------------

WARDS_PER_PLAN = 4000  # a save inserts 4,000 rows: tens of milliseconds to kill it in
WRITER = r"""
import sys
import numpy as np, pandas as pd
from planner.register import plans
from tests.factories import register_at

def announced(conn, plan_id, rows, _insert=plans._insert_plan_rows):
    print("inserting", plan_id, flush=True)  # inside the save's transaction
    _insert(conn, plan_id, rows)

plans._insert_plan_rows = announced
url, start, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
reg = register_at(url)  # the shipped store settings
wards = pd.Index([f"E05{i:06d}" for i in range(n)], name="ward_code")
i = start
while True:
    extra = np.full(n, i % 7, np.int64)
    table = pd.DataFrame({"borough_code": "E09000007", "baseline_dwo": 2, "baseline_pcso": 1,
                          "extra": extra, "total_dwo": 2 + extra}, index=wards)
    print("saving", i, flush=True)
    plan = reg.save_plan(f"plan {i}", table, settings={"i": i}, manifest={"by": "writer"})
    print("saved", i, plan, flush=True)
    i += 1
"""


def kill_mid_save(
    url: str, start: int, rng: random.Random, *, max_delay_s: float = 0.005
) -> tuple[dict[int, int], int]:
    """Run the writer until it has saved a few plans; SIGKILL it inside the next save's
    transaction (at most *max_delay_s* after it starts inserting the plan's rows).

    Returns the plans it reported saved ({i: plan id}) and the i it was saving when killed.
    """
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, str(start), str(WARDS_PER_PLAN)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,  # the writer imports tests.factories
    )
    saved: dict[int, int] = {}
    saving, wanted = -1, rng.randint(1, 3)
    try:
        for line in proc.stdout:
            word, number, *rest = line.split()
            if word == "saving":
                saving = int(number)
            elif word == "saved":
                saved[int(number)] = int(rest[0])
            elif len(saved) >= wanted:  # "inserting": the transaction is open
                time.sleep(rng.uniform(0, max_delay_s))
                proc.send_signal(signal.SIGKILL)
                break
    finally:
        proc.kill()
        rest_out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, err
    for line in rest_out.splitlines():  # lines written before the kill, not yet read
        word, number, *rest = line.split()
        if word == "saved":
            saved[int(number)] = int(rest[0])
    return saved, saving


def test_killing_a_writer_mid_save_loses_nothing_saved(tmp_path: Path) -> None:
    path = tmp_path / "register.sqlite"
    url = f"sqlite:///{path}"
    rng = random.Random(20260101)
    reported: dict[int, int] = {}
    killed: list[int] = []
    for round_ in range(3):
        saved, saving = kill_mid_save(url, 1000 * round_, rng)
        reported |= saved
        killed.append(saving)

    register = register_at(url)
    plans = register.list_plans()
    for i, plan_id in reported.items():  # every plan reported saved is there, whole
        meta, table = register.load_plan(plan_id)
        assert (meta["name"], meta["settings"]) == (f"plan {i}", {"i": i})
        assert len(table) == WARDS_PER_PLAN and (table["extra"] == i % 7).all()
    # the plan being saved at each kill is all there (committed first) or not there at all
    assert (plans["n_wards"] == WARDS_PER_PLAN).all()
    extra = set(plans["name"]) - {f"plan {i}" for i in reported}
    assert extra <= {f"plan {i}" for i in killed}
    assert len(extra) < len(killed)  # at least one kill really landed inside a transaction
    orphans = "SELECT COUNT(*) FROM plan_rows WHERE plan_id NOT IN (SELECT id FROM plans)"
    assert _sql(path, orphans) == [(0,)]
    assert _sql(path, "PRAGMA integrity_check") == [("ok",)]
    next_id = register.save_plan("after the kills", _allocation(3, 1), settings={}, manifest={})
    assert next_id > max(reported.values())


# --- damaged files ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def filled(tmp_path_factory) -> tuple[Path, Path]:
    """A register with five plans of 3,000 wards and a priorities record, and its backup."""
    folder = tmp_path_factory.mktemp("filled")
    path = folder / "register.sqlite"
    with register_at(f"sqlite:///{path}") as reg:
        for k in range(5):
            reg.save_plan(f"p{k}", _allocation(3000, k), settings={}, manifest={})
        reg.record_priorities(CAMDEN, "Camden", 2026, ["Robbery", "Burglary"], agreed_by="both")
        backup = reg.export(folder / "backup.json")
    return path, backup


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _garbage_in_the_middle(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(path.stat().st_size // 2)
        f.write(random.Random(1).randbytes(8192))


def _garbage_in_the_schema(path: Path) -> None:
    with open(path, "r+b") as f:
        f.seek(100)  # just past the 100-byte header: the first page's b-tree
        f.write(random.Random(2).randbytes(4000))


def _zeroed_header(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(b"\0" * 4096)


@pytest.mark.parametrize(
    "damage",
    [_truncate, _garbage_in_the_middle, _garbage_in_the_schema, _zeroed_header],
    ids=["truncated", "page-overwritten", "schema-overwritten", "header-zeroed"],
)
def test_damaged_file_is_refused_untouched_and_restored_from_backup(
    tmp_path: Path, filled: tuple[Path, Path], damage
) -> None:
    good, backup = filled
    path = tmp_path / "register.sqlite"
    shutil.copy(good, path)
    damage(path)
    before = path.read_bytes()
    reg = register_at(f"sqlite:///{path}")
    reads = (reg.list_plans, reg.priorities_history, lambda: reg.load_plan(1))
    writes = (
        lambda: reg.save_plan("new", _allocation(3, 1), settings={}, manifest={}),
        lambda: reg.record_override(CAMDEN, "E05000000", "E05000001", 1, "x"),
    )
    for call in (*reads, *writes):  # every call refuses, before reading or writing anything
        with pytest.raises(RegisterError, match=r"register\.sqlite is damaged .*restore your"):
            call()
    reg.close()
    assert path.read_bytes() == before  # never modified
    assert sorted(p.name for p in tmp_path.iterdir()) == ["register.sqlite"]
    restored = register_at(f"sqlite:///{tmp_path / 'restored.sqlite'}")
    assert restored.import_(backup) == {
        "plans": 5,
        "plan_rows": 15_000,
        "agreed_priorities": 1,
        "overrides": 0,
    }
    assert restored.load_plan(5)[1]["extra"].eq(4).all()


def test_garbage_write_ahead_log_loses_nothing(tmp_path: Path, filled: tuple[Path, Path]) -> None:
    """A stray -wal file (e.g. copied from elsewhere) fails its checksums and is ignored."""
    good, _ = filled
    path = tmp_path / "register.sqlite"
    shutil.copy(good, path)
    Path(f"{path}-wal").write_bytes(random.Random(3).randbytes(20_000))
    reg = register_at(f"sqlite:///{path}")
    assert reg.list_plans()["n_wards"].tolist() == [3000] * 5
    reg.save_plan("after", _allocation(3, 1), settings={}, manifest={})
    assert len(reg.list_plans()) == 6


# --- locks and a full disk ----------------------------------------------------------------


def test_a_lock_released_within_the_busy_timeout_only_delays_the_write(tmp_path: Path) -> None:
    path = tmp_path / "register.sqlite"
    reg = register_at(f"sqlite:///{path}", busy_timeout_s=10)
    reg.save_plan("first", _allocation(3, 1), settings={}, manifest={})
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing ...
    releaser = threading.Timer(0.4, lambda: holder.execute("ROLLBACK"))  # ... for 0.4 s
    releaser.start()
    started = time.perf_counter()
    try:
        reg.save_plan("second", _allocation(3, 2), settings={}, manifest={})
    finally:
        releaser.join()
        holder.close()
    assert 0.3 < time.perf_counter() - started < 10
    assert reg.list_plans()["name"].tolist() == ["second", "first"]


def test_a_full_disk_mid_save_keeps_what_was_saved(tmp_path: Path) -> None:
    """SQLITE_FULL (here a page limit) partway through a save: that plan only is refused."""
    path = tmp_path / "register.sqlite"
    reg = register_at(f"sqlite:///{path}")
    first = reg.save_plan("first", _allocation(500, 1), settings={}, manifest={})
    pages = _sql(path, "PRAGMA page_count")[0][0]

    @sa.event.listens_for(reg._engine, "connect")
    def _limit(dbapi_conn, _record) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {pages + 3}")

    reg.close()  # new connections get the limit
    with pytest.raises(RegisterError, match=r"saving plan 'big': .*database or disk is full"):
        reg.save_plan("big", _allocation(20_000, 2), settings={}, manifest={})
    assert reg.list_plans()["name"].tolist() == ["first"]
    assert reg.load_plan(first)[1]["extra"].eq(1).all()
    sa.event.remove(reg._engine, "connect", _limit)
    reg.close()  # space is freed: the same save now succeeds
    reg.save_plan("big", _allocation(20_000, 2), settings={}, manifest={})
    assert _sql(path, "SELECT COUNT(*) FROM plan_rows") == [(20_500,)]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root ignores file modes")
def test_a_read_only_register_can_be_read_not_written(tmp_path: Path) -> None:
    path = tmp_path / "register.sqlite"
    with register_at(f"sqlite:///{path}") as reg:
        reg.save_plan("first", _allocation(3, 1), settings={}, manifest={})
    path.chmod(0o444)
    tmp_path.chmod(0o555)
    try:
        reg = register_at(f"sqlite:///{path}")
        assert reg.read_only
        assert reg.list_plans()["name"].tolist() == ["first"]  # read while it is read-only
        with pytest.raises(RegisterReadOnly, match=r"register\.sqlite is read-only"):
            reg.save_plan("second", _allocation(3, 2), settings={}, manifest={})
    finally:
        tmp_path.chmod(0o755)
        path.chmod(0o644)
    assert register_at(f"sqlite:///{path}").list_plans()["name"].tolist() == ["first"]


@pytest.fixture
def read_only_register(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A register with two plans, on what the planner finds it cannot write.

    Root ignores file modes, so where the tests run as root the write check answers as a
    read-only mount (EROFS) makes os.access answer; elsewhere the modes are real too.
    """
    import planner.register.database as database

    path = tmp_path / "ro" / "register.sqlite"
    with register_at(f"sqlite:///{path}") as reg:
        reg.save_plan("first", _allocation(3, 1), settings={}, manifest={})
        reg.save_plan("second", _allocation(3, 2), settings={}, manifest={})
    for leftover in (Path(f"{path}-wal"), Path(f"{path}-shm")):
        leftover.unlink(missing_ok=True)  # as a cleanly closed register leaves it
    real_access = os.access
    monkeypatch.setattr(
        database.os,
        "access",
        lambda p, mode, **kw: (
            False
            if mode == os.W_OK and Path(p) in {path, path.parent}
            else real_access(p, mode, **kw)
        ),
    )
    before = path.read_bytes()
    yield path
    assert path.read_bytes() == before  # nothing was written, not even a journal mode
    assert sorted(p.name for p in path.parent.iterdir()) == ["register.sqlite"]


def test_a_read_only_register_opens_read_only(read_only_register: Path) -> None:
    reg = register_at(f"sqlite:///{read_only_register}")
    assert reg.read_only
    assert reg.list_plans()["name"].tolist() == ["second", "first"]
    assert reg.load_plan(1)[1]["extra"].eq(1).all()
    message = reg.writes_unavailable() or ""
    assert "read-only" in message and "writes are unavailable" in message and ENV_URL in message
    with pytest.raises(RegisterReadOnly, match=r"saving plan 'third': .*writes are unavailable"):
        reg.save_plan("third", _allocation(3, 3), settings={}, manifest={})
    with pytest.raises(RegisterReadOnly, match=r"writes are unavailable"):
        reg.record_priorities(CAMDEN, "Camden", 2026, ["A", "B"], agreed_by="both")


def test_register_commands_say_writes_are_unavailable(
    read_only_register: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setenv(ENV_URL, f"sqlite:///{read_only_register}")
    assert main(["register", "plans"]) == 0
    out = capsys.readouterr()
    assert "first" in out.out and "writes are unavailable" in out.err
    backup = tmp_path / "backup.json"
    assert main(["register", "export", str(backup)]) == 0  # reading is all an export needs
    assert json.loads(backup.read_text())["tables"]["plans"]
    assert main(["register", "import", str(backup), "--replace"]) == 2
    assert "writes are unavailable" in capsys.readouterr().err


def test_a_full_disk_during_register_export_is_a_planner_error(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    import errno

    import planner.files as files

    monkeypatch.setenv(ENV_URL, f"sqlite:///{tmp_path / 'register.sqlite'}")
    real_mkstemp = files.tempfile.mkstemp

    def full(*args, **kwargs):
        if "backup.json" in str(kwargs.get("prefix", "")):
            raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "out"))
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(files.tempfile, "mkstemp", full)
    assert main(["register", "export", str(tmp_path / "out" / "backup.json")]) == 2
    err = capsys.readouterr().err
    assert "backup.json cannot be written (No space left on device)" in err
    assert "Traceback" not in err and "has space" in err


# --- backups with the command line --------------------------------------------------------


def _fill(reg: PlanRegister) -> None:
    plan = reg.save_plan(
        "base", _allocation(50, 1), settings={"pool": 50}, manifest={}, user=PLANNER_USER
    )
    reg.record_override(CAMDEN, "E05000000", "E05000001", 1, "school", plan_id=plan)
    reg.record_priorities(CAMDEN, "Camden", 2025, ["Robbery", "Burglary"], agreed_by="both")
    reg.record_priorities(CAMDEN, "Camden", 2026, ["Burglary", "Vehicle crime"], agreed_by="both")


def _tables(reg: PlanRegister, *, imported: bool = True) -> list[pd.DataFrame]:
    """Every record; without *imported*, leaving out who imported them (and the import)."""
    plans = reg.list_plans()
    rows = [reg.load_plan(i)[1] for i in plans["id"]]
    frames = [plans, reg.overrides(), reg.priorities_history(), *rows]
    if imported:
        return frames
    return [f.drop(columns=["import_id", "imported_by"], errors="ignore") for f in frames]


def test_cli_backup_round_trip(
    tmp_path: Path, monkeypatch, capsys, config: PlannerConfig, new_url
) -> None:
    monkeypatch.setenv(ENV_URL, new_url())
    live = PlanRegister.from_config(config)
    _fill(live)
    backup = tmp_path / "backups" / "register.json"
    assert main(["register", "export", str(backup)]) == 0
    assert json.loads(backup.read_text())["format"] == "planner-register-backup"

    monkeypatch.setenv(ENV_URL, new_url())
    assert main(["register", "import", str(backup)]) == 0
    restored = PlanRegister.from_config(config)
    for got, want in zip(
        _tables(restored, imported=False), _tables(live, imported=False), strict=True
    ):
        pd.testing.assert_frame_equal(got, want)
    assert set(restored.overrides()["imported_by"]) == {"local planner (no sign-in configured)"}
    assert main(["register", "plans"]) == 0 and "planner@met.police.uk" in capsys.readouterr().out

    # importing again would mix two registers: refused, and nothing changes
    assert main(["register", "import", str(backup)]) == 2
    assert "already holds records" in capsys.readouterr().err
    assert len(restored.priorities_history()) == 2
    assert main(["register", "import", "--replace", str(backup)]) == 0
    assert len(restored.priorities_history()) == 2


@pytest.mark.parametrize(
    ("damage", "match"),
    [
        (lambda text: text[: len(text) // 2], r"cannot be read as JSON"),
        (
            lambda text: text.replace('"planner-register-backup"', '"other"'),
            r"is not a plan register backup",
        ),
        (
            lambda text: text.replace('"schema_version": 2', '"schema_version": 9', 1),
            r"schema version 9",
        ),
        (
            lambda text: text.replace('"plan_id": 1', '"plan_id": 77'),
            r"b\.json: 2 problem\(s\) in the backup, so nothing was imported: "
            r"plans: plan 1 has no plan_rows.*plan_id 77 is not a plan of the backup",
        ),
    ],
    ids=["truncated", "not-a-backup", "newer", "dangling-plan"],
)
def test_cli_import_of_a_bad_backup_changes_nothing(
    tmp_path, monkeypatch, capsys, config: PlannerConfig, damage, match, engine_url
):
    monkeypatch.setenv(ENV_URL, engine_url)
    live = PlanRegister.from_config(config)
    _fill(live)
    backup = tmp_path / "b.json"
    assert main(["register", "export", str(backup)]) == 0
    backup.write_text(damage(backup.read_text()))
    before = _tables(live)
    assert main(["register", "import", "--replace", str(backup)]) == 2
    assert re.search(match, capsys.readouterr().err)
    for got, want in zip(_tables(live), before, strict=True):
        pd.testing.assert_frame_equal(got, want)


def test_cli_export_of_a_damaged_register_fails_and_writes_no_backup(tmp_path, monkeypatch, capsys):
    path = tmp_path / "live.sqlite"
    path.write_bytes(b"SQLite format 3\0" + bytes(range(256)) * 40)
    monkeypatch.setenv(ENV_URL, f"sqlite:///{path}")
    assert main(["register", "export", str(tmp_path / "b.json")]) == 2
    assert "is damaged" in capsys.readouterr().err
    assert not (tmp_path / "b.json").exists()
