"""The data-quality report: what every source gave, per month, and where it went.

For each source and month: records read, counted (inside a ward, or assigned to
the nearest ward within the snap distance), rejected by reason, and duplicates.
Conservation is checked on every line::

    read = counted + rejected + duplicates

plus months missing from each source's range, wards with no records, and the
share of anti-social behaviour (absent from the Met's ward files).
"""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd

from planner import schema as s
from planner.ingest.sources.base import SourceFrame

__all__ = ["format_quality", "quality_report"]

_INSIDE, _NEAREST, _COUNTED = "counted_inside", "counted_nearest", "counted"


def quality_report(
    dataset: str,
    frames: list[SourceFrame],
    joined: dict[str, pd.DataFrame],
    rejects: pd.DataFrame,
    counts: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    *,
    ward_report: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the report as plain JSON-ready data.

    Parameters
    ----------
    dataset
        The dataset's name.
    frames
        What each source reader returned.
    joined
        Joined point incidents per source path (with ``how``).
    rejects
        Every reject, with ``origin`` naming its source path.
    counts
        The final ward_counts table.
    wards
        The ward boundaries used.
    ward_report
        The boundary loader's report (columns used, repairs).

    Returns
    -------
    dict
        ``sources`` (per-source summary), ``by_month`` (rows per source and month),
        ``totals``, ``wards``, ``asb`` and ``conservation_ok``.
    """
    by_month = pd.concat(
        [_month_table(f, joined.get(f.path), rejects) for f in frames] or [pd.DataFrame()],
        ignore_index=True,
    )
    sources = [_source_summary(f, by_month) for f in frames]
    covered = set(counts[s.WARD_CODE].astype(str)) if len(counts) else set()
    no_records = sorted(set(wards.index) - covered)
    total = int(counts[s.COUNT].sum()) if len(counts) else 0
    asb = int(counts.loc[counts[s.CATEGORY] == s.ASB, s.COUNT].sum()) if total else 0
    return {
        "dataset": dataset,
        "sources": sources,
        "by_month": by_month.to_dict(orient="records"),
        "totals": {src["path"]: src["totals"] for src in sources},
        "wards": {
            "total": len(wards),
            "with_no_records": len(no_records),
            "codes_with_no_records": no_records,
            "boundary_file": ward_report or {},
        },
        "asb": {
            "present": asb > 0,
            "records": asb,
            "share_of_all_records": round(asb / total, 4) if total else 0.0,
            "note": (
                "ASB incidents are counted as their own category, never in crime totals."
                if asb
                else "No ASB in this dataset's sources (the Met publishes none at ward "
                "level): the ASB term is absent, not zero."
            ),
        },
        "conservation_ok": bool(by_month.empty or by_month["balance"].eq(0).all()),
    }


def _month_table(
    frame: SourceFrame, joined: pd.DataFrame | None, rejects: pd.DataFrame
) -> pd.DataFrame:
    table = pd.DataFrame({"read": frame.read_by_month}).rename_axis(s.MONTH)
    table["duplicates"] = frame.duplicates_by_month
    if joined is not None and len(joined):
        how = joined.groupby([s.MONTH, "how"], observed=True).size().unstack(fill_value=0)
        table[_INSIDE] = how.get(s.JOINED_INSIDE)
        table[_NEAREST] = how.get(s.JOINED_NEAREST)
    else:
        placed = pd.concat([frame.counts, frame.measures])
        table[_COUNTED] = placed.groupby(s.MONTH, observed=True)[s.COUNT].sum()
    mine = rejects[rejects[s.ORIGIN] == frame.path]
    for reason, n in (
        mine.groupby([s.MONTH, s.REASON], observed=True)[s.COUNT]
        .sum()
        .unstack(fill_value=0)
        .items()
    ):
        table[f"rejected_{reason}"] = n
    table = table.fillna(0).astype("int64")
    if joined is None or not len(joined):
        # ward codes not in the boundaries were counted in frame.counts and rejected: once only
        unknown = f"rejected_{s.REASON_UNKNOWN_WARD}"
        if unknown in table:
            table[_COUNTED] -= table[unknown]
    parts = [c for c in table.columns if c != "read"]
    table["balance"] = table["read"] - table[parts].sum(axis=1)
    table.insert(0, "source", frame.path)
    return table.reset_index()


def _source_summary(frame: SourceFrame, by_month: pd.DataFrame) -> dict[str, Any]:
    mine = by_month[by_month["source"] == frame.path]
    numeric = mine.drop(columns=["source", s.MONTH]).sum()
    months = sorted(m for m in mine[s.MONTH] if m != "unknown")
    missing = []
    if months:
        full = pd.period_range(months[0], months[-1], freq="M").strftime("%Y-%m")
        missing = sorted(set(full) - set(months))
    totals = {k: int(v) for k, v in numeric.items() if v or k in ("read", "duplicates")}
    return {
        "kind": frame.kind,
        "path": frame.path,
        "files": len(frame.files),
        "first_month": months[0] if months else None,
        "last_month": months[-1] if months else None,
        "months_missing": missing,
        "totals": totals,
        "warnings": list(frame.warnings),
    }


def format_quality(report: dict[str, Any], *, detail: bool = False) -> str:
    """The report as text tables for the terminal.

    Parameters
    ----------
    report
        From :func:`quality_report`.
    detail
        Also print the table per source and month (long for the Met's 16-year file).
    """
    lines = [f"Data quality: dataset {report['dataset']}", ""]
    rows = []
    for src in report["sources"]:
        t = src["totals"]
        rejected = sum(v for k, v in t.items() if k.startswith("rejected_"))
        counted = t.get(_COUNTED, 0) + t.get(_INSIDE, 0) + t.get(_NEAREST, 0)
        rows.append(
            {
                "source": src["path"],
                "kind": src["kind"],
                "months": f"{src['first_month']}..{src['last_month']}",
                "missing": len(src["months_missing"]),
                "read": t.get("read", 0),
                "counted": counted,
                "nearest": t.get(_NEAREST, 0),
                "rejected": rejected,
                "duplicates": t.get("duplicates", 0),
                "balance": t.get("balance", 0),
            }
        )
    lines.append(pd.DataFrame(rows).to_string(index=False) if rows else "(no sources)")
    for src in report["sources"]:
        reasons = {k[9:]: v for k, v in src["totals"].items() if k.startswith("rejected_")}
        if reasons:
            lines.append(
                f"  {src['path']}: rejected " + ", ".join(f"{k} {v:,}" for k, v in reasons.items())
            )
        if src["months_missing"]:
            lines.append(f"  {src['path']}: months missing {', '.join(src['months_missing'])}")
        lines.extend(f"  note: {w}" for w in src["warnings"])
    w = report["wards"]
    lines += [
        "",
        f"Wards: {w['total']}, with no records: {w['with_no_records']}",
        f"ASB: {report['asb']['note']}"
        + (
            f" Share of records: {report['asb']['share_of_all_records']:.1%}."
            if report["asb"]["present"]
            else ""
        ),
        "Conservation (read = counted + rejected + duplicates): "
        + (
            "holds for every source and month"
            if report["conservation_ok"]
            else "FAILS: see by_month"
        ),
    ]
    if detail and report["by_month"]:
        lines += ["", pd.DataFrame(report["by_month"]).fillna(0).to_string(index=False)]
    return "\n".join(lines)
