"""A dataset prepared for scoring, and scoring it. No Streamlit, no file formats.

Two steps, so that the app's sliders are quick:

:func:`prepare_need` (slow, once per dataset and window)
    ingest (cached) -> wards -> population -> features under every harm index ->
    forecast and its backtest (cached beside ward_counts).
:func:`score_need` (fast, every weight change)
    components -> need score, contributions, ranks (-> sensitivity).
"""

from __future__ import annotations

import hashlib
import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from planner import __version__
from planner import schema as s
from planner.config import COMPONENTS, HarmSettings, NeedSettings, PlannerConfig
from planner.errors import ConfigError, DataError, PlannerWarning
from planner.files import atomic_path
from planner.ingest import IngestResult, ingest
from planner.ingest.sources.confidence import Confidence
from planner.ingest.sources.deprivation import WardDeciles
from planner.model.backtest import Verdict
from planner.model.features import ward_features
from planner.model.harm import monthly_harm
from planner.model.missing import missing_note, months_present
from planner.model.scoring import score_wards, sensitivity
from planner.model.window import Window, default_window

__all__ = [
    "NeedInputs",
    "NeedResult",
    "Progress",
    "absent_components",
    "prepare_need",
    "score_need",
]

log = logging.getLogger(__name__)

Progress = Callable[[str], None] | None


@dataclass
class NeedInputs:
    """Everything scoring needs, computed once per dataset, window and harm settings.

    ``features`` maps each harm index to its per-ward feature table; ``forecast`` the
    modelled index to its next-12-month harm (empty when the forecast is off or did not beat
    its baselines); ``monthly`` is monthly harm under the default index (for sparklines).
    """

    dataset: str
    ingest: IngestResult
    wards: gpd.GeoDataFrame  # the scored wards (excluded and uncovered boroughs removed)
    all_wards: gpd.GeoDataFrame
    population: pd.Series
    window: Window
    harm: HarmSettings
    features: dict[str, pd.DataFrame]
    asb_present: bool
    trend_available: bool
    forecast: dict[str, pd.Series]
    backtest: pd.DataFrame | None
    verdict: Verdict | None
    monthly: pd.DataFrame
    use_forecast: bool = False
    forecast_note: str = ""  # why the forecast is not in the index ("" when it is)
    notes: list[str] = field(default_factory=list)
    confidence: Confidence | None = None  # the PAS survey by borough (outside yardstick)
    deciles: WardDeciles | None = None  # residents by IMD decile (outside yardstick)
    low_confidence: pd.Series | None = None  # the optional need component, per ward
    excluded_boroughs: tuple[str, ...] = ()  # left out by config/need.toml exclude_boroughs


@dataclass
class NeedResult:
    """Scores with their explanation, and how stable they are.

    ``weights_used`` are the weights after absent components dropped out (rescaled to sum
    to 1); ``absent`` the components the data cannot provide; ``scales`` each component's
    London scale; ``notes`` the data's notes and scoring's own.
    """

    inputs: NeedInputs
    settings: NeedSettings
    components: pd.DataFrame
    scores: pd.DataFrame
    weights_used: dict[str, float]
    absent: list[str]
    scales: dict[str, float]
    notes: list[str]
    sensitivity_summary: dict[str, Any] | None = None
    sensitivity: pd.DataFrame | None = None


