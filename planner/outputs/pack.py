"""A printable borough pack: one self-contained HTML page per borough, and its PDF.

The pack is the record of the meeting between a borough commander and the council leader. Its
cover carries the scenario the numbers come from (data, window, harm index, pool, method,
policy, floors, cap, weights, the scenario id that also names the exports); then the borough's
ward map coloured by extra officers with a numbered key naming every ward, the allocation
table with a red/amber/green status spelled out in words (whole-officer rounding and a
commander's override each have their own status, never "well under"), the commanders'
overrides with their reasons, the priorities agreed in the plan register beside the proposed
ones and their evidence, the equity summary, public confidence and a methodology footnote.
One harm index is named throughout: the scenario's.

The page has no scripts and no external resources: inline CSS (A4, a cover page, page-break
rules that keep at least three rows of a table together, repeated table headers) and an
inline SVG map drawn from the ward polygons in British National Grid, so it prints, mails and
archives as one file. Every piece of text from the data or a person is HTML-escaped. The PDF
is printed by headless Chromium (:mod:`planner.outputs.pdf`); the files are published as a
set (:func:`planner.outputs.export.file_set`).

Over 400 lines: the page's sections and its print stylesheet in one file, so the pack is
edited in one place.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import HarmIndex, PlannerConfig
from planner.outputs import present
from planner.outputs.pack_style import CSS
from planner.outputs.safe import safe_filename
from planner.outputs.svgmap import ward_map_svg
from planner.outputs.views import confidence_table
from planner.plan.priorities import match_borough

if TYPE_CHECKING:
    from planner.plan.priorities import BoroughPriorities
    from planner.plan.yardsticks import Yardsticks
    from planner.results import PlanResult

__all__ = [
    "RAG_BANDS",
    "MeetingRecord",
    "borough_pack_html",
    "policy_ratio",
    "rag_status",
    "ward_status",
    "write_borough_pack",
]

log = logging.getLogger(__name__)

KEEP_ROWS = 3  # a table never starts a page with fewer rows than this (unless it has fewer)


@dataclass(frozen=True)
class RagBand:
    """A status band of a ward's extras against what the policy gives it unrounded."""

    colour: str  # "Green", "Amber", "Red", "Blue", "Grey"
    label: str  # the words printed beside the colour
    css: str  # the class name of the cell


RAG_BANDS = {
    "green": RagBand("Green", "on target", "rag-green"),
    "rounding": RagBand("Green", "whole-officer rounding", "rag-green"),
    "amber_under": RagBand("Amber", "slightly under", "rag-amber"),
    "amber_over": RagBand("Amber", "slightly over", "rag-amber"),
    "red_under": RagBand("Red", "well under", "rag-red"),
    "red_over": RagBand("Red", "well over", "rag-red"),
    "override_in": RagBand("Blue", "override, moved in", "rag-override"),
    "override_out": RagBand("Blue", "override, moved out", "rag-override"),
    "none": RagBand("Grey", "no extras due under the policy", "rag-none"),
    "special": RagBand("Grey", "special ward, no extras", "rag-none"),
}


@dataclass(frozen=True)
class MeetingRecord:
    """What the plan register holds for one borough: the pack prints it as the record.

    Attributes
    ----------
    year
        The plan year the meeting agrees priorities for (:func:`planner.api.plan_year`).
    agreed, previous
        The register's agreement for *year* and for the year before
        (:meth:`planner.register.store.PlanRegister.agreed_priorities`), or None.
    overrides
        The borough's recorded overrides (:meth:`~planner.register.store.PlanRegister.
        overrides`); None to list only those the plan applied.
    note
        Why there is no register record (e.g. "no plan register"), "" when there is.
    """

    year: int
    agreed: Mapping[str, Any] | None = None
    previous: Mapping[str, Any] | None = None
    overrides: pd.DataFrame | None = None
    note: str = ""


def policy_ratio(row: pd.Series) -> float:
    """A ward's extras over the policy's unrounded allocation; NaN where that is 0."""
    due = _float(row.get(s.POLICY_QUOTA))
    return _float(row.get(s.EXTRA)) / due if due > 0 else math.nan


