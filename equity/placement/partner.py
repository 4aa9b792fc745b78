"""The suggested local partner of each candidate: the organisation best placed to host a fellow.

The program's lesson is that one organisation rooted in the community, through which the fellow
works, matters more than many. For each candidate, every partner organisation within the service
radius gets a **host score**::

    host = kind weight x capacity x decay(distance) x (listed bonus, if on the planner's list)

- *kind weight*: the same weight the kind has in readiness (``[partners.weights]``: library 3,
  college 2, school, nonprofit, community centre 1 by default);
- *capacity* (0.25-1) from the IRS size class of a nonprofit (its income class, else its asset
  class; :data:`CAPACITY`): under $25,000 or none reported 0.25, $25,000-99,999 0.5,
  $100,000-499,999 0.75, $500,000 or more 1. Libraries, colleges and schools (IMLS, IPEDS,
  NCES) and organisations whose size is unknown count 1: they are institutions with staff and
  a building;
- *decay* (:func:`distance_decay`): ``linear`` ``1 - d / R`` by default, ``gaussian``
  ``exp(-2 (d / R)^2)`` or ``none``, with ``R`` the service radius;
- *listed bonus* (default 1.5): the planner already knows the organisations on their list.

The organisation with the highest host score is the suggested partner, the next one the
runner-up (ties go to the nearer, then the smaller id). Both lie within the radius, they
are different organisations (each organisation is one row of the partner layer), and each is
described in plain words: ``"Southwest Virginia Community College, 4 km: public 2-year college
with 1,000-4,999 students"``.

Examples
--------
>>> distance_decay(np.array([0.0, 12.5, 25.0]), 25.0, "linear").tolist()
[1.0, 0.5, 0.0]
>>> display_name(pd.Series(["FRIENDS OF THE YMCA OF ALASKA INC", "Abingdon Library"])).tolist()
['Friends of the YMCA of Alaska Inc', 'Abingdon Library']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.errors import check_choice
from equity.placement.options import DECAYS
from equity.sources.nonprofits import SIZE_CLASSES

__all__ = [
    "CAPACITY",
    "PARTNER_COLUMNS",
    "PartnerPairs",
    "display_name",
    "distance_decay",
    "host_scores",
    "suggest_partners",
]

#: Capacity of a nonprofit by IRS size class (0-9); unknown sizes and institutions count 1.
CAPACITY: dict[int, float] = {
    0: 0.25,
    1: 0.25,
    2: 0.25,
    3: 0.5,
    4: 0.75,
    5: 1.0,
    6: 1.0,
    7: 1.0,
    8: 1.0,
    9: 1.0,
}

#: Columns :func:`suggest_partners` adds to the candidates, in order.
PARTNER_COLUMNS: tuple[str, ...] = (
    "partner_name",
    "partner_kind",
    "partner_km",
    "partner_score",
    "partner_id",
    "partner_summary",
    "runner_up_name",
    "runner_up_kind",
    "runner_up_km",
    "runner_up_score",
    "runner_up_id",
    "runner_up_summary",
)

_INSTITUTIONS = ("imls", "ipeds", "nces")
_SMALL_WORDS = frozenset({"of", "the", "and", "for", "in", "at", "on", "to", "a", "an", "by"})
_ACRONYMS = frozenset(
    {"YMCA", "YWCA", "YMHA", "YWHA", "PTA", "PTO", "PTSA", "USA", "US", "NAACP", "AARP", "VFW"}
    | {"STEM", "STEAM", "HBCU", "CDC", "EDC", "CDFI", "LGBT", "LGBTQ", "II", "III", "IV", "4H"}
)


@dataclass(frozen=True)
class PartnerPairs:
    """Candidate ``i`` and partner ``j`` within the service radius, ``km`` apart."""

    i: np.ndarray
    j: np.ndarray
    km: np.ndarray


def distance_decay(km: np.ndarray, radius_km: float, decay: str) -> np.ndarray:
    """Weight of a partner `km` away (within `radius_km`) under `decay` (:data:`DECAYS`).

    ``linear``: ``1 - d / R``; ``gaussian``: ``exp(-2 (d / R)^2)`` (a normal curve with sigma
    ``R / 2``, 0.135 at the radius); ``none``: 1.
    """
    check_choice("distance decay", decay, DECAYS)
    d = np.clip(np.asarray(km, dtype=float) / float(radius_km), 0.0, 1.0)
    if decay == "linear":
        return 1.0 - d
    if decay == "gaussian":
        return np.exp(-2.0 * d**2)
    return np.ones_like(d)


def _word(word: str) -> str:
    if word.upper() in _ACRONYMS or any(ch.isdigit() for ch in word):
        return word.upper()
    parts = word.split("-")
    return "-".join(p[:1].upper() + p[1:].lower() for p in parts)


def _titled(name: str) -> str:
    words = name.split()
    out = [_word(w) for w in words]
    return " ".join(
        w.lower() if k and w.lower() in _SMALL_WORDS and w.upper() not in _ACRONYMS else w
        for k, w in enumerate(out)
    )


def display_name(names: pd.Series) -> pd.Series:
    """Names as shown to people: names written in capitals (IRS, IMLS) in title case, acronyms
    (YMCA, PTA, 4H) and small words (of, the, and) kept as such; other names unchanged."""
    s = names.astype("string")
    shouting = s.str.fullmatch(r"[^a-z]*[A-Z][^a-z]*").fillna(False)
    return s.where(~shouting, s.map(_titled, na_action="ignore")).astype("string")


def _column(partners: pd.DataFrame, name: str, default: object) -> pd.Series:
    if name in partners.columns:
        return partners[name].reset_index(drop=True)
    return pd.Series([default] * len(partners), dtype=object)


def _capacity(partners: pd.DataFrame) -> np.ndarray:
    """Capacity 0.25-1 of each partner (see the module notes)."""
    size = pd.to_numeric(_column(partners, "size_class", np.nan), errors="coerce")
    cap = size.map(CAPACITY).fillna(1.0).to_numpy(dtype=float)
    sources = _column(partners, "sources", "").astype("string").fillna("")
    institution = sources.str.contains("|".join(_INSTITUTIONS), regex=True).to_numpy(dtype=bool)
    return np.where(institution, 1.0, cap)


def host_scores(
    partners: pd.DataFrame,
    pairs: PartnerPairs,
    *,
    radius_km: float,
    decay: str,
    kind_weight: Callable[[str], float],
    listed_bonus: float,
) -> np.ndarray:
    """Host score of each pair (see the module notes)."""
    kinds = _column(partners, "kind", "other").astype("string").fillna("other").to_numpy(dtype=str)
    weight = np.array([kind_weight(k) for k in kinds], dtype=float)
    listed = _column(partners, "listed", False).fillna(False).to_numpy(dtype=bool)
    per_partner = weight * _capacity(partners) * np.where(listed, listed_bonus, 1.0)
    return per_partner[pairs.j] * distance_decay(pairs.km, radius_km, decay)


def _km_text(km: float) -> str:
    return f"{km:.1f} km" if km < 9.95 else f"{km:.0f} km"


def _size_text(partners: pd.DataFrame) -> pd.Series:
    size = pd.to_numeric(_column(partners, "size_class", np.nan), errors="coerce")
    basis = _column(partners, "size_basis", "income").astype("string").fillna("income")
    words = size.map(SIZE_CLASSES).astype("string")
    text = " with " + basis + " " + words
    text = text.where(size != 0, " with no income reported")
    return text.where(size.notna(), "").astype("string")


def _what(partners: pd.DataFrame) -> pd.Series:
    """What each partner is, in words: ``"education nonprofit with income $1-5 million"``."""
    kind = _column(partners, "kind", "other").astype("string").fillna("other")
    detail = _column(partners, "detail", pd.NA).astype("string")
    detail = detail.fillna(kind.str.replace("_", " ", regex=False))
    notes = []
    listed = _column(partners, "listed", False).fillna(False).to_numpy(dtype=bool)
    located = _column(partners, "located", "").astype("string").fillna("").to_numpy(dtype=str)
    for on_list, where in zip(listed, located, strict=True):
        parts = (["on your list"] if on_list else []) + (
            ["located by ZIP code"] if where == "zip" else []
        )
        notes.append(f" ({'; '.join(parts)})" if parts else "")
    return (detail + _size_text(partners) + pd.Series(notes, dtype="string")).astype("string")


def _top_two(i: np.ndarray, score: np.ndarray, km: np.ndarray, tiebreak: np.ndarray):  # type: ignore[no-untyped-def]
    """Positions (into the pairs) of the best and second-best pair of each candidate."""
    order = np.lexsort((tiebreak, km, -score, i))
    i_sorted = i[order]
    start = np.r_[True, i_sorted[1:] != i_sorted[:-1]] if len(order) else np.zeros(0, bool)
    first_pos = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - first_pos
    return order[rank == 0], order[rank == 1]


def suggest_partners(
    partners: gpd.GeoDataFrame | pd.DataFrame | None,
    pairs: PartnerPairs | None,
    n_candidates: int,
    *,
    radius_km: float,
    decay: str,
    kind_weight: Callable[[str], float],
    listed_bonus: float,
) -> pd.DataFrame:
    """The suggested partner and runner-up of each candidate (:data:`PARTNER_COLUMNS`).

    Parameters
    ----------
    partners
        The partner organisations (``name``, ``kind``; ``partner_id`` or ``anchor_id``,
        ``detail``, ``size_class``, ``size_basis``, ``sources``, ``listed``, ``located``
        when known), in the order `pairs` refers to.
    pairs
        Candidate-partner pairs within the radius, with their distances.
    n_candidates
        Number of candidates (rows of the result).
    radius_km, decay, kind_weight, listed_bonus
        The placement options (see :class:`~equity.placement.PlacementOptions`).

    Returns
    -------
    pandas.DataFrame
        One row per candidate; NA (and a summary saying no partner is within the radius)
        where none is.
    """
    out = pd.DataFrame(index=range(n_candidates))
    for prefix in ("partner", "runner_up"):
        for col in ("name", "kind", "id", "summary"):
            out[f"{prefix}_{col}"] = pd.Series(pd.NA, index=out.index, dtype="string")
        out[f"{prefix}_km"] = np.nan
        out[f"{prefix}_score"] = np.nan
    out["partner_summary"] = f"no partner organisation within {radius_km:g} km"
    if partners is None or pairs is None or not len(pairs.i):
        return out[list(PARTNER_COLUMNS)]
    score = host_scores(
        partners,
        pairs,
        radius_km=radius_km,
        decay=decay,
        kind_weight=kind_weight,
        listed_bonus=listed_bonus,
    )
    ids = _column(partners, "partner_id", pd.NA).astype("string")
    if ids.isna().all():
        ids = _column(partners, "anchor_id", pd.NA).astype("string")
    ids = ids.fillna(pd.Series([f"#{k}" for k in range(len(partners))], dtype="string"))
    tiebreak = pd.factorize(ids, sort=True)[0][pairs.j]
    kinds = _column(partners, "kind", "other").astype("string").fillna("other")
    names = display_name(_column(partners, "name", "").astype("string").fillna("").str.strip())
    names = names.where(names != "", "unnamed " + kinds.str.replace("_", " ", regex=False))
    what = _what(partners)
    for prefix, pos in zip(
        ("partner", "runner_up"), _top_two(pairs.i, score, pairs.km, tiebreak), strict=True
    ):
        i, j, km = pairs.i[pos], pairs.j[pos], pairs.km[pos]
        out.loc[i, f"{prefix}_name"] = names.to_numpy()[j]
        out.loc[i, f"{prefix}_kind"] = kinds.to_numpy()[j]
        out.loc[i, f"{prefix}_km"] = np.round(km, 2)
        out.loc[i, f"{prefix}_score"] = np.round(score[pos], 4)
        out.loc[i, f"{prefix}_id"] = ids.to_numpy()[j]
        out.loc[i, f"{prefix}_summary"] = [
            f"{n}, {_km_text(d)}: {w}"
            for n, d, w in zip(names.to_numpy()[j], km, what.to_numpy()[j], strict=True)
        ]
    return out[list(PARTNER_COLUMNS)]
