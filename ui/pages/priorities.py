"""Borough priorities page: the evidence, the proposals, the basket, agreeing priorities."""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from planner import api
from planner.config import PlannerConfig
from planner.errors import PlannerError
from planner.model.need import NeedInputs
from planner.outputs.present import plain
from planner.plan.basket import Basket
from planner.plan.evidence import Evidence
from planner.plan.priorities import BoroughPriorities
from planner.register.access import RECORD_PRIORITIES
from ui import SIDEBAR
from ui.parts import BOROUGH_PICKER, agreement_box, borough_picker, confidence_panel
from ui.shell import Context, current, refusal

EVIDENCE_COLUMNS = [
    "candidate", "rank", "proposed", "harm_share_text", "scored_rate_ratio", "change",
    "direction", "score", "volume", "rate_per_1000", "london_rate_per_1000", "rate_ratio",
    "footfall_rate_ratio", "status", "window", "sentence",
]  # fmt: skip


ORDINALS = ("First", "Second", "Third", "Fourth", "Fifth")


@st.cache_resource(show_spinner="Measuring the evidence under the chosen harm index...")
def _evidence_under(
    _inputs: NeedInputs, _config: PlannerConfig, key: tuple[Any, ...], index: str
) -> tuple[Evidence, Basket]:
    return api.evidence(_inputs, _config)


def borough_view(ctx: Context) -> BoroughPriorities:
    """The borough's priorities under the scenario's harm index (the one the sidebar names)."""
    inputs = api.priority_inputs(ctx.plan)
    if inputs.harm.index == ctx.inputs.harm.index:
        london = ctx.evidence()
    else:
        london = _evidence_under(inputs, ctx.config, ctx.key, inputs.harm.index)
    return api.borough_priorities(inputs, ctx.config, str(ctx.borough), london=london)


def agree_form(ctx: Context, bp: BoroughPriorities, year: int) -> None:
    """Exactly the configured number of priorities, who agreed them, and a confirmation
    before a year's agreement is replaced (the register keeps the old one in its history)."""
    n = ctx.config.priorities.n_priorities
    st.subheader(f"Agree the priorities for {year}")
    candidates = list(bp.evidence["candidate"])
    proposed = [c for c in bp.proposed["candidate"] if c in candidates]
    existing = ctx.register.agreed_priorities(bp.borough_code, year)
    refused = refusal(ctx.user, RECORD_PRIORITIES, ctx.borough)
    if refused:
        st.info(refused)
        agreement_box(existing, year, current=True)
        return
    if existing is not None:
        st.warning(
            f"Priorities for {year} were already agreed on {agreed_on(existing)} by "
            f"{plain(existing['agreed_by'])}: "
            + " · ".join(plain(p) for p in existing["priorities"])
            + ". Agreeing again replaces that agreement as the current one; the register "
            "keeps it in the history below."
        )
    with st.form("agree_form"):
        st.caption(
            f"Choose {n} different priorities, in agreed order (the proposals are filled in)."
        )
        chosen, spots = [], {}
        for i in range(n):
            label = f"{ORDINALS[i] if i < len(ORDINALS) else f'Priority {i + 1}'} priority"
            default = candidates.index(proposed[i]) if i < len(proposed) else None
            choice = st.selectbox(
                label, candidates, index=default, key=f"agree_priority_{i + 1}",
                placeholder="Choose a priority",
            )  # fmt: skip
            chosen.append(choice)
            spots[f"priority_{i + 1}"] = st.empty()
        agreed_by = st.text_input(
            "Agreed by", key="agree_by", placeholder="e.g. Borough commander and council leader"
        )
        spots["agreed_by"] = st.empty()
        notes = st.text_area("Notes", key="agree_notes")
        replace = False
        if existing is not None:
            replace = st.checkbox(
                f"Replace the agreement of {agreed_on(existing)}", key="agree_replace"
            )
            spots["replace"] = st.empty()
        submitted = st.form_submit_button(
            "Agree priorities", key="agree", disabled=ctx.writes_off is not None
        )
    if submitted:
        problems = agreement_problems(chosen, agreed_by, n, needs_replace=existing is not None,
                                      replace=replace)  # fmt: skip
        for field, message in problems.items():
            spots[field].error(message)
        if problems:
            st.error("Nothing was recorded: see the message(s) beside the fields above.")
        else:
            record(ctx, bp, year, [str(c) for c in chosen], agreed_by, notes)
    agreement_box(ctx.register.agreed_priorities(bp.borough_code, year), year, current=True)


def agreed_on(record: dict) -> str:
    return f"{pd.Timestamp(record['agreed_at']):%d %B %Y}"


def agreement_problems(
    chosen: list[str | None], agreed_by: str, n: int, *, needs_replace: bool, replace: bool
) -> dict[str, str]:
    """What stops the agreement being recorded, by field, in plain words (empty: nothing)."""
    problems: dict[str, str] = {}
    seen: set[str] = set()
    for i, choice in enumerate(chosen[:n]):
        field = f"priority_{i + 1}"
        if choice is None:
            problems[field] = f"Choose priority {i + 1} of {n}."
        elif choice in seen:
            problems[field] = f"{plain(choice)} is chosen twice: choose {n} different priorities."
        else:
            seen.add(choice)
    if not agreed_by.strip():
        problems["agreed_by"] = (
            "Say who agreed these priorities, e.g. the borough commander and the council leader."
        )
    if needs_replace and not replace:
        problems["replace"] = (
            "This year's priorities are already agreed: tick the box to replace that agreement, "
            "or leave the page without agreeing."
        )
    return problems