def rag_status(ratio: float) -> RagBand:
    """The band of a ratio: Green 0.9–1.1, Amber 0.75–0.9 or 1.1–1.25, Red beyond.

    The pack's ratio is a ward's extras over the policy's unrounded allocation
    (``policy_quota``). Boundaries belong to the better band (0.9 and 1.1 are on target, 0.75
    and 1.25 Amber); a missing ratio (the policy gives the ward nothing) is Grey. A ward's
    status in the pack is :func:`ward_status`, which applies this only to wards more than
    one whole officer from the policy.
    """
    if ratio is None or math.isnan(ratio):
        return RAG_BANDS["none"]
    if 0.9 <= ratio <= 1.1:
        return RAG_BANDS["green"]
    if 0.75 <= ratio < 0.9:
        return RAG_BANDS["amber_under"]
    if 1.1 < ratio <= 1.25:
        return RAG_BANDS["amber_over"]
    return RAG_BANDS["red_under" if ratio < 0.75 else "red_over"]


def ward_status(row: pd.Series) -> RagBand:
    """A ward's status: its override, whole-officer rounding, or its ratio band.

    - officers moved in or out by a commander's override: Blue, with the override;
    - nothing due under the policy and no extras: Grey;
    - extras less than one whole officer from the policy's unrounded allocation: Green, "on
      target" within 10 % of it, else "whole-officer rounding" (a ward due 0.44 gets 0, one
      due 1.55 gets 2: neither is under- or over-provision);
    - otherwise :func:`rag_status` of the ratio (Amber or Red, under or over).
    """
    moved = _float(row.get("override"))
    if moved > 0:
        return RAG_BANDS["override_in"]
    if moved < 0:
        return RAG_BANDS["override_out"]
    due, extra = _float(row.get(s.POLICY_QUOTA)), _float(row.get(s.EXTRA))
    if not due > 0:
        return RAG_BANDS["none" if extra == 0 else "red_over"]
    band = rag_status(policy_ratio(row))
    if abs(extra - due) < 1 and band.colour != "Green":
        return RAG_BANDS["rounding"]
    return band


# --- the public functions -----------------------------------------------------------------


