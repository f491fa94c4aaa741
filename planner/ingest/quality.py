"""The data-quality report: what every source gave, per month, and where it went.

For each source and month: records read, counted (inside a ward, or assigned to
the nearest ward within the snap distance; counted through a fallback mapping on its own
line), rejected by reason, and duplicates. Conservation is checked on every line::

    read = counted + rejected + duplicates

Months with no data (only empty files, or no record at all) have their own lines, with the
empty files' names. Also: months missing from each source's range, category names that were
unknown, cut or mapped by fallback (with their records), editions detected, re-basings of
other ward vintages (how much moved, the error to expect), coverage (ward-months without
data), optional sources that are absent, wards with no records, and the share of
anti-social behaviour (absent from the Met's ward files).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import pandas as pd

from planner import schema as s
from planner.ingest.coverage import coverage_summary
from planner.ingest.sources.base import SourceFrame

__all__ = ["format_quality", "quality_report"]

_INSIDE, _NEAREST, _COUNTED = "counted_inside", "counted_nearest", "counted"
_FALLBACK = "counted_fallback"  # counted, its category from its major's fallback mapping
_EMPTY = "empty_files"  # files, not records: beside the balance, not in it
_SHOWN = 5  # names shown per list in the text report


def quality_report(
    dataset: str,
    frames: list[SourceFrame],
    joined: dict[str, pd.DataFrame],
    rejects: pd.DataFrame,
    counts: pd.DataFrame,
    wards: gpd.GeoDataFrame,
    *,
    ward_report: dict[str, Any] | None = None,
    placed: dict[str, pd.DataFrame] | None = None,
    coverage: pd.DataFrame | None = None,
    absent: Sequence[dict[str, Any]] = (),
    crosswalks: dict[str, dict[str, Any]] | None = None,
    blends: dict[str, float] | None = None,
) -> dict[str, Any]:
    """Build the report as plain JSON-ready data.

    Parameters
    ----------
    dataset
        The dataset's name.
    frames
        What each source reader returned.
    joined
        Joined point incidents per source path (with ``how``), or a streamed source's tally
        of them (``month``, ``how``, ``count``).
    rejects
        Every reject, with ``origin`` naming its source path.
    counts
        The final ward_counts table.
    wards
        The ward boundaries used.
    ward_report
        The boundary loader's report (columns used, repairs).
    placed
        Every source's counted rows in the dataset's wards (ward-coded sources: after any
        re-basing and without codes that are not wards); default the reader's counts less the
        rejected codes.
    coverage
        The coverage table (:func:`planner.ingest.coverage.coverage_table`).
    absent
        Optional sources not in the data folder, each with its ``note``.
    crosswalks
        Re-based sources' crosswalk reports, by source path.
    blends
        The merged violence-without-injury weight of each harm index, for the edition notes.

    Returns
    -------
    dict
        ``sources`` (per-source summary), ``by_month`` (rows per source and month),
        ``totals``, ``wards``, ``asb``, ``coverage``, ``absent_sources`` and
        ``conservation_ok``.
    """
    placed = placed or {}
    by_month = pd.concat(
        [_month_table(f, joined.get(f.path), rejects, placed.get(f.path)) for f in frames]
        or [pd.DataFrame()],
        ignore_index=True,
    )
    names = wards[s.BOROUGH_NAME] if s.BOROUGH_NAME in wards else pd.Series(dtype=str)
    cover = coverage_summary(coverage, names) if coverage is not None else []
    sources = [
        _source_summary(f, by_month, rejects, (crosswalks or {}).get(f.path), blends or {}, cover)
        for f in frames
    ]
    covered = set(counts[s.WARD_CODE].drop_duplicates().astype(str)) if len(counts) else set()
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
        "asb": _asb(asb, total, absent, cover),
        "coverage": cover,
        "absent_sources": list(absent),
        "conservation_ok": bool(by_month.empty or by_month["balance"].eq(0).all()),
    }


def _asb(
    asb: int, total: int, absent: Sequence[dict[str, Any]], cover: list[dict[str, Any]]
) -> dict[str, Any]:
    missing = [a for a in absent if s.ASB in a.get("categories", []) or not a.get("categories")]
    if asb:
        gaps = [c for c in cover if c["part"] == s.PART_ASB and c["no_data"]]
        note = "ASB incidents are counted as their own category, never in crime totals."
        for gap in gaps:
            where = ", ".join(gap["boroughs_never_covered"]) or "some ward-months"
            note += (
                f" {gap['source']} has no ASB data for {gap['no_data']:,} of "
                f"{gap['ward_months']:,} ward-months (never for: {where}): those are no data, "
                "not zero."
            )
    elif missing:
        note = (
            "No ASB: " + "; ".join(a["note"] for a in missing) + ". The ASB term is absent, "
            "not zero."
        )
    else:
        note = (
            "No ASB in this dataset's sources (the Met publishes none at ward level): the ASB "
            "term is absent, not zero."
        )
    return {
        "present": asb > 0,
        "records": asb,
        "share_of_all_records": round(asb / total, 4) if total else 0.0,
        "note": note,
    }


def _month_table(
    frame: SourceFrame,
    joined: pd.DataFrame | None,
    rejects: pd.DataFrame,
    placed: pd.DataFrame | None,
) -> pd.DataFrame:
    table = pd.DataFrame({"read": frame.read_by_month}).rename_axis(s.MONTH)
    table["duplicates"] = frame.duplicates_by_month
    if joined is not None and len(joined):
        by = joined.groupby([s.MONTH, "how"], observed=True)
        how = (by[s.COUNT].sum() if s.COUNT in joined else by.size()).unstack(fill_value=0)
        table[_INSIDE] = how.get(s.JOINED_INSIDE)
        table[_NEAREST] = how.get(s.JOINED_NEAREST)
    else:
        rows = pd.concat([frame.counts, frame.measures]) if placed is None else placed
        rows = rows[rows[s.COUNT] > 0] if len(rows) else rows
        fallback = (
            rows[s.FALLBACK].fillna(False).astype(bool)
            if s.FALLBACK in rows
            else pd.Series(False, index=rows.index)
        )
        table[_COUNTED] = rows.loc[~fallback].groupby(s.MONTH, observed=True)[s.COUNT].sum()
        if fallback.any():
            table[_FALLBACK] = rows.loc[fallback].groupby(s.MONTH, observed=True)[s.COUNT].sum()
    mine = rejects[rejects[s.ORIGIN] == frame.path]
    for reason, n in (
        mine.groupby([s.MONTH, s.REASON], observed=True)[s.COUNT]
        .sum()
        .unstack(fill_value=0)
        .items()
    ):
        table[f"rejected_{reason}"] = n
    empty = pd.Series([e.month or "unknown" for e in frame.empty_files], dtype=object)
    table = table.reindex(table.index.union(pd.Index(empty.unique(), dtype=object)))
    table = table.fillna(0).astype("int64")
    if (joined is None or not len(joined)) and placed is None:
        # ward codes not in the boundaries were counted in frame.counts and rejected: once only
        unknown = f"rejected_{s.REASON_UNKNOWN_WARD}"
        if unknown in table:
            table[_COUNTED] -= table[unknown]
    parts = [c for c in table.columns if c != "read"]
    table["balance"] = table["read"] - table[parts].sum(axis=1)
    if len(empty):
        table[_EMPTY] = empty.value_counts().reindex(table.index).fillna(0).astype("int64")
    table.insert(0, "source", frame.path)
    return table.rename_axis(s.MONTH).reset_index()


def _source_summary(
    frame: SourceFrame,
    by_month: pd.DataFrame,
    rejects: pd.DataFrame,
    crosswalk: dict[str, Any] | None,
    blends: dict[str, float],
    cover: list[dict[str, Any]],
) -> dict[str, Any]:
    mine = by_month[by_month["source"] == frame.path]
    numeric = mine.drop(columns=["source", s.MONTH]).sum()
    months = sorted(m for m in mine[s.MONTH] if m != "unknown")
    missing = []
    if months:
        full = pd.period_range(months[0], months[-1], freq="M").strftime("%Y-%m")
        missing = sorted(set(full) - set(months))
    totals = {k: int(v) for k, v in numeric.items() if v or k in ("read", "duplicates")}
    no_data = sorted(set(mine.loc[mine["read"] == 0, s.MONTH]) - {"unknown"}) + missing
    editions = list(frame.editions)
    if editions and blends:
        weights = ", ".join(f"{k.upper()} {v:g}" for k, v in sorted(blends.items()))
        editions = [f"{e} ({weights})" for e in editions]
    return {
        "kind": frame.kind,
        "path": frame.path,
        "files": len(frame.files),
        "first_month": months[0] if months else None,
        "last_month": months[-1] if months else None,
        "months_missing": missing,
        "months_without_data": sorted(no_data),
        "totals": totals,
        "warnings": list(frame.warnings),
        "empty_files": _empty_files(frame),
        "names": _names(frame, rejects),
        "editions": editions,
        "crosswalk": crosswalk,
        "coverage": [c for c in cover if c["source"] == frame.path],
    }


def _empty_files(frame: SourceFrame) -> dict[str, Any]:
    by_month: dict[str, list[str]] = {}
    for e in frame.empty_files:
        by_month.setdefault(e.month or "unknown", []).append(e.name)
    return {"count": len(frame.empty_files), "by_month": by_month}


def _names(frame: SourceFrame, rejects: pd.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Category names not matched exactly, each with its records."""
    mine = rejects[
        (rejects[s.ORIGIN] == frame.path) & (rejects[s.REASON] == s.REASON_UNKNOWN_CATEGORY)
    ]
    unknown = (
        mine.groupby(mine[s.CATEGORY].astype(str))[s.COUNT]
        .sum()
        .sort_values(ascending=False, kind="stable")
    )
    out: dict[str, list[dict[str, Any]]] = {
        "unknown": [{"name": n, "records": int(v)} for n, v in unknown.items()]
    }
    for how in ("fallback", "cut"):
        rows = frame.names[frame.names["how"] == how].sort_values("records", ascending=False)
        out[how] = [
            {
                "name": str(r.name),
                "mapped_to": str(r.target).removesuffix(" | "),  # no subcategory
                "records": int(r.records),
            }
            for r in rows.itertuples()
        ]
    return out


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
                "counted": counted + t.get(_FALLBACK, 0),
                "fallback": t.get(_FALLBACK, 0),
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
        lines.extend(_source_lines(src))
    for gone in report.get("absent_sources", []):
        lines.append(f"  absent: {gone['note']}")
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
        *_coverage_lines(report.get("coverage", [])),
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


