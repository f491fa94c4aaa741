"""Tests for planner.model.snapshot: prepared inputs kept between processes, used only when
nothing they were made from changed, never when torn or writable by others."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import pandas as pd
import pytest

from planner import api
from planner.config import SourceSpec
from planner.model.snapshot import KEEP, load_or_build, snapshot_key
from planner.scenario import Scenario
from tests.factories import grid_dataset, met_ward_csv


class Builds:
    """A build function that counts its calls."""

    def __init__(self, value: object) -> None:
        self.value, self.calls = value, 0

    def __call__(self) -> object:
        self.calls += 1
        return self.value


@dataclasses.dataclass
class Config:  # what snapshot_key reads of a PlannerConfig
    data_dir: Path
    setting: int = 1


def test_a_snapshot_is_built_once_then_read(tmp_path):
    build = Builds({"table": pd.DataFrame({"a": [1, 2]})})
    first = load_or_build(tmp_path, "grid", "k" * 64, build)
    again = load_or_build(tmp_path, "grid", "k" * 64, build)
    assert build.calls == 1
    pd.testing.assert_frame_equal(first["table"], again["table"])
    (path,) = tmp_path.glob("grid-*.pickle")
    assert path.stat().st_mode & 0o777 == 0o600


def test_the_key_changes_with_the_data_the_configuration_and_the_scenario(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "counts.csv").write_text("a\n1\n")
    config = Config(data)
    base = snapshot_key(config, ("met-2022", None))
    assert snapshot_key(config, ("met-2022", None)) == base
    assert snapshot_key(config, ("met-2022", "2025-06")) != base
    assert snapshot_key(Config(data, setting=2), ("met-2022", None)) != base
    later = time.time() + 5
    os.utime(data / "counts.csv", (later, later))  # a new download of the same name
    assert snapshot_key(config, ("met-2022", None)) != base
    (data / "new.csv").write_text("b\n")
    assert snapshot_key(config, ("met-2022", None)) not in {base}


def test_a_torn_snapshot_is_built_afresh(tmp_path):
    build = Builds([1, 2, 3])
    load_or_build(tmp_path, "grid", "t" * 64, build)
    (path,) = tmp_path.glob("grid-*.pickle")
    path.write_bytes(path.read_bytes()[:-3])
    assert load_or_build(tmp_path, "grid", "t" * 64, build) == [1, 2, 3]
    assert build.calls == 2


def test_a_changed_body_with_its_old_digest_is_not_loaded(tmp_path):
    build = Builds("honest")
    load_or_build(tmp_path, "grid", "d" * 64, build)
    (path,) = tmp_path.glob("grid-*.pickle")
    raw = bytearray(path.read_bytes())
    raw[-2] ^= 0xFF
    path.write_bytes(bytes(raw))
    assert load_or_build(tmp_path, "grid", "d" * 64, build) == "honest"
    assert build.calls == 2


@pytest.mark.parametrize("target", ["file", "folder"])
def test_a_snapshot_others_can_write_is_never_loaded(tmp_path, target):
    build = Builds("mine")
    folder = tmp_path / "prepared"
    load_or_build(folder, "grid", "w" * 64, build)
    (path,) = folder.glob("grid-*.pickle")
    os.chmod(path if target == "file" else folder, 0o666 if target == "file" else 0o777)
    assert load_or_build(folder, "grid", "w" * 64, build) == "mine"
    assert build.calls == 2


def test_only_the_most_recent_snapshots_are_kept(tmp_path):
    for k in range(KEEP + 2):
        load_or_build(tmp_path, "grid", f"{k:032d}" + "0" * 32, Builds(k))
    assert len(list(tmp_path.glob("grid-*.pickle"))) == KEEP


def test_a_folder_that_cannot_be_written_still_gives_the_inputs(tmp_path):
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    build = Builds("value")
    assert load_or_build(blocked / "prepared", "grid", "b" * 64, build) == "value"


def test_prepare_kept_gives_what_prepare_gives_and_follows_the_data(tmp_path, monkeypatch):
    months = [f"2016{m:02d}" for m in range(1, 13)] + [f"2017{m:02d}" for m in range(1, 13)]
    rows = [
        ("BURGLARY", "BURGLARY - RESIDENTIAL", f"E05{k:06d}", [k + 1] * 24) for k in (1, 2, 3, 4)
    ]
    config = grid_dataset(tmp_path, [SourceSpec(kind="mps_ward", path="met.csv")], boroughs=2)
    met = Path(config.data_dir) / "met.csv"
    met.write_text(met_ward_csv(rows, months))
    scenario = Scenario.from_config(config).changed(use_forecast=False)
    fresh = api.prepare(config, scenario)
    calls: list[int] = []
    real = api.prepare
    monkeypatch.setattr(api, "prepare", lambda *a, **k: calls.append(1) or real(*a, **k))
    first = api.prepare_kept(config, scenario)
    kept = api.prepare_kept(config, scenario)
    assert len(calls) == 1  # the second came from the snapshot
    for inputs in (first, kept):
        pd.testing.assert_frame_equal(inputs.features["cchi"], fresh.features["cchi"])
    rows[0] = ("BURGLARY", "BURGLARY - RESIDENTIAL", "E05000001", [50] * 24)
    met.write_text(met_ward_csv(rows, months))
    later = time.time() + 5
    os.utime(met, (later, later))
    changed = api.prepare_kept(config, scenario)
    assert len(calls) == 2
    assert (
        changed.features["cchi"].loc["E05000001", "harm"]
        > kept.features["cchi"].loc["E05000001", "harm"]
    )
