"""A printable borough pack: one self-contained HTML page per borough (and a PDF where possible).

The pack is what a borough commander takes to the council leader: the borough's ward map coloured
by extra officers, the allocation table with a red/amber/green status that is always spelled out
in words (so nothing is lost in greyscale or to a colour-blind reader), the borough's equity
summary, the proposed local priorities with their evidence and the high-harm basket, and a
methodology footnote with the weights, the harm index and the caveats.

The page has no scripts and no external resources: inline CSS (A4 with ``@media print``) and an
inline SVG map drawn from the ward polygons in British National Grid, so it prints, mails and
archives as one file. Every piece of text from the data is HTML-escaped.

Over 400 lines: the page's sections and its print stylesheet (about 60 lines of CSS) in one
file, so the pack is edited in one place.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from planner import schema as s
from planner.config import HarmIndex, PlannerConfig
from planner.files import atomic_path
from planner.outputs import present
from planner.outputs.safe import safe_filename
from planner.outputs.svgmap import ward_map_svg
from planner.outputs.views import confidence_table
from planner.plan.priorities import match_borough

if TYPE_CHECKING:
    from planner.plan.priorities import BoroughPriorities
    from planner.plan.yardsticks import Yardsticks
    from planner.results import PlanResult

__all__ = ["RAG_BANDS", "borough_pack_html", "policy_ratio", "rag_status", "write_borough_pack"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RagBand:
    """A red/amber/green band of a ward's extras against what the policy gives it unrounded."""

    colour: str  # "Green", "Amber", "Red"
    label: str  # the words printed beside the colour
    css: str  # the class name of the cell


RAG_BANDS = {
    "green": RagBand("Green", "on target", "rag-green"),
    "amber_under": RagBand("Amber", "slightly under", "rag-amber"),
    "amber_over": RagBand("Amber", "slightly over", "rag-amber"),
    "red_under": RagBand("Red", "well under", "rag-red"),
    "red_over": RagBand("Red", "well over", "rag-red"),
    "none": RagBand("Grey", "no extras due under the policy", "rag-none"),
}


def policy_ratio(row: pd.Series) -> float:
    """A ward's extras over the policy's unrounded allocation; NaN where that is 0."""
    due = _float(row.get(s.POLICY_QUOTA))
    return _float(row.get(s.EXTRA)) / due if due > 0 else math.nan


