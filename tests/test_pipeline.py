"""Tests for planner.model.need and `planner score`: the need index end to end on real data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from planner import schema as s
from planner.cli import main
from planner.model.need import prepare_need, score_need
from planner.model.scoring import load_need_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def real(real_config):
    return real_config


@pytest.fixture(scope="module")
def met(real):
    settings = load_need_settings(real)
    return prepare_need(real, "met-2022", settings=settings, use_forecast=False), settings


def test_met_2022_scores_every_met_ward_and_says_asb_is_absent(met):
    inputs, settings = met
    result = score_need(inputs, settings)
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
    assert "asb" in result.manifest["absent_components"]
    assert result.manifest["window"] == {"start": "2025-02", "end": "2026-01"}
    assert scores.loc[s.HEATHROW_VILLAGES, s.BOROUGH_NAME] == "Hillingdon"
    assert sorted(scores["rank_london"]) == list(range(1, 680))
    summary = result.sensitivity_summary
    assert summary["spearman_vs_css"] > 0.8 and summary["top_50_overlap_vs_css"] > 25
    assert 0 <= summary["unstable_wards"] <= 679


def test_weight_change_changes_the_ranking_quickly(met):
    inputs, settings = met
    a = score_need(inputs, settings, with_sensitivity=False).scores["rank_london"]
    b = score_need(
        inputs, settings.with_weights(rate=1.0, harm=0.1), with_sensitivity=False
    ).scores["rank_london"]
    assert not a.equals(b)


def test_css_index_ranks_similarly(met):
    inputs, settings = met
    cchi = score_need(inputs, settings, with_sensitivity=False).scores["need_score"]
    css = score_need(
        inputs, dataclasses.replace(settings, harm_index="css"), with_sensitivity=False
    ).scores["need_score"]
    assert cchi.corr(css, method="spearman") > 0.8


def test_police_uk_api_dataset_has_asb_and_skips_uncovered_boroughs(real):
    settings = load_need_settings(real)
    inputs = prepare_need(real, "policeuk-2014", settings=settings, use_forecast=False)
    result = score_need(inputs, settings, with_sensitivity=False)
    assert "contribution: asb" in result.scores
    assert "trend" in result.manifest["absent_components"]  # 18 months: no previous 12 months
    uncovered = {"Bexley", "Croydon", "Hackney", "Redbridge", "Southwark", "Tower Hamlets"}
    assert not uncovered & set(result.scores[s.BOROUGH_NAME])
    assert any("not scored" in n and "Croydon" in n for n in result.manifest["notes"])


def test_cli_score_writes_tables_and_manifest(real, tmp_path, capsys, shared_data):
    out = tmp_path / "score"
    cdir = real.config_dir
    code = main(
        [
            "--config",
            str(cdir),
            "--data",
            str(shared_data),
            "score",
            "--no-forecast",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert "absent components: asb, forecast" in printed and "West End" in printed
    scores = pd.read_csv(out / "scores.csv", index_col=0)
    assert len(scores) == 679 and scores["rank_london"].iloc[0] == 1
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sensitivity"]["weight_draws"] == 200 and manifest["data"]
    assert {"scores.csv", "components.csv", "features.csv", "sensitivity.csv"} <= set(
        manifest["files"]
    )
