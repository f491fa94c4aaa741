"""``planner --config DIR`` is honoured by every command (one test per command).

Each test runs from a folder without ``config/`` of its own, so a command that fell back to
the default configuration would read the repository's files; the copy in DIR differs from
them in one value the command's output shows.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from planner.cli import main
from tests.factories import CONFIG_DIR, config_copy

pytestmark = pytest.mark.integration

BURGLARY_X = """
[datasets.burglary-x]
description = "burglary-check under another name: only the copied configuration has it"
[datasets.burglary-x.wards]
path = "wards/london_wards_2022_bgc_incl_city/*json"
layer = "ward"
crs = "EPSG:4326"
[[datasets.burglary-x.sources]]
kind = "police_uk_csv"
path = "incidents/met_street_burglary_only_2023-07_to_2025-02"
"""


def _shipped(stem: str) -> str:
    return (CONFIG_DIR / f"{stem}.toml").read_text(encoding="utf-8")


@pytest.fixture
def run(real_config, shared_data, tmp_path, monkeypatch):
    """``run(config_dir, *args)``: the CLI on ../shared/data with the session's cache."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'register.sqlite'}")

    def call(config_dir: Path, *args: str) -> int:
        common = ["--config", str(config_dir), "--data", str(shared_data)]
        return main([*common, "--cache", str(real_config.cache_dir), *args])

    return call


def test_datasets(run, tmp_path, capsys):
    cdir = config_copy(tmp_path, planner=_shipped("planner") + BURGLARY_X)
    assert run(cdir, "datasets") == 0
    assert "burglary-x\n  burglary-check under another name" in capsys.readouterr().out


def test_ingest(run, tmp_path, capsys):
    cdir = config_copy(tmp_path, planner=_shipped("planner") + BURGLARY_X)
    assert run(cdir, "ingest", "--dataset", "burglary-x", "--no-progress") == 0
    assert "burglary-x" in capsys.readouterr().out


def test_score(run, tmp_path):
    need = (
        _shipped("need").replace("trend = 0.10", "trend = 0.0").replace("rate = 0.15", "rate = 0.0")
    )
    cdir = config_copy(tmp_path, need=need)
    assert run(cdir, "score", "--no-forecast", "--out", str(tmp_path / "out")) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["weights_used"] == {"harm": 1.0}


def test_plan(run, tmp_path):
    cdir = config_copy(
        tmp_path, allocation=_shipped("allocation").replace("pool = 600", "pool = 123")
    )
    out = tmp_path / "out"
    assert run(cdir, "plan", "--no-forecast", "--formats", "csv", "--out", str(out)) == 0
    assert pd.read_csv(out / "allocation.csv")["extra"].sum() == 123
    assert json.loads((out / "allocation_manifest.json").read_text())["scenario"]["pool"] == 123


def test_priorities(run, tmp_path, capsys):
    text = _shipped("priorities")
    assert "n_priorities = 2" in text
    cdir = config_copy(tmp_path, priorities=text.replace("n_priorities = 2", "n_priorities = 1"))
    assert run(cdir, "priorities", "--borough", "Camden") == 0
    out = capsys.readouterr().out
    assert "  1. " in out and "  2. " not in out


def test_pack(run, tmp_path):
    cdir = config_copy(
        tmp_path, allocation=_shipped("allocation").replace("pool = 600", "pool = 77")
    )
    out = tmp_path / "packs"
    assert run(cdir, "pack", "--borough", "Camden", "--no-forecast", "--out", str(out)) == 0
    page = (out / "Camden_pack.html").read_text(encoding="utf-8")
    assert "<th>Extra officers (London pool)</th><td>77</td>" in page


def test_register(run, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("PLANNER_DB_URL")
    target = tmp_path / "x-register.sqlite"
    store = _shipped("store").replace(
        'url = "sqlite:///.planner/register.sqlite"', f'url = "sqlite:///{target}"'
    )
    cdir = config_copy(tmp_path, store=store)
    assert run(cdir, "register", "plans") == 0
    assert "no saved plans yet" in capsys.readouterr().out
    assert target.is_file() and sqlite3.connect(target).execute("select 1").fetchone() == (1,)


def test_fetch(run, tmp_path):
    extra = (
        '[[source]]\nname = "only_in_x"\ndest = "extra/only_in_x.csv"\n'
        'url = "https://example.org/only_in_x.csv"\npublisher = "test"\nlicence = "OGL v3.0"\n'
        'description = "a file only the copied sources.toml names"\n\n'
    )
    sources = re.sub(
        r"^\[\[source\]\]", extra + "[[source]]", _shipped("sources"), count=1, flags=re.M
    )
    cdir = config_copy(tmp_path, sources=sources)
    mirror = tmp_path / "mirror"
    (mirror / "wards").mkdir(parents=True)
    (mirror / "extra").mkdir()
    (mirror / "extra" / "only_in_x.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    dest = tmp_path / "data"
    code = main(["--config", str(cdir), "--data", str(dest), "fetch", "--from", str(mirror)])
    assert code == 0
    assert (dest / "extra" / "only_in_x.csv").read_text(encoding="utf-8") == "a,b\n1,2\n"