def rag_status(ratio: float) -> RagBand:
    """The band of a ratio: Green 0.9–1.1, Amber 0.75–0.9 or 1.1–1.25, Red beyond.

    The pack's ratio is a ward's extras over the policy's unrounded allocation
    (``policy_quota``). Boundaries belong to the better band (0.9 and 1.1 are on target, 0.75
    and 1.25 Amber); a missing ratio (the policy gives the ward nothing) is Grey.
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


# --- the public functions -----------------------------------------------------------------


def borough_pack_html(
    plan: PlanResult,
    borough: str,
    *,
    config: PlannerConfig,
    priorities: BoroughPriorities | str,
    confidence: pd.DataFrame | str | None = None,
    yardsticks: Yardsticks | None = None,
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
        The borough's priorities (:func:`planner.api.borough_priorities`), or a sentence
        saying why they could not be computed.
    confidence
        The borough's Public Attitude Survey panel (:func:`planner.api.confidence_panel`
        ``table``), or a sentence saying why there is none.
    yardsticks
        The plan against outside yardsticks (:func:`planner.api.yardsticks`).

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
    body = [
        _header(plan, name),
        _section("Ward map: extra officers", _map(plan, wards)),
        _section("Allocation by ward", _allocation_table(wards)),
        _section("Equity", _equity(plan, code, wards, yardsticks)),
        _section("Public confidence", _confidence(confidence)),
        _section("Local priorities", _priorities_html(priorities)),
        _section("Methodology and caveats", _methodology(plan), css="method"),
    ]
    title = f"{name}: neighbourhood policing pack"
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
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
    pdf: bool = False,
) -> list[Path]:
    """Write ``<borough>_pack.html`` (and, with *pdf* and WeasyPrint installed, the PDF).

    Files are written atomically (a failure leaves the previous file, or none). Without
    WeasyPrint the PDF is skipped with a logged note: print the HTML page to PDF from a browser.

    Parameters
    ----------
    plan, borough, config, priorities, confidence, yardsticks
        As for :func:`borough_pack_html`.
    out_dir
        Output folder, created if missing; the file name is the borough's name made safe by
        :func:`planner.outputs.safe.safe_filename` (``Kensington and Chelsea_pack.html``).
    pdf
        Also write ``<borough>_pack.pdf`` when WeasyPrint can be imported.

    Returns
    -------
    list of Path
        The files written, the HTML first.
    """
    _, name = _resolve_borough(plan, borough, config)
    page = borough_pack_html(
        plan,
        borough,
        config=config,
        priorities=priorities,
        confidence=confidence,
        yardsticks=yardsticks,
    )
    stem = safe_filename(name, default="borough") + "_pack"
    out = Path(out_dir)
    target = out / f"{stem}.html"
    with atomic_path(target) as tmp:
        tmp.write_text(page, encoding="utf-8")
    written = [target]
    if pdf:
        try:
            import weasyprint
        except (ImportError, OSError) as exc:  # OSError: the package without its system libraries
            log.info(
                "PDF not written (%s): WeasyPrint is not usable; print %s instead", exc, target
            )
        else:
            with atomic_path(out / f"{stem}.pdf") as tmp:
                weasyprint.HTML(string=page, base_url=str(out)).write_pdf(str(tmp))
            written.append(out / f"{stem}.pdf")
    return written


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


def _header(plan: PlanResult, name: str) -> str:
    m = plan.manifest
    a = plan.allocation.settings
    facts = [
        ("Data window", f"{m.window_start} to {m.window_end}"),
        ("Dataset", m.dataset),
        ("Harm index", _harm_index(plan).name),
        ("Extra officers (London pool)", f"{plan.allocation.pool:,}"),
        ("Method", present.method_label(a.method)),
        ("Scenario", plan.scenario.key()),
        ("Created", m.created),
        ("Planner version", m.planner_version),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return (
        f'<header><h1>{_e(name)}</h1><p class="sub">Neighbourhood policing pack: Dedicated Ward '
        "Officers and local priorities (advisory: for discussion with the council leader)</p>"
        f'<table class="facts">{rows}</table></header>'
    )


def _section(title: str, content: str, *, css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<section{cls}><h2>{_e(title)}</h2>\n{content}\n</section>"


def _map(plan: PlanResult, wards: pd.DataFrame) -> str:
    """The borough's wards, coloured by the London-wide classes of the app's map."""
    extra = wards[s.EXTRA].fillna(0).astype(int)
    return ward_map_svg(
        plan.inputs.wards,
        extra,
        layer="extra",
        title="Extra officers per ward",
        names=wards[s.WARD_NAME],
        classes=present.classes_for("extra", plan.allocation.wards[s.EXTRA]),
    )


def _allocation_table(wards: pd.DataFrame) -> str:
    heads = (
        "Ward", "Need score", "Rank in London", "Rank in borough", "Main driver", "Baseline",
        "Extra DWOs", "Total DWOs", "Need share (London)", "Officer share (London)",
        "Policy (unrounded)", "Status",
    )  # fmt: skip
    numeric = {1, 2, 3, 6, 7, 8, 9, 10}
    head = "".join(
        f'<th{" class=num" if i in numeric else ""} scope="col">{_e(h)}</th>'
        for i, h in enumerate(heads)
    )
    drivers = _main_driver(wards)
    rows = []
    for code, row in wards.iterrows():
        ratio = policy_ratio(row)
        band = rag_status(ratio)
        cells = [
            f'<th scope="row">{_e(row[s.WARD_NAME])}<span class="code">{_e(code)}</span></th>',
            _num(row.get("need_score"), "{:.3f}"),
            _num(row.get("rank_london"), "{:.0f}"),
            _num(row.get("rank_borough"), "{:.0f}"),
            f"<td>{_e(drivers.get(code, ''))}</td>",
            f"<td>{_e(_baseline(row))}</td>",
            _num(row.get(s.EXTRA), "{:.0f}"),
            _num(row.get(s.TOTAL_DWO), "{:.0f}"),
            _num(row.get(s.NEED_SHARE), "{:.2%}"),
            _num(row.get(s.OFFICER_SHARE), "{:.2%}"),
            _num(row.get(s.POLICY_QUOTA), "{:.2f}"),
            _rag_cell(band),
        ]
        rows.append(f'<tr data-ward-code="{_e(code)}">{"".join(cells)}</tr>')
    key = " ".join(
        f'<span class="rag {b.css}">{_e(b.colour)}: {_e(b.label)}</span>'
        for b in dict.fromkeys(RAG_BANDS.values())
        if b.css != "rag-none"
    )
    return (
        f'<table class="alloc"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody>'
        f'</table>\n<p class="note">Policy (unrounded) = the extras the allocation policy gives '
        f"the ward before officers are made whole. Status = extra DWOs ÷ that: {key} (Green "
        "0.9–1.1, Amber 0.75–0.9 or 1.1–1.25, Red beyond), so it shows rounding, not need: "
        "extra officers are whole people, and a ward due under about two cannot land within "
        "10 % of it. Need share and officer share compare the ward with London.</p>"
    )


def _equity(plan: PlanResult, code: str, wards: pd.DataFrame, yardsticks: Yardsticks | None) -> str:
    boroughs = plan.allocation.boroughs
    eq = plan.allocation.equity
    items: list[tuple[str, str]] = []
    if code in boroughs.index:
        b = boroughs.loc[code]
        items += [
            ("Wards", f"{int(b[s.N_WARDS])}"),
            ("Extra officers", f"{int(b[s.EXTRA])} of {plan.allocation.pool} in London"),
            ("Share of London's need", f"{_float(b[s.NEED_SHARE]):.2%}"),
            ("Share of London's extra officers", f"{_float(b[s.OFFICER_SHARE]):.2%}"),
            ("Borough floor", _floor(b)),
        ]
    if yardsticks is not None and code in yardsticks.boroughs.index:
        y = yardsticks.boroughs.loc[code]

        def share(key: str) -> str:
            value = _float(y.get(key))
            return "no data" if math.isnan(value) else f"{value:.2%}"

        items += [
            ("Share of London's crime harm", share("share_harm")),
            ("Share of London's residents", share("share_residents")),
            ("Share of London's ASB", share("share_asb")),
        ]
    for ward in plan.allocation.settings.special:
        if ward.code in wards.index:
            items.append((f"Special ward: {ward.name}", f"no extras: {ward.reason}"))
    moved = _float(eq.get("rounding_officers_moved"))
    items.append(("London: officers placed by whole-officer rounding", _fmt(moved, "{:.0f}")))
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
    return f'<table class="facts">{rows}</table>{notes}'


def _confidence(confidence: pd.DataFrame | str | None) -> str:
    if confidence is None or isinstance(confidence, str):
        return f"<p>No survey figures: {_e(confidence or 'no PAS data')}.</p>"
    table = confidence_table(confidence)
    head = "".join(f"<th>{_e(c)}</th>" for c in table.columns)
    rows = "".join(
        "<tr>" + "".join(f"<td>{_e(v)}</td>" for v in row) + "</tr>"
        for row in table.itertuples(index=False)
    )
    dates = confidence["date"].dropna()
    when = f"Survey quarter ending {dates.max():%d %B %Y}. " if len(dates) else ""
    return (
        f'<table class="alloc"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
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
        rows = "".join(
            f"<tr><td class=num>{_fmt(_float(r.get('rank')), '{:.0f}')}</td>"
            f"<th scope=row>{_e(r.get('candidate', ''))}</th>"
            f"<td>{_e(_unlabelled(r.get('candidate'), r['sentence']))}"
            + (f'<br><span class="note">{_e(r["status"])}</span>' if r.get("status") else "")
            + "</td></tr>"
            for _, r in ev.iterrows()
        )
        parts.append(
            "<h3>Every candidate</h3><table class=evidence><thead><tr><th class=num>Rank</th>"
            f"<th>Candidate</th><th>Evidence</th></tr></thead><tbody>{rows}</tbody></table>"
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
        code: f"{str(top[code]).removeprefix('contribution: ')} ({share[code]:.0%})"
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


_CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 10pt; color: #111;
  max-width: 190mm; margin: 0 auto; padding: 8px; line-height: 1.35; }
h1 { font-size: 20pt; margin: 0 0 2px; }
h2 { font-size: 13pt; border-bottom: 2px solid #225ea8; padding-bottom: 2px; margin: 18px 0 6px; }
h3 { font-size: 11pt; margin: 12px 0 4px; }
.sub { margin: 0 0 8px; color: #333; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 2px 4px; text-align: left; vertical-align: top; }
thead th { background: #eee; }
table.facts { width: auto; }
table.facts th { background: #f4f4f4; font-weight: 600; }
table.alloc { font-size: 8pt; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.code { display: block; font-weight: normal; color: #555; font-size: 7pt; }
.rag { font-weight: 600; white-space: nowrap; }
.rag-green { background: #b8e0b8; }
.rag-amber { background: #ffd98a; }
.rag-red { background: #f4a3a3; }
.rag-none { background: #e4e4e4; }
span.rag { padding: 0 4px; border: 1px solid #999; }
.mapbox { display: flex; gap: 12px; align-items: flex-start; }
svg.map { width: 140mm; max-width: 75%; height: auto; border: 1px solid #ccc; }
.legend ul { list-style: none; padding: 0; margin: 0; }
.legend li { margin: 2px 0; }
.legend p { margin: 0 0 4px; font-weight: 600; }
.note, .method { font-size: 8.5pt; color: #333; }
ol.proposed li, ul.basket li { margin-bottom: 4px; }
@media print {
  body { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section { break-inside: auto; }
  tr, li, .mapbox { break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; }
  section.method { break-before: auto; }
}
"""