def borough_pack_html(
    plan: PlanResult,
    borough: str,
    *,
    config: PlannerConfig,
    priorities: BoroughPriorities | str,
    confidence: pd.DataFrame | str | None = None,
    yardsticks: Yardsticks | None = None,
    record: MeetingRecord | None = None,
) -> str:
    """The printable pack of one borough as a self-contained HTML page.

    Parameters
    ----------
    plan
        From :func:`planner.api.plan`; ``plan.inputs.wards`` gives the polygons.
    borough
        A borough name or E09 code, any case; ``config/boroughs.toml`` aliases work too.
    config
        For the aliases.
    priorities
        The borough's priorities (:func:`planner.api.borough_priorities`, under the plan's
        harm index), or a sentence saying why they could not be computed.
    confidence
        The borough's Public Attitude Survey panel (:func:`planner.api.confidence_panel`
        ``table``), or a sentence saying why there is none.
    yardsticks
        The plan against outside yardsticks (:func:`planner.api.yardsticks`).
    record
        The plan register's agreements and overrides for the borough; without it the pack
        lists the overrides the plan applied and says there is no register record.

    Returns
    -------
    str
        The HTML page (UTF-8 text, no scripts, no external resources).

    Raises
    ------
    DataError
        No borough of the plan matches *borough*; the message lists the close matches.
    """
    code, name = _resolve_borough(plan, borough, config)
    wards = _borough_wards(plan, code)
    numbers = wards[s.RANK_BOROUGH].rank(method="first").astype(int)
    body = [
        _cover(plan, name, code, priorities, record),
        _section("Ward map: extra officers", _map(plan, wards, numbers), css="map"),
        _section(
            "Allocation by ward",
            _allocation_table(wards, numbers, [w.code for w in plan.allocation.settings.special]),
            css="allocation",
        ),
        _section("Commanders' overrides", _overrides(plan, code, record), css="overrides"),
        _section("Local priorities", _agreed(record) + _priorities_html(priorities)),
        _section("Equity", _equity(plan, code, wards, yardsticks)),
        _section("Public confidence", _confidence(confidence)),
        _section("Methodology and caveats", _methodology(plan), css="method"),
    ]
    title = f"{name}: neighbourhood policing pack"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_borough_pack(
    plan: PlanResult,
    borough: str,
    out_dir: str | Path,
    *,
    config: PlannerConfig,
    priorities: BoroughPriorities | str,
    confidence: pd.DataFrame | str | None = None,
    yardsticks: Yardsticks | None = None,
    record: MeetingRecord | None = None,
    pdf: bool = False,
) -> list[Path]:
    """Write ``<borough>_pack.html`` and, with *pdf*, ``<borough>_pack.pdf``, as a set.

    Both files are written into a private folder and moved into *out_dir* together
    (:func:`planner.outputs.export.file_set`): a failure leaves the previous files, or none.

    Parameters
    ----------
    plan, borough, config, priorities, confidence, yardsticks, record
        As for :func:`borough_pack_html`.
    out_dir
        Output folder, created if missing; the file name is the borough's name made safe by
        :func:`planner.outputs.safe.safe_filename` (``Kensington and Chelsea_pack.html``).
    pdf
        Also print the page to PDF with headless Chromium (:mod:`planner.outputs.pdf`).

    Returns
    -------
    list of Path
        The files written, the HTML first.

    Raises
    ------
    PdfUnavailable
        *pdf* is set and Chromium or Playwright is missing (nothing is written; the message
        names the fix).
    ExportError
        A file cannot be written (disk full, read-only folder): the message names the path
        and the fix, and the previous files are as they were.
    """
    from planner.outputs.export import file_set

    _, name = _resolve_borough(plan, borough, config)
    page = borough_pack_html(
        plan, borough, config=config, priorities=priorities, confidence=confidence,
        yardsticks=yardsticks, record=record,
    )  # fmt: skip
    stem = safe_filename(name, default="borough") + "_pack"
    out = Path(out_dir)
    names = [f"{stem}.html", *([f"{stem}.pdf"] if pdf else [])]
    with file_set(out, f"writing the borough pack ({stem}.*)") as stage:
        (stage / names[0]).write_text(page, encoding="utf-8")
        if pdf:
            from planner.outputs.pdf import html_to_pdf

            html_to_pdf(page, stage / names[1], footer=pdf_footer(plan, name))
    return [out / n for n in names]


def pdf_footer(plan: PlanResult, name: str) -> str:
    """The line at the foot of every PDF page: the borough, the scenario id, the data."""
    m = plan.manifest
    return (
        f"{name} neighbourhood policing pack · scenario {plan.scenario.key()} · {m.dataset} "
        f"{m.window_start} to {m.window_end} · {_harm_index(plan).key.upper()}"
    )


# --- data for the page --------------------------------------------------------------------


def _resolve_borough(plan: PlanResult, borough: str, config: PlannerConfig) -> tuple[str, str]:
    names = plan.borough_names()
    code = match_borough(borough, names, config, plan.manifest.dataset)
    return code, str(names[code])


def _borough_wards(plan: PlanResult, code: str) -> pd.DataFrame:
    """The borough's rows of the plan's ward table with the contributions, highest need first."""
    table = plan.ward_table()
    mine = table[table[s.BOROUGH_CODE] == code]
    scores = plan.need.scores
    contributions = scores[[c for c in scores.columns if str(c).startswith("contribution: ")]]
    mine = mine.join(contributions, how="left")
    return mine.sort_values([s.RANK_BOROUGH, s.WARD_NAME], kind="stable")


# --- sections -----------------------------------------------------------------------------


