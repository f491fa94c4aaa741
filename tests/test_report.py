"""Tests for the printable borough pack (planner/outputs/pack.py)."""

from __future__ import annotations

import dataclasses
import html
import math
import sys
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import api
from planner.errors import DataError
from planner.model.need import NeedResult
from planner.model.window import Window
from planner.outputs.export import ExportError
from planner.outputs.pack import (
    RAG_BANDS,
    MeetingRecord,
    borough_pack_html,
    rag_status,
    ward_status,
    write_borough_pack,
)
from planner.outputs.pdf import PdfUnavailable
from planner.outputs.present import classes_for
from planner.plan.allocation import allocate_wards
from planner.plan.overrides import Override, apply_overrides
from planner.plan.priorities import BoroughPriorities
from planner.results import PlanResult, RunManifest
from planner.scenario import Scenario
from tests.factories import allocation_settings, need_settings, shipped_config

CAMDEN, BARNET = "E09000007", "E09000003"
SCRIPT_NAME = "<script>alert('x')</script> Ward"
AMP_NAME = "St Pancras & Somers Town"
PROPOSED = [
    "Burglary: 2.0 times the London rate, no clear change on last year, 16 % of the harm.",
    "Robbery: 1.9 times the London rate, down 21 % on last year, 16 % of the harm.",
]
BASKET = ["Domestic abuse: 1,936 offences in 2025, 0.9 times the London rate."]
WHY = [
    "Proposed first: 16 % of the borough's harm (minimum 5 %) at 1.2 times the London rate "
    "counting residents and workers, score 0.191; ahead of Robbery (0.190) by under 1 %.",
    "Proposed second: 16 % of the borough's harm (minimum 5 %), score 0.190; a near tie with "
    "Violence (0.185), 3 % behind (under 10 %): either is a defensible second priority.",
]


def _wards() -> gpd.GeoDataFrame:
    """A 3x2 grid of 1 km wards: the left four in Camden, the right two in Barnet.

    One Camden ward has a hole (a lake) and one is a MultiPolygon (two islands).
    """
    codes = [f"E0500000{i}" for i in range(1, 7)]
    boxes = [shapely.box(x * 1000, y * 1000, x * 1000 + 1000, y * 1000 + 1000)
             for y in (0, 1) for x in range(3)]  # fmt: skip
    boxes[0] = boxes[0].difference(shapely.box(300, 300, 600, 600))  # a hole
    boxes[3] = shapely.MultiPolygon(
        [shapely.box(0, 1000, 400, 2000), shapely.box(500, 1000, 1000, 2000)]
    )
    borough = [CAMDEN, CAMDEN, BARNET, CAMDEN, CAMDEN, BARNET]
    names = ["Belsize", SCRIPT_NAME, "Barnet East", AMP_NAME, "Frognal", "Barnet West"]
    frame = gpd.GeoDataFrame(
        {
            "ward_name": names,
            "borough_code": borough,
            "borough_name": ["Camden" if b == CAMDEN else "Barnet" for b in borough],
        },
        geometry=boxes,
        index=pd.Index(codes, name="ward_code"),
        crs="EPSG:27700",
    )
    return frame.set_geometry(frame.geometry.translate(528_000, 184_000))


def _plan(wards: gpd.GeoDataFrame, need: pd.Series | None = None, *, pool: int = 12) -> PlanResult:
    """A plan of *wards* (need by ward; default the 3x2 grid's) without the data behind it."""
    if need is None:
        need = pd.Series([3.0, 2.5, 1.0, 1.2, 0.0, 2.0], index=wards.index)
    settings = allocation_settings()
    allocation = allocate_wards(need, wards["borough_code"], pool=pool, settings=settings)
    scores = wards[["ward_name", "borough_code", "borough_name"]].copy()
    scores["contribution: harm"] = need * 0.7
    scores["contribution: rate"] = need * 0.3
    scores["need_score"] = need
    scores["rank_london"] = need.rank(ascending=False, method="first").astype(int)
    scores["rank_borough"] = (
        need.groupby(wards["borough_code"]).rank(ascending=False, method="first").astype(int)
    )
    config = shipped_config()
    inputs = SimpleNamespace(
        dataset="synthetic", wards=wards, window=Window("2025-02", "2026-01"), harm=config.harm
    )
    weights, absent = {"harm": 0.7, "rate": 0.3}, ["asb", "forecast", "trend"]
    notes = ["a note from the data"]
    result = NeedResult(inputs, need_settings(), pd.DataFrame(), scores, weights, absent, {}, notes)
    scenario = Scenario.from_config(config).changed(pool=pool, allocation=settings)
    manifest = RunManifest(
        planner_version="0.1.0", created="2026-01-31T09:00:00+0000", dataset="synthetic",
        window_start="2025-02", window_end="2026-01", scenario=scenario.to_dict(),
        harm_index="cchi", weights_used=weights, absent_components=absent, scales={},
        forecast=None, forecast_note="off", notes=notes, wards_scored=len(scores), data=[],
        ward_counts_cache="", equity=allocation.equity,
    )  # fmt: skip
    return PlanResult(result, allocation, scenario, manifest)


