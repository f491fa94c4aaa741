"""The ward map as a Streamlit component that stays mounted while the scenario changes.

``st_folium`` sends the whole map (1.1 MB for London's 704 wards, Leaflet inlined) on every
rerun, and its component key is a hash of that script: any change of colour remounts the
frame, which goes blank, draws again and forgets the user's zoom. Here the map is sent in two
parts through streamlit-folium's own frontend (declared again under our name, so nothing of
its Python side is needed): the *base* of :func:`planner.outputs.basemap.base_map`, rendered
once per data set (cached) and keyed by its digest, so the frame is mounted once; and per
rerun the *view* (:func:`planner.outputs.mapping.view_script`), which the frontend runs in the
mounted frame as its "feature group" script, restyling the polygons in place. Zoom and centre
are the map's own and survive every rerun; a new data set, or the street map turned on,
mounts a new frame.

The frame's height follows the window (CSS below, :func:`map_styles`): the whole map fits on
the screen, so pressing on a ward never scrolls the page under the pointer (at 1366x768 a press
used to scroll 121 px and the click missed). Leaflet focuses the map on press; that focus is
made with ``preventScroll`` for the same reason (:class:`planner.outputs.basemap.OfflineMap`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib.util
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import shapely
import streamlit as st
import streamlit.components.v1 as components

from planner import __version__
from planner.files import atomic_path
from planner.outputs import mapping

if TYPE_CHECKING:
    import folium

    from ui.shell import Context

__all__ = ["MapFrame", "base_frame", "frame", "map_styles", "show", "ward_map_base"]

# the code that renders a frame: the disk cache is keyed on it, so a new version renders anew
_RENDERERS = (
    Path(mapping.__file__),
    Path(mapping.__file__).with_name("basemap.py"),
    Path(__file__),
)


def _frontend() -> Path:
    """streamlit-folium's built frontend, found without importing the package (or folium:
    together about 0.3 s that a start with the rendered base on disk does not need)."""
    spec = importlib.util.find_spec("streamlit_folium")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("streamlit-folium is not installed (pip install -r requirements.txt)")
    return Path(next(iter(spec.submodule_search_locations))) / "frontend" / "build"


_BUILD = _frontend()


def _component() -> Any:
    """The component, declared where it is used: Streamlit registers a component only while a
    script runs, and a server warmed at launch (:mod:`ui.serve`) imports this module first."""
    return components.declare_component("planner_ward_map", path=str(_BUILD))


# the frame as tall as the window leaves below its top (less a margin), set as a CSS variable
# on the frame element that :func:`map_styles` clamps; again when the window is resized
FIT_SCRIPT = """
(function () {
    var frame = window.frameElement;
    if (!frame) { return; }
    function fit() {
        try {
            var top = frame.getBoundingClientRect().top, node = frame.parentElement;
            for (; node; node = node.parentElement) { top += node.scrollTop || 0; }
            var room = Math.round(window.parent.innerHeight - top - %d);
            frame.style.setProperty("--planner-map-height", room + "px");
        } catch (e) {}
    }
    fit();
    window.parent.addEventListener("resize", fit);
})();
"""
BELOW_PX = 24  # room left under the map
KEEP_FRAMES = 8
"""Rendered bases kept on disk: each data set, street-map choice and code version has one."""

# inside the frame: the map fills the frame, whatever height the frame is given
_FRAME_CSS = (
    "<style>body { margin: 0; overflow: hidden; } #map_div { height: 100vh !important; }</style>"
)


@dataclass(frozen=True)
class MapFrame:
    """A base map rendered for the component: its script, header and HTML, and its key."""

    script: str
    header: str
    html: str
    map_id: str
    key: str  # the component's key: a digest of the rendered base


def frame(fmap: folium.Map, *, name: str = "ward_map") -> MapFrame:
    """Render *fmap* (a :func:`planner.outputs.basemap.base_map`) for :func:`show`, once."""
    from streamlit_folium import generate_leaflet_string

    root = fmap.get_root()
    root.render()
    map_id = f"{fmap._name.lower()}_{fmap._id}"
    header = root.header.render()
    header = re.sub(r"<script\b[^>]*\bsrc=[^>]*>.*?</script\b[^>]*>", "", header, flags=re.S)
    header = re.sub(r"<link rel=\"stylesheet\" href=\".*?\"/>", "", header)
    header = header.replace(map_id, "map_div") + _FRAME_CSS
    html = re.sub(r'<div class="folium-map" id=".*" ></div>', "", root.html.render()).strip()
    script = generate_leaflet_string(fmap).replace(map_id, "map_div")
    script = FIT_SCRIPT % BELOW_PX + script  # first: the map is made at its final size
    digest = hashlib.sha256((header + html + script).encode("utf-8")).hexdigest()[:16]
    return MapFrame(script, header, html, map_id, f"{name}_{digest}")


def base_frame(
    cache_dir: Path,
    wards: gpd.GeoDataFrame,
    *,
    base: Callable[[], mapping.BaseLayers],
    special: Mapping[str, str],
    tiles: str | None,
) -> MapFrame:
    """The base map of these wards, rendered, from the disk cache when it has it.

    Building it (the Thames and borough outlines from the wards, 704 polygons as GeoJSON,
    Leaflet inlined) takes over a second that every fresh server process paid before its
    first map; the rendered frame is kept in ``<cache_dir>/map/`` keyed on the ward geometry
    (*wards*, from :func:`planner.outputs.mapping.display_wards`) and names, the special wards,
    the tiles, Leaflet's source and the code that renders it. *base* is called only on a miss.
    """
    key = _frame_key(wards, special, tiles)
    path = cache_dir / "map" / f"frame_{key}.json"
    with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
        kept = MapFrame(**json.loads(path.read_text(encoding="utf-8")))
        with contextlib.suppress(OSError):
            os.utime(path)  # most recently used: kept longest
        return kept
    from planner.outputs import basemap  # folium: only when the base is built

    fmap = basemap.base_map(wards, base=base(), special=dict(special), tiles=tiles)
    built = frame(fmap)
    with contextlib.suppress(OSError):  # a read-only cache: build it once per process
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(dataclasses.asdict(built)), encoding="utf-8")
        _prune(path.parent)
    return built


def _prune(folder: Path) -> None:
    """Keep the :data:`KEEP_FRAMES` most recently used frames (about 1 MB each)."""
    frames = sorted(folder.glob("frame_*.json"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in frames[KEEP_FRAMES:]:
        old.unlink(missing_ok=True)


def ward_map_base(ctx: Context, wards: gpd.GeoDataFrame, *, tiles: str | None) -> MapFrame:
    """The base of the Map page's ward map (*wards*: ``ctx.display()``), cached per process.

    Rendered once per data set, special wards and street-map choice for every session (and
    kept on disk for the next server process, :func:`base_frame`).
    """
    special = tuple(
        (w.code, w.reason) for w in ctx.plan.allocation.settings.special if w.code in wards.index
    )
    return _kept_base(ctx, wards, ctx.key[:3], special, tiles)


@st.cache_resource(show_spinner=False, max_entries=8)
def _kept_base(
    _ctx: Context,
    _wards: gpd.GeoDataFrame,
    key: tuple[Any, ...],
    special: tuple[tuple[str, str], ...],
    tiles: str | None,
) -> MapFrame:
    return base_frame(
        Path(_ctx.config.cache_dir), _wards, base=_ctx.base, special=dict(special), tiles=tiles
    )


def _frame_key(wards: gpd.GeoDataFrame, special: Mapping[str, str], tiles: str | None) -> str:
    digest = hashlib.sha256()
    for geometry in shapely.to_wkb(wards.geometry.to_numpy()):
        digest.update(geometry)
    columns = wards.drop(columns=wards.geometry.name).reset_index()
    digest.update(columns.to_json(orient="values").encode("utf-8"))
    assets = mapping.leaflet_assets()
    source = str(assets.source) if assets else ""
    extra = [__version__, sorted(special.items()), tiles, source]
    digest.update(json.dumps(extra).encode("utf-8"))
    for code in _RENDERERS:
        digest.update(code.read_bytes())
    return digest.hexdigest()[:20]


def show(
    base: MapFrame,
    view: str,
    *,
    height: int,
    on_click: Callable[[dict[str, Any]], None],
) -> None:
    """The map in the page: *base* mounted once, *view* (a script) applied on every rerun.

    *on_click* gets the clicked ward's GeoJSON feature (``properties.ward_code``).
    """

    def changed() -> None:
        value = st.session_state.get(base.key) or {}
        feature = value.get("last_active_drawing")
        if feature:
            on_click(feature)

    _component()(
        script=base.script,
        header=base.header,
        html=base.html,
        id=base.map_id,
        key=base.key,
        height=height,
        width=None,
        returned_objects=["last_active_drawing"],
        default={"last_active_drawing": None},
        zoom=None,
        center=None,
        feature_group=view,
        return_on_hover=False,
        layer_control=None,
        pixelated=False,
        css_links=[],
        js_links=[],
        on_change=changed,
        wrap_longitude=False,
    )


def map_styles(box_key: str, *, largest: int, smallest: int = 320) -> str:
    """CSS for the page: the map's frame as tall as the window allows, and "Updating map…".

    The frame of the container keyed *box_key* is as tall as the window leaves below its top
    (measured by the frame itself, :data:`FIT_SCRIPT`), between *smallest* and *largest* px.
    While Streamlit reruns the script the map's element is stale: a note says the map is being
    updated instead of a faded map that looks final.
    """
    box = f".st-key-{box_key}"
    return f"""
<style>
{box} iframe {{ height: clamp({smallest}px, var(--planner-map-height, {largest}px),
                {largest}px) !important; }}
{box} [data-testid="stElementContainer"]:has(iframe) {{ position: relative; }}
{box} [data-testid="stElementContainer"][data-stale="true"]:has(iframe)::after {{
  content: "Updating map…"; position: absolute; top: 10px; left: 50%;
  transform: translateX(-50%); z-index: 10; padding: 4px 12px; border-radius: 4px;
  background: #1f2933; color: #fff; font: 14px/1.4 system-ui, sans-serif;
}}
{box} [data-testid="stElementContainer"][data-stale="true"]:has(iframe) iframe {{
  opacity: 0.6; transition: opacity 0.2s;
}}
</style>
"""
