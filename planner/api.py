"""The application layer: every action the app and the command line perform, in one place.

A front end turns its widgets or options into a :class:`~planner.scenario.Scenario`, calls
one of these functions, and presents what comes back; no domain rule lives in a front end.

======================  =================================================================
action                  function
======================  =================================================================
load a dataset          :func:`prepare` (ingest, features, forecast; drops a forecast it
                        cannot backtest, with a warning)
score                   :func:`score`, :func:`write_scores`
plan                    :func:`plan` (the register's overrides applied once)
priorities              :func:`evidence`, :func:`borough_priorities`, :func:`plan_year`
export a plan           :func:`export_plan`
save / load a plan      :func:`save_plan`, :func:`load_plan`
borough pack            :func:`borough_pack`, :func:`borough_pack_pdf`, :func:`write_borough_pack`
compare scenarios       :func:`compare`
======================  =================================================================

Over 400 lines because it is the one place every front-end action lives (the table above).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pandas as pd

from planner import schema as s
from planner.config import COMPONENTS, PlannerConfig
from planner.errors import DataError, PlannerWarning
from planner.model.need import (
    NeedInputs,
    NeedResult,
    Progress,
    absent_components,
    prepare_need,
    score_need,
)
from planner.plan.allocation import allocate_wards, compare_allocations
from planner.plan.basket import Basket, high_harm_basket
from planner.plan.evidence import Evidence, borough_evidence
from planner.plan.overrides import Override, apply_overrides, fitting_overrides
from planner.plan.priorities import BoroughPriorities
from planner.plan.priorities import borough_priorities as _borough_view
from planner.plan.yardsticks import Yardsticks
from planner.plan.yardsticks import confidence_panel as _confidence_panel
from planner.plan.yardsticks import yardsticks as _yardsticks
from planner.register.access import LOCAL_PLANNER, User
from planner.register.store import PlanRegister
from planner.results import PlanResult, RunManifest, jsonable
from planner.scenario import Scenario

__all__ = [
    "Comparison",
    "ConfidencePanel",
    "SavedPlan",
    "absent_reasons",
    "borough_names",
    "borough_pack",
    "borough_pack_pdf",
    "borough_priorities",
    "compare",
    "compare_modes",
    "confidence_panel",
    "evidence",
    "export_plan",
    "export_stem",
    "load_plan",
    "plan",
    "plan_year",
    "prepare",
    "prepare_kept",
    "priority_inputs",
    "save_plan",
    "score",
    "window_ends",
    "write_borough_pack",
    "write_scores",
    "write_staffing_template",
    "yardsticks",
]

log = logging.getLogger(__name__)


# --- data ------------------------------------------------------------------------------------


def prepare(
    config: PlannerConfig,
    scenario: Scenario,
    *,
    use_cache: bool = True,
    progress: Progress = None,
) -> NeedInputs:
    """Load the scenario's dataset and window: ward counts, wards, features, the forecast.

    A forecast that cannot be backtested on this data (too few months of history) is dropped
    with a :class:`~planner.errors.PlannerWarning` and the reason kept in
    ``inputs.forecast_note``; the rest of the scenario goes ahead.

    Raises
    ------
    DataError
        A file is missing or unusable, or the window is not in the data.
    """

    def load(use_forecast: bool) -> NeedInputs:
        return prepare_need(
            config,
            scenario.dataset,
            settings=scenario.need,
            window_end=scenario.window_end,
            use_forecast=use_forecast,
            use_cache=use_cache,
            progress=progress,
        )

    try:
        return load(scenario.use_forecast)
    except DataError as exc:
        if not scenario.use_forecast:
            raise
        why = f"the forecast cannot be used with this data, so it is off: {exc}"
        warnings.warn(why, PlannerWarning, stacklevel=2)
        inputs = load(False)
        inputs.forecast_note = f"cannot be fitted to this data ({exc})"
        return inputs


def prepare_kept(
    config: PlannerConfig, scenario: Scenario, *, progress: Progress = None
) -> NeedInputs:
    """:func:`prepare`, kept on disk between processes (:mod:`planner.model.snapshot`).

    What the app loads with, so that a fresh server shows its first map in seconds: the
    snapshot is used only while the code, the configuration, every file of the data folder and
    the scenario's dataset, window, need settings and forecast choice are what it was made
    from; otherwise this is :func:`prepare`, and the result is kept for next time.
    """
    from planner.model.snapshot import load_or_build, snapshot_key

    dataset = config.dataset(scenario.dataset).name
    parts = (dataset, scenario.window_end, scenario.need, scenario.use_forecast)
    return cast(
        NeedInputs,
        load_or_build(
            Path(config.cache_dir) / "prepared",
            dataset,
            snapshot_key(config, parts),
            lambda: prepare(config, scenario, progress=progress),
        ),
    )


def borough_names(inputs: NeedInputs) -> pd.Series:
    """Borough name by code for the scored wards, in name order."""
    names = inputs.wards.groupby(s.BOROUGH_CODE, sort=False)[s.BOROUGH_NAME].first()
    return names.sort_values(kind="stable")


def window_ends(inputs: NeedInputs) -> list[str]:
    """Months that can end a scoring window in this data, newest first.

    Those with the window and the one before it in the data (the trend and the priorities'
    change need both); where the data are shorter than two windows, those with one window.
    """
    months = len(inputs.window)
    present = [str(m) for m in inputs.monthly.columns]
    for history in (2 * months, months):
        if len(present) >= history:
            return present[history - 1 :][::-1]
    return present[::-1]


def absent_reasons(inputs: NeedInputs) -> dict[str, str]:
    """Why each need component the data cannot provide is absent, in words."""
    reasons = {}
    for comp in absent_components(inputs):
        if comp == "asb":
            kinds = {src.get("kind", "") for src in inputs.ingest.quality.get("sources", [])}
            met = any(k.startswith("mps") for k in kinds)
            reasons[comp] = "not in this data" + (
                " (the Met publishes none at ward level)" if met else ""
            )
        elif comp == "forecast" and inputs.verdict is not None and not inputs.verdict.beats_all:
            reasons[comp] = f"not used: the backtest's model {inputs.verdict.summary}"
        elif comp == "forecast":
            reasons[comp] = inputs.forecast_note or "not available"
        elif comp == "trend":
            reasons[comp] = "not available: the data do not cover the 12 months before the window"
        else:
            reasons[comp] = "not available in this data"
    return {c: reasons[c] for c in COMPONENTS if c in reasons}


# --- scores and plans ------------------------------------------------------------------------


def score(inputs: NeedInputs, scenario: Scenario, *, with_sensitivity: bool = True) -> NeedResult:
    """The need index of every scored ward under the scenario's need settings."""
    return score_need(inputs, scenario.need, with_sensitivity=with_sensitivity)


