"""The ward map's data: display geometry, its own base, Leaflet, and each scenario's view.

No Streamlit here, and no folium either: the folium map that draws these (the base the app
keeps mounted, and a whole map for a saved page) is :mod:`planner.outputs.basemap`, imported
only when a base is built, so an app whose rendered base is on disk shows its first map
without importing folium (about 0.3 s). Its names are also reachable from here
(``mapping.ward_map``, ``mapping.base_map``, ``mapping.OfflineMap``, ``mapping.Legend``).

- Geometry is simplified for display in British National Grid (metres, EPSG:27700) and only
  then reprojected to EPSG:4326 for Leaflet (:func:`display_wards`): a 25 m tolerance keeps
  ward shapes recognisable at borough zoom and makes the map several times lighter.
- Colours are classes, not a continuous ramp: every class carries a text label a commander can
  read ("Highest need: top 10 % (1.23 and above)", "1–2 extra"), so the legend says what a
  colour means. The palettes are sequential and colour-blind safe (viridis, cividis, YlGnBu:
  each runs light to dark, monotonic in lightness).
- Every ward feature carries its ``ward_code``, so a click (``last_active_drawing`` in
  streamlit-folium) identifies the ward.
- Offline first (:class:`planner.outputs.basemap.OfflineMap`): Leaflet's script and
  stylesheet are inlined from the ``django-js-lib-leaflet`` package (PyPI,
  :func:`leaflet_assets`), so the map loads nothing from outside the app's own server; no
  tiles by default, the base is the project's own geography (borough outlines dissolved from
  the wards, the Thames as the gap the wards leave, :func:`base_layers`). If the map's script
  cannot run, a message inside the map frame points to the ward list and the Allocation table.
"""

from __future__ import annotations

import functools
import html
import importlib.util
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema as s
from planner.errors import DataError
from planner.outputs.present import (
    LAYERS,
    NOT_SCORED_COLOUR,
    NOT_SCORED_LABEL,
    Classes,
    classes_for,
)

__all__ = [
    "MAP_KEYBOARD_TEXT",
    "NOT_SCORED_HATCH",
    "NOT_SCORED_PATTERN",
    "NO_MAP_TEXT",
    "BaseLayers",
    "base_layers",
    "bounds",
    "display_wards",
    "leaflet_assets",
    "legend_html",
    "map_view",
    "script_json",
    "view_script",
]

HOT_SPOT_COLOUR = "#d7191c"  # a red outline: read against every fill of the palettes
COLD_SPOT_COLOUR = "#2c7bb6"
SELECTED_COLOUR = "#000000"
SPECIAL_COLOUR = "#4b0082"  # special wards: a dark dotted outline and a label
BOROUGH_LINE_COLOUR = "#3b3b3b"
RIVER_COLOUR = "#a9cfe8"  # the Thames: a pale blue no class of the palettes uses
BACKGROUND_COLOUR = "#f4f3ef"  # outside London, where no tiles are drawn
WARD_CLASS = "planner-ward"  # the CSS class of every ward polygon (clickable)
NO_MAP_TEXT = (
    "The map could not be drawn in this browser. Every ward is in the Ward list on this "
    "page, and the officers of every ward are in the table on the Allocation page."
)
MAP_KEYBOARD_TEXT = (
    "Ward map. Arrow keys move the map, plus and minus zoom. To choose a ward from the "
    "keyboard, use the Ward list on this page."
)
# "not scored" is hatched, not only grey, so it is told apart from every class whatever the
# colour vision: an SVG pattern on the map, the same stripes as CSS in the legend
NOT_SCORED_PATTERN = "planner-not-scored"
NOT_SCORED_HATCH = "repeating-linear-gradient(45deg,#5f5f5f 0 2px,#e4e4e4 2px 5px)"
LEAFLET_PACKAGE = "js_lib_leaflet"  # pip install django-js-lib-leaflet: Leaflet 1.9.4


# --- geometry -------------------------------------------------------------------------------