def _priorities() -> BoroughPriorities:
    proposed = pd.DataFrame(
        {"rank": [1, 2], "candidate": ["Burglary", "Robbery"], "sentence": PROPOSED, "why": WHY}
    )
    evidence = proposed.assign(borough_code=CAMDEN, status=["qualifies: 16 %", "qualifies: 16 %"])
    basket = pd.DataFrame({"item": ["Domestic abuse"], "sentence": BASKET})
    return BoroughPriorities(
        CAMDEN,
        "Camden",
        Window("2025-02", "2026-01"),
        evidence,
        proposed,
        basket,
        notes=["Anti-social behaviour is not a candidate: this data has no ASB records"],
    )


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <title> elements of the SVG."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


@pytest.fixture(scope="module")
def wards() -> gpd.GeoDataFrame:
    return _wards()


@pytest.fixture(scope="module")
def plan(wards) -> PlanResult:
    return _plan(wards)


@pytest.fixture(scope="module")
def page(plan) -> str:
    return borough_pack_html(plan, "camden", priorities=_priorities(), config=shipped_config())


@pytest.fixture(scope="module")
def parsed(page) -> _Tags:
    parser = _Tags()
    parser.feed(page)
    return parser


def test_title_and_facts(page):
    assert "<title>Camden: neighbourhood policing pack</title>" in page
    for fact in ("2025-02 to 2026-01", "synthetic", "Cambridge Crime Harm Index",
                 "2026-01-31T09:00:00+0000", "0.1.0"):  # fmt: skip
        assert fact in page


def test_every_ward_of_the_borough_and_no_other(page, wards):
    for code, row in wards.iterrows():
        present = html.escape(row["ward_name"]) in page
        assert present == (row["borough_code"] == CAMDEN), row["ward_name"]
        assert (f'data-ward-code="{code}"' in page) == (row["borough_code"] == CAMDEN)


def test_ward_names_are_escaped(page, parsed):
    assert "<script" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; Ward" in page
    assert "St Pancras &amp; Somers Town" in page
    assert not [t for t, _ in parsed.tags if t == "script"]
    assert any(SCRIPT_NAME in text for text in parsed.text)  # shown to the reader as text


def test_self_contained(page, parsed):
    assert not [t for t, a in parsed.tags if t in ("link", "img", "iframe", "object")]
    assert not [a for _, a in parsed.tags if "src" in a or "href" in a]
    assert "@media print" in page and "size: A4" in page
    assert "http" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


def test_map_has_one_path_per_ward(parsed, wards, plan):
    camden = wards.index[wards["borough_code"] == CAMDEN]
    paths = [a for t, a in parsed.tags if t == "path"]
    assert sorted(a["data-ward-code"] for a in paths) == sorted(camden)
    assert len([t for t, _ in parsed.tags if t == "svg" and _.get("class") == "map"]) == 1
    extra = plan.allocation.wards["extra"]
    fills = {a["data-ward-code"]: a["fill"] for a in paths}
    # the app's London-wide classes: more extra officers, a later class; equal extras, equal
    # fill; every ward the colour of its class
    classes = classes_for("extra", extra)
    assert fills == classes.colour(extra[camden]).to_dict()
    order = sorted(camden, key=lambda c: extra[c])
    ranks = [classes.colours.index(fills[c]) for c in order]
    assert ranks == sorted(ranks)
    # the hole is a second ring of its ward's path; the islands two sub-paths
    d = {a["data-ward-code"]: a["d"] for a in paths}
    assert d["E05000001"].count("M") == 2 and d["E05000004"].count("M") == 2


