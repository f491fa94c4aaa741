"""Tables and figures for the app's pages, shaped with pandas (no Streamlit, no I/O).

Each function takes planner results (:class:`~planner.model.need.NeedInputs`,
:class:`~planner.model.need.PlanResult`, the plan register's frames, configuration tables) and
returns what a page shows: a DataFrame with readable columns, a Series for a chart, a list of
(label, value, help) for metrics. The app only renders them. Nothing here mutates its inputs
(the app shares them between sessions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.model.scoring import COMPONENTS, NEED_SCORE, RANK_BOROUGH, RANK_LONDON

if TYPE_CHECKING:
    from planner.model.features import HarmSettings
    from planner.model.need import NeedInputs, PlanResult
    from planner.plan.allocation import AllocationResult, Override

__all__ = [
    "CAVEATS",
    "COMPONENT_LABELS",
    "WardDetail",
    "absent_components",
    "allocation_method_text",
    "allocation_table",
    "applicable_overrides",
    "borough_names",
    "borough_summary",
    "borough_table",
    "equity_metrics",
    "get_data_text",
    "harm_weights_table",
    "hot_spot_caption",
    "layer_values",
    "map_layers",
    "method_label",
    "need_method_text",
    "need_weights_table",
    "override_log",
    "plain",
    "plan_diff",
    "proactive_text",
    "quality_tables",
    "ward_detail",
    "ward_labels",
    "window_ends",
]

COMPONENT_LABELS = {
    "harm": "Harm",
    "asb": "ASB",
    "forecast": "Forecast",
    "trend": "Trend",
    "rate": "Harm per 1,000",
}
_METHODS = {
    "webster": "Webster / Sainte-Laguë",
    "dhondt": "D'Hondt",
    "huntington_hill": "Huntington-Hill",
    "hamilton": "Hamilton (largest remainder)",
}


# --- names and choices -------------------------------------------------------------------


def borough_names(inputs: NeedInputs) -> pd.Series:
    """Borough name by code for the scored wards, in name order."""
    wards = inputs.wards
    names = wards.groupby(s.BOROUGH_CODE, sort=False)[s.BOROUGH_NAME].first()
    return names.sort_values(kind="stable")


def ward_labels(inputs: NeedInputs) -> pd.Series:
    """Labels "Ward (Borough)" by ward code for the scored wards, sorted by borough then ward."""
    wards = inputs.wards.sort_values([s.BOROUGH_NAME, s.WARD_NAME], kind="stable")
    return wards[s.WARD_NAME] + " (" + wards[s.BOROUGH_NAME] + ")"


def window_ends(inputs: NeedInputs, *, months: int) -> list[str]:
    """Months that can end a *months*-month window in this data, newest first."""
    present = [str(m) for m in inputs.monthly.columns]
    return present[months - 1 :][::-1] if len(present) >= months else present[::-1]


def absent_components(
    inputs: NeedInputs,
    absent: list[str],
    *,
    use_forecast: bool,
    forecast_error: str | None = None,
) -> dict[str, str]:
    """Why each absent need component is absent, in words (component -> sentence).

    *forecast_error* is why the forecast could not be fitted when it was asked for.
    """
    reasons = {}
    for comp in absent:
        if comp == "asb":
            kinds = {src.get("kind", "") for src in inputs.ingest.quality.get("sources", [])}
            met = any(k.startswith("mps") for k in kinds)
            reasons[comp] = "not in this data" + (
                " (the Met publishes none at ward level)" if met else ""
            )
        elif comp == "forecast" and forecast_error:
            reasons[comp] = f"cannot be fitted to this data ({forecast_error})"
        elif comp == "forecast" and not use_forecast:
            reasons[comp] = "off (turn on 'Use forecast' to fit and backtest it)"
        elif comp == "forecast":
            why = (inputs.verdict or {}).get("explanation", "the model was not run")
            reasons[comp] = f"not used: {why}"
        elif comp == "trend":
            reasons[comp] = "not available: the data do not cover the 12 months before the window"
        else:
            reasons[comp] = "not available in this data"
    return reasons


# --- the map -------------------------------------------------------------------------------


def map_layers(absent: list[str]) -> dict[str, str]:
    """Map layer key -> menu label, leaving out layers whose data are absent."""
    layers = {
        "need_score": "Need score",
        "extra": "Extra officers",
        "harm": "Harm",
        "harm_per_1000": "Harm per 1,000 residents",
        "asb": "ASB incidents",
        "trend": "Rise in harm on the previous year",
    }
    return {k: v for k, v in layers.items() if k not in absent}


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
        return feats["harm"], f"Harm, {index.unit} ({index.key.upper()}, {window})"
    if layer == "harm_per_1000":
        return feats["harm_per_1000"], f"Harm per 1,000 residents ({index.unit})"
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
        monthly_index=f"{inputs.harm.current.key.upper()}, {inputs.harm.current.unit}",
        baseline_dwo=int(alloc["baseline_dwo"]),
        baseline_pcso=int(alloc["baseline_pcso"]),
        extra=int(alloc["extra"]),
        total_dwo=int(alloc["total_dwo"]),
        override=int(alloc["override"]) if "override" in alloc.index else 0,
        harm_unit=index.unit,
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


def allocation_table(plan: PlanResult, *, borough: str | None = None) -> pd.DataFrame:
    """One row per ward (of *borough*, or all), in need-rank order, with readable columns.

    Shares and the target ratio are percentages; ``override`` appears when overrides moved
    officers.
    """
    scores, wards = plan.need.scores, plan.allocation.wards
    table = pd.DataFrame(
        {
            "ward": scores[s.WARD_NAME],
            "borough": scores[s.BOROUGH_NAME],
            "need score": scores[NEED_SCORE],
            "London rank": scores[RANK_LONDON],
            "borough rank": scores[RANK_BOROUGH],
            "extra": wards["extra"].reindex(scores.index),
            "total DWO": wards["total_dwo"].reindex(scores.index),
            "PCSO": wards["baseline_pcso"].reindex(scores.index),
            "need share %": 100 * wards["need_share"].reindex(scores.index),
            "officer share %": 100 * wards["officer_share"].reindex(scores.index),
            "target ratio %": 100 * wards["target_ratio"].reindex(scores.index),
            "outside quota": wards["outside_quota"].reindex(scores.index).astype(bool),
        }
    )
    if "override" in wards.columns:
        table["override"] = wards["override"].reindex(scores.index)
    if borough is not None:
        table = table[scores[s.BOROUGH_CODE] == borough]
    table.index.name = s.WARD_CODE
    return table.sort_values("London rank", kind="stable")


def borough_table(plan: PlanResult) -> pd.DataFrame:
    """One row per borough: wards, extra, total DWO, need share, officer share, ratio, floor."""
    b = plan.allocation.boroughs
    names = plan.need.scores.groupby(s.BOROUGH_CODE)[s.BOROUGH_NAME].first()
    table = pd.DataFrame(
        {
            "borough": names.reindex(b.index),
            "wards": b["n_wards"],
            "extra": b["extra"],
            "total DWO": b["total_dwo"],
            "need share %": 100 * b["need_share"],
            "officer share %": 100 * b["officer_share"],
            "target ratio %": 100 * b["ratio"],
            "floor": b["floor"],
            "floor met": b["met_floor"].astype(bool),
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
            _pct_text(equity.get("worst_served_borough_ratio")),
            f"{names.get(worst, worst or 'none')}: extra officers as a share of its "
            "need-proportional target (100 % = exactly its share of need)",
        ),
        (
            "Gini of officers per need",
            _num_text(equity.get("gini_officers_per_need"), "{:.3f}"),
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
            _pp_text(equity.get("max_abs_share_gap_borough")),
            "the largest difference between a borough's share of extra officers and its "
            "share of need, in percentage points",
        ),
    ]


def _pct_text(value: Any) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.0%}"


def _pp_text(value: Any) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{100 * value:.2f} pp"


def _num_text(value: Any, fmt: str) -> str:
    return "n/a" if value is None or not math.isfinite(value) else fmt.format(value)


def borough_summary(plan: PlanResult, borough: str) -> str:
    """One sentence on a borough's share of the extra officers."""
    b = plan.allocation.boroughs.loc[borough]
    name = plan.need.scores.loc[plan.need.scores[s.BOROUGH_CODE] == borough, s.BOROUGH_NAME]
    name = name.iloc[0] if len(name) else borough
    floor = "met" if bool(b["met_floor"]) else "NOT met"
    return (
        f"{name}: {int(b['extra'])} extra officers across {int(b['n_wards'])} wards, against a "
        f"need-proportional target of {b['target']:.1f} ({_pct_text(b['ratio'])}); its floor "
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


def applicable_overrides(
    allocation: AllocationResult, recorded: pd.DataFrame
) -> tuple[list[Override], pd.DataFrame]:
    """The recorded overrides that fit this allocation, in the order they were recorded.

    Overrides of wards outside the allocation (another ward vintage or data set) are left out
    silently; those that no longer fit (e.g. the giving ward has fewer extras in this
    scenario) are returned as ``skipped`` with the reason.

    Parameters
    ----------
    allocation
        The scenario's allocation, before overrides.
    recorded
        :meth:`planner.register.store.PlanRegister.overrides`.

    Returns
    -------
    fits, skipped
        Overrides to pass to :func:`planner.model.need.run_plan`; a table of id and reason.
    """
    from planner.errors import DataError
    from planner.plan.allocation import Override, apply_overrides

    wards = set(allocation.wards.index)
    fits, skipped, current = [], [], allocation
    for row in recorded.itertuples(index=False):
        if row.from_ward not in wards or row.to_ward not in wards:
            continue
        override = Override(
            borough_code=str(row.borough_code),
            from_ward=str(row.from_ward),
            to_ward=str(row.to_ward),
            officers=int(row.officers),
            reason=str(row.reason),
            recorded_by=str(row.recorded_by),
        )
        try:
            current = apply_overrides(current, [override])
        except DataError as exc:
            skipped.append({"override": int(row.id), "why not applied": str(exc)})
            continue
        fits.append(override)
    return fits, pd.DataFrame(skipped, columns=["override", "why not applied"])


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


def plain(frame: pd.DataFrame) -> pd.DataFrame:
    """A shallow copy without ``attrs`` (windows and notes there are not JSON for display)."""
    out = frame.copy(deep=False)
    out.attrs = {}
    return out


def method_label(method: str) -> str:
    """A readable name of an apportionment method."""
    return _METHODS.get(method, method)


# --- page text -----------------------------------------------------------------------------

CAVEATS = "\n".join(
    [
        "- **Anonymised locations.** police.uk snaps every crime to one of a set of anonymous "
        "map points (about 45,000 in London), so a crime near a ward edge can land in the "
        "ward next door.",
        "- **ASB.** The Met's ward files carry no anti-social behaviour: with them the ASB "
        "term is absent (not zero) and its weight is shared among the other components.",
        "- **Proactive offences** (drugs, weapons possession) are down-weighted: they measure "
        "police activity as much as harm.",
        "- **Resident population misleads** where few people live but many visit (the West "
        "End, the City): harm per 1,000 residents runs very high there. Counts and rates are "
        "shown side by side.",
        "- **The City of London** has its own police force and is not scored.",
        "- **The forecast** enters the need index only if it beat both naive baselines (the "
        "last 12 months, and the same months last year) in the backtest.",
        "- **Advisory.** The planner ranks and explains; commanders' overrides are recorded "
        "with their reason.",
    ]
)


def need_method_text(scale_quantile: float) -> str:
    """How the need score is made, in a paragraph."""
    return (
        "Each ward's need score is a weighted sum of components, each divided by its London "
        f"scale (the {scale_quantile:.0%} quantile across the scored wards), so the "
        "contributions add up to the score and explain it. Absent components drop out and the "
        "remaining weights are rescaled to sum to 1. The weights are a planning judgement, set "
        "in `config/need.toml`; the sidebar changes them for a scenario only."
    )


def proactive_text(harm: HarmSettings) -> str:
    """How proactively detected offences are treated, and why."""
    treatment = {
        "include": "counted at full weight",
        "downweight": f"down-weighted (x {harm.proactive_factor:g})",
        "exclude": "left out",
    }[harm.proactive_mode]
    return (
        f"Proactively detected offences ({', '.join(harm.proactive_categories)}) are "
        f"**{treatment}**: their recorded counts follow police activity (stop and search, "
        "operations) as much as harm, so full weight would send officers to where officers "
        "already are."
    )


def allocation_method_text(allocation: AllocationResult) -> str:
    """The baseline team, the pool and the method, in a paragraph."""
    a = allocation.settings
    cap = "no cap" if a.max_extra_per_ward is None else f"at most {a.max_extra_per_ward} per ward"
    return (
        f"Every ward keeps its baseline team of **{a.baseline_dwo} Dedicated Ward Officers + "
        f"{a.baseline_pcso} PCSO** (Police and Crime Plan for London: a dedicated ward team in "
        "every ward, 'with more in wards with the most serious problems'; the citation is in "
        f"`config/allocation.toml`). The pool of **{allocation.pool:,}** extra officers is "
        f"apportioned by need in whole officers by **{method_label(a.method)}**, with a borough "
        f"floor of {a.borough_floor_share:.0%} of each borough's entitlement and {cap}."
    )


def hot_spot_caption(report: Mapping[str, Any]) -> str:
    """What the hot-spot outlines mean and how many there are."""
    hot, cold = report.get("hot_spots", "?"), report.get("cold_spots", "?")
    raw = report.get("significant_uncorrected")
    before = f" ({raw} wards were significant before the correction)" if raw is not None else ""
    return (
        f"Hot spots: wards whose neighbourhood holds significantly more harm than chance would "
        f"give it. {hot} hot and {cold} cold spot(s) after the false-discovery-rate "
        f"correction{before}. Red outline = hot spot, dashed blue = cold spot."
    )


def get_data_text(data_dir: Any) -> tuple[str, str]:
    """The no-data page: where the app looked, and the three ways to get the data."""
    intro = (
        "The planner reads public data (Met Police ward crime files, ward boundaries, ONS "
        f"population). It looked in **`{data_dir}`** and did not find them:"
    )
    steps = (
        "Get them in one of three ways, from the repository folder:\n\n"
        "1. `planner fetch`: downloads the official files (London Datastore, ONS, "
        "data.police.uk) into `data/`;\n"
        "2. `planner fetch --from ../shared/data`: imports a local copy without network;\n"
        "3. or point the app at a folder that already holds them: "
        "`PLANNER_DATA=../shared/data streamlit run app.py`.\n\n"
        "Then reload this page. The first load builds the ward counts (cached afterwards); "
        "`planner ingest` does the same from the command line and prints the data-quality "
        "report."
    )
    return intro, steps
