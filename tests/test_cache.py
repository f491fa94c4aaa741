"""The ingest cache defends itself (issue 14, item 4): a tampered, truncated or broken entry is
rebuilt with a warning, readers never see half an entry, and concurrent builders both succeed.

The dataset: a 2x2 grid of wards in two boroughs (E09000002: wards 1, 2; E09000003: wards 3,
4) with 24 months of the Met's ward-level crime, built in code.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import warnings
from pathlib import Path

import pandas as pd
import pytest

from planner import api
from planner import schema as s
from planner.cli import main
from planner.cli.options import parser
from planner.config import SourceSpec
from planner.errors import PlannerWarning
from planner.ingest import cache, ingest
from planner.scenario import Scenario
from tests.factories import grid_dataset, met_ward_csv
from tests.test_cli import REPO, TINY_DATASET
from tests.test_ingest import tiny_data

WARDS = [f"E0500000{k}" for k in range(1, 5)]
MONTHS = [f"{y}{m:02d}" for y in (2016, 2017) for m in range(1, 13)]
TAMPERED_BOROUGH_WARDS = WARDS[2:]  # E09000003


@pytest.fixture
def grid(tmp_path):
    data = tmp_path / "data"
    config = grid_dataset(tmp_path, [SourceSpec(kind="mps_ward", path="met.csv")], boroughs=2)
    rows = [
        (major, minor, code, [(k * n) % 7 + n for n in range(len(MONTHS))])
        for k, code in enumerate(WARDS, start=1)
        for major, minor in (
            ("BURGLARY", "BURGLARY BUSINESS AND COMMUNITY"),
            ("ROBBERY", "ROBBERY OF PERSONAL PROPERTY"),
        )
    ]
    (data / "met.csv").write_text(met_ward_csv(rows, MONTHS))
    (data / "lookups").mkdir()
    (data / "population").mkdir()
    (data / "lookups" / "lsoa21_ward22_bf.csv").write_text(
        "lsoa21cd,ward22cd\n" + "".join(f"E0100000{k},{w}\n" for k, w in enumerate(WARDS, 1))
    )
    (data / "population" / "london_lsoa11_lsoa21_census2011_2021_TotalRes_merge_efit.csv").write_text(
        "LSOA21CD,LAD22CD,TotalRes21\n"
        + "".join(f"E0100000{k},E0900000{2 + (k > 2)},{5000 + k}\n" for k in range(1, 5))
    )  # fmt: skip
    return config


def entry_of(result) -> Path:
    return result.cache_dir.parent.parent  # <key>/versions/<id> -> <key>


def plan_table(config) -> tuple[pd.DataFrame, list[str], list[warnings.WarningMessage]]:
    scenario = Scenario.from_config(config).changed(use_forecast=False, pool=40, no_cap=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inputs = api.prepare(config, scenario)
    table = api.plan(inputs, scenario).ward_table()
    return table, inputs.notes, [w for w in caught if issubclass(w.category, PlannerWarning)]


def cache_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if "the ingest cache" in str(w.message)]


def test_a_tampered_cache_is_rebuilt_with_a_warning_and_the_plan_is_unchanged(grid):
    honest, _, caught = plan_table(grid)
    assert not cache_warnings(caught)
    built = ingest(grid)
    assert built.from_cache  # the plan's ingest was cached: this is what is tampered with
    path = built.cache_dir / "ward_counts.parquet"
    counts = pd.read_parquet(path)
    rows = counts[s.WARD_CODE].astype(str).isin(TAMPERED_BOROUGH_WARDS)
    counts.loc[rows, s.COUNT] *= 20  # the attack of issue 14: one borough's counts x 20
    counts.to_parquet(path, index=False)

    got, notes, caught = plan_table(grid)

    (message,) = cache_warnings(caught)
    assert "ward_counts.parquet is not the file its manifest recorded" in message
    assert "rebuilt from the input files" in message and str(grid.cache_dir) not in message
    assert message in notes  # the app shows the data's notes
    pd.testing.assert_frame_equal(got, honest)
    # the tampered table, had it been used, gives that borough far more officers
    assert counts.loc[rows, s.COUNT].sum() > 10 * counts.loc[~rows, s.COUNT].sum()
    again = ingest(grid)
    assert again.from_cache and again.cache_dir != built.cache_dir  # a new version, checked
    assert not built.cache_dir.exists()  # the damaged one is gone


def _truncate(version: Path) -> None:
    path = version / "ward_counts.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _delete(version: Path) -> None:
    (version / "coverage.parquet").unlink()


def _bad_json(version: Path) -> None:
    (version / "quality.json").write_text('{"totals": ')


def _manifest_edited(version: Path) -> None:
    path = version / "manifest.json"
    path.write_text(path.read_text().replace('"dataset": "grid"', '"dataset": "grld"'))


def _pointer_to_nothing(version: Path) -> None:
    shutil.rmtree(version)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_truncate, "ward_counts.parquet is not the file its manifest recorded"),
        (_delete, "coverage.parquet cannot be read"),
        (_bad_json, "quality.json is not the file its manifest recorded"),
        (_manifest_edited, "manifest.json was changed after it was written"),
        (_pointer_to_nothing, "its current version"),
    ],
    ids=["truncated-parquet", "missing-file", "bad-json", "manifest-edited", "version-gone"],
)
def test_a_damaged_cache_is_rebuilt_with_a_warning(grid, damage, reason):
    first = ingest(grid)
    damage(first.cache_dir)
    with pytest.warns(PlannerWarning, match=f"the ingest cache of dataset 'grid'.*{reason}"):
        again = ingest(grid)
    assert not again.from_cache and again.notes and reason in again.notes[0]
    pd.testing.assert_frame_equal(again.ward_counts, first.ward_counts)
    assert ingest(grid).from_cache


def test_a_truncated_parquet_with_a_forged_manifest_fails_to_parse_and_rebuilds(grid):
    """Hashes, manifest and version name all forged to fit a truncated file: the parse error
    (ArrowInvalid) is still a reason to rebuild, never a traceback."""
    first = ingest(grid)
    entry, old = entry_of(first), first.cache_dir
    blob = (old / "ward_counts.parquet").read_bytes()
    (old / "ward_counts.parquet").write_bytes(blob[:-100])
    text = (old / "manifest.json").read_text()
    text = text.replace(hashlib.sha256(blob).hexdigest(), hashlib.sha256(blob[:-100]).hexdigest())
    (old / "manifest.json").write_text(text)
    forged = old.with_name(hashlib.sha256(text.encode()).hexdigest()[:16] + "-forged")
    old.rename(forged)
    (entry / "current").unlink()
    (entry / "current").symlink_to(forged.relative_to(entry))
    with pytest.raises(cache.CacheUnusable, match="ward_counts.parquet does not parse"):
        cache.load(entry)
    with pytest.warns(PlannerWarning, match="ward_counts.parquet does not parse"):
        assert not ingest(grid).from_cache


def test_reads_while_builds_publish_never_fail(grid):
    """1,000 reads while another thread publishes new versions: every read gets a whole one."""
    first = ingest(grid)
    entry = entry_of(first)
    tables = {name: pd.read_parquet(first.cache_dir / f"{name}.parquet") for name in cache.TABLES}
    stop = threading.Event()
    published: list[Path] = []
    failures: list[BaseException] = []
    results: list[int] = []

    def build() -> None:
        while not stop.is_set():
            published.append(cache.publish(entry, tables, {"quality": first.quality}, {}))

    def read(n: int) -> None:
        for _ in range(n):
            try:
                found = cache.load(entry)
                assert found is not None
                results.append(len(found.tables["ward_counts"]))
            except BaseException as exc:
                failures.append(exc)

    builder = threading.Thread(target=build)
    readers = [threading.Thread(target=read, args=(250,)) for _ in range(4)]
    builder.start()
    for t in readers:
        t.start()
    for t in readers:
        t.join()
    stop.set()
    builder.join()
    assert failures == []
    assert len(results) == 1000 and set(results) == {len(first.ward_counts)}
    assert len(published) >= 5, "the builder must have published while the reads ran"
    # the builder's last publish may have cleaned while the last reads still held an older
    # version (kept, by design, until the next publish): one more with no reader left
    published.append(cache.publish(entry, tables, {"quality": first.quality}, {}))
    versions = list((entry / cache.VERSIONS).iterdir())
    assert versions == [published[-1]]  # no reader left: every older version cleaned
    assert not list(entry.parent.glob(".build-*"))


def test_two_concurrent_builders_both_succeed(grid):
    ingest(grid)
    failures: list[BaseException] = []
    done: list[bool] = []

    def build() -> None:
        for _ in range(5):
            try:
                result = ingest(grid, use_cache=False)
                done.append(not result.from_cache)
            except BaseException as exc:
                failures.append(exc)

    builders = [threading.Thread(target=build) for _ in range(2)]
    for t in builders:
        t.start()
    for t in builders:
        t.join()
    assert failures == [] and done == [True] * 10
    assert ingest(grid).from_cache


def test_an_entry_of_the_earlier_flat_layout_is_rebuilt_and_tidied(grid):
    first = ingest(grid)
    entry = entry_of(first)
    shutil.rmtree(entry)
    entry.mkdir()
    (entry / "manifest.json").write_text("{}")  # the layout before versions/
    (entry / "ward_counts.parquet").write_bytes(b"PAR1")
    again = ingest(grid)
    assert not again.from_cache
    assert sorted(p.name for p in entry.iterdir()) == [".lock", "current", "versions"]


def test_every_command_that_reads_a_dataset_takes_no_cache(grid):
    import argparse

    from planner.cli.commands import COMMANDS

    p = parser(grid, COMMANDS)
    (sub,) = [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]
    readers = [name for name, cmd in sub.choices.items() if "--dataset" in cmd._option_string_actions]  # fmt: skip
    assert set(readers) >= {"ingest", "score", "plan", "priorities", "pack"}
    for name in readers:
        assert "--no-cache" in sub.choices[name]._option_string_actions, name


def test_the_command_line_rebuilds_a_truncated_cache_with_a_warning(tmp_path, capsys):
    cdir = tmp_path / "config"
    shutil.copytree(REPO / "config", cdir)
    (cdir / "planner.toml").write_text(TINY_DATASET.format(cache=tmp_path / "cache"))
    data = tiny_data(tmp_path / "data")
    args = ["--config", str(cdir), "--data", str(data), "ingest", "--no-progress"]
    assert main(args) == 0
    (current,) = (cdir.parent / "cache" / "tiny").glob(f"*/{cache.CURRENT}")
    _truncate(current.resolve())
    capsys.readouterr()
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "warning: the ingest cache of dataset 'tiny'" in err and "Traceback" not in err
    assert "ward_counts.parquet is not the file its manifest recorded" in err
    assert "rows built" in out
    assert main(args) == 0 and "loaded from the cache" in capsys.readouterr().out
    assert main([*args, "--no-cache"]) == 0 and "rows built" in capsys.readouterr().out


def test_a_damaged_backtest_cache_is_computed_again(tmp_path):
    from planner.model.need import _cached_backtest

    path = tmp_path / "backtest.csv"
    assert _cached_backtest(path) is None  # none yet
    path.write_text("origin,method,mae\nall,model,1.5\n")
    assert _cached_backtest(path)["mae"].tolist() == [1.5]
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert _cached_backtest(path) is None
    path.write_text("a,b\n1,2\n")  # parses, but is not a backtest table
    assert _cached_backtest(path) is None


BUILDER = """
import pickle, sys
from planner.ingest import ingest
config = pickle.load(open(sys.argv[1], "rb"))
for _ in range(3):
    assert not ingest(config, use_cache=False).from_cache
"""


def test_two_builder_processes_and_a_reader_never_fail(grid, tmp_path):
    """As two `planner ingest --no-cache` runs would, while this process keeps reading."""
    import pickle
    import subprocess
    import sys

    first = ingest(grid)
    entry = entry_of(first)
    (tmp_path / "config.pickle").write_bytes(pickle.dumps(grid))
    builders = [
        subprocess.Popen([sys.executable, "-c", BUILDER, str(tmp_path / "config.pickle")],
                         stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]  # fmt: skip
    reads, versions = 0, set()
    while any(b.poll() is None for b in builders):
        found = cache.load(entry)  # raises on a torn or damaged version
        assert found is not None and len(found.tables["ward_counts"]) == len(first.ward_counts)
        versions.add(found.version.name)
        reads += 1
    errors = [b.stderr.read() for b in builders]
    assert [b.returncode for b in builders] == [0, 0], errors
    assert reads > 0 and len(versions) > 1, (reads, versions)  # it read while they published
    assert ingest(grid).from_cache
