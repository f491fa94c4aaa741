"""Folium maps of the wards: a choropleth with a labelled legend, outlines and borough zoom.

No Streamlit here: :func:`ward_map` returns a :class:`folium.Map` that the app hands to
``st_folium`` (and that a test can render to HTML).

- Geometry is simplified for display in British National Grid (metres, EPSG:27700) and only
  then reprojected to EPSG:4326 for Leaflet (:func:`display_wards`): a 25 m tolerance keeps
  ward shapes recognisable at borough zoom and makes the map several times lighter.
- Colours are classes, not a continuous ramp: every class carries a text label a commander can
  read ("Highest need: top 10 % (1.23 and above)", "1–2 extra"), so the legend says what a
  colour means. The palettes are sequential and colour-blind safe (viridis, cividis, YlGnBu:
  each runs light to dark, monotonic in lightness).
- Every ward feature carries its ``ward_code``, so a click (``last_active_drawing`` in
  streamlit-folium) identifies the ward.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import branca.colormap as bcm
import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

from planner import schema as s
from planner.errors import DataError

__all__ = [
    "COLOUR_BLIND_SAFE",
    "LAYERS",
    "Classes",
    "Layer",
    "Legend",
    "bounds",
    "classes_for",
    "display_wards",
    "officer_classes",
    "palette",
    "quantile_classes",
    "selected_outline",
    "ward_map",
]

# --- palettes ----------------------------------------------------------------------------

# Anchor colours of each palette, low to high as published. viridis and YlGnBu are branca's own
# (matplotlib's viridis; ColorBrewer's YlGnBu, 9 classes); cividis (Nuñez, Anderton & Renslow
# 2018, PLOS ONE 13(7): e0199239, designed for colour-vision deficiency) is not in branca, so
# its five anchors are given here (matplotlib's cividis at 0, 0.25, 0.5, 0.75 and 1).
_ANCHORS: dict[str, tuple[str, ...]] = {
    "viridis": tuple(bcm.linear.viridis.rgb_hex_str(x) for x in np.linspace(0, 1, 9)),
    "YlGnBu": tuple(bcm.linear.YlGnBu_09.rgb_hex_str(x) for x in np.linspace(0, 1, 9)),
    "cividis": ("#00204d", "#414d6b", "#7c7b78", "#bcaf6f", "#ffea46"),
}
COLOUR_BLIND_SAFE: tuple[str, ...] = tuple(_ANCHORS) + tuple(f"{n}_r" for n in _ANCHORS)
"""Palette names :func:`palette` accepts; ``_r`` reverses (viridis_r runs yellow to purple)."""

NOT_SCORED_COLOUR = "#bdbdbd"
HOT_SPOT_COLOUR = "#d7191c"  # a red outline: read against every fill of the palettes above
COLD_SPOT_COLOUR = "#2c7bb6"
SELECTED_COLOUR = "#000000"


def palette(name: str, n: int, *, start: float = 0.0, end: float = 1.0) -> list[str]:
    """*n* colours (hex, low to high) sampled evenly from *start* to *end* of a palette.

    Raises
    ------
    ValueError
        An unknown palette (see :data:`COLOUR_BLIND_SAFE`) or ``n < 1``.
    """
    base, reverse = (name[:-2], True) if name.endswith("_r") else (name, False)
    if base not in _ANCHORS:
        raise ValueError(f"unknown palette {name!r}; use one of {', '.join(COLOUR_BLIND_SAFE)}")
    if n < 1:
        raise ValueError(f"a palette needs at least one colour, found n={n}")
    anchors = list(_ANCHORS[base])
    ramp = bcm.LinearColormap(anchors[::-1] if reverse else anchors, vmin=0.0, vmax=1.0)
    positions = [start] if n == 1 else np.linspace(start, end, n)
    return [ramp.rgb_hex_str(float(x)) for x in positions]


# --- layers and classes ----------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """How one map layer is classed and coloured."""

    key: str
    label: str  # short, for menus
    palette: str
    scheme: Literal["quantile", "officers"]
    noun: str  # "need" in "Highest need: top 10 %"
    number: str  # format of one value, e.g. "{:,.0f}"
    start: float = 0.0  # part of the palette used (skip the palest end of YlGnBu)
    end: float = 1.0


LAYERS: dict[str, Layer] = {
    layer.key: layer
    for layer in (
        Layer("need_score", "Need score", "YlGnBu", "quantile", "need", "{:.2f}", 0.15),
        Layer("extra", "Extra officers", "viridis_r", "officers", "extra", "{:.0f}", 0.0, 0.9),
        Layer("harm", "Harm", "cividis_r", "quantile", "harm", "{:,.0f}", 0.0, 0.95),
        Layer(
            "harm_per_1000",
            "Harm per 1,000 residents",
            "cividis_r",
            "quantile",
            "harm rate",
            "{:,.0f}",
            0.0,
            0.95,
        ),
        Layer("asb", "ASB incidents", "YlGnBu", "quantile", "ASB", "{:,.0f}", 0.15),
        Layer("trend", "Rise in harm", "viridis_r", "quantile", "rise", "{:.0f} %", 0.0, 0.9),
    )
}


@dataclass(frozen=True)
class Classes:
    """Ordered classes (low to high): lower bounds, text labels and colours."""

    lower: tuple[float, ...]  # lower[0] is -inf: every value falls in some class
    labels: tuple[str, ...]
    colours: tuple[str, ...]

    def assign(self, values: pd.Series) -> pd.Series:
        """The class number (0 = lowest) of each value; -1 for a missing value."""
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        k = np.searchsorted(np.asarray(self.lower), v, side="right") - 1
        return pd.Series(np.where(np.isnan(v), -1, k), index=values.index, dtype=int)

    def colour(self, values: pd.Series, *, missing: str = NOT_SCORED_COLOUR) -> pd.Series:
        """The fill colour of each value (*missing* where there is no value)."""
        lookup = np.array([*self.colours, missing], dtype=object)
        return pd.Series(lookup[self.assign(values).to_numpy()], index=values.index)


def quantile_classes(
    values: pd.Series,
    *,
    colours: Callable[[int], list[str]],
    noun: str,
    number: str = "{:,.2f}",
    top_shares: Sequence[float] = (0.10, 0.25, 0.50, 0.75),
) -> Classes:
    """Classes by share of wards: top 10 %, the next 15 %, 25 %, 25 %, the lowest 25 %.

    Breaks are values the wards actually have (quantiles with ``method="higher"``). Where wards
    tie across a break the classes merge, and every label states the share of wards it really
    holds, so a label never promises "top 10 %" for 30 %. Where many wards share the lowest
    value (e.g. no rise at all) they get a class of their own.

    Parameters
    ----------
    values
        One value per ward (NaN ignored).
    colours
        ``colours(n)`` -> *n* colours, low to high (e.g. ``partial(palette, "viridis_r")``).
    noun
        The quantity, as in "Highest *noun*".
    number
        Format of a value in the labels.
    top_shares
        Shares of wards at the breaks, counted from the top.

    Raises
    ------
    DataError
        No value at all.
    """
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if v.size == 0:
        raise DataError(f"no {noun} values to class: every ward's value is missing")
    cuts = {float(np.quantile(v, 1.0 - share, method="higher")) for share in top_shares}
    above = v[v > v.min()]
    if above.size and (v == v.min()).mean() >= min(top_shares):
        cuts.add(float(above.min()))  # many wards at the minimum (no rise at all): own class
    lower = [-math.inf, *sorted(c for c in cuts if c > v.min())]
    n = len(lower)
    upper = [*lower[1:], math.inf]
    top = [float((v >= lo).mean()) for lo in lower]  # share of wards at or above each class
    fmt = number.format
    labels = []
    for i in range(n):
        in_class = v[(v >= lower[i]) & (v < upper[i])]
        share_hi, share_lo = top[i + 1] if i + 1 < n else 0.0, top[i]
        if n == 1:
            labels.append(f"All wards ({fmt(v.min())} to {fmt(v.max())})")
        elif i == n - 1:
            labels.append(f"Highest {noun}: top {_pct(share_lo)} ({fmt(lower[i])} and above)")
        elif i == 0:
            span = (
                f"{fmt(in_class.min())}"
                if in_class.min() == in_class.max()
                else f"below {fmt(upper[i])}"
            )
            labels.append(f"Lowest {noun}: bottom {_pct(1.0 - share_hi)} ({span})")
        else:
            band = f"{round(share_hi * 100):.0f}–{_pct(share_lo)}"
            labels.append(f"Top {band} ({fmt(lower[i])} to {fmt(upper[i])})")
    return Classes(tuple(lower), tuple(labels), tuple(colours(n)))


_OFFICER_BANDS = (0, 1, 3, 5, 7, 10, 15, 20, 30, 50, 100)


def officer_classes(extra: pd.Series, *, colours: Callable[[int], list[str]]) -> Classes:
    """Classes of whole extra officers: "0 extra", "1–2 extra", "3–4 extra", ..., "7–8 extra".

    The top band ends at the largest allocation ("7–8 extra"), or reads "100+ extra" past the
    last band.
    """
    v = pd.to_numeric(extra, errors="coerce").dropna()
    top = int(v.max()) if len(v) else 0
    lower = [b for b in _OFFICER_BANDS if b <= max(top, 0)] or [0]
    labels = []
    for i, lo in enumerate(lower):
        if i + 1 < len(lower):
            hi: int | None = lower[i + 1] - 1
        else:  # the top band ends at the largest allocation, if its natural width holds it
            nxt = _OFFICER_BANDS.index(lo) + 1
            hi = top if nxt == len(_OFFICER_BANDS) or top < _OFFICER_BANDS[nxt] else None
            hi = None if nxt == len(_OFFICER_BANDS) and top > lo else hi
        if hi is None:
            labels.append(f"{lo}+ extra")
        elif hi == lo:
            labels.append(f"{lo} extra")
        else:
            labels.append(f"{lo}–{hi} extra")
    bounds_ = (-math.inf, *[b - 0.5 for b in lower[1:]])
    return Classes(bounds_, tuple(labels), tuple(colours(len(lower))))


def classes_for(layer: str, values: pd.Series) -> Classes:
    """The classes of one of :data:`LAYERS` for these values."""
    spec = _layer(layer)

    def colours(n: int) -> list[str]:
        return palette(spec.palette, n, start=spec.start, end=spec.end)

    if spec.scheme == "officers":
        return officer_classes(values, colours=colours)
    return quantile_classes(values, colours=colours, noun=spec.noun, number=spec.number)


def _layer(key: str) -> Layer:
    if key not in LAYERS:
        raise ValueError(f"unknown map layer {key!r}; use one of {', '.join(LAYERS)}")
    return LAYERS[key]


def _pct(share: float) -> str:
    return f"{round(share * 100):.0f} %"


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


# --- the legend -----------------------------------------------------------------------------


class Legend(MacroElement):
    """A legend as a Leaflet control: a title and rows of swatch + text label.

    Parameters
    ----------
    title
        The legend's heading.
    items
        ``(label, fill colour or None, outline colour or None, dashed)`` per row.
    position
        A Leaflet control corner.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .planner-legend { background: rgba(255,255,255,0.92); padding: 6px 9px;
            font: 11px/1.3 system-ui, sans-serif; color: #222; border-radius: 4px;
            box-shadow: 0 1px 4px rgba(0,0,0,0.3); max-width: 280px; }
          .planner-legend summary { cursor: pointer; margin-bottom: 3px; }
          .planner-legend div { display: flex; align-items: center; gap: 6px; margin: 2px 0; }
          .planner-legend i { flex: none; width: 16px; height: 12px; box-sizing: border-box; }
        </style>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: {{ this.position|tojson }}});
        {{ this.get_name() }}.onAdd = function (map) {
            var div = L.DomUtil.create("div", "planner-legend");
            div.innerHTML = {{ this.body|tojson }};
            L.DomEvent.disableClickPropagation(div);
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(
        self,
        title: str,
        items: Sequence[tuple[str, str | None, str | None, bool]],
        *,
        position: str = "bottomright",
    ) -> None:
        super().__init__()
        self._name = "Legend"
        self.title = title
        self.items = list(items)
        self.position = position
        self.body = self.to_html()

    def to_html(self) -> str:
        """The legend's inner HTML (labels escaped)."""
        rows = [f"<details open><summary><b>{html.escape(self.title)}</b></summary>"]
        for label, fill, outline, dashed in self.items:
            style = [f"background:{fill}" if fill else "background:transparent"]
            line = "dashed" if dashed else "solid"
            style.append(f"border:2px {line} {outline}" if outline else "border:1px solid #777")
            rows.append(f'<div><i style="{";".join(style)}"></i>{html.escape(label)}</div>')
        return "".join(rows) + "</details>"


# --- the map --------------------------------------------------------------------------------


def ward_map(
    display: gpd.GeoDataFrame,
    values: pd.Series,
    *,
    layer: str,
    title: str,
    classes: Classes | None = None,
    outlines: pd.Series | None = None,
    fit: Sequence[str] | None = None,
    not_scored_label: str = "Not scored",
    short_title: str | None = None,
    tiles: str | None = "OpenStreetMap",
) -> folium.Map:
    """A choropleth of *values* over the wards, with a labelled legend and tooltips.

    Parameters
    ----------
    display
        From :func:`display_wards` (EPSG:4326); wards without a value are drawn grey with
        *not_scored_label*.
    values
        One value per ward, indexed by ward code.
    layer
        A key of :data:`LAYERS` (palette, classes, number format).
    title
        The legend heading and the tooltip's name for the value.
    classes
        Precomputed classes; default :func:`classes_for` on *values*.
    outlines
        Per ward code, ``"hot spot"`` or ``"cold spot"`` (others ignored): drawn as outlines
        on top, red solid and blue dashed.
    fit
        Ward codes to zoom to (e.g. one borough's), drawn with a dark outline round them;
        default every ward, no outline.
    not_scored_label
        The legend and tooltip text of wards without a value.
    short_title
        The value's name in the tooltip; default *title*.
    tiles
        Background tiles, drawn faint under the fill (None for none, e.g. in tests).

    Returns
    -------
    folium.Map
    """
    spec = _layer(layer)
    values = pd.to_numeric(values, errors="coerce").reindex(display.index)
    classes = classes or classes_for(layer, values)
    frame = display.copy()
    frame[s.WARD_CODE] = frame.index.astype(str)
    klass = classes.assign(values)
    frame["fill"] = classes.colour(values).to_numpy()
    frame["value"] = [
        not_scored_label if pd.isna(v) else spec.number.format(v) for v in values.to_numpy()
    ]
    frame["band"] = [classes.labels[k] if k >= 0 else "" for k in klass.to_numpy()]
    m = folium.Map(tiles=None, control_scale=True, zoom_snap=0.25)
    if tiles:
        folium.TileLayer(tiles, name="Streets", opacity=0.5).add_to(m)
    # keep the wards clear of the legend in the bottom-right corner
    m.fit_bounds(bounds(display, fit), padding_top_left=(10, 10), padding_bottom_right=(40, 150))
    folium.GeoJson(
        frame.reset_index(drop=True),
        name=spec.label,
        style_function=_fill_style,
        highlight_function=lambda _f: {"weight": 3, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=[s.WARD_NAME, s.BOROUGH_NAME, "value", "band"],
            aliases=["Ward", "Borough", short_title or title, "Class"],
            sticky=True,
            style="font-size: 12px;",
        ),
        zoom_on_click=False,
    ).add_to(m)
    if fit is not None:
        _add_area_outline(m, frame, fit)
    items: list[tuple[str, str | None, str | None, bool]] = [
        (label, colour, None, False)
        for label, colour in reversed(list(zip(classes.labels, classes.colours, strict=True)))
    ]
    if values.isna().any():
        items.append((not_scored_label, NOT_SCORED_COLOUR, None, False))
    if outlines is not None:
        items += _add_outlines(m, frame, outlines)
    Legend(title, items).add_to(m)
    return m


def _fill_style(feature: dict) -> dict:
    return {
        "fillColor": feature["properties"]["fill"],
        "fillOpacity": 0.75,
        "color": "#555555",
        "weight": 0.6,
    }


def _add_area_outline(m: folium.Map, frame: gpd.GeoDataFrame, codes: Sequence[str]) -> None:
    """The outer boundary of the wards in *codes* (e.g. a borough), not clickable."""
    part = frame.loc[frame.index.isin(list(codes))]
    if part.empty:
        return
    area = gpd.GeoDataFrame(geometry=[part.geometry.union_all()], crs=frame.crs)
    folium.GeoJson(
        area,
        name="Borough boundary",
        style_function=lambda _f: {"fill": False, "color": "#222222", "weight": 3},
    ).add_to(m)


def _add_outlines(
    m: folium.Map, frame: gpd.GeoDataFrame, outlines: pd.Series
) -> list[tuple[str, str | None, str | None, bool]]:
    """Hot and cold spot outlines on top of the fill; returns their legend rows."""
    status = outlines.astype("string").reindex(frame.index).fillna("")
    items = []
    for kind, colour, dashed in (
        ("hot spot", HOT_SPOT_COLOUR, False),
        ("cold spot", COLD_SPOT_COLOUR, True),
    ):
        part = frame.loc[status == kind, [s.WARD_CODE, s.WARD_NAME, frame.geometry.name]]
        label = f"{kind.capitalize()} of harm (Gi*): {len(part)} ward(s)"
        items.append((label, None, colour, dashed))
        if part.empty:
            continue
        style = {
            "fill": False,
            "color": colour,
            "weight": 3,
            "dashArray": "6 4" if dashed else None,
        }
        folium.GeoJson(
            part.reset_index(drop=True),
            name=label,
            style_function=lambda _f, style=style: style,
            tooltip=folium.GeoJsonTooltip(fields=[s.WARD_NAME], aliases=[kind.capitalize()]),
        ).add_to(m)
    return items


def selected_outline(display: gpd.GeoDataFrame, ward_code: str | None) -> folium.FeatureGroup:
    """A feature group with a thick outline around *ward_code* (empty if None or unknown).

    Passed to ``st_folium(feature_group_to_add=...)`` it is drawn without reloading the map.
    """
    group = folium.FeatureGroup(name="Selected ward")
    if ward_code is not None and ward_code in display.index:
        part = display.loc[[ward_code], [s.WARD_NAME, display.geometry.name]].copy()
        part[s.WARD_CODE] = ward_code
        folium.GeoJson(
            part.reset_index(drop=True),
            style_function=lambda _f: {"fill": False, "color": SELECTED_COLOUR, "weight": 4},
        ).add_to(group)
    return group