def record(
    ctx: Context, bp: BoroughPriorities, year: int, chosen: list[str], agreed_by: str, notes: str
) -> None:
    sentences = bp.evidence.set_index("candidate")["sentence"]
    try:
        ctx.register.record_priorities(
            bp.borough_code, bp.borough_name, year, chosen, agreed_by=agreed_by.strip(),
            notes=notes, user=ctx.user,
            evidence=[sentences[c] for c in chosen if c in sentences.index],
        )  # fmt: skip
    except PlannerError as exc:
        st.error(plain(exc))
    else:
        st.success(f"Priorities for {year} recorded.")


def proposals(bp: BoroughPriorities) -> None:
    """The proposals with why, what qualifies, the near-tie and the wards left out."""
    st.subheader("Proposed local priorities")
    if not len(bp.proposed):
        st.warning("No local priority is proposed for this borough.")
    for row in bp.proposed.itertuples():
        rest = row.sentence.removeprefix(f"{row.candidate}:")
        st.markdown(f"**{row.rank}. {plain(row.candidate)}**:{plain(rest)}")
        st.caption(row.why)
    if bp.shortfall:
        st.warning(bp.shortfall)
    if bp.near_tie:
        st.info(bp.near_tie)
    for line in bp.left_out:
        st.caption(line)


ctx = current()
if ctx.borough is None:
    st.title("Borough priorities")
    borough_picker(ctx)
    st.info(
        f"Pick a borough in {BOROUGH_PICKER} to see its evidence and agree its local priorities."
    )
    st.stop()
try:
    bp = borough_view(ctx)
except PlannerError as exc:
    st.title("Borough priorities")
    borough_picker(ctx)
    st.error(f"{plain(exc)}. Pick another 'Window end month' in {SIDEBAR}.")
    st.stop()
st.title(f"Local priorities: {plain(bp.borough_name)}")
borough_picker(ctx)
st.caption(
    f"Evidence from {bp.window.label}, compared with the 12 months before. A candidate needs "
    f"{ctx.config.priorities.min_harm_share * 100:g} % of the borough's crime harm and is ranked "
    "by harm share × its rate against London (per resident; per resident and workday "
    "population in central boroughs)."
)
year = st.columns([1, 4])[0].number_input(
    "Plan year", 2000, 2100, value=api.plan_year(ctx.inputs.window.end), key="plan_year",
    help="The policing year (from April) the priorities are agreed for; last year's "
    "agreement is shown beside.",
)  # fmt: skip
now, before = st.columns(2, gap="large")
with now:
    proposals(bp)
with before:
    st.subheader(f"Agreed for {int(year) - 1}")
    agreement_box(ctx.register.previous_year(bp.borough_code, int(year)), int(year) - 1)
# public trust and confidence sit beside the crime evidence (Police and Crime Plan 2022-25)
confidence_panel(ctx, bp.borough_code, key="pas_priorities")
st.subheader("Mandatory London-wide priorities: the high-harm basket")
for sentence in bp.basket["sentence"]:
    st.markdown(f"- {sentence}")
st.subheader("Evidence for every candidate")
score = ctx.config.priorities.score
st.caption(
    "Each row is one candidate crime type in the borough. 'x London' is how many times the "
    "London rate it runs at (1.0 = the same rate); change is on the 12 months before; the "
    "score, which ranks the candidates, is its share of the borough's crime harm × its rate "
    f"against London (counted between {score.rate_floor:g} and {score.rate_cap:g} times) × "
    "a trend factor."
)
evidence = bp.evidence[EVIDENCE_COLUMNS].set_index("candidate")
evidence["change"] = 100 * evidence["change"]  # shown as "+12 %", like the sentences
ratio = "%.1f×"
st.dataframe(
    evidence,
    key="evidence_table",
    column_config={
        "status": st.column_config.TextColumn("qualifies?"),
        "volume": st.column_config.NumberColumn("volume", format="localized"),
        "rate_per_1000": st.column_config.NumberColumn("rate per 1,000", format="%.2f"),
        "london_rate_per_1000": st.column_config.NumberColumn(
            "London rate per 1,000", format="%.2f"
        ),
        "rate_ratio": st.column_config.NumberColumn("x London (residents)", format=ratio),
        "footfall_rate_ratio": st.column_config.NumberColumn(
            "x London (residents + workday)", format=ratio
        ),
        "scored_rate_ratio": st.column_config.NumberColumn(
            "x London (as scored)", format=ratio,
            help="the rate against London the score uses: per resident and workday "
            "population in central boroughs, per resident elsewhere",
        ),
        "change": st.column_config.NumberColumn("change", format="%+.0f %%"),
        "harm_share_text": st.column_config.TextColumn("share of harm"),
        "score": st.column_config.NumberColumn(format="%.3f"),
        "window": st.column_config.TextColumn("months measured"),
    },
)  # fmt: skip
with st.expander("About this evidence"):
    for note in bp.notes:
        if note not in bp.left_out:  # shown under the proposals
            st.caption(note)
agree_form(ctx, bp, int(year))
history = ctx.register.priorities_history(bp.borough_code)
if len(history):
    st.subheader("History")
    table = history[["year", "priorities", "agreed_by", "agreed_at", "notes"]].copy()
    table["priorities"] = table["priorities"].map(" · ".join)
    table["agreed_at"] = table["agreed_at"].dt.strftime("%Y-%m-%d %H:%M UTC")
    st.dataframe(table, key="priorities_history", hide_index=True)
