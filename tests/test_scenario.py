"""The Scenario: built from the configuration, changed by options, one shape in and out."""

from __future__ import annotations

import dataclasses

import pytest

from planner.errors import ConfigError
from planner.plan.overrides import Override
from planner.scenario import CurrentTeam, Scenario
from tests.factories import shipped_config


@pytest.fixture
def base() -> Scenario:
    return Scenario.from_config(shipped_config())


def test_from_config_takes_the_files_values(base):
    config = shipped_config()
    assert base.dataset == config.dataset().name == "met-2022"
    assert base.pool == config.pool and base.need == config.need
    assert base.allocation == config.allocation and base.use_forecast is config.use_forecast
    assert base.window_end is None and base.overrides == () and base.current == ()


def test_changed_ignores_none_and_reaches_the_nested_settings(base):
    same = base.changed(pool=None, method=None, harm_index=None)
    assert same == base
    other = base.changed(pool=0, method="dhondt", harm_index="css", max_extra_per_ward=0)
    assert other.pool == 0  # 0 is a pool, not "the default"
    assert other.allocation.method == "dhondt" and other.need.harm_index == "css"
    assert other.allocation.max_extra_per_ward == 0
    assert other.changed(no_cap=True).allocation.max_extra_per_ward is None
    assert base.need.harm_index == "cchi" and base.pool == 600  # frozen: base unchanged


def test_changed_refuses_unknown_choices_and_bad_values(base):
    with pytest.raises(ConfigError, match=r"unknown scenario choice\(s\) \['pools'\]"):
        base.changed(pools=3)
    with pytest.raises(ConfigError, match="pool must be a whole number of officers >= 0"):
        base.changed(pool=-1)
    with pytest.raises(ConfigError, match="borough_floor_share must be in"):
        base.changed(borough_floor_share=2.0)
    with pytest.raises(ConfigError, match="window_end must be 'YYYY-MM'"):
        base.changed(window_end="2025-13")


def test_damping_needs_the_current_teams(base):
    with pytest.raises(ConfigError, match="max_change 1 needs each ward's current team"):
        base.changed(max_change=1)
    teams = (CurrentTeam("E05000001", 3, 1), CurrentTeam("E05000002", 2, 1))
    damped = base.changed(max_change=1, current=teams)
    assert damped.allocation_settings().current_extra.to_dict() == {
        "E05000001": 1,
        "E05000002": 0,
    }


def test_to_dict_and_back_is_the_same_scenario(base):
    scenario = base.changed(
        window_end="2025-06",
        pool=321,
        method="hamilton",
        excluded=frozenset({"E05013570"}),
        weights={**base.need.weights, "trend": 0.0},
        overrides=(Override("E09000007", "E05013655", "E05013656", 1, "patrols", "cmdr"),),
        current=(CurrentTeam("E05013655", 2, 1),),
    )
    data = scenario.to_dict()
    assert data["allocation"]["excluded"] == ["E05013570"]
    assert data["overrides"][0]["reason"] == "patrols"
    back = Scenario.from_dict(data)
    assert back == scenario and back.key() == scenario.key()
    assert base.key() != scenario.key() and len(base.key()) == 12


def test_from_dict_names_every_problem():
    data = Scenario.from_config(shipped_config()).to_dict()
    data["pool"] = "many"
    data["allocation"]["method"] = "fastest"
    del data["need"]["weights"]
    with pytest.raises(ConfigError) as info:
        Scenario.from_dict(data, where="saved plan 3")
    message = str(info.value)
    assert "saved plan 3 [allocation]: 'method' should be one of 'webster'" in message
    assert "saved plan 3 [need]: missing key 'weights'" in message


def test_a_scenario_is_frozen(base):
    with pytest.raises(dataclasses.FrozenInstanceError):
        base.pool = 5  # type: ignore[misc]
