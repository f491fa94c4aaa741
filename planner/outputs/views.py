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
    "HotSpotSummary",
    "WardDetail",
    "allocation_table",
    "borough_summary",
    "borough_table",
    "confidence_table",
    "equity_metrics",
    "harm_weights_table",
    "hot_spot_layer",
    "hot_spot_summary",
    "layer_values",
    "map_layers",
    "need_weights_table",
    "override_log",
    "plan_diff",
    "quality_tables",
    "special_notes",
    "ward_detail",
    "ward_labels",
    "yardstick_table",
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


@dataclass(frozen=True)
class HotSpotSummary:
    """How many wards the Gi* test found, at what level, and the words that say so."""

    corrected: bool  # the false-discovery-rate correction is on (config/hotspots.toml fdr)
    alpha: float
    wards: int
    significant: int  # hot and cold spots at the configured test
    significant_uncorrected: int  # p <= alpha ward by ward
    text: str
    exploratory_help: str


def hot_spot_summary(report: Mapping[str, Any]) -> HotSpotSummary:
    """The hot-spot run's counts in words: after the correction, at which level, and before.

    Parameters
    ----------
    report
        :attr:`planner.model.hotspots.HotSpots.report`.
    """
    alpha, wards = float(report["alpha"]), int(report["wards"])
    corrected = bool(report.get("fdr", True))
    hot, cold = int(report["hot_spots"]), int(report["cold_spots"])
    raw = int(report["significant_uncorrected"])
    level = f"{alpha:.0%}".replace("%", " %")
    chance = alpha * wards
    if corrected:
        test = (
            f"after the false-discovery-rate correction for testing {wards:,} wards at once "
            f"(Benjamini-Hochberg, q at most {level})"
        )
    else:
        test = f"ward by ward at p at most {level}, with no correction for testing {wards:,} wards"
    if hot + cold:
        found = f"{hot} hot and {cold} cold spot(s) of harm {test}."
    else:
        found = f"No ward is a hot or cold spot of harm {test}."
    before = (
        f" Before the correction {raw} ward(s) had p at most {level}; about {chance:.0f} would "
        "by chance alone, so those are leads to look at, not findings."
        if corrected
        else f" About {chance:.0f} ward(s) would pass this test by chance alone."
    )
    text = (
        "Hot spots (Getis-Ord Gi*): wards whose neighbourhood holds significantly more harm "
        f"than chance would give it. {found}{before}"
    )
    why = (
        f"Each ward tested on its own at p at most {level}: of {wards:,} wards about "
        f"{chance:.0f} pass by chance alone, so these outlines are leads for a closer look, "
        "not evidence of a hot spot."
    )
    return HotSpotSummary(corrected, alpha, wards, hot + cold, raw, text, why)


def hot_spot_layer(
    spots: Any, summary: HotSpotSummary, *, exploratory: bool = False
) -> tuple[pd.Series, str]:
    """The outlines to draw (``hot spot``/``cold spot`` per ward) and what the legend calls them.

    With *exploratory* the uncorrected test (p at most alpha ward by ward), labelled so.
    """
    level = f"{summary.alpha:.0%}".replace("%", " %")
    if not exploratory:
        kind = "q" if summary.corrected else "p"
        return spots.classes, f"of harm (Gi*, {kind} at most {level})"
    table = spots.table
    significant = table["p_value"] <= summary.alpha
    classes = pd.Series(
        np.where(significant, np.where(table["gi_z"] > 0, "hot spot", "cold spot"), ""),
        index=table.index,
    )
    return classes, f"of harm, uncorrected (exploratory, p at most {level})"


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
    trend_text: str  # "rise driven by X: a → b", "no clear change", or why it is not measured
    capped: list[str]  # component labels whose normalised value was capped
    component_cap: float  # the cap, in units of the scale-quantile ward
    special: str  # the reason a special ward gets no extras ("" for other wards)
    no_data: list[str]  # component labels the ward has no value for (scored without them)
    current_dwo: int | None  # the ward's team now, where current staffing was given
    current_pcso: int | None


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
    feats = inputs.features[need.settings.harm_index].loc[code]
    staffing = plan.scenario.current_table()
    team = staffing.loc[code] if staffing is not None and code in staffing.index else None
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
        categories=_categories(feats),
        monthly=_monthly(inputs, code, months),
        monthly_index=harm_unit(inputs.harm.current),
        baseline_dwo=int(alloc["baseline_dwo"]),
        baseline_pcso=int(alloc["baseline_pcso"]),
        extra=int(alloc["extra"]),
        total_dwo=int(alloc["total_dwo"]),
        override=int(alloc["override"]) if "override" in alloc.index else 0,
        harm_unit=harm_unit(index),
        trend_text=_trend_text(feats),
        capped=[COMPONENT_LABELS[c] for c in COMPONENTS if bool(row.get(f"capped: {c}", False))],
        component_cap=need.settings.component_cap,
        special=special_notes(plan).get(code, "").removeprefix("special: "),
        no_data=[  # scored without it: its normalised value is NaN ("no data")
            COMPONENT_LABELS[c] for c in COMPONENTS if pd.isna(row.get(f"normalised: {c}", 0.0))
        ],
        current_dwo=None if team is None else int(team["dwo"]),
        current_pcso=None if team is None else int(team["pcso"]),
    )


