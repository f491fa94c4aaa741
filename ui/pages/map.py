"""Map page: the ward map of the chosen layer, and why a clicked ward ranks where it does."""

from __future__ import annotations

from typing import Any

import geopandas as gpd
import pandas as pd
import streamlit as st

from planner import schema as s
from planner.outputs import mapping, present, views
from planner.outputs.present import plain
from ui import map_component
from ui.parts import borough_picker, pack_button
from ui.shell import ALL_LONDON, Context, current

MAP_HEIGHT = 620


def ward_panel(d: views.WardDetail, quantile: float) -> None:
    scale = f"1.0 = as high as the {quantile * 100:g}th-percentile ward"
    st.subheader(plain(d.name))
    st.caption(f"{plain(d.borough)} · {d.code}")
    cols = st.columns(2)  # two to a row: a narrow panel (1024 px with the sidebar) keeps them
    cols[0].metric("London rank", f"{d.rank_london:,}")
    cols[1].metric("Borough rank", f"{d.rank_borough:,}")
    st.metric(
        "Need score", f"{d.need_score:.2f}",
        help=f"A weighted sum of the components, each divided by its London scale: {scale} "
        "on every component.",
    )  # fmt: skip
    st.caption(
        f"Need score {d.need_score:.2f} ({scale}). Rank {d.rank_london} of {d.n_london} "
        f"scored wards in London, {d.rank_borough} of {d.n_borough} in {plain(d.borough)} "
        "(1 = most need)."
    )
    if d.special:
        st.info(f"Special ward: {plain(d.special)}. It keeps its baseline team and gets no extras.")
    moved = f" (override: {d.override:+d})" if d.override else ""
    st.markdown(
        f"**Officers:** baseline {d.baseline_dwo} DWO + {d.baseline_pcso} PCSO, "
        f"**+ {d.extra} extra**{moved} = **{d.total_dwo} DWO + {d.baseline_pcso} PCSO**"
    )
    if d.current_dwo is not None:
        change = d.total_dwo - d.current_dwo
        st.caption(
            f"Now: {d.current_dwo} DWO + {d.current_pcso} PCSO; proposed change {change:+d} DWO."
        )
    st.markdown(f"**Trend:** {plain(d.trend_text)}")
    if d.capped:
        st.caption(
            f"Capped: {', '.join(d.capped)} counted at the cap ({d.component_cap:g} times the "
            "95th-percentile ward; config/need.toml component_cap), not its full value."
        )
    if d.no_data:
        st.caption(
            f"No data for this ward: {', '.join(d.no_data)} (not published here; not zero). "
            "It is scored on its other components, their weights rescaled to sum to 1."
        )
    st.markdown("**Why this score** (the contributions add up to the score)")
    contributions_chart(d.contributions)
    st.markdown(f"**Harm per month, last {len(d.monthly)} months** ({d.monthly_index})")
    monthly_chart(d.monthly, d.monthly_index)


def contributions_chart(contributions: pd.Series) -> None:
    """One bar per component, its value written beside it."""
    import altair as alt  # here: the first map (no ward chosen yet) does without it (0.2 s)

    data = contributions.rename_axis("component").rename("contribution").reset_index()
    data["text"] = [f"{v:.2f}" for v in data["contribution"]]
    top = max(float(data["contribution"].max()), 0.01) * 1.3  # room for the value's label
    low = min(float(data["contribution"].min()), 0.0)
    bars = alt.Chart(data, height=alt.Step(26)).encode(
        y=alt.Y("component:N", sort=None, title=None),
        x=alt.X("contribution:Q", title="contribution", scale=alt.Scale(domain=[low, top])),
    )
    chart = bars.mark_bar() + bars.mark_text(align="left", dx=4).encode(text="text:N")
    st.altair_chart(chart, use_container_width=True)