def _source_lines(src: dict[str, Any]) -> list[str]:
    """The text lines of a source's empty files, names, editions and re-basing."""
    path, lines = src["path"], []
    empty = src.get("empty_files", {})
    if empty.get("count"):
        months = empty["by_month"]
        shown = "; ".join(
            f"{m}: {len(names)} ({', '.join(_base(n) for n in names[:2])}"
            + (" ..." if len(names) > 2 else "")
            + ")"
            for m, names in sorted(months.items())[:_SHOWN]
        )
        more = f"; and {len(months) - _SHOWN} more months" if len(months) > _SHOWN else ""
        lines.append(f"  {path}: {empty['count']:,} empty files (no data, not zero): {shown}{more}")
    if src.get("months_without_data"):
        lines.append(f"  {path}: months without data {', '.join(src['months_without_data'])}")
    names = src.get("names", {})
    for how, label in (("unknown", "unknown names"), ("fallback", "fallback mappings"),
                       ("cut", "names cut at 50 characters, matched")):  # fmt: skip
        rows = names.get(how, [])
        if rows:
            shown = ", ".join(
                f"{r['name']!r}"
                + (f" -> {r['mapped_to']!r}" if r.get("mapped_to") else "")
                + f" {r['records']:,}"
                for r in rows[:_SHOWN]
            )
            more = f", and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
            lines.append(f"  {path}: {label}: {shown}{more}")
    lines.extend(f"  edition: {e}" for e in src.get("editions", []))
    cw = src.get("crosswalk")
    if cw:
        lines.append(
            f"  {path}: re-based from {cw['source']} ({cw['method']}): {cw['records']:,} records, "
            f"{cw['records_moved']:,} ({cw['share_moved']:.1%}) moved between wards; expected "
            f"error per ward about {cw['expected_median_ward_error']:.1%} (median)"
        )
    return lines


def _coverage_lines(cover: list[dict[str, Any]]) -> list[str]:
    lines = []
    for c in cover:
        if not c["no_data"]:
            continue
        where = ", ".join(c["boroughs_never_covered"][:_SHOWN])
        more = "" if len(c["boroughs_never_covered"]) <= _SHOWN else " ..."
        lines.append(
            f"Coverage: {c['source']} ({c['part']}): {c['no_data']:,} of {c['ward_months']:,} "
            "ward-months have no data (missing, not zero)"
            + (f"; never covered: {where}{more}" if where else "")
        )
    return lines


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]
