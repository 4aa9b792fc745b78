"""How a column is shown: its kind and units from its name, and its values as display text.

The kinds (``share``, ``score``, ``mbps``, ``ms``, ``count``, ``number``, ``text``) follow the
column naming conventions of docs/contracts.md; legends, tooltips, popups, the PNG and the
candidates table all format by them.
"""

from __future__ import annotations

import pandas as pd

__all__: list[str] = []

# Display scale, decimals and suffix of numbers in tooltips, by column kind.
_NUMBER_DISPLAY: dict[str, tuple[float, int, str]] = {
    "share": (100.0, 1, "%"),
    "score": (1.0, 1, ""),
    "mbps": (1.0, 1, " Mbps"),
    "ms": (1.0, 0, " ms"),
    "count": (1.0, 0, ""),
    "number": (1.0, 3, ""),
}


def _column_kind(column: str) -> tuple[str, str]:
    """(kind, units) of a column from the naming conventions of docs/contracts.md."""
    if column.startswith(("share_", "moe_share_")) or column in (
        "broadband_usage",
        "broadband_availability",
    ):
        return "share", "% of households" if "household" in column or "hh" in column else "%"
    if column == "equity_index" or column.startswith("equity_index"):
        return "score", "index 0-100, higher = more need"
    if column.startswith("score_") or column.endswith("_score"):
        return "score", "score 0-100, higher = more need"
    if column.endswith("_mbps"):
        return "mbps", "Mbps"
    if column.endswith("_ms"):
        return "ms", "ms"
    if column in ("rank", "rank_in_state", "rank_lo", "rank_hi") or column.startswith(
        ("n_", "hh_", "pop_", "households", "population", "establishments", "ookla_")
    ):
        return "count", ""
    return "number", ""


def _format_series(values: pd.Series, kind: str) -> pd.Series:
    """Values as display strings (vectorised), object dtype with ``None`` where missing."""
    if kind == "text":
        mask = values.notna()
        text = values.astype(str)
    else:
        num = pd.to_numeric(values, errors="coerce").astype(float)
        mask = num.notna()
        if kind == "share":
            text = (num * 100).round(1).astype(str) + "%"
        elif kind == "score":
            text = num.round(1).astype(str)
        elif kind == "mbps":
            text = num.round(1).astype(str) + " Mbps"
        elif kind == "ms":
            text = num.round(0).astype(str) + " ms"
        elif kind == "count":
            text = num.round(0).astype("Int64").astype(str)
        else:
            text = num.round(4).astype(str)
    return text.astype(object).where(mask, None)


def _format(values: pd.Series, kind: str) -> list[str | None]:
    """Values as display strings; missing values become ``None``."""
    return _format_series(values, kind).tolist()


def _format_interval(mid: pd.Series, lo: pd.Series, hi: pd.Series, kind: str) -> list[str | None]:
    """``"45.2 [38.1\u201352.0]"``; the bracket is left out where the interval is missing."""
    m, a, b = (_format_series(x, kind) for x in (mid, lo, hi))
    has = m.notna() & a.notna() & b.notna()
    both = m.astype(str) + " [" + a.astype(str) + "\u2013" + b.astype(str) + "]"
    return both.where(has, m).astype(object).where(m.notna(), None).tolist()


def _numbers(values: pd.Series, kind: str) -> list[float | int | None]:
    """Numbers scaled and rounded for display (JSON-able, ``None`` where missing)."""
    scale, decimals, _ = _NUMBER_DISPLAY[kind]
    num = pd.to_numeric(values, errors="coerce").astype(float) * scale
    if decimals == 0:
        return num.round(0).astype("Int64").astype(object).where(num.notna(), None).tolist()
    return num.round(decimals).astype(object).where(num.notna(), None).tolist()