def _cover(
    plan: PlanResult,
    name: str,
    code: str,
    priorities: BoroughPriorities | str,
    record: MeetingRecord | None,
) -> str:
    """Page 1: the borough, what the pack records, and the scenario the numbers come from."""
    m = plan.manifest
    facts = present.scenario_facts(
        m.to_dict(), plan.allocation.settings, plan.allocation.pool,
        harm=_harm_index(plan), key=plan.scenario.key(),
    )  # fmt: skip
    year = record.year if record is not None else None
    title = f"for the {year} plan year" if year else ""
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    glance = "".join(
        f"<li>{_e(line)}</li>" for line in _at_a_glance(plan, code, priorities, record)
    )
    return (
        f'<section class="cover"><h1>{_e(name)}</h1><p class="sub">Neighbourhood policing '
        f"pack {_e(title)}: Dedicated Ward Officers and local priorities. Advisory: the "
        "planner ranks and explains; the borough commander and the council leader decide, and "
        "this pack is the record of what they agreed.</p>"
        f'<h2>In this pack</h2><ul class="glance">{glance}</ul>'
        f'<h2>The scenario</h2><table class="facts scenario">{rows}</table>'
        '<p class="note">Every number in this pack comes from this scenario; its id also names '
        "the allocation exports (CSV, Excel, GeoJSON) made from it.</p></section>"
    )


def _at_a_glance(
    plan: PlanResult, code: str, priorities: BoroughPriorities | str, record: MeetingRecord | None
) -> list[str]:
    lines = []
    boroughs, pool = plan.allocation.boroughs, plan.allocation.pool
    if code in boroughs.index:
        b = boroughs.loc[code]
        lines.append(
            f"{int(b[s.EXTRA]):,} of London's {pool:,} extra officers "
            f"({present.percent(_float(b[s.OFFICER_SHARE]), decimals=1)}) across "
            f"{int(b[s.N_WARDS]):,} wards, for "
            f"{present.percent(_float(b[s.NEED_SHARE]), decimals=1)} of London's need."
        )
    if not isinstance(priorities, str) and len(priorities.proposed):
        names = " and ".join(map(str, priorities.proposed["candidate"]))
        lines.append(f"Proposed local priorities: {names}.")
    if record is None:
        lines.append("Agreed priorities: not shown (no plan register was read for this pack).")
    elif record.agreed is not None:
        agreed = " and ".join(map(str, record.agreed.get("priorities") or []))
        lines.append(
            f"Agreed for {record.year}: {agreed}, by {record.agreed.get('agreed_by')} on "
            f"{_day(record.agreed.get('agreed_at'))}."
        )
    else:
        lines.append(f"Agreed for {record.year}: nothing recorded yet; for this meeting to agree.")
    mine = [o for o in plan.scenario.overrides if o.borough_code == code]
    recorded = len(record.overrides) if record is not None and record.overrides is not None else 0
    lines.append(
        f"Commanders' overrides: {recorded:,} recorded for the borough in the plan register, "
        f"{len(mine):,} applied in this plan."
        if record is not None and record.overrides is not None
        else f"Commanders' overrides applied in this plan: {len(mine):,}."
    )
    return lines


