"""Categories mapped robustly and loudly (issue 11, item 2), and sources taking some only (item 5).

Older Met ward files use Title Case, an older taxonomy and names cut at 50 characters; newer
editions rename labels. Matching ignores case and spaces and accepts cut names; an unknown minor
of a listed major takes the major's fallback (counted as such); every unknown or fallback name is
shown with its records in the console report and quality.json; a file of another taxonomy (more
unknown records than ``max_unknown_share``) stops ingest, naming the names and the line to add.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from planner import schema as s
from planner.config import SourceSpec
from planner.errors import DataError
from planner.ingest import ingest
from planner.ingest.quality import format_quality
from tests.factories import api_archive, api_crime, grid_dataset, met_ward_csv, ward_centre_lonlat

WARD_1, WARD_2 = "E05000001", "E05000002"
MONTHS = ["201801", "201802"]
CUT = "Making, Supplying or Possessing Articles for use i"  # 50 characters, as published


@pytest.fixture
def categories(config):
    return config.categories


@pytest.mark.parametrize(
    ("major", "minor", "target", "how"),
    [
        ("Theft", "Theft from Person", ("Theft from the person", "theft from the person"), "exact"),
        ("Burglary", "Domestic Burglary", ("Burglary", "residential"), "exact"),
        ("  drug   offences ", "possession of drugs", ("Drugs", "possession"), "exact"),
        (
            "Possession of Weapons",
            "Possession of Article with Blade or Point",
            ("Possession of weapons", "possession of weapons"),
            "exact",
        ),
        ("BURGLARY", "BURGLARY NON-DWELLING", ("Burglary", "business and community"), "exact"),
        (
            "Miscellaneous Crimes Against Society",
            CUT,
            ("Other crime", "miscellaneous crimes against society"),
            "cut",
        ),
        ("Vehicle Offences", "A Vehicle Minor No Table Has", ("Vehicle crime", ""), "fallback"),
        ("Theft", "A Theft Minor No Table Has", None, "unknown"),
    ],
    ids=[
        "title-case",
        "old-label",
        "spaces",
        "weapons",
        "newer-label",
        "cut-at-50",
        "fallback",
        "theft-has-no-fallback",
    ],
)
def test_met_names_match_whatever_the_case_spaces_or_cut(categories, major, minor, target, how):
    assert len(CUT) == 50
    assert categories.mps_pair(major, minor) == (target, how)


def test_a_short_prefix_is_not_taken_for_a_cut_name(categories):
    # only names of 49+ characters may have been cut: "Theft from" is not "Theft from Person"
    assert categories.mps_pair("Theft", "Theft from") == (None, "unknown")


def older_edition_rows(unknown: int) -> list[tuple[str, str, str, list[int]]]:
    """A Title Case, older-taxonomy Met file on the grid wards, with *unknown* theft records of
    a name no table has."""
    return [
        ("Theft", "Theft from Person", WARD_1, [7, 3]),
        ("Possession of Weapons", "Possession of Article with Blade or Point", WARD_1, [2, 0]),
        ("Miscellaneous Crimes Against Society", CUT, WARD_2, [4, 1]),
        ("Vehicle Offences", "Vehicle Interference Old Label", WARD_2, [5, 5]),
        ("Burglary", "Domestic Burglary", WARD_2, [300, 300]),
        ("Theft", "Theft Unknown Old Label", WARD_1, [unknown, 0]),
    ]


def met_dataset(tmp_path, rows):
    config = grid_dataset(tmp_path, [SourceSpec(kind="mps_ward", path="met.csv")])
    (tmp_path / "data" / "met.csv").write_text(met_ward_csv(rows, MONTHS))
    return config


def test_older_met_edition_is_mapped_and_fallbacks_counted_and_shown(tmp_path):
    config = met_dataset(tmp_path, older_edition_rows(unknown=1))
    result = ingest(config, use_cache=False)
    counts = result.ward_counts.astype({s.CATEGORY: str})
    by_cat = counts.groupby(s.CATEGORY, observed=True)[s.COUNT].sum()
    assert by_cat["Theft from the person"] == 10  # not vanished
    assert by_cat["Possession of weapons"] == 2
    assert by_cat["Other crime"] == 5  # the name cut at 50 characters
    assert by_cat["Vehicle crime"] == 10  # by its major's fallback
    (src,) = result.quality["sources"]
    assert src["totals"]["counted_fallback"] == 10
    assert src["totals"]["rejected_unknown_category"] == 1
    names = src["names"]
    assert names["fallback"] == [
        {
            "name": "Vehicle Offences | Vehicle Interference Old Label",
            "mapped_to": "Vehicle crime",
            "records": 10,
        }
    ]
    assert names["cut"] == [
        {
            "name": f"Miscellaneous Crimes Against Society | {CUT}",
            "mapped_to": "Other crime | miscellaneous crimes against society",
            "records": 5,
        }
    ]
    assert names["unknown"] == [{"name": "Theft | Theft Unknown Old Label", "records": 1}]
    assert result.quality["conservation_ok"]
    line = pd.DataFrame(result.quality["by_month"]).set_index(s.MONTH).loc["2018-01"]
    assert line["counted_fallback"] == 5 and line["balance"] == 0  # its own line, balanced
    text = format_quality(result.quality)
    assert (
        "met.csv: fallback mappings: 'Vehicle Offences | Vehicle Interference Old Label' -> "
        "'Vehicle crime' 10" in text
    )
    assert "met.csv: unknown names: 'Theft | Theft Unknown Old Label' 1" in text
    assert "names cut at 50 characters, matched: 'Miscellaneous Crimes Against Society" in text


def test_unknown_names_over_the_limit_stop_ingest_naming_them_and_the_line(tmp_path):
    rows = older_edition_rows(unknown=40)  # 40 of 679 records (5.9 %) > 0.5 %
    rows.append(("Theft", "Another Unknown Theft", WARD_2, [3, 0]))
    config = met_dataset(tmp_path, rows)
    total = sum(sum(v) for *_, v in rows)
    with pytest.raises(DataError) as info:
        ingest(config, use_cache=False)
    message = str(info.value)
    assert f"43 of {total:,} records ({43 / total:.1%}) carry category names" in message
    assert "max_unknown_share (0.5%)" in message
    assert (
        "Unknown names: 'Theft | Theft Unknown Old Label' (40 records); "
        "'Theft | Another Unknown Theft' (3 records)." in message
    )
    assert "Add them under [mps.minor] in " in message and "categories.toml" in message
    assert (
        '"Theft | Theft Unknown Old Label" = ["<police.uk category>", "<subcategory>"]' in message
    )


def test_the_unknown_share_limit_is_configured(tmp_path):
    config = met_dataset(tmp_path, older_edition_rows(unknown=40))
    looser = dataclasses.replace(config.categories, max_unknown_share=0.10)
    result = ingest(dataclasses.replace(config, categories=looser), use_cache=False)
    (src,) = result.quality["sources"]
    assert src["totals"]["rejected_unknown_category"] == 40  # carried on, and counted


# --- a source taking some categories only (item 5) ------------------------------------------


def api_folder(tmp_path) -> None:
    lonlat = ward_centre_lonlat(WARD_1)
    records = [api_crime(i, "2017-01", "burglary", lonlat) for i in range(1, 6)]
    records += [api_crime(100 + i, "2017-01", "anti-social-behaviour", lonlat) for i in range(3)]
    folder = tmp_path / "data" / "api"
    folder.mkdir(parents=True)
    api_archive(folder / "london_month_2017_01.tar.gz", {"a.json": records})


@pytest.mark.parametrize(
    ("take", "kept", "set_aside"),
    [
        ({"categories": ("Anti-social behaviour",)}, {s.ASB: 3}, {"Burglary": 5}),
        ({"exclude": ("Anti-social behaviour",)}, {"Burglary": 5}, {s.ASB: 3}),
    ],
    ids=["categories", "exclude"],
)
def test_a_source_takes_some_categories_only(tmp_path, take, kept, set_aside):
    api_folder(tmp_path)
    config = grid_dataset(tmp_path, [SourceSpec(kind="police_uk_api", path="api", **take)])
    result = ingest(config, use_cache=False)
    counts = result.ward_counts.astype({s.CATEGORY: str})
    assert counts.groupby(s.CATEGORY)[s.COUNT].sum().to_dict() == kept
    rejects = result.rejects[result.rejects[s.REASON] == s.REASON_NOT_TAKEN]
    assert rejects.groupby(rejects[s.CATEGORY].astype(str))[s.COUNT].sum().to_dict() == set_aside
    assert "config/planner.toml" in str(rejects[s.DETAIL].iloc[0])
    (src,) = result.quality["sources"]
    assert src["totals"][f"rejected_{s.REASON_NOT_TAKEN}"] == sum(set_aside.values())
    assert result.quality["conservation_ok"]
