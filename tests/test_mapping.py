"""Tests of planner.outputs.mapping and the colour classes of planner.outputs.present.

Display geometry, labelled classes, palettes and the folium map.
"""

from __future__ import annotations

import html
import os
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import shapely.geometry

from planner.errors import DataError
from planner.outputs import mapping, present

X0, Y0 = 530_000.0, 180_000.0  # central London, EPSG:27700
SIDE = 1_000.0
NAMES = ("Ward A", "Ward B", "Ward C", "Ward D")


def wavy_square(col: int, row: int) -> shapely.Polygon:
    """A 1 km square whose top edge zig-zags by 5 m every 10 m: detail a 25 m tolerance drops."""
    x0, y0 = X0 + col * SIDE, Y0 + row * SIDE
    top = [(x0 + SIDE - i * 10.0, y0 + SIDE + (5.0 if i % 2 else 0.0)) for i in range(101)]
    return shapely.Polygon([(x0, y0), (x0 + SIDE, y0), *top, (x0, y0)])


@pytest.fixture
def wards() -> gpd.GeoDataFrame:
    """A 2x2 grid of wards in two boroughs, in British National Grid."""
    cells = [(0, 0), (1, 0), (0, 1), (1, 1)]
    index = pd.Index([f"E0500000{i}" for i in range(4)], name="ward_code")
    return gpd.GeoDataFrame(
        {
            "ward_name": list(NAMES),
            "borough_code": ["E09000001", "E09000001", "E09000033", "E09000033"],
            "borough_name": ["City of London", "City of London", "Westminster", "Westminster"],
        },
        geometry=[wavy_square(c, r) for c, r in cells],
        index=index,
        crs="EPSG:27700",
    )


