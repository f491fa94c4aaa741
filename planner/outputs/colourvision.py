"""Colour-vision deficiency simulation and colour difference, to check the map's palettes.

- Simulation: Machado, Oliveira & Fernandes (2009), "A physiologically-based model for
  simulation of color vision deficiency", IEEE TVCG 15(6): 1291-1298. Their matrices for
  severity 1.0 (dichromacy: protanopia, deuteranopia, tritanopia) act on linear RGB.
- Contrast: WCAG 2.2's contrast ratio of relative luminances (success criterion 1.4.3 asks
  4.5:1 for text), and a colour drawn at an opacity over a background.
- Difference: CIEDE2000 (Sharma, Wu & Dalal 2005, "The CIEDE2000 color-difference formula:
  implementation notes, supplementary test data, and mathematical observations", Color
  Research & Application 30(1): 21-30) in CIELAB under D65 from sRGB (IEC 61966-2-1).

No colour library: the formulas are short and checked in the tests against Sharma's
published test pairs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence

import numpy as np

__all__ = [
    "DEFICIENCIES",
    "contrast_ratio",
    "delta_e2000",
    "hex_to_lab",
    "over",
    "simulate",
    "smallest_difference",
]

DEFICIENCIES: Mapping[str, np.ndarray] = {
    "protanopia": np.array(
        [[0.152286, 1.052583, -0.204868],
         [0.114503, 0.786281, 0.099216],
         [-0.003882, -0.048116, 1.051998]]
    ),
    "deuteranopia": np.array(
        [[0.367322, 0.860646, -0.227968],
         [0.280085, 0.672501, 0.047413],
         [-0.011820, 0.042940, 0.968881]]
    ),
    "tritanopia": np.array(
        [[1.255528, -0.076749, -0.178779],
         [-0.078411, 0.930809, 0.147602],
         [0.004733, 0.691367, 0.303900]]
    ),
}  # fmt: skip
"""Machado et al. (2009) simulation matrices at severity 1.0, on linear sRGB."""

_SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375],
     [0.2126729, 0.7151522, 0.0721750],
     [0.0193339, 0.1191920, 0.9503041]]
)  # fmt: skip
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883])


def _linear(hex_colour: str) -> np.ndarray:
    """Linear-light sRGB (0-1) of ``#rrggbb``."""
    text = hex_colour.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"a colour is #rrggbb, found {hex_colour!r}")
    c = np.array([int(text[i : i + 2], 16) / 255 for i in (0, 2, 4)])
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _lab(linear_rgb: np.ndarray) -> tuple[float, float, float]:
    xyz = _SRGB_TO_XYZ @ np.clip(linear_rgb, 0.0, 1.0) / _WHITE_D65
    eps, kappa = 216 / 24389, 24389 / 27
    f = np.where(xyz > eps, np.cbrt(xyz), (kappa * xyz + 16) / 116)
    return float(116 * f[1] - 16), float(500 * (f[0] - f[1])), float(200 * (f[1] - f[2]))


def contrast_ratio(foreground: str, background: str) -> float:
    """WCAG contrast ratio of two opaque colours ``#rrggbb`` (1 to 21)."""
    weights = np.array([0.2126, 0.7152, 0.0722])
    lighter, darker = sorted(
        (float(weights @ _linear(c)) for c in (foreground, background)), reverse=True
    )
    return (lighter + 0.05) / (darker + 0.05)


def over(foreground: str, background: str, opacity: float) -> str:
    """*foreground* drawn at *opacity* (0-1) over *background*, as the opaque colour seen."""
    fg, bg = (np.array([int(c.lstrip("#")[i : i + 2], 16) for i in (0, 2, 4)]) for c in
              (foreground, background))  # fmt: skip
    mixed = np.rint(opacity * fg + (1 - opacity) * bg).astype(int)
    return "#" + "".join(f"{v:02x}" for v in mixed)


def hex_to_lab(hex_colour: str) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB colour ``#rrggbb``."""
    return _lab(_linear(hex_colour))


def simulate(hex_colour: str, deficiency: str) -> tuple[float, float, float]:
    """CIELAB of *hex_colour* as seen with *deficiency* (a key of :data:`DEFICIENCIES`).

    Raises
    ------
    ValueError
        An unknown deficiency.
    """
    if deficiency not in DEFICIENCIES:
        raise ValueError(f"unknown deficiency {deficiency!r}; use one of {', '.join(DEFICIENCIES)}")
    return _lab(DEFICIENCIES[deficiency] @ _linear(hex_colour))


def delta_e2000(
    lab1: Sequence[float], lab2: Sequence[float], *, kl: float = 1, kc: float = 1, kh: float = 1
) -> float:
    """CIEDE2000 colour difference of two CIELAB colours (Sharma et al. 2005)."""
    l1, a1, b1 = lab1
    l2, a2, b2 = lab2
    c_bar = (math.hypot(a1, b1) + math.hypot(a2, b2)) / 2
    g = 0.5 * (1 - math.sqrt(c_bar**7 / (c_bar**7 + 25**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = math.hypot(a1p, b1), math.hypot(a2p, b2)
    h1p = math.degrees(math.atan2(b1, a1p)) % 360 if c1p else 0.0
    h2p = math.degrees(math.atan2(b2, a2p)) % 360 if c2p else 0.0
    dlp, dcp = l2 - l1, c2p - c1p
    dh = 0.0
    if c1p * c2p:
        dh = h2p - h1p
        dh = dh - 360 if dh > 180 else dh + 360 if dh < -180 else dh
    dhp = 2 * math.sqrt(c1p * c2p) * math.sin(math.radians(dh / 2))
    lbp, cbp = (l1 + l2) / 2, (c1p + c2p) / 2
    hbp = h1p + h2p
    if c1p * c2p:
        if abs(h1p - h2p) <= 180:
            hbp = (h1p + h2p) / 2
        else:
            hbp = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    t = (
        1
        - 0.17 * math.cos(math.radians(hbp - 30))
        + 0.24 * math.cos(math.radians(2 * hbp))
        + 0.32 * math.cos(math.radians(3 * hbp + 6))
        - 0.20 * math.cos(math.radians(4 * hbp - 63))
    )
    d_theta = 30 * math.exp(-(((hbp - 275) / 25) ** 2))
    rc = 2 * math.sqrt(cbp**7 / (cbp**7 + 25**7))
    sl = 1 + 0.015 * (lbp - 50) ** 2 / math.sqrt(20 + (lbp - 50) ** 2)
    sc = 1 + 0.045 * cbp
    sh = 1 + 0.015 * cbp * t
    rt = -math.sin(math.radians(2 * d_theta)) * rc
    terms = (dlp / (kl * sl), dcp / (kc * sc), dhp / (kh * sh))
    return math.sqrt(sum(x * x for x in terms) + rt * terms[1] * terms[2])


def smallest_difference(colours: Sequence[str], deficiency: str | None = None) -> float:
    """The smallest CIEDE2000 difference between neighbouring colours of *colours*.

    With *deficiency*, both colours as seen with it (:func:`simulate`); else as they are.
    """
    labs = [hex_to_lab(c) if deficiency is None else simulate(c, deficiency) for c in colours]
    pairs = itertools.pairwise(labs)
    return min((delta_e2000(a, b) for a, b in pairs), default=math.inf)