def display_wards(
    wards: gpd.GeoDataFrame, *, tolerance_m: float = 25.0, decimals: int = 5
) -> gpd.GeoDataFrame:
    """Wards ready for Leaflet: simplified in EPSG:27700, then in EPSG:4326.

    Parameters
    ----------
    wards
        Indexed by ward_code, with ward_name, borough_code, borough_name and a CRS.
    tolerance_m
        Douglas-Peucker tolerance in metres (``preserve_topology``), applied in British
        National Grid so that it means the same everywhere.
    decimals
        Coordinates rounded to this many decimal places of a degree (5: about a metre).

    Returns
    -------
    geopandas.GeoDataFrame
        ward_code (index), ward_name, borough_code, borough_name, geometry in EPSG:4326.

    Raises
    ------
    DataError
        No CRS, or a name column missing.
    """
    if wards.crs is None:
        raise DataError("wards have no CRS; read them with planner.ingest.sources.wards")
    missing = [c for c in s.WARD_COLUMNS if c not in wards.columns]
    if missing:
        raise DataError(f"wards lack column(s) {missing}; found {list(wards.columns)}")
    out = wards[[*s.WARD_COLUMNS, wards.geometry.name]].to_crs(s.WORKING_CRS)
    out = out.set_geometry(out.geometry.simplify(tolerance_m, preserve_topology=True))
    out = out.to_crs(s.DISPLAY_CRS)
    rounded = shapely.transform(out.geometry.to_numpy(), lambda xy: np.round(xy, decimals))
    out = out.set_geometry(gpd.GeoSeries(rounded, index=out.index, crs=s.DISPLAY_CRS))
    out.index.name = s.WARD_CODE
    return out


def bounds(display: gpd.GeoDataFrame, codes: Sequence[str] | None = None) -> list[list[float]]:
    """``[[south, west], [north, east]]`` of the wards (or of *codes*), for ``fit_bounds``."""
    part = display if codes is None else display.loc[display.index.isin(list(codes))]
    if part.empty:
        part = display
    west, south, east, north = part.to_crs(s.DISPLAY_CRS).total_bounds
    return [[float(south), float(west)], [float(north), float(east)]]


@dataclass(frozen=True)
class BaseLayers:
    """The map's own base, drawn without tiles: borough outlines and the Thames (EPSG:4326)."""

    boroughs: gpd.GeoDataFrame  # borough_code (index), borough_name, geometry (lines)
    river: gpd.GeoDataFrame  # geometry: the gaps inside London the wards leave (the Thames)


def base_layers(
    wards: gpd.GeoDataFrame,
    *,
    tolerance_m: float = 25.0,
    river_width_m: float = 1_200.0,
    min_river_km2: float = 1.0,
) -> BaseLayers:
    """Borough outlines and the Thames from the wards themselves, for a map with no tiles.

    Parameters
    ----------
    wards
        Every ward (the City's too), with borough_code, borough_name and a CRS.
    tolerance_m
        Simplification of the outlines, in metres (as :func:`display_wards`).
    river_width_m
        The widest gap between wards that is closed to find the river: the wards are clipped
        to mean high water, so the Thames is the strip between them. A morphological closing
        (buffer out and back by half this width) fills it; what it fills is the river.
    min_river_km2
        Pieces of the filled gap smaller than this (notches of the boundary) are dropped.

    Returns
    -------
    BaseLayers
    """
    if wards.crs is None:
        raise DataError("wards have no CRS; read them with planner.ingest.sources.wards")
    metric = wards[[s.BOROUGH_CODE, s.BOROUGH_NAME, wards.geometry.name]].to_crs(s.WORKING_CRS)
    boroughs = metric.dissolve(by=s.BOROUGH_CODE, aggfunc="first")
    lines = boroughs.geometry.boundary.simplify(tolerance_m)
    boroughs = boroughs.set_geometry(lines).to_crs(s.DISPLAY_CRS)
    london = shapely.make_valid(shapely.union_all(metric.geometry.buffer(1).to_numpy()))
    half = river_width_m / 2
    closed = london.buffer(half, quad_segs=4).buffer(-half, quad_segs=4)
    gaps = gpd.GeoSeries([closed.difference(london)], crs=s.WORKING_CRS).explode()
    gaps = gaps[gaps.area >= min_river_km2 * 1e6].simplify(tolerance_m)
    river = gpd.GeoDataFrame(geometry=[shapely.union_all(gaps.to_numpy())], crs=s.WORKING_CRS)
    return BaseLayers(boroughs=boroughs, river=river.to_crs(s.DISPLAY_CRS))


