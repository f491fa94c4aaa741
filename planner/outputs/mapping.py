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
- Offline first (:class:`OfflineMap`): Leaflet's script and stylesheet are inlined from the
  ``django-js-lib-leaflet`` package (PyPI), so the map loads nothing from outside the app's
  own server; no tiles by default, the base is the project's own geography (borough outlines
  dissolved from the wards, the Thames as the gap the wards leave, :func:`base_layers`). If
  the map's script cannot run, a message inside the map frame points to the ward list and the
  Allocation table.
"""

from __future__ import annotations

import functools
import html
import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from jinja2 import Template

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
    "NO_MAP_TEXT",
    "BaseLayers",
    "Legend",
    "OfflineMap",
    "base_layers",
    "bounds",
    "display_wards",
    "leaflet_assets",
    "selected_outline",
    "ward_map",
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
    "The map could not be drawn in this browser. Every ward is in the Ward list beside the "
    "map, and the officers of every ward are in the table on the Allocation page."
)
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


class OfflineMap(folium.Map):
    """A :class:`folium.Map` that loads nothing from outside: Leaflet is inlined.

    folium links Leaflet, jQuery, Bootstrap and Font Awesome from public CDNs
    (``folium.Map.default_js`` / ``default_css``); a police network that blocks them leaves
    an empty frame. This map links none of them (the ward map uses none but Leaflet) and puts
    Leaflet's stylesheet in the header and its script before the map's own, so the page that
    shows it (streamlit-folium's frame, or a saved HTML file) needs no network. The script
    also names the frame it runs in (*frame_title*; streamlit-folium's frame would otherwise
    be called "streamlit_folium.st_folium").

    Raises
    ------
    DataError
        Leaflet is not installed (``pip install django-js-lib-leaflet``).
    """

    default_js: ClassVar[list[tuple[str, str]]] = []
    default_css: ClassVar[list[tuple[str, str]]] = []
    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.leaflet.css }}</style>
        <style>.leaflet-container { background: {{ this.background }}; }</style>
        {{ this.base.header(this, kwargs) }}
        {% endmacro %}
        {% macro html(this, kwargs) %}{{ this.base.html(this, kwargs) }}{% endmacro %}
        {% macro script(this, kwargs) %}
        try {
            if (window.frameElement) { window.frameElement.title = {{ this.frame_title|tojson }}; }
        } catch (e) {}
        {{ this.leaflet.js }}
        {{ this.base.script(this, kwargs) }}
        {% endmacro %}
        """
    )

    def __init__(
        self,
        *,
        background: str = BACKGROUND_COLOUR,
        frame_title: str = "Ward map",
        **kwargs: object,
    ) -> None:
        assets = leaflet_assets()
        if assets is None:
            raise DataError(
                "Leaflet is not installed, so the map cannot be drawn offline: "
                "pip install django-js-lib-leaflet (in requirements.txt)"
            )
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.leaflet = assets
        self.background = background
        self.frame_title = frame_title  # names the frame for screen readers (WCAG 4.1.2)
        self.base = folium.Map._template.module