def plan(
    inputs: NeedInputs,
    scenario: Scenario,
    *,
    register: PlanRegister | None = None,
    with_sensitivity: bool = False,
) -> PlanResult:
    """Score the wards, allocate the pool in whole officers, then apply overrides once.

    Parameters
    ----------
    inputs
        From :func:`prepare`.
    scenario
        The choices; its ``overrides`` are applied after the allocation.
    register
        When given, the overrides recorded there that fit this allocation are added to the
        scenario's (in the order recorded); those that do not fit are listed in
        ``skipped_overrides`` with the reason.

    Raises
    ------
    InfeasibleAllocationError
        The caps, floors or damping cannot be met with this pool (the message has the numbers).
    """
    need = score(inputs, scenario, with_sensitivity=with_sensitivity)
    scores = need.scores
    _check_staffing(scenario, scores.index)
    allocation = allocate_wards(
        scores["need_score"],
        scores[s.BOROUGH_CODE],
        pool=scenario.pool,
        settings=scenario.allocation_settings(),
    )
    skipped: list[dict[str, Any]] = []
    overrides = list(scenario.overrides)
    if register is not None:
        recorded = [(n, o) for n, o in _recorded(register) if o not in overrides]
        fits, skipped = fitting_overrides(apply_overrides(allocation, overrides), recorded)
        overrides += fits
        scenario = dataclasses.replace(scenario, overrides=tuple(overrides))
    if overrides:
        allocation = apply_overrides(allocation, overrides)
    manifest = RunManifest.build(need, scenario, allocation=allocation)
    return PlanResult(need, allocation, scenario, manifest, skipped)


