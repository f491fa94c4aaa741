"""Checks of ingested data against official figures and against itself.

- :func:`join_agreement` compares the points of a police.uk dataset, joined to wards by the
  planner, with the Met's own ward counts of the same category and months: the reference
  check of the spatial join;
- :func:`edition_stability`: a Met ward file relabelled as an older edition (stalking and
  harassment inside violence without injury, the old residential-burglary label) must give the
  same harm;
- :func:`crosswalk_agreement`: the 2016-17 API records re-based from the 2014 wards onto the
  2022 wards against the same records joined to the 2022 wards directly, by each method.

The README's figures are made from their outputs by :mod:`planner.docs`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import PlannerConfig
from planner.ingest.build import IngestResult

__all__ = [
    "crosswalk_agreement",
    "edition_stability",
    "join_agreement",
    "older_edition",
]


def join_agreement(
    points: IngestResult, reference: IngestResult, *, category: str, months: Sequence[str]
) -> dict[str, Any]:
    """How well *points*' ward counts of *category* agree with *reference*'s, month by month.

    Parameters
    ----------
    points
        A dataset of point incidents joined to wards (e.g. ``burglary-check``).
    reference
        A dataset of ward-level counts on the same wards (e.g. ``met-2022``).
    category
        The police.uk category compared.
    months
        The months both cover (``YYYY-MM``).

    Returns
    -------
    dict
        ``pearson_r`` over the wards, ``points`` and ``reference`` totals, their ``ratio``,
        ``wards``, the months, and from *points*' quality report the records assigned to the
        nearest ward, rejected outside every ward and without coordinates (whole dataset).
    """

    def by_ward(result: IngestResult) -> pd.Series:
        counts = result.ward_counts.astype({s.MONTH: str, s.WARD_CODE: str, s.CATEGORY: str})
        mine = counts[counts[s.MONTH].isin(list(months)) & (counts[s.CATEGORY] == category)]
        return mine.groupby(s.WARD_CODE)[s.COUNT].sum()

    both = pd.concat(
        [by_ward(points).rename("points"), by_ward(reference).rename("reference")], axis=1
    ).fillna(0)
    totals = _totals(points.quality)
    return {
        "points_dataset": points.dataset,
        "reference_dataset": reference.dataset,
        "category": category,
        "months": [min(months), max(months)],
        "wards": len(both),
        "pearson_r": float(np.corrcoef(both["points"], both["reference"])[0, 1]),
        "points": int(both["points"].sum()),
        "reference": int(both["reference"].sum()),
        "ratio": float(both["points"].sum() / both["reference"].sum()),
        "nearest_ward": totals.get("counted_nearest", 0),
        "outside_every_ward": totals.get("rejected_outside_every_ward", 0),
        "no_coordinates": totals.get("rejected_no_coordinates", 0),
    }


def _totals(quality: dict[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for src in quality.get("sources", []):
        for key, value in src.get("totals", {}).items():
            out[key] = out.get(key, 0) + int(value)
    return out


# --- editions: a re-labelling alone must not move harm ------------------------------------

OLD_RESIDENTIAL = "DOMESTIC BURGLARY"
"""The residential-burglary label of the older Met editions."""


def older_edition(table: pd.DataFrame) -> pd.DataFrame:
    """A Met ward table relabelled as the older editions publish it.

    Stalking and harassment is put inside violence without injury (its rows relabelled, so a
    ward has two violence-without-injury rows: the reader sums them), and the residential
    burglary labels (``RES BURGLARY OF A HOME``, ``RES BURGLARY OF UNCONNECTED BUILDING``,
    ``BURGLARY - RESIDENTIAL``) become ``DOMESTIC BURGLARY``.
    """
    out = table.copy()
    minor = next(c for c in out.columns if c.casefold() == "minortext")
    names = out[minor].astype(str).str.strip().str.upper()
    out.loc[names == "STALKING AND HARASSMENT", minor] = "VIOLENCE WITHOUT INJURY"
    residential = {
        "RES BURGLARY OF A HOME",
        "RES BURGLARY OF UNCONNECTED BUILDING",
        "BURGLARY - RESIDENTIAL",
    }
    out.loc[names.isin(residential), minor] = OLD_RESIDENTIAL
    return out


def edition_stability(config: PlannerConfig, path: Path) -> dict[str, Any]:
    """Harm of a Met ward file against the same file relabelled as an older edition.

    Parameters
    ----------
    config
        The planner configuration (categories and harm weights).
    path
        A split-edition Met ward file (the 24-month file): stalking and harassment on its own.

    Returns
    -------
    dict
        Per harm index: London harm of both, their ratio, the Spearman correlation of ward
        harm, the share of wards within 5 %; and what ingest detected in the relabelled copy.
    """
    import tempfile

    from planner.ingest.sources.mps import read_mps_ward
    from planner.model.window import Window

    original = read_mps_ward(path, categories=config.categories)
    table = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    with tempfile.TemporaryDirectory(prefix="planner-edition-") as tmp:
        copy = Path(tmp) / "older-edition.csv"
        older_edition(table).to_csv(copy, index=False)
        older = read_mps_ward(copy, categories=config.categories)
    months = sorted(original.read_by_month.index.astype(str))
    window = Window(months[0], months[-1])
    wards = sorted(set(original.counts[s.WARD_CODE].astype(str)))
    out: dict[str, Any] = {
        "file": path.name,
        "months": [months[0], months[-1]],
        "wards": len(wards),
        "detected": [e.replace(str(copy), "the relabelled copy") for e in older.editions],
        "indices": {},
    }
    for key in config.harm.indices:
        out["indices"][key] = _compare(
            original.counts, older.counts, window, wards, config.harm, key
        )
    default = config.harm.index
    out["before"] = {
        "index": default,
        "what": "stalking and harassment at its category's weight (no sourced figure) and no "
        "edition rule (the merged subcategory weighed as violence without injury), as before",
        **_compare(original.counts, older.counts, window, wards, _before(config.harm), default),
    }
    return out


def _compare(
    a_counts: pd.DataFrame,
    b_counts: pd.DataFrame,
    window: Any,
    wards: list[str],
    settings: Any,
    key: str,
) -> dict[str, float]:
    from planner.model.harm import harm

    a = harm(a_counts, window, wards=wards, settings=settings, index=key)
    b = harm(b_counts, window, wards=wards, settings=settings, index=key)
    return {
        "london_harm": float(a.sum()),
        "london_harm_older_edition": float(b.sum()),
        "ratio": float(b.sum() / a.sum()),
        "spearman": float(a.rank().corr(b.rank())),
        "share_of_wards_within_5pc": float(((b - a).abs() <= 0.05 * a).mean()),
        "share_of_wards_off_by_over_10pc": float(((b - a).abs() > 0.10 * a).mean()),
    }


def _before(settings: Any) -> Any:
    """The harm settings as they were before the edition rule (for the comparison only)."""
    import dataclasses

    vso = "Violence and sexual offences"
    stalking = (vso, s.SUB_STALKING_HARASSMENT)
    merged = (vso, s.SUB_VIOLENCE_WITHOUT_INJURY_MERGED)
    vwi = (vso, s.SUB_VIOLENCE_WITHOUT_INJURY)
    index = settings.indices[settings.index]
    subs = {k: v for k, v in index.subcategories.items() if k not in (stalking, merged)}
    if vwi in subs:
        subs[merged] = subs[vwi]
    changed = dataclasses.replace(index, subcategories=subs)
    return dataclasses.replace(settings, indices={**settings.indices, settings.index: changed})


# --- the crosswalk, on real data -----------------------------------------------------------


def crosswalk_agreement(
    config: PlannerConfig,
    *,
    points_dataset: str = "policeuk-2014",
    target_dataset: str = "met-2022",
) -> dict[str, Any]:
    """Re-basing the police.uk API counts from the 2014 wards onto the 2022 wards, checked.

    The API records of *points_dataset* are joined to its wards (2014), re-based onto the
    wards of *target_dataset* (May 2022) by each method, and compared ward by ward with the
    same records joined to the 2022 wards directly, over the wards of boroughs the records
    cover (coverage: data in every month).

    Returns
    -------
    dict
        Per method (``area``, ``residents``, ``dasymetric (LSOA counts only)``,
        ``dasymetric``): Pearson r of ward totals, median and 90th-percentile absolute ward
        error, and for the configured method the measured error per moved share (the
        calibration of ``error_per_moved_share``).
    """
    import dataclasses

    from planner.config import DatasetSpec
    from planner.ingest.build import ingest
    from planner.ingest.coverage import ward_month_status
    from planner.ingest.crosswalk import build_crosswalk, movement, read_layers, rebase
    from planner.ingest.sources.wards import read_dataset_wards

    source = config.dataset(points_dataset)
    target = config.dataset(target_dataset)
    direct_name = f"{points_dataset}-on-{target_dataset}-wards"
    direct_spec = DatasetSpec(direct_name, "crosswalk check", target.wards, source.sources)
    config = dataclasses.replace(config, datasets={**config.datasets, direct_name: direct_spec})
    rebased_in = ingest(config, points_dataset)
    direct = ingest(config, direct_name)
    source_wards = read_dataset_wards(config, points_dataset).frame
    target_wards = read_dataset_wards(config, target_dataset).frame
    status = pd.concat(
        [ward_month_status(direct.coverage, p) for p in (s.PART_CRIME, s.PART_ASB)], axis=1
    )
    covered = status.index[status.all(axis=1)]
    truth = direct.ward_counts.groupby(direct.ward_counts[s.WARD_CODE].astype(str))[s.COUNT].sum()
    truth = truth.reindex(covered).fillna(0)
    counts = rebased_in.ward_counts.astype({s.WARD_CODE: str, s.CATEGORY: str})
    counts = counts[list(s.WARD_COUNTS_COLUMNS)]
    cw = config.join.crosswalk
    layers = read_layers(config, target_wards.index)
    variants = {
        "area": ("area", None),
        "residents": ("residents", None),
        "dasymetric (LSOA counts only)": (
            "dasymetric",
            dataclasses.replace(layers, ward_crime=None),
        ),
        "dasymetric": ("dasymetric", layers),
    }
    cats = sorted(set(counts[s.CATEGORY]))
    out: dict[str, Any] = {
        "points_dataset": points_dataset,
        "target_dataset": target_dataset,
        "records": int(counts[s.COUNT].sum()),
        "wards_compared": len(covered),
        "methods": {},
    }
    for name, (method, lay) in variants.items():
        crosswalk = build_crosswalk(
            source_wards, target_wards, lay or layers, cw, categories=cats, method=method
        )
        rebased, _ = rebase(counts, crosswalk)
        got = rebased.groupby(rebased[s.WARD_CODE].astype(str))[s.COUNT].sum()
        got = got.reindex(covered).fillna(0)
        error = ((got - truth).abs() / truth).where(truth > 0)
        row = {
            "pearson_r": float(np.corrcoef(got, truth)[0, 1]),
            "median_ward_error": float(error.median()),
            "p90_ward_error": float(error.quantile(0.9)),
            "records_kept": int(rebased[s.COUNT].sum()),
        }
        if name == "dasymetric":
            moved = _moved_share(counts, rebased, crosswalk, covered)
            ok = moved >= 0.05
            row["error_per_moved_share"] = float((error[ok] / moved[ok]).median())
            row["movement"] = movement(counts, rebased, crosswalk, cw.error_per_moved_share)
        out["methods"][name] = row
    return out


def _moved_share(
    counts: pd.DataFrame, rebased: pd.DataFrame, crosswalk: Any, wards: pd.Index
) -> pd.Series:
    """Each target ward's moved share (see :func:`planner.ingest.crosswalk.movement`)."""
    from planner.ingest.crosswalk import moved_shares

    return moved_shares(counts, rebased, crosswalk).reindex(wards).fillna(0.0)


def write_data_results(config: PlannerConfig, results: Path) -> list[Path]:
    """Run the edition and crosswalk checks on the real data and write their JSON files.

    ``docs/results/editions.json`` and ``crosswalk.json``, from which :mod:`planner.docs` makes
    the README's figures; the tests compare the files with what these functions measure now.
    """
    import json

    ward_file = config.resolve("ward_crime/MPS Ward Level Crime (most recent 24 months)*")
    written = []
    for name, data in (
        ("editions.json", edition_stability(config, ward_file)),
        ("crosswalk.json", crosswalk_agreement(config)),
    ):
        path = results / name
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        written.append(path)
    return written
