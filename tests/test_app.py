"""Integration tests of the Streamlit app (app.py) with streamlit's AppTest, on the real data.

The app's slow step (prepare_need) is cached with st.cache_resource, which lives for the test
process: the first run of the real app takes ~10 s, later runs ~0.3-2 s. The map itself is a
custom component AppTest cannot draw (tests/test_browser.py checks it in a browser); its ward
selection is driven here through the "Ward" selectbox that the map's click also sets.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from planner import api
from planner.outputs import views
from planner.plan.allocation import allocate_wards
from planner.plan.overrides import Override, fitting_overrides
from planner.register import access, identity
from planner.register.access import COMMANDER, VIEWER, User
from planner.register.store import PlanRegister
from tests.factories import allocation_settings, register_at

pytest.importorskip("streamlit_folium", reason="the app needs streamlit-folium")
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "app.py"
CAMDEN = "E09000007"
SIDEBAR_KEYS = (
    "dataset",
    "borough",
    "use_forecast",
    "window_end",
    "harm_index",
    "w_harm",
    "w_asb",
    "w_forecast",
    "w_trend",
    "w_rate",
    "w_confidence",
    "pool",
    "policy",
    "method",
    "floor_share",
    "cap",
    "need_exponent",
    "current_staffing",
    "max_change",
)


@pytest.fixture
def register_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'register.sqlite'}"


@pytest.fixture
def app(monkeypatch, shared_data: Path, real_config, register_url: str) -> AppTest:
    """The app on the real data with its own plan register, run once (on the Map page)."""
    monkeypatch.setenv("PLANNER_DATA", str(shared_data))
    monkeypatch.setenv("PLANNER_CACHE", str(real_config.cache_dir))  # the session's ingest
    monkeypatch.setenv("PLANNER_DB_URL", register_url)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


PAGES = {
    "Map": "ui/pages/map.py",
    "Allocation": "ui/pages/allocation.py",
    "Borough priorities": "ui/pages/priorities.py",
    "Methodology and data quality": "ui/pages/methodology.py",
}


def open_page(at: AppTest, title: str) -> AppTest:
    """Open the app's page called *title* (its file under ui/pages/) and run it."""
    return at.switch_page(PAGES[title]).run()


def texts(at) -> str:
    """Every title, header, markdown and caption on the page (or in a block), one per line,
    as a person reads it (Markdown's backslash escapes removed)."""
    parts = [*at.title, *at.header, *at.subheader, *at.markdown, *at.caption]
    return "\n".join(shown(p.value) for p in parts)