def _check_staffing(scenario: Scenario, codes: pd.Index) -> None:
    """Warn about current-staffing rows for wards that are not in this plan."""
    unknown = sorted({t.ward_code for t in scenario.current} - set(codes))
    if unknown:
        warnings.warn(
            f"current staffing lists {len(unknown)} ward(s) that are not scored in this "
            f"dataset, left out: {', '.join(unknown[:10])}; a file made for another ward "
            "vintage needs the codes of this one (`planner plan --current-template FILE`)",
            PlannerWarning,
            stacklevel=3,
        )


def _recorded(register: PlanRegister) -> list[tuple[int, Override]]:
    rows = register.overrides()
    return [
        (
            int(row.id),
            Override(
                borough_code=str(row.borough_code),
                from_ward=str(row.from_ward),
                to_ward=str(row.to_ward),
                officers=int(row.officers),
                reason=str(row.reason),
                recorded_by=str(row.recorded_by),
            ),
        )
        for row in rows.itertuples(index=False)
    ]


@dataclass(frozen=True)
class Comparison:
    """Two scenarios' plans and their differences (b minus a), per ward and per borough."""

    a: PlanResult
    b: PlanResult
    wards: pd.DataFrame
    boroughs: pd.DataFrame


def compare(
    inputs: NeedInputs, a: Scenario, b: Scenario, *, names: tuple[str, str] = ("a", "b")
) -> Comparison:
    """Plan both scenarios on the same data and set them side by side."""
    first, second = plan(inputs, a), plan(inputs, b)
    wards, boroughs = compare_allocations(first.allocation, second.allocation, names=names)
    return Comparison(first, second, wards, boroughs)


def compare_modes(
    inputs: NeedInputs, scenario: Scenario, config: PlannerConfig, *, progress: Progress = None
) -> dict[str, Any]:
    """The results ``planner plan --compare`` writes (README "Results"), JSON-ready.

    Each allocation mode of :data:`planner.plan.distribution.MODES` at each pool of
    :data:`~planner.plan.distribution.COMPARED_POOLS`: extras to the top 10 and the bottom
    half, wards getting 0/1/2/3+, cross-borough inversions and rounding. For *scenario* itself:
    the equity against outside yardsticks by borough and IMD decile, the worst inversions,
    the wards with trend credit, the special wards, and every borough's proposed priorities.
    """
    from planner.plan.distribution import COMPARED_POOLS, MODES, distribution

    names = inputs.wards[s.WARD_NAME]
    modes = []
    for mode in MODES:
        pools = {}
        for pool in COMPARED_POOLS:
            if progress:
                progress(f"{mode.name} at {pool}")
            result = plan(inputs, scenario.changed(pool=pool, **mode.changes))
            eq = result.allocation.equity
            pools[str(pool)] = {
                **distribution(result.allocation.wards),
                "inversions_cross_borough": eq["inversions_cross_borough"],
                "rounding_officers_moved": eq.get("rounding_officers_moved"),
            }
        modes.append({"name": mode.name, "description": mode.description, "pools": pools})
    chosen = plan(inputs, scenario)
    sticks = yardsticks(chosen, config)
    eq = chosen.allocation.equity
    worst = [
        {
            **pair,
            "more_need_name": names.get(pair["more_need"]),
            "less_need_name": names.get(pair["less_need"]),
        }
        for pair in eq["worst_inversions"]
    ]
    feats = inputs.features[scenario.need.harm_index]
    credited = feats[feats["trend_rise"] > 0] if "trend_rise" in feats else feats.iloc[:0]
    table = chosen.ward_table()
    results: dict[str, Any] = jsonable(
        {
            "made_by": "planner plan --compare",
            "dataset": inputs.dataset,
            "window_start": inputs.window.start,
            "window_end": inputs.window.end,
            "scenario": scenario.to_dict(),
            "modes": modes,
            "equity": {
                "pool": scenario.pool,
                "boroughs": sticks.boroughs.reset_index().to_dict("records"),
                "deciles": (
                    sticks.deciles.reset_index().to_dict("records")
                    if sticks.deciles is not None
                    else None
                ),
                "notes": sticks.notes,
                "summary": sticks.summary(),
                "rounding_officers_moved": eq.get("rounding_officers_moved"),
                "inversions_cross_borough": eq["inversions_cross_borough"],
                "inversions_within_borough": eq["inversions_within_borough"],
                "worst_inversions": worst,
            },
            "trend": {
                "wards_scored": len(feats),
                "wards_with_credit": len(credited),
                "wards": [
                    {
                        "ward_code": code,
                        "ward_name": names.get(code),
                        "borough_name": inputs.wards[s.BOROUGH_NAME].get(code),
                        "q": row["trend_q"],
                        "text": row["trend_text"],
                    }
                    for code, row in credited.sort_values("trend_q").iterrows()
                ],
            },
            "special": [
                {
                    "code": w.code,
                    "name": w.name,
                    "reason": w.reason,
                    "extra": int(table[s.EXTRA].get(w.code, 0)) if w.code in table.index else None,
                }
                for w in scenario.allocation.special
            ],
            "priorities": _all_priorities(inputs, config),
        }
    )
    return results