def _section(title: str, content: str, *, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<section{cls}><h2>{_e(title)}</h2>\n{content}\n</section>"


def _map(plan: PlanResult, wards: pd.DataFrame, numbers: pd.Series) -> str:
    """The borough's wards, coloured by the London-wide classes of the app's map, numbered."""
    extra = wards[s.EXTRA].fillna(0).astype(int)
    return ward_map_svg(
        plan.inputs.wards,
        extra,
        layer="extra",
        title="Extra officers per ward",
        names=wards[s.WARD_NAME],
        classes=present.classes_for("extra", plan.allocation.wards[s.EXTRA]),
        key=numbers,
        key_text="{} extra",
    )


def _allocation_table(wards: pd.DataFrame, numbers: pd.Series, special: Iterable[str]) -> str:
    overridden = "override" in wards and bool((wards["override"].fillna(0) != 0).any())
    heads = [
        ("No.", True), ("Ward", False), ("Need score", True), ("Rank in London", True),
        ("Main driver", False), ("Extra DWOs", True), ("Total DWOs", True),
        ("Need share (London)", True), ("Officer share (London)", True),
        ("Policy (unrounded)", True), *([("Override", True)] if overridden else []),
        ("Status", False),
    ]  # fmt: skip
    head = "".join(f'<th{" class=num" if num else ""} scope="col">{_e(h)}</th>' for h, num in heads)
    drivers = _main_driver(wards)
    special = set(special)
    rows = []
    for code, row in wards.iterrows():
        band = RAG_BANDS["special"] if code in special else ward_status(row)
        cells = [
            f'<td class="num">{numbers[code]}</td>',
            f'<th scope="row">{_e(row[s.WARD_NAME])}<span class="code">{_e(code)}</span></th>',
            _num(row.get(s.NEED_SCORE), "{:.2f}"),
            _num(row.get(s.RANK_LONDON), "{:,.0f}"),
            f'<td class="driver">{_e(drivers.get(code, ""))}</td>',
            _num(row.get(s.EXTRA), "{:,.0f}"),
            _num(row.get(s.TOTAL_DWO), "{:,.0f}"),
            f'<td class="num">{_e(present.percent(row.get(s.NEED_SHARE), decimals=2))}</td>',
            f'<td class="num">{_e(present.percent(row.get(s.OFFICER_SHARE), decimals=2))}</td>',
            _num(row.get(s.POLICY_QUOTA), "{:.2f}"),
            *([_override_cell(row.get("override"))] if overridden else []),
            _rag_cell(band),
        ]
        rows.append(f'<tr data-ward-code="{_e(code)}">{"".join(cells)}</tr>')
    key = " ".join(
        f'<span class="rag {b.css}">{_e(b.colour)}: {_e(b.label)}</span>'
        for b in dict.fromkeys(RAG_BANDS.values())
        if b.css != "rag-none"
    )
    return (
        f'<table class="alloc"><thead><tr>{head}</tr></thead>{_tbodies(rows)}</table>\n'
        f'<p class="note">{_e(_baseline_note(wards))} No. = the ward\'s place in the borough by '
        "need, and its number on the map. Policy (unrounded) = the extras the allocation "
        "policy gives the ward before officers are made whole; Status compares the extra DWOs "
        f"with it: {key}. A ward less than one whole officer from the policy is Green "
        "(officers are whole people: a ward due 0.4 gets 0, one due 1.6 gets 2); a ward moved "
        "by a commander's override is Blue (Override: officers moved in or out; the override and "
        "its reason are listed below); "
        "Amber and Red are more than one officer from the policy (Green 0.9–1.1 of it, Amber "
        "0.75–0.9 or 1.1–1.25, Red beyond); Grey: no extras due under the policy, or a "
        "special ward (its reason is under Equity). Need share and officer share compare the "
        "ward with London.</p>"
    )


def _baseline_note(wards: pd.DataFrame) -> str:
    teams = {_baseline(row) for _, row in wards.iterrows()} - {""}
    if len(teams) == 1:
        return f"Every ward keeps its baseline team of {teams.pop()}; Total DWOs include it."
    return "Baseline teams differ between wards; Total DWOs include each ward's."


def _overrides(plan: PlanResult, code: str, record: MeetingRecord | None) -> str:
    """Every override of the borough with its reason, who recorded it, and whether applied."""
    names = plan.inputs.wards[s.WARD_NAME]
    applied = [o for o in plan.scenario.overrides if o.borough_code == code]
    if record is None or record.overrides is None:
        rows = [
            ["", _ward(names, o.from_ward), _ward(names, o.to_ward), f"{o.officers:,}",
             o.reason, o.recorded_by, "", "applied"]
            for o in applied
        ]  # fmt: skip
        intro = "Overrides applied in this plan (no plan register was read for this pack)."
    else:
        done = {(o.from_ward, o.to_ward, o.officers, o.reason) for o in applied}
        skipped = {int(d["override"]): d["why not applied"] for d in plan.skipped_overrides}
        rows = []
        for r in record.overrides.itertuples(index=False):
            key = (str(r.from_ward), str(r.to_ward), int(r.officers), str(r.reason))
            status = (
                "applied"
                if key in done
                else f"not applied: {skipped.get(int(r.id), 'not part of this scenario')}"
            )
            rows.append(
                [f"{int(r.id)}", _ward(names, r.from_ward), _ward(names, r.to_ward),
                 f"{int(r.officers):,}", str(r.reason), str(r.recorded_by),
                 _day(r.recorded_at), status]
            )  # fmt: skip
        intro = (
            "Every override recorded for the borough in the plan register, oldest first. An "
            "override moves extra officers between two of the borough's wards; the borough's "
            "total is unchanged."
        )
    if not rows:
        return f'<p class="note">{_e(intro)} None recorded.</p>'
    heads = (
        "No.",
        "From ward",
        "To ward",
        "Officers",
        "Reason",
        "Recorded by",
        "On",
        "In this plan",
    )
    head = "".join(f'<th scope="col">{_e(h)}</th>' for h in heads)
    body = ["<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>" for row in rows]
    return (
        f'<p class="note">{_e(intro)}</p><table class="overrides"><thead><tr>{head}</tr>'
        f"</thead>{_tbodies(body)}</table>"
    )


def _agreed(record: MeetingRecord | None) -> str:
    """The priorities agreed in the plan register: this plan year's, and last year's."""
    if record is None:
        why = "no plan register was read for this pack"
        return f'<h3>Agreed priorities</h3><p class="note">Not shown: {_e(why)}.</p>'
    parts = ["<h3>Agreed priorities (plan register)</h3>"]
    for year, agreement in ((record.year, record.agreed), (record.year - 1, record.previous)):
        if agreement is None:
            parts.append(
                f'<p class="agreed"><strong>{year}:</strong> nothing recorded'
                + (" yet: the proposals below are for this meeting to agree." if year ==
                   record.year else ".")
                + "</p>"
            )  # fmt: skip
            continue
        chosen = "".join(f"<li>{_e(p)}</li>" for p in agreement.get("priorities") or [])
        notes = agreement.get("notes")
        parts.append(
            f'<div class="agreed"><p><strong>Agreed for {year}</strong> by '
            f"{_e(agreement.get('agreed_by'))} on {_e(_day(agreement.get('agreed_at')))}"
            f" (recorded by {_e(agreement.get('recorded_by'))}):</p><ol>{chosen}</ol>"
            + (f'<p class="note">Notes: {_e(notes)}</p>' if notes else "")
            + "</div>"
        )
    if record.note:
        parts.append(f'<p class="note">{_e(record.note)}</p>')
    return "\n".join(parts)


def _equity(plan: PlanResult, code: str, wards: pd.DataFrame, yardsticks: Yardsticks | None) -> str:
    boroughs = plan.allocation.boroughs
    eq = plan.allocation.equity
    items: list[tuple[str, str]] = []
    if code in boroughs.index:
        b = boroughs.loc[code]
        items += [
            ("Wards", f"{int(b[s.N_WARDS])}"),
            ("Extra officers", f"{int(b[s.EXTRA]):,} of {plan.allocation.pool:,} in London"),
            ("Share of London's need", present.percent(_float(b[s.NEED_SHARE]), decimals=2)),
            (
                "Share of London's extra officers",
                present.percent(_float(b[s.OFFICER_SHARE]), decimals=2),
            ),
            ("Borough floor", _floor(b)),
        ]
    if yardsticks is not None and code in yardsticks.boroughs.index:
        y = yardsticks.boroughs.loc[code]

        def share(key: str) -> str:
            value = _float(y.get(key))
            return present.percent(value, decimals=2, missing="no data")

        items += [
            (
                f"Share of London's crime harm ({_harm_index(plan).key.upper()})",
                share("share_harm"),
            ),
            ("Share of London's residents", share("share_residents")),
            ("Share of London's ASB", share("share_asb")),
        ]
    for ward in plan.allocation.settings.special:
        if ward.code in wards.index:
            items.append((f"Special ward: {ward.name}", f"no extras: {ward.reason}"))
    moved = _float(eq.get("rounding_officers_moved"))
    items.append(("London: officers placed by whole-officer rounding", _fmt(moved, "{:,.0f}")))
    items.append(
        (
            "London: inversions across boroughs",
            f"{eq.get('inversions_cross_borough', 0):,} pairs of wards where the one in more "
            "need gets fewer extras",
        )
    )
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in items)
    notes = "".join(
        f"<p class='note'>{_e(n)}.</p>" for n in (yardsticks.notes if yardsticks else [])
    )
    return f'<table class="facts keep">{rows}</table>{notes}'


