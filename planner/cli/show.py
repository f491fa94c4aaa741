"""What the commands print: plans, scores and priorities as plain text tables."""

from __future__ import annotations

import sys
from typing import Any

from planner.model.need import NeedResult
from planner.outputs import present
from planner.plan.priorities import BoroughPriorities
from planner.results import PlanResult

__all__ = ["plan", "priorities", "scores", "warning"]


def warning(text: str) -> None:
    """One ``warning:`` line on standard error."""
    print(f"warning: {text}", file=sys.stderr)


def plan(result: PlanResult) -> None:
    a, s = result.allocation, result.allocation.settings
    eq = a.equity
    print(
        f"Allocation of {a.pool} extra officers ({present.method_label(s.method)}), baseline "
        f"{s.baseline_dwo} DWO + {s.baseline_pcso} PCSO in each of {len(a.wards)} wards"
    )
    print(
        f"equity: worst-served borough {eq['worst_served_borough']} at "
        f"{present.number(eq['worst_served_borough_ratio'], '{:.2f}')} of its need-proportional "
        f"target; Gini of officers per unit of need "
        f"{present.number(eq['gini_officers_per_need'], '{:.3f}')}; boroughs below floor "
        f"{eq['boroughs_below_floor']}; wards outside quota {eq['wards_outside_quota']}"
    )
    if result.scenario.overrides:
        print(f"{len(result.scenario.overrides)} recorded override(s) applied")
    for skipped in result.skipped_overrides:
        warning(f"override #{skipped['override']} not applied: {skipped['why not applied']}")
    table = result.borough_table()[
        ["borough_name", "n_wards", "need_share", "extra", "target", "ratio", "floor"]
    ].rename(columns={"borough_name": "borough"})
    print()
    print(table.sort_values("extra", ascending=False).round(3).to_string())


def scores(result: NeedResult, top: int) -> None:
    inputs = result.inputs
    print(
        f"Need index, dataset {inputs.dataset}, window {inputs.window.start}..{inputs.window.end}"
        f", harm index {result.settings.harm_index.upper()}"
    )
    print(f"weights used: {present.weights_text(result.weights_used, result.absent)}")
    if inputs.verdict is not None:
        print(f"forecast: {inputs.verdict.explanation}")
    elif inputs.forecast_note:
        print(f"forecast: {inputs.forecast_note}")
    for note in result.notes:
        print(f"note: {note}")
    if result.sensitivity_summary:
        print("sensitivity: " + _sensitivity(result.sensitivity_summary))
    cols = ["ward_name", "borough_name", "need_score", "rank_borough"]
    cols += [c for c in result.scores.columns if c.startswith("contribution: ")]
    table = result.scores.sort_values("rank_london").head(top)[cols]
    table.columns = [c.replace("contribution: ", "") for c in table.columns]
    print()
    print(table.round(3).to_string())


def _sensitivity(ss: dict[str, Any]) -> str:
    parts = [f"{k.replace('_', ' ')} {ss[k]:.3f}" for k in ss if k.startswith("spearman_vs_")]
    parts.append(f"median Spearman under +/-20 % weights {ss['spearman_weights_median']:.3f}")
    parts.append(f"unstable wards {ss['unstable_wards']}")
    return "; ".join(parts)


def priorities(view: BoroughPriorities, year: int, agreed: dict[str, Any] | None) -> None:
    print(f"\n== {view.borough_name} ({view.borough_code}): proposed local priorities for {year}")
    for i, row in enumerate(view.proposed.itertuples(), start=1):
        print(f"  {i}. {row.sentence}")
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
        if note.split(": ", 1)[-1] not in sentences:  # don't repeat the basket's own words
            print(f"  note: {note}")