def _all_priorities(inputs: NeedInputs, config: PlannerConfig) -> list[dict[str, Any]]:
    """Every borough's proposed priorities with their harm share and margin."""
    london = evidence(inputs, config)
    out = []
    for code, name in borough_names(inputs).items():
        view = borough_priorities(inputs, config, code, london=london)
        proposed = view.proposed
        columns = ("candidate", "harm_share", "scored_rate_ratio", "score", "next_candidate",
                   "margin", "near_tie")  # fmt: skip
        keep = [c for c in columns if c in proposed]
        out.append(
            {
                "borough_code": code,
                "borough_name": name,
                "proposed": proposed[keep].to_dict("records"),
            }
        )
    return out


# --- outside yardsticks ---------------------------------------------------------------------


def yardsticks(result: PlanResult, config: PlannerConfig) -> Yardsticks:
    """The plan's extra officers beside harm, residents, ASB, deprivation and confidence.

    By borough and by IMD 2019 decile (:mod:`planner.plan.yardsticks`); a yardstick the data
    lacks reads "no data" with the reason in ``notes``.
    """
    inputs = result.inputs
    feats = inputs.features[result.need.settings.harm_index]
    confidence = inputs.confidence
    return _yardsticks(
        result.ward_table(),
        pool=result.allocation.pool,
        harm=feats["harm"],
        residents=inputs.population,
        asb=feats["asb"] if inputs.asb_present and "asb" in feats else None,
        asb_boroughs=asb_boroughs(inputs),
        deciles=inputs.deciles.residents if inputs.deciles is not None else None,
        deciles_note=inputs.deciles.note if inputs.deciles is not None else "",
        confidence=confidence.table if confidence is not None else None,
        confidence_note=confidence.note if confidence is not None else "",
        settings=config.yardsticks.confidence,
        as_of=survey_as_of(inputs),
    )


