"""The ward map in folium: the base the app keeps mounted, and a whole map for a saved page.

:func:`base_map` draws what no scenario changes (the ward polygons, the Thames, the borough
lines, the special wards' labels, an empty legend) and the script whose ``update(view)``
restyles it; :func:`ward_map` adds one view (:func:`planner.outputs.mapping.map_view`) for a
page saved whole. The data they draw, and the view, are :mod:`planner.outputs.mapping`, which
does not import folium: the app builds a base once per data set and keeps it rendered on disk
(:func:`ui.map_component.base_frame`), so most server starts never import this module.

Offline first (:class:`OfflineMap`): Leaflet's script and stylesheet are inlined from the
``django-js-lib-leaflet`` package, no tiles by default; if the map's script cannot run, a
message inside the map frame (:class:`DrawnCheck`) points to the ward list and the Allocation
table.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from typing import ClassVar

import folium
import geopandas as gpd
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from planner import schema as s
from planner.errors import DataError
from planner.outputs import mapping
from planner.outputs.mapping import (
    BACKGROUND_COLOUR,
    BOROUGH_LINE_COLOUR,
    COLD_SPOT_COLOUR,
    HOT_SPOT_COLOUR,
    MAP_KEYBOARD_TEXT,
    NO_MAP_TEXT,
    NOT_SCORED_PATTERN,
    RIVER_COLOUR,
    SELECTED_COLOUR,
    SPECIAL_COLOUR,
    WARD_CLASS,
    BaseLayers,
    bounds,
    legend_html,
    map_view,
    script_json,
    view_script,
)
from planner.outputs.present import NOT_SCORED_LABEL, Classes

__all__ = [
    "DrawnCheck",
    "Legend",
    "OfflineMap",
    "ViewScript",
    "WardLayer",
    "base_map",
    "ward_map",
]


class OfflineMap(folium.Map):
    """A :class:`folium.Map` that loads nothing from outside: Leaflet is inlined.

    folium links Leaflet, jQuery, Bootstrap and Font Awesome from public CDNs
    (``folium.Map.default_js`` / ``default_css``); a police network that blocks them leaves
    an empty frame. This map links none of them (the ward map uses none but Leaflet) and puts
    Leaflet's stylesheet in the header and its script before the map's own, so the page that
    shows it (streamlit-folium's frame, or a saved HTML file) needs no network. The script
    also names the frame it runs in (*frame_title*; streamlit-folium's frame would otherwise
    be called "streamlit_folium.st_folium"), and focuses the map on a press without scrolling
    the page (Leaflet's plain ``focus()`` scrolled it, so the first click missed its ward).

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
        // Leaflet focuses the map on a press (for its keyboard handler); a plain focus()
        // scrolls the page to show the whole frame, and the press lands somewhere else
        L.Map.Keyboard.prototype._onMouseDown = function () {
            if (this._focused) { return; }
            this._map._container.focus({preventScroll: true});
        };
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
        assets = mapping.leaflet_assets()  # through the module: one place to swap it
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
            var size = map.getSize();  // a phone or a short map: folded, one tap opens it
            if (size.x < 500 || size.y < 480) {
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
        return legend_html(self.title, self.items)


# --- the map: a base that stays mounted, and a view that restyles it -----------------------
#
# The map is two parts. The *base* (:func:`base_map`) holds everything that is the same for
# every scenario of a data set: the ward polygons (code and names only), the Thames, the
# borough lines, the special wards' labels, an empty legend and the script that draws them.
# It is built once per data set, and the app keeps it mounted in the browser. The *view*
# (:func:`map_view`, :func:`view_script`) is what a scenario changes: each ward's class and
# value, the legend, the hot spots, the selected ward, the area to zoom to. It is a small
# script (about 20 kB for 704 wards) that restyles the polygons already drawn, so a weight
# change redraws the map in place and the user's zoom and centre are kept. The zoom moves
# only when the area to show changes (another borough).


class WardLayer(MacroElement):
    """The ward polygons and ``window.plannerMap``, whose ``update(view)`` restyles them.

    Tooltips are built from text nodes (names are never parsed as HTML); the legend's HTML
    comes escaped from :class:`Legend`. A view that fails to apply brings back the "no map"
    note, so a map is never shown with colours that do not belong to it.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>
          .planner-tip table { border-collapse: collapse; font: 12px/1.35 system-ui, sans-serif; }
          .planner-tip th { text-align: left; padding: 0 8px 0 0; font-weight: 600; }
          .planner-tip td { padding: 0; }
          .leaflet-control-scale-line { font-size: 12px; }
        </style>
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <svg width="0" height="0" style="position:absolute" aria-hidden="true" focusable="false">
          <defs><pattern id="{{ this.pattern }}" width="5" height="5"
            patternUnits="userSpaceOnUse" patternTransform="rotate(45)">
            <rect width="5" height="5" fill="#e4e4e4"></rect>
            <rect width="2" height="5" fill="#5f5f5f"></rect></pattern></defs>
        </svg>
        {% endmacro %}
        {% macro script(this, kwargs) %}
        (function () {
            var map = {{ this._parent.get_name() }};
            var NONE = "url(#{{ this.pattern }})";  // hatched: not scored
            // the map's one Tab stop says what it is and where the keyboard way to a ward is
            map.getContainer().setAttribute("role", "region");
            map.getContainer().setAttribute("aria-label", {{ this.keyboard_text|tojson }});
            var P = {map: map, view: null, overlays: [], fitKey: null};
            P.info = function (code) {
                var v = P.view, w = v && v.wards[code];
                return w || [-1, v ? v.not_scored : ""];
            };
            P.style = function (feature) {
                var k = P.info(feature.properties.ward_code)[0];
                return {
                    fillColor: k >= 0 ? P.view.colours[k] : NONE,
                    fillOpacity: k >= 0 ? 0.75 : 1,
                    color: "#555555",
                    weight: 0.6
                };
            };
            P.wards = L.geoJson({{ this.data }}, {
                className: {{ this.class_name|tojson }},
                style: P.style,
                onEachFeature: function (feature, layer) {
                    layer.on("mouseover", function () {
                        layer.setStyle({weight: 3, color: "#000000"});
                    });
                    layer.on("mouseout", function () { P.wards.resetStyle(layer); });
                }
            }).addTo(map);
            // the ward shapes are not Tab stops (Leaflet's tooltips make them focusable, 704 of
            // them): the keyboard way to a ward is the Ward list on the page
            function untab(layer) {
                var el = layer.getElement && layer.getElement();
                if (el && el.setAttribute) { el.setAttribute("tabindex", "-1"); }
            }
            P.wards.eachLayer(untab);
            map.on("layeradd", function (event) { untab(event.layer); });
            P.wards.bindTooltip(function (layer) {
                var p = layer.feature.properties, info = P.info(p.ward_code), v = P.view;
                var rows = [["Ward", p.ward_name], ["Borough", p.borough_name]];
                if (v) {
                    rows.push([v.value_name, info[1]]);
                    if (info[0] >= 0) { rows.push(["Class", v.labels[info[0]]]); }
                    if (v.status[p.ward_code]) { rows.push(["Hot spots", v.status[p.ward_code]]); }
                }
                var table = document.createElement("table");
                rows.forEach(function (row) {
                    var tr = table.insertRow(), th = document.createElement("th");
                    th.textContent = row[0];
                    tr.appendChild(th);
                    tr.insertCell().textContent = row[1];
                });
                return table;
            }, {sticky: true, className: "planner-tip"});
            P.outline = function (codes, style) {
                var wanted = new Set(codes);
                var part = L.geoJson(null, {style: function () { return style; },
                                            interactive: false});
                P.wards.eachLayer(function (layer) {
                    if (wanted.has(layer.feature.properties.ward_code)) {
                        part.addData(layer.feature);
                    }
                });
                part.addTo(map);
                P.overlays.push(part);
            };
            P.apply = function (view) {
                P.overlays.forEach(function (layer) { map.removeLayer(layer); });
                P.overlays = [];
                P.view = view;
                P.wards.setStyle(P.style);
                var hot = [], cold = [];
                Object.keys(view.status).forEach(function (code) {
                    (view.status[code].indexOf("Cold") === 0 ? cold : hot).push(code);
                });
                var line = {fill: false, weight: 3};
                if (view.area) {
                    var area = L.geoJson(view.area, {interactive: false, style: function () {
                        return {fill: false, color: "#222222", weight: 3};
                    }}).addTo(map);
                    P.overlays.push(area);
                }
                P.outline(hot, L.extend({color: {{ this.hot|tojson }}}, line));
                P.outline(cold, L.extend({color: {{ this.cold|tojson }}, dashArray: "6 4"}, line));
                if (view.selected) {
                    P.outline([view.selected], {fill: false, color: {{ this.selected|tojson }},
                                                weight: 4});
                }
                var legend = document.querySelector(".planner-legend");
                if (legend) {
                    var folded = legend.querySelector("details");
                    var open = folded ? folded.open : true;
                    legend.innerHTML = view.legend;
                    legend.querySelector("details").open = open;
                }
                try {
                    if (window.frameElement) { window.frameElement.title = view.frame_title; }
                } catch (e) {}
                var fitKey = JSON.stringify(view.fit);
                if (fitKey !== P.fitKey) {  // a new area to show: the only time the zoom moves
                    P.fitKey = fitKey;
                    P.fit();
                }
            };
            P.fit = function () {
                P.fitting = true;
                var legend = document.querySelector(".planner-legend details");
                var corner = legend && !legend.open ? [10, 40] : [40, 150];  // room for it
                map.fitBounds(P.view.fit, {paddingTopLeft: [10, 10],
                                           paddingBottomRight: corner, animate: false});
                P.fitting = false;
                P.moved = false;
            };
            // until the user pans or zooms, a resized map (a rotated phone, a frame that took
            // its height) shows the whole area again; after that, their view is kept
            map.on("zoomstart movestart", function () { if (!P.fitting) { P.moved = true; } });
            map.on("resize", function () { if (P.view && !P.moved) { P.fit(); } });
            P.update = function (view) {
                try {
                    P.apply(view);
                } catch (error) {  // the note of DrawnCheck, back over the map
                    var note = document.createElement("div");
                    note.className = "planner-no-map";
                    note.setAttribute("role", "alert");
                    note.style.cssText = "position:absolute;inset:0;z-index:2000;display:flex;" +
                        "align-items:center;justify-content:center;padding:24px;" +
                        "background:#fff;font:16px/1.4 system-ui,sans-serif;color:#1f2933";
                    note.textContent = {{ this.no_map_text|tojson }};
                    map.getContainer().appendChild(note);
                    throw error;
                }
            };
            window.plannerMap = P;
        })();
        {% endmacro %}
        """
    )

    def __init__(self, display: gpd.GeoDataFrame) -> None:
        super().__init__()
        self._name = "WardLayer"
        features = display[[s.WARD_NAME, s.BOROUGH_NAME, display.geometry.name]].copy()
        features[s.WARD_CODE] = features.index.astype(str)
        self.data = script_json(json.loads(features.reset_index(drop=True).to_json()))
        self.class_name = WARD_CLASS
        self.no_map_text = NO_MAP_TEXT
        self.pattern = NOT_SCORED_PATTERN
        self.keyboard_text = MAP_KEYBOARD_TEXT
        self.hot, self.cold, self.selected = HOT_SPOT_COLOUR, COLD_SPOT_COLOUR, SELECTED_COLOUR


class ViewScript(MacroElement):
    """A view applied inline, for a map saved as a page (the app sends it separately)."""

    _template = Template("""{% macro script(this, kwargs) %}{{ this.code }}{% endmacro %}""")

    def __init__(self, code: str) -> None:
        super().__init__()
        self._name = "ViewScript"
        self.code = code


def base_map(
    display: gpd.GeoDataFrame,
    *,
    base: BaseLayers | None = None,
    special: Mapping[str, str] | None = None,
    tiles: str | None = None,
    frame_title: str = "Ward map",
    view_code: str | None = None,
) -> folium.Map:
    """The part of the ward map that no scenario changes; :func:`view_script` colours it.

    Parameters
    ----------
    display
        From :func:`display_wards` (EPSG:4326).
    base
        The map's own base from :func:`base_layers`: the Thames under the wards, borough
        outlines over them (not clickable).
    special
        Special wards (code -> reason): drawn with a dashed dark outline and labelled on the
        map "<name>: special ward, no extras" (the ward panel has the reason).
    tiles
        Online background tiles (e.g. ``"OpenStreetMap"``), drawn faint under the fill; default
        none, so the map needs no network.
    frame_title
        The accessible name of the frame that shows the map (each view renames it).
    view_code
        A :func:`view_script` to apply as soon as the map is drawn (a saved page).

    Returns
    -------
    folium.Map
        Wards drawn grey until a view is applied (``window.plannerMap.update``).
    """
    m = OfflineMap(tiles=None, control_scale=True, zoom_snap=0.25, frame_title=frame_title)
    if tiles:
        folium.TileLayer(tiles, name="Streets", opacity=0.5).add_to(m)
    if base is not None:
        _add_river(m, base.river)
    m.fit_bounds(bounds(display), padding_top_left=(10, 10), padding_bottom_right=(40, 150))
    WardLayer(display).add_to(m)
    if base is not None:
        _add_borough_lines(m, base.boroughs)
    if special:
        _add_special(m, display, special)
    Legend("Ward map", []).add_to(m)
    if view_code is not None:
        ViewScript(view_code).add_to(m)
    DrawnCheck().add_to(m)  # last: removed only when everything before it ran
    return m


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
    """A choropleth of *values* over the wards in one page: :func:`base_map` + its view.

    The arguments are those of :func:`base_map` and :func:`map_view`. The app sends the two
    parts apart (the base once, a view per scenario); a saved page has both.

    Returns
    -------
    folium.Map
    """
    view = map_view(
        display, values, layer=layer, title=title, classes=classes, outlines=outlines,
        special=special, fit=fit, not_scored_label=not_scored_label, short_title=short_title,
        base=base is not None, frame_title=frame_title,
    )  # fmt: skip
    return base_map(
        display, base=base, special=special, tiles=tiles, frame_title=frame_title,
        view_code=view_script(view),
    )  # fmt: skip


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


def _add_special(m: folium.Map, frame: gpd.GeoDataFrame, special: Mapping[str, str]) -> None:
    """Special wards: a dashed outline and a short permanent label (the panel has the reason)."""
    codes = [c for c in special if c in frame.index]
    if not codes:
        return
    part = frame.loc[codes, [s.WARD_NAME, frame.geometry.name]].copy()
    part["label"] = [f"{name}: special ward, no extras" for name in part[s.WARD_NAME]]
    style = {"fill": False, "color": SPECIAL_COLOUR, "weight": 3, "dashArray": "2 5"}
    for i in range(len(part)):
        row = part.iloc[[i]]
        name, label = (str(row[c].iloc[0]) for c in (s.WARD_NAME, "label"))
        folium.GeoJson(
            row[[frame.geometry.name]].reset_index(drop=True),
            name=f"Special ward: {html.escape(name)}",
            style_function=lambda _f: style,
            interactive=False,
            tooltip=folium.Tooltip(
                html.escape(label), permanent=True, direction="right", class_name="planner-special"
            ),
        ).add_to(m)  # no folium.Popup: its script needs jQuery (a CDN); the panel has the reason