def test_map_legend_has_text_labels(page, plan):
    classes = classes_for("extra", plan.allocation.wards["extra"])
    for label in classes.labels:
        assert f"</svg> {html.escape(label)}</li>" in page


def test_rag_status_has_words_beside_colours(page, plan):
    wards = plan.allocation.wards
    camden = wards[wards["borough_code"] == CAMDEN]
    for _, row in camden.iterrows():
        band = ward_status(row)
        assert f'<td class="rag {band.css}">{band.colour}: {band.label}</td>' in page
    assert "Grey: no extras due under the policy" in page  # Frognal has no need: none due


def test_rounding_is_never_red(plan, page):
    """A ward under or over only because officers are whole is Green, whatever its ratio."""
    wards = plan.allocation.wards
    rounding = wards[(wards["extra"] - wards["policy_quota"]).abs().between(1e-9, 0.999)]
    assert len(rounding), "the synthetic plan should have wards off their policy by rounding"
    for _, row in rounding.iterrows():
        assert ward_status(row).colour == "Green"


def test_a_special_ward_is_said_to_be_special_not_due_nothing(wards):
    from planner.config.plan import SpecialWard

    airport = SpecialWard("E05000001", "Belsize", "the airport's own police", False)
    need = pd.Series([3.0, 2.5, 1.0, 1.2, 0.0, 2.0], index=wards.index)
    settings = allocation_settings(special=(airport,))
    special = dataclasses.replace(
        _plan(wards),
        allocation=allocate_wards(need, wards["borough_code"], pool=12, settings=settings),
    )
    page = borough_pack_html(special, "camden", priorities=_priorities(), config=shipped_config())
    row = page[page.index('<tr data-ward-code="E05000001">') :]
    row = row[: row.index("</tr>")]
    assert '<td class="rag rag-none">Grey: special ward, no extras</td>' in row
    assert "Special ward: Belsize" in page and "the airport&#x27;s own police" in page


def _row(extra, due, moved=0):
    return pd.Series({"extra": extra, "policy_quota": due, "override": moved})


@pytest.mark.parametrize(
    ("row", "band"),
    [
        (_row(0, 0.44), "rounding"),  # Webster: 0.44 rounds to 0, ratio 0
        (_row(2, 1.55), "rounding"),  # ratio 1.29, but under one officer from the policy
        (_row(1, 0.98), "green"),
        (_row(0, 0.0), "none"),
        (_row(3, 2.0, 1), "override_in"),  # a deliberate move, with its reason in the pack
        (_row(0, 1.0, -1), "override_out"),
        (_row(3, 5.0), "red_under"),  # two officers short: under-provision
        (_row(4, 5.0), "amber_under"),
        (_row(6, 5.0), "amber_over"),
        (_row(1, 0.0), "red_over"),
    ],
    ids=[
        *("rounded-to-0", "rounded-up", "on-target", "none-due", "override-in", "override-out"),
        *("two-short", "one-short", "one-over", "none-due-but-one"),
    ],
)
def test_ward_status(row, band):
    assert ward_status(row) == RAG_BANDS[band]


@pytest.mark.parametrize(
    ("ratio", "colour", "label"),
    [
        (1.0, "Green", "on target"),
        (0.9, "Green", "on target"),
        (1.1, "Green", "on target"),
        (0.8999, "Amber", "slightly under"),
        (0.75, "Amber", "slightly under"),
        (1.1001, "Amber", "slightly over"),
        (1.25, "Amber", "slightly over"),
        (0.7499, "Red", "well under"),
        (0.0, "Red", "well under"),
        (1.2501, "Red", "well over"),
        (math.inf, "Red", "well over"),
        (math.nan, "Grey", "no extras due under the policy"),
    ],
    ids=[
        "one",
        "0.9",
        "1.1",
        "just-under-0.9",
        "0.75",
        "just-over-1.1",
        "1.25",
        "just-under-0.75",
        "zero",
        "just-over-1.25",
        "infinite",
        "nan",
    ],
)
def test_rag_bands(ratio, colour, label):
    band = rag_status(ratio)
    assert (band.colour, band.label) == (colour, label)


