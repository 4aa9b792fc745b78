"""Focus areas: which of the program's four focus areas a place calls for, and why.

The program works in four focus areas (:data:`equity.glossary.FOCUS_AREAS`): digital access,
computer-science education, digital skills, and the digital transformation of nonprofits and
small businesses. A place's suggestion follows its pillar profile:

============================  ===================================================
pillar scoring highest         focus area
============================  ===================================================
access, affordability          digital access
devices_skills                 digital access when households without a computer
                               is the pillar's strongest indicator, else digital
                               skills
education                      computer-science education
transformation                 digital transformation
============================  ===================================================

A pillar whose indicators with data are all weak proxies
(:attr:`equity.indicators.Indicator.weak_proxy`, e.g. distance to a library alone) cannot
drive a suggestion by itself: the next pillar does, and the reason says so. Each suggestion
comes with its reason: the pillar's score and its strongest indicator against the state's
median.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from equity.glossary import FOCUS_AREAS, describe, indicator_label, pillar_title
from equity.indicators import PILLARS, REGISTRY

if TYPE_CHECKING:
    from equity.placement.explain import Medians

__all__ = ["Focus", "focus_areas", "pillar_indicators", "weak_pillars"]

#: Focus area of each pillar (devices_skills is decided by its strongest indicator).
PILLAR_FOCUS: dict[str, str] = {
    "access": "digital_access",
    "affordability": "digital_access",
    "devices_skills": "digital_skills",
    "education": "cs_education",
    "transformation": "digital_transformation",
    "infa": "digital_access",
    "se": "digital_skills",
}
#: Indicators that turn a devices-and-skills need into a digital-access one (devices).
_DEVICE_INDICATORS = ("share_no_computer",)


@dataclass(frozen=True)
class Focus:
    """Per candidate: the focus area (key and name), the pillar behind it and the reason."""

    key: list[str | None]
    name: list[str | None]
    pillar: list[str | None]
    reason: list[str]


def pillar_indicators(
    table: pd.DataFrame, meta: Mapping[str, Any] | None = None
) -> dict[str, list[str]]:
    """Pillar -> the indicators it used: the index's record, else the ``norm_`` columns.

    Examples
    --------
    >>> pillar_indicators(pd.DataFrame(columns=["norm_km_to_library", "score_education"]))
    {'education': ['km_to_library']}
    """
    weights = (meta or {}).get("weights")
    if isinstance(weights, Mapping) and all(isinstance(v, Mapping) for v in weights.values()):
        return {str(p): [str(n) for n in ws] for p, ws in weights.items() if ws}
    out: dict[str, list[str]] = {}
    for col in table.columns:
        name = str(col).removeprefix("norm_")
        if str(col).startswith("norm_") and name in REGISTRY:
            out.setdefault(REGISTRY[name].pillar, []).append(name)
    return out


def weak_pillars(used: Mapping[str, list[str]]) -> dict[str, str]:
    """Pillars resting on weak proxies alone -> the plain words for it.

    Examples
    --------
    >>> weak_pillars({"education": ["km_to_library"], "access": ["share_no_internet"]})
    {'education': 'rests on distance to the nearest public library alone, a weak proxy'}
    """
    out: dict[str, str] = {}
    for pillar, names in used.items():
        known = [REGISTRY[n] for n in names if n in REGISTRY]
        if known and len(known) == len(names) and all(i.weak_proxy for i in known):
            labels = " and ".join(i.plain_label for i in known)
            alone = "alone, a weak proxy" if len(known) == 1 else "alone, weak proxies"
            out[pillar] = f"rests on {labels} {alone}"
    return out


def _strongest(
    row: int, names: list[str], norm: Mapping[str, np.ndarray], weights: Mapping[str, float]
) -> str | None:
    """The indicator of `names` adding most need at `row` (normalised value x weight)."""
    best, best_v = None, -np.inf
    for n in names:
        if n in norm and np.isfinite(v := norm[n][row] * weights.get(n, 1.0)) and v > best_v:
            best, best_v = n, v
    return best


@dataclass(frozen=True)
class _Profile:
    """What every candidate's focus is read from."""

    pillars: list[str]
    scores: np.ndarray  # (n, pillars)
    used: dict[str, list[str]]
    weak: dict[str, str]
    norm: dict[str, np.ndarray]
    raw: dict[str, np.ndarray]
    medians: Medians | None
    weights: dict[str, float]


