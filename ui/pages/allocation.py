"""Allocation page: the ward and borough tables, equity, overrides, saved plans, downloads."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from planner import api
from planner import schema as s
from planner.errors import PlannerError
from planner.outputs import present, views
from planner.outputs.present import plain
from planner.outputs.safe import safe_filename
from planner.plan.overrides import override_choices
from planner.plan.yardsticks import Yardsticks
from planner.register.access import RECORD_OVERRIDE, SAVE_PLAN
from planner.results import PlanResult
from ui.parts import BOROUGH_PICKER, borough_picker, confidence_panel, pack_button
from ui.shell import ALL_LONDON, Context, current, refusal

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


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
    applied = len(ctx.plan.scenario.overrides)
    if applied:
        st.caption(
            f"{applied} recorded override(s) applied: borough totals are unchanged, ward "
            "figures above include them (column 'override')."
        )
    if ctx.plan.skipped_overrides:
        st.warning("Some recorded overrides do not fit this scenario and were not applied.")
        st.dataframe(
            pd.DataFrame(ctx.plan.skipped_overrides), key="skipped_overrides", hide_index=True
        )
    if ctx.borough is None:
        st.info(f"Pick a borough in {BOROUGH_PICKER} to move officers between its wards.")
        return
    refused = refusal(ctx.user, RECORD_OVERRIDE, ctx.borough)
    if refused:
        st.info(refused)
    else:
        override_form(ctx, ctx.borough)
    recorded = ctx.register.overrides(borough_code=ctx.borough)
    if len(recorded):
        st.dataframe(
            views.override_log(recorded, ctx.inputs.all_wards[s.WARD_NAME]), key="override_log"
        )


def override_form(ctx: Context, borough: str) -> None:
    names = ctx.inputs.wards[s.WARD_NAME]
    extra = ctx.plan.allocation.wards[s.EXTRA]
    choices = override_choices(ctx.plan.allocation, borough)
    with st.form("override_form", clear_on_submit=True):
        st.markdown(f"Move extra officers between two wards of {plain(ctx.boroughs[borough])}.")
        cols = st.columns(3)
        source = cols[0].selectbox(
            "From ward", choices.givers, key="override_from",
            format_func=lambda c: f"{names[c]} ({extra[c]} extra)",
        )  # fmt: skip
        target = cols[1].selectbox(
            "To ward", choices.takers, key="override_to",
            format_func=lambda c: f"{names[c]} ({extra[c]} extra)",
        )  # fmt: skip
        officers = cols[2].number_input("Officers", 1, 100, value=1, key="override_officers")
        reason = st.text_input("Reason (required)", key="override_reason")
        who = None
        if ctx.user.is_local:  # signed-in records carry the user's own name
            who = st.text_input("Recorded by", value="borough commander", key="override_by")
        submitted = st.form_submit_button(
            "Record override", key="record_override", disabled=ctx.writes_off is not None
        )
    if submitted:
        try:
            new_id = ctx.register.record_override(
                borough, source or "", target or "", int(officers), reason,
                user=ctx.user, recorded_by=who, wards_in_borough=set(choices.takers),
            )  # fmt: skip
        except PlannerError as exc:
            st.error(plain(exc))
        else:
            st.success(f"Override #{new_id} recorded.")
            st.rerun()


def saved_plans_section(ctx: Context) -> None:
    st.subheader("Saved plans")
    refused = refusal(ctx.user, SAVE_PLAN)
    save, name, who = False, "", None
    if refused:
        st.info(refused)
    else:
        with st.form("save_plan_form"):
            cols = st.columns([3, 2, 1], vertical_alignment="bottom")
            name = cols[0].text_input("Plan name", key="plan_name", placeholder="e.g. 2026 draft")
            if ctx.user.is_local:  # signed-in records carry the user's own name
                who = cols[1].text_input("Saved by", value="local planner", key="plan_by")
            save = cols[2].form_submit_button(
                "Save plan", key="save_plan", disabled=ctx.writes_off is not None
            )
    latest = ctx.register.latest_plan()
    if save:
        try:
            latest = api.save_plan(ctx.register, ctx.plan, name, user=ctx.user, created_by=who)
        except PlannerError as exc:
            st.error(plain(exc))
        else:
            st.success(f"Saved as plan #{latest}.")
            return
    if latest is None:
        st.caption("No plan saved yet: the difference from the last saved plan appears here.")
        return
    saved = api.load_plan(ctx.register, latest)
    names = ctx.inputs.all_wards[[s.WARD_NAME, s.BOROUGH_NAME, s.BOROUGH_CODE]]
    wards, boroughs = views.plan_diff(ctx.plan.allocation.wards, saved.wards, names=names)
    if ctx.borough:
        mine = ctx.inputs.wards.index[ctx.inputs.wards[s.BOROUGH_CODE] == ctx.borough]
        wards = wards[wards.index.isin(mine)]
        boroughs = boroughs.loc[boroughs.index == ctx.borough]
    when = saved.created_at.strftime("%Y-%m-%d %H:%M UTC")
    moved = int(wards["change"].abs().sum())
    st.markdown(
        f"**Compared with plan #{saved.id} '{plain(saved.name)}'** (saved {when} by "
        f"{plain(saved.created_by)}): {len(wards)} ward(s) differ, {moved} officer move(s)."
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
    kinds = (("csv", "CSV", "text/csv"), ("xlsx", "Excel", _XLSX),
             ("geojson", "GeoJSON", "application/geo+json"))  # fmt: skip
    for col, (fmt, label, mime) in zip(cols[:3], kinds, strict=True):
        col.download_button(
            f"Download {label}", data=export_bytes(ctx.plan, fmt, stem), file_name=f"{stem}.{fmt}",
            mime=mime, key=f"download_{fmt}", on_click="ignore",
        )  # fmt: skip
    with cols[3]:
        pack_button(ctx)


def export_bytes(plan: PlanResult, fmt: str, stem: str) -> Callable[[], bytes]:
    """A callable writing the export into a private temporary folder when clicked."""

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="planner-export-") as tmp:
            written = api.export_plan(plan, tmp, formats=[fmt], stem=stem)
            return Path(written[0]).read_bytes()

    return build


def staffing_section(ctx: Context) -> None:
    """Current staffing: the template to fill in, and what the uploaded file covers."""
    current = ctx.plan.scenario.current
    wards = ctx.plan.allocation.wards.index
    if current:
        known = len({t.ward_code for t in current} & set(wards))
        damping = ctx.plan.allocation.settings.max_change
        st.caption(
            f"Current staffing given for {known} of {len(wards)} wards: the table shows the "
            "current team, the proposed DWO and the change."
            + ("" if damping is None else f" Damping: extras move at most {damping} per ward.")
        )
    st.download_button(
        "Current-staffing template (CSV)", data=template_bytes(ctx),
        file_name=safe_filename(f"current_staffing_{ctx.inputs.dataset}") + ".csv",
        mime="text/csv", key="staffing_template", on_click="ignore",
        help="Every ward with the baseline team: put each ward's team now in dwo and pcso, "
        "then upload it in the sidebar (Current staffing).",
    )  # fmt: skip


def template_bytes(ctx: Context) -> Callable[[], bytes]:
    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="planner-template-") as tmp:
            path = api.write_staffing_template(ctx.inputs, ctx.scenario, Path(tmp) / "t.csv")
            return path.read_bytes()

    return build


def yardsticks_section(ctx: Context, sticks: Yardsticks) -> None:
    """The allocation against outside yardsticks, by borough and IMD decile."""
    with st.expander("Equity against outside yardsticks", expanded=ctx.borough is None):
        st.caption(
            "Each borough's and each deprivation decile's share of the extra officers beside "
            "its share of crime harm, of residents and of ASB: figures the allocation was not "
            "made from. The need index decides where officers go; these show who that serves."
        )
        table = views.yardstick_table(sticks, by="borough")
        if ctx.borough:
            table = table.loc[[ctx.borough]]
        st.dataframe(table, key="yardsticks_boroughs", height=260 if ctx.borough is None else 80)
        if sticks.deciles is not None:
            st.markdown("**By IMD 2019 decile** (1 = most deprived tenth of England)")
            st.dataframe(
                views.yardstick_table(sticks, by="decile").astype(str).T,
                key="yardsticks_deciles",
            )
        worst = ctx.plan.allocation.equity.get("worst_inversions") or []
        if worst:
            names = ctx.inputs.wards[s.WARD_NAME]
            st.markdown("**Worst inversions** (more need, fewer extras, across boroughs)")
            st.dataframe(
                pd.DataFrame(
                    {
                        "ward in more need": [names.get(w["more_need"]) for w in worst],
                        "its extras": [w["more_need_extra"] for w in worst],
                        "ward in less need": [names.get(w["less_need"]) for w in worst],
                        "its extras ": [w["less_need_extra"] for w in worst],
                    }
                ),
                key="worst_inversions",
                hide_index=True,
            )
        for note in sticks.notes:
            st.caption(f"Note: {plain(note)}.")


ctx = current()
plan = ctx.plan
sticks = ctx.yardsticks()
st.title(f"Allocation: {plain(ctx.boroughs.get(ctx.borough, ALL_LONDON))}")
borough_picker(ctx)
st.caption(
    " ".join(
        present.allocation_method_sentences(plan.allocation.settings, plan.allocation.pool)[:2]
    )
)
st.markdown("**Equity**")
for col, (label, value, help_) in zip(
    st.columns(5), views.equity_metrics(plan.allocation.equity, sticks.summary()), strict=True
):
    col.metric(label, value, help=help_)
if ctx.borough:
    st.markdown(views.borough_summary(plan, ctx.borough))
    confidence_panel(ctx, ctx.borough, key="pas_allocation")
with st.container(key="allocation"):
    st.dataframe(
        views.allocation_table(plan, borough=ctx.borough), key="allocation_table", height=420,
        column_config=allocation_columns(),
    )  # fmt: skip
staffing_section(ctx)
yardsticks_section(ctx, sticks)
if ctx.borough is None:
    st.subheader("Boroughs")
    st.dataframe(
        views.borough_table(plan), key="borough_table", height=300,
        column_config=allocation_columns(),
    )  # fmt: skip
overrides_section(ctx)
saved_plans_section(ctx)
downloads_section(ctx)