def test_priorities_and_basket(page):
    for sentence in PROPOSED + BASKET:
        label, _, rest = sentence.partition(": ")
        assert f"<strong>{label}</strong>: {html.escape(rest)}" in page
    assert "Anti-social behaviour is not a candidate" in page


def test_equity_and_methodology(page, plan):
    b = plan.allocation.boroughs.loc[CAMDEN]
    assert f"{int(b['extra'])} of 12 in London" in page
    assert "Share of London&#x27;s extra officers" in page
    assert "London: inversions across boroughs" in page
    assert "No survey figures: no PAS data." in page  # the page was made without the survey
    for text in ("Harm 0.70, Harm per 1,000 0.30", "ASB, Forecast, Trend",
                 "anonymised map points", "ASB: The Met&#x27;s ward files carry no",
                 "Drugs, Possession of weapons", "Resident population misleads",
                 "a note from the data", "Sherman", "days of custody (CCHI)"):  # fmt: skip
        assert text in page


def test_confidence_and_outside_yardsticks_in_the_pack(plan):
    """With the survey panel and the yardsticks, the pack shows both, and says "no data"."""
    from planner.plan.yardsticks import yardsticks

    settings = shipped_config().yardsticks.confidence
    panel = pd.DataFrame(
        {
            "measure": ["Trust MPS", '"Good Job" local'],
            "date": pd.to_datetime(["2023-12-31", "2023-12-31"]),
            "borough": [0.70, 0.41],
            "mps": [0.72, 0.50],
            "gap": [-0.02, -0.09],
            "status": ["close to London", "below London"],
            "previous_date": pd.to_datetime(["2022-12-31", "2022-12-31"]),
            "borough_change": [0.01, -0.05],
            "mps_change": [0.0, -0.02],
        }
    )
    wards = plan.ward_table()
    sticks = yardsticks(
        wards,
        pool=12,
        harm=pd.Series(1.0, index=wards.index),
        residents=pd.Series(5000.0, index=wards.index),
        asb=None,
        deciles=None,
        deciles_note="not these wards",
        settings=settings,
    )
    page = borough_pack_html(
        plan, "camden", priorities=_priorities(), config=shipped_config(),
        confidence=panel, yardsticks=sticks,
    )  # fmt: skip
    assert "Survey quarter ending 31 December 2023" in page
    assert "<td>&quot;Good Job&quot; local</td><td>41 %</td><td>50 %</td><td>-9</td>" in page
    assert "<td>below London</td>" in page
    assert "Share of London&#x27;s crime harm (CCHI)</th><td>66.67 %" in page  # 4 of 6 wards
    assert "Share of London&#x27;s ASB</th><td>no data" in page
    assert "ASB: no data (this dataset has no anti-social behaviour records)." in page


def _cover(page: str) -> str:
    return page[page.index('<section class="cover">') : page.index("</section>")]


def test_the_cover_carries_the_scenario(page, plan):
    cover = _cover(page)
    for text in (
        "synthetic", "2025-02 to 2026-01", "Cambridge Crime Harm Index, in days of custody (CCHI)",
        "<td>12</td>", "Webster / Sainte-Laguë: each ward&#x27;s share of the pool is rounded",
        "Harm 0.70, Harm per 1,000 0.30", plan.scenario.key(), "0.1.0",
        "Cap per ward", "Borough floor", "Baseline team",
    ):  # fmt: skip
        assert text in cover, text
    assert "Agreed priorities: not shown (no plan register was read for this pack)" in cover


def test_one_harm_index_throughout(plan):
    """The scenario's index is the one named: a CSS scenario never says CCHI or Cambridge."""
    css = dataclasses.replace(
        plan, need=dataclasses.replace(plan.need, settings=need_settings(harm_index="css"))
    )
    page = borough_pack_html(css, "camden", priorities=_priorities(), config=shipped_config())
    assert "Crime Severity Score" in page and "(CSS)" in page
    assert "CCHI" not in page and "Cambridge" not in page