def _confidence(confidence: pd.DataFrame | str | None) -> str:
    if confidence is None or isinstance(confidence, str):
        return f"<p>No survey figures: {_e(confidence or 'no PAS data')}.</p>"
    table = confidence_table(confidence)
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows = _tbodies(
        [
            "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
            for row in table.itertuples(index=False)
        ]
    )
    dates = confidence["date"].dropna()
    when = f"Survey quarter ending {dates.max():%d %B %Y}. " if len(dates) else ""
    return (
        f'<table class="alloc keep"><thead><tr>{head}</tr></thead>{rows}</table>'
        f'<p class="note">{_e(when)}MOPAC Public Attitude Survey: the borough against the MPS '
        "figure; gap and changes in percentage points, change against the same quarter a "
        "year before.</p>"
    )


def _priorities_html(priorities: BoroughPriorities | str) -> str:
    if isinstance(priorities, str):
        return f'<p class="note">{_e(priorities)}</p>'
    parts = ["<h3>Proposed local priorities</h3>"]
    proposed = priorities.proposed
    if len(proposed):
        items = "".join(_proposal_item(r) for _, r in proposed.iterrows())
        parts.append(f'<ol class="proposed">{items}</ol>')
    elif not priorities.shortfall:
        parts.append('<p class="note">No candidate has evidence in this data.</p>')
    for text in (priorities.shortfall, priorities.near_tie):
        if text:
            parts.append(f'<p class="note"><strong>{_e(text)}</strong></p>')
    parts += [f'<p class="note">{_e(line)}</p>' for line in priorities.left_out]
    ev = priorities.evidence
    if len(ev) and "sentence" in ev:
        ev = ev.sort_values("rank") if "rank" in ev else ev
        rows = _tbodies(
            [
                f"<tr><td class=num>{_fmt(_float(r.get('rank')), '{:.0f}')}</td>"
                f"<th scope=row>{_e(r.get('candidate', ''))}</th>"
                f"<td>{_e(_unlabelled(r.get('candidate'), r['sentence']))}"
                + (f'<br><span class="note">{_e(r["status"])}</span>' if r.get("status") else "")
                + "</td></tr>"
                for _, r in ev.iterrows()
            ]
        )
        parts.append(
            "<h3>Every candidate</h3><table class=evidence><thead><tr><th class=num>Rank</th>"
            f"<th>Candidate</th><th>Evidence</th></tr></thead>{rows}</table>"
        )
    parts.append("<h3>Mandatory high-harm basket (London-wide priorities)</h3>")
    basket = priorities.basket
    if len(basket):
        items = "".join(_labelled(r.get("item"), r.get("sentence")) for _, r in basket.iterrows())
        parts.append(f'<ul class="basket">{items}</ul>')
    else:
        parts.append('<p class="note">No basket figures in this data.</p>')
    if priorities.notes:
        parts.append(_list(priorities.notes, css="note"))
    return "\n".join(parts)


