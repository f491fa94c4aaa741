"""Ward-months without data are missing, never zeros: rates from the months present.

ingest's coverage table (:func:`planner.ingest.coverage.ward_month_status`) says which
ward-months a source reports on. A ward-month without data (an empty police.uk answer, a month a
source skipped, a borough a point source does not cover) has no ward_counts row, exactly like a
true zero; read as zero it would lower the ward's harm and fake a fall in its trend. The model
therefore measures each ward over the months it has data for and states the share:

- :func:`months_present`: per ward, the months of a window with data;
- :func:`window_scale`: the factor turning the sum over the months present into the window's
  equivalent (``len(window) / months present``; NaN for a ward without any month of data);
- :func:`missing_note`: the sentence the notes carry when some ward-months have no data.

With every ward-month covered the factor is 1 and nothing changes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.model.window import Window

__all__ = ["missing_note", "months_present", "window_scale"]


def months_present(status: pd.DataFrame | None, wards: pd.Index, window: Window) -> np.ndarray:
    """Months of *window* with data, per ward of *wards* (in their order).

    Parameters
    ----------
    status
        Wards x months, True where some source has data (``ward_month_status``); None or empty
        when the data carry no coverage (every ward-month then counts as present).
    wards
        The wards measured.
    window
        The months.

    Returns
    -------
    numpy.ndarray
        Integer months per ward, 0 to ``len(window)``. A ward or month the table does not list
        has no data.
    """
    if status is None or status.empty:
        return np.full(len(wards), len(window), dtype=np.int64)
    grid = status.reindex(index=wards.astype(str), columns=window.months, fill_value=False)
    return grid.fillna(False).astype(bool).to_numpy().sum(axis=1).astype(np.int64)


def window_scale(present: np.ndarray, window: Window) -> np.ndarray:
    """``len(window) / present`` (the full-window equivalent of a sum); NaN where 0 present."""
    present = np.asarray(present, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(present > 0, len(window) / present, np.nan)


def missing_note(present: np.ndarray, window: Window, what: str = "crime") -> str:
    """The note for the wards of *present* lacking some months of *window*, or ""."""
    total = len(present) * len(window)
    missing = int(total - np.asarray(present).sum())
    if not total or not missing:
        return ""
    short = int((np.asarray(present) < len(window)).sum())
    none = int((np.asarray(present) == 0).sum())
    return (
        f"{what}: {missing:,} of {total:,} ward-months of the window {window.label} "
        f"({missing / total:.1%}) have no data (missing, not zero; {short} wards affected, "
        f"{none} without any month): their volumes and rates are measured over the months "
        "present and scaled to the window (column data_share)"
    )
