"""A static ward map as inline SVG, for pages that must print and archive as one file.

The wards are drawn from their polygons in British National Grid (north up, metres), filled by
the same colour classes as the app's map (:func:`planner.outputs.present.classes_for`), with the
value written on each ward so the map reads in greyscale and to a colour-blind reader. Every
piece of text is escaped.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from planner import schema as s
from planner.outputs.present import Classes, classes_for

__all__ = ["ward_map_svg"]


def ward_map_svg(
    wards: gpd.GeoDataFrame,
    values: pd.Series,
    *,
    layer: str,
    title: str,
    names: pd.Series,
    classes: Classes | None = None,
    value_text: str = "{:.0f}",
    key: pd.Series | None = None,
    key_text: str = "{}",
) -> str:
    """The wards of *values* as an SVG map with a legend, or a note where none has a shape.

    Parameters
    ----------
    wards
        Ward polygons indexed by ward code, any CRS (drawn in EPSG:27700).
    values
        The value of each ward to draw, indexed by ward code (e.g. extra officers).
    layer
        The layer of :data:`planner.outputs.present.LAYERS` whose classes colour the map.
    title
        The legend's heading and the map's accessible name.
    names
        Ward name by code, for each ward's tooltip.
    classes
        The colour classes; default those of *values* (pass London-wide classes to colour a
        borough's wards as the app's London map does).
    value_text
        How a value is written on its ward (and, with *key*, in the key).
    key
        A number per ward code: when given, each ward is labelled with its number and a
        numbered key beside the map names every ward with its value (the map reads in
        greyscale and names every ward however small). Default: the value on each ward.
    key_text
        How a value is written in the key, e.g. ``"{} extra"``.

    Returns
    -------
    str
        HTML: a ``div`` holding the ``svg`` and its legend, then a note of wards not drawn.
    """
    geo = (
        wards if wards.crs is None or wards.crs.to_epsg() == 27700 else wards.to_crs(s.WORKING_CRS)
    )
    shapes = geo.geometry.reindex(values.index)
    has_shape = shapes.notna().to_numpy() & ~shapely.is_empty(shapes.to_numpy(object))
    if not has_shape.any():
        return '<p class="note">No ward boundaries for these wards: no map.</p>'
    classes = classes if classes is not None else classes_for(layer, values)
    fills = classes.colour(values)
    simple = shapely.simplify(shapes.to_numpy(object)[has_shape], 5.0, preserve_topology=True)
    minx, miny, maxx, maxy = shapely.total_bounds(simple)
    width, height = max(maxx - minx, 1.0), max(maxy - miny, 1.0)
    pad = 0.02 * max(width, height)
    font = max(width, height) / 55
    points = shapely.point_on_surface(simple)
    paths, labels = [], []
    for i, (code, shape) in enumerate(zip(values.index[has_shape], simple, strict=True)):
        text = value_text.format(values[code])
        fill = str(fills[code])
        tip = f"{names.get(code, code)}: {text}"
        if key is not None:
            text = str(key.get(code, ""))
        paths.append(
            f'<path d="{_svg_path(shape, minx, maxy)}" fill="{fill}" data-ward-code="{_e(code)}">'
            f"<title>{_e(tip)}</title></path>"
        )
        x, y = shapely.get_coordinates(points[i])[0]
        ink = "#fff" if _dark(fill) else "#000"
        labels.append(f'<text x="{x - minx:.0f}" y="{maxy - y:.0f}" fill="{ink}">{_e(text)}</text>')
    missing = int((~has_shape).sum())
    note = (
        f'<p class="note">{missing} ward(s) without a boundary are not drawn.</p>'
        if missing
        else ""
    )
    view = f"{-pad:.0f} {-pad:.0f} {width + 2 * pad:.0f} {height + 2 * pad:.0f}"
    svg = (
        f'<svg class="map" viewBox="{view}" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'aria-label="{_e(title)}">'
        f'<g class="wards" fill-rule="evenodd" stroke="#333" stroke-width="1" '
        f'vector-effect="non-scaling-stroke">{"".join(paths)}</g>'
        f'<g class="labels" font-size="{font:.0f}" text-anchor="middle" '
        f'dominant-baseline="central" font-family="sans-serif">{"".join(labels)}</g></svg>'
    )
    side = _legend(title, classes, numbered=key is not None)
    if key is not None:
        side += _key(values, names, key, value_text, key_text)
    return f'<div class="mapbox">{svg}<div class="mapside">{side}</div></div>{note}'


def _key(
    values: pd.Series, names: pd.Series, key: pd.Series, value_text: str, key_text: str
) -> str:
    """The numbered key: number, ward name, value; in the order of the numbers."""
    order = key.reindex(values.index).dropna().sort_values(kind="stable")
    items = "".join(
        f'<li><span class="n">{_e(number)}</span> {_e(names.get(code, code))}: '
        f"{_e(key_text.format(value_text.format(values[code])))}</li>"
        for code, number in order.items()
    )
    return f'<ol class="mapkey">{items}</ol>'


def _legend(title: str, classes: Classes, *, numbered: bool = False) -> str:
    items = [
        f'<li><svg width="18" height="12" aria-hidden="true"><rect width="18" height="12" '
        f'fill="{colour}" stroke="#333"/></svg> {_e(label)}</li>'
        for label, colour in reversed(list(zip(classes.labels, classes.colours, strict=True)))
    ]
    how = (
        "the number on each ward is its place in the key below"
        if numbered
        else "the number is written on each ward"
    )
    return f'<div class="legend"><p>{_e(title)} ({how})</p><ul>{"".join(items)}</ul></div>'


def _dark(colour: str) -> bool:
    """Whether text on *colour* should be white (WCAG relative luminance below 0.18)."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    linear = np.where(rgb <= 0.03928, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    return float(linear @ np.array([0.2126, 0.7152, 0.0722])) < 0.18


def _svg_path(shape: Any, minx: float, maxy: float) -> str:
    """SVG path data of a (multi)polygon: x to the right, y flipped (north up), metres."""
    parts = []
    for poly in _polygons(shape):
        for ring in (poly.exterior, *poly.interiors):
            xy = shapely.get_coordinates(ring)[:-1]
            if len(xy) < 3:
                continue
            px, py = np.round(xy[:, 0] - minx), np.round(maxy - xy[:, 1])
            pts = " ".join(f"{a:.0f} {b:.0f}" for a, b in zip(px, py, strict=True))
            parts.append(f"M{pts}Z")
    return "".join(parts)


def _polygons(shape: Any) -> Iterable[Any]:
    if shape.geom_type == "Polygon":
        yield shape
    elif hasattr(shape, "geoms"):  # MultiPolygon, or a GeometryCollection from make_valid
        for part in shape.geoms:
            yield from _polygons(part)


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)