def _proposal_item(row: pd.Series) -> str:
    """One proposal: its evidence sentence, then why it is proposed (where known)."""
    label = "" if row.get("candidate") is None else str(row.get("candidate"))
    why = row.get("why")
    tail = f'<br><span class="note">{_e(why)}</span>' if isinstance(why, str) and why else ""
    return (
        f"<li><strong>{_e(label)}</strong>: {_e(_unlabelled(label, row.get('sentence')))}"
        f"{tail}</li>"
    )


def _methodology(plan: PlanResult) -> str:
    m = plan.manifest
    index = _harm_index(plan)
    items = [
        f"Need score: {present.need_method_text(plan.need.settings)} Weights used: "
        f"{present.weights_text(m.weights_used, m.absent_components)}.",
        f"Harm index: {index.name}, in {present.harm_unit(index)}. Source: {index.source}.",
        *present.allocation_method_sentences(plan.allocation.settings, plan.allocation.pool),
        present.proactive_text(plan.inputs.harm),
        *(f"{title}: {text}" for title, text in present.CAVEATS),
    ]
    items += [str(n) for n in m.notes]
    return _list(items)


def _harm_index(plan: PlanResult) -> HarmIndex:
    return plan.inputs.harm.indices[plan.need.settings.harm_index]


def _main_driver(wards: pd.DataFrame) -> dict[str, str]:
    cols = [c for c in wards.columns if str(c).startswith("contribution: ")]
    if not cols:
        return {}
    contrib = wards[cols].astype(float).clip(lower=0)
    total = contrib.sum(axis=1).replace(0, np.nan)
    top = contrib.idxmax(axis=1)
    share = contrib.max(axis=1) / total
    return {
        code: f"{str(top[code]).removeprefix('contribution: ')} ({share[code] * 100:.0f} %)"
        for code in wards.index
        if pd.notna(share[code])
    }


