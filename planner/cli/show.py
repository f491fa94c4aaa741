"""What the commands print: plans, scores and priorities as plain text tables."""

from __future__ import annotations

import sys
from typing import Any

import pandas as pd

from planner.model.need import NeedResult
from planner.outputs import present
from planner.plan.priorities import BoroughPriorities
from planner.plan.yardsticks import Yardsticks
from planner.results import PlanResult

__all__ = ["modes", "plan", "priorities", "scores", "warning"]


def warning(text: str) -> None:
    """One ``warning:`` line on standard error."""
    print(f"warning: {text}", file=sys.stderr)


def plan(result: PlanResult, sticks: Yardsticks) -> None:
    a, s = result.allocation, result.allocation.settings
    eq = a.equity
    print(
        f"Allocation of {a.pool} extra officers ({present.method_label(s.method)}, "
        f"{present.policy_label(s.policy)}), baseline {s.baseline_dwo} DWO + "
        f"{s.baseline_pcso} PCSO in each of {len(a.wards)} wards"
    )
    for ward in s.special:
        if ward.code in a.wards.index:
            print(f"special ward: {ward.name} ({ward.code}) keeps its baseline, no extras: "
                  f"{ward.reason}")  # fmt: skip
    moved = present.number(eq.get("rounding_officers_moved"), "{:.0f}")
    largest = present.number(eq.get("rounding_max_abs"), "{:.2f}")
    print(
        f"rounding: {moved} officers placed by whole-officer rounding (largest {largest} in a "
        "ward); inversions (a ward with more need getting fewer extras): "
        f"{eq['inversions_cross_borough']} across boroughs, "
        f"{eq['inversions_within_borough']} within"
    )
    current = result.scenario.current
    if current:
        known = len({t.ward_code for t in current} & set(a.wards.index))
        print(f"current staffing given for {known} of {len(a.wards)} wards (table: current, "
              "proposed and change)")  # fmt: skip
    if result.scenario.overrides:
        print(f"{len(result.scenario.overrides)} recorded override(s) applied")
    for skipped in result.skipped_overrides:
        warning(f"override #{skipped['override']} not applied: {skipped['why not applied']}")
    columns = {
        "borough_name": "borough",
        "extra": "extra",
        "floor": "floor",
        "share_extra": "extras %",
        "share_harm": "harm %",
        "share_residents": "residents %",
        "share_asb": "ASB %",
        "confidence_status": "confidence",
    }
    table = sticks.boroughs.join(result.borough_table()[["floor"]])
    table = table[[c for c in columns if c in table]].rename(columns=columns)
    table["extra"] = table["extra"].astype(int)
    for col in ("extras %", "harm %", "residents %", "ASB %"):
        table[col] = (100 * table[col]).map(lambda v: "no data" if pd.isna(v) else f"{v:.1f}")
    print("\nequity against outside yardsticks (shares of all scored wards):")
    print(table.sort_values("extra", ascending=False).to_string())
    if sticks.deciles is not None:
        d = sticks.deciles
        shares = pd.DataFrame(
            {
                "residents %": 100 * d["share_residents"],
                "extras %": 100 * d["share_extra"],
                "harm %": 100 * d["share_harm"],
            }
        ).round(1)
        print("\nby IMD 2019 decile (1 = most deprived):")
        print(shares.T.to_string())
    for note in sticks.notes:
        print(f"note: {note}")


def modes(results: dict[str, Any]) -> None:
    """The allocation modes side by side: where the extras go at each pool."""
    print(
        f"Allocation modes, dataset {results['dataset']}, window {results['window_start']}.."
        f"{results['window_end']}"
    )
    rows = []
    for mode in results["modes"]:
        for pool, d in mode["pools"].items():
            rows.append(
                {
                    "mode": mode["name"],
                    "pool": int(pool),
                    "top 10": d["top10"],
                    "bottom half": d["bottom_half"],
                    "0": d["wards_0"],
                    "1": d["wards_1"],
                    "2": d["wards_2"],
                    "3+": d["wards_3_plus"],
                    "max": d["max"],
                    "inversions": d["inversions_cross_borough"],
                }
            )
    print(pd.DataFrame(rows).to_string(index=False))


def scores(result: NeedResult, top: int) -> None:
    inputs = result.inputs
    print(
        f"Need index, dataset {inputs.dataset}, window {inputs.window.start}..{inputs.window.end}"
        f", harm index {result.settings.harm_index.upper()}"
    )
    print(f"weights used: {present.weights_text(result.weights_used, result.absent)}")
    if inputs.verdict is not None:
        used = "in the need index" if inputs.verdict.beats_all else "not in the need index"
        print(f"forecast ({used}): {inputs.verdict.explanation}")
    elif inputs.forecast_note:
        print(f"forecast: {inputs.forecast_note}")
    for note in result.notes:
        print(f"note: {note}")
    if result.sensitivity_summary:
        print("sensitivity: " + _sensitivity(result.sensitivity_summary))
    cols = ["ward_name", "borough_name", "need_score", "rank_borough"]
    cols += [c for c in result.scores.columns if c.startswith("contribution: ")]
    table = result.scores.sort_values("rank_london").head(top)
    shown = table[cols].round(3).astype(object)
    for c in cols:  # a component the ward has no value for is "no data", not 0
        normalised = c.replace("contribution: ", "normalised: ")
        if normalised != c and normalised in table.columns:
            shown.loc[table[normalised].isna(), c] = "no data"
    shown.columns = [c.replace("contribution: ", "") for c in shown.columns]
    print()
    print(shown.to_string())


def _sensitivity(ss: dict[str, Any]) -> str:
    parts = [f"{k.replace('_', ' ')} {ss[k]:.3f}" for k in ss if k.startswith("spearman_vs_")]
    parts.append(f"median Spearman under +/-20 % weights {ss['spearman_weights_median']:.3f}")
    parts.append(f"unstable wards {ss['unstable_wards']}")
    return "; ".join(parts)


def priorities(view: BoroughPriorities, year: int, agreed: dict[str, Any] | None) -> None:
    print(f"\n== {view.borough_name} ({view.borough_code}): proposed local priorities for {year}")
    for i, row in enumerate(view.proposed.itertuples(), start=1):
        print(f"  {i}. {row.sentence}")
        print(f"     why: {row.why}")
    if view.shortfall:
        print(f"  fewer proposed: {view.shortfall}")
    if view.near_tie:
        print(f"  near tie: {view.near_tie}")
    for line in view.left_out:
        print(f"  left out: {line}")
    if agreed:
        print(
            f"  agreed for {agreed['year']}: {', '.join(agreed['priorities'])} "
            f"(by {agreed['agreed_by']})"
        )
    print("  mandatory high-harm basket:")
    for sentence in view.basket["sentence"]:
        print(f"    - {sentence}")
    sentences = " ".join(view.basket["sentence"].astype(str))
    for note in view.notes:
        if note in view.left_out:
            continue
        if note.split(": ", 1)[-1] not in sentences:  # don't repeat the basket's own words
            print(f"  note: {note}")
