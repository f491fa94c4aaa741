"""The mandatory high-harm basket per borough, with whatever data exists for each item.

The Police and Crime Plan for London sets a London-wide high-harm basket beside each borough's
two local priorities. :func:`high_harm_basket` shows every item of ``config/priorities.toml``
from the Met dashboard measures or the ward counts, with the same rates and trend as the
evidence (:mod:`planner.plan.measures`), and says what is missing; nothing is estimated.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import BasketItem, PrioritySettings, SpecialWard, normalise_text
from planner.plan.measures import (
    NOT_AVAILABLE,
    WindowRows,
    borough_sums,
    common_window,
    compare,
    is_split,
    left_out_wards,
    matches,
    month_span,
    no_trend_note,
    rate_phrase,
    scored_boroughs,
    subcategory_mask,
    than_phrase,
    window_rows,
)

if TYPE_CHECKING:
    from planner.model.need import NeedInputs

__all__ = ["Basket", "high_harm_basket"]


@dataclass(frozen=True)
class Basket:
    """:func:`high_harm_basket`: one row per borough and item, and notes on what is missing."""

    table: pd.DataFrame
    notes: list[str]


def _category(name: str) -> str:
    canon = {c.casefold(): c for c in s.CATEGORIES}
    return canon.get(name.strip().casefold(), name.strip())


def high_harm_basket(
    inputs: NeedInputs, *, settings: PrioritySettings, special: Iterable[SpecialWard] = ()
) -> Basket:
    """The mandatory high-harm basket per borough, with whatever data exists for each item.

    Parameters
    ----------
    inputs
        Prepared data; dashboard measures come from ``inputs.ingest.measures``, records from
        ``inputs.ingest.ward_counts``.
    settings
        The basket definition (``config.priorities``).
    special
        Special wards (``config.allocation.special``), left out as in the evidence unless
        ``in_priority_evidence``.

    Returns
    -------
    Basket
        ``table``: one row per (borough, item): ``borough_code``, ``borough_name``, ``item``,
        ``source``, ``window`` (the months measured: the dashboard series may end before the crime
        data), ``available``, ``volume``, ``rate_per_1000``, ``london_rate_per_1000``,
        ``rate_ratio``, ``volume_prior``, ``change``, ``p_value``, ``direction``, ``note`` and
        ``sentence``. Items the data lacks have NaN figures, ``available`` False and a note saying
        so; so have dashboard items whose series holds no 12-month window overlapping the window
        (a series ending before the window is measured over its own last 12 months, and says so).
    """
    leave_out = left_out_wards(inputs, special).index
    boroughs = scored_boroughs(inputs, leave_out=leave_out)
    counts = window_rows(
        inputs.ingest.ward_counts, inputs.window, inputs, boroughs, leave_out=leave_out
    )
    made = [
        _basket_part(inputs, boroughs, counts, item, settings, leave_out)
        for item in settings.basket
    ]
    if not made:
        return Basket(
            pd.DataFrame(columns=["borough_code", "borough_name", "item", "sentence"]), []
        )
    parts = [part for part, _ in made]
    basket = pd.concat(parts, keys=range(len(parts)), names=["_order"]).reset_index()
    basket.insert(2, "borough_name", basket[s.BOROUGH_CODE].map(boroughs["name"]))
    basket = basket.sort_values(["borough_name", "_order"], kind="mergesort")
    basket = basket.drop(columns="_order").reset_index(drop=True)
    basket["sentence"] = _basket_sentences(basket, than_phrase(inputs.window), settings.area)
    notes = basket.loc[basket["note"] != "", ["item", "note"]].drop_duplicates()
    items = notes.groupby("note", sort=False)["item"].agg(", ".join)  # one line per note
    no_trend = {why for _, why in made} - {""}
    return Basket(basket, (items + ": " + items.index).tolist() + sorted(no_trend))


def _basket_part(
    inputs: NeedInputs,
    boroughs: pd.DataFrame,
    counts: WindowRows,
    item: BasketItem,
    p: PrioritySettings,
    leave_out: pd.Index,
) -> tuple[pd.DataFrame, str]:
    """One item's rows, and why its trend is not available ("" when it is)."""
    window, note, source = inputs.window, item.note, "ward counts"
    if item.measure:
        source = "Met dashboard"
        frame = inputs.ingest.measures
        frame = frame[matches(frame[s.MEASURE], item.measure)]
        span = month_span(frame[s.MONTH])
        window, why, _ = common_window(window, span, None, item.measure, inputs.dataset)
        if why:
            why = f"not available in this data ({why})"
            return _unavailable(boroughs, item, source, why), ""
        if span is not None and span[1] < inputs.window.end:
            note = _join(note, f"the dashboard series ends in {span[1]}")
        rows = window_rows(frame, window, inputs, boroughs, leave_out=leave_out)
        mask: np.ndarray = np.ones(len(rows.count), dtype=bool)
    elif item.records:
        rows = counts
        found, why = _records_mask(rows, item)
        if found is None:
            return _unavailable(boroughs, item, source, why), ""
        mask = found
    else:
        return _unavailable(boroughs, item, "none", note or "not available in this data"), ""
    part = compare(borough_sums(rows, mask, len(boroughs)), boroughs, rows.trend, p)
    part.insert(0, "item", item.label)
    part.insert(1, "source", source)
    part.insert(2, "window", window.label)
    part.insert(3, "available", True)
    part["note"] = note
    return part, "" if rows.trend else no_trend_note(rows, window)


def _records_mask(rows: WindowRows, item: BasketItem) -> tuple[np.ndarray | None, str]:
    mask = np.zeros(len(rows.count), dtype=bool)
    for record in item.records:
        cat_part, sep, sub = record.partition("|")
        category = _category(cat_part)
        if not sep:
            mask |= (rows.frame[s.CATEGORY] == category).to_numpy()
        elif is_split(rows, category):
            mask |= subcategory_mask(rows, category, normalise_text(sub))
        else:
            return None, (
                f"not available in this data: {category!r} is not split into subcategories "
                f"here, so {item.label.lower()} cannot be isolated"
            )
    return mask, ""


def _unavailable(boroughs: pd.DataFrame, item: BasketItem, source: str, why: str) -> pd.DataFrame:
    part = pd.DataFrame(index=boroughs.index)
    part["item"], part["source"], part["window"], part["available"] = item.label, source, "", False
    for col in ("volume", "rate_per_1000", "london_rate_per_1000", "rate_ratio", "volume_prior",
                "change", "p_value"):  # fmt: skip
        part[col] = np.nan
    part["direction"], part["note"] = NOT_AVAILABLE, why
    return part


def _basket_sentences(basket: pd.DataFrame, than: str, area: str) -> pd.Series:
    ok = basket["available"].to_numpy(dtype=bool)
    volume = basket["volume"].map("{:,.0f}".format)
    rate = rate_phrase(basket["rate_ratio"], basket["volume"], area)
    pct = (basket["change"].abs() * 100).round().map("{:.0f}".format)
    direction = basket["direction"]
    trend = np.select(
        [direction == "up", direction == "down", direction == NOT_AVAILABLE],
        ["up " + pct + " % " + than, "down " + pct + " % " + than, "trend not available"],
        f"no clear change {than}",
    )
    note = np.where(basket["note"] == "", "", " (" + basket["note"] + ")")
    have = (
        basket["item"]
        + ": "
        + volume
        + " offences in "
        + basket["window"]
        + ", "
        + rate
        + ", "
        + trend
    )
    lack = basket["item"] + ": " + basket["note"]
    return pd.Series(np.where(ok, have + note + ".", lack + "."), index=basket.index)


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