@pytest.fixture
def display(wards: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return mapping.display_wards(wards)


# --- geometry -------------------------------------------------------------------------------


def test_display_wards_is_simplified_and_in_wgs84(wards, display):
    assert display.crs.to_epsg() == 4326
    assert list(display.index) == list(wards.index)
    before = shapely.get_num_coordinates(wards.geometry.to_numpy()).sum()
    after = shapely.get_num_coordinates(display.geometry.to_numpy()).sum()
    assert after < before / 10
    west, south, east, north = display.total_bounds
    assert -0.2 < west < east < 0.0 and 51.4 < south < north < 51.6  # central London
    assert display.geometry.is_valid.all()


def test_display_wards_simplifies_in_metres_not_degrees(wards):
    """A 1 m tolerance keeps the 5 m zig-zag: the tolerance is applied in EPSG:27700."""
    fine = mapping.display_wards(wards, tolerance_m=1.0)
    assert shapely.get_num_coordinates(fine.geometry.to_numpy()).sum() > 400


def test_display_wards_needs_a_crs(wards):
    with pytest.raises(DataError, match="no CRS"):
        mapping.display_wards(wards.set_crs(None, allow_override=True))


def test_display_wards_needs_the_name_columns(wards):
    with pytest.raises(DataError, match="ward_name"):
        mapping.display_wards(wards.drop(columns="ward_name"))


def test_bounds_of_some_wards_lie_inside_the_bounds_of_all(display):
    (s_all, w_all), (n_all, e_all) = mapping.bounds(display)
    (s, w), (n, e) = mapping.bounds(display, ["E05000002", "E05000003"])
    assert s_all <= s < n <= n_all and w_all <= w < e <= e_all
    assert (s, w) != (s_all, w_all)


# --- classes and palettes -------------------------------------------------------------------


def test_quantile_classes_carry_text_labels_with_their_shares():
    values = pd.Series(np.arange(1.0, 101.0))
    classes = present.classes_for("need_score", values)
    assert classes.labels == (
        "Lowest need: bottom 25 % (below 26.00)",
        "Top 50–75 % (26.00 to 51.00)",
        "Top 25–50 % (51.00 to 76.00)",
        "Top 10–25 % (76.00 to 91.00)",
        "Highest need: top 10 % (91.00 and above)",
    )
    counts = classes.assign(values).value_counts().sort_index()
    assert counts.tolist() == [25, 25, 25, 15, 10]


def test_quantile_classes_never_put_a_higher_value_in_a_lower_class():
    rng = np.random.default_rng(3)
    values = pd.Series(rng.gamma(2.0, 10.0, 500))
    klass = present.classes_for("harm", values).assign(values)
    order = np.argsort(values.to_numpy())
    assert (np.diff(klass.to_numpy()[order]) >= 0).all()


def test_quantile_classes_merge_ties_and_say_the_true_share():
    """60 % of wards show no rise: no class may claim 'bottom 25 %' for them."""
    values = pd.Series([0.0] * 60 + list(np.linspace(1.0, 40.0, 40)))
    classes = present.classes_for("trend", values)
    counts = classes.assign(values).value_counts()
    assert (counts > 0).all() and len(counts) == len(classes.labels)
    assert classes.labels[0] == "Lowest rise: bottom 60 % (0 %)"


def test_one_value_for_every_ward_gives_one_class():
    classes = present.classes_for("harm", pd.Series([5.0, 5.0, 5.0]))
    assert classes.labels == ("All wards (5 to 5)",)


def test_no_value_at_all_is_an_error():
    with pytest.raises(DataError, match="every ward's value is missing"):
        present.classes_for("harm", pd.Series([np.nan, np.nan]))


@pytest.mark.parametrize(
    ("extra", "labels"),
    [
        ([0, 1, 2, 3, 5, 8], ("0 extra", "1–2 extra", "3–4 extra", "5–6 extra", "7–8 extra")),
        ([0, 1, 2], ("0 extra", "1–2 extra")),
        ([0, 0], ("0 extra",)),
        ([2, 3, 7], ("0 extra", "1–2 extra", "3–4 extra", "5–6 extra", "7 extra")),
        (
            [0, 14],
            ("0 extra", "1–2 extra", "3–4 extra", "5–6 extra", "7–9 extra", "10–14 extra"),
        ),
        ([0, 49], ("0 extra", "1–4 extra", "5–9 extra", "10–19 extra", "20–49 extra")),
        (  # wider bands: never more than MAX_CLASSES colours on one ramp
            [0, 250],
            ("0 extra", "1–9 extra", "10–19 extra", "20–49 extra", "50–99 extra", "100+ extra"),
        ),
    ],
    ids=[
        "up-to-eight",
        "up-to-two",
        "none",
        "top-band-exact",
        "six-bands",
        "wider-bands",
        "past-the-last-band",
    ],
)
def test_officer_classes_are_whole_officer_bands(extra, labels):
    values = pd.Series(extra, dtype=float)
    classes = present.classes_for("extra", values)
    assert classes.labels == labels
    assigned = classes.assign(values)
    for value, k in zip(extra, assigned, strict=True):
        label = classes.labels[k]
        if label.endswith("+ extra"):
            assert value >= int(label.split("+")[0])
        else:
            low, _, high = label.removesuffix(" extra").partition("–")
            assert int(low) <= value <= int(high or low)


@pytest.mark.parametrize("layer", list(present.LAYERS), ids=list(present.LAYERS))
def test_every_layer_uses_a_colour_blind_safe_palette(layer):
    spec = present.LAYERS[layer]
    assert spec.palette in present.COLOUR_BLIND_SAFE
    assert spec.palette.removesuffix("_r") in {"viridis", "cividis", "YlGnBu"}
    classes = present.classes_for(layer, pd.Series(np.arange(0.0, 50.0)))
    expected = present.palette(spec.palette, len(classes.labels), start=spec.start, end=spec.end)
    assert list(classes.colours) == expected


def test_palettes_run_light_to_dark():
    def lightness(hex_colour: str) -> float:
        r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
        return 0.299 * r + 0.587 * g + 0.114 * b

    for name in ("YlGnBu", "viridis_r", "cividis_r"):
        shades = [lightness(c) for c in present.palette(name, 5)]
        assert shades == sorted(shades, reverse=True), name


def test_unknown_palette_is_an_error():
    with pytest.raises(ValueError, match="unknown palette 'jet'"):
        present.palette("jet", 5)


# --- the map --------------------------------------------------------------------------------


def test_map_html_has_the_ward_names_the_codes_and_the_legend(display):
    values = pd.Series([1.0, 2.0, 3.0, 4.0], index=display.index)
    fmap = mapping.ward_map(display, values, layer="need_score", title="Need score", tiles=None)
    html = fmap.get_root().render()
    for name in NAMES:
        assert name in html
    assert '"ward_code": "E05000003"' in html
    assert "Need score" in html and "Highest need" in html
    assert "planner-legend" in html


def test_wards_without_a_value_are_hatched_and_labelled(display):
    values = pd.Series([1.0, 2.0, 3.0], index=display.index[1:])
    fmap = mapping.ward_map(
        display,
        values,
        layer="harm",
        title="Harm",
        not_scored_label="Not scored (City)",
        tiles=None,
    )
    html = fmap.get_root().render()
    assert "Not scored (City)" in html
    # hatched on the map (an SVG pattern) and in the legend (the same stripes), not only grey
    assert f'<pattern id="{mapping.NOT_SCORED_PATTERN}"' in html
    assert f"url(#{mapping.NOT_SCORED_PATTERN})" in html
    assert mapping.NOT_SCORED_HATCH in html


def test_hot_spots_are_outlined_and_counted_in_the_legend(display):
    values = pd.Series([1.0, 2.0, 3.0, 4.0], index=display.index)
    status = pd.Series(
        pd.Categorical(["hot spot", "not significant", "not significant", "cold spot"]),
        index=display.index,
    )
    fmap = mapping.ward_map(
        display, values, layer="harm", title="Harm", outlines=status, tiles=None
    )
    html = fmap.get_root().render()
    assert "Hot spot of harm (Gi*): 1 ward(s)" in html
    assert "Cold spot of harm (Gi*): 1 ward(s)" in html
    assert mapping.HOT_SPOT_COLOUR in html


def test_borough_zoom_fits_its_wards_and_outlines_them(display):
    values = pd.Series([1.0, 2.0, 3.0, 4.0], index=display.index)
    codes = ["E05000002", "E05000003"]
    fmap = mapping.ward_map(display, values, layer="harm", title="Harm", fit=codes, tiles=None)
    html = fmap.get_root().render()
    (south, west), (north, east) = mapping.bounds(display, codes)
    assert f"[[{south}, {west}], [{north}, {east}]]" in html
    view = mapping.map_view(display, values, layer="harm", title="Harm", fit=codes)
    outline = shapely.geometry.shape(view["area"])
    assert outline.length > 0
    box = shapely.box(west, south, east, north)
    assert box.buffer(1e-9).contains(outline)
    assert mapping.map_view(display, values, layer="harm", title="Harm")["area"] is None


def test_the_base_is_the_same_for_every_scenario_and_the_view_carries_the_classes(display):
    """The app keeps the base mounted: nothing a scenario changes may be in it."""

    def base_script(**kwargs) -> str:
        fmap = mapping.base_map(display, **kwargs)
        fmap.get_root().render()
        return re.sub(r"_[0-9a-f]{32}", "", fmap.get_root().script.render())

    assert base_script() == base_script()
    low = pd.Series([1.0, 2.0, 3.0, 4.0], index=display.index)
    high = low[::-1].set_axis(display.index)
    views = [
        mapping.map_view(display, v, layer="need_score", title="Need", selected="E05000001")
        for v in (low, high)
    ]
    first, second = ({c: w[0] for c, w in v["wards"].items()} for v in views)
    assert first["E05000000"] == second["E05000003"] != first["E05000003"]
    assert views[0]["selected"] == "E05000001"
    assert set(first) == set(display.index)
    script = mapping.view_script(views[0])
    assert script.startswith("window.plannerMap.update(") and len(script) < 5_000


def test_a_ward_without_a_value_is_left_out_of_the_view(display):
    values = pd.Series([1.0, 2.0, 3.0], index=display.index[1:])
    view = mapping.map_view(display, values, layer="harm", title="Harm", not_scored_label="NS")
    assert display.index[0] not in view["wards"] and view["not_scored"] == "NS"
    assert "NS" in view["legend"]


def test_legend_text_is_escaped():
    legend = mapping.Legend("Harm <b>", [("<script>x</script>", "#ffffff", None, False)])
    assert "<script>x" not in legend.to_html() and "&lt;script&gt;" in legend.to_html()


def test_only_a_known_ward_is_selected(display):
    values = pd.Series(1.0, index=display.index)
    for code, expected in (("E05000001", "E05000001"), (None, None), ("E05999999", None)):
        view = mapping.map_view(display, values, layer="harm", title="x", selected=code)
        assert view["selected"] == expected


def test_unknown_layer_is_an_error(display):
    with pytest.raises(ValueError, match="unknown map layer 'crime'"):
        mapping.ward_map(display, pd.Series(dtype=float), layer="crime", title="x", tiles=None)


# --- offline first: nothing from outside, the project's own base, a note if it cannot draw --

HOSTILE = "<img src=x onerror=alert(1)>"


def _full_map(display, wards, **kwargs):
    values = pd.Series([1.0, 2.0, 3.0, 4.0], index=display.index)
    status = pd.Series(["hot spot", "", "", "cold spot"], index=display.index)
    return mapping.ward_map(
        display, values, layer="need_score", title="Need score", outlines=status,
        special={"E05000001": "Heathrow Airport: policed by Aviation Security"},
        fit=["E05000000", "E05000001"], base=mapping.base_layers(wards), **kwargs,
    )  # fmt: skip


def test_the_map_links_nothing_outside_and_inlines_leaflet(display, wards):
    page = _full_map(display, wards).get_root().render()
    assets = mapping.leaflet_assets()
    assert assets is not None and assets.js in page and assets.css in page
    own = page.replace(assets.js, "").replace(assets.css, "")
    assert "<script src" not in own and "<link" not in own
    assert "http://" not in own and "https://" not in own  # no CDN, no tiles
    assert "$(" not in own  # no jQuery (folium's Popup and front-most layers need it)


def test_online_tiles_only_when_asked_for(display, wards):
    assert "tile.openstreetmap.org" not in _full_map(display, wards).get_root().render()
    online = _full_map(display, wards, tiles="OpenStreetMap").get_root().render()
    assert "tile.openstreetmap.org" in online


def test_without_leaflet_the_map_is_an_error_naming_the_package(display, monkeypatch):
    monkeypatch.setattr(mapping, "leaflet_assets", lambda: None)
    with pytest.raises(DataError, match="pip install django-js-lib-leaflet"):
        mapping.ward_map(display, pd.Series(1.0, index=display.index), layer="harm", title="x")


def test_the_no_map_note_is_in_the_frame_and_removed_only_at_the_end(display, wards):
    page = _full_map(display, wards).get_root().render()
    assert html.escape(mapping.NO_MAP_TEXT) in page
    remover = page.index('querySelectorAll(".planner-no-map")')
    assert remover > page.index('planner-legend");')  # after the last layer and the legend
    assert remover > max(page.rfind("L.geoJson("), page.rfind(".addTo("))


def test_the_map_names_the_frame_it_is_shown_in(display, wards):
    page = _full_map(display, wards, frame_title=f"Ward map of {HOSTILE}").get_root().render()
    assert 'window.frameElement.title = "Ward map of \\u003cimg' in page


def test_base_layers_outline_each_borough_and_find_the_river_between_wards():
    """Two boroughs of wards with a 300 m river between them (wards stop at the bank)."""
    north = [
        shapely.box(X0 + i * 2_000, Y0 + 300, X0 + (i + 1) * 2_000, Y0 + 3_000) for i in range(3)
    ]
    south = [shapely.box(X0 + i * 2_000, Y0 - 3_000, X0 + (i + 1) * 2_000, Y0) for i in range(3)]
    wards = gpd.GeoDataFrame(
        {
            "ward_name": [f"W{i}" for i in range(6)],
            "borough_code": ["E09000007"] * 3 + ["E09000022"] * 3,
            "borough_name": ["Camden"] * 3 + ["Lambeth"] * 3,
        },
        geometry=north + south,
        index=pd.Index([f"E0500001{i}" for i in range(6)], name="ward_code"),
        crs="EPSG:27700",
    )
    base = mapping.base_layers(wards, min_river_km2=0.5)
    assert list(base.boroughs.index) == ["E09000007", "E09000022"]
    assert base.boroughs.crs.to_epsg() == 4326
    river = base.river.to_crs(27700).geometry.iloc[0]
    assert 1.2e6 < river.area < 1.8e6  # most of the 6 km x 300 m strip
    assert river.intersection(shapely.union_all(wards.geometry.to_numpy())).area < 1e4
    lonely = mapping.base_layers(wards.iloc[:3], min_river_km2=0.5)  # one bank: no river
    assert lonely.river.geometry.iloc[0].is_empty


def test_tooltips_escape_ward_and_borough_names(display):
    hostile = display.copy()
    hostile["ward_name"] = [HOSTILE, "B", "C", "D"]
    hostile["borough_name"] = [f"Borough {HOSTILE}"] * 4
    fmap = mapping.ward_map(
        hostile, pd.Series([1.0, 2.0, 3.0, 4.0], index=hostile.index), layer="harm",
        title=f"Harm {HOSTILE}", outlines=pd.Series(["hot spot", "", "", ""], index=hostile.index),
        special={"E05000000": f"{HOSTILE}: reason"},
    )  # fmt: skip
    page = fmap.get_root().render()
    assert "<img" not in page  # names are JSON with < escaped; tooltips set them as text
    assert "\\u003cimg src=x onerror=alert(1)\\u003e" in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page  # the special ward's label


# --- the rendered base on disk (ui/map_component.py) ----------------------------------------


def test_the_rendered_base_is_read_back_and_old_ones_are_pruned(display, wards, tmp_path):
    from ui import map_component

    folder = tmp_path / "map"
    folder.mkdir()
    for i in range(map_component.KEEP_FRAMES + 2):  # left by earlier versions of the code
        old = folder / f"frame_old{i}.json"
        old.write_text("{}", encoding="utf-8")
        os.utime(old, (1_000_000 + i, 1_000_000 + i))
    built: list[int] = []

    def base() -> mapping.BaseLayers:
        built.append(1)
        return mapping.base_layers(wards)

    first = map_component.base_frame(tmp_path, display, base=base, special={}, tiles=None)
    again = map_component.base_frame(tmp_path, display, base=base, special={}, tiles=None)
    assert again == first and built == [1]  # the second is read from disk
    kept = sorted(p.name for p in folder.glob("frame_*.json"))
    assert len(kept) == map_component.KEEP_FRAMES
    assert f"frame_{map_component._frame_key(display, {}, None)}.json" in kept  # the new one
    assert "frame_old0.json" not in kept and "frame_old1.json" not in kept  # the oldest went
