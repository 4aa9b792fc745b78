"""Plain language: what a person reads instead of column names.

Every output a person reads (the ``why`` sentence, top indicators, tooltips, popups, the
workbook and METHODS.md) names an indicator by its label ("households without internet"),
a pillar by its title ("Internet access") and a suggestion by one of the program's four focus
areas (:data:`FOCUS_AREAS`). Code names stay in the machine-readable columns; the glossary
(:func:`glossary`) maps each label to its code name, definition, source and vintage, so a
reader can go from one to the other.

Examples
--------
>>> describe("share_no_internet", 0.22, 0.11)
'households without internet: 22% (state median 11%)'
>>> format_value("median_household_income", 40188.4)
'$40,188'
>>> pillar_title("devices_skills")
'Devices and skills'
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd

from equity.indicators import PILLARS, REGISTRY

__all__ = [
    "FOCUS_AREAS",
    "PILLAR_TITLES",
    "STALE",
    "describe",
    "format_value",
    "glossary",
    "indicator_label",
    "pillar_title",
    "rank_range_text",
    "source_record",
]

#: Pillars as a person reads them (title case, for headings and legends).
PILLAR_TITLES: dict[str, str] = {
    "access": "Internet access",
    "devices_skills": "Devices and skills",
    "affordability": "Affordability",
    "education": "Education",
    "transformation": "Business and nonprofit transformation",
    # the ddi preset's two scores
    "infa": "Infrastructure and adoption",
    "se": "Socioeconomic",
}

#: The program's four focus areas: key -> (name, what a fellow would do there).
FOCUS_AREAS: dict[str, tuple[str, str]] = {
    "digital_access": (
        "digital access",
        "connect households: affordable plans and subsidies, device lending, public Wi-Fi",
    ),
    "cs_education": (
        "computer-science education",
        "bring computer science to schools and libraries: classes, clubs, teacher support",
    ),
    "digital_skills": (
        "digital skills",
        "teach digital skills: classes for older adults, job seekers and people learning English",
    ),
    "digital_transformation": (
        "digital transformation of nonprofits and small businesses",
        "help nonprofits and small businesses go online: websites, tools, cyber-safety",
    ),
}

#: Data that are out of date in a way that changes what they say, by indicator.
STALE: dict[str, str] = {
    "broadband_availability": (
        "broadband availability is the FCC's 25/3 Mbps figure as of the end of 2019 (Form 477, "
        "copied by Microsoft): out of date, and known to overstate availability"
    ),
}

#: The same, in a few words to put beside a value.
STALE_SHORT: dict[str, str] = {"broadband_availability": "FCC 2019 data, out of date"}

_UNIT_WORDS = {
    "share": "percent",
    "mbps": "megabits per second",
    "usd": "US dollars",
    "per_1k": "per 1,000 people",
    "per_10k": "per 10,000 people",
    "km": "kilometres",
    "value": "value",
}


def indicator_label(name: str) -> str:
    """The label of an indicator ("households without internet"); unknown names unchanged.

    Examples
    --------
    >>> indicator_label("km_to_library")
    'distance to the nearest public library'
    """
    ind = REGISTRY.get(name)
    return ind.plain_label if ind is not None else name


def rank_range_text(best: Any, worst: Any) -> str:
    """A candidate's rank range over the weighting variants ("1-3", "2"); "" when unknown.

    Examples
    --------
    >>> rank_range_text(1, 3), rank_range_text(2.0, 2.0), rank_range_text(None, 4)
    ('1-3', '2', '')
    """
    try:
        lo, hi = float(best), float(worst)
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"{lo:.0f}" if lo == hi else f"{lo:.0f}-{hi:.0f}"


def pillar_title(pillar: str) -> str:
    """The title of a pillar ("Internet access"); unknown pillars with spaces for underscores."""
    return PILLAR_TITLES.get(pillar, pillar.replace("_", " ").capitalize())


def format_value(name: str, value: Any) -> str:
    """An indicator's value with its unit ("22%", "24 Mbps", "$40,188", "4.2 km"); "" if missing."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(x):
        return ""
    unit = REGISTRY[name].unit if name in REGISTRY else "value"
    if unit == "share":
        return f"{x:.0%}"
    if unit == "mbps":
        return f"{x:.0f} Mbps"
    if unit == "usd":
        return f"${x:,.0f}"
    if unit == "km":
        return f"{x:.1f} km"
    if unit in ("per_1k", "per_10k"):
        return f"{x:.1f}"
    return f"{x:.3g}"


