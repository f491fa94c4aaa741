"""Presentation, once: labels, units, methodology text, number formats and colour classes.

Every page of the app, the printable borough pack, the Excel export and the README generator
take their words and colours from here, so the same thing is called the same everywhere and
the same map is coloured the same way in the app and in the pack. Nothing here reads files or
imports Streamlit or folium; text is plain (callers escape it for HTML or Markdown).

This module is over 400 lines because it holds every user-facing sentence of the planner's
methodology in one place, which is the point of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from planner.config import COMPONENTS, AllocationSettings, HarmIndex, HarmSettings, NeedSettings
from planner.errors import DataError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "CAVEATS",
    "COLOUR_BLIND_SAFE",
    "COMPONENT_LABELS",
    "LAYERS",
    "MAX_CLASSES",
    "METHOD_LABELS",
    "NOT_SCORED_COLOUR",
    "NOT_SCORED_LABEL",
    "POLICY_LABELS",
    "Classes",
    "Layer",
    "allocation_method_sentences",
    "cap_text",
    "classes_for",
    "damping_text",
    "floor_text",
    "get_data_text",
    "harm_unit",
    "hot_spot_caption",
    "method_description",
    "method_label",
    "method_plain",
    "need_method_text",
    "number",
    "officer_classes",
    "palette",
    "percent",
    "plain",
    "policy_description",
    "policy_label",
    "proactive_text",
    "quantile_classes",
    "scenario_facts",
    "weights_text",
]

# --- text from data or a person, for Markdown ----------------------------------------------

# every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones
# Markdown (and Streamlit's extensions: :colour[...], $maths$, ~strike~) give a meaning
MARKDOWN_SPECIAL = frozenset("\\`*_{}[]()<>#+-.!|~$:&=\"'")


def plain(text: object) -> str:
    """*text* (from data or a person) as literal text in Streamlit Markdown.

    Every character Markdown or Streamlit could read as markup (``<img ...>``, ``![](url)``,
    ``[link](javascript:...)``, ``**``, ``:red[...]``, ``$...$``, a line starting ``#``) gets a
    backslash, so it shows as typed and nothing is run, linked or loaded; line breaks become
    spaces (a name cannot start a heading or a list). Use it on every name, note or file name
    put into ``st.markdown``, ``st.title``, ``st.caption``, ``st.info`` and the like.
    """
    flat = " ".join(str(text).splitlines())
    return "".join("\\" + c if c in MARKDOWN_SPECIAL else c for c in flat)


# --- names ---------------------------------------------------------------------------------

COMPONENT_LABELS: Mapping[str, str] = {
    "harm": "Harm",
    "asb": "ASB",
    "forecast": "Forecast",
    "trend": "Trend",
    "rate": "Harm per 1,000",
    "confidence": "Low confidence",
}
assert set(COMPONENT_LABELS) == set(COMPONENTS)

METHOD_LABELS: Mapping[str, tuple[str, str]] = {
    "webster": ("Webster / Sainte-Laguë", "divisor method, rounding at one half"),
    "dhondt": ("D'Hondt", "divisor method, rounding down"),
    "huntington_hill": ("Huntington-Hill", "divisor method, rounding at the geometric mean"),
    "hamilton": ("Hamilton (largest remainder)", "quota method"),
}
"""Apportionment method -> (name, how it rounds)."""

NOT_SCORED_LABEL = "Not scored (the City of London, or not covered by this data)"
NOT_SCORED_COLOUR = "#bdbdbd"


def method_label(method: str) -> str:
    """A readable name of an apportionment method: ``"Webster / Sainte-Laguë"``."""
    return METHOD_LABELS.get(method, (method, ""))[0]


POLICY_LABELS: Mapping[str, tuple[str, str]] = {
    "whole_team": (
        "whole team",
        "the baseline team counts as officers a ward already holds: a ward gets extras only "
        "where its share of need is more than its baseline covers",
    ),
    "top_up": (
        "top-up",
        "extras by need on top of the baseline, as if the baseline covered none of it",
    ),
}


def policy_label(policy: str) -> str:
    """A readable name of an allocation policy: ``"whole team"``."""
    return POLICY_LABELS.get(policy, (policy, ""))[0]


def policy_description(policy: str) -> str:
    """The policy's name with what it means."""
    name, how = POLICY_LABELS.get(policy, (policy, ""))
    return f"{name}: {how}" if how else name


def method_description(method: str) -> str:
    """The name with how it rounds: ``"Webster / Sainte-Laguë (divisor method, ...)"``."""
    name, how = METHOD_LABELS.get(method, (method, ""))
    return f"{name} ({how})" if how else name


def harm_unit(index: HarmIndex) -> str:
    """What one unit of harm is, with the index: ``"days of custody (CCHI)"``."""
    unit = "days of custody" if index.unit == "days" else index.unit
    return f"{unit} ({index.key.upper()})"


def method_plain(method: str) -> str:
    """How a method rounds, in a sentence a non-specialist reads.

    ``"webster"`` -> "Webster / Sainte-Laguë: each ward's share of the pool is rounded to
    the nearest whole officer (up from one half), ..."
    """
    words = {
        "webster": "each ward's share of the pool is rounded to the nearest whole officer (a "
        "half or more rounds up), with one common scale so the officers add up to the pool; "
        "neither big nor small wards are favoured",
        "dhondt": "each ward's share of the pool is rounded down, with one common scale so the "
        "officers add up to the pool; wards in more need are favoured slightly",
        "huntington_hill": "each ward's share is rounded at the geometric mean of the two "
        "whole numbers either side (1.41 between 1 and 2), so a ward due any extras gets at "
        "least one; wards in less need are favoured slightly",
        "hamilton": "each ward gets the whole part of its share and the officers left over go "
        "to the largest fractions; a ward can lose an officer when the pool grows",
    }
    how = words.get(method)
    return f"{method_label(method)}: {how}" if how else method_label(method)


def floor_text(share: float) -> str:
    """A borough floor in words: "every borough gets at least 80 % of its fair share"."""
    if not share or share <= 0:
        return "none: a borough gets what its wards' need earns"
    return (
        f"every borough gets at least {share * 100:.0f} % of its fair share (its share of "
        "London's need × the pool)"
    )


def _forecast_words(note: str | None, *, longest: int = 160) -> str:
    """Whether the forecast is in the need index; a long reason cut at a word, pointing on."""
    if not note:
        return "in the need index"
    if len(note) > longest:
        note = note[:longest].rsplit(" ", 1)[0].rstrip(",;:") + "… (in full in the manifest)"
    return f"not in the need index: {note}"


def cap_text(cap: int | None) -> str:
    """The per-ward cap in words."""
    return "no cap" if cap is None else f"at most {cap:,} extra officers per ward"


def damping_text(max_change: int | None) -> str:
    """Damping in words."""
    if max_change is None:
        return "none"
    return f"no ward's extras change by more than {max_change:,} from its current team"


def scenario_facts(
    manifest: Mapping[str, Any],
    settings: AllocationSettings,
    pool: int,
    *,
    harm: HarmIndex | None = None,
    key: str | None = None,
) -> list[tuple[str, str]]:
    """The scenario as (label, value) rows: what every export and the pack say about
    themselves, in the same words.

    Parameters
    ----------
    manifest
        :meth:`planner.results.RunManifest.to_dict` (missing keys read "not recorded").
    settings, pool
        The allocation's settings and its pool of extra officers.
    harm
        The harm index scored on (its name and unit); default its key from *manifest*.
    key
        The scenario id (:meth:`planner.scenario.Scenario.key`).
    """

    def got(name: str) -> Any:
        value = manifest.get(name)
        return "not recorded" if value in (None, "") else value

    index = str(got("harm_index"))
    harm_words = f"{harm.name}, in {harm_unit(harm)}" if harm is not None else index.upper()
    weights = manifest.get("weights_used") or {}
    absent = manifest.get("absent_components") or []
    forecast = manifest.get("forecast_note")
    overrides = (manifest.get("scenario") or {}).get("overrides") or []
    rows = [
        ("Dataset", str(got("dataset"))),
        ("Data window", f"{got('window_start')} to {got('window_end')}"),
        ("Harm index", harm_words),
        ("Extra officers (London pool)", f"{pool:,}"),
        ("Method", method_plain(settings.method)),
        ("Policy", policy_description(settings.policy)),
        (
            "Baseline team",
            f"{settings.baseline_dwo} Dedicated Ward Officers + {settings.baseline_pcso} PCSO "
            "per ward",
        ),
        ("Cap per ward", cap_text(settings.max_extra_per_ward)),
        ("Borough floor", floor_text(settings.borough_floor_share)),
        ("Damping", damping_text(settings.max_change)),
        ("Need weights used", weights_text(weights, absent)),
        ("Forecast", _forecast_words(forecast)),
        ("Commanders' overrides applied", f"{len(overrides):,} (London)"),
    ]
    if key:
        rows.append(("Scenario id", f"{key} (the same id names this scenario's exports)"))
    rows += [("Created", str(got("created"))), ("Planner version", str(got("planner_version")))]
    return rows


# --- numbers -------------------------------------------------------------------------------


def number(value: Any, spec: str = "{:,.0f}", *, missing: str = "n/a") -> str:
    """*value* formatted by *spec*, or *missing* for None, NaN or infinity."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return missing
    return spec.format(v) if math.isfinite(v) else missing


def percent(share: Any, *, decimals: int = 0, missing: str = "n/a") -> str:
    """A share as a percentage: ``0.254 -> "25 %"``."""
    scaled = share * 100 if isinstance(share, int | float) else None
    return number(scaled, f"{{:.{decimals}f}} %", missing=missing)


# --- methodology text ----------------------------------------------------------------------

CAVEATS: tuple[tuple[str, str], ...] = (
    (
        "Anonymised locations",
        "police.uk snaps every crime to one of a set of anonymised map points (about 45,000 in "
        "London), so a crime near a ward edge can land in the ward next door; the Met's "
        "ward-level files are counted by the Met.",
    ),
    (
        "ASB",
        "The Met's ward files carry no anti-social behaviour: with them the ASB term is absent "
        "(not zero) and its weight is shared among the other components.",
    ),
    (
        "Proactive offences",
        "Drugs and weapons possession are down-weighted: they measure police activity as much "
        "as harm.",
    ),
    (
        "Resident population misleads",
        "Where few people live but many visit (the West End, the City) harm per 1,000 "
        "residents runs very high. Counts and rates are shown side by side.",
    ),
    ("The City of London", "has its own police force and is not scored."),
    (
        "The forecast",
        "enters the need index only if, in the rolling-origin backtest, it beat all three "
        "baselines (the last 12 months and a London-anchored multi-year mean on 12-month ward "
        "totals, seasonal naive month by month) by the margin set in config/forecast.toml at "
        "more than half the origins. It correlates almost perfectly with harm across wards, "
        "so where it is used it mostly adds weight to harm.",
    ),
    (
        "Advisory",
        "The planner ranks and explains; commanders' overrides are recorded with their reason.",
    ),
)


def need_method_text(settings: NeedSettings) -> str:
    """How the need score is made, in a paragraph."""
    return (
        "Each ward's need score is a weighted sum of components, each divided by its London "
        f"scale (the {settings.scale_quantile:.0%} quantile across the scored wards: 1.0 means "
        "as high as that ward), so the contributions add up to the score and explain it. "
        "Absent components drop out and the remaining weights are rescaled to sum to 1. The "
        "weights are a planning judgement, set in config/need.toml; a scenario changes them "
        "for that scenario only."
    )


def weights_text(weights_used: Mapping[str, float], absent: Sequence[str]) -> str:
    """``"Harm 0.53, Trend 0.18, ... (not in the index, weight shared out: ASB)"``.

    *absent* are the components this run could not use (not in the data, or a forecast that
    did not beat its baselines); the reasons are :func:`planner.api.absent_reasons`.
    """
    text = ", ".join(f"{COMPONENT_LABELS.get(k, k)} {v:.2f}" for k, v in weights_used.items())
    if absent:
        text += f" (not in the index, weight shared out: {', '.join(map(_label, absent))})"
    return text or "not recorded"


def _label(component: str) -> str:
    return COMPONENT_LABELS.get(component, component)


def proactive_text(harm: HarmSettings) -> str:
    """How proactively detected offences are treated, and why."""
    treatment = {
        "include": "counted at full weight",
        "downweight": f"down-weighted (harm × {harm.proactive_factor:g})",
        "exclude": "left out (weight 0)",
    }[harm.proactive_mode]
    return (
        f"Proactively detected offences ({', '.join(harm.proactive_categories)}) are "
        f"{treatment}: they are found mostly by police activity such as stop and search, so "
        "their counts follow police activity as much as harm, and full weight would send "
        "officers to where officers already are."
    )


def allocation_method_sentences(settings: AllocationSettings, pool: int) -> list[str]:
    """How the extra officers are shared out, one sentence per point."""
    cap = (
        "no cap per ward"
        if settings.max_extra_per_ward is None
        else f"at most {settings.max_extra_per_ward} extra per ward"
    )
    divisor = settings.method != "hamilton"
    if settings.policy == "whole_team":
        sharing = (
            f"A pool of {pool:,} extra officers is shared out under the whole-team policy: the "
            "baseline teams count as officers the wards already hold, so the method apportions "
            "baseline + pool by need with every ward's baseline as its minimum, and a ward gets "
            f"extras only where its share of need is more than its baseline covers; by "
            f"{method_description(settings.method)}, with {cap}."
        )
    else:
        sharing = (
            f"A pool of {pool:,} extra officers is shared out on top of the baseline (top-up "
            f"policy), in whole officers, by each ward's need, by "
            f"{method_description(settings.method)}, with {cap}."
        )
    text = [
        f"Every ward keeps its baseline team of {settings.baseline_dwo} Dedicated Ward Officers "
        f"and {settings.baseline_pcso} PCSO (Police and Crime Plan for London: a dedicated ward "
        "team in every ward, 'with more in wards with the most serious problems'; the citation "
        "is in config/allocation.toml).",
        sharing,
        "Divisor method: each ward's need is divided by a common divisor and rounded by the "
        "method's rule; the divisor is chosen so the extras add up to the pool exactly. A ward "
        "never loses an officer when the pool grows."
        if divisor
        else "Largest remainder: each ward gets the whole part of its quota and the officers "
        "left go to the largest fractions. A ward can lose an officer when the pool grows.",
        "need_share is a ward's share of the need of all eligible (not excluded) wards; quota "
        "= need_share × pool is its need-proportional number; officer_share = extra ÷ pool; "
        "share_gap = officer_share − need_share (negative: fewer officers than its share of "
        "need); target_ratio = extra ÷ quota; outside_quota marks a ward whose extras are not "
        "its quota rounded down or up. policy_quota is the policy's allocation before "
        "rounding and rounding = extra − policy_quota.",
    ]
    if settings.need_exponent != 1:
        text.append(
            f"Diminishing returns: officers are apportioned on need to the power "
            f"{settings.need_exponent:g}, so each further unit of need earns less."
        )
    if settings.borough_floor_share > 0:
        text.append(
            f"Borough floors: every borough gets at least {settings.borough_floor_share:.0%} of "
            "its need-proportional share of the officers apportioned. All wards are compared "
            "at once; a borough below its floor is lifted to it (shared between its own wards) "
            "and the rest shared again, so a floor changes only the boroughs it lifts."
        )
    if settings.max_change is not None:
        text.append(
            f"Damping: no ward's extras change by more than {settings.max_change} from its "
            "current team."
        )
    for ward in settings.special:
        text.append(
            f"Special ward {ward.name} ({ward.code}) keeps its baseline team and gets no "
            f"extras: {ward.reason}."
        )
    if settings.excluded:
        text.append(
            f"{len(settings.excluded)} ward(s) are excluded from extras and keep their "
            "baseline team."
        )
    return text


def hot_spot_caption(report: Mapping[str, Any]) -> str:
    """What the hot-spot outlines mean and how many there are."""
    hot, cold = report.get("hot_spots", "?"), report.get("cold_spots", "?")
    raw = report.get("significant_uncorrected")
    before = f" ({raw} wards were significant before the correction)" if raw is not None else ""
    return (
        f"Hot spots: wards whose neighbourhood holds significantly more harm than chance would "
        f"give it. {hot} hot and {cold} cold spot(s) after the false-discovery-rate "
        f"correction{before}. Red outline = hot spot, dashed blue = cold spot."
    )


def get_data_text(data_dir: Path) -> tuple[str, str]:
    """The no-data page: where the app looked, and the three ways to get the data."""
    intro = (
        "The planner reads public data (Met Police ward crime files, ward boundaries, ONS "
        f"population). It looked in **`{data_dir}`** and did not find them:"
    )
    steps = (
        "Get them in one of three ways, from the repository folder:\n\n"
        "1. `planner fetch`: downloads the official files (London Datastore, ONS, "
        "data.police.uk) into `data/`;\n"
        "2. `planner fetch --from ../shared/data`: imports a local copy without network;\n"
        "3. or point the app at a folder that already holds them: "
        "`PLANNER_DATA=../shared/data streamlit run app.py`.\n\n"
        "Then reload this page. The first load builds the ward counts (cached afterwards); "
        "`planner ingest` does the same from the command line and prints the data-quality "
        "report."
    )
    return intro, steps


# --- palettes ------------------------------------------------------------------------------

# Anchor colours, low to high as published: matplotlib's viridis and ColorBrewer's YlGnBu
# (9 classes; Brewer 2009), and cividis (Nuñez, Anderton & Renslow 2018, PLOS ONE 13(7):
# e0199239, designed for colour-vision deficiency) at 0, 0.25, 0.5, 0.75 and 1.
_ANCHORS: Mapping[str, tuple[str, ...]] = {
    "viridis": ("#440154", "#472c7b", "#3a528b", "#2c728e", "#21908c", "#28ae80", "#5cc962",
                "#abdc31", "#fde725"),
    "YlGnBu": ("#ffffd9", "#edf8b1", "#c7e9b4", "#7fcdbb", "#41b6c4", "#1d91c0", "#225ea8",
               "#253494", "#081d58"),
    "cividis": ("#00204d", "#414d6b", "#7c7b78", "#bcaf6f", "#ffea46"),
}  # fmt: skip
COLOUR_BLIND_SAFE: tuple[str, ...] = (*_ANCHORS, *(f"{n}_r" for n in _ANCHORS))
"""Palette names :func:`palette` accepts; ``_r`` reverses (viridis_r runs yellow to purple)."""


def palette(name: str, n: int, *, start: float = 0.0, end: float = 1.0) -> list[str]:
    """*n* colours (hex, low to high) sampled evenly from *start* to *end* of a palette.

    Raises
    ------
    ValueError
        An unknown palette (see :data:`COLOUR_BLIND_SAFE`) or ``n < 1``.
    """
    base, reverse = (name[:-2], True) if name.endswith("_r") else (name, False)
    if base not in _ANCHORS:
        raise ValueError(f"unknown palette {name!r}; use one of {', '.join(COLOUR_BLIND_SAFE)}")
    if n < 1:
        raise ValueError(f"a palette needs at least one colour, found n={n}")
    anchors = list(_ANCHORS[base])[:: -1 if reverse else 1]
    rgb = np.array([[int(a[i : i + 2], 16) / 255 for i in (1, 3, 5)] for a in anchors])
    grid = np.linspace(0.0, 1.0, len(anchors))
    positions = [start] if n == 1 else np.linspace(start, end, n)
    out = []
    for x in positions:
        channels = [float(np.interp(x, grid, rgb[:, k])) for k in range(3)]
        out.append("#" + "".join(f"{int(c * 255.9999):02x}" for c in channels))
    return out


# --- colour classes ------------------------------------------------------------------------


@dataclass(frozen=True)
class Layer:
    """How one map layer is named, classed and coloured."""

    key: str
    label: str  # short, for menus
    palette: str
    scheme: Literal["quantile", "officers"]
    noun: str  # "need" in "Highest need: top 10 %"
    number: str  # format of one value, e.g. "{:,.0f}"
    start: float = 0.0  # part of the palette used (skip the palest end of YlGnBu)
    end: float = 1.0


LAYERS: Mapping[str, Layer] = {
    layer.key: layer
    for layer in (
        Layer("need_score", "Need score", "YlGnBu", "quantile", "need", "{:.2f}", 0.15),
        Layer("extra", "Extra officers", "viridis_r", "officers", "extra", "{:.0f}", 0.05),
        Layer("harm", "Harm", "cividis_r", "quantile", "harm", "{:,.0f}"),
        Layer("harm_per_1000", "Harm per 1,000 residents", "cividis_r", "quantile",
              "harm rate", "{:,.0f}"),
        Layer("asb", "ASB incidents", "YlGnBu", "quantile", "ASB", "{:,.0f}", 0.15),
        Layer("trend", "Rise in harm on the previous year", "viridis_r", "quantile", "rise",
              "{:.0f} %", 0.05),
    )
}  # fmt: skip
# The parts of the palettes used are those whose neighbouring classes stay apart (CIEDE2000
# >= 10) as they are and under simulated protanopia, deuteranopia and tritanopia (Machado et
# al. 2009) for every class count up to MAX_CLASSES: tests/test_colourvision.py measures it.

MAX_CLASSES = 6
"""The most classes a map layer has: more cannot all be told apart on one ramp."""


@dataclass(frozen=True)
class Classes:
    """Ordered classes (low to high): lower bounds, text labels and colours."""

    lower: tuple[float, ...]  # lower[0] is -inf: every value falls in some class
    labels: tuple[str, ...]
    colours: tuple[str, ...]

    def assign(self, values: pd.Series) -> pd.Series:
        """The class number (0 = lowest) of each value; -1 for a missing value."""
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
        k = np.searchsorted(np.asarray(self.lower), v, side="right") - 1
        return pd.Series(np.where(np.isnan(v), -1, k), index=values.index, dtype=int)

    def colour(self, values: pd.Series, *, missing: str = NOT_SCORED_COLOUR) -> pd.Series:
        """The fill colour of each value (*missing* where there is no value)."""
        lookup = np.array([*self.colours, missing], dtype=object)
        return pd.Series(lookup[self.assign(values).to_numpy()], index=values.index)


def classes_for(layer: str, values: pd.Series) -> Classes:
    """The classes of one of :data:`LAYERS` for these values (the app's map and the pack's)."""
    if layer not in LAYERS:
        raise ValueError(f"unknown map layer {layer!r}; use one of {', '.join(LAYERS)}")
    spec = LAYERS[layer]

    def colours(n: int) -> list[str]:
        return palette(spec.palette, n, start=spec.start, end=spec.end)

    if spec.scheme == "officers":
        return officer_classes(values, colours=colours)
    return quantile_classes(values, colours=colours, noun=spec.noun, number=spec.number)


def quantile_classes(
    values: pd.Series,
    *,
    colours: Callable[[int], list[str]],
    noun: str,
    number: str = "{:,.2f}",
    top_shares: Sequence[float] = (0.10, 0.25, 0.50, 0.75),
) -> Classes:
    """Classes by share of wards: top 10 %, the next 15 %, 25 %, 25 %, the lowest 25 %.

    Breaks are values the wards actually have (quantiles with ``method="higher"``). Where wards
    tie across a break the classes merge, and every label states the share of wards it really
    holds, so a label never promises "top 10 %" for 30 %. Where many wards share the lowest
    value (e.g. no rise at all) they get a class of their own.

    Raises
    ------
    DataError
        No value at all.
    """
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    if v.size == 0:
        raise DataError(f"no {noun} values to class: every ward's value is missing")
    cuts = {float(np.quantile(v, 1.0 - share, method="higher")) for share in top_shares}
    above = v[v > v.min()]
    if above.size and (v == v.min()).mean() >= min(top_shares):
        cuts.add(float(above.min()))  # many wards at the minimum (no rise at all): own class
    lower = [-math.inf, *sorted(c for c in cuts if c > v.min())]
    n = len(lower)
    upper = [*lower[1:], math.inf]
    top = [float((v >= lo).mean()) for lo in lower]  # share of wards at or above each class
    fmt = number.format
    labels = []
    for i in range(n):
        in_class = v[(v >= lower[i]) & (v < upper[i])]
        share_hi, share_lo = top[i + 1] if i + 1 < n else 0.0, top[i]
        if n == 1:
            labels.append(f"All wards ({fmt(v.min())} to {fmt(v.max())})")
        elif i == n - 1:
            labels.append(f"Highest {noun}: top {_pct(share_lo)} ({fmt(lower[i])} and above)")
        elif i == 0:
            one = in_class.min() == in_class.max()
            span = f"{fmt(in_class.min())}" if one else f"below {fmt(upper[i])}"
            labels.append(f"Lowest {noun}: bottom {_pct(1.0 - share_hi)} ({span})")
        else:
            band = f"{round(share_hi * 100):.0f}–{_pct(share_lo)}"
            labels.append(f"Top {band} ({fmt(lower[i])} to {fmt(upper[i])})")
    return Classes(tuple(lower), tuple(labels), tuple(colours(n)))


_OFFICER_BANDS = (
    (0, 1, 3, 5, 7, 10, 15, 20, 30, 50, 100),
    (0, 1, 5, 10, 20, 50, 100),
    (0, 1, 10, 20, 50, 100),
)  # the finest bands that give at most MAX_CLASSES classes are used


def officer_classes(extra: pd.Series, *, colours: Callable[[int], list[str]]) -> Classes:
    """Classes of whole extra officers: "0 extra", "1–2 extra", "3–4 extra", ..., "7–8 extra".

    The top band ends at the largest allocation ("7–8 extra"), or reads "100+ extra" past the
    last band. Larger allocations get wider bands ("1–4 extra", "5–9 extra", ...), so there
    are never more than :data:`MAX_CLASSES`.
    """
    v = pd.to_numeric(extra, errors="coerce").dropna()
    top = int(v.max()) if len(v) else 0
    for bands in _OFFICER_BANDS:
        lower = [b for b in bands if b <= max(top, 0)] or [0]
        if len(lower) <= MAX_CLASSES:
            break
    labels = []
    for i, lo in enumerate(lower):
        if i + 1 < len(lower):
            hi: int | None = lower[i + 1] - 1
        else:  # the top band ends at the largest allocation, if its natural width holds it
            nxt = bands.index(lo) + 1
            hi = top if nxt == len(bands) or top < bands[nxt] else None
            hi = None if nxt == len(bands) and top > lo else hi
        if hi is None:
            labels.append(f"{lo}+ extra")
        elif hi == lo:
            labels.append(f"{lo} extra")
        else:
            labels.append(f"{lo}–{hi} extra")
    bounds = (-math.inf, *[b - 0.5 for b in lower[1:]])
    return Classes(bounds, tuple(labels), tuple(colours(len(lower))))


def _pct(share: float) -> str:
    return f"{round(share * 100):.0f} %"