def shown(markdown: object) -> str:
    """Markdown source as displayed: ``\\(`` reads ``(`` (CommonMark backslash escapes)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", str(markdown))


def allocation(at: AppTest):
    return at.get_by_key("allocation").dataframe[0].value


@pytest.mark.integration
def test_every_page_runs_and_the_widgets_have_keys(app):
    for key in SIDEBAR_KEYS:
        assert app.get_by_key(key) is not None
    assert app.title[0].value == "Ward need: All London"
    assert app.slider(key="w_asb").disabled
    assert "ASB: not in this data (the Met publishes none at ward level)" in texts(app)
    pages = {
        "Allocation": "Allocation: All London",
        "Borough priorities": "Borough priorities",
        "Methodology and data quality": "Methodology and data quality",
        "Map": "Ward need: All London",
    }
    for page, title in pages.items():
        open_page(app, page)
        assert not app.exception, (page, app.exception)
        assert not app.error, (page, [e.value for e in app.error])
        assert app.title[0].value == title
    assert app.get_by_key("map_layer") is not None
    assert app.get_by_key("show_hot_spots") is not None


@pytest.mark.integration
def test_a_chosen_ward_opens_its_panel(app):
    app.selectbox(key="borough").set_value(CAMDEN).run()
    app.selectbox(key="ward_pick").set_value("E05013655").run()  # Camden Town
    assert not app.exception, app.exception
    assert app.title[0].value == "Ward need: Camden"
    page = texts(app)
    assert "Camden Town" in [s.value for s in app.subheader]
    assert "Officers:" in page and "baseline 2 DWO + 1 PCSO" in page
    assert "of 20 in Camden" in page
    assert [m.label for m in app.metric] == ["London rank", "Borough rank", "Need score"]


@pytest.mark.integration
def test_a_weight_slider_changes_the_allocation(app):
    open_page(app, "Allocation")
    before = allocation(app)
    app.slider(key="w_harm").set_value(0.05).run()
    app.slider(key="w_rate").set_value(1.0).run()
    assert not app.exception, app.exception
    after = allocation(app)
    assert before["extra"].sum() == after["extra"].sum() == 600
    moved = (before["extra"] - after["extra"].reindex(before.index)).abs().sum()
    assert moved > 0
    score_change = (before["need score"] - after["need score"].reindex(before.index)).abs()
    assert score_change.max() > 0.01


def agree_fields(at: AppTest) -> list:
    """The priority selectboxes of the agreement form, in order."""
    return sorted(
        (w for w in at.selectbox if str(w.key).startswith("agree_priority_")),
        key=lambda w: str(w.key),
    )


def errors_of(at: AppTest) -> list[str]:
    return [shown(e.value) for e in at.error]


@pytest.mark.integration
def test_agreeing_priorities_writes_the_register_and_shows_them(app, register_url):
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Borough priorities")
    assert app.title[0].value == "Local priorities: Camden"
    proposed = [w.value for w in agree_fields(app)]
    assert len(proposed) == 2 and None not in proposed  # the proposals, filled in
    app.text_input(key="agree_by").input("Borough commander and council leader")
    year = int(app.number_input(key="plan_year").value)
    assert year == api.plan_year(app.selectbox(key="window_end").value)  # the next April's year
    app.button(key="agree").click().run()
    assert not app.exception, app.exception
    record = register_at(register_url).agreed_priorities(CAMDEN, year)
    assert record is not None
    assert record["priorities"] == proposed
    assert record["agreed_by"] == "Borough commander and council leader"
    assert all(s.startswith(p) for s, p in zip(record["evidence"], proposed, strict=True))
    page = texts(app)
    assert f"Agreed for {year}:" in page and proposed[0] in page


@pytest.mark.integration
def test_exactly_two_priorities_are_agreed_never_three_or_a_repeat(app, register_url):
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Borough priorities")
    fields = agree_fields(app)
    assert [f.label for f in fields] == ["First priority", "Second priority"]  # n_priorities
    assert not app.multiselect  # no "Select all", no third choice
    candidates = fields[0].options
    assert len(candidates) >= 3
    fields[1].set_value(fields[0].value)  # the same priority twice
    app.button(key="agree").click().run()
    assert not app.exception, app.exception
    errors = errors_of(app)
    assert any("is chosen twice: choose 2 different priorities" in e for e in errors), errors
    assert any("Say who agreed these priorities" in e for e in errors), errors
    assert any(e.startswith("Nothing was recorded") for e in errors), errors
    year = int(app.number_input(key="plan_year").value)
    assert register_at(register_url).agreed_priorities(CAMDEN, year) is None


@pytest.mark.integration
def test_agreeing_a_year_again_needs_an_explicit_replace(app, register_url):
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Borough priorities")
    year = int(app.number_input(key="plan_year").value)
    app.text_input(key="agree_by").input("Commander and leader")
    app.button(key="agree").click().run()
    first = register_at(register_url).agreed_priorities(CAMDEN, year)
    assert first is not None
    app.run()  # the page as it is next opened
    warning = " ".join(w.value for w in app.warning)
    assert f"Priorities for {year} were already agreed on" in warning
    assert "Agreeing again replaces that agreement" in warning
    fields = agree_fields(app)
    other = next(c for c in fields[0].options if c not in first["priorities"])
    fields[1].set_value(other)
    app.text_input(key="agree_by").input("Commander and leader")
    app.button(key="agree").click().run()
    assert not app.exception, app.exception
    assert any("tick the box to replace that agreement" in e for e in errors_of(app))
    register = register_at(register_url)
    assert register.agreed_priorities(CAMDEN, year)["priorities"] == first["priorities"]
    assert len(register.priorities_history(CAMDEN)) == 1
    app.checkbox(key="agree_replace").check()
    app.button(key="agree").click().run()
    assert not app.exception, app.exception
    assert register.agreed_priorities(CAMDEN, year)["priorities"][1] == other
    assert len(register.priorities_history(CAMDEN)) == 2  # the old one kept in the history


@pytest.mark.integration
def test_an_override_is_recorded_applied_and_a_plan_saved(app, register_url):
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Allocation")
    source = app.selectbox(key="override_from").value
    target = app.selectbox(key="override_to").value
    before = allocation(app)
    app.text_input(key="override_reason").input("Night-time economy patrols")
    app.button(key="record_override").click().run()
    assert not app.exception, app.exception
    register = register_at(register_url)
    assert register.overrides(borough_code=CAMDEN)["reason"].tolist() == [
        "Night-time economy patrols"
    ]
    after = allocation(app)
    assert after.at[target, "extra"] == before.at[target, "extra"] + 1
    assert after.at[source, "extra"] == before.at[source, "extra"] - 1
    assert after.at[target, "override"] == 1
    assert "1 recorded override(s) applied" in texts(app)
    app.text_input(key="plan_name").input("Camden draft")
    app.button(key="save_plan").click().run()
    assert not app.exception, app.exception
    meta, saved = register.load_plan(register.latest_plan())
    assert meta["name"] == "Camden draft" and saved.at[target, "extra"] == after.at[target, "extra"]
    app.number_input(key="pool").set_value(700).run()
    assert "Compared with plan" in texts(app)


@pytest.mark.integration
def test_all_zero_weights_keep_the_page_and_say_what_to_change(app):
    sliders = [w for w in app.slider if str(w.key).startswith("w_") and not w.disabled]
    assert len(sliders) >= 3  # every component the data have
    for slider in sliders:
        slider.set_value(0.0)
    app.run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Ward need: All London"  # the page is still there
    message = app.error[0].value
    assert message.startswith("**Need weights: all 0** cannot be used.")
    assert "the configured weights (Harm 0.45" in message
    assert "{" not in message and "components:" not in message  # no raw dict or exception
    app.button(key="use_nearest").click().run()
    assert not app.error and app.slider(key="w_harm").value == 0.45


@pytest.mark.integration
def test_an_impossible_cap_keeps_the_page_naming_the_setting_and_the_nearest_value(app):
    open_page(app, "Allocation")
    app.number_input(key="cap").set_value(1).run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Allocation: All London"  # the page, not one line
    message = app.error[0].value
    assert message.startswith("**Per-ward cap on extra officers: 1** cannot be used.")
    assert "The nearest value that works is **3**" in message  # 2 fails Westminster's floor
    assert "floor needs" not in message and "E09000033" not in message  # no developer words
    assert allocation(app)["extra"].max() <= 3 and allocation(app)["extra"].sum() == 600
    app.button(key="use_nearest").click().run()
    assert app.number_input(key="cap").value == 3 and not app.error


def test_without_data_the_app_explains_how_to_get_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PLANNER_DATA", str(tmp_path / "empty"))
    monkeypatch.setenv("PLANNER_DB_URL", f"sqlite:///{tmp_path / 'register.sqlite'}")
    (tmp_path / "empty").mkdir()
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "The ward data are not here yet"
    page = texts(at)
    assert "planner fetch --from ../shared/data" in page
    assert "PLANNER_DATA=" in page
    assert "input not found" in at.warning[0].value


@pytest.mark.integration
@pytest.mark.filterwarnings("ignore::planner.errors.PlannerWarning")
def test_a_forecast_that_cannot_be_fitted_is_turned_off_with_a_reason(app):
    """The 2016-17 police.uk extract has 18 months: too short for the forecast's backtest."""
    app.selectbox(key="dataset").set_value("policeuk-2014").run()
    assert not app.exception, app.exception
    assert not app.slider(key="w_asb").disabled  # police.uk data carry ASB
    app.toggle(key="use_forecast").set_value(True).run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert "The forecast cannot be used with this data" in app.sidebar.warning[0].value
    assert app.slider(key="w_forecast").disabled
    assert "Forecast: cannot be fitted to this data" in texts(app.sidebar)


