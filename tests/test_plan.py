"""Tests for overrides, scenario comparison and planner.api.plan on the real 2022 wards."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from planner import api
from planner.errors import DataError, InfeasibleAllocationError
from planner.plan.allocation import allocate_wards, compare_allocations
from planner.plan.overrides import Override, apply_overrides, fitting_overrides, override_choices
from planner.results import PlanResult
from planner.scenario import Scenario
from tests.factories import allocation_settings, register_at

CODES = [f"E05{k:06d}" for k in range(8)]
BOROUGHS = pd.Series(["E09000007"] * 4 + ["E09000012"] * 4, index=CODES)


@pytest.fixture
def allocation():
    need = pd.Series([8.0, 4.0, 2.0, 1.0, 6.0, 3.0, 2.0, 1.0], index=CODES)
    return allocate_wards(need, BOROUGHS, pool=20, settings=allocation_settings())


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


def test_recorded_overrides_that_fit_are_kept_in_order_the_others_skipped(allocation):
    extra = allocation.wards["extra"]
    give = int(extra[CODES[0]])
    recorded = [
        (1, Override("E09000007", CODES[0], CODES[3], give, "all of them")),
        (2, Override("E09000007", CODES[0], CODES[2], 1, "none left to give")),
        (3, Override("E09000099", "E05999998", "E05999999", 1, "another ward vintage")),
        (4, Override("E09000012", CODES[4], CODES[7], 1, "fits")),
    ]
    fits, skipped = fitting_overrides(allocation, recorded)
    assert fits == [recorded[0][1], recorded[3][1]]
    assert [s["override"] for s in skipped] == [2]  # 3 is of other wards: left out silently
    assert "has 0 extra officer(s), cannot give 1" in skipped[0]["why not applied"]


def test_override_choices_give_only_what_a_ward_has(allocation):
    choices = override_choices(allocation, "E09000007")
    wards = allocation.wards
    assert choices.takers == CODES[:4]  # most need first
    assert choices.givers == [c for c in CODES[:4][::-1] if wards.loc[c, "extra"] > 0]


def test_scenario_comparison(allocation):
    need = allocation.wards["need"]
    bigger = allocate_wards(need, BOROUGHS, pool=30, settings=allocation_settings())
    wards, boroughs = compare_allocations(allocation, bigger, names=("600", "800"))
    assert wards["difference"].sum() == 10 and (wards["difference"] >= 0).all()  # house monotone
    assert boroughs["difference"].sum() == 10


@pytest.mark.integration
def test_600_officers_on_the_real_2022_wards(real_config, met_inputs):
    config = real_config
    assert config.pool == 600 and config.allocation.borough_floor_share == 0.8
    scenario = Scenario.from_config(config).changed(use_forecast=False)
    assert scenario.pool == 600 and scenario.allocation == config.allocation
    plan = api.plan(met_inputs, scenario)
    assert isinstance(plan, PlanResult) and plan.skipped_overrides == []
    wards, boroughs = plan.allocation.wards, plan.allocation.boroughs
    assert len(wards) == 679 and wards["extra"].sum() == 600
    assert (wards["total_dwo"] >= 2).all() and (wards["baseline_pcso"] == 1).all()
    assert len(boroughs) == 32 and boroughs["met_floor"].all()
    eq = plan.manifest.equity
    for key in (
        "worst_served_ratio",
        "worst_served_borough_ratio",
        "gini_officers_per_need",
        "max_abs_share_gap_borough",
    ):
        assert np.isfinite(eq[key])
    assert plan.manifest.scenario == scenario.to_dict()
    table = plan.ward_table()
    assert len(table) == 679 and table["need_score"].notna().all()
    assert len(plan.borough_table()) == 32
    # more need never means fewer extra officers among the eligible wards: the floors lift no
    # borough under the whole-team policy, and a cap only holds the top wards level
    eligible = wards[wards["eligible"]].sort_values("need")
    assert eligible["extra"].is_monotonic_increasing
    assert plan.allocation.equity["inversions_cross_borough"] == 0
    heathrow = config.allocation.special[0].code  # the special ward: scored, no extras
    assert not wards.loc[heathrow, "eligible"] and wards.loc[heathrow, "extra"] == 0
    capped = scenario.changed(max_extra_per_ward=1, pool=700)
    with pytest.raises(
        InfeasibleAllocationError, match="caps allow at most 678 officers.*pool has 700"
    ):
        api.plan(met_inputs, capped)


@pytest.mark.integration
def test_scenario_overrides_are_applied_after_the_allocation(real_config, met_inputs):
    scenario = Scenario.from_config(real_config).changed(use_forecast=False)
    plain = api.plan(met_inputs, scenario).allocation.wards
    borough = plain["borough_code"].iloc[0]
    mine = plain[plain["borough_code"] == borough].sort_values("extra")
    giver, taker = mine.index[-1], mine.index[0]
    move = Override(borough, giver, taker, 1, "a school exclusion zone")
    moved = api.plan(met_inputs, scenario.changed(overrides=(move,)))
    wards = moved.allocation.wards
    assert wards.loc[giver, "extra"] == plain.loc[giver, "extra"] - 1
    assert wards.loc[taker, "extra"] == plain.loc[taker, "extra"] + 1
    assert wards["override"].abs().sum() == 2 and wards["extra"].sum() == 600
    assert moved.manifest.scenario["overrides"][0]["reason"] == "a school exclusion zone"


@pytest.mark.integration
def test_the_registers_overrides_are_applied_once_and_misfits_skipped(
    real_config, met_inputs, tmp_path
):
    pytest.importorskip("sqlalchemy", reason="the plan register needs the store extra")
    scenario = Scenario.from_config(real_config).changed(use_forecast=False)
    plain = api.plan(met_inputs, scenario).allocation.wards
    borough = plain["borough_code"].iloc[0]
    mine = plain[plain["borough_code"] == borough].sort_values("extra")
    giver, taker = mine.index[-1], mine.index[0]
    register = register_at(f"sqlite:///{tmp_path / 'register.sqlite'}")
    wards = set(mine.index)
    first = register.record_override(
        borough, giver, taker, 1, "night-time economy", wards_in_borough=wards
    )
    too_many = register.record_override(
        borough, taker, giver, 99, "more than it has", wards_in_borough=wards
    )
    result = api.plan(met_inputs, scenario, register=register)
    assert [s["override"] for s in result.skipped_overrides] == [too_many]
    assert "cannot give 99" in result.skipped_overrides[0]["why not applied"]
    moved = result.allocation.wards
    assert moved.loc[giver, "extra"] == plain.loc[giver, "extra"] - 1
    assert moved.loc[taker, "extra"] == plain.loc[taker, "extra"] + 1
    assert [o.reason for o in result.scenario.overrides] == ["night-time economy"]
    assert first == int(register.overrides()["id"].iloc[0])
    # planning again from the plan's own scenario does not move the officer twice
    again = api.plan(met_inputs, result.scenario, register=register)
    pd.testing.assert_series_equal(again.allocation.wards["extra"], moved["extra"])
    assert len(again.scenario.overrides) == 1
