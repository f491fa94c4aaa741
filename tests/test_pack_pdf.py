"""The borough pack as a PDF: printed by headless Chromium, every page rendered to PNG.

Each test writes the pack with ``pdf=True`` (:func:`planner.outputs.pack.write_borough_pack`),
renders every page of the PDF to PNG with pypdfium2 and reads each page's text back, then
checks what a reader of the printed pack sees: the cover page carries the scenario, the
agreed priorities and the overrides with their reasons are there, and no page holds fewer
than three rows of the allocation table unless they are the table's last rows.

Skipped with the reason where Playwright, pypdfium2 or Chromium are missing (under CI, with
``CI`` set, a missing prerequisite fails instead); the Lambeth test also needs
``../shared/data``.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from planner import api
from planner.outputs.pack import write_borough_pack
from planner.outputs.pdf import chromium_path
from planner.plan.overrides import Override, apply_overrides
from planner.register.store import PlanRegister
from planner.scenario import Scenario
from tests.factories import shipped_config
from tests.test_report import _plan, _priorities, _record

pytestmark = [pytest.mark.browser]

CAMDEN = "E09000007"
WARD_CODE = re.compile(r"E05\d{6}")


def _prerequisites() -> str:
    missing = [m for m in ("playwright", "pypdfium2") if importlib.util.find_spec(m) is None]
    if missing:
        return f"needs {' and '.join(missing)} (pip install {' '.join(missing)})"
    if chromium_path() is None:
        return "needs Chromium (/usr/bin/chromium or PLANNER_CHROMIUM)"
    return ""


@pytest.fixture(autouse=True)
def _chromium() -> None:
    why = _prerequisites()
    if why and os.environ.get("CI"):
        pytest.fail(f"the PDF test {why}; CI installs it")
    if why:
        pytest.skip(why)


def _pages(pdf: Path, out: Path) -> list[str]:
    """Render every page of *pdf* to ``out/page-N.png``; return each page's text."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(str(pdf))
    texts = []
    try:
        for i, page in enumerate(doc, start=1):
            image = page.render(scale=1.0).to_pil()
            image.save(out / f"page-{i}.png")
            pixels = np.asarray(image.convert("L"))
            assert pixels.shape[0] > pixels.shape[1] > 500, "an A4 portrait page"
            assert (pixels < 128).mean() > 0.002, f"page {i} renders blank"
            texts.append(page.get_textpage().get_text_range())
    finally:
        doc.close()
    return texts


def _stranded(texts: list[str], codes: list[str]) -> list[str]:
    """Pages holding 1 or 2 rows of the allocation table that are not its last rows.

    Ward codes are printed only in the allocation table (under each ward's name), so the
    codes of the borough's wards on a page are the table rows on it.
    """
    last = codes[-1]
    found = []
    for number, text in enumerate(texts, start=1):
        rows = [c for c in WARD_CODE.findall(text) if c in codes]
        if 0 < len(rows) < 3 and last not in rows:
            found.append(f"page {number}: {len(rows)} row(s) {rows}")
    return found


def _table_order(page_html: str) -> list[str]:
    return re.findall(r'<tr data-ward-code="(E05\d{6})">', page_html)


