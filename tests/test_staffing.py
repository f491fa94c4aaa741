"""Current staffing: the file a planner fills in, read strictly, and damping from both ends."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from planner.errors import DataError
from planner.plan.staffing import read_staffing, staffing_template
from planner.scenario import CurrentTeam

REPO = Path(__file__).resolve().parents[1]


def test_a_filled_in_file_is_read_with_any_reasonable_headers(tmp_path):
    path = tmp_path / "teams.csv"
    path.write_text(
        "\ufeffWard code,Ward name,DWOs,PCSOs\nE05000001,Abbey,3,1\nE05000002,Alibon,2,0\n,,,\n",
        encoding="utf-8",
    )
    assert read_staffing(path) == (
        CurrentTeam("E05000001", 3, 1),
        CurrentTeam("E05000002", 2, 0),
    )


def test_excel_files_are_read(tmp_path):
    path = tmp_path / "teams.xlsx"
    pd.DataFrame({"ward_code": ["E05000001"], "dwo": [4], "pcso": [2]}).to_excel(path, index=False)
    assert read_staffing(path.read_bytes(), name="teams.xlsx") == (CurrentTeam("E05000001", 4, 2),)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("ward_code,dwo\nE05000001,2\n", r"teams.csv: no pcso column .* --current-template FILE"),
        ("ward_code,dwo,pcso\nE05000001,two,1\n", r"row\(s\) 2: dwo is not a whole number"),
        ("ward_code,dwo,pcso\nE05000001,2.5,1\n", r"row\(s\) 2: dwo is not a whole number"),
        ("ward_code,dwo,pcso\nE05000001,2,-1\n", r"row\(s\) 2: pcso is not a whole number"),
        ("ward_code,dwo,pcso\nAbbey,2,1\n", r"row\(s\) 2: ward_code is not a ward code"),
        (
            "ward_code,dwo,pcso\nE05000001,2,1\nE05000002,2,1\nE05000001,3,1\n",
            r"row\(s\) 2, 4: list a ward twice; keep one row per ward",
        ),
        ("", r"teams.csv: cannot be read as a UTF-8 CSV file"),
    ],
    ids=["no-pcso", "words", "fraction", "negative", "name-not-code", "twice", "empty"],
)
def test_every_problem_names_the_file_row_and_fix(tmp_path, text, match):
    path = tmp_path / "teams.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError, match=match):
        read_staffing(path)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match="nothere.csv: no such file"):
        read_staffing(tmp_path / "nothere.csv")


def test_the_template_has_every_ward_with_the_baseline():
    wards = pd.DataFrame(
        {"ward_name": ["B", "A"], "borough_name": ["X", "X"]},
        index=pd.Index(["E05000002", "E05000001"], name="ward_code"),
    )
    table = staffing_template(wards, dwo=2, pcso=1)
    assert table.to_dict("records") == [
        {"ward_code": "E05000001", "ward_name": "A", "borough_name": "X", "dwo": 2, "pcso": 1},
        {"ward_code": "E05000002", "ward_name": "B", "borough_name": "X", "dwo": 2, "pcso": 1},
    ]


def _planner(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "planner", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=False,
    )


@pytest.mark.integration
@pytest.mark.slow
def test_the_cli_writes_the_template_reads_it_back_and_damps(tmp_path, shared_data, real_config):
    """The README's steps: write the template, fill it in, plan with it, damp the change."""
    common = ["--data", str(shared_data), "--cache", str(real_config.cache_dir)]
    template = tmp_path / "current.csv"
    done = _planner(*common, "plan", "--no-forecast", "--current-template", str(template), cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert f"written to {template}" in done.stdout
    teams = pd.read_csv(template)
    teams.loc[teams.index[:5], "dwo"] = 5  # five wards have 3 extras now
    teams.to_csv(template, index=False)
    out = tmp_path / "out"
    args = [*common, "plan", "--no-forecast", "--no-overrides", "--formats", "csv"]
    done = _planner(*args, "--current", str(template), "--max-change", "1", "--out", str(out),
                    cwd=REPO)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"current staffing given for {len(teams)} of" in done.stdout
    table = pd.read_csv(out / "allocation.csv").set_index("ward_code")
    now = teams.set_index("ward_code")
    assert (table["current_dwo"] == now["dwo"].reindex(table.index)).all()
    assert (table["change"] == table["total_dwo"] - table["current_dwo"]).all()
    assert (table["extra"] - table["current_extra"]).abs().max() <= 1  # damping held
    done = _planner(*args, "--max-change", "1", "--out", str(out), cwd=REPO)
    assert done.returncode == 2
    assert "max_change 1 needs each ward's current team" in done.stderr
    assert "planner plan --current FILE" in done.stderr
