"""The README's figures are made from files, and the files from the code as it is now."""

from __future__ import annotations

import json
import math

import pytest

from planner import api, docs
from planner.ingest import ingest
from planner.ingest.checks import join_agreement
from planner.scenario import Scenario


def test_the_readmes_generated_sections_match_their_files(capsys):
    assert docs.main(["--check"]) == 0, capsys.readouterr().out
    text = docs.REPO.joinpath("README.md").read_text(encoding="utf-8")
    for name in docs.SECTIONS:
        assert f"<!-- BEGIN planner.docs {name} -->" in text, name


def test_a_changed_figure_is_caught(tmp_path, capsys):
    readme = tmp_path / "README.md"
    text = docs.REPO.joinpath("README.md").read_text(encoding="utf-8")
    readme.write_text(text.replace("32 were assigned", "33 were assigned", 1), encoding="utf-8")
    assert docs.main(["--check", "--readme", str(readme)]) == 1
    assert "the README's figures differ from their files" in capsys.readouterr().out


def _close(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.integration
def test_the_join_check_file_is_what_the_code_measures(real_config):
    got = join_agreement(
        ingest(real_config, "burglary-check"),
        ingest(real_config, "met-2022"),
        category="Burglary",
        months=docs.JOIN_MONTHS,
    )
    saved = json.loads((docs.RESULTS / "join_check.json").read_text(encoding="utf-8"))
    assert _close(got, saved), (got, saved)


@pytest.mark.integration
@pytest.mark.slow
def test_the_sensitivity_file_is_what_planner_score_gives(real_config):
    scenario = Scenario.from_config(real_config)
    result = api.score(api.prepare(real_config, scenario), scenario)
    saved = json.loads((docs.RESULTS / "score_manifest.json").read_text(encoding="utf-8"))
    assert _close(result.sensitivity_summary, saved["sensitivity"])
    assert _close(result.weights_used, saved["weights_used"])


@pytest.mark.integration
@pytest.mark.slow
def test_the_plan_results_file_is_what_planner_plan_compare_gives(real_config):
    """docs/results/plan_results.json (the README's results page) is what the code gives now."""
    scenario = Scenario.from_config(real_config)
    got = api.compare_modes(api.prepare(real_config, scenario), scenario, real_config)
    got = json.loads(json.dumps(got))  # the file's shape: tuples as lists, keys as text
    saved = json.loads((docs.RESULTS / "plan_results.json").read_text(encoding="utf-8"))
    for key in saved:
        assert _close(got[key], saved[key]), key