# --- who is signed in (planner.register) ------------------------------------------------------

VIEWER_USER = User("viewer@example.org", VIEWER)
CAMDEN_COMMANDER = User("cmdr@met.police.uk", COMMANDER, frozenset({CAMDEN}))


def run_as(monkeypatch, user: User) -> AppTest:
    """The app with sign-in resolving every session to *user* (as a sign-in would)."""
    monkeypatch.setattr(identity, "resolve_user", lambda **_: user)
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    assert not at.exception, at.exception
    return at


def keys_of(elements) -> set[str]:
    return {e.key for e in elements}


@pytest.mark.integration
def test_local_mode_is_named_in_the_sidebar_and_the_forms_are_offered(app):
    assert "Local mode: single local planner — no sign-in configured" in texts(app.sidebar)
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Allocation")
    assert {"record_override", "save_plan"} <= keys_of(app.button)
    open_page(app, "Borough priorities")
    assert "agree" in keys_of(app.button)


@pytest.mark.integration
def test_a_viewer_is_not_offered_the_forms_and_is_told_why(monkeypatch, app, register_url):
    at = run_as(monkeypatch, VIEWER_USER)
    assert "Signed in as viewer@example.org (viewer)" in texts(at.sidebar)
    at.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(at, "Allocation")
    assert not at.exception, at.exception
    assert not {"record_override", "save_plan"} & keys_of(at.button)
    notes = [i.value for i in at.info]
    assert any("(viewer) may not record an override" in n for n in notes), notes
    assert any("(viewer) may not save a plan" in n for n in notes), notes
    open_page(at, "Borough priorities")
    assert "agree" not in keys_of(at.button)
    assert any("(viewer) may not record agreed priorities" in i.value for i in at.info)
    register = register_at(register_url)
    assert register.overrides().empty and register.latest_plan() is None


