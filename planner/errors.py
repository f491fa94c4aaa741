"""The planner's exceptions: one small public hierarchy.

Every message names the input (file, row or feature, column), what was expected,
what was found, and the fix. Callers catch :class:`PlannerError` to turn any
domain problem into a message for a person (the CLI exits 2, the app shows
``st.error``); anything else is a bug.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "FetchError",
    "InfeasibleAllocationError",
    "PlannerError",
    "PlannerWarning",
]


class PlannerError(Exception):
    """Base class of every error the planner raises on purpose."""


class ConfigError(PlannerError, ValueError):
    """A configuration file or option is missing, unknown or out of range."""


class DataError(PlannerError, ValueError):
    """An input file cannot be used as it is (columns, values, encoding, geometry)."""


class FetchError(PlannerError, OSError):
    """Downloading or importing the source files failed."""


class InfeasibleAllocationError(PlannerError, ValueError):
    """The allocation constraints cannot all be met with the pool given."""


class PlannerWarning(UserWarning):
    """A recoverable data problem; it is also carried into the data-quality report."""
