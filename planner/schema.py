"""Column names, categories and reasons: the one place they are spelled.

The canonical intermediate of the planner is the tidy *ward_counts* table
(:data:`WARD_COUNTS_COLUMNS`). Every source reduces to it: point incidents
through the spatial join, pre-aggregated ward files directly.
"""

from __future__ import annotations

from typing import Final

# --- wards -----------------------------------------------------------------
WARD_CODE: Final = "ward_code"
WARD_NAME: Final = "ward_name"
BOROUGH_CODE: Final = "borough_code"
BOROUGH_NAME: Final = "borough_name"
WARD_COLUMNS: Final = (WARD_NAME, BOROUGH_CODE, BOROUGH_NAME)  # plus geometry; index ward_code

WORKING_CRS: Final = "EPSG:27700"  # British National Grid, metres
DISPLAY_CRS: Final = "EPSG:4326"  # folium and GeoJSON export only
CITY_OF_LONDON: Final = "E09000001"
HEATHROW_VILLAGES: Final = "E05013570"

# --- canonical incident rows (every point source reduces to these) -----------
INCIDENT_ID: Final = "incident_id"
MONTH: Final = "month"  # "YYYY-MM"
CATEGORY: Final = "category"  # one of CATEGORIES
SUBCATEGORY: Final = "subcategory"  # "" where the source has none
X: Final = "x"  # easting, EPSG:27700
Y: Final = "y"  # northing, EPSG:27700
SOURCE: Final = "source"  # the file (and archive member) the row came from
SOURCE_ROW: Final = "source_row"  # 1-based data row within SOURCE (header not counted)
INCIDENT_COLUMNS: Final = (INCIDENT_ID, MONTH, CATEGORY, SUBCATEGORY, X, Y, SOURCE, SOURCE_ROW)

# --- ward_counts: the canonical table ------------------------------------
COUNT: Final = "count"
WARD_COUNTS_COLUMNS: Final = (WARD_CODE, MONTH, CATEGORY, SUBCATEGORY, COUNT)
# A reader's counts also say which rows came through a fallback mapping (an unlisted Met minor
# taking its major's category): reported on their own line, dropped from ward_counts.
FALLBACK: Final = "fallback"

# Extra measures kept beside ward_counts (e.g. the Met dashboard's high-harm series).
MEASURE: Final = "measure"
WARD_MEASURES_COLUMNS: Final = (WARD_CODE, MONTH, MEASURE, COUNT)

# --- rejects ------------------------------------------------------------------
REASON: Final = "reason"
DETAIL: Final = "detail"
REJECT_COLUMNS: Final = (SOURCE, SOURCE_ROW, INCIDENT_ID, MONTH, CATEGORY, REASON, DETAIL, COUNT)
ORIGIN: Final = "origin"  # the configured source (path) a reject or quality row belongs to

REASON_NO_COORDINATES: Final = "no_coordinates"
REASON_OUTSIDE_GB: Final = "outside_great_britain"
REASON_LAT_LON_SWAPPED: Final = "latitude_longitude_swapped"
REASON_OUTSIDE_WARDS: Final = "outside_every_ward"
REASON_UNKNOWN_CATEGORY: Final = "unknown_category"
REASON_BAD_MONTH: Final = "unparseable_month"
REASON_FUTURE_MONTH: Final = "month_in_the_future"
REASON_UNKNOWN_WARD: Final = "ward_code_not_in_boundaries"
REASON_OUTSIDE_MONTHS: Final = "month_outside_selected_range"
REASON_EXCLUDED_CATEGORY: Final = (
    "category_excluded_by_config"  # e.g. fraud: not a police.uk category
)
REASON_NOT_TAKEN: Final = "category_not_taken_from_source"  # a source's categories / exclude
REJECT_REASONS: Final = (
    REASON_NO_COORDINATES,
    REASON_OUTSIDE_GB,
    REASON_LAT_LON_SWAPPED,
    REASON_OUTSIDE_WARDS,
    REASON_UNKNOWN_CATEGORY,
    REASON_BAD_MONTH,
    REASON_FUTURE_MONTH,
    REASON_UNKNOWN_WARD,
    REASON_OUTSIDE_MONTHS,
    REASON_EXCLUDED_CATEGORY,
    REASON_NOT_TAKEN,
)

# How a point reached its ward (spatial join).
JOINED_INSIDE: Final = "inside"
JOINED_NEAREST: Final = "nearest"

# --- the 14 police.uk categories --------------------------------------------
ASB: Final = "Anti-social behaviour"
CATEGORIES: Final = (
    ASB,
    "Bicycle theft",
    "Burglary",
    "Criminal damage and arson",
    "Drugs",
    "Other crime",
    "Other theft",
    "Possession of weapons",
    "Public order",
    "Robbery",
    "Shoplifting",
    "Theft from the person",
    "Vehicle crime",
    "Violence and sexual offences",
)
CRIME_CATEGORIES: Final = tuple(c for c in CATEGORIES if c != ASB)  # ASB is never crime

# Met subcategories whose editions differ: older editions publish stalking and harassment inside
# violence without injury; such a file's violence without injury becomes the merged subcategory.
SUB_VIOLENCE_WITHOUT_INJURY: Final = "violence without injury"
SUB_STALKING_HARASSMENT: Final = "stalking and harassment"
SUB_VIOLENCE_WITHOUT_INJURY_MERGED: Final = "violence without injury incl. stalking and harassment"

# --- coverage: which ward-months a source has data for (beside ward_counts) ----------------
PART: Final = "part"  # what a source supplies: PART_CRIME, PART_ASB or PART_MEASURES
PART_CRIME: Final = "crime"
PART_ASB: Final = "asb"
PART_MEASURES: Final = "measures"
STATUS: Final = "status"
STATUS_DATA: Final = "data"
STATUS_NO_DATA: Final = "no data"
COVERAGE_COLUMNS: Final = (WARD_CODE, MONTH, SOURCE, PART, STATUS)

# --- need scores (planner.model.scoring) ----------------------------------------------
NEED_SCORE: Final = "need_score"
MISSING_COMPONENTS: Final = "missing components"  # per ward: components scored as "no data"
RANK_LONDON: Final = "rank_london"
RANK_BOROUGH: Final = "rank_borough"
SCORE_COLUMNS: Final = (NEED_SCORE, RANK_LONDON, RANK_BOROUGH)

# --- allocation tables (planner.plan.allocation) ---------------------------------------
# Output columns of the ward and borough tables (besides WARD_CODE / BOROUGH_CODE).
ELIGIBLE: Final = "eligible"
NEED: Final = "need"
NEED_SHARE: Final = "need_share"
QUOTA: Final = "quota"
BASELINE_DWO: Final = "baseline_dwo"
BASELINE_PCSO: Final = "baseline_pcso"
EXTRA: Final = "extra"
TOTAL_DWO: Final = "total_dwo"
OFFICER_SHARE: Final = "officer_share"
SHARE_GAP: Final = "share_gap"
TARGET_RATIO: Final = "target_ratio"
OUTSIDE_QUOTA: Final = "outside_quota"
POLICY_QUOTA: Final = "policy_quota"  # the policy's unrounded extras (rounding = extra - it)
ROUNDING: Final = "rounding"
CURRENT_DWO: Final = "current_dwo"  # the current team, from a current-staffing file
CURRENT_PCSO: Final = "current_pcso"
CURRENT_EXTRA: Final = "current_extra"
CHANGE: Final = "change"
N_WARDS: Final = "n_wards"
TARGET: Final = "target"
RATIO: Final = "ratio"
FLOOR: Final = "floor"
MET_FLOOR: Final = "met_floor"