def confidence_panel(inputs: NeedInputs, config: PlannerConfig, borough: str) -> ConfidencePanel:
    """A borough's latest PAS measures against the MPS figure, with their trend and date."""
    code = config.borough_code(borough) or borough
    confidence = inputs.confidence
    if confidence is None or confidence.table is None:
        why = confidence.note if confidence is not None else "no PAS data"
        return ConfidencePanel(code, None, why)
    table = _confidence_panel(
        confidence.table, code, config.yardsticks.confidence, as_of=survey_as_of(inputs)
    )
    dates = table["date"].dropna()
    note = ""
    if len(dates):
        age = (pd.Period(inputs.window.end, "M") - pd.Period(dates.max(), "M")).n
        if age > 12:
            note = (
                f"The latest survey in the data is {dates.max():%B %Y}, {age} months before the "
                f"window's end ({inputs.window.end}): refresh pas/ with `planner fetch`"
            )
    return ConfidencePanel(code, table, note)


@dataclass(frozen=True)
class ConfidencePanel:
    """:func:`confidence_panel`: the borough's PAS table (None without data) and a note."""

    borough_code: str
    table: pd.DataFrame | None
    note: str = ""


def survey_as_of(inputs: NeedInputs) -> pd.Timestamp:
    """The last day of the scoring window: surveys after it are not used."""
    return pd.Period(inputs.window.end, "M").end_time.normalize()


def asb_boroughs(inputs: NeedInputs) -> frozenset[str] | None:
    """Boroughs whose wards the ASB data covers (None: all of them, or no ASB data).

    From ingest's coverage table (``asb_data_share`` of the features): a borough is covered
    when every one of its scored wards has ASB data in some month of the window; a borough
    the ASB source does not cover reads "no data" in the yardsticks, never zero.
    """
    if not inputs.asb_present:
        return None
    feats = inputs.features[inputs.harm.index]
    if "asb_data_share" not in feats:
        return None
    share = feats["asb_data_share"].reindex(inputs.wards.index).fillna(0.0)
    covered = (share > 0).groupby(inputs.wards[s.BOROUGH_CODE]).all()
    if covered.all():
        return None
    return frozenset(str(b) for b in covered.index[covered.to_numpy()])


# --- priorities ------------------------------------------------------------------------------


def evidence(inputs: NeedInputs, config: PlannerConfig) -> tuple[Evidence, Basket]:
    """The priority evidence and the high-harm basket of every borough (compute once).

    Special wards (``config.allocation.special``) are left out unless
    ``in_priority_evidence``; central boroughs' rates use the workplace file of
    ``config.priorities.footfall`` (resident rates everywhere, with a note, when it is missing).

    Raises
    ------
    DataError
        The data do not cover the window (and, where they cover 24 months or more, the 12
        months before it): the message names the window ends to choose from.
    """
    from planner.ingest.sources.workplace import workplace_for

    settings, special = config.priorities, config.allocation.special
    found = borough_evidence(
        inputs, settings=settings, special=special, workplace=workplace_for(config)
    )
    return found, high_harm_basket(inputs, settings=settings, special=special)


def borough_priorities(
    inputs: NeedInputs,
    config: PlannerConfig,
    borough: str,
    *,
    london: tuple[Evidence, Basket] | None = None,
) -> BoroughPriorities:
    """One borough's evidence, proposed priorities and basket (*london*: :func:`evidence`).

    ``proposed`` holds up to ``n_priorities`` candidates (fewer where fewer carry the minimum
    harm share: ``shortfall`` says why), with ``near_tie`` in words where the next candidate is
    within the margin; columns :data:`planner.plan.priorities.PROPOSAL_COLUMNS`.
    """
    ev, basket = london if london is not None else evidence(inputs, config)
    return _borough_view(inputs, borough, config=config, evidence=ev, basket=basket)


def priority_inputs(result: PlanResult) -> NeedInputs:
    """The plan's inputs under the plan's harm index, for its borough priorities.

    The priority evidence weighs harm by ``inputs.harm``'s index; a scenario that scores on
    another index (``--harm-index css``) gets its priorities under that one, so a page or pack
    names one harm index throughout. The inputs themselves where they already agree.
    """
    inputs, index = result.inputs, result.need.settings.harm_index
    if inputs.harm.index == index:
        return inputs
    return dataclasses.replace(inputs, harm=inputs.harm.with_index(index))


