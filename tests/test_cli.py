"""Tests for the command line (planner.cli.main and python -m planner)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from planner.cli import main
from tests.factories import shipped_config
from tests.test_ingest import tiny_data

REPO = Path(__file__).resolve().parents[1]

TINY_DATASET = """
[paths]
data_dir = "data"
cache_dir = "{cache}"
out_dir = "out"

[join]
snap_distance_m = 250.0
coverage_min_rate_ratio = 0.2
[join.crosswalk]
method = "dasymetric"
lsoa_boundaries = "lsoa.shp"
lsoa_code = "LSOA21CD"
lsoa_crime = "lsoa_crime/*"
target_ward_crime = "ward_crime/*"
iterations = 30
max_unknown_ward_share = 0.005
error_per_moved_share = 0.14

[coordinates]
lon_min = -8.75
lon_max = 1.80
lat_min = 49.80
lat_max = 60.90
max_bad_share = 0.5

[datasets.tiny]
description = "test grid"
default = true
[datasets.tiny.wards]
path = "wards/grid.geojson"
[[datasets.tiny.sources]]
kind = "police_uk_csv"
path = "incidents/street"
"""


@pytest.fixture
def tiny_cli(tmp_path) -> tuple[Path, Path]:
    """(config dir, data dir) for a tiny dataset."""
    cdir = tmp_path / "config"
    shutil.copytree(REPO / "config", cdir)
    (cdir / "planner.toml").write_text(TINY_DATASET.format(cache=tmp_path / "cache"))
    return cdir, tiny_data(tmp_path / "data")


@pytest.mark.slow
def test_help_documents_every_command():
    out = subprocess.run(
        [sys.executable, "-m", "planner", "--help"], capture_output=True, text=True, check=True
    ).stdout
    commands = ("fetch", "ingest", "score", "plan", "priorities", "pack", "register", "datasets")
    for command in commands:
        assert command in out
    for command in ("fetch", "plan"):
        sub = subprocess.run(
            [sys.executable, "-m", "planner", command, "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "usage: planner" in sub


def test_ingest_prints_the_quality_table_and_saves_json(tiny_cli, tmp_path, capsys):
    cdir, data = tiny_cli
    report = tmp_path / "out" / "quality.json"
    code = main(
        [
            "--config",
            str(cdir),
            "--data",
            str(data),
            "ingest",
            "--no-progress",
            "--report",
            str(report),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "incidents/street" in out and "holds for every source and month" in out
    assert "built" in out
    saved = json.loads(report.read_text())
    assert saved["dataset"] == "tiny" and saved["conservation_ok"]
    assert main(["--config", str(cdir), "--data", str(data), "ingest", "--no-progress"]) == 0
    assert "loaded from the cache" in capsys.readouterr().out


def test_errors_exit_2_with_the_fix(tiny_cli, tmp_path, capsys):
    cdir, _ = tiny_cli
    code = main(
        ["--config", str(cdir), "--data", str(tmp_path / "missing"), "ingest", "--no-progress"]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and "planner fetch --from DIR" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as stop:  # argparse names the datasets there are
        main(["--config", str(cdir), "ingest", "--dataset", "nope"])
    assert stop.value.code == 2
    assert "invalid choice: 'nope' (choose from 'tiny')" in capsys.readouterr().err


def test_unknown_config_key_is_reported(tiny_cli, capsys):
    cdir, _ = tiny_cli
    text = (cdir / "planner.toml").read_text().replace("[paths]", "[paths]\ncache_dri = 'x'")
    (cdir / "planner.toml").write_text(text)
    assert main(["--config", str(cdir), "datasets"]) == 2
    err = capsys.readouterr().err
    assert f"{cdir / 'planner.toml'} [paths]: unknown key 'cache_dri'" in err
    assert "did you mean 'cache_dir'?" in err and "correct its spelling or remove it" in err


def test_fetch_from_a_local_copy(tmp_path, capsys):
    mirror = tmp_path / "mirror"
    (mirror / "wards" / "x").mkdir(parents=True)
    (mirror / "wards" / "x" / "w.geojson").write_text(
        '{"type": "FeatureCollection", "features": []}'
    )
    dest = tmp_path / "data"
    code = main(["--data", str(dest), "fetch", "--from", str(mirror)])
    assert code == 0
    assert (dest / "wards" / "x" / "w.geojson").is_file()
    assert (dest / "fetch_manifest.json").is_file()


def test_datasets_lists_the_configured_ones(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "met-2022 (default)" in out and "policeuk-2014" in out


def test_register_export_import_and_history(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'reg.sqlite'}")
    from planner.register.store import PlanRegister

    PlanRegister.from_config(shipped_config()).record_priorities(
        "E09000007", "Camden", 2026, ["Robbery", "Burglary"], agreed_by="Leader"
    )
    backup = tmp_path / "backup.json"
    assert main(["register", "export", str(backup)]) == 0 and backup.is_file()
    assert main(["register", "history"]) == 0
    assert "Camden" in capsys.readouterr().out
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'other.sqlite'}")
    assert main(["register", "import", str(backup)]) == 0
    assert len(PlanRegister.from_config(shipped_config()).priorities_history()) == 1
