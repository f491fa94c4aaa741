"""Orchestration: dataset -> ward need scores. No Streamlit, no file formats.

Two steps, so that the app's sliders are quick:

:func:`prepare_need` (slow, once per dataset and window)
    ingest (cached) -> wards -> population -> features under every harm index ->
    forecast and its backtest (cached beside ward_counts).
:func:`score_need` (fast, every weight change)
    components -> need score, contributions, ranks (-> sensitivity).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import __version__
from planner import schema as s
from planner.config import PlannerConfig
from planner.ingest import IngestResult, ingest
from planner.model import features as f
from planner.model.scoring import (
    NeedSettings,
    load_need_settings,
    score_wards,
    sensitivity,
    trend_component,
)
from planner.plan.allocation import (
    AllocationResult,
    AllocationSettings,
    Override,
    allocate_wards,
    apply_overrides,
)

__all__ = ["NeedInputs", "NeedResult", "PlanResult", "prepare_need", "run_plan", "score_need"]

log = logging.getLogger(__name__)

Progress = Callable[[str], None] | None


@dataclass
class NeedInputs:
    """Everything scoring needs, computed once per dataset, window and harm settings."""

    dataset: str
    ingest: IngestResult
    wards: gpd.GeoDataFrame  # the scored wards (excluded boroughs and uncovered boroughs removed)
    all_wards: gpd.GeoDataFrame
    population: pd.Series
    window: f.Window
    harm: f.HarmSettings
    features: dict[str, pd.DataFrame]  # harm index key -> ward features
    forecast: dict[str, pd.Series]  # harm index key -> next-12-month harm (may be empty)
    backtest: pd.DataFrame | None
    verdict: dict[str, Any] | None
    monthly: pd.DataFrame  # monthly harm under the default index (sparklines)
    notes: list[str] = field(default_factory=list)


@dataclass
class NeedResult:
    """Scores with their explanation, and how stable they are."""

    inputs: NeedInputs
    settings: NeedSettings
    components: pd.DataFrame
    scores: pd.DataFrame
    sensitivity_summary: dict[str, Any] | None
    sensitivity: pd.DataFrame | None
    manifest: dict[str, Any]


def prepare_need(
    config: PlannerConfig,
    dataset: str | None = None,
    *,
    settings: NeedSettings | None = None,
    window_end: str | None = None,
    use_forecast: bool = True,
    progress: Progress = None,
) -> NeedInputs:
    """Load a dataset and compute the features the need index is built from.

    Parameters
    ----------
    config
        The planner configuration.
    dataset
        Dataset name; default the default dataset.
    settings
        Need settings (window length, excluded boroughs); default ``config/need.toml``.
    window_end
        Last month of the scoring window ("YYYY-MM"); default the newest month in the data.
    use_forecast
        Fit the forecast and run its backtest (cached after the first run).
    progress
        Called with a label per step.

    Returns
    -------
    NeedInputs
    """
    from planner.ingest.sources.population import ward_population
    from planner.ingest.sources.wards import read_dataset_wards

    settings = settings or load_need_settings(config)
    harm = f.load_harm_settings(config)
    _say(progress, "ward counts")
    data = ingest(config, dataset)
    _say(progress, "wards")
    all_wards = data.wards if data.wards is not None else read_dataset_wards(config, data.dataset)
    counts = data.ward_counts
    window = (
        f.Window.ending(window_end, months=settings.window_months)
        if window_end
        else f.default_window(counts, months=settings.window_months)
    )
    wards, notes = _scored_wards(all_wards, counts, window, settings)
    _say(progress, "population")
    population = ward_population(config, all_wards).reindex(wards.index)
    _say(progress, "features")
    feats = {
        key: f.ward_features(
            counts, wards, population, window=window, settings=harm.with_index(key)
        )
        for key in harm.indices
    }
    monthly = f.monthly_harm(counts, harm, wards=wards.index)
    forecast, table, verdict = {}, None, None
    if use_forecast:
        _say(progress, "forecast and backtest")
        forecast, table, verdict = _forecast(config, data, harm, counts, wards, window, feats)
    return NeedInputs(
        dataset=data.dataset,
        ingest=data,
        wards=wards,
        all_wards=all_wards,
        population=population,
        window=window,
        harm=harm,
        features=feats,
        forecast=forecast,
        backtest=table,
        verdict=verdict,
        monthly=monthly,
        notes=notes,
    )


def score_need(
    inputs: NeedInputs,
    settings: NeedSettings,
    *,
    with_sensitivity: bool = True,
) -> NeedResult:
    """Score the prepared wards under *settings* (fast: no I/O, no model fitting).

    The harm index is ``settings.harm_index``; sensitivity compares it with the other
    index and with random weight perturbations.
    """
    key = settings.harm_index
    if key not in inputs.features:
        from planner.errors import ConfigError

        raise ConfigError(
            f"harm index {key!r} is not configured; use one of {sorted(inputs.features)}"
        )
    boroughs = inputs.wards[s.BOROUGH_CODE]
    components = _components(inputs, key, settings)
    scores = score_wards(components, boroughs, settings)
    scores.insert(0, s.WARD_NAME, inputs.wards[s.WARD_NAME])
    scores.insert(2, s.BOROUGH_NAME, inputs.wards[s.BOROUGH_NAME])
    summary = per_ward = None
    if with_sensitivity:
        others = [k for k in inputs.features if k != key]
        alt = _components(inputs, others[0], settings) if others else None
        summary, per_ward = sensitivity(
            components,
            boroughs,
            settings,
            alternative=alt,
            alternative_name=others[0] if others else "alt",
        )
    manifest = _manifest(inputs, settings, scores)
    return NeedResult(inputs, settings, components, scores, summary, per_ward, manifest)


@dataclass
class PlanResult:
    """Need scores and the whole-officer allocation built on them."""

    need: NeedResult
    allocation: AllocationResult
    manifest: dict[str, Any]


def run_plan(
    inputs: NeedInputs,
    need_settings: NeedSettings,
    allocation_settings: AllocationSettings,
    *,
    pool: int,
    overrides: Sequence[Override] = (),
    with_sensitivity: bool = False,
) -> PlanResult:
    """Score the wards, then allocate *pool* extra officers by need (plus any overrides).

    Raises
    ------
    InfeasibleAllocationError
        The caps, floors or damping cannot be met with this pool (the message has the numbers).
    """
    need = score_need(inputs, need_settings, with_sensitivity=with_sensitivity)
    scores = need.scores
    allocation = allocate_wards(
        scores["need_score"], scores[s.BOROUGH_CODE], pool=pool, settings=allocation_settings
    )
    if overrides:
        allocation = apply_overrides(allocation, overrides)
    manifest = {
        **need.manifest,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "allocation": {
            "pool": pool,
            "method": allocation_settings.method,
            "baseline_dwo": allocation_settings.baseline_dwo,
            "baseline_pcso": allocation_settings.baseline_pcso,
            "max_extra_per_ward": allocation_settings.max_extra_per_ward,
            "borough_floor_share": allocation_settings.borough_floor_share,
            "max_change": allocation_settings.max_change,
            "excluded": sorted(allocation_settings.excluded),
            "overrides": [dataclasses.asdict(o) for o in overrides],
        },
        "equity": allocation.equity,
    }
    return PlanResult(need, allocation, manifest)


# --- private steps -------------------------------------------------------------------------


def _scored_wards(
    wards: gpd.GeoDataFrame, counts: pd.DataFrame, window: f.Window, settings: NeedSettings
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Drop excluded boroughs (the City) and boroughs with no records at all in the window."""
    notes = []
    keep = ~wards[s.BOROUGH_CODE].isin(settings.exclude_boroughs)
    if (~keep).any():
        notes.append(
            f"{int((~keep).sum())} wards in {', '.join(settings.exclude_boroughs)} are not scored "
            "(config/need.toml exclude_boroughs: the City of London has its own police force)"
        )
    months = set(window.months)
    in_window = counts[counts[s.MONTH].astype(str).isin(months)]
    has_records = wards.index.isin(in_window[s.WARD_CODE].astype(str).unique())
    share = pd.Series(has_records, index=wards.index).groupby(wards[s.BOROUGH_CODE]).mean()
    covered = share[share >= settings.min_borough_coverage].index
    uncovered = keep & ~wards[s.BOROUGH_CODE].isin(covered)
    if uncovered.any():
        names = sorted(set(wards.loc[uncovered, s.BOROUGH_NAME]))
        notes.append(
            f"{int(uncovered.sum())} wards in {len(names)} borough(s) where fewer than "
            f"{settings.min_borough_coverage:.0%} of wards have records in the window are not "
            f"scored (the source does not cover them): {', '.join(names)}"
        )
    return wards.loc[keep & ~uncovered], notes


