"""The borough pack's stylesheet: screen, and print on A4 (:mod:`planner.outputs.pack`).

Print rules: the cover is a page of its own; every section after it starts on a page where
its heading fits with what follows (headings are never the last line of a page); a table's
first three rows are one unbreakable body (``tbody.keep``), so no table starts a page with a
stranded row, and its header repeats on every page; rows, list items and the map never
break; paragraphs keep at least three lines together (orphans and widows).
"""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
@page { size: A4; margin: 14mm 12mm 16mm; }
* { box-sizing: border-box; }
body { font-family: "Helvetica Neue", Arial, sans-serif; font-size: 10pt; color: #111;
  max-width: 190mm; margin: 0 auto; padding: 8px; line-height: 1.35; }
h1 { font-size: 26pt; margin: 0 0 4px; }
h2 { font-size: 13pt; border-bottom: 2px solid #225ea8; padding-bottom: 2px; margin: 18px 0 6px; }
h3 { font-size: 11pt; margin: 12px 0 4px; }
.sub { margin: 0 0 10px; color: #333; font-size: 11pt; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #999; padding: 2px 4px; text-align: left; vertical-align: top; }
thead th { background: #eee; }
table.facts { width: auto; }
table.facts th { background: #f4f4f4; font-weight: 600; white-space: nowrap; }
table.scenario td { max-width: 125mm; }
table.alloc, table.overrides { font-size: 8pt; }
table.alloc th[scope=row] { min-width: 30mm; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
.code { display: block; font-weight: normal; color: #555; font-size: 7pt; }
.rag { font-weight: 600; }
td.rag { min-width: 27mm; }
td.driver { white-space: nowrap; }
.rag-green { background: #b8e0b8; }
.rag-amber { background: #ffd98a; }
.rag-red { background: #f4a3a3; }
.rag-override { background: #c6dbef; }
.rag-none { background: #e4e4e4; }
span.rag { padding: 0 4px; border: 1px solid #999; white-space: nowrap; }
ul.glance { padding-left: 18px; font-size: 11pt; }
ul.glance li { margin: 3px 0; }
.mapbox { display: flex; gap: 10px; align-items: flex-start; }
svg.map { flex: 0 1 auto; width: 120mm; max-width: 68%; max-height: 215mm; height: auto;
  border: 1px solid #ccc; }
.mapside { flex: 1 1 0; min-width: 45mm; }
.legend ul { list-style: none; padding: 0; margin: 0 0 6px; }
.legend li { margin: 1px 0; font-size: 8.5pt; }
.legend p { margin: 0 0 4px; font-weight: 600; font-size: 8.5pt; }
ol.mapkey { list-style: none; padding: 0; margin: 0; font-size: 8pt; line-height: 1.25; }
ol.mapkey .n { display: inline-block; min-width: 5mm; text-align: right; font-weight: 700; }
.note, .method { font-size: 8.5pt; color: #333; }
.agreed ol { margin: 2px 0 6px; }
ol.proposed li, ul.basket li { margin-bottom: 4px; }
p, li { orphans: 3; widows: 3; }
@media print {
  body { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  section.cover { break-after: page; }
  section.cover h1 { margin-top: 30mm; }
  section { break-inside: auto; }
  section.map { break-inside: avoid; }
  tr, li, .mapbox, .agreed, tbody.keep, table.keep { break-inside: avoid; }
  thead { display: table-header-group; }
  h2, h3 { break-after: avoid; }
}
"""