@pytest.mark.integration
def test_a_commander_records_overrides_in_their_borough_under_their_own_name(
    monkeypatch, app, register_url
):
    at = run_as(monkeypatch, CAMDEN_COMMANDER)
    assert "Signed in as cmdr@met.police.uk (borough commander of" in texts(at.sidebar)
    at.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(at, "Allocation")
    assert "record_override" in keys_of(at.button)
    assert "override_by" not in keys_of(at.text_input)  # the record carries the user's name
    assert "save_plan" not in keys_of(at.button)
    at.text_input(key="override_reason").input("Night-time economy patrols")
    at.button(key="record_override").click().run()
    assert not at.exception, at.exception
    recorded = register_at(register_url).overrides(borough_code=CAMDEN)
    assert recorded["recorded_by"].tolist() == ["cmdr@met.police.uk"]
    open_page(at, "Borough priorities")
    assert "agree" not in keys_of(at.button)
    assert any("may not record agreed priorities" in i.value for i in at.info)


@pytest.mark.integration
def test_a_refusal_by_the_register_is_an_error_message_not_a_traceback(monkeypatch, app):
    def refuse(self, *args, user, **kwargs):
        access.check(VIEWER_USER, access.RECORD_OVERRIDE, args[0])

    monkeypatch.setattr(PlanRegister, "record_override", refuse)
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Allocation")
    app.text_input(key="override_reason").input("Patrols")
    app.button(key="record_override").click().run()
    assert not app.exception, app.exception
    assert "(viewer) may not record an override" in shown(app.error[0].value)


@pytest.mark.integration
def test_the_methodology_page_offers_the_upload(app):
    open_page(app, "Methodology and data quality")
    assert not app.exception, app.exception
    labels = [e.label for e in app.expander]
    assert "Upload your own incident CSV or ward file" in labels


