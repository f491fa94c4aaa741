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
from ui import SIDEBAR
from ui.parts import BOROUGH_PICKER, borough_picker, confidence_panel, pack_button
from ui.shell import ALL_LONDON, Context, current, refusal

_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def allocation_columns() -> dict[str, Any]:
    """One number style on the page: shares to two decimals with " %", ratios whole
    percentages, officers whole with thousands separators, the need score to two decimals."""
    pct = "%.2f %%"
    whole = "localized"  # the reader's thousands separator
    return {
        "need score": st.column_config.NumberColumn(
            format="%.2f", help="1.00 = as high as the 95th-percentile ward in London"
        ),
        "London rank": st.column_config.NumberColumn(format=whole),
        "borough rank": st.column_config.NumberColumn(format=whole),
        "extra": st.column_config.NumberColumn(format=whole, help="extra Dedicated Ward Officers"),
        "proposed DWO": st.column_config.NumberColumn(format=whole),
        "total DWO": st.column_config.NumberColumn(format=whole),
        "wards": st.column_config.NumberColumn(format=whole),
        "floor": st.column_config.NumberColumn(
            format=whole, help="the extra officers the borough floor guarantees"
        ),
        "need share %": st.column_config.NumberColumn(
            format=pct, help="the ward's (borough's) share of London's need"
        ),
        "officer share %": st.column_config.NumberColumn(
            format=pct, help="its share of London's extra officers"
        ),
        "target ratio %": st.column_config.NumberColumn(
            format="%.0f %%",
            help="extra officers ÷ its need-proportional share (100 % = exactly its share)",
        ),
        "outside quota": st.column_config.CheckboxColumn(
            help="extra officers not its need-proportional share rounded down or up"
        ),
    }


def how_shared(plan: PlanResult) -> None:
    """How the officers are shared out, in words, with the method's own sentences folded."""
    settings, pool = plan.allocation.settings, plan.allocation.pool
    st.markdown(
        f"Every ward keeps its team of {settings.baseline_dwo} Dedicated Ward Officers and "
        f"{settings.baseline_pcso} PCSO. **{pool:,} extra officers** are shared out by need "
        f"({present.policy_label(settings.policy)} policy), whole officers only. "
        f"{present.method_plain(settings.method)}. Borough floor: "
        f"{present.floor_text(settings.borough_floor_share)}. Cap per ward: "
        f"{present.cap_text(settings.max_extra_per_ward)}."
    )
    with st.expander("How the officers are shared out, step by step"):
        for sentence in present.allocation_method_sentences(settings, pool):
            st.caption(sentence)


def equity_tiles(plan: PlanResult, sticks: Yardsticks) -> None:
    """The equity tiles, each with what it measures written under it (not only on hover)."""
    st.markdown("**Equity**: who the allocation serves, against figures it was not made from")
    metrics = views.equity_metrics(plan.allocation.equity, sticks.summary())
    for col, (label, value, help_) in zip(st.columns(len(metrics)), metrics, strict=True):
        col.metric(label, value, help=help_)
        col.caption(help_[0].upper() + help_[1:] + ".")


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
    stem = api.export_stem(ctx.plan)
    st.caption(
        f"London-wide tables. Every file names its scenario (id {ctx.plan.scenario.key()}: "
        "dataset, window, harm index, method, pool, floor, cap, weights) in its name and "
        "inside it: the CSV zip holds the manifest and the scenario in words, the Excel file "
        "opens on a Scenario sheet, the GeoJSON carries it as metadata. A file is made when "
        "its button is pressed (the button shows a spinner meanwhile)."
    )
    cols = st.columns(5)
    kinds = (
        ("zip", "CSV (zip)", "application/zip", "the ward and borough tables as CSV, with the "
         "manifest and the scenario in words"),
        ("xlsx", "Excel", _XLSX, "takes about 2 seconds to make: a spinner shows meanwhile"),
        ("geojson", "GeoJSON", "application/geo+json", "ward boundaries with the allocation, "
         "EPSG:4326, the scenario as metadata"),
    )  # fmt: skip
    for col, (fmt, label, mime, help_) in zip(cols[:3], kinds, strict=True):
        col.download_button(
            f"Download {label}", data=export_bytes(ctx.plan, fmt, stem),
            file_name=f"{stem}.{fmt}", mime=mime, key=f"download_{fmt}", on_click="ignore",
            help=help_,
        )  # fmt: skip
    with cols[3]:
        pack_button(ctx)
    with cols[4]:
        pack_pdf_button(ctx)


def pack_pdf_button(ctx: Context) -> None:
    """The borough pack as a PDF, printed by headless Chromium when pressed."""
    if ctx.borough is None:
        return
    from planner.outputs.pdf import PdfUnavailable, chromium_path

    name = safe_filename(f"borough_pack_{ctx.boroughs[ctx.borough]}_{ctx.plan.scenario.key()}")
    try:
        ready = chromium_path() is not None
    except PdfUnavailable as exc:
        st.caption(plain(exc))
        return
    if not ready:
        st.caption(
            "PDF pack: no Chromium on this server (install it, or set PLANNER_CHROMIUM); "
            "print the HTML pack from the browser instead."
        )
        return
    st.download_button(
        "Borough pack (PDF)", data=pack_pdf_bytes(ctx), file_name=f"{name}.pdf",
        mime="application/pdf", key="borough_pack_pdf", on_click="ignore",
        help=f"The pack for {ctx.boroughs[ctx.borough]} as a PDF: the cover with the "
        "scenario, the map with a numbered key, the table, overrides and agreed priorities "
        "(takes a few seconds to print: a spinner shows meanwhile).",
    )  # fmt: skip


def pack_pdf_bytes(ctx: Context) -> Callable[[], bytes]:
    def build() -> bytes:
        return api.borough_pack_pdf(
            ctx.plan, str(ctx.borough), config=ctx.config, london=ctx.evidence(),
            register=ctx.register,
        )  # fmt: skip

    return build


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
        f"then upload it under Current staffing in {SIDEBAR}.",
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
how_shared(plan)
equity_tiles(plan, sticks)
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