def _one(p: _Profile, i: int) -> tuple[str | None, str | None, str]:
    """Focus key, pillar and reason of candidate `i`."""
    vals = p.scores[i]
    order = [
        j for j in np.argsort(-np.nan_to_num(vals, nan=-1.0), kind="stable") if vals[j] == vals[j]
    ]
    if not order:
        return None, None, "no pillar has data here"
    skipped = []
    for j in order:
        pillar = p.pillars[j]
        if pillar in p.weak:
            skipped.append(
                f"{pillar_title(pillar)} scores {vals[j]:.0f}/100 but {p.weak[pillar]}, "
                "so it does not drive the suggestion"
            )
            continue
        key = PILLAR_FOCUS.get(pillar)
        top = _strongest(i, p.used.get(pillar, []), p.norm, p.weights)
        if pillar == "devices_skills" and top in _DEVICE_INDICATORS:
            key = "digital_access"
        because = f"{pillar_title(pillar)} is the highest-scoring pillar ({vals[j]:.0f}/100)"
        if j != order[0]:
            because = f"{pillar_title(pillar)} is the highest-scoring pillar that rests on more than a weak proxy ({vals[j]:.0f}/100)"
        if top is not None:
            value = p.raw[top][i] if top in p.raw else np.nan
            state, national = p.medians.of(top, i) if p.medians is not None else (None, None)
            because += (
                f"; {describe(top, value, state, national=national)}"
                if np.isfinite(value)
                else f"; strongest indicator {indicator_label(top)}"
            )
        return key, pillar, "; ".join([because, *skipped])
    return None, None, "; ".join(skipped) or "no pillar has data here"


def focus_areas(
    cand: pd.DataFrame,
    meta: Mapping[str, Any] | None,
    *,
    medians: Medians | None = None,
) -> Focus:
    """The focus area of each candidate from its pillar scores, with the reason.

    Parameters
    ----------
    cand
        Candidates with ``score_<pillar>`` and, when present, ``norm_<indicator>`` and the
        raw indicator columns.
    meta
        The index's record (``attrs["index"]``): the indicators each pillar used
        (``weights``) and their weights (``indicator_weights``).
    medians
        The state and national medians of the indicators (shown in the reason;
        :func:`equity.placement.explain.state_medians`).

    Returns
    -------
    Focus
        Key (a key of :data:`equity.glossary.FOCUS_AREAS`, None when no pillar can drive it),
        name, pillar and reason per candidate.

    Examples
    --------
    >>> cand = pd.DataFrame({"score_access": [40.0, 90.0], "score_education": [95.0, 10.0],
    ...                      "norm_share_no_internet": [0.4, 0.9], "norm_km_to_library": [0.95, 0.1]})
    >>> focus_areas(cand, None).key
    ['digital_access', 'digital_access']
    """
    pillars = [p for p in [*PILLARS, "infa", "se"] if f"score_{p}" in cand.columns]
    used = pillar_indicators(cand, meta)
    iw = (meta or {}).get("indicator_weights") or {}
    profile = _Profile(
        pillars=pillars,
        scores=cand[[f"score_{p}" for p in pillars]].to_numpy(dtype=float, na_value=np.nan)
        if pillars
        else np.empty((len(cand), 0)),
        used=used,
        weak=weak_pillars(used),
        norm={
            str(c)[5:]: pd.to_numeric(cand[c], errors="coerce").to_numpy(dtype=float)
            for c in cand.columns
            if str(c).startswith("norm_")
        },
        raw={
            n: pd.to_numeric(cand[n], errors="coerce").to_numpy(dtype=float)
            for names in used.values()
            for n in names
            if n in cand.columns
        },
        medians=medians,
        weights={str(k): float(v) for k, v in iw.items()} if isinstance(iw, Mapping) else {},
    )
    keys, pillars_out, reasons = [], [], []
    for i in range(len(cand)):
        key, pillar, reason = _one(profile, i)
        keys.append(key)
        pillars_out.append(pillar)
        reasons.append(reason)
    names = [FOCUS_AREAS[k][0] if k else None for k in keys]
    return Focus(keys, names, pillars_out, reasons)
