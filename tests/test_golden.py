"""Behaviour kept across refactors: ``planner plan`` on the real data gives the stored files.

``tests/golden/plan_outputs.json`` holds the sha256 of ``allocation.csv`` and
``allocation_boroughs.csv`` written by ``planner plan`` (dataset met-2022, the shipped
configuration) at the commit named in the file. A change that moves any officer, score or
share changes a hash: when a change is meant to (a new decision rule), regenerate the file with
``python tests/golden/regenerate.py`` and say why in the commit.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from planner.cli import main

GOLDEN = Path(__file__).parent / "golden" / "plan_outputs.json"
RUNS = json.loads(GOLDEN.read_text(encoding="utf-8"))["runs"]

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.parametrize("run", sorted(RUNS), ids=sorted(RUNS))
def test_plan_outputs_match_the_stored_hashes(run, real_config, shared_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'register.sqlite'}")
    out = tmp_path / "out"
    args = RUNS[run]["args"]
    common = ["--data", str(shared_data), "--cache", str(real_config.cache_dir)]  # session cache
    assert main([*common, "plan", *args, "--out", str(out)]) == 0
    for name, expected in RUNS[run]["files"].items():
        got = hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert got == expected, f"{name} of run {run} ({' '.join(args)}) changed"
