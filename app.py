"""The planner's map app: review wards, run scenarios, agree priorities, export.

Run with ``streamlit run app.py`` (data from ``$PLANNER_DATA``, else the config's data folder;
configuration from ``$PLANNER_CONFIG``, else ``./config``). This file is a shell: it reads the
widgets, calls :mod:`planner`, and lays out what comes back. Maps are built in
:mod:`planner.outputs.mapping`, tables shaped in :mod:`planner.outputs.views`; every number
comes from :mod:`planner.model.need`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import importlib
import importlib.util
import inspect
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st
from streamlit_folium import st_folium

from planner import schema as s
from planner.config import PlannerConfig, default_config_dir, load_config
from planner.errors import DataError, PlannerError
from planner.ingest import input_files, uploads
from planner.ingest.quality import format_quality
from planner.model.need import NeedInputs, PlanResult, prepare_need, run_plan, score_need
from planner.model.scoring import COMPONENTS, NeedSettings, load_need_settings
from planner.outputs import mapping, views
from planner.outputs.export import safe_filename, write_allocation
from planner.plan.allocation import METHODS, AllocationSettings, settings_from_config
from planner.register import access
from planner.register.access import SignInRequired, User
from planner.register.store import PlanRegister

ALL_LONDON = "All London"
MAP_HEIGHT = 620
NOT_SCORED = "Not scored (the City of London, or not covered by this data)"

# --- caching: slow things once per process, shared by every session (never mutated) --------


@st.cache_resource(show_spinner=False)
def load_settings(config_dir: str, data_dir: str) -> PlannerConfig:
    """The configuration, reading data from *data_dir* ("" = the config's own data_dir)."""
    config = load_config(config_dir)
    return config.with_data_dir(data_dir) if data_dir else config


@st.cache_resource(show_spinner="Loading the ward data (first time only, about 10 s)...")
def prepare(
    _config: PlannerConfig,
    config_dir: str,
    data_dir: str,
    dataset: str,
    window_end: str | None,
    use_forecast: bool,
) -> NeedInputs:
    """Ward counts, wards, population and features (and the forecast): the slow step."""
    return prepare_need(_config, dataset, window_end=window_end, use_forecast=use_forecast)


@st.cache_resource(show_spinner=False)
def absent(_inputs: NeedInputs, key: tuple) -> list[str]:
    """Components the data cannot provide (every weight set to 1, so none is dropped by 0)."""
    probe = NeedSettings().with_weights(**dict.fromkeys(COMPONENTS, 1.0))
    probe = dataclasses.replace(probe, harm_index=_inputs.harm.index)
    return list(score_need(_inputs, probe, with_sensitivity=False).scores.attrs["absent"])


@st.cache_resource(show_spinner=False)
def display(_inputs: NeedInputs, key: tuple) -> Any:
    """Every ward (the City too), simplified for the map, in EPSG:4326."""
    return mapping.display_wards(_inputs.all_wards)


@st.cache_resource(show_spinner="Finding hot spots (Getis-Ord Gi*, 999 permutations)...")
def hot_spot_classes(_inputs: NeedInputs, _config: PlannerConfig, key: tuple, index: str):
    """Hot and cold spots of ward harm under harm index *index*."""
    from planner.model.hotspots import hot_spots
    from planner.model.hotspots import settings_from_config as hot_spot_settings

    options = hot_spot_settings(_config.extra.get("hotspots", {})).options()
    table = hot_spots(_inputs.features[index]["harm"], _inputs.wards, **options)
    return table["hot_spot"], table.attrs.get("report", {})


@st.cache_resource(show_spinner="Measuring the evidence for every borough...")
def evidence(_inputs: NeedInputs, _config: PlannerConfig, key: tuple):
    """Priority evidence and the high-harm basket of every borough."""
    from planner.plan.priorities import borough_evidence, high_harm_basket, load_priority_settings

    settings = load_priority_settings(_config)
    return (
        borough_evidence(_inputs, settings=settings),
        high_harm_basket(_inputs, settings=settings),
    )


@st.cache_resource(show_spinner=False)
def plan_register(_config: PlannerConfig, config_dir: str, db_url: str) -> PlanRegister:
    """The plan register ($PLANNER_DB_URL, else config/store.toml)."""
    return PlanRegister(config=_config)


# --- the scenario ----------------------------------------------------------------------------


@dataclass
class Context:
    """Everything a page needs: the settings chosen and the results built from them."""

    config: PlannerConfig
    key: tuple
    inputs: NeedInputs
    plan: PlanResult
    register: PlanRegister
    borough: str | None  # a borough code, or None for all London
    boroughs: pd.Series  # code -> name
    settings: dict[str, Any]
    absent: dict[str, str]  # component -> why it is absent
    skipped: pd.DataFrame = field(default_factory=pd.DataFrame)
    user: User = access.LOCAL_PLANNER  # who is using this session (planner.register.access)


def signed_in_user(config: PlannerConfig) -> User:
    """This session's user (planner.register.access), shown in the sidebar; stops for sign-in.

    OpenID Connect (``[auth]`` in .streamlit/secrets.toml): ``st.user``; a trusted header set by
    a signing-in proxy: ``st.context.headers``; otherwise local mode, the single local planner.
    """
    source = access.identity_source(config)
    email = oidc_email() if source.mode == "oidc" else None
    headers = dict(st.context.headers) if source.mode == "header" else None
    try:
        user = access.resolve_user(oidc_email=email, headers=headers, config=config)
    except SignInRequired as exc:
        st.title("Sign in to use the planner")
        if source.mode == "oidc":
            st.info(source.description)
            st.button("Sign in", key="sign_in", on_click=st.login, type="primary")
        else:
            st.error(str(exc))
        st.stop()
    bar = st.sidebar
    if user.is_local:
        bar.caption(
            "Local mode: single local planner — no sign-in configured",
            help=source.description,
        )
    else:
        bar.caption(f"Signed in as {user.describe()}", help=source.description)
        if source.mode == "oidc":
            bar.button("Sign out", key="sign_out", on_click=st.logout)
    return user


def oidc_email() -> str | None:
    """The signed-in e-mail from ``st.user``, or None (st.user raises without [auth])."""
    try:
        if not st.user.is_logged_in:
            return None
        email = st.user.get("email")
    except Exception:  # streamlit raises various errors when auth is not set up
        return None
    return str(email) if email else None


def refusal(user: User, action: str, borough: str | None = None) -> str | None:
    """Why *user* may not do *action* (planner.register.access's message), or None when they may."""
    try:
        access.check(user, action, borough)
    except access.PermissionDenied as exc:
        return str(exc).split(" Nothing was written.")[0]
    return None


def folders() -> tuple[str, str]:
    """(config folder, data folder); "" data folder = the config's data_dir."""
    return str(default_config_dir()), os.environ.get("PLANNER_DATA", "").strip()


def keep_valid(key: str, options: list[Any]) -> None:
    """Forget a widget's stored value that is not among its options any more."""
    if key in st.session_state and st.session_state[key] not in options:
        del st.session_state[key]


def scenario(
    config: PlannerConfig, config_dir: str, data_dir: str, dataset: str, user: User
) -> Context:
    """Read the sidebar, prepare the data (cached), score and allocate (every rerun)."""
    borough_box = st.sidebar.container()
    inputs, key, use_forecast, failed = data_controls(config, config_dir, data_dir, dataset)
    need_defaults = load_need_settings(config)
    indices = list(inputs.harm.indices)
    harm_index = st.sidebar.radio(
        "Harm index",
        indices,
        index=indices.index(need_defaults.harm_index) if need_defaults.harm_index in indices else 0,
        format_func=str.upper,
        horizontal=True,
        key="harm_index",
        help="; ".join(f"{k.upper()}: {v.name} ({v.unit})" for k, v in inputs.harm.indices.items()),
    )
    missing = views.absent_components(
        inputs, absent(inputs, key), use_forecast=use_forecast, forecast_error=failed
    )
    weights = need_weights(need_defaults, missing)
    need = dataclasses.replace(need_defaults.with_weights(**weights), harm_index=harm_index)
    allocation, pool = allocation_controls(config)
    names = views.borough_names(inputs)
    with borough_box:
        borough = borough_control(names)
    register = plan_register(config, config_dir, os.environ.get("PLANNER_DB_URL", ""))
    plan = run_plan(inputs, need, allocation, pool=pool)
    fits, skipped = views.applicable_overrides(plan.allocation, register.overrides())
    if fits:
        plan = run_plan(inputs, need, allocation, pool=pool, overrides=fits)
    used = plan.need.scores.attrs.get("weights", {})
    st.sidebar.caption(
        "Weights used (rescaled over the components present): "
        + ", ".join(f"{views.COMPONENT_LABELS[c]} {w:.2f}" for c, w in used.items())
    )
    settings = {
        "dataset": inputs.dataset,
        "window": inputs.window.label,
        "use_forecast": use_forecast,
        "harm_index": harm_index,
        "weights": dict(need.weights),
        "weights_used": dict(used),
        "pool": pool,
        "method": allocation.method,
        "borough_floor_share": allocation.borough_floor_share,
        "max_extra_per_ward": allocation.max_extra_per_ward,
        "overrides": len(fits),
    }
    return Context(
        config, key, inputs, plan, register, borough, names, settings, missing, skipped, user
    )


def data_controls(
    config: PlannerConfig, config_dir: str, data_dir: str, dataset: str
) -> tuple[NeedInputs, tuple, bool, str | None]:
    """Forecast toggle and window end.

    Returns the prepared inputs (cached), their cache key, whether the forecast is in use, and
    why it is not when it was asked for but cannot be fitted to this data.
    """
    bar = st.sidebar
    bar.subheader("Data")
    use_forecast = bar.toggle(
        "Use forecast (slow first time)",
        value=False,
        key="use_forecast",
        help="Fit the ward harm forecast and backtest it against two naive baselines "
        "(a few minutes the first time, then cached). It enters the need index only if "
        "it beats both.",
    )
    months = load_need_settings(config).window_months

    def load(window_end: str | None, forecast: bool, what: str) -> tuple[Any, bool, str | None]:
        """prepare(); if the forecast cannot be fitted, say so and load without it."""
        try:
            return (
                prepare(config, config_dir, data_dir, dataset, window_end, forecast),
                forecast,
                None,
            )
        except DataError as exc:
            if not forecast:
                raise
            bar.warning(f"The forecast cannot be used with this {what}, so it is off: {exc}")
            return (
                prepare(config, config_dir, data_dir, dataset, window_end, False),
                False,
                str(exc),
            )

    base, use_forecast, failed = load(None, use_forecast, "data")
    ends = views.window_ends(base, months=months)
    keep_valid("window_end", ends)
    end = bar.selectbox(
        "Window end month",
        ends,
        key="window_end",
        help=f"The need index measures the {months} months ending here; the newest month "
        "is the default.",
    )
    window_end = None if end in (None, base.window.end) else end
    inputs = base
    if window_end is not None:  # the forecast's backtest may need more history than base's
        inputs, use_forecast, again = load(window_end, use_forecast, "window")
        failed = again or failed
    if inputs.notes:
        with bar.expander("Notes on this data"):
            for note in inputs.notes:
                st.caption(note)
    key = (config_dir, data_dir, dataset, window_end, use_forecast)
    return inputs, key, use_forecast, failed


def borough_control(names: pd.Series) -> str | None:
    """The borough selector: a code, or None for all London."""
    options = [ALL_LONDON, *names.index]
    keep_valid("borough", options)
    chosen = st.selectbox(
        "Borough",
        options,
        format_func=lambda c: c if c == ALL_LONDON else names.get(c, c),
        key="borough",
        help="Zooms the map, filters the tables, and picks the borough for overrides, "
        "priorities and the borough pack.",
    )
    return None if chosen == ALL_LONDON else chosen


def need_weights(defaults: NeedSettings, missing: dict[str, str]) -> dict[str, float]:
    """The weight sliders; absent components are disabled and say why."""
    bar = st.sidebar
    bar.subheader("Need weights")
    weights = {}
    for comp in COMPONENTS:
        label = views.COMPONENT_LABELS[comp]
        weights[comp] = bar.slider(
            label,
            0.0,
            1.0,
            value=float(defaults.weights.get(comp, 0.0)),
            step=0.05,
            key=f"w_{comp}",
            disabled=comp in missing,
        )
        if comp in missing:
            bar.caption(f"{label}: {missing[comp]}")
    return weights


def allocation_controls(config: PlannerConfig) -> tuple[AllocationSettings, int]:
    """Pool, method, borough floor and per-ward cap."""
    bar = st.sidebar
    bar.subheader("Allocation")
    where = str(config.config_dir / "allocation.toml")
    defaults, pool = settings_from_config(config.extra.get("allocation", {}), where=where)
    pool = bar.number_input(
        "Extra officers (pool)",
        0,
        20_000,
        value=pool,
        step=10,
        key="pool",
        help="Officers shared out by need on top of every ward's baseline team.",
    )
    method = bar.selectbox(
        "Method",
        list(METHODS),
        index=list(METHODS).index(defaults.method),
        format_func=views.method_label,
        key="method",
        help="Divisor methods never take an officer from a ward when the pool grows.",
    )
    floor = bar.slider(
        "Borough floor share",
        0.0,
        1.0,
        value=float(defaults.borough_floor_share),
        step=0.05,
        key="floor_share",
        help="Every borough gets at least this share of its need-proportional entitlement.",
    )
    cap = bar.number_input(
        "Per-ward cap on extra officers",
        1,
        1_000,
        value=defaults.max_extra_per_ward,
        step=1,
        key="cap",
        placeholder="no cap",
        help="Leave empty for no cap.",
    )
    settings = dataclasses.replace(
        defaults,
        method=method,
        borough_floor_share=float(floor),
        max_extra_per_ward=None if cap is None else int(cap),
    )
    return settings, int(pool)


# --- pages -----------------------------------------------------------------------------------


def map_page(ctx: Context) -> None:
    place = ctx.boroughs.get(ctx.borough, ALL_LONDON)
    st.title(f"Ward need: {place}")
    layers = views.map_layers(list(ctx.absent))
    keep_valid("map_layer", list(layers))
    top = st.columns([2, 2, 3])
    layer = top[0].selectbox("Layer", list(layers), format_func=layers.get, key="map_layer")
    show_hot = top[1].checkbox(
        "Hot spots of harm",
        key="show_hot_spots",
        help="Getis-Ord Gi* on ward contiguity, false-discovery-rate 5 % (config/hotspots.toml)",
    )
    values, title = views.layer_values(ctx.plan, layer)
    outlines, report = None, {}
    if show_hot:
        outlines, report = hot_spot_classes(
            ctx.inputs, ctx.config, ctx.key, ctx.plan.need.settings.harm_index
        )
    top[2].caption(
        "Click a ward (or pick it on the right) to see why it ranks where it does. Classes are "
        "London-wide, so colours compare across boroughs."
    )
    wards = display(ctx.inputs, ctx.key)
    fit = None
    if ctx.borough:
        fit = list(ctx.inputs.wards.index[ctx.inputs.wards[s.BOROUGH_CODE] == ctx.borough])
    fmap = mapping.ward_map(
        wards,
        values,
        layer=layer,
        title=title,
        outlines=outlines,
        fit=fit,
        not_scored_label=NOT_SCORED,
        short_title=layers[layer],
    )
    labels = views.ward_labels(ctx.inputs)
    keep_valid("ward_pick", list(labels.index))
    left, right = st.columns([5, 3], gap="medium")
    with left:
        st_folium(
            fmap,
            key="ward_map",
            returned_objects=["last_active_drawing"],
            height=MAP_HEIGHT,
            use_container_width=True,
            feature_group_to_add=mapping.selected_outline(wards, st.session_state.get("ward_pick")),
            on_change=on_map_click,
        )
        if show_hot:
            st.caption(views.hot_spot_caption(report))
    with right:
        code = st.selectbox(
            "Ward",
            list(labels.index),
            index=None,
            format_func=labels.get,
            placeholder="Click a ward on the map, or choose one",
            key="ward_pick",
            on_change=lambda: st.session_state.pop("map_clicked", None),
        )
        clicked = st.session_state.get("map_clicked")
        if clicked and clicked not in labels.index:
            st.info("That ward is not scored (the City of London, or not covered by this data).")
        detail = views.ward_detail(ctx.plan, code) if code else None
        if detail:
            ward_panel(detail)
    with left:
        pack_button(ctx)
        if detail:
            ward_categories(detail, ctx.inputs.window.label)


def on_map_click() -> None:
    """st_folium callback: the clicked ward becomes the selected ward."""
    value = st.session_state.get("ward_map") or {}
    feature = value.get("last_active_drawing") or {}
    code = (feature.get("properties") or {}).get(s.WARD_CODE)
    if code:
        st.session_state["map_clicked"] = code
        st.session_state["ward_pick"] = code


def ward_panel(d: views.WardDetail) -> None:
    st.subheader(d.name)
    st.caption(f"{d.borough} · {d.code}")
    cols = st.columns(3)
    cols[0].metric("London rank", d.rank_london)
    cols[1].metric("Borough rank", d.rank_borough)
    cols[2].metric("Need score", f"{d.need_score:.2f}")
    st.caption(
        f"Rank {d.rank_london} of {d.n_london} scored wards in London, {d.rank_borough} of "
        f"{d.n_borough} in {d.borough} (1 = most need)."
    )
    moved = f" (override: {d.override:+d})" if d.override else ""
    st.markdown(
        f"**Officers:** baseline {d.baseline_dwo} DWO + {d.baseline_pcso} PCSO, "
        f"**+ {d.extra} extra**{moved} = **{d.total_dwo} DWO + {d.baseline_pcso} PCSO**"
    )
    st.markdown("**Why this score** (the contributions add up to the score)")
    st.bar_chart(
        d.contributions.rename_axis("component").rename("contribution").reset_index(),
        x="component",
        y="contribution",
        horizontal=True,
        sort=False,
        height=60 + 32 * len(d.contributions),
        x_label="",
        y_label="",
    )
    st.markdown(f"**Harm per month, last {len(d.monthly)} months** ({d.monthly_index})")
    st.line_chart(d.monthly, height=150, x_label="", y_label="")


def ward_categories(d: views.WardDetail, window: str) -> None:
    st.markdown(f"**Crimes and harm by category in {d.name}** ({window})")
    st.dataframe(
        d.categories,
        key="ward_categories",
        height=35 * (len(d.categories) + 1) + 3,
        column_config={
            "crimes": st.column_config.NumberColumn(format="localized"),
            "harm": st.column_config.NumberColumn(f"harm ({d.harm_unit})", format="localized"),
            "share of harm": st.column_config.ProgressColumn(
                format="percent", min_value=0.0, max_value=1.0
            ),
        },
    )


def allocation_page(ctx: Context) -> None:
    plan, place = ctx.plan, ctx.boroughs.get(ctx.borough, ALL_LONDON)
    st.title(f"Allocation: {place}")
    a = plan.allocation.settings
    cap = "no cap" if a.max_extra_per_ward is None else f"at most {a.max_extra_per_ward} per ward"
    st.caption(
        f"{plan.allocation.pool:,} extra officers by {views.method_label(a.method)}, borough "
        f"floor {a.borough_floor_share:.0%} of entitlement, {cap}; every ward keeps its "
        f"baseline team of {a.baseline_dwo} DWO + {a.baseline_pcso} PCSO."
    )
    st.markdown("**London-wide equity**")
    cols = st.columns(5)
    for col, (label, value, help_) in zip(
        cols, views.equity_metrics(plan.allocation.equity, ctx.boroughs), strict=True
    ):
        col.metric(label, value, help=help_)
    if ctx.borough:
        st.markdown(views.borough_summary(plan, ctx.borough))
    table = views.allocation_table(plan, borough=ctx.borough)
    with st.container(key="allocation"):
        st.dataframe(
            table,
            key="allocation_table",
            height=420,
            column_config=allocation_columns(),
        )
    if ctx.borough is None:
        st.subheader("Boroughs")
        st.dataframe(
            views.borough_table(plan),
            key="borough_table",
            height=300,
            column_config=allocation_columns(),
        )
    overrides_section(ctx)
    saved_plans_section(ctx)
    downloads_section(ctx)


def allocation_columns() -> dict[str, Any]:
    pct = "%.2f%%"
    return {
        "need score": st.column_config.NumberColumn(format="%.3f"),
        "need share %": st.column_config.NumberColumn(format=pct),
        "officer share %": st.column_config.NumberColumn(format=pct),
        "target ratio %": st.column_config.NumberColumn(
            format="%.0f%%", help="extra officers / need-proportional quota"
        ),
        "outside quota": st.column_config.CheckboxColumn(
            help="extra officers not the quota rounded down or up"
        ),
    }


def overrides_section(ctx: Context) -> None:
    st.subheader("Commander's overrides")
    applied = ctx.settings.get("overrides", 0)
    if applied:
        st.caption(
            f"{applied} recorded override(s) applied: borough totals are unchanged, ward "
            "figures above include them (column 'override')."
        )
    if not ctx.skipped.empty:
        st.warning("Some recorded overrides do not fit this scenario and were not applied.")
        st.dataframe(ctx.skipped, key="skipped_overrides", hide_index=True)
    if ctx.borough is None:
        st.info("Pick a borough in the sidebar to move officers between its wards.")
        return
    wards = ctx.plan.allocation.wards
    mine = wards[wards[s.BOROUGH_CODE] == ctx.borough]
    by_need = list(mine["need"].sort_values(kind="stable").index)  # least need first
    givers = [c for c in by_need if mine.at[c, "extra"] > 0]
    refused = refusal(ctx.user, access.RECORD_OVERRIDE, ctx.borough)
    if refused:
        st.info(refused)
    else:
        override_form(ctx, mine, by_need, givers)
    recorded = ctx.register.overrides(borough_code=ctx.borough)
    if len(recorded):
        st.dataframe(
            views.override_log(recorded, ctx.inputs.all_wards[s.WARD_NAME]),
            key="override_log",
        )


def override_form(ctx: Context, mine: pd.DataFrame, by_need: list[str], givers: list[str]) -> None:
    names = ctx.inputs.wards[s.WARD_NAME]
    with st.form("override_form", clear_on_submit=True):
        st.markdown(f"Move extra officers between two wards of {ctx.boroughs[ctx.borough]}.")
        cols = st.columns(3)
        source = cols[0].selectbox(
            "From ward",
            givers,
            key="override_from",
            format_func=lambda c: f"{names[c]} ({mine.at[c, 'extra']} extra)",
        )
        target = cols[1].selectbox(
            "To ward",
            by_need[::-1],
            key="override_to",
            format_func=lambda c: f"{names[c]} ({mine.at[c, 'extra']} extra)",
        )
        officers = cols[2].number_input("Officers", 1, 100, value=1, key="override_officers")
        reason = st.text_input("Reason (required)", key="override_reason")
        who = None
        if ctx.user.is_local:  # signed-in records carry the user's own name
            who = st.text_input("Recorded by", value="borough commander", key="override_by")
        submitted = st.form_submit_button("Record override", key="record_override")
    if submitted:
        try:
            new_id = ctx.register.record_override(
                ctx.borough,
                source or "",
                target or "",
                int(officers),
                reason,
                user=ctx.user,
                recorded_by=who,
                wards_in_borough=set(mine.index),
            )
        except PlannerError as exc:
            st.error(str(exc))
        else:
            st.success(f"Override #{new_id} recorded.")
            st.rerun()


def saved_plans_section(ctx: Context) -> None:
    st.subheader("Saved plans")
    allocation = ctx.plan.allocation.wards.assign(need_score=ctx.plan.need.scores["need_score"])
    refused = refusal(ctx.user, access.SAVE_PLAN)
    save, name, who = False, "", None
    if refused:
        st.info(refused)
    else:
        with st.form("save_plan_form"):
            cols = st.columns([3, 2, 1], vertical_alignment="bottom")
            name = cols[0].text_input("Plan name", key="plan_name", placeholder="e.g. 2026 draft")
            if ctx.user.is_local:  # signed-in records carry the user's own name
                who = cols[1].text_input("Saved by", value="local planner", key="plan_by")
            save = cols[2].form_submit_button("Save plan", key="save_plan")
    latest = ctx.register.latest_plan()
    if save:
        try:
            latest = ctx.register.save_plan(
                name,
                allocation,
                settings=ctx.settings,
                manifest=ctx.plan.manifest,
                user=ctx.user,
                created_by=who,
            )
        except PlannerError as exc:
            st.error(str(exc))
        else:
            st.success(f"Saved as plan #{latest}.")
            return
    if latest is None:
        st.caption("No plan saved yet: the difference from the last saved plan appears here.")
        return
    meta, saved = ctx.register.load_plan(latest)
    names = ctx.inputs.all_wards[[s.WARD_NAME, s.BOROUGH_NAME, s.BOROUGH_CODE]]
    wards, boroughs = views.plan_diff(allocation, saved, names=names)
    if ctx.borough:
        wards = wards[
            wards.index.isin(
                ctx.inputs.wards.index[ctx.inputs.wards[s.BOROUGH_CODE] == ctx.borough]
            )
        ]
        boroughs = boroughs.loc[boroughs.index == ctx.borough]
    when = pd.Timestamp(meta["created_at"]).strftime("%Y-%m-%d %H:%M UTC")
    moved = int(wards["change"].abs().sum())
    st.markdown(
        f"**Compared with plan #{meta['id']} '{meta['name']}'** (saved {when} by "
        f"{meta['created_by']}): {len(wards)} ward(s) differ, {moved} officer move(s)."
    )
    if len(wards):
        cols = st.columns(2)
        cols[0].dataframe(wards, key="diff_wards", height=260)
        cols[1].dataframe(boroughs[boroughs["change"] != 0], key="diff_boroughs", height=260)


def downloads_section(ctx: Context) -> None:
    st.subheader("Downloads")
    st.caption(
        "London-wide tables with their manifest of settings and data checksums; the Excel "
        "file has a sheet per borough and the methodology."
    )
    stem = safe_filename(f"allocation_{ctx.inputs.dataset}_{ctx.inputs.window.end}")
    cols = st.columns(4)
    for col, (fmt, label, mime) in zip(
        cols[:3],
        (
            ("csv", "CSV", "text/csv"),
            ("xlsx", "Excel", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ("geojson", "GeoJSON", "application/geo+json"),
        ),
        strict=True,
    ):
        col.download_button(
            f"Download {label}",
            data=export_bytes(ctx.plan, fmt, stem),
            file_name=f"{stem}.{fmt}",
            mime=mime,
            key=f"download_{fmt}",
            on_click="ignore",
        )
    with cols[3]:
        pack_button(ctx)


def export_bytes(plan: PlanResult, fmt: str, stem: str) -> Callable[[], bytes]:
    """A callable writing the export into a private temporary folder when clicked."""

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="planner-export-") as tmp:
            written = write_allocation(
                plan.allocation,
                plan.need.inputs.wards,
                tmp,
                manifest=plan.manifest,
                scores=plan.need.scores,
                formats=[fmt],
                stem=stem,
            )
            return Path(written[0]).read_bytes()

    return build


def pack_button(ctx: Context) -> None:
    """The printable borough pack, when planner.outputs.pack exists."""
    if importlib.util.find_spec("planner.outputs.pack") is None:
        return
    if ctx.borough is None:
        st.caption("Pick a borough to download its printable borough pack.")
        return
    name = safe_filename(f"borough_pack_{ctx.boroughs[ctx.borough]}")
    st.download_button(
        "Borough pack (printable)",
        data=pack_bytes(ctx),
        file_name=f"{name}.html",
        mime="text/html",
        key="borough_pack",
        on_click="ignore",
        help=f"The printable pack for {ctx.boroughs[ctx.borough]}: map, ward table, "
        "priorities and their evidence (HTML; print it or save it as PDF from the browser).",
    )


def pack_bytes(ctx: Context) -> Callable[[], bytes]:
    def build() -> bytes:
        report = importlib.import_module("planner.outputs.pack")
        make = report.borough_pack_html
        params = inspect.signature(make).parameters
        extra: dict[str, Any] = {"config": ctx.config} if "config" in params else {}
        if "priorities" in params:
            extra["priorities"] = borough_view(ctx)
        page = make(ctx.plan, ctx.borough, **extra)
        return page.encode("utf-8") if isinstance(page, str) else bytes(page)

    return build


def borough_view(ctx: Context) -> Any:
    """The chosen borough's evidence, proposals and basket (from the cached London tables)."""
    from planner.plan.priorities import borough_priorities

    ev, basket = evidence(ctx.inputs, ctx.config, ctx.key)
    return borough_priorities(
        ctx.inputs, ctx.borough, config=ctx.config, evidence=ev, basket=basket
    )


def priorities_page(ctx: Context) -> None:
    if ctx.borough is None:
        st.title("Borough priorities")
        st.info(
            "Pick a borough in the sidebar ('Borough') to see its evidence and agree its "
            "two local priorities."
        )
        return
    bp = borough_view(ctx)
    st.title(f"Local priorities: {bp.borough_name}")
    st.caption(
        f"Evidence from {bp.window.label}, compared with the 12 months before; rates per "
        "1,000 residents against the London rate."
    )
    year = st.columns([1, 4])[0].number_input(
        "Plan year",
        2000,
        2100,
        value=dt.date.today().year,
        key="plan_year",
        help="The year the priorities are agreed for; last year's agreement is shown beside.",
    )
    now, before = st.columns(2, gap="large")
    with now:
        st.subheader("Proposed local priorities")
        for row in bp.proposed.itertuples():
            rest = row.sentence.removeprefix(f"{row.candidate}:")
            st.markdown(f"**{row.rank}. {row.candidate}**:{rest}")
    with before:
        st.subheader(f"Agreed for {int(year) - 1}")
        agreement_box(ctx.register.previous_year(ctx.borough, int(year)), int(year) - 1)
    st.subheader("Mandatory London-wide priorities: the high-harm basket")
    for sentence in bp.basket["sentence"]:
        st.markdown(f"- {sentence}")
    st.subheader("Evidence for every candidate")
    st.dataframe(
        views.plain(
            bp.evidence[
                [
                    "candidate",
                    "rank",
                    "volume",
                    "rate_per_1000",
                    "london_rate_per_1000",
                    "rate_ratio",
                    "change",
                    "direction",
                    "harm_share_text",
                    "score",
                    "sentence",
                ]
            ].set_index("candidate")
        ),
        key="evidence_table",
        column_config={
            "rate_per_1000": st.column_config.NumberColumn("rate per 1,000", format="%.2f"),
            "london_rate_per_1000": st.column_config.NumberColumn("London rate", format="%.2f"),
            "rate_ratio": st.column_config.NumberColumn("x London", format="%.2f"),
            "change": st.column_config.NumberColumn("change", format="percent"),
            "harm_share_text": st.column_config.TextColumn("share of harm"),
            "score": st.column_config.NumberColumn(format="%.3f"),
        },
    )
    with st.expander("About this evidence"):
        for note in bp.notes:
            st.caption(note)
    agree_form(ctx, bp, int(year))
    history = ctx.register.priorities_history(ctx.borough)
    if len(history):
        st.subheader("History")
        table = history[["year", "priorities", "agreed_by", "agreed_at", "notes"]].copy()
        table["priorities"] = table["priorities"].map(" · ".join)
        table["agreed_at"] = table["agreed_at"].dt.strftime("%Y-%m-%d %H:%M UTC")
        st.dataframe(table, key="priorities_history", hide_index=True)


def agree_form(ctx: Context, bp: Any, year: int) -> None:
    st.subheader(f"Agree the priorities for {year}")
    candidates = list(bp.evidence["candidate"])
    proposed = [c for c in bp.proposed["candidate"] if c in candidates]
    refused = refusal(ctx.user, access.RECORD_PRIORITIES, ctx.borough)
    if refused:
        st.info(refused)
        agreement_box(ctx.register.agreed_priorities(ctx.borough, year), year, current=True)
        return
    with st.form("agree_form"):
        chosen = st.multiselect(
            "Priorities (two, in agreed order)",
            candidates,
            default=proposed,
            key="agree_priorities",
        )
        agreed_by = st.text_input(
            "Agreed by",
            key="agree_by",
            placeholder="e.g. Borough commander and council leader",
        )
        notes = st.text_area("Notes", key="agree_notes")
        submitted = st.form_submit_button("Agree priorities", key="agree")
    if submitted:
        sentences = bp.evidence.set_index("candidate")["sentence"]
        try:
            ctx.register.record_priorities(
                ctx.borough,
                bp.borough_name,
                year,
                chosen,
                agreed_by=agreed_by,
                notes=notes,
                user=ctx.user,
                evidence=[sentences[c] for c in chosen if c in sentences.index],
            )
        except PlannerError as exc:
            st.error(str(exc))
        else:
            st.success(f"Priorities for {year} recorded.")
    agreement_box(ctx.register.agreed_priorities(ctx.borough, year), year, current=True)


def agreement_box(record: dict[str, Any] | None, year: int, *, current: bool = False) -> None:
    if record is None:
        st.caption(f"No priorities recorded for {year}.")
        return
    when = pd.Timestamp(record["agreed_at"]).strftime("%d %B %Y")
    title = f"Agreed for {year}" if current else "Agreed"
    st.markdown(
        f"**{title}:** "
        + " · ".join(f"**{p}**" for p in record["priorities"])
        + f"  \nby {record['agreed_by']} on {when}"
    )
    if record.get("notes"):
        st.caption(record["notes"])
    for sentence in record.get("evidence") or []:
        st.caption(f"Evidence then: {sentence}")


def methodology_page(ctx: Context) -> None:
    inputs, need, config = ctx.inputs, ctx.plan.need, ctx.config
    st.title("Methodology and data quality")
    st.header("How the need score is made")
    st.markdown(views.need_method_text(need.settings.scale_quantile))
    st.dataframe(
        views.need_weights_table(need.settings.weights, need.scores.attrs.get("weights", {})),
        key="weights_table",
    )
    for comp, why in ctx.absent.items():
        st.caption(f"{views.COMPONENT_LABELS[comp]}: {why}")
    st.header("Harm weights")
    for idx in inputs.harm.indices.values():
        st.markdown(f"- **{idx.name}** ({idx.key.upper()}, {idx.unit}): {idx.source}")
    harm = inputs.harm
    st.markdown(views.proactive_text(harm))
    st.dataframe(views.harm_weights_table(harm), key="harm_weights")
    st.header("Allocation")
    st.markdown(views.allocation_method_text(ctx.plan.allocation))
    with st.expander("The configuration files, with every source and citation"):
        for stem in ("need", "harm", "allocation"):
            path = Path(config.config_dir) / f"{stem}.toml"
            if path.is_file():
                st.markdown(f"`{path}`")
                st.code(path.read_text(encoding="utf-8"), language="toml")
    st.header("Caveats")
    st.markdown(views.CAVEATS)
    if ctx.settings["use_forecast"]:
        st.header("Forecast")
        verdict = inputs.verdict or {}
        st.markdown(verdict.get("explanation", "The forecast was not run."))
        if inputs.backtest is not None:
            with st.expander("Backtest table"):
                st.dataframe(inputs.backtest, key="backtest_table")
    quality_section(inputs)
    upload_section(ctx)


def upload_section(ctx: Context) -> None:
    """A person's own police.uk street CSV (or ward file), joined and checked like the data."""
    limit = uploads.MAX_UPLOAD_BYTES / 1e6
    with st.expander("Upload your own incident CSV or ward file"):
        st.caption(
            f"Read in this session only (never saved where others could see it), at most "
            f"{limit:,.0f} MB each. Incidents are joined to the loaded data set's wards, or to "
            "the ward file uploaded beside them, with the same data-quality report as "
            "`planner ingest`."
        )
        cols = st.columns(2)
        incident_file = cols[0].file_uploader(
            "Incidents: a data.police.uk street CSV, or a zip of them",
            type=list(uploads.INCIDENT_TYPES),
            key="upload_incidents",
        )
        ward_file = cols[1].file_uploader(
            "Wards (optional): GeoJSON, GeoPackage or a zipped shapefile",
            type=list(uploads.WARD_TYPES),
            key="upload_wards",
        )
        try:
            wards = ctx.inputs.all_wards
            if ward_file is not None:
                uploads.check_upload(ward_file.name, ward_file.size, allowed=uploads.WARD_TYPES)
                wards = uploads.read_ward_upload(
                    ward_file.name, ward_file.getvalue(), config=ctx.config
                )
                st.success(
                    f"{ward_file.name}: {len(wards):,} wards in "
                    f"{wards[s.BOROUGH_CODE].nunique()} borough(s)."
                )
            if incident_file is None:
                return
            uploads.check_upload(
                incident_file.name, incident_file.size, allowed=uploads.INCIDENT_TYPES
            )
            result = uploads.read_incident_upload(
                incident_file.name, incident_file.getvalue(), wards=wards, config=ctx.config
            )
        except PlannerError as exc:
            st.error(str(exc))
            return
        upload_report(result)


def upload_report(result: uploads.IncidentUpload) -> None:
    quality, tables = result.quality, views.quality_tables(result.quality)
    placed = int(result.ward_counts["records"].sum())
    st.markdown(
        f"**{result.name}**: {placed:,} records placed in {len(result.ward_counts):,} wards; "
        + (
            "read = counted + rejected + duplicates holds."
            if quality.get("conservation_ok")
            else "**the balance FAILS for some month: see the report.**"
        )
    )
    st.dataframe(result.ward_counts, key="upload_ward_counts", height=300)
    st.dataframe(tables["sources"], key="upload_quality_sources", hide_index=True)
    st.dataframe(tables["rejects"], key="upload_quality_rejects", hide_index=True)
    st.code(format_quality(quality), language=None)


def quality_section(inputs: NeedInputs) -> None:
    st.header("Data quality of the loaded data")
    quality = inputs.ingest.quality
    tables = views.quality_tables(quality)
    st.markdown(
        f"Data set **{inputs.dataset}**, scoring window **{inputs.window.label}**. Every record "
        "read ends counted, rejected (with its reason) or removed as a duplicate: "
        + (
            "**read = counted + rejected + duplicates holds for every source and month.**"
            if quality.get("conservation_ok")
            else "**the balance FAILS for some source or month: see the detail.**"
        )
    )
    counts = {
        c: st.column_config.NumberColumn(format="localized")
        for c in ("read", "counted", "of which nearest ward", "rejected", "duplicates", "records")
    }
    st.dataframe(tables["sources"], key="quality_sources", hide_index=True, column_config=counts)
    st.markdown("**Months missing** (inside each source's own range)")
    st.dataframe(tables["months missing"], key="quality_missing", hide_index=True)
    st.markdown("**Rejected records by reason** (kept aside in rejects.parquet, never dropped)")
    st.dataframe(tables["rejects"], key="quality_rejects", hide_index=True, column_config=counts)
    wards = quality.get("wards", {})
    st.caption(
        f"Wards: {wards.get('total', '?')}, with no records: {wards.get('with_no_records', '?')}. "
        f"ASB: {quality.get('asb', {}).get('note', '')}"
    )
    for note in inputs.notes:
        st.caption(note)
    with st.expander("The full data-quality report (as `planner ingest` prints it)"):
        st.code(format_quality(quality), language=None)


def get_data_page(message: str, data_dir: Path) -> None:
    st.title("The ward data are not here yet")
    intro, steps = views.get_data_text(data_dir)
    st.markdown(intro)
    st.warning(message)
    st.markdown(steps)


# --- the shell -------------------------------------------------------------------------------


def main() -> None:
    st.set_page_config(page_title="Ward officer planner", layout="wide")
    config_dir, data_dir = folders()
    try:
        config = load_settings(config_dir, data_dir)
        user = signed_in_user(config)
        datasets = list(config.datasets)
        keep_valid("dataset", datasets)
        dataset = st.sidebar.selectbox(
            "Data set",
            datasets,
            index=datasets.index(config.dataset().name),
            key="dataset",
            help="\n\n".join(f"**{d.name}**: {d.description}" for d in config.datasets.values()),
        )
        try:
            input_files(config, config.dataset(dataset))
        except DataError as exc:
            message = str(exc)
            page = st.Page(
                lambda: get_data_page(message, config.data_dir.resolve()),
                title="Get the data",
                url_path="get-data",
                default=True,
            )
            st.navigation([page]).run()
            return
        ctx: list[Context] = []
        pages = [
            st.Page(lambda: map_page(ctx[0]), title="Map", url_path="map", default=True),
            st.Page(lambda: allocation_page(ctx[0]), title="Allocation", url_path="allocation"),
            st.Page(
                lambda: priorities_page(ctx[0]),
                title="Borough priorities",
                url_path="priorities",
            ),
            st.Page(
                lambda: methodology_page(ctx[0]),
                title="Methodology and data quality",
                url_path="methodology",
            ),
        ]
        page = st.navigation(pages)
        ctx.append(scenario(config, config_dir, data_dir, dataset, user))
        page.run()
    except PlannerError as exc:
        st.error(str(exc))
        st.stop()


main()