@pytest.mark.integration
def test_current_staffing_upload_shows_current_proposed_and_change_and_damps(app, tmp_path):
    """The template from the Allocation page, filled in and uploaded in the sidebar."""
    open_page(app, "Allocation")
    ctx = app.session_state["planner_context"]
    template = api.write_staffing_template(ctx.inputs, ctx.scenario, tmp_path / "current.csv")
    teams = pd.read_csv(template)
    assert len(teams) == len(ctx.inputs.wards) and set(teams.columns) >= {"ward_code", "dwo"}
    teams.loc[teams["ward_code"] == "E05013655", "dwo"] = 6  # Camden Town has 4 extras now
    app.file_uploader(key="current_staffing").set_value(
        ("current.csv", teams.to_csv(index=False).encode(), "text/csv")
    ).run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    table = allocation(app)
    assert {"current DWO", "proposed DWO", "change"} <= set(table.columns)
    row = table.loc["E05013655"]
    assert row["current DWO"] == 6 and row["change"] == row["proposed DWO"] - 6
    assert f"Current staffing given for {len(teams)} of" in texts(app)
    app.number_input(key="max_change").set_value(1).run()  # damping now possible
    assert not app.exception, app.exception
    damped = allocation(app)
    moved = damped["proposed DWO"] - damped["current DWO"].clip(lower=2)
    assert moved.abs().max() <= 1
    assert "Damping: extras move at most 1 per ward." in texts(app)


@pytest.mark.integration
def test_a_bad_staffing_file_is_an_error_naming_the_row(app):
    bad = b"ward_code,dwo,pcso\nE05013655,two,1\n"
    app.file_uploader(key="current_staffing").set_value(("bad.csv", bad, "text/csv")).run()
    assert not app.exception, app.exception
    assert "bad.csv: row(s) 2: dwo is not a whole number of officers" in shown(app.error[0].value)


@pytest.mark.integration
def test_the_special_ward_is_labelled_and_gets_no_extras(app):
    app.selectbox(key="ward_pick").set_value("E05013570").run()  # Heathrow Villages
    assert not app.exception, app.exception
    info = [i.value for i in app.info]
    assert any("Special ward: Heathrow Airport" in i and "no extras" in i for i in info), info
    open_page(app, "Allocation")
    table = allocation(app)
    assert table.loc["E05013570", "extra"] == 0
    assert table.loc["E05013570", "note"].startswith("special: Heathrow Airport")


@pytest.mark.integration
def test_the_borough_view_shows_the_pas_panel(app):
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Allocation")
    assert not app.exception, app.exception
    panel = app.get_by_key("pas_allocation")
    table = panel.dataframe[0].value
    assert list(table["measure"]) == list(
        app.session_state["planner_context"].config.yardsticks.confidence.measures
    )
    assert "Public confidence in Camden" in texts(panel)
    assert "Survey quarter ending 31 December 2023" in texts(panel)
    open_page(app, "Borough priorities")  # beside the crime evidence too
    assert not app.exception, app.exception
    beside = app.get_by_key("pas_priorities")
    assert beside.dataframe[0].value.equals(table)


# --- text from data or people is escaped at every Markdown sink ----------------------------

HOSTILE = "<img src=x onerror=alert(1)> ![t](http://evil.example/t.png) **bold** :red[x]"


def markup_left(source: str) -> list[str]:
    """Characters of *source* that Markdown would still read as markup (not backslashed)."""
    left, escaped = [], False
    for char in source:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "<>![]()*_`:$~|#":
            left.append(char)
    return left


def sources(at) -> list[str]:
    parts = [*at.title, *at.subheader, *at.markdown, *at.caption, *at.error, *at.warning]
    return [str(p.value) for p in parts]


def hostile_sink(at, text: str = HOSTILE) -> str:
    """The one Markdown source that shows *text*; fails if it is there raw."""
    raw = [s for s in sources(at) if text in s]
    assert not raw, f"shown unescaped: {raw}"
    shows = [s for s in sources(at) if text in shown(s)]
    assert shows, f"{text!r} is not shown at all"
    return shows[0]


@pytest.mark.parametrize(
    "text",
    [HOSTILE, "a\\*b", "line one\n# heading", "[x](javascript:alert(1))", "$x$ ~~y~~ `z`"],
    ids=["html-image-bold-colour", "backslash", "newline-heading", "link", "maths-strike-code"],
)
def test_plain_text_shows_as_typed_and_leaves_no_markup(text):
    from planner.outputs.present import plain

    out = plain(text)
    assert shown(out) == " ".join(text.splitlines())
    assert markup_left(out) == []


