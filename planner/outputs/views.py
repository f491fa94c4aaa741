"""Tables and figures for the app's pages, shaped with pandas (no Streamlit, no I/O).

Each function takes planner results (:class:`~planner.model.need.NeedInputs`,
:class:`~planner.results.PlanResult`, the plan register's frames, configuration tables) and
returns what a page shows: a DataFrame with readable columns, a Series for a chart, a list of
(label, value, help) for metrics. The app only renders them; the words come from
:mod:`planner.outputs.present`. Nothing here mutates its inputs (the app shares them between
sessions).

Over 400 lines: one function per table or figure the pages show, kept together so a page's
content is found in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import COMPONENTS, HarmSettings
from planner.outputs.present import COMPONENT_LABELS, LAYERS, harm_unit, number, percent

if TYPE_CHECKING:
    from planner.model.need import NeedInputs
    from planner.results import PlanResult

__all__ = [
    "WardDetail",
    "allocation_table",
    "borough_summary",
    "borough_table",
    "equity_metrics",
    "harm_weights_table",
    "layer_values",
    "map_layers",
    "need_weights_table",
    "override_log",
    "plan_diff",
    "quality_tables",
    "ward_detail",
    "ward_labels",
]

NEED_SCORE, RANK_LONDON, RANK_BOROUGH = s.NEED_SCORE, s.RANK_LONDON, s.RANK_BOROUGH


# --- names and choices -------------------------------------------------------------------


def ward_labels(inputs: NeedInputs) -> pd.Series:
    """Labels "Ward (Borough)" by ward code for the scored wards, sorted by borough then ward."""
    wards = inputs.wards.sort_values([s.BOROUGH_NAME, s.WARD_NAME], kind="stable")
    return wards[s.WARD_NAME] + " (" + wards[s.BOROUGH_NAME] + ")"


# --- the map -------------------------------------------------------------------------------


def map_layers(absent: list[str]) -> dict[str, str]:
    """Map layer key -> menu label, leaving out layers whose data are absent."""
    return {k: layer.label for k, layer in LAYERS.items() if k not in absent}


def layer_values(plan: PlanResult, layer: str) -> tuple[pd.Series, str]:
    """The values of one map layer per scored ward, and the legend title."""
    inputs, need = plan.need.inputs, plan.need
    key = need.settings.harm_index
    feats = inputs.features[key]
    index = inputs.harm.indices[key]
    window = inputs.window.label
    if layer == "need_score":
        return need.scores[NEED_SCORE], f"Need score ({index.key.upper()}, {window})"
    if layer == "extra":
        return plan.allocation.wards[s.EXTRA].astype(float), "Extra officers"
    if layer == "harm":
        return feats["harm"], f"Harm, {harm_unit(index)}, {window}"
    if layer == "harm_per_1000":
        return feats["harm_per_1000"], f"Harm per 1,000 residents, {harm_unit(index)}"
    if layer == "asb":
        return feats["asb"], f"ASB incidents ({window})"
    if layer == "trend":
        rise = np.expm1(need.components["trend"]) * 100.0
        return rise, "Rise in harm on the previous 12 months (shrunk, %)"
    raise ValueError(f"unknown map layer {layer!r}")


# --- the ward panel ------------------------------------------------------------------------


@dataclass(frozen=True)
class WardDetail:
    """What the side panel shows for one ward."""

    code: str
    name: str
    borough: str
    rank_london: int
    n_london: int
    rank_borough: int
    n_borough: int
    need_score: float
    contributions: pd.Series  # component label -> contribution to the score
    categories: pd.DataFrame  # category -> crimes, harm, share of harm
    monthly: pd.Series  # harm per month (DatetimeIndex), the last 24 months of the window
    monthly_index: str  # the harm index of the monthly series (NeedInputs.monthly: the default)
    baseline_dwo: int
    baseline_pcso: int
    extra: int
    total_dwo: int
    override: int
    harm_unit: str


def ward_detail(plan: PlanResult, code: str, *, months: int = 24) -> WardDetail:
    """The side panel of ward *code* (a scored ward).

    Raises
    ------
    KeyError
        *code* is not a scored ward.
    """
    need, inputs = plan.need, plan.need.inputs
    row = need.scores.loc[code]
    borough = row[s.BOROUGH_CODE]
    contrib = pd.Series(
        {
            COMPONENT_LABELS[c]: float(row[f"contribution: {c}"])
            for c in COMPONENTS
            if f"contribution: {c}" in need.scores.columns
        },
        name="contribution",
    )
    alloc = plan.allocation.wards.loc[code]
    index = inputs.harm.indices[need.settings.harm_index]
    return WardDetail(
        code=code,
        name=str(row[s.WARD_NAME]),
        borough=str(row[s.BOROUGH_NAME]),
        rank_london=int(row[RANK_LONDON]),
        n_london=len(need.scores),
        rank_borough=int(row[RANK_BOROUGH]),
        n_borough=int((need.scores[s.BOROUGH_CODE] == borough).sum()),
        need_score=float(row[NEED_SCORE]),
        contributions=contrib,
        categories=_categories(inputs.features[need.settings.harm_index].loc[code]),
        monthly=_monthly(inputs, code, months),
        monthly_index=harm_unit(inputs.harm.current),
        baseline_dwo=int(alloc["baseline_dwo"]),
        baseline_pcso=int(alloc["baseline_pcso"]),
        extra=int(alloc["extra"]),
        total_dwo=int(alloc["total_dwo"]),
        override=int(alloc["override"]) if "override" in alloc.index else 0,
        harm_unit=harm_unit(index),
    )


def _categories(feats: pd.Series) -> pd.DataFrame:
    cats = [c[len("count: ") :] for c in feats.index if c.startswith("count: ")]
    table = pd.DataFrame(
        {
            "crimes": [feats[f"count: {c}"] for c in cats],
            "harm": [round(float(feats.get(f"harm: {c}", np.nan)), 0) for c in cats],
        },
        index=pd.Index(cats, name="category"),
    )
    total = table["harm"].sum()
    table["share of harm"] = table["harm"] / total if total > 0 else np.nan
    if "asb" in feats.index:
        table.loc[s.ASB] = [feats["asb"], np.nan, np.nan]
    return table.sort_values("harm", ascending=False, na_position="last")


def _monthly(inputs: NeedInputs, code: str, months: int) -> pd.Series:
    if code not in inputs.monthly.index:
        return pd.Series(dtype=float)
    series = inputs.monthly.loc[code]
    series = series[[m for m in series.index if str(m) <= inputs.window.end]].iloc[-months:]
    out = pd.Series(
        series.to_numpy(dtype=float),
        index=pd.to_datetime([f"{m}-01" for m in series.index]),
        name="harm",
    )
    out.index.name = "month"
    return out


# --- the allocation ------------------------------------------------------------------------


_DISPLAY = {  # ward_table column -> the app's column
    s.WARD_NAME: "ward",
    s.BOROUGH_NAME: "borough",
    NEED_SCORE: "need score",
    RANK_LONDON: "London rank",
    RANK_BOROUGH: "borough rank",
    s.EXTRA: "extra",
    s.TOTAL_DWO: "total DWO",
    s.BASELINE_PCSO: "PCSO",
    s.NEED_SHARE: "need share %",
    s.OFFICER_SHARE: "officer share %",
    s.TARGET_RATIO: "target ratio %",
    s.OUTSIDE_QUOTA: "outside quota",
    "override": "override",
}
_PERCENT = (s.NEED_SHARE, s.OFFICER_SHARE, s.TARGET_RATIO, s.RATIO)


def allocation_table(plan: PlanResult, *, borough: str | None = None) -> pd.DataFrame:
    """One row per ward (of *borough*, or all), in need-rank order, with readable columns.

    The rows of :meth:`PlanResult.ward_table`; shares and the target ratio are percentages;
    ``override`` appears when overrides moved officers.
    """
    full = plan.ward_table()
    if borough is not None:
        full = full[full[s.BOROUGH_CODE] == borough]
    table = full[[c for c in _DISPLAY if c in full.columns]].copy()
    for col in _PERCENT:
        if col in table:
            table[col] = 100 * table[col]
    table[s.OUTSIDE_QUOTA] = table[s.OUTSIDE_QUOTA].astype(bool)
    table = table.rename(columns=_DISPLAY)
    table.index.name = s.WARD_CODE
    return table.sort_values("London rank", kind="stable")


def borough_table(plan: PlanResult) -> pd.DataFrame:
    """One row per borough: wards, extra, total DWO, need share, officer share, ratio, floor."""
    b = plan.borough_table()
    table = pd.DataFrame(
        {
            "borough": b[s.BOROUGH_NAME],
            "wards": b[s.N_WARDS],
            "extra": b[s.EXTRA],
            "total DWO": b[s.TOTAL_DWO],
            "need share %": 100 * b[s.NEED_SHARE],
            "officer share %": 100 * b[s.OFFICER_SHARE],
            "target ratio %": 100 * b[s.RATIO],
            "floor": b[s.FLOOR],
            "floor met": b[s.MET_FLOOR].astype(bool),
        }
    )
    return table.sort_values("borough", kind="stable")


def equity_metrics(
    equity: Mapping[str, Any], names: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """The equity summary as (label, value, help) for metric tiles."""
    worst = equity.get("worst_served_borough")
    return [
        (
            "Worst-served borough",
            percent(equity.get("worst_served_borough_ratio")),
            f"{names.get(worst, worst or 'none')}: extra officers as a share of its "
            "need-proportional target (100 % = exactly its share of need)",
        ),
        (
            "Gini of officers per need",
            number(equity.get("gini_officers_per_need"), "{:.3f}"),
            "0 = every unit of need gets the same extra officers; 1 = all go to one ward",
        ),
        (
            "Boroughs below floor",
            str(equity.get("boroughs_below_floor", 0)),
            "boroughs with fewer extra officers than their guaranteed floor",
        ),
        (
            "Wards outside quota",
            str(equity.get("wards_outside_quota", 0)),
            "wards whose extra officers are not their need-proportional quota rounded down or up",
        ),
        (
            "Largest borough gap",
            number(_times_100(equity.get("max_abs_share_gap_borough")), "{:.2f} pp"),
            "the largest difference between a borough's share of extra officers and its "
            "share of need, in percentage points",
        ),
    ]


def _times_100(value: Any) -> float | None:
    return 100 * value if isinstance(value, int | float) else None


def borough_summary(plan: PlanResult, borough: str) -> str:
    """One sentence on a borough's share of the extra officers."""
    b = plan.allocation.boroughs.loc[borough]
    name = plan.need.scores.loc[plan.need.scores[s.BOROUGH_CODE] == borough, s.BOROUGH_NAME]
    name = name.iloc[0] if len(name) else borough
    floor = "met" if bool(b["met_floor"]) else "NOT met"
    return (
        f"{name}: {int(b['extra'])} extra officers across {int(b['n_wards'])} wards, against a "
        f"need-proportional target of {b['target']:.1f} ({percent(b['ratio'])}); its floor "
        f"of {int(b['floor'])} is {floor}."
    )