def describe(name: str, value: Any, median: Any = None, *, national: Any = None) -> str:
    """``"households without internet: 22% (state median 11%)"``; missing medians left out.

    Parameters
    ----------
    name
        Indicator name (a key of :data:`equity.indicators.REGISTRY`).
    value
        The place's value.
    median
        The median over the places of its state.
    national
        The median over all places (shown too: with a national reference, it is what the
        place's need score compares it with).

    Examples
    --------
    >>> describe("share_limited_english", 0.03, 0.06, national=0.01)
    'households with limited English: 3% (state median 6%, national median 1%)'
    >>> describe("broadband_availability", 0.17, 0.78)
    'people with 25/3 Mbps broadband available: 17% (state median 78%; FCC 2019 data, out of date)'
    """
    shown = format_value(name, value)
    label = indicator_label(name)
    if not shown:
        return f"{label}: no data"
    refs = [
        f"{where} median {ref}"
        for where, m in (("state", median), ("national", national))
        if (ref := format_value(name, m))
    ]
    bracket = ", ".join(refs)
    if name in STALE_SHORT:
        bracket = f"{bracket}; {STALE_SHORT[name]}" if bracket else STALE_SHORT[name]
    return f"{label}: {shown} ({bracket})" if bracket else f"{label}: {shown}"


def source_record(source: str, provenance: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The provenance record of an indicator's source id ("imls" -> the "imls_pls" record)."""
    if not source:
        return None
    key = source.lower()
    aliases = {"microsoft": ("microsoft", "usage", "broadband"), "cbp": ("cbp", "business")}
    words = aliases.get(key, (key,))
    for rec in provenance:
        rid = str(rec.get("source") or "").lower()
        if rid == key or any(rid.startswith(w) for w in words):
            return rec
    return None


def _glossary_row(
    name: str, pillar: str | None, provenance: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """One indicator's glossary entry (see :func:`glossary`)."""
    ind = REGISTRY.get(name)
    if ind is None:
        return {
            "label": name,
            "column": name,
            "pillar": pillar_title(pillar or ""),
            "definition": "",
            "unit": "",
            "higher_means": "",
            "source": "",
            "vintage": "",
            "note": "",
        }
    rec = source_record(ind.source, provenance) or {}
    notes = ["weak proxy of its pillar"] if ind.weak_proxy else []
    if name in STALE:
        notes.append(STALE[name])
    return {
        "label": indicator_label(name),
        "column": name,
        "pillar": pillar_title(pillar or ind.pillar),
        "definition": ind.description,
        "unit": _UNIT_WORDS.get(ind.unit, ind.unit),
        "higher_means": "more need" if ind.direction > 0 else "less need",
        "source": str(rec.get("title") or ind.source),
        "vintage": str(rec.get("vintage") or ""),
        "note": "; ".join(notes),
    }


def glossary(
    indicators: Iterable[str],
    provenance: Sequence[Mapping[str, Any]] = (),
    *,
    weights: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """One row per indicator: label, code name, pillar, definition, unit, source and vintage.

    Parameters
    ----------
    indicators
        Indicator names (unknown names are listed with what is known: their name).
    provenance
        The run's provenance records; an indicator's source id is matched to one of them for
        its title and vintage.
    weights
        Pillar -> indicator -> weight within the pillar, as used (``attrs["index"]["weights"]``):
        adds the ``weight_in_pillar`` column and orders rows by pillar.

    Returns
    -------
    pandas.DataFrame
        ``label``, ``column``, ``pillar``, ``definition``, ``unit``, ``higher_means``,
        ``source``, ``vintage``, ``note`` (weak proxy, stale data) and, with `weights`,
        ``weight_in_pillar``.

    Examples
    --------
    >>> glossary(["km_to_library"])[["label", "column", "pillar"]].to_dict("records")
    [{'label': 'distance to the nearest public library', 'column': 'km_to_library', 'pillar': 'Education'}]
    """
    names = list(dict.fromkeys(indicators))
    used = {n: (p, w) for p, ws in (weights or {}).items() for n, w in ws.items()}
    if weights:
        order = {p: i for i, p in enumerate(dict.fromkeys([*PILLARS, *weights]))}
        names.sort(key=lambda n: order.get(used.get(n, ("~", 0))[0], len(order)))
    rows = []
    for name in names:
        row = _glossary_row(name, used.get(name, (None, None))[0], provenance)
        if weights:
            row["weight_in_pillar"] = float(used[name][1]) if name in used else float("nan")
        rows.append(row)
    return pd.DataFrame(rows, columns=None if rows else ["label", "column"])