@pytest.mark.integration
def test_agreed_by_notes_and_priority_names_are_escaped(app, register_url):
    year = api.plan_year(app.selectbox(key="window_end").value)
    register_at(register_url).record_priorities(
        CAMDEN, "Camden", year, [f"Burglary {HOSTILE}", "Robbery"], agreed_by=HOSTILE,
        notes=f"Notes {HOSTILE}",
    )  # fmt: skip
    app.selectbox(key="borough").set_value(CAMDEN).run()
    open_page(app, "Borough priorities")
    assert not app.exception, app.exception
    record = hostile_sink(app)  # agreed by, in the agreement box and the re-agree warning
    assert markup_left(record.split("by ", 1)[1].split(" on ")[0]) == []
    assert hostile_sink(app, f"Notes {HOSTILE}")
    assert hostile_sink(app, f"Burglary {HOSTILE}")


@pytest.mark.integration
def test_plan_name_and_saved_by_are_escaped(app):
    open_page(app, "Allocation")
    app.text_input(key="plan_name").input(f"Plan {HOSTILE}")
    app.text_input(key="plan_by").input(f"By {HOSTILE}")
    app.button(key="save_plan").click().run()
    app.run()  # the comparison with the saved plan
    assert not app.exception, app.exception
    line = hostile_sink(app, f"Plan {HOSTILE}")
    assert f"By {HOSTILE}" in shown(line) and f"By {HOSTILE}" not in line


@pytest.mark.integration
def test_an_uploaded_file_name_is_escaped(app):
    name = "<img src=x onerror=alert(1)>.csv"
    bad = b"ward_code,dwo,pcso\nE05013655,two,1\n"
    app.file_uploader(key="current_staffing").set_value((name, bad, "text/csv")).run()
    assert not app.exception, app.exception
    message = app.sidebar.error[0].value
    assert name not in message and name in shown(message)
    assert markup_left(message.split(".csv", 1)[0]) == []


# --- the page tables, on a tiny allocation (no data needed) ---------------------------------

WARDS = ["E05000001", "E05000002", "E05000003", "E05000004"]


@pytest.fixture
def tiny_allocation():
    need = pd.Series([4.0, 2.0, 1.0, 1.0], index=pd.Index(WARDS, name="ward_code"))
    boroughs = pd.Series(["E09000001", "E09000001", "E09000002", "E09000002"], index=need.index)
    return allocate_wards(need, boroughs, pool=8, settings=allocation_settings())


def recorded(*rows):
    return [(row[0], Override(*row[1:])) for row in rows]


def test_overrides_that_fit_are_kept_in_order_and_the_rest_say_why(tiny_allocation):
    extra = tiny_allocation.wards["extra"]
    assert extra.tolist() == [4, 2, 1, 1]
    fits, skipped = fitting_overrides(
        tiny_allocation,
        recorded(
            (1, "E09000001", "E05000002", "E05000001", 1, "patrols", "cmdr"),
            (2, "E09000002", "E05000003", "E05000004", 5, "too many", "cmdr"),
            (3, "E09000003", "E05999998", "E05999999", 1, "other wards", "cmdr"),
            (4, "E09000001", "E05000002", "E05000001", 1, "again", "cmdr"),
        ),
    )
    assert [(o.from_ward, o.officers, o.reason) for o in fits] == [
        ("E05000002", 1, "patrols"),
        ("E05000002", 1, "again"),
    ]
    assert [s["override"] for s in skipped] == [2]
    assert "cannot give 5" in skipped[0]["why not applied"]


def test_the_difference_from_a_saved_plan_lists_changed_wards_and_borough_totals(
    tiny_allocation,
):
    now = tiny_allocation.wards
    saved = now[["borough_code", "extra"]].copy()
    saved.loc["E05000001", "extra"] -= 1
    saved.loc["E05000002", "extra"] += 1
    names = pd.DataFrame(
        {
            "ward_name": ["A", "B", "C", "D"],
            "borough_name": ["One", "One", "Two", "Two"],
            "borough_code": now["borough_code"],
        },
        index=now.index,
    )
    wards, boroughs = views.plan_diff(now, saved, names=names)
    assert wards["change"].to_dict() == {"E05000001": 1, "E05000002": -1}
    assert boroughs["change"].tolist() == [0, 0]
    assert boroughs["now"].sum() == 8