def plan_year(window_end: str) -> int:
    """The year a review on data ending *window_end* plans for: the next April's year.

    Priorities are agreed for the policing year that starts in April: data to January 2026
    plan for 2026, data to May 2026 for 2027.
    """
    year, month = int(window_end[:4]), int(window_end[5:7])
    return year if month < 4 else year + 1


# --- files out -------------------------------------------------------------------------------


def write_scores(result: NeedResult, scenario: Scenario, out: str | Path) -> list[Path]:
    """Write the need tables (scores, components, features, sensitivity, backtest) as CSV."""
    from planner.outputs.export import write_need_tables

    return write_need_tables(result, RunManifest.build(result, scenario), out)


def export_plan(
    result: PlanResult,
    out: str | Path,
    *,
    formats: Iterable[str],
    stem: str = "allocation",
) -> list[Path]:
    """Write a plan as CSV, Excel, GeoJSON, GeoPackage and/or a zip of the CSVs, with its
    manifest; every file names the scenario inside it (:func:`export_stem` names it in the
    file name)."""
    from planner.outputs.export import write_allocation

    return write_allocation(
        result.allocation,
        result.inputs.wards,
        out,
        manifest=result.manifest,
        scores=result.need.scores,
        current=result.scenario.current_table(),
        formats=formats,
        stem=stem,
        harm=result.inputs.harm.indices[result.need.settings.harm_index],
    )


def export_stem(result: PlanResult) -> str:
    """The file name start of a plan's exports: the scenario in words and its id
    (:func:`planner.outputs.export.scenario_stem`)."""
    from planner.outputs.export import scenario_stem

    return scenario_stem(result.manifest, result.allocation)


def write_staffing_template(inputs: NeedInputs, scenario: Scenario, out: str | Path) -> Path:
    """Write the current-staffing file to fill in: every ward with the baseline team (CSV)."""
    from planner.outputs.export import write_csv
    from planner.plan.staffing import staffing_template

    table = staffing_template(
        inputs.wards,
        dwo=scenario.allocation.baseline_dwo,
        pcso=scenario.allocation.baseline_pcso,
    )
    return write_csv(table, Path(out), index=False)


def borough_pack(
    result: PlanResult,
    borough: str,
    *,
    config: PlannerConfig,
    london: tuple[Evidence, Basket] | None = None,
    register: PlanRegister | None = None,
) -> str:
    """The printable pack of one borough as a self-contained HTML page.

    With *register*, the pack records the borough's agreed priorities (this plan year's and
    last year's) and every override recorded for it with its reason. The priorities are
    computed under the plan's harm index (*london* is used only where it is the same).
    """
    from planner.outputs.pack import borough_pack_html

    view = _pack_priorities(result, config, borough, london)
    return borough_pack_html(
        result, borough, config=config, priorities=view,
        record=_meeting_record(result, config, borough, register),
        **_pack_extras(result, config, borough),
    )  # fmt: skip


def borough_pack_pdf(
    result: PlanResult,
    borough: str,
    *,
    config: PlannerConfig,
    london: tuple[Evidence, Basket] | None = None,
    register: PlanRegister | None = None,
) -> bytes:
    """The borough pack printed to PDF by headless Chromium (:func:`borough_pack`'s page).

    Raises
    ------
    PdfUnavailable
        No Chromium or Playwright here; the message names the fix.
    """
    import tempfile

    from planner.outputs.pack import pdf_footer
    from planner.outputs.pdf import html_to_pdf

    page = borough_pack(result, borough, config=config, london=london, register=register)
    name = str(result.borough_names()[_borough_code(result, config, borough)])
    with tempfile.TemporaryDirectory(prefix="planner-pack-") as tmp:
        path = html_to_pdf(page, Path(tmp) / "pack.pdf", footer=pdf_footer(result, name))
        return path.read_bytes()