def _big_borough() -> gpd.GeoDataFrame:
    """Camden as a grid of 8 x 7 = 56 wards (a table of several pages), Barnet one ward."""
    boxes, codes = [], []
    for i in range(57):
        x, y = (i % 8, i // 8) if i < 56 else (9, 0)
        boxes.append(shapely.box(x * 500, y * 500, x * 500 + 500, y * 500 + 500))
        codes.append(f"E05{i + 100001:06d}")
    borough = [CAMDEN] * 56 + ["E09000003"]
    frame = gpd.GeoDataFrame(
        {
            "ward_name": [f"Ward {i + 1}" for i in range(56)] + ["Barnet East"],
            "borough_code": borough,
            "borough_name": ["Camden"] * 56 + ["Barnet"],
        },
        geometry=boxes,
        index=pd.Index(codes, name="ward_code"),
        crs="EPSG:27700",
    )
    return frame.set_geometry(frame.geometry.translate(528_000, 184_000))


def test_pdf_of_a_synthetic_pack(tmp_path):
    wards = _big_borough()
    need = pd.Series(np.linspace(3.0, 0.1, len(wards)), index=wards.index)
    plan = _plan(wards, need, pool=60)
    first, second = wards.index[0], wards.index[40]
    moved = Override(CAMDEN, first, second, 1, "Night-time economy on the high street")
    plan = dataclasses.replace(
        plan,
        allocation=apply_overrides(plan.allocation, [moved]),
        scenario=dataclasses.replace(plan.scenario, overrides=(moved,)),
    )
    record = dataclasses.replace(
        _record(plan),
        overrides=_record(plan).overrides.assign(
            from_ward=[first, wards.index[1]], to_ward=[second, wards.index[2]],
            reason=[moved.reason, "Too many"],
        ),
    )  # fmt: skip
    paths = write_borough_pack(
        plan, "Camden", tmp_path, config=shipped_config(), priorities=_priorities(),
        record=record, pdf=True,
    )  # fmt: skip
    assert [p.name for p in paths] == ["Camden_pack.html", "Camden_pack.pdf"]
    texts = _pages(paths[1], tmp_path)
    assert len(texts) >= 4 and len(list(tmp_path.glob("page-*.png"))) == len(texts)
    cover = " ".join(texts[0].split())
    for text in ("The scenario", "synthetic", "2025-02 to 2026-01", "Cambridge Crime Harm Index",
                 "Webster / Sainte-Laguë", plan.scenario.key(), "Borough floor"):  # fmt: skip
        assert text in cover, text
    assert WARD_CODE.search(texts[0]) is None, "the cover holds no table rows"
    everything = " ".join(" ".join(texts).split())
    for text in ("Agreed for 2026", "Burglary", "Personal robbery", "Commanders' overrides",
                 "Night-time economy on the high street", "Too many", "not applied"):  # fmt: skip
        assert text in everything, text
    order = _table_order(paths[0].read_text(encoding="utf-8"))
    assert len(order) == 56
    assert _stranded(texts, order) == []
    assert all(any(code in t for t in texts) for code in order), "every row printed"


@pytest.mark.integration
def test_pdf_of_the_lambeth_pack(real_config, met_inputs, tmp_path):
    """The real Lambeth pack, with an override and an agreement in a throw-away register."""
    config = real_config
    register = PlanRegister.from_config(config, url=f"sqlite:///{tmp_path / 'register.db'}")
    scenario = Scenario.from_config(config).changed(use_forecast=False)
    plan = api.plan(met_inputs, scenario)
    wards = plan.allocation.wards
    lambeth = wards[wards["borough_code"] == "E09000022"].sort_values("extra")
    reason = "Night-time economy: the commander keeps a DWO on the high street"
    register.record_override(
        "E09000022", lambeth.index[-1], lambeth.index[0], 1, reason,
        wards_in_borough=set(lambeth.index),
    )  # fmt: skip
    year = api.plan_year(met_inputs.window.end)
    register.record_priorities(
        "E09000022", "Lambeth", year, ["Burglary", "Personal robbery"],
        agreed_by="Borough commander and council leader",
    )  # fmt: skip
    plan = api.plan(met_inputs, scenario, register=register)
    out = tmp_path / "packs"
    paths = api.write_borough_pack(plan, "Lambeth", out, config=config, pdf=True, register=register)
    texts = _pages(paths[1], out)
    cover = " ".join(texts[0].split())
    for text in ("Lambeth", "The scenario", "met-2022", plan.scenario.key(),
                 f"Agreed for {year}: Burglary and Personal robbery"):  # fmt: skip
        assert text in cover, text
    everything = " ".join(" ".join(texts).split())
    assert reason in everything and "applied" in everything
    order = _table_order(paths[0].read_text(encoding="utf-8"))
    assert len(order) == len(lambeth)
    assert _stranded(texts, order) == []
    assert "Red: well under" not in everything.replace("Red: well under Red: well over", "")
