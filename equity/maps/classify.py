"""Values to colours: classification schemes, palettes, reliability fading and the legend.

A layer's values are cut into classes by a mapclassify scheme; each class gets a colour of a
palette (ColorBrewer ``YlOrRd`` by default), and less reliable values are faded. The same
classes, colours and legend serve the HTML map and the static PNG.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import mapclassify
import numpy as np
import pandas as pd

from equity.errors import ChoiceError, ConfigError, check_choice
from equity.maps.formatting import _format

__all__ = [
    "DEFAULT_PALETTE",
    "HOTSPOT_COLORS",
    "MISSING_COLOR",
    "RELIABILITY_LEVELS",
    "RELIABILITY_OPACITY",
    "SCHEMES",
]

#: ColorBrewer YlOrRd: sequential, colour-blind safe, prints in grey scale.
DEFAULT_PALETTE = "YlOrRd"
MISSING_COLOR = "#bdbdbd"
#: Fill opacity by reliability (high, medium, low): less reliable values are faded.
RELIABILITY_OPACITY: tuple[float, float, float] = (0.85, 0.5, 0.22)
RELIABILITY_LEVELS: tuple[str, str, str] = ("high", "medium", "low")
#: Local-cluster categories and colours (ColorBrewer RdBu ends: colour-blind safe).
HOTSPOT_COLORS: dict[str, str] = {
    "High-High": "#b2182b",
    "Low-Low": "#2166ac",
    "High-Low": "#ef8a62",
    "Low-High": "#67a9cf",
}
SCHEMES: tuple[str, ...] = (
    "quantiles",
    "equalinterval",
    "naturalbreaks",
    "fisherjenks",
    "jenkscaspall",
    "headtailbreaks",
    "maximumbreaks",
    "percentiles",
    "stdmean",
    "boxplot",
)
# Stroke of polygon outlines by feature count: thin and light for dense layers.
_STROKE_DENSE = 2000
# Schemes that choose their own number of classes.
_SCHEMES_WITHOUT_K = ("headtailbreaks", "percentiles", "boxplot", "stdmean")


def _palette_colors(palette: str | Sequence[str] | None, k: int) -> list[str]:
    """`k` hex colours from a matplotlib colormap name or an explicit list."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    if palette is None:
        palette = DEFAULT_PALETTE
    if isinstance(palette, str):
        try:
            check_choice("palette", palette, sorted(colormaps, key=str.lower))
        except ChoiceError as err:
            msg = (
                f"{err} (matplotlib colormap names, e.g. 'YlOrRd', 'viridis'), or a list of colours"
            )
            raise ChoiceError(msg) from None
        cmap = colormaps[palette]
        # Skip the palest end of sequential maps so the first class is visible on white.
        return (
            [to_hex(cmap(x)) for x in np.linspace(0.12, 1.0, k)] if k > 1 else [to_hex(cmap(0.7))]
        )
    colors = [to_hex(c) for c in palette]
    if len(colors) < k:
        msg = f"palette has {len(colors)} colours but {k} classes were asked for"
        raise ConfigError(msg)
    return colors[:k]


def _classify(values: pd.Series, *, scheme: str, k: int) -> tuple[np.ndarray, list[float]]:
    """Class index per value (-1 where missing) and the class upper bounds (mapclassify)."""
    key = scheme.lower().replace("_", "")  # "Fisher_Jenks" is "fisherjenks"
    if key not in SCHEMES:
        check_choice("scheme", scheme, SCHEMES)  # raises, naming the scheme as given
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        msg = f"k = {k!r}: the number of classes must be a whole number >= 1 (e.g. 5)"
        raise ConfigError(msg)
    num = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    ok = np.isfinite(num)
    classes = np.full(len(num), -1, dtype=np.int64)
    if not ok.any():
        return classes, []
    y = num[ok]
    n_unique = len(np.unique(y))
    if n_unique == 1:
        classes[ok] = 0
        return classes, [float(y[0])]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "not enough unique values": k is reduced below
        kw: dict[str, Any] = {} if key in _SCHEMES_WITHOUT_K else {"k": min(k, n_unique)}
        fitted = mapclassify.classify(y, scheme=key, **kw)
    bins = np.asarray(fitted.bins, dtype=float)
    yb = np.asarray(fitted.yb, dtype=np.int64)
    # Drop empty classes (quantiles on ties), keep bins increasing.
    used = np.unique(yb)
    remap = np.full(len(bins), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    classes[ok] = remap[yb]
    return classes, [float(b) for b in bins[used]]


def _category_codes(values: pd.Series, categories: Sequence[str], *, first: int) -> np.ndarray:
    """Position of each value in `categories`, counted from `first`; 0 for anything else."""
    codes = {c: i + first for i, c in enumerate(categories)}
    return values.astype(object).map(codes).fillna(0).astype(int).to_numpy()


def _reliability_codes(reliability: pd.Series) -> np.ndarray:
    """0 (high), 1 (medium), 2 (low) per value; missing or unknown values count as high."""
    return _category_codes(reliability, RELIABILITY_LEVELS, first=0)


def _hotspot_codes(hotspot: pd.Series) -> np.ndarray:
    """1.. for the categories of :data:`HOTSPOT_COLORS`, 0 for not significant or missing."""
    return _category_codes(hotspot, list(HOTSPOT_COLORS), first=1)


def _legend_labels(bins: list[float], vmin: float, kind: str) -> list[str]:
    lows = [vmin, *bins[:-1]]
    fmt = _format(pd.Series(lows + bins, dtype=float), kind)
    n = len(bins)
    return [f"{fmt[i]} \u2013 {fmt[n + i]}" for i in range(n)]


def _layer_spec(
    *,
    name: str,
    key: str,
    colors: list[str],
    bins: list[float],
    values: pd.Series,
    kind: str,
    legend_title: str,
    units: str,
    reliability: bool,
    fields: list[str],
) -> dict[str, Any]:
    """Style and legend of a classified layer: what the runtime and the PNG draw it with.

    `values` are the layer's values (their minimum opens the first class; missing ones are
    counted in the legend).
    """
    num = pd.to_numeric(values, errors="coerce")
    vmin = float(num.min()) if num.notna().any() else 0.0
    n_missing = int(num.isna().sum())
    dense = len(num) > _STROKE_DENSE
    items: list[list[Any]] = [
        [c, lab] for c, lab in zip(colors, _legend_labels(bins, vmin, kind), strict=True)
    ]
    if n_missing:
        items.append([MISSING_COLOR, f"No data ({n_missing})"])
    notes = [f"Units: {units}"] if units else []
    if reliability:
        items += [
            ["#555555", "Reliability high", RELIABILITY_OPACITY[0]],
            ["#555555", "Reliability medium (faded)", RELIABILITY_OPACITY[1]],
            ["#555555", "Reliability low (more faded, dashed)", RELIABILITY_OPACITY[2], True],
        ]
        notes.append("Reliability from the coefficient of variation of the ACS margins of error.")
    return {
        "name": name,
        "key": key,
        "colors": colors,
        "missing": MISSING_COLOR,
        "opacity": list(RELIABILITY_OPACITY) if reliability else [0.8, 0.8, 0.8],
        "stroke": "#ffffff",
        "weight": 0.6 if not dense else 0.25,
        "strokeOpacity": 0.9 if not dense else 0.4,
        "fields": fields,
        "legend": {"layer": name, "title": legend_title, "items": items, "notes": notes},
    }