class DrawnCheck(MacroElement):
    """A message in the map frame that the map's script removes once everything is drawn.

    Added last, so any failure before it (no Leaflet, a script error) leaves the message.
    """

    _template = Template(
        """
        {% macro html(this, kwargs) %}
        <div class="planner-no-map" role="alert" style="position:absolute;inset:0;z-index:2000;
          display:flex;align-items:center;justify-content:center;padding:24px;
          background:#fff;font:16px/1.4 system-ui,sans-serif;color:#1f2933;
          text-align:center">{{ this.text|e }}</div>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        document.querySelectorAll(".planner-no-map").forEach(function (note) {
            note.remove();
        });
        {% endmacro %}
        """
    )

    def __init__(self, text: str = NO_MAP_TEXT) -> None:
        super().__init__()
        self._name = "DrawnCheck"
        self.text = text


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
            font: 12px/1.35 system-ui, sans-serif; color: #222; border-radius: 4px;
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
            if (map.getSize().x < 500) {  // a phone: the legend folded, one tap opens it
                div.querySelector("details").open = false;
            }
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
    special: Mapping[str, str] | None = None,
    fit: Sequence[str] | None = None,
    not_scored_label: str = NOT_SCORED_LABEL,
    short_title: str | None = None,
    tiles: str | None = None,
    base: BaseLayers | None = None,
    frame_title: str = "Ward map",
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
        A key of :data:`planner.outputs.present.LAYERS` (palette, classes, number format).
    title
        The legend heading and the tooltip's name for the value.
    classes
        Precomputed classes; default :func:`planner.outputs.present.classes_for` on *values*.
    outlines
        Per ward code, ``"hot spot"`` or ``"cold spot"`` (others ignored): drawn as outlines
        on top, red solid and blue dashed.
    special
        Special wards (code -> reason): drawn with a dashed dark outline and labelled on the
        map with their name and the first clause of the reason (the ward panel has the rest).
    fit
        Ward codes to zoom to (e.g. one borough's), drawn with a dark outline round them;
        default every ward, no outline.
    not_scored_label
        The legend and tooltip text of wards without a value.
    short_title
        The value's name in the tooltip; default *title*.
    tiles
        Online background tiles (e.g. ``"OpenStreetMap"``), drawn faint under the fill; default
        none, so the map needs no network.
    base
        The map's own base from :func:`base_layers`: the Thames under the wards, borough
        outlines over them (not clickable).
    frame_title
        The accessible name of the frame that shows the map.

    Returns
    -------
    folium.Map
    """
    if layer not in LAYERS:
        raise ValueError(f"unknown map layer {layer!r}; use one of {', '.join(LAYERS)}")
    spec = LAYERS[layer]
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
    m = OfflineMap(tiles=None, control_scale=True, zoom_snap=0.25, frame_title=frame_title)
    if tiles:
        folium.TileLayer(tiles, name="Streets", opacity=0.5).add_to(m)
    if base is not None:
        _add_river(m, base.river)
    # keep the wards clear of the legend in the bottom-right corner
    m.fit_bounds(bounds(display, fit), padding_top_left=(10, 10), padding_bottom_right=(40, 150))
    # folium's tooltip puts property values into innerHTML as they are: escape them here, and
    # send only what the tooltip and the click need
    tips = frame[[s.WARD_CODE, "fill", frame.geometry.name]].copy()
    for column in (s.WARD_NAME, s.BOROUGH_NAME, "value", "band"):
        tips[column] = _escaped(frame[column])
    folium.GeoJson(
        tips.reset_index(drop=True),
        name=spec.label,
        style_function=_fill_style,
        highlight_function=lambda _f: {"weight": 3, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(
            fields=[s.WARD_NAME, s.BOROUGH_NAME, "value", "band"],
            aliases=["Ward", "Borough", *_escaped(pd.Series([short_title or title])), "Class"],
            sticky=True,
            style="font-size: 12px;",
        ),
        zoom_on_click=False,
        class_name=WARD_CLASS,
    ).add_to(m)
    if base is not None:
        _add_borough_lines(m, base.boroughs)
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
    if special:
        items += _add_special(m, frame, special)
    if base is not None:
        items.append(("Borough boundary", None, BOROUGH_LINE_COLOUR, False))
        items.append(("River Thames", RIVER_COLOUR, None, False))
    Legend(title, items).add_to(m)
    DrawnCheck().add_to(m)  # last: removed only when everything before it ran
    return m


def _escaped(texts: pd.Series) -> list[str]:
    """Text for an HTML sink: ``<``, ``>``, ``&`` and quotes as entities."""
    return [html.escape(str(v)) for v in texts.to_numpy()]


def _fill_style(feature: dict) -> dict:
    return {
        "fillColor": feature["properties"]["fill"],
        "fillOpacity": 0.75 if feature["properties"]["fill"] != NOT_SCORED_COLOUR else 0.9,
        "color": "#555555",
        "weight": 0.6,
    }


def _add_river(m: folium.Map, river: gpd.GeoDataFrame) -> None:
    if river.empty or river.geometry.is_empty.all():
        return
    folium.GeoJson(
        river,
        name="River Thames",
        style_function=lambda _f: {
            "fillColor": RIVER_COLOUR, "fillOpacity": 1.0, "color": RIVER_COLOUR, "weight": 0,
        },
        interactive=False,
    ).add_to(m)  # fmt: skip


def _add_borough_lines(m: folium.Map, boroughs: gpd.GeoDataFrame) -> None:
    folium.GeoJson(
        boroughs[[boroughs.geometry.name]].reset_index(drop=True),
        name="Borough boundaries",
        style_function=lambda _f: {"color": BOROUGH_LINE_COLOUR, "weight": 1.6, "opacity": 0.9},
        interactive=False,
        class_name="planner-borough",
    ).add_to(m)


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
        part = frame.loc[status == kind, [s.WARD_CODE, s.WARD_NAME, frame.geometry.name]].copy()
        part[s.WARD_NAME] = _escaped(part[s.WARD_NAME])
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


def _add_special(
    m: folium.Map, frame: gpd.GeoDataFrame, special: Mapping[str, str]
) -> list[tuple[str, str | None, str | None, bool]]:
    """Special wards: a dashed outline and a permanent label with the reason's first clause."""
    codes = [c for c in special if c in frame.index]
    if not codes:
        return []
    part = frame.loc[codes, [s.WARD_CODE, s.WARD_NAME, frame.geometry.name]].copy()
    part["reason"] = [special[c] for c in codes]
    part["label"] = [
        f"{name}: special ward ({special[c].split(':')[0].strip()}), no extras"
        for c, name in zip(codes, part[s.WARD_NAME], strict=True)
    ]
    style = {"fill": False, "color": SPECIAL_COLOUR, "weight": 3, "dashArray": "2 5"}
    for i in range(len(part)):
        row = part.iloc[[i]]
        name, label = (str(row[c].iloc[0]) for c in (s.WARD_NAME, "label"))
        folium.GeoJson(
            row[[s.WARD_NAME, frame.geometry.name]].reset_index(drop=True),
            name=f"Special ward: {name}",
            style_function=lambda _f: style,
            tooltip=folium.Tooltip(
                html.escape(label), permanent=True, direction="right", class_name="planner-special"
            ),
        ).add_to(m)  # no folium.Popup: its script needs jQuery (a CDN); the panel has the reason
    return [
        (f"Special ward, no extras: {len(part)} (label on the map)", None, SPECIAL_COLOUR, True)
    ]


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
