"""Tests for planner.model.need, planner.api and `planner score`: the need index end to end on
real data."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from planner import api
from planner import schema as s
from planner.cli import main
from planner.errors import PlannerWarning
from planner.model.need import prepare_need, score_need
from planner.model.window import Window
from planner.results import RunManifest
from planner.scenario import Scenario

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def scenario(real_config) -> Scenario:
    """The shipped scenario for met-2022, without the forecast (as met_inputs was prepared)."""
    return Scenario.from_config(real_config).changed(use_forecast=False)


def test_met_2022_scores_every_met_ward_and_says_asb_is_absent(met_inputs, scenario):
    inputs = met_inputs
    result = score_need(inputs, scenario.need)
    scores = result.scores
    assert (
        len(scores) == 679
        and not scores.index.isin(
            inputs.all_wards.index[inputs.all_wards[s.BOROUGH_CODE] == s.CITY_OF_LONDON]
        ).any()
    )
    np.testing.assert_allclose(
        scores.filter(like="contribution: ").sum(axis=1), scores["need_score"], atol=1e-12
    )
    assert "asb" in result.absent
    assert inputs.window == Window("2025-02", "2026-01")
    manifest = RunManifest.build(result, scenario)
    assert "asb" in manifest.absent_components
    assert (manifest.window_start, manifest.window_end) == ("2025-02", "2026-01")
    assert manifest.wards_scored == 679 and manifest.dataset == "met-2022"
    assert manifest.scenario == scenario.to_dict()
    assert RunManifest.from_dict(json.loads(json.dumps(manifest.to_dict()))) == manifest
    assert scores.loc[s.HEATHROW_VILLAGES, s.BOROUGH_NAME] == "Hillingdon"
    assert sorted(scores["rank_london"]) == list(range(1, 680))
    summary = result.sensitivity_summary
    assert summary["spearman_vs_css"] > 0.8 and summary["top_50_overlap_vs_css"] > 25
    assert 0 <= summary["unstable_wards"] <= 679


def test_api_score_is_score_need_under_the_scenario(met_inputs, scenario):
    via_api = api.score(met_inputs, scenario, with_sensitivity=False)
    direct = score_need(met_inputs, scenario.need, with_sensitivity=False)
    pd.testing.assert_frame_equal(via_api.scores, direct.scores)
    assert via_api.weights_used == direct.weights_used
    assert api.absent_reasons(met_inputs)["asb"].startswith("not in this data")
    assert met_inputs.forecast_note.startswith("off")  # not asked for in this scenario


def test_weight_change_changes_the_ranking_quickly(met_inputs, scenario):
    a = score_need(met_inputs, scenario.need, with_sensitivity=False).scores["rank_london"]
    b = score_need(
        met_inputs, scenario.need.with_weights(rate=1.0, harm=0.1), with_sensitivity=False
    ).scores["rank_london"]
    assert not a.equals(b)
    changed = scenario.changed(need=scenario.need.with_weights(rate=1.0, harm=0.1))
    c = api.score(met_inputs, changed, with_sensitivity=False)
    pd.testing.assert_series_equal(c.scores["rank_london"], b)


def test_css_index_ranks_similarly(met_inputs, scenario):
    cchi = api.score(met_inputs, scenario, with_sensitivity=False).scores["need_score"]
    css = api.score(met_inputs, scenario.changed(harm_index="css"), with_sensitivity=False).scores[
        "need_score"
    ]
    assert cchi.corr(css, method="spearman") > 0.8


def test_prepare_need_without_the_api_gives_the_same_inputs(real_config, met_inputs, scenario):
    inputs = prepare_need(real_config, "met-2022", settings=scenario.need, use_forecast=False)
    assert inputs.window == met_inputs.window and inputs.ingest.from_cache
    pd.testing.assert_frame_equal(
        inputs.features[scenario.need.harm_index], met_inputs.features[scenario.need.harm_index]
    )


@pytest.mark.slow
def test_police_uk_api_dataset_has_asb_and_skips_uncovered_boroughs(real_config):
    scenario = Scenario.from_config(real_config, "policeuk-2014").changed(use_forecast=False)
    with pytest.warns(PlannerWarning, match="trend not available"):
        inputs = api.prepare(real_config, scenario)
    assert inputs.trend_available is False and inputs.asb_present is True
    result = api.score(inputs, scenario, with_sensitivity=False)
    assert "contribution: asb" in result.scores
    assert "trend" in result.absent  # 18 months: no previous 12 months
    assert "trend" in RunManifest.build(result, scenario).absent_components
    uncovered = {"Bexley", "Croydon", "Hackney", "Redbridge", "Southwark", "Tower Hamlets"}
    assert not uncovered & set(result.scores[s.BOROUGH_NAME])
    assert any("not scored" in n and "Croydon" in n for n in result.notes)


def test_cli_score_writes_tables_and_manifest(real_config, tmp_path, capsys, shared_data):
    out = tmp_path / "score"
    code = main(
        [
            "--config",
            str(real_config.config_dir),
            "--data",
            str(shared_data),
            "--cache",
            str(real_config.cache_dir),  # the session's cache: met-2022 is not ingested again
            "score",
            "--no-forecast",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "not in the index, weight shared out: ASB, Forecast" in printed
    assert "West End" in printed
    scores = pd.read_csv(out / "scores.csv", index_col=0)
    assert len(scores) == 679 and scores["rank_london"].iloc[0] == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sensitivity"]["weight_draws"] == 200 and manifest["data"]
    assert manifest["absent_components"] == ["asb", "forecast"]
    assert {"scores.csv", "components.csv", "features.csv", "sensitivity.csv"} <= set(
        manifest["files"]
    )