def write_borough_pack(
    result: PlanResult,
    borough: str,
    out: str | Path,
    *,
    config: PlannerConfig,
    pdf: bool = False,
    register: PlanRegister | None = None,
) -> list[Path]:
    """Write ``<borough>_pack.html`` (and with *pdf* the PDF, printed by headless Chromium)."""
    from planner.outputs.pack import write_borough_pack as write

    view = _pack_priorities(result, config, borough, None)
    extras = _pack_extras(result, config, borough)
    record = _meeting_record(result, config, borough, register)
    return write(
        result, borough, out, config=config, priorities=view, pdf=pdf, record=record, **extras
    )


def _borough_code(result: PlanResult, config: PlannerConfig, borough: str) -> str:
    from planner.plan.priorities import match_borough

    return match_borough(borough, result.borough_names(), config, result.manifest.dataset)


def _meeting_record(
    result: PlanResult, config: PlannerConfig, borough: str, register: PlanRegister | None
) -> Any:
    """The register's agreements and overrides of *borough* for the pack (None: no register)."""
    from planner.outputs.pack import MeetingRecord

    if register is None:
        return None
    code = _borough_code(result, config, borough)
    year = plan_year(result.inputs.window.end)
    return MeetingRecord(
        year=year,
        agreed=register.agreed_priorities(code, year),
        previous=register.previous_year(code, year),
        overrides=register.overrides(borough_code=code),
    )


def _pack_extras(result: PlanResult, config: PlannerConfig, borough: str) -> dict[str, Any]:
    """The pack's public-confidence panel and outside yardsticks."""
    panel = confidence_panel(result.inputs, config, borough)
    confidence = panel.table if panel.table is not None else panel.note
    return {"confidence": confidence, "yardsticks": yardsticks(result, config)}


def _pack_priorities(
    result: PlanResult,
    config: PlannerConfig,
    borough: str,
    london: tuple[Evidence, Basket] | None,
) -> BoroughPriorities | str:
    """The borough's priorities under the plan's harm index (one index named in the pack)."""
    inputs = priority_inputs(result)
    if inputs is not result.inputs:
        london = None  # computed under another index
    try:
        return borough_priorities(inputs, config, borough, london=london)
    except DataError as exc:
        log.warning("local priorities not computed for %s: %s", borough, exc)
        return f"The local priorities could not be computed for this pack: {exc}"


# --- the register ----------------------------------------------------------------------------


def save_plan(
    register: PlanRegister,
    result: PlanResult,
    name: str,
    *,
    user: User = LOCAL_PLANNER,
    created_by: str | None = None,
) -> int:
    """Save a plan in the register with its scenario and manifest; returns its id."""
    table = result.allocation.wards.join(result.need.scores[["need_score"]])
    return register.save_plan(
        name,
        table.reset_index(),
        settings=result.scenario.to_dict(),
        manifest=result.manifest.to_dict(),
        user=user,
        created_by=created_by,
    )


@dataclass(frozen=True)
class SavedPlan:
    """A plan read back from the register: who saved it and when, its scenario, its wards."""

    id: int
    name: str
    created_at: pd.Timestamp
    created_by: str
    scenario: Scenario | None  # None for a plan saved before scenarios were recorded
    manifest: RunManifest | None
    wards: pd.DataFrame


def load_plan(register: PlanRegister, plan_id: int) -> SavedPlan:
    """A saved plan with its scenario read back through the configuration's checks."""
    meta, table = register.load_plan(plan_id)
    try:
        scenario = Scenario.from_dict(meta["settings"], where=f"saved plan {plan_id}")
    except (ValueError, TypeError) as exc:  # ConfigError is a ValueError
        log.info("saved plan %s has no readable scenario: %s", plan_id, exc)
        scenario = None
    manifest = meta.get("manifest") or {}
    return SavedPlan(
        id=int(meta["id"]),
        name=str(meta["name"]),
        created_at=pd.Timestamp(meta["created_at"]),
        created_by=str(meta["created_by"]),
        scenario=scenario,
        manifest=RunManifest.from_dict(manifest) if "scenario" in manifest else None,
        wards=table,
    )