def _baseline(row: pd.Series) -> str:
    dwo, pcso = row.get(s.BASELINE_DWO), row.get(s.BASELINE_PCSO)
    if pd.isna(dwo):
        return ""
    return f"{int(dwo)} DWO + {int(pcso)} PCSO"


def _floor(b: pd.Series) -> str:
    floor = int(b.get(s.FLOOR, 0) or 0)
    if floor == 0:
        return "none"
    return f"{floor} extra officers ({'met' if bool(b.get(s.MET_FLOOR)) else 'NOT met'})"


def _unlabelled(label: Any, sentence: Any) -> str:
    """*sentence* without a leading "label: " (the evidence sentences start with their label)."""
    text, prefix = str(sentence if sentence is not None else ""), f"{label}:"
    return text[len(prefix) :].strip() if label and text.startswith(prefix) else text


def _labelled(label: Any, sentence: Any) -> str:
    label = "" if label is None else str(label)
    return f"<li><strong>{_e(label)}</strong>: {_e(_unlabelled(label, sentence))}</li>"


def _override_cell(value: Any) -> str:
    moved = _float(value)
    return _num(moved, "{:+,.0f}") if moved and math.isfinite(moved) else '<td class="num"></td>'


def _rag_cell(band: RagBand) -> str:
    return f'<td class="rag {band.css}">{_e(band.colour)}: {_e(band.label)}</td>'


def _list(items: Iterable[str], *, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{_e(i)}</li>" for i in items) + "</ul>"


def _float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _fmt(value: float, spec: str) -> str:
    return spec.format(value) if math.isfinite(value) else "–"


def _num(value: Any, spec: str) -> str:
    return f'<td class="num">{_fmt(_float(value), spec)}</td>'


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _tbodies(rows: list[str]) -> str:
    """The rows as table bodies: the first :data:`KEEP_ROWS` in one that never breaks across
    a page (a table never starts a page with a stranded row), the rest in another."""
    head, rest = rows[:KEEP_ROWS], rows[KEEP_ROWS:]
    out = f'<tbody class="keep">{"".join(head)}</tbody>'
    return out + (f"<tbody>{''.join(rest)}</tbody>" if rest else "")


def _ward(names: pd.Series, code: Any) -> str:
    """A ward's name (its code where it has no name in these wards)."""
    return str(names.get(code, code))


def _day(value: Any) -> str:
    """A time as a day: "12 April 2026" ("not recorded" where missing)."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        return "not recorded"
    return "not recorded" if pd.isna(stamp) else f"{stamp:%d %B %Y}".lstrip("0")
