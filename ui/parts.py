"""Pieces more than one page shows: the borough pack download and the agreement box."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from planner import api
from planner.outputs.safe import safe_filename
from ui.shell import Context

__all__ = ["agreement_box", "pack_button"]


def pack_button(ctx: Context, *, key: str = "borough_pack") -> None:
    """The printable borough pack of the chosen borough (built when clicked)."""
    if ctx.borough is None:
        st.caption("Pick a borough to download its printable borough pack.")
        return
    name = safe_filename(f"borough_pack_{ctx.boroughs[ctx.borough]}")
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
            ctx.plan, str(ctx.borough), config=ctx.config, london=ctx.evidence()
        )
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
        + " · ".join(f"**{p}**" for p in record["priorities"])
        + f"  \nby {record['agreed_by']} on {when}"
    )
    if record.get("notes"):
        st.caption(record["notes"])
    for sentence in record.get("evidence") or []:
        st.caption(f"Evidence then: {sentence}")