def _components(inputs: NeedInputs, key: str, settings: NeedSettings) -> pd.DataFrame:
    feats = inputs.features[key]
    comps = pd.DataFrame(index=feats.index)
    comps["harm"] = feats["harm"]
    if feats.attrs.get("asb_present") and "asb" in feats:
        comps["asb"] = feats["asb"]
    fc = inputs.forecast.get(key)
    if fc is None and inputs.forecast:  # scale the modelled index's forecast to this index
        base_key, base = next(iter(inputs.forecast.items()))
        growth = base / inputs.features[base_key]["harm"].replace(0, np.nan)
        fc = (feats["harm"] * growth.fillna(1.0)).rename("forecast")
    if fc is not None:
        comps["forecast"] = fc.reindex(feats.index).clip(lower=0)
    if feats.attrs.get("trend_available", True) and "harm_prior" in feats:
        comps["trend"] = trend_component(
            feats["harm_last"], feats["harm_prior"], prior_days=settings.trend_prior_days
        )
    comps["rate"] = feats["harm_per_1000"]
    return comps


def _forecast(
    config: PlannerConfig,
    data: IngestResult,
    harm: f.HarmSettings,
    counts: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    window: f.Window,
    feats: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.Series], pd.DataFrame | None, dict[str, Any] | None]:
    """Backtest the model (cached); forecast only if it beats both baselines."""
    from planner.model import forecast as fc

    estimator, options = fc.forecaster_from_config(config)
    monthly = f.monthly_harm(counts, harm, wards=wards.index)
    monthly = monthly.loc[:, [m for m in monthly.columns if m <= window.end]]
    key = hashlib.sha256(
        json.dumps(
            [
                __version__,
                estimator.get_params(),
                options,
                list(wards.index),
                window.end,
                str(harm),
            ],
            sort_keys=True,
            default=str,
        ).encode()
    ).hexdigest()[:16]
    cache = data.cache_dir / "need" / f"backtest_{key}.csv"
    if cache.is_file():
        table = pd.read_csv(cache, dtype={"origin": str})
    else:
        table = fc.backtest(monthly, estimator=estimator, **options)
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_suffix(".tmp")
        table.to_csv(tmp, index=False)
        tmp.replace(cache)
    verdict = fc.verdict(table)
    if not verdict.get("beats_both"):
        log.info("forecast not used: %s", verdict.get("explanation"))
        return {}, table, verdict
    model = estimator.fit(monthly)
    return {harm.index: model.predict_total(monthly).reindex(wards.index)}, table, verdict


def _manifest(inputs: NeedInputs, settings: NeedSettings, scores: pd.DataFrame) -> dict[str, Any]:
    return {
        "planner_version": __version__,
        "dataset": inputs.dataset,
        "window": {"start": inputs.window.start, "end": inputs.window.end},
        "harm_index": settings.harm_index,
        "weights_used": scores.attrs.get("weights"),
        "absent_components": scores.attrs.get("absent"),
        "scales": scores.attrs.get("scales"),
        "settings": dataclasses.asdict(settings),
        "forecast": inputs.verdict,
        "notes": inputs.notes + list(scores.attrs.get("notes", [])),
        "wards_scored": len(scores),
        "data": inputs.ingest.manifest.get("inputs"),
        "ward_counts_cache": str(inputs.ingest.cache_dir),
    }


def _say(progress: Progress, label: str) -> None:
    log.info(label)
    if progress:
        progress(label)