def _record(plan) -> MeetingRecord:
    """Two recorded overrides of Camden (the 3x2 grid's wards) and two agreements."""
    frame = pd.DataFrame(
        {
            "id": [3, 7],
            "from_ward": ["E05000001", "E05000002"],
            "to_ward": ["E05000005", "E05000004"],
            "officers": [1, 9],
            "reason": ["Night-time economy <b>on the high street</b>", "Too many"],
            "recorded_by": ["Ch Supt A & B", "Ch Supt A"],
            "recorded_at": pd.to_datetime(["2026-03-02 10:00", "2026-03-03 10:00"], utc=True),
        }
    )
    agreed = {
        "priorities": ["Burglary", "Personal robbery"], "agreed_by": "Commander & leader",
        "agreed_at": pd.Timestamp("2026-04-12 09:00", tz="UTC"), "notes": "April <meeting>",
        "recorded_by": "local planner",
    }  # fmt: skip
    previous = {**agreed, "priorities": ["Burglary", "Robbery"], "notes": ""}
    return MeetingRecord(year=2026, agreed=agreed, previous=previous, overrides=frame)


def test_agreed_priorities_and_overrides_are_the_meetings_record(plan):
    first = Override(
        CAMDEN, "E05000001", "E05000005", 1, "Night-time economy <b>on the high street</b>"
    )
    moved = dataclasses.replace(
        plan,
        allocation=apply_overrides(plan.allocation, [first]),
        scenario=dataclasses.replace(plan.scenario, overrides=(first,)),
        skipped_overrides=[{"override": 7, "why not applied": "the ward has only 2 extras"}],
    )
    page = borough_pack_html(
        moved, "camden", priorities=_priorities(), config=shipped_config(), record=_record(plan)
    )
    assert "<h3>Agreed priorities (plan register)</h3>" in page
    assert "<strong>Agreed for 2026</strong> by Commander &amp; leader on 12 April 2026" in page
    assert "<li>Burglary</li><li>Personal robbery</li>" in page
    assert "<strong>Agreed for 2025</strong>" in page and "<li>Robbery</li>" in page
    assert "Notes: April &lt;meeting&gt;" in page
    assert "Night-time economy &lt;b&gt;on the high street&lt;/b&gt;" in page
    assert "<td>Belsize</td><td>Frognal</td><td>1</td>" in page  # names, not codes
    assert "<td>applied</td>" in page
    assert "<td>not applied: the ward has only 2 extras</td>" in page
    # the wards moved by the override are Blue, not Red
    assert page.count('<td class="rag rag-override">Blue: override, moved') == 2
    cover = _cover(page)
    assert "Agreed for 2026: Burglary and Personal robbery, by Commander &amp; leader" in cover
    assert "2 recorded for the borough in the plan register, 1 applied in this plan" in cover


def test_nothing_agreed_yet_is_said(plan):
    record = dataclasses.replace(_record(plan), agreed=None, overrides=_record(plan).overrides[:0])
    page = borough_pack_html(
        plan, "camden", priorities=_priorities(), config=shipped_config(), record=record
    )
    assert "<strong>2026:</strong> nothing recorded yet: the proposals below are for this" in page
    assert "Agreed for 2026: nothing recorded yet; for this meeting to agree." in page
    assert "None recorded." in page


def test_unknown_borough(plan):
    with pytest.raises(DataError, match="no borough called 'Narnia'"):
        borough_pack_html(plan, "Narnia", priorities=_priorities(), config=shipped_config())


def test_the_pack_says_why_each_priority_why_fewer_and_what_was_left_out(plan):
    for text in WHY:
        assert html.escape(text) in borough_pack_html(
            plan, "camden", priorities=_priorities(), config=shipped_config()
        )
    fewer = dataclasses.replace(
        _priorities(),
        proposed=_priorities().proposed.iloc[:1],
        shortfall="Only 1 local priority is proposed, not 2: only Burglary carries at least 5 %",
        near_tie="Near tie for the second priority: Robbery & Violence are 3 % apart",
        left_out=["Heathrow Villages left out: Heathrow Airport <SO18>"],
    )
    page = borough_pack_html(plan, "camden", priorities=fewer, config=shipped_config())
    for text in (fewer.shortfall, fewer.near_tie, fewer.left_out[0]):
        assert html.escape(text) in page
    assert "qualifies: 16 %" in page  # each candidate's status in the evidence table
    none = dataclasses.replace(fewer, proposed=fewer.proposed.iloc[:0])
    page = borough_pack_html(plan, "camden", priorities=none, config=shipped_config())
    assert html.escape(fewer.shortfall) in page
    assert "No candidate has evidence in this data." not in page  # the shortfall says why


