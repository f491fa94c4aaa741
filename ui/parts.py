"""Pieces more than one page shows: the borough picker, the borough pack download and the
agreement box."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from planner import api
from planner.outputs import views
from planner.outputs.present import plain
from planner.outputs.safe import safe_filename
from ui.shell import ALL_LONDON, BOROUGH_HELP, Context

__all__ = ["BOROUGH_PICKER", "agreement_box", "borough_picker", "confidence_panel", "pack_button"]

BOROUGH_PICKER = "the Borough picker at the top of the page"
"""Where the borough is chosen, in words that hold at every width (a phone stacks columns)."""


def borough_picker(ctx: Context) -> None:
    """The borough picker, at the top of the page under its title (not in the sidebar, which
    a phone folds away). :func:`ui.shell.build` has read its value already."""
    options = [ALL_LONDON, *ctx.boroughs.index]
    st.columns([1, 2])[0].selectbox(
        "Borough",
        options,
        format_func=lambda c: c if c == ALL_LONDON else ctx.boroughs.get(c, c),
        key="borough",
        help=BOROUGH_HELP,
    )


def pack_button(ctx: Context, *, key: str = "borough_pack") -> None:
    """The printable borough pack of the chosen borough (built when clicked)."""
    if ctx.borough is None:
        st.caption(f"Pick a borough in {BOROUGH_PICKER} to download its printable pack.")
        return
    name = safe_filename(f"borough_pack_{ctx.boroughs[ctx.borough]}_{ctx.plan.scenario.key()}")
    st.download_button(
        "Borough pack (printable)",
        data=_pack_bytes(ctx),
        file_name=f"{name}.html",
        mime="text/html",
        key=key,
        on_click="ignore",
        help=f"The printable pack for {ctx.boroughs[ctx.borough]}: map, ward table, "
        "priorities and their evidence (HTML; print it or save it as PDF from the browser).",
    )


def _pack_bytes(ctx: Context) -> Callable[[], bytes]:
    def build() -> bytes:
        page = api.borough_pack(
            ctx.plan, str(ctx.borough), config=ctx.config, london=ctx.evidence(),
            register=ctx.register,  # the agreed priorities and overrides: the meeting's record
        )  # fmt: skip
        return page.encode("utf-8")

    return build


def agreement_box(record: dict[str, Any] | None, year: int, *, current: bool = False) -> None:
    """An agreement of the register as it reads: priorities, who agreed and when, notes."""
    if record is None:
        st.caption(f"No priorities recorded for {year}.")
        return
    when = pd.Timestamp(record["agreed_at"]).strftime("%d %B %Y")
    title = f"Agreed for {year}" if current else "Agreed"
    st.markdown(
        f"**{title}:** "
        + " · ".join(f"**{plain(p)}**" for p in record["priorities"])
        + f"  \nby {plain(record['agreed_by'])} on {when}"
    )
    if record.get("notes"):
        st.caption(plain(record["notes"]))
    for sentence in record.get("evidence") or []:
        st.caption(f"Evidence then: {plain(sentence)}")


def confidence_panel(ctx: Context, borough: str, *, key: str) -> None:
    """The borough's latest Public Attitude Survey measures against the MPS figure."""
    panel = api.confidence_panel(ctx.inputs, ctx.config, borough)
    name = ctx.boroughs.get(borough, borough)
    with st.container(key=key, border=True):
        st.markdown(f"**Public confidence in {plain(name)}** (MOPAC Public Attitude Survey)")
        if panel.table is None:
            st.caption(f"No survey figures: {plain(panel.note)}")
            return
        table = views.confidence_table(panel.table)
        st.dataframe(table, key=f"{key}_table", hide_index=True, use_container_width=True)
        gap = ctx.config.yardsticks.confidence.equality_gap
        dates = panel.table["date"].dropna()
        survey = f"Survey quarter ending {dates.max():%d %B %Y}. " if len(dates) else ""
        st.caption(
            f"{survey}Below / above London: more than {100 * gap:.0f} points from the MPS "
            "figure. Change: against the same quarter a year before."
            + (f" {panel.note}." if panel.note else "")
        )
