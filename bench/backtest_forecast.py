"""Backtest of the ward harm forecast (planner.model.forecast) on the Met's 2010-2026 ward series.

Ingests the ``met-2022`` dataset (May 2022 wards; the Met's ward-level files, April 2010 to
the newest month; cached under .cache/), turns ward_counts into monthly harm with the
Cambridge Crime Harm Index weights of DESIGN.md, runs :func:`planner.model.backtest.backtest`
with the settings of ``config/forecast.toml`` and writes the table to
``bench/results/backtest.csv``; prints the verdict, the backtest time and the time of one
fit on the whole series (what the planner pays at run time).

Harm weights (``--weights``):

- ``category`` (default): the published category-level CCHI figures (volume-weighted days):
  Robbery 365, Possession of weapons 273.75, Burglary 244.68, Violence and sexual offences
  194.21, Criminal damage and arson 11.18, Other crime 10, Public order 7.5, Vehicle crime 5,
  Drugs 3.66, Other theft / Theft from the person / Bicycle theft 2, Shoplifting 1, ASB 0;
- ``subcategory``: each ward's own offence mix where the Met's minor categories allow it
  (homicide 5,475, rape 2,555, violence with injury 365, violence without injury 10,
  residential burglary 273.5, non-residential 183.5, arson 185, criminal damage 2, drug
  possession 3, trafficking 5; other subcategories take their category's figure). Heavy
  tailed: one homicide weighs as much as 550 common assaults.

``--variant NAME=k=v,k=v`` adds another estimator (parameters of HarmForecaster) to compare;
``--select`` runs the variants on the *selection* origins (the ones before the reported
origins), so a choice between them is not made on the origins that are reported.

A benchmark, not a test: exit 0 whichever method wins, 0 with a message when the data
folder is absent.

Usage: python bench/backtest_forecast.py [--data DIR] [--out FILE] [--weights category|subcategory]
       [--variant NAME=k=v,...] [--select]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DATASET = "met-2022"


def harm_settings(config, *, weights: str = "category"):
    """The configured CCHI weights at full weight for drugs and weapons (as in DESIGN.md);
    ``category`` drops the subcategory figures, ``subcategory`` keeps them."""
    settings = config.harm.with_index("cchi").with_proactive("include")
    if weights == "category":
        cchi = dataclasses.replace(settings.indices["cchi"], subcategories={})
        settings = dataclasses.replace(settings, indices={**settings.indices, "cchi": cchi})
    return settings


def monthly_harm(ward_counts: pd.DataFrame, settings) -> pd.DataFrame:
    """Wide monthly harm (index ward_code, consecutive 'YYYY-MM' columns, zeros filled)."""
    from planner.model.harm import monthly_harm as wide

    wards = pd.Index(sorted(ward_counts["ward_code"].astype(str).unique()), name="ward_code")
    return wide(ward_counts, settings, wards=wards)


def main(argv: list[str] | None = None) -> int:
    """Run the backtest; returns the exit status."""
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    from planner.config import load_config
    from planner.ingest import ingest
    from planner.model.backtest import backtest, default_origins, verdict
    from planner.model.forecast import forecaster

    if not args.data.is_dir():
        print(f"data folder {args.data} not found: nothing to benchmark (see shared/data)")
        return 0
    config = load_config(REPO / "config").with_data_dir(args.data.resolve())
    estimator, options = forecaster(config.forecast)
    started = time.perf_counter()
    result = ingest(config, DATASET)
    monthly = monthly_harm(result.ward_counts, harm_settings(config, weights=args.weights))
    print(
        f"{DATASET}: {monthly.shape[0]} wards x {monthly.shape[1]} months "
        f"({monthly.columns[0]}..{monthly.columns[-1]}), {args.weights} weights, "
        f"loaded in {time.perf_counter() - started:.1f} s"
    )
    origin_options = {k: v for k, v in options.items() if k != "mean_years"}
    origins = default_origins(monthly, **{**origin_options, "n_origins": None})
    reported = origins[-options.get("n_origins", 8) :]
    chosen = origins[: len(origins) - len(reported)] if args.select else reported
    print(f"origins ({'selection' if args.select else 'reported'}): {', '.join(chosen)}")
    variants = {"config": estimator, **_variants(estimator, args.variant)}
    tables = []
    for name, est in variants.items():
        started = time.perf_counter()
        table = backtest(
            monthly,
            origins=chosen,
            horizon=options["horizon"],
            estimator=est,
            mean_years=options["mean_years"],
        )
        seconds = time.perf_counter() - started
        tables.append(table.assign(variant=name, weights=args.weights))
        _report(name, est, table, verdict(table, config.forecast), seconds)
    if not args.select:
        started = time.perf_counter()
        full = estimator.fit(monthly)
        total = full.predict_total(monthly)
        print(
            f"\none fit on the whole series: {time.perf_counter() - started:.1f} s "
            f"({full.n_training_rows_} rows); forecast {full.predict(monthly).columns[0]}.."
            f"{full.predict(monthly).columns[-1]}: London total {total.sum():,.0f} days "
            f"vs {monthly.iloc[:, -12:].to_numpy().sum():,.0f} in the last 12 months"
        )
    out = pd.concat(tables, ignore_index=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False, float_format="%.6g")
    print(f"wrote {args.out}")
    return 0


def _variants(base: Any, specs: list[str]) -> dict[str, Any]:
    from sklearn.base import clone

    out = {}
    for spec in specs:
        name, _, params = spec.partition("=")
        kw = {}
        for item in filter(None, params.split(",")):
            key, _, value = item.partition("=")
            kw[key] = _value(value)
        out[name] = clone(base).set_params(**kw)
    return out


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _report(name: str, est: Any, table: pd.DataFrame, result: Any, seconds: float) -> None:
    means = table[table["origin"] == "all"].set_index("method")
    fit = table.loc[table["method"] == "model", "fit_seconds"]
    print(f"\n== {name}: {est!r}")
    print(means[["wape", "mae", "bias", "wape_total", "mae_total"]].round(4).to_string())
    per_origin = table[table["origin"] != "all"].pivot(
        index="origin", columns="method", values="wape_total"
    )
    print("WAPE_total per origin:\n" + per_origin.round(4).to_string())
    print(
        f"backtest {seconds:.1f} s; model fit+predict per origin "
        f"{fit.mean():.1f} s (max {fit.max():.1f})"
    )
    print(json.dumps(result.to_dict(), indent=1))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "backtest.csv")
    p.add_argument("--weights", choices=("category", "subcategory"), default="category")
    p.add_argument("--variant", action="append", default=[], metavar="NAME=k=v,k=v")
    p.add_argument("--select", action="store_true", help="score on the selection origins")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


if __name__ == "__main__":
    sys.exit(main())