def prepare_need(
    config: PlannerConfig,
    dataset: str | None = None,
    *,
    settings: NeedSettings,
    window_end: str | None = None,
    use_forecast: bool,
    use_cache: bool = True,
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
        Need settings (window length, excluded boroughs).
    window_end
        Last month of the scoring window ("YYYY-MM"); default the newest month in the data.
    use_forecast
        Fit the forecast and run its backtest (cached after the first run).
    use_cache
        Load the ingested data from the cache when the inputs are unchanged.
    progress
        Called with a label per step.

    Returns
    -------
    NeedInputs

    Raises
    ------
    DataError
        A file is missing or unusable, the window is not in the data, or the forecast cannot
        be backtested on this much history.
    """
    from planner.ingest.sources.wards import read_dataset_wards

    harm = config.harm
    _say(progress, "ward counts")
    data = ingest(config, dataset, use_cache=use_cache, progress=progress)
    _say(progress, "wards")
    all_wards = data.wards
    if all_wards is None:  # loaded from the cache, which keeps no geometry
        all_wards = read_dataset_wards(config, data.dataset).frame
    counts = data.ward_counts
    window = (
        Window.ending(window_end, months=settings.window_months)
        if window_end
        else default_window(counts, months=settings.window_months)
    )
    crime_status, asb_status = _coverage(data)
    wards, notes = _scored_wards(all_wards, counts, window, settings)
    notes[:0] = data.notes  # a damaged cache rebuilt: the app shows it with the data's notes
    wards = _wards_with_data(wards, crime_status, window, notes)
    _say(progress, "population")
    population = _population(config, all_wards, wards.index, notes)
    _say(progress, "outside yardsticks")
    confidence, deciles, low = _yardstick_data(config, wards, window, notes)
    _say(progress, "features")
    built = {
        key: ward_features(
            counts,
            wards,
            population,
            window=window,
            settings=harm.with_index(key),
            trend=settings.trend,
            crime_status=crime_status,
            asb_status=asb_status,
        )
        for key in harm.indices
    }
    notes.extend(_missing_notes(crime_status, asb_status, wards.index, window))
    monthly = monthly_harm(counts, harm, wards=wards.index)
    forecast: dict[str, pd.Series] = {}
    table, verdict, note = None, None, "off (not asked for in this scenario)"
    if use_forecast:
        _say(progress, "forecast and backtest")
        forecast, table, verdict = _forecast(config, data, counts, wards, window)
        note = "" if forecast else f"not used: {verdict.explanation}"
    first = next(iter(built.values()))
    return NeedInputs(
        dataset=data.dataset,
        ingest=data,
        wards=wards,
        all_wards=all_wards,
        population=population,
        window=window,
        harm=harm,
        features={key: b.table for key, b in built.items()},
        asb_present=first.asb_present,
        trend_available=first.trend_available,
        forecast=forecast,
        backtest=table,
        verdict=verdict,
        monthly=monthly,
        use_forecast=use_forecast,
        forecast_note=note,
        notes=notes,
        confidence=confidence,
        deciles=deciles,
        low_confidence=low,
        excluded_boroughs=tuple(settings.exclude_boroughs),
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

    Raises
    ------
    ConfigError
        The harm index is not one of the prepared ones, or no weighted component is present.
    """
    key = settings.harm_index
    if key not in inputs.features:
        raise ConfigError(
            f"harm index {key!r} is not configured; use one of {sorted(inputs.features)}"
        )
    boroughs = inputs.wards[s.BOROUGH_CODE]
    components = _components(inputs, key, settings)
    scored = score_wards(components, boroughs, settings)
    scores = scored.table
    scores.insert(0, s.WARD_NAME, inputs.wards[s.WARD_NAME])
    scores.insert(2, s.BOROUGH_NAME, inputs.wards[s.BOROUGH_NAME])
    result = NeedResult(
        inputs=inputs,
        settings=settings,
        components=components,
        scores=scores,
        weights_used=scored.weights,
        absent=scored.absent,
        scales=scored.scales,
        notes=inputs.notes + scored.notes,
    )
    if with_sensitivity:
        others = [k for k in inputs.features if k != key]
        alt = _components(inputs, others[0], settings) if others else None
        result.sensitivity_summary, result.sensitivity = sensitivity(
            components,
            boroughs,
            settings,
            alternative=alt,
            alternative_name=others[0] if others else "alt",
        )
    return result


def absent_components(inputs: NeedInputs) -> list[str]:
    """Components the data cannot provide, whatever the weights."""
    present = set(_components(inputs, inputs.harm.index, None).columns)
    return [c for c in COMPONENTS if c not in present]


# --- private steps -------------------------------------------------------------------------


def _scored_wards(
    wards: gpd.GeoDataFrame, counts: pd.DataFrame, window: Window, settings: NeedSettings
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Drop excluded boroughs (the City) and boroughs with no records at all in the window."""
    notes = []
    keep = ~wards[s.BOROUGH_CODE].isin(settings.exclude_boroughs)
    if (~keep).any():
        gone = wards.loc[~keep].drop_duplicates(s.BOROUGH_CODE)
        named = gone.get(s.BOROUGH_NAME, gone[s.BOROUGH_CODE])
        names = ", ".join(
            f"{name} ({code})" for code, name in zip(gone[s.BOROUGH_CODE], named, strict=True)
        )
        notes.append(
            f"{int((~keep).sum())} wards in {names} are not scored (config/need.toml "
            "exclude_boroughs: a borough policed by another force, such as the City of London)"
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


def _coverage(data: IngestResult) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """Crime and ASB coverage (wards x months, True = data); None where the data carry none."""
    from planner.ingest.coverage import ward_month_status

    coverage = data.coverage
    if coverage is None or coverage.empty:
        return None, None
    crime = ward_month_status(coverage, s.PART_CRIME)
    asb = ward_month_status(coverage, s.PART_ASB)
    return (crime if not crime.empty else None), (asb if not asb.empty else None)


def _wards_with_data(
    wards: gpd.GeoDataFrame, status: pd.DataFrame | None, window: Window, notes: list[str]
) -> gpd.GeoDataFrame:
    """Drop wards without crime data in any month of the window (missing, not zero)."""
    present = months_present(status, wards.index, window)
    none = present == 0
    if not none.any() or none.all():
        return wards
    names = ", ".join(wards.loc[none, s.WARD_NAME].astype(str).head(5))
    more = f" and {int(none.sum()) - 5} more" if none.sum() > 5 else ""
    notes.append(
        f"{int(none.sum())} wards have no crime data in any month of the window {window.label} "
        f"(missing, not zero) and are not scored: {names}{more}"
    )
    return wards.loc[~none]


def _missing_notes(
    crime: pd.DataFrame | None, asb: pd.DataFrame | None, wards: pd.Index, window: Window
) -> list[str]:
    """The notes saying how many ward-months of the window have no data, crime and ASB."""
    out = [missing_note(months_present(crime, wards, window), window, "crime")]
    if asb is not None:
        out.append(missing_note(months_present(asb, wards, window), window, "ASB"))
    return [n for n in out if n]


def _population(
    config: PlannerConfig, all_wards: gpd.GeoDataFrame, scored: pd.Index, notes: list[str]
) -> pd.Series:
    """Residents per scored ward; NaN ("no data") with a note where none can be had.

    The population files are configured (``config/population.toml``; London's by default):
    for wards they do not cover, or when they cannot be read, the rates are "no data" and the
    need index is built without them, never on invented numbers.
    """
    from planner.ingest.sources.population import ward_population

    try:
        values = ward_population(config, all_wards).values.reindex(scored)
    except DataError as exc:
        notes.append(
            f"population: cannot be read ({exc}): the rates per 1,000 residents are no data, "
            "so the need index leaves its rate component out"
        )
        warnings.warn(notes[-1], PlannerWarning, stacklevel=3)
        return pd.Series(np.nan, index=scored, name="population")
    if len(scored) and values.isna().all():
        notes.append(
            "population: none of these wards is covered by the configured population files "
            "(config/population.toml): the rates per 1,000 residents are no data, so the need "
            "index leaves its rate component out"
        )
    return values


def _components(inputs: NeedInputs, key: str, settings: NeedSettings | None) -> pd.DataFrame:
    """Raw component values under harm index *key*."""
    feats = inputs.features[key]
    comps = pd.DataFrame(index=feats.index)
    comps["harm"] = feats["harm"]
    if inputs.asb_present and "asb" in feats:
        comps["asb"] = feats["asb"]
    fc = inputs.forecast.get(key)
    if fc is None and inputs.forecast:  # scale the modelled index's forecast to this index
        base_key, base = next(iter(inputs.forecast.items()))
        growth = base / inputs.features[base_key]["harm"].replace(0, np.nan)
        fc = (feats["harm"] * growth.fillna(1.0)).rename("forecast")
    if fc is not None:
        comps["forecast"] = fc.reindex(feats.index).clip(lower=0)
    if inputs.trend_available and "trend_rise" in feats:
        comps["trend"] = feats["trend_rise"].astype(float)
    comps["rate"] = feats["harm_per_1000"]
    if inputs.low_confidence is not None:
        comps["confidence"] = inputs.low_confidence.reindex(feats.index)
    return comps


def _yardstick_data(
    config: PlannerConfig, wards: gpd.GeoDataFrame, window: Window, notes: list[str]
) -> tuple[Confidence, WardDeciles, pd.Series | None]:
    """The PAS survey, residents by IMD decile and the low-confidence component.

    These are yardsticks, not inputs the plan depends on: a file that is missing or cannot be
    read leaves its yardstick "no data" with the reason (in the notes too), never stops a plan.
    """
    from planner.ingest.sources.confidence import low_confidence, read_confidence
    from planner.ingest.sources.deprivation import ward_deciles

    try:
        confidence = read_confidence(config)
    except DataError as exc:
        confidence = Confidence(None, f"cannot be read: {exc}")
        notes.append(f"public confidence: {confidence.note}")
    try:
        deciles = ward_deciles(config, wards.index)
    except DataError as exc:
        deciles = WardDeciles(None, f"cannot be read: {exc}")
        notes.append(f"deprivation: {deciles.note}")
    low = None
    if confidence.table is not None:
        measure = config.yardsticks.confidence.low_confidence_measure
        as_of = pd.Period(window.end, "M").end_time.normalize()
        low = low_confidence(confidence.table, wards[s.BOROUGH_CODE], measure, as_of=as_of)
    return confidence, deciles, low


def _forecast(
    config: PlannerConfig,
    data: IngestResult,
    counts: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    window: Window,
) -> tuple[dict[str, pd.Series], pd.DataFrame, Verdict]:
    """Backtest the model (cached); forecast only if it beats all three baselines."""
    from planner.model import backtest as bt
    from planner.model import forecast as fc

    harm = config.harm
    estimator, options = fc.forecaster(config.forecast)
    monthly = monthly_harm(counts, harm, wards=wards.index)
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
    table = _cached_backtest(cache)
    if table is None:
        table = bt.backtest(monthly, estimator=estimator, **options)
        try:  # a unique temporary file renamed into place: concurrent runs never collide
            with atomic_path(cache) as tmp:
                table.to_csv(tmp, index=False)
        except OSError as exc:  # the cache is an optimisation: the backtest is still used
            log.warning("backtest not cached at %s: %s", cache, exc)
    verdict = bt.verdict(table, config.forecast)
    if not verdict.beats_all:
        log.info("forecast not used: %s", verdict.explanation)
        return {}, table, verdict
    model = estimator.fit(monthly)
    return {harm.index: model.predict_total(monthly).reindex(wards.index)}, table, verdict


def _cached_backtest(path: Path) -> pd.DataFrame | None:
    """The cached backtest table, or None when there is none or it cannot be read."""
    try:
        table = pd.read_csv(path, dtype={"origin": str})
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # truncated or damaged: computed again
        log.warning("backtest cache %s cannot be read (%s): it is computed again", path, exc)
        return None
    return table if {"origin", "method"} <= set(table.columns) else None


def _say(progress: Progress, label: str) -> None:
    log.info(label)
    if progress:
        progress(label)
