"""The app's shell: sign-in, the sidebar that builds a Scenario, caching, the page context.

:func:`build` runs at the top of every rerun (from ``app.py``): it reads the sidebar into a
:class:`~planner.scenario.Scenario`, asks :mod:`planner.api` for the prepared data (cached per
process) and the plan (every rerun: it is fast), and publishes a :class:`Context` that the page
files read with :func:`current`. Nothing here decides anything about wards, officers or
priorities: every rule is in :mod:`planner`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from planner import api
from planner.config import (
    COMPONENTS,
    METHODS,
    POLICIES,
    PlannerConfig,
    default_config_dir,
    load_config,
)
from planner.errors import DataError
from planner.ingest import input_files
from planner.ingest.uploads import check_upload
from planner.model.hotspots import HotSpots, hot_spots
from planner.model.need import NeedInputs
from planner.outputs import mapping, present
from planner.outputs.present import plain
from planner.plan.basket import Basket
from planner.plan.evidence import Evidence
from planner.plan.staffing import read_staffing
from planner.plan.yardsticks import Yardsticks
from planner.register import identity
from planner.register.access import LOCAL_PLANNER, PermissionDenied, User, check
from planner.register.identity import SignInRequired
from planner.register.store import PlanRegister
from planner.results import PlanResult
from planner.scenario import CurrentTeam, Scenario
from ui import feasible

__all__ = [
    "ALL_LONDON",
    "BOROUGH_HELP",
    "Context",
    "build",
    "current",
    "data_missing",
    "missing",
    "page_style",
    "refusal",
    "warm",
]

ALL_LONDON = "All London"
BOROUGH_HELP = (
    "Zooms the map, filters the tables, and picks the borough for overrides, priorities and "
    "the borough pack."
)
_CONTEXT = "planner_context"
_MISSING = "planner_missing"
_BOROUGH = "borough"  # the borough picker's key: pages show it (ui.parts.borough_picker)

# Streamlit's theme has no setting for these, so a little CSS (WCAG 2.2 AA, issue 13):
# - captions and disabled labels are drawn in the text colour at 60 % opacity (disabled labels
#   2.3:1); #4b5563 at full opacity reads 7.6:1 on white and 6.9:1 on the sidebar's #f3f4f6
#   (1.4.3 asks 4.5:1; the theme's own faded text is checked in tests/test_colourvision.py);
# - labels, metric tiles and buttons cut their text with an ellipsis ("28 % of ext..." at
#   1440 px, "Save p...", "Hot spot..." at 1024 px): they wrap;
# - a sidebar section label reads like a heading without being one, so the page's h1 is the
#   first heading (the sidebar comes first in the document).
_STYLE = """
<style>
[data-testid="stCaptionContainer"],
[data-testid="stWidgetLabel"][disabled] p,
[data-testid="stWidgetLabel"][aria-disabled="true"] p { color: #4b5563; opacity: 1; }
.stMarkdownEllipsis,
.stMarkdownEllipsis p {
  white-space: normal; overflow: visible; text-overflow: clip; overflow-wrap: anywhere;
}
[data-testid="stSidebar"] .st-key-section_data p,
[data-testid="stSidebar"] .st-key-section_need_weights p,
[data-testid="stSidebar"] .st-key-section_allocation p {
  font-size: 1.1rem; font-weight: 600; margin: 0.5rem 0 0;
}
</style>
"""


@dataclass
class Context:
    """Everything a page needs: the scenario chosen and the results built from it."""

    config: PlannerConfig
    key: tuple[Any, ...]  # the prepared data's cache key
    scenario: Scenario
    inputs: NeedInputs
    plan: PlanResult
    register: PlanRegister
    borough: str | None  # a borough code, or None for all London
    boroughs: pd.Series  # code -> name
    absent: dict[str, str]  # component -> why it is absent
    user: User = LOCAL_PLANNER

    @property
    def writes_off(self) -> str | None:
        """Why the plan register cannot be written (read-only), or None when it can."""
        return self.register.writes_unavailable()

    def display(self) -> gpd.GeoDataFrame:
        """Every ward (the City too), simplified for the map."""
        return _display(self.inputs, self.key)

    def base(self) -> mapping.BaseLayers:
        """The map's own base (borough outlines, the Thames), drawn without tiles."""
        return _base(self.inputs, self.key[:3])

    def hot_spots(self) -> HotSpots:
        """Gi* hot spots of harm under the scenario's harm index."""
        return _hot_spots(self.inputs, self.config, self.key, self.scenario.need.harm_index)

    def evidence(self) -> tuple[Evidence, Basket]:
        """The priority evidence and basket of every borough."""
        return _evidence(self.inputs, self.config, self.key)

    def yardsticks(self) -> Yardsticks:
        """The plan against harm, residents, ASB, deprivation and public confidence."""
        return api.yardsticks(self.plan, self.config)


def current() -> Context:
    """The context :func:`build` published for this rerun."""
    return st.session_state[_CONTEXT]


def refusal(user: User, action: str, borough: str | None = None) -> str | None:
    """Why *user* may not do *action* (in *borough*), or None when they may."""
    try:
        check(user, action, borough)
    except PermissionDenied as exc:
        return exc.reason
    return None


# --- caching: slow things once per process, shared by every session (never mutated) --------


@st.cache_resource(show_spinner=False)
def _config(config_dir: str, data_dir: str, cache_dir: str = "") -> PlannerConfig:
    config = load_config(config_dir)
    config = config.with_data_dir(data_dir) if data_dir else config
    return config.with_cache_dir(cache_dir) if cache_dir else config


@st.cache_resource(show_spinner="Loading the ward data...")
def _prepare(_config: PlannerConfig, key: tuple[Any, ...], _scenario: Scenario) -> NeedInputs:
    return api.prepare_kept(_config, _scenario)  # kept on disk: a restarted server is quick


@st.cache_resource(show_spinner=False)
def _display(_inputs: NeedInputs, key: tuple[Any, ...]) -> gpd.GeoDataFrame:
    return mapping.display_wards(_inputs.all_wards)


@st.cache_resource(show_spinner=False)
def _base(_inputs: NeedInputs, key: tuple[Any, ...]) -> mapping.BaseLayers:
    return mapping.base_layers(_inputs.all_wards)


@st.cache_resource(show_spinner="Finding hot spots (Getis-Ord Gi*, 999 permutations)...")
def _hot_spots(
    _inputs: NeedInputs, _config: PlannerConfig, key: tuple[Any, ...], index: str
) -> HotSpots:
    return hot_spots(_inputs.features[index]["harm"], _inputs.wards, _config.hotspots)


@st.cache_resource(show_spinner="Measuring the evidence for every borough...")
def _evidence(
    _inputs: NeedInputs, _config: PlannerConfig, key: tuple[Any, ...]
) -> tuple[Evidence, Basket]:
    return api.evidence(_inputs, _config)


@st.cache_resource(show_spinner=False)
def _register(_config: PlannerConfig, config_dir: str, db_url: str) -> PlanRegister:
    return PlanRegister.from_config(_config)


# --- the shell -------------------------------------------------------------------------------


def folders() -> tuple[str, str]:
    """(config folder, data folder); "" data folder = the config's data_dir."""
    return str(default_config_dir()), os.environ.get("PLANNER_DATA", "").strip()


def data_missing() -> tuple[PlannerConfig, str | None]:
    """The configuration, and why the chosen dataset cannot be loaded (None when it can)."""
    config = _config(*folders(), os.environ.get("PLANNER_CACHE", "").strip())
    datasets = list(config.datasets)
    _keep_valid("dataset", datasets)
    st.sidebar.selectbox(
        "Data set",
        datasets,
        index=datasets.index(config.dataset().name),
        key="dataset",
        help="\n\n".join(f"**{d.name}**: {d.description}" for d in config.datasets.values()),
    )
    try:
        input_files(config, config.dataset(st.session_state["dataset"]))
    except DataError as exc:
        st.session_state[_MISSING] = (config.data_dir.resolve(), str(exc))
        return config, str(exc)
    return config, None


def page_style() -> None:
    """The app's CSS: caption contrast, wrapping metric tiles, sidebar section labels."""
    st.html(_STYLE)


def missing() -> tuple[Path, str]:
    """Where the data were looked for, and what is missing (for the get-the-data page)."""
    return st.session_state[_MISSING]


def build(config: PlannerConfig) -> Context:
    """Read the sidebar, prepare the data (cached), plan (every rerun); publish the context."""
    config_dir, data_dir = folders()
    user = _signed_in_user(config)
    base = Scenario.from_config(config, st.session_state["dataset"])
    scenario, inputs, key = _data_controls(config, base, config_dir, data_dir)
    absent = api.absent_reasons(inputs)
    need, used_spots = _need_controls(inputs, scenario, absent)
    scenario = scenario.changed(**need)
    scenario = scenario.changed(**_allocation_controls(scenario))
    names = api.borough_names(inputs)
    borough = _chosen_borough(names)
    register = _register(config, config_dir, os.environ.get("PLANNER_DB_URL", ""))
    _read_only_notice(register)
    plan, repair = feasible.plan_or_nearest(
        inputs, scenario, register=register, defaults=base, absent=list(absent)
    )
    if repair is not None:
        feasible.show_repair(repair)
    _weights_used(plan.need.weights_used, used_spots)
    ctx = Context(config, key, plan.scenario, inputs, plan, register, borough, names, absent, user)
    st.session_state[_CONTEXT] = ctx
    return ctx


def _signed_in_user(config: PlannerConfig) -> User:
    # the address the server listens on: header and local mode refuse one beyond loopback
    source = identity.identity_source(
        config, server_address=str(st.get_option("server.address") or "")
    )
    email = _oidc_email() if source.mode == "oidc" else None
    claims = st.user.to_dict() if email else None  # email_verified is checked
    # the headers object itself: it keeps repeated headers, which are refused (dict() would not)
    headers = st.context.headers if source.mode == "header" else None
    try:
        user = identity.resolve_user(
            oidc_email=email, oidc_claims=claims, headers=headers, config=config
        )
    except SignInRequired as exc:
        st.title("Sign in to use the planner")
        if source.mode == "oidc":
            st.info(source.description)
            st.button("Sign in", key="sign_in", on_click=st.login, type="primary")
        else:
            st.error(plain(exc))
        st.stop()
    bar = st.sidebar
    if user.is_local:
        bar.caption(
            "Local mode: single local planner — no sign-in configured",
            help=source.description,
        )
    else:
        bar.caption(f"Signed in as {plain(user.describe())}", help=source.description)
        if source.mode == "oidc":
            bar.button("Sign out", key="sign_out", on_click=st.logout)
    return user


def _oidc_email() -> str | None:
    """The signed-in e-mail from ``st.user``, or None (st.user raises without [auth])."""
    try:
        if not st.user.is_logged_in:
            return None
        email = st.user.get("email")
    except Exception:  # streamlit raises various errors when auth is not set up
        return None
    return str(email) if email else None


def _section(bar: Any, label: str) -> None:
    """A sidebar section's label: bold text, not a heading (the page's h1 comes first)."""
    key = "section_" + label.lower().replace(" ", "_")
    bar.container(key=key).markdown(f"**{label}**")


def _keep_valid(key: str, options: list[Any]) -> None:
    """Forget a widget's stored value that is not among its options any more."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def _data_controls(
    config: PlannerConfig, base: Scenario, config_dir: str, data_dir: str
) -> tuple[Scenario, NeedInputs, tuple[Any, ...]]:
    """Forecast toggle and window end: the scenario's data part, and the prepared inputs."""
    bar = st.sidebar
    _section(bar, "Data")
    use_forecast = bar.toggle(
        "Use forecast (slow first time)",
        value=base.use_forecast,
        key="use_forecast",
        help="Fit the ward harm forecast and backtest it against naive baselines (a few "
        "seconds the first time, then cached). It enters the need index only if it beats them.",
    )

    def load(window_end: str | None) -> tuple[Scenario, NeedInputs, tuple[Any, ...]]:
        scenario, key = _data_scenario(base, use_forecast, window_end, config_dir, data_dir)
        inputs = _prepare(config, key, scenario)
        if use_forecast and not inputs.use_forecast:
            note = inputs.forecast_note
            bar.warning(f"The forecast cannot be used with this data, so it is off: it {note}")
        return scenario, inputs, key

    scenario, inputs, key = load(None)
    ends = api.window_ends(inputs)
    if st.session_state.get("window_end") not in (None, *ends):
        # another data set: its newest month, set (not just forgotten) so the browser shows it
        st.session_state["window_end"] = ends[0]
    end = bar.selectbox(
        "Window end month",
        ends,
        key="window_end",
        help=f"The need index measures the {len(inputs.window)} months ending here; the newest "
        "month is the default.",
    )
    if end not in (None, inputs.window.end):
        scenario, inputs, key = load(end)
    if inputs.notes:
        with bar.expander("Notes on this data"):
            for note in inputs.notes:
                st.caption(plain(note))
    return scenario, inputs, key


def _data_scenario(
    base: Scenario, use_forecast: bool, window_end: str | None, config_dir: str, data_dir: str
) -> tuple[Scenario, tuple[Any, ...]]:
    """The scenario's data part and the key its prepared data are cached under."""
    scenario = base.changed(use_forecast=use_forecast, window_end=window_end)
    return scenario, (config_dir, data_dir, scenario.dataset, window_end, use_forecast)


def warm() -> tuple[Context | None, str]:
    """Load what a new session's first page asks for, into this process's caches.

    The configuration, the default data set's prepared inputs (from the snapshot on disk) and
    its display geometry: the same cached calls, with the same keys, as :func:`build` makes
    with the sidebar untouched. Run by :mod:`ui.warm` while a fresh server waits for its first
    visitor. Returns a context for the default scenario (or None and why, where its data are
    missing) so the caller can warm page-level caches too.
    """
    config_dir, data_dir = folders()
    config = _config(config_dir, data_dir, os.environ.get("PLANNER_CACHE", "").strip())
    try:
        input_files(config, config.dataset())
    except DataError as exc:
        return None, str(exc)  # the get-the-data page: nothing to load
    base = Scenario.from_config(config, config.dataset().name)
    scenario, key = _data_scenario(base, base.use_forecast, None, config_dir, data_dir)
    inputs = _prepare(config, key, scenario)
    register = _register(config, config_dir, os.environ.get("PLANNER_DB_URL", ""))
    plan = api.plan(inputs, scenario, register=register)
    names = api.borough_names(inputs)
    absent = api.absent_reasons(inputs)
    ctx = Context(config, key, plan.scenario, inputs, plan, register, None, names, absent)
    ctx.display()
    return ctx, ""


def _chosen_borough(names: pd.Series) -> str | None:
    """The borough the picker holds (a code), or None for all London.

    The picker is on the pages, at the top of the main column (reachable on a phone without
    opening the sidebar); it is read here, before the page draws it. Its value is kept on
    pages that do not show it (re-set as session state, Streamlit's way to keep a widget's
    value across pages).
    """
    _keep_valid(_BOROUGH, [ALL_LONDON, *names.index])
    if _BOROUGH in st.session_state:
        st.session_state[_BOROUGH] = st.session_state[_BOROUGH]
    chosen = st.session_state.get(_BOROUGH, ALL_LONDON)
    return None if chosen in (None, ALL_LONDON) else str(chosen)


def _read_only_notice(register: PlanRegister) -> None:
    """One notice at the top of every page when the plan register cannot be written."""
    unavailable = register.writes_unavailable()
    if unavailable:
        unavailable = unavailable[:1].upper() + unavailable[1:]  # a sentence of its own
        st.warning(
            f"**The plan register is read-only: saving plans, recording overrides and agreeing "
            f"priorities are switched off.** {plain(unavailable)}.",
            icon=":material/lock:",
        )


def _weights_used(used: dict[str, float], spots: dict[str, Any]) -> None:
    """Beside each slider, the weight the need index used (rescaled over those present)."""
    for comp, spot in spots.items():
        if comp in used:
            spot.caption(
                f"used: {used[comp]:.2f}",
                help="The weight the need index used: the weights set, rescaled over the "
                "components present to add up to 1.",
            )


def _need_controls(
    inputs: NeedInputs, scenario: Scenario, absent: dict[str, str]
) -> tuple[dict, dict[str, Any]]:
    bar = st.sidebar
    indices = list(inputs.harm.indices)
    harm_index = bar.radio(
        "Harm index",
        indices,
        index=indices.index(scenario.need.harm_index),
        format_func=str.upper,
        horizontal=True,
        key="harm_index",
        help="; ".join(f"{k.upper()}: {v.name} ({v.unit})" for k, v in inputs.harm.indices.items()),
    )
    _section(bar, "Need weights")
    weights, spots = {}, {}
    for comp in COMPONENTS:
        label = present.COMPONENT_LABELS[comp]
        weights[comp] = bar.slider(
            label,
            0.0,
            1.0,
            value=float(scenario.need.weights.get(comp, 0.0)),
            step=0.05,
            key=f"w_{comp}",
            disabled=comp in absent,
        )
        if comp in absent:
            bar.caption(f"{label}: {plain(absent[comp])}")
        else:
            spots[comp] = bar.empty()
    return {"harm_index": harm_index, "weights": weights}, spots


def _allocation_controls(scenario: Scenario) -> dict:
    bar = st.sidebar
    _section(bar, "Allocation")
    a = scenario.allocation
    pool = bar.number_input(
        "Extra officers (pool)", 0, 20_000, value=scenario.pool, step=10, key="pool",
        help="Officers shared out by need on top of every ward's baseline team.",
    )  # fmt: skip
    policies = list(POLICIES)
    policy = bar.radio(
        "Baseline team", policies, index=policies.index(a.policy), horizontal=True,
        format_func=present.policy_label, key="policy",
        help="\n\n".join(f"**{present.policy_label(p)}**: {present.POLICY_LABELS[p][1]}"
                         for p in policies),
    )  # fmt: skip
    method = bar.selectbox(
        "Method", list(METHODS), index=list(METHODS).index(a.method),
        format_func=present.method_label, key="method",
        help="Divisor methods never take an officer from a ward when the pool grows.",
    )  # fmt: skip
    floor = bar.slider(
        "Borough floor share", 0.0, 1.0, value=float(a.borough_floor_share), step=0.05,
        key="floor_share",
        help="Every borough gets at least this share of its need-proportional entitlement.",
    )  # fmt: skip
    cap = bar.number_input(
        "Per-ward cap on extra officers", 1, 1_000, value=a.max_extra_per_ward, step=1,
        key="cap", placeholder="no cap", help="Leave empty for no cap.",
    )  # fmt: skip
    exponent = bar.slider(
        "Need exponent (diminishing returns)", 0.3, 1.0, value=float(a.need_exponent),
        step=0.1, key="need_exponent",
        help="1: extras in proportion to need. Below 1, each further unit of need earns less "
        "(0.5: the square root of need).",
    )  # fmt: skip
    current, max_change = _staffing_controls(a.max_change)
    return {
        "pool": int(pool),
        "policy": policy,
        "method": method,
        "borough_floor_share": float(floor),
        "max_extra_per_ward": None if cap is None else int(cap),
        "no_cap": cap is None,
        "need_exponent": float(exponent),
        "current": current,
        "max_change": max_change,
    }


def _staffing_controls(configured: int | None) -> tuple[tuple[CurrentTeam, ...], int | None]:
    """The current-staffing upload and the damping it allows (the template is on the
    Allocation page)."""
    bar = st.sidebar
    upload = bar.file_uploader(
        "Current staffing (CSV or Excel)",
        type=["csv", "xlsx"],
        key="current_staffing",
        help="Each ward's team now: ward_code, dwo, pcso. Download the template on the "
        "Allocation page. The table then shows current, proposed and change, and damping "
        "can limit the change.",
    )
    teams: tuple[CurrentTeam, ...] = ()
    if upload is not None:
        try:
            check_upload(upload.name, upload.size, allowed=("csv", "xlsx"))
            teams = read_staffing(upload.getvalue(), name=upload.name)
        except DataError as exc:
            bar.error(plain(exc))
        else:
            bar.caption(f"{plain(upload.name)}: {len(teams)} wards' current teams")
    damping = bar.number_input(
        "Damping: most change per ward (extra officers)", 0, 50,
        value=configured if teams else None, step=1, key="max_change",
        placeholder="no damping", disabled=not teams,
        help="Needs current staffing: each ward's extras move at most this far from now.",
    )  # fmt: skip
    return teams, (None if damping is None or not teams else int(damping))
