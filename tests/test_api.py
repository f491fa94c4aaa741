"""The application layer on the real data: one action, the same result from either front end."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from planner import api
from planner.cli import main
from planner.errors import PlannerWarning
from planner.scenario import Scenario
from tests.factories import register_at

pytestmark = pytest.mark.integration

APP = Path(__file__).resolve().parents[1] / "app.py"


def test_recorded_overrides_are_applied_once_and_kept_in_the_scenario(
    real_config, met_inputs, tmp_path
):
    register = register_at(f"sqlite:///{tmp_path / 'register.sqlite'}")
    scenario = Scenario.from_config(real_config).changed(use_forecast=False)
    before = api.plan(met_inputs, scenario, register=register)
    camden = before.allocation.wards[before.allocation.wards["borough_code"] == "E09000007"]
    giver = camden["extra"].idxmax()
    taker = camden["extra"].idxmin()
    register.record_override("E09000007", giver, taker, 1, "patrols")
    register.record_override("E09000007", taker, giver, 99, "too many to give")
    after = api.plan(met_inputs, scenario, register=register)
    assert [o.reason for o in after.scenario.overrides] == ["patrols"]
    assert (
        after.allocation.wards.at[taker, "extra"] == before.allocation.wards.at[taker, "extra"] + 1
    )
    assert [s["override"] for s in after.skipped_overrides] == [2]
    again = api.plan(met_inputs, after.scenario, register=register)  # not applied twice
    assert again.allocation.wards["extra"].equals(after.allocation.wards["extra"])
    assert after.manifest.scenario["overrides"][0]["reason"] == "patrols"


@pytest.mark.slow
def test_a_forecast_that_cannot_be_backtested_is_dropped_with_a_warning(real_config):
    scenario = Scenario.from_config(real_config, "policeuk-2014").changed(use_forecast=True)
    with pytest.warns(PlannerWarning, match="the forecast cannot be used with this data"):
        inputs = api.prepare(real_config, scenario)
    assert not inputs.use_forecast and "cannot be fitted to this data" in inputs.forecast_note
    assert api.absent_reasons(inputs)["forecast"].startswith("cannot be fitted")


def test_planner_score_drops_the_forecast_like_the_app(real_config, shared_data, tmp_path, capsys):
    code = main([
        "--data", str(shared_data), "--cache", str(real_config.cache_dir),
        "score", "--dataset", "policeuk-2014", "--forecast", "--out", str(tmp_path),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "warning: the forecast cannot be used with this data, so it is off" in captured.err
    assert "forecast: cannot be fitted to this data" in captured.out


@pytest.mark.slow
def test_a_plan_saved_from_the_app_and_from_the_cli_has_the_same_scenario(
    real_config, shared_data, tmp_path, monkeypatch
):
    from streamlit.testing.v1 import AppTest

    url = f"sqlite:///{tmp_path / 'register.sqlite'}"
    monkeypatch.setenv("PLANNER_DATA", str(shared_data))
    monkeypatch.setenv("PLANNER_DB_URL", url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PlannerWarning)
        at = AppTest.from_file(str(APP), default_timeout=300).run()
        at.switch_page("ui/pages/allocation.py").run()
        at.text_input(key="plan_name").input("from the app")
        at.button(key="save_plan").click().run()
    assert not at.exception, at.exception
    args = ["--data", str(shared_data), "--cache", str(real_config.cache_dir), "plan"]
    assert main([*args, "--formats", "csv", "--out", str(tmp_path), "--save", "from the cli"]) == 0
    register = register_at(url)
    plans = register.list_plans()
    by_name = {row.name: int(row.id) for row in plans.itertuples()}
    from_app = api.load_plan(register, by_name["from the app"])
    from_cli = api.load_plan(register, by_name["from the cli"])
    assert from_app.scenario is not None and from_app.scenario == from_cli.scenario
    assert from_app.wards["extra"].equals(from_cli.wards["extra"])