def test_priorities_failure_is_said_in_the_pack(plan):
    why = "The local priorities could not be computed for this pack: no evidence"
    page = borough_pack_html(plan, "E09000007", config=shipped_config(), priorities=why)
    assert why in page


def test_write_pack(tmp_path, plan):
    paths = write_borough_pack(
        plan, "Camden", tmp_path, config=shipped_config(), priorities=_priorities()
    )
    assert paths == [tmp_path / "Camden_pack.html"]
    assert "Camden" in paths[0].read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Camden_pack.html"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("no_playwright", r"needs Playwright \(pip install playwright\).*Fix: install Chromium"),
        ("bad_chromium", r"PLANNER_CHROMIUM=/nowhere/chromium is not a file.*Fix:"),
    ],
    ids=["no-playwright", "bad-chromium-path"],
)
def test_pdf_without_chromium_names_the_fix_and_writes_nothing(
    tmp_path, plan, monkeypatch, setup, message
):
    (tmp_path / "Camden_pack.html").write_text("previous pack", encoding="utf-8")
    if setup == "no_playwright":
        monkeypatch.setitem(sys.modules, "playwright.sync_api", None)  # import fails
    else:
        monkeypatch.setenv("PLANNER_CHROMIUM", "/nowhere/chromium")
    with pytest.raises(PdfUnavailable, match=message):
        write_borough_pack(
            plan, "Camden", tmp_path, config=shipped_config(), priorities=_priorities(), pdf=True
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Camden_pack.html"]  # the set: none
    assert (tmp_path / "Camden_pack.html").read_text(encoding="utf-8") == "previous pack"


def test_write_pack_is_atomic(tmp_path, plan, monkeypatch):
    target = tmp_path / "Camden_pack.html"
    target.write_text("previous pack", encoding="utf-8")

    def broken(self, *args, **kwargs):
        raise OSError(28, "No space left on device", str(self))

    monkeypatch.setattr(Path, "write_text", broken)
    with pytest.raises(ExportError, match=r"cannot write .*Camden_pack.html.*Fix: free space"):
        write_borough_pack(
            plan, "Camden", tmp_path, config=shipped_config(), priorities=_priorities()
        )
    monkeypatch.undo()
    assert target.read_text(encoding="utf-8") == "previous pack"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Camden_pack.html"]  # no temp file


@pytest.mark.integration
def test_pack_on_the_real_2022_wards(real_config, met_inputs, tmp_path):
    config, inputs = real_config, met_inputs  # ../shared/data, with the session's cache
    scenario = Scenario.from_config(config).changed(use_forecast=False)
    plan = api.plan(inputs, scenario)
    paths = api.write_borough_pack(plan, "Kensington & Chelsea", tmp_path / "out", config=config)
    assert [p.name for p in paths] == ["Kensington and Chelsea_pack.html"]
    page = paths[0].read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(page)
    mine = plan.need.scores[plan.need.scores["borough_name"] == "Kensington and Chelsea"]
    assert len(mine) > 10
    assert all(html.escape(name) in page for name in mine["ward_name"])
    paths_drawn = [a["data-ward-code"] for t, a in parser.tags if t == "path"]
    assert sorted(paths_drawn) == sorted(mine.index)
    assert "<h3>Proposed local priorities</h3>" in page and "times the London rate" in page
    # the app passes the evidence of every borough it has cached: the same page
    cached = api.borough_pack(plan, "E09000020", config=config, london=api.evidence(inputs, config))
    assert cached == page
    extra = plan.allocation.wards.loc[mine.index, "extra"]
    assert np.isin(extra, np.arange(extra.max() + 1)).all()
    assert f"{int(extra.sum())} of {scenario.pool} in London" in page


@pytest.mark.integration
def test_a_css_scenario_names_css_throughout_the_real_pack(real_config, met_inputs):
    """The priorities are computed under the scenario's index: no CCHI in a CSS pack."""
    scenario = Scenario.from_config(real_config).changed(use_forecast=False, harm_index="css")
    plan = api.plan(met_inputs, scenario)
    page = api.borough_pack(plan, "Lambeth", config=real_config)
    assert "harm shares use the ONS Crime Severity Score" in page  # the priorities' own note
    assert "CCHI" not in page and "Cambridge" not in page