# --- Leaflet, served by the app itself ------------------------------------------------------


@dataclass(frozen=True)
class LeafletAssets:
    """Leaflet's script and stylesheet, read from an installed package."""

    js: str
    css: str
    source: Path


@functools.cache
def leaflet_assets() -> LeafletAssets | None:
    """Leaflet from the ``django-js-lib-leaflet`` package, or None where it is not installed."""
    spec = importlib.util.find_spec(LEAFLET_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static" / LEAFLET_PACKAGE
    js, css = folder / "leaflet.js", folder / "leaflet.css"
    if not (js.is_file() and css.is_file()):
        return None
    script = js.read_text(encoding="utf-8").replace("//# sourceMappingURL=leaflet.js.map", "")
    # inline in a <script> element: nothing in it may close the element early
    script = script.replace("</script", "<\\/script")
    return LeafletAssets(js=script, css=css.read_text(encoding="utf-8"), source=folder)


# --- the legend -----------------------------------------------------------------------------


def legend_html(title: str, items: Sequence[tuple[str, str | None, str | None, bool]]) -> str:
    """A legend's inner HTML (labels escaped): *title*, then per item a swatch and its label.

    *items* are ``(label, fill colour or None, outline colour or None, dashed)``; the
    "not scored" colour is drawn hatched.
    """
    rows = [f"<details open><summary><b>{html.escape(title)}</b></summary>"]
    for label, fill, outline, dashed in items:
        fill = NOT_SCORED_HATCH if fill == NOT_SCORED_COLOUR else fill
        style = [f"background:{fill}" if fill else "background:transparent"]
        line = "dashed" if dashed else "solid"
        style.append(f"border:2px {line} {outline}" if outline else "border:1px solid #777")
        rows.append(f'<div><i style="{";".join(style)}"></i>{html.escape(label)}</div>')
    return "".join(rows) + "</details>"


# --- the map: a base that stays mounted, and a view that restyles it -----------------------
#
# The map is two parts. The *base* (:func:`planner.outputs.basemap.base_map`) holds everything
# that is the same for every scenario of a data set: the ward polygons (code and names only),
# the Thames, the borough lines, the special wards' labels, an empty legend and the script
# that draws them. It is built once per data set, and the app keeps it mounted in the browser.
# The *view* (:func:`map_view`, :func:`view_script`) is what a scenario changes: each ward's
# class and value, the legend, the hot spots, the selected ward, the area to zoom to. It is a
# small script (about 20 kB for 704 wards) that restyles the polygons already drawn, so a
# weight change redraws the map in place and the user's zoom and centre are kept. The zoom moves
# only when the area to show changes (another borough).


def script_json(value: object) -> str:
    """*value* as JSON that is safe inside a ``<script>`` element (``<``, ``>``, ``&`` escaped)."""
    text = json.dumps(value, ensure_ascii=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def map_view(
    display: gpd.GeoDataFrame,
    values: pd.Series,
    *,
    layer: str,
    title: str,
    classes: Classes | None = None,
    outlines: pd.Series | None = None,
    outline_label: str = "of harm (Gi*)",
    special: Mapping[str, str] | None = None,
    fit: Sequence[str] | None = None,
    selected: str | None = None,
    not_scored_label: str = NOT_SCORED_LABEL,
    short_title: str | None = None,
    base: bool = False,
    frame_title: str = "Ward map",
) -> dict[str, object]:
    """What one scenario shows on the map: per ward its class and value, and the legend.

    Parameters
    ----------
    display
        From :func:`display_wards`; wards without a value are drawn grey with
        *not_scored_label*.
    values
        One value per ward, indexed by ward code.
    layer
        A key of :data:`planner.outputs.present.LAYERS` (palette, classes, number format).
    title
        The legend heading.
    classes
        Precomputed classes; default :func:`planner.outputs.present.classes_for` on *values*.
    outlines
        Per ward code, ``"hot spot"`` or ``"cold spot"`` (others ignored): drawn as outlines
        on top, red solid and blue dashed, and named in the ward's tooltip.
    outline_label
        What the outlines are, after "Hot spot"/"Cold spot" in the legend and the tooltip
        (e.g. "of harm, uncorrected (exploratory)").
    special
        Special wards (code -> reason), counted in the legend.
    fit
        Ward codes to zoom to (e.g. one borough's), their outer boundary drawn; default every
        ward, no outline.
    selected
        The ward chosen in the app, outlined thick.
    not_scored_label
        The legend and tooltip text of wards without a value.
    short_title
        The value's name in the tooltip; default *title*.
    base
        Whether the map has the own base (legend rows for the borough lines and the Thames).
    frame_title
        The accessible name of the frame that shows the map.

    Returns
    -------
    dict
        JSON-ready; :func:`view_script` sends it to the map.
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown map layer {layer!r}; use one of {', '.join(LAYERS)}")
    spec = LAYERS[layer]
    values = pd.to_numeric(values, errors="coerce").reindex(display.index)
    classes = classes or classes_for(layer, values)
    klass = classes.assign(values).to_numpy()
    texts = [not_scored_label if pd.isna(v) else spec.number.format(v) for v in values]
    wards = {
        str(code): [int(k), text]
        for code, k, text in zip(display.index, klass, texts, strict=True)
        if k >= 0
    }
    items: list[tuple[str, str | None, str | None, bool]] = [
        (label, colour, None, False)
        for label, colour in reversed(list(zip(classes.labels, classes.colours, strict=True)))
    ]
    if values.isna().any():
        items.append((not_scored_label, NOT_SCORED_COLOUR, None, False))
    status: dict[str, str] = {}
    if outlines is not None:
        kinds = outlines.astype("string").reindex(display.index).fillna("")
        for kind, colour, dashed in (
            ("hot spot", HOT_SPOT_COLOUR, False),
            ("cold spot", COLD_SPOT_COLOUR, True),
        ):
            codes = [str(c) for c in kinds.index[kinds == kind]]
            name = f"{kind.capitalize()} {outline_label}"
            status.update(dict.fromkeys(codes, name))
            items.append((f"{name}: {len(codes)} ward(s)", None, colour, dashed))
    shown = [c for c in (special or {}) if c in display.index]
    if shown:
        label = f"Special ward, no extras: {len(shown)} (label on the map)"
        items.append((label, None, SPECIAL_COLOUR, True))
    if base:
        items.append(("Borough boundary", None, BOROUGH_LINE_COLOUR, False))
        items.append(("River Thames", RIVER_COLOUR, None, False))
    return {
        "wards": wards,
        "colours": list(classes.colours),
        "labels": list(classes.labels),
        "not_scored": not_scored_label,
        "value_name": short_title or title,
        "status": status,
        "legend": legend_html(title, items),
        "area": _outline(display, fit),
        "fit": bounds(display, fit),
        "selected": selected if selected in display.index else None,
        "frame_title": frame_title,
    }


def view_script(view: Mapping[str, object]) -> str:
    """JavaScript that applies *view* to a base map (:func:`planner.outputs.basemap.base_map`)."""
    return f"window.plannerMap.update({script_json(view)});"


def _outline(display: gpd.GeoDataFrame, codes: Sequence[str] | None) -> dict[str, Any] | None:
    """The outer boundary of the wards in *codes* (e.g. a borough) as GeoJSON, or None."""
    if codes is None:
        return None
    part = display.loc[display.index.isin(list(codes))]
    if part.empty:
        return None
    area = shapely.make_valid(part.geometry.union_all()).boundary
    outline: dict[str, Any] = shapely.geometry.mapping(area)
    return outline


# the folium side, imported on first use (PEP 562): see the module notes
_BASEMAP = ("DrawnCheck", "Legend", "OfflineMap", "ViewScript", "WardLayer", "base_map", "ward_map")


def __getattr__(name: str) -> Any:
    if name in _BASEMAP:
        from planner.outputs import basemap

        return getattr(basemap, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