def monthly_chart(monthly: pd.Series, unit: str) -> None:
    """The ward's harm per month, the months labelled with their years."""
    import altair as alt

    data = monthly.rename("harm").rename_axis("month").reset_index()
    chart = (
        alt.Chart(data, height=160)
        .mark_line(point=True)
        .encode(
            x=alt.X("month:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=0)),
            y=alt.Y("harm:Q", title=None),
            tooltip=[
                alt.Tooltip("month:T", format="%B %Y"),
                alt.Tooltip("harm:Q", format=",.0f", title=unit),
            ],
        )
    )
    st.altair_chart(chart, use_container_width=True)


def ward_categories(d: views.WardDetail, window: str) -> None:
    """Crimes and harm by category in the ward, harm's unit in the heading."""
    st.markdown(
        f"**Crimes and harm by category in {plain(d.name)}** ({window}; harm in "
        f"{plain(d.harm_unit)})"
    )
    table = d.categories.assign(**{"share of harm": d.categories["share of harm"] * 100})
    st.dataframe(
        table,
        key="ward_categories",
        height=35 * (len(table) + 1) + 3,
        column_config={
            # widths from the content: a narrow page scrolls the table, never cuts a number
            "crimes": st.column_config.NumberColumn(format="localized"),
            "harm": st.column_config.NumberColumn("harm", format="localized"),
            "share of harm": st.column_config.ProgressColumn(
                "share of harm", format="%.1f %%", min_value=0.0, max_value=100.0,
                width="small",
            ),
        },
    )  # fmt: skip


def select_clicked(feature: dict[str, Any]) -> None:
    """The map's click callback: the clicked ward becomes the selected ward."""
    code = (feature.get("properties") or {}).get(s.WARD_CODE)
    if code:
        st.session_state["map_clicked"] = code
        st.session_state["ward_pick"] = code


def hot_spot_outlines(ctx: Context) -> tuple[pd.Series | None, str]:
    """The hot-spot outlines to draw (None: none) and their legend label; says how many."""
    spots = ctx.hot_spots()
    summary = views.hot_spot_summary(spots.report)
    corrected, uncorrected = summary.significant, summary.significant_uncorrected
    st.caption(summary.text)
    exploratory = False
    if summary.corrected and uncorrected > corrected:
        exploratory = st.toggle(
            f"Show the {uncorrected} uncorrected hot and cold spots (exploratory)",
            key="hot_spots_uncorrected",
            help=summary.exploratory_help,
        )
    classes, label = views.hot_spot_layer(spots, summary, exploratory=exploratory)
    return classes, label


def draw_map(ctx: Context, wards: gpd.GeoDataFrame, view: dict[str, object]) -> None:
    """The map, or where there is none (Leaflet not installed) a message naming the way round."""
    if mapping.leaflet_assets() is None:
        st.warning(
            f"{mapping.NO_MAP_TEXT} (The map needs Leaflet, which is not installed here: "
            "pip install django-js-lib-leaflet.)"
        )
        return
    tiles = "OpenStreetMap" if st.session_state.get("map_tiles") else None
    base = map_component.ward_map_base(ctx, wards, tiles=tiles)
    st.html(map_component.map_styles("ward_map_box", largest=MAP_HEIGHT))
    with st.container(key="ward_map_box"):
        map_component.show(
            base, mapping.view_script(view), height=MAP_HEIGHT, on_click=select_clicked
        )


ctx = current()
area = ctx.boroughs.get(ctx.borough, ALL_LONDON)
st.title(f"Ward need: {plain(area)}")
borough_picker(ctx)
layers = views.map_layers(list(ctx.absent))
if st.session_state.get("map_layer") not in layers:
    st.session_state.pop("map_layer", None)
top = st.columns([1, 1])
layer = top[0].selectbox("Layer", list(layers), format_func=layers.get, key="map_layer")
show_hot = top[1].checkbox(
    "Hot spots of harm",
    key="show_hot_spots",
    help="Getis-Ord Gi* on ward contiguity, tested against 999 random arrangements, with the "
    "false-discovery-rate correction for testing every ward at once (config/hotspots.toml).",
)
top[1].checkbox(
    "Street map (online)",
    key="map_tiles",
    help="Draw OpenStreetMap streets under the wards. The tiles come from the internet "
    "(tile.openstreetmap.org), which police networks often block; off, the map uses only "
    "the app's own data: ward and borough boundaries and the Thames.",
)
values, title = views.layer_values(ctx.plan, layer)
wards = ctx.display()
fit = None
if ctx.borough:
    fit = list(ctx.inputs.wards.index[ctx.inputs.wards[s.BOROUGH_CODE] == ctx.borough])
labels = views.ward_labels(ctx.inputs)
if st.session_state.get("ward_pick") not in (None, *labels.index):
    st.session_state.pop("ward_pick", None)
left, right = st.columns([5, 3], gap="medium")
with left:
    hot_box = st.container()  # always there, so the map below it is never moved (remounted)
with hot_box:
    outlines, outline_label = hot_spot_outlines(ctx) if show_hot else (None, "")
with right:
    st.caption(
        "Click a ward on the map (or choose it in the Ward list) to see why it ranks where it "
        "does. Classes are London-wide, so colours compare across boroughs."
    )
    code = st.selectbox(
        "Ward",
        list(labels.index),
        index=None,
        format_func=labels.get,
        placeholder="Click a ward on the map, or choose one",
        key="ward_pick",
        on_change=lambda: st.session_state.pop("map_clicked", None),
    )
view = mapping.map_view(
    wards,
    values,
    layer=layer,
    title=title,
    outlines=outlines,
    outline_label=outline_label,
    special={w.code: w.reason for w in ctx.plan.allocation.settings.special},
    fit=fit,
    selected=code,
    not_scored_label=present.NOT_SCORED_LABEL,
    short_title=layers[layer],
    base=True,
    frame_title=f"Ward map of {area}: {layers[layer]}",
)
with left:
    draw_map(ctx, wards, view)
with right:
    clicked = st.session_state.get("map_clicked")
    if clicked and clicked not in labels.index:
        st.info("That ward is not scored (the City of London, or not covered by this data).")
    detail = views.ward_detail(ctx.plan, code) if code else None
    if detail:
        ward_panel(detail, ctx.plan.need.settings.scale_quantile)
with left:
    pack_button(ctx)
    if detail:  # under the map: four columns need its width
        ward_categories(detail, ctx.inputs.window.label)