def _trend_text(feats: pd.Series) -> str:
    text = feats.get("trend_text")
    if text is None or (isinstance(text, float) and np.isnan(text)):
        return "not measured: the data do not cover the 12 months before the window"
    return str(text)


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
    s.CURRENT_DWO: "current DWO",
    s.EXTRA: "extra",
    s.TOTAL_DWO: "proposed DWO",
    s.CHANGE: "change",
    s.CURRENT_PCSO: "current PCSO",
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
    ``override`` appears when overrides moved officers; with current staffing, the current
    team, the proposed DWO and the change; special wards read "special: <reason>" in
    ``note``.
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
    notes = special_notes(plan)
    if len(notes.reindex(table.index).dropna()):
        table["note"] = notes.reindex(table.index).fillna("")
    return table.sort_values("London rank", kind="stable")


def special_notes(plan: PlanResult) -> pd.Series:
    """``"special: <reason>"`` by ward code for the plan's special wards present."""
    wards = plan.allocation.wards.index
    return pd.Series(
        {
            w.code: f"special: {w.reason}"
            for w in plan.allocation.settings.special
            if w.code in wards
        },
        dtype=object,
    )


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
    equity: Mapping[str, Any], yardsticks: Mapping[str, Any]
) -> list[tuple[str, str, str]]:
    """The equity summary as (label, value, help) for metric tiles.

    *equity* is the allocation's own (:func:`planner.plan.equity.equity_summary`),
    *yardsticks* :meth:`planner.plan.yardsticks.Yardsticks.summary`.
    """
    deprived = yardsticks.get("most_deprived_fifth_share_extra")
    residents = yardsticks.get("most_deprived_fifth_share_residents")
    gap = yardsticks.get("max_abs_borough_extra_vs_harm")
    return [
        (
            "Most deprived fifth",
            "no data" if deprived is None else f"{100 * deprived:.0f} % of extras",
            "the share of extra officers going to residents of the 20 % most deprived small "
            "areas of England (IMD 2019 deciles 1-2)"
            + ("" if residents is None else f", where {100 * residents:.0f} % of residents live"),
        ),
        (
            "Largest borough gap vs harm",
            number(_times_100(gap), "{:.1f} pp"),
            f"{yardsticks.get('borough_extra_vs_harm_largest') or ''}: the largest difference "
            "between a borough's share of extra officers and its share of all scored wards' "
            "crime harm",
        ),
        (
            "Inversions across boroughs",
            f"{equity.get('inversions_cross_borough', 0):,}",
            "pairs of wards in different boroughs where the one with more need gets fewer "
            "extras (borough floors make these)",
        ),
        (
            "Placed by rounding",
            number(equity.get("rounding_officers_moved"), "{:.0f} officers"),
            "officers placed differently from the policy's unrounded allocation because "
            "officers are whole: rounding, reported apart from the policy",
        ),
        (
            "Boroughs below floor",
            str(equity.get("boroughs_below_floor", 0)),
            "boroughs with fewer extra officers than their guaranteed floor",
        ),
    ]


def confidence_table(panel: pd.DataFrame) -> pd.DataFrame:
    """A borough's PAS panel (:func:`planner.plan.yardsticks.confidence_panel`) for reading:
    percentages, the gap and both changes in points, the standing in words."""

    def points(value: Any) -> str:
        return "–" if value is None or pd.isna(value) else f"{100 * value:+.0f}"

    def pct(value: Any) -> str:
        return "–" if value is None or pd.isna(value) else f"{100 * value:.0f} %"

    return pd.DataFrame(
        {
            "measure": panel["measure"],
            "borough": panel["borough"].map(pct),
            "MPS": panel["mps"].map(pct),
            "gap (points)": panel["gap"].map(points),
            "standing": panel["status"],
            "borough change": panel["borough_change"].map(points),
            "MPS change": panel["mps_change"].map(points),
        }
    )


def yardstick_table(yardsticks: Any, *, by: str = "borough") -> pd.DataFrame:
    """Shares (%) of extras beside harm, residents and ASB, by borough or IMD decile.

    "no data" where a yardstick is missing (ASB in a dataset without it).
    """
    frame = yardsticks.boroughs if by == "borough" else yardsticks.deciles
    columns = {
        "share_extra": "extras %",
        "share_dwo": "all DWO %",
        "share_harm": "harm %",
        "share_residents": "residents %",
        "share_asb": "ASB %",
    }
    table = pd.DataFrame(index=frame.index)
    if by == "borough":
        table["borough"] = frame[s.BOROUGH_NAME]
    table["extra"] = frame["extra"].round(1 if by != "borough" else 0)
    for key, label in columns.items():
        table[label] = frame[key].map(lambda v: "no data" if pd.isna(v) else f"{100 * v:.1f}")
    if "confidence_status" in frame:
        table["confidence"] = frame["confidence_status"]
    return table


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
