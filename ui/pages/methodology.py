"""Methodology and data quality page: how the numbers are made, the data's report, uploads."""

from __future__ import annotations

import streamlit as st

from planner import schema as s
from planner.errors import PlannerError
from planner.ingest import uploads
from planner.ingest.quality import format_quality
from planner.model.need import NeedInputs
from planner.outputs import present, views
from ui.shell import Context, current

_COUNTS = ("read", "counted", "of which nearest ward", "rejected", "duplicates", "records")


def upload_section(ctx: Context) -> None:
    """A person's own police.uk street CSV (or ward file), joined and checked like the data."""
    limit = uploads.MAX_UPLOAD_BYTES / 1e6
    with st.expander("Upload your own incident CSV or ward file"):
        st.caption(
            f"Read in this session only (never saved where others could see it), at most "
            f"{limit:,.0f} MB each. Incidents are joined to the loaded data set's wards, or to "
            "the ward file uploaded beside them, with the same data-quality report as "
            "`planner ingest`."
        )
        cols = st.columns(2)
        incident_file = cols[0].file_uploader(
            "Incidents: a data.police.uk street CSV, or a zip of them",
            type=list(uploads.INCIDENT_TYPES),
            key="upload_incidents",
        )
        ward_file = cols[1].file_uploader(
            "Wards (optional): GeoJSON, GeoPackage or a zipped shapefile",
            type=list(uploads.WARD_TYPES),
            key="upload_wards",
        )
        try:
            wards, report = ctx.inputs.all_wards, None
            if ward_file is not None:
                uploads.check_upload(ward_file.name, ward_file.size, allowed=uploads.WARD_TYPES)
                read = uploads.read_ward_upload(
                    ward_file.name, ward_file.getvalue(), config=ctx.config
                )
                wards, report = read.frame, read.report
                st.success(
                    f"{present.plain(ward_file.name)}: {len(wards):,} wards in "
                    f"{wards[s.BOROUGH_CODE].nunique()} borough(s)."
                )
            if incident_file is None:
                return
            uploads.check_upload(
                incident_file.name, incident_file.size, allowed=uploads.INCIDENT_TYPES
            )
            result = uploads.read_incident_upload(
                incident_file.name, incident_file.getvalue(), wards=wards, ward_report=report,
                config=ctx.config,
            )  # fmt: skip
        except PlannerError as exc:
            st.error(present.plain(exc))
            return
        upload_report(result)


def upload_report(result: uploads.IncidentUpload) -> None:
    quality, tables = result.quality, views.quality_tables(result.quality)
    placed = int(result.ward_counts["records"].sum())
    balance = (
        "read = counted + rejected + duplicates holds."
        if quality.get("conservation_ok")
        else "**the balance FAILS for some month: see the report.**"
    )
    st.markdown(
        f"**{present.plain(result.name)}**: {placed:,} records placed in "
        f"{len(result.ward_counts):,} wards; " + balance
    )
    st.dataframe(result.ward_counts, key="upload_ward_counts", height=300)
    st.dataframe(tables["sources"], key="upload_quality_sources", hide_index=True)
    st.dataframe(tables["rejects"], key="upload_quality_rejects", hide_index=True)
    st.code(format_quality(quality), language=None)


def quality_section(inputs: NeedInputs) -> None:
    st.header("Data quality of the loaded data")
    quality = inputs.ingest.quality
    tables = views.quality_tables(quality)
    balance = (
        "**read = counted + rejected + duplicates holds for every source and month.**"
        if quality.get("conservation_ok")
        else "**the balance FAILS for some source or month: see the detail.**"
    )
    st.markdown(
        f"Data set **{inputs.dataset}**, scoring window **{inputs.window.label}**. Every record "
        "read ends counted, rejected (with its reason) or removed as a duplicate: " + balance
    )
    counts = {c: st.column_config.NumberColumn(format="localized") for c in _COUNTS}
    st.dataframe(tables["sources"], key="quality_sources", hide_index=True, column_config=counts)
    st.markdown("**Months missing** (inside each source's own range)")
    st.dataframe(tables["months missing"], key="quality_missing", hide_index=True)
    st.markdown("**Rejected records by reason** (kept aside in rejects.parquet, never dropped)")
    st.dataframe(tables["rejects"], key="quality_rejects", hide_index=True, column_config=counts)
    wards = quality.get("wards", {})
    st.caption(
        f"Wards: {wards.get('total', '?')}, with no records: {wards.get('with_no_records', '?')}. "
        f"ASB: {quality.get('asb', {}).get('note', '')}"
    )
    for note in inputs.notes:
        st.caption(note)
    with st.expander("The full data-quality report (as `planner ingest` prints it)"):
        st.code(format_quality(quality), language=None)


ctx = current()
inputs, need, config = ctx.inputs, ctx.plan.need, ctx.config
st.title("Methodology and data quality")
st.header("How the need score is made")
st.markdown(present.need_method_text(need.settings))
st.dataframe(
    views.need_weights_table(need.settings.weights, need.weights_used), key="weights_table"
)
for comp, why in ctx.absent.items():
    st.caption(f"{present.COMPONENT_LABELS[comp]}: {why}")
st.header("Harm weights")
for idx in inputs.harm.indices.values():
    st.markdown(f"- **{idx.name}** ({present.harm_unit(idx)}): {idx.source}")
st.markdown(present.proactive_text(inputs.harm))
st.dataframe(views.harm_weights_table(inputs.harm), key="harm_weights")
st.header("Allocation")
for sentence in present.allocation_method_sentences(
    ctx.plan.allocation.settings, ctx.plan.allocation.pool
):
    st.markdown(f"- {sentence}")
with st.expander("The configuration files, with every source and citation"):
    for stem in ("need", "harm", "allocation"):
        path = config.file(stem)
        st.markdown(f"`{path}`")
        st.code(path.read_text(encoding="utf-8"), language="toml")
st.header("Caveats")
st.markdown("\n".join(f"- **{title}.** {text}" for title, text in present.CAVEATS))
if inputs.use_forecast:
    st.header("Forecast")
    verdict = inputs.verdict
    st.markdown(verdict.explanation if verdict else "The forecast was not run.")
    if verdict is not None:
        st.caption(
            f"The rule (config/forecast.toml): the forecast enters the need index only when "
            f"its WAPE is at least {verdict.margin_pp:g} percentage points lower than each "
            "baseline's at more than half the backtest origins. In the index now: "
            f"{'yes' if verdict.beats_all else 'no'}."
        )
        rows = [
            {
                "baseline": c.label,
                "judged on": c.judged_on,
                "model": f"{c.model:.2%}",
                "baseline WAPE": f"{c.baseline_value:.2%}",
                "model better by (pp, mean)": f"{c.gain_pp:+.2f}",
                "origins won by the margin": f"{c.origins_won} of {c.n_origins}",
                "beaten": "yes" if c.beaten else "no",
            }
            for c in verdict.comparisons.values()
        ]
        st.dataframe(rows, key="verdict_table", hide_index=True)
    if inputs.backtest is not None:
        with st.expander("Backtest table"):
            st.dataframe(inputs.backtest, key="backtest_table")
quality_section(inputs)
upload_section(ctx)