def plan_diff(
    current: pd.DataFrame, saved: pd.DataFrame, *, names: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Extra officers now against a saved plan, per ward and per borough.

    Parameters
    ----------
    current
        The allocation ward table (indexed by ward code, with borough_code and extra).
    saved
        :meth:`planner.register.store.PlanRegister.load_plan`'s table (same columns).
    names
        ward_name and borough_name by ward code.

    Returns
    -------
    wards, boroughs
        ``saved``, ``now`` and ``change`` (now minus saved); wards only where it changed.
    """
    both = pd.DataFrame(
        {
            "saved": saved["extra"],
            "now": current["extra"],
        }
    )
    both["borough_code"] = current[s.BOROUGH_CODE].combine_first(saved[s.BOROUGH_CODE])
    both[["saved", "now"]] = both[["saved", "now"]].fillna(0).astype(int)
    both["change"] = both["now"] - both["saved"]
    both["ward"] = names[s.WARD_NAME].reindex(both.index)
    both["borough"] = names[s.BOROUGH_NAME].reindex(both.index)
    boroughs = both.groupby("borough_code")[["saved", "now", "change"]].sum()
    borough_of = names.groupby(s.BOROUGH_CODE)[s.BOROUGH_NAME].first()
    boroughs.insert(0, "borough", borough_of.reindex(boroughs.index))
    wards = both.loc[both["change"] != 0, ["ward", "borough", "saved", "now", "change"]]
    wards.index.name = s.WARD_CODE
    return wards.sort_values(["borough", "ward"]), boroughs.sort_values("borough")


def override_log(recorded: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """Recorded overrides with ward names, newest first."""
    table = pd.DataFrame(
        {
            "recorded": recorded["recorded_at"].dt.strftime("%Y-%m-%d %H:%M UTC"),
            "from": recorded["from_ward"].map(names).fillna(recorded["from_ward"]),
            "to": recorded["to_ward"].map(names).fillna(recorded["to_ward"]),
            "officers": recorded["officers"],
            "reason": recorded["reason"],
            "by": recorded["recorded_by"],
        }
    )
    table.index = pd.Index(recorded["id"], name="override")
    return table.iloc[::-1]


# --- methodology ---------------------------------------------------------------------------


def need_weights_table(weights: Mapping[str, float], used: Mapping[str, float]) -> pd.DataFrame:
    """Component weights as set and as used (rescaled over the components present)."""
    return pd.DataFrame(
        {
            "component": [COMPONENT_LABELS[c] for c in COMPONENTS],
            "weight set": [float(weights.get(c, 0.0)) for c in COMPONENTS],
            "weight used": [float(used.get(c, 0.0)) for c in COMPONENTS],
        }
    ).set_index("component")


def harm_weights_table(harm: HarmSettings) -> pd.DataFrame:
    """Per crime category: each index's weight, and the weight after the proactive rule."""
    table = pd.DataFrame(
        {
            f"{key.upper()} ({idx.unit})": pd.Series(idx.categories, dtype=float)
            for key, idx in harm.indices.items()
        }
    )
    table["proactive rule"] = [
        "" if harm.multiplier(c) == 1.0 else f"x {harm.multiplier(c):g} ({harm.proactive_mode})"
        for c in table.index
    ]
    table.index.name = "category"
    return table


def quality_tables(quality: Mapping[str, Any]) -> dict[str, pd.DataFrame]:
    """The data-quality report as tables: ``sources``, ``months missing``, ``rejects``."""
    rows, missing, rejects = [], [], []
    for src in quality.get("sources", []):
        t = src.get("totals", {})
        rejected = sum(v for k, v in t.items() if k.startswith("rejected_"))
        counted = sum(t.get(k, 0) for k in ("counted", "counted_inside", "counted_nearest"))
        rows.append(
            {
                "source": src["path"],
                "kind": src["kind"],
                "months": f"{src.get('first_month')} to {src.get('last_month')}",
                "read": t.get("read", 0),
                "counted": counted,
                "of which nearest ward": t.get("counted_nearest", 0),
                "rejected": rejected,
                "duplicates": t.get("duplicates", 0),
                "balance": t.get("balance", 0),
            }
        )
        missing.append(
            {
                "source": src["path"],
                "months missing": len(src.get("months_missing", [])),
                "which": ", ".join(src.get("months_missing", [])) or "none",
            }
        )
        rejects += [
            {"source": src["path"], "reason": k[len("rejected_") :], "records": v}
            for k, v in t.items()
            if k.startswith("rejected_")
        ]
    return {
        "sources": pd.DataFrame(rows),
        "months missing": pd.DataFrame(missing),
        "rejects": pd.DataFrame(rejects, columns=["source", "reason", "records"]),
    }
