"""Tests for overrides, scenario comparison and run_plan on the real 2022 wards."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from planner.errors import DataError, InfeasibleAllocationError
from planner.model.need import prepare_need, run_plan
from planner.model.scoring import load_need_settings
from planner.plan.allocation import (
    AllocationSettings,
    Override,
    allocate_wards,
    apply_overrides,
    compare_allocations,
    settings_from_config,
)

CODES = [f"E05{k:06d}" for k in range(8)]
BOROUGHS = pd.Series(["E09000007"] * 4 + ["E09000012"] * 4, index=CODES)


@pytest.fixture
def allocation():
    need = pd.Series([8.0, 4.0, 2.0, 1.0, 6.0, 3.0, 2.0, 1.0], index=CODES)
    return allocate_wards(need, BOROUGHS, pool=20, settings=AllocationSettings())


def test_override_moves_officers_and_keeps_borough_totals(allocation):
    before = allocation.wards["extra"]
    moved = apply_overrides(
        allocation, [Override("E09000007", CODES[0], CODES[3], 2, "school exclusion zone")]
    )
    after = moved.wards["extra"]
    assert after[CODES[0]] == before[CODES[0]] - 2 and after[CODES[3]] == before[CODES[3]] + 2
    pd.testing.assert_series_equal(moved.boroughs["extra"], allocation.boroughs["extra"])
    assert moved.wards["override"].to_dict()[CODES[0]] == -2
    assert moved.wards["total_dwo"].equals(moved.wards["baseline_dwo"] + moved.wards["extra"])
    assert moved.equity["max_abs_share_gap_ward"] >= allocation.equity["max_abs_share_gap_ward"]


@pytest.mark.parametrize(
    ("override", "match"),
    [
        pytest.param(
            Override("E09000007", CODES[0], CODES[5], 1, "x"),
            "is in borough E09000012, not E09000007",
            id="other-borough",
        ),
        pytest.param(
            Override("E09000007", CODES[0], CODES[1], 1, "  "),
            "a reason is required",
            id="no-reason",
        ),
        pytest.param(
            Override("E09000007", CODES[3], CODES[1], 99, "x"),
            "cannot give 99",
            id="below-baseline",
        ),
        pytest.param(
            Override("E09000007", CODES[0], "E05999999", 1, "x"),
            "E05999999 is not in the allocation",
            id="unknown-ward",
        ),
        pytest.param(
            Override("E09000007", CODES[0], CODES[1], 0, "x"), "whole number > 0", id="zero"
        ),
    ],
)
def test_bad_overrides_are_refused(allocation, override, match):
    with pytest.raises(DataError, match=match):
        apply_overrides(allocation, [override])


def test_scenario_comparison(allocation):
    need = allocation.wards["need"]
    bigger = allocate_wards(need, BOROUGHS, pool=30, settings=AllocationSettings())
    wards, boroughs = compare_allocations(allocation, bigger, names=("600", "800"))
    assert wards["difference"].sum() == 10 and (wards["difference"] >= 0).all()  # house monotone
    assert boroughs["difference"].sum() == 10


@pytest.mark.integration
def test_600_officers_on_the_real_2022_wards(real_config):
    config = real_config
    need_settings = load_need_settings(config)
    inputs = prepare_need(config, "met-2022", settings=need_settings, use_forecast=False)
    settings, pool = settings_from_config(config.extra["allocation"])
    assert pool == 600 and settings.borough_floor_share == 0.8
    plan = run_plan(inputs, need_settings, settings, pool=600)
    wards, boroughs = plan.allocation.wards, plan.allocation.boroughs
    assert len(wards) == 679 and wards["extra"].sum() == 600
    assert (wards["total_dwo"] >= 2).all() and (wards["baseline_pcso"] == 1).all()
    assert len(boroughs) == 32 and boroughs["met_floor"].all()
    eq = plan.manifest["equity"]
    for key in (
        "worst_served_ratio",
        "worst_served_borough_ratio",
        "gini_officers_per_need",
        "max_abs_share_gap_borough",
    ):
        assert np.isfinite(eq[key])
    # more need within a borough never means fewer extra officers (no caps bind here)
    for _, group in wards.groupby("borough_code"):
        ordered = group.sort_values("need")
        assert ordered["extra"].is_monotonic_increasing
    capped = dataclasses.replace(settings, max_extra_per_ward=1)
    with pytest.raises(
        InfeasibleAllocationError, match="caps allow at most 679 officers.*pool has 700"
    ):
        run_plan(inputs, need_settings, capped, pool=700)
