"""The options of fellow placement, declared once: :class:`PlacementOptions` and its vocabularies.

The Python API (:func:`equity.placement.rank_candidates`), the run configuration and the CLI all
build the same :class:`PlacementOptions`; it checks every value when it is made, so a bad
option fails before any data is read.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equity import settings
from equity.errors import PlacementError, check_choice

__all__ = [
    "ANCHOR_WEIGHTS",
    "BACKENDS",
    "BASE_MODES",
    "DECAYS",
    "DEFAULT_WEIGHTS",
    "LEVELS",
    "MODES",
    "SCORES",
    "PlacementOptions",
]

#: Selection modes of :func:`~equity.placement.rank_candidates`.
MODES: tuple[str, ...] = ("top", "coverage", "robust")

#: Selections that robust mode repeats per draw.
BASE_MODES: tuple[str, ...] = ("top", "coverage")

#: The three scores of a candidate, the keys of the score weights.
SCORES: tuple[str, ...] = ("need", "readiness", "reach")

#: Levels whose places a run can rank as candidates.
LEVELS: tuple[str, ...] = ("town", "tract", "county", "blockgroup")

#: Ways to solve the maximal covering problem (see :func:`~equity.placement.solve_mclp`).
BACKENDS: tuple[str, ...] = ("auto", "spopt", "pulp")

#: Default weights of the three scores in the combined score.
DEFAULT_WEIGHTS: dict[str, float] = {"need": 0.5, "readiness": 0.25, "reach": 0.25}

#: Weight of one anchor institution of each kind in the readiness score (other kinds: 1).
ANCHOR_WEIGHTS: dict[str, float] = {
    "library": 3.0,
    "college": 2.0,
    "school": 1.0,
    "nonprofit": 1.0,
    "community_center": 1.0,
}


#: How a partner's weight falls with its distance from a candidate, up to the service radius
#: ``R``: ``linear`` ``1 - d / R``; ``gaussian`` ``exp(-2 (d / R)^2)`` (sigma ``R / 2``, 0.14 at
#: ``R``); ``none`` 1 (every partner within the radius counts fully).
DECAYS: tuple[str, ...] = ("linear", "gaussian", "none")


def check_k(k: Any, name: str = "k") -> int:
    """`k` as an int, or :class:`PlacementError` unless it is a positive integer."""
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        msg = f"{name} must be a positive integer, got {k!r}"
        raise PlacementError(msg)
    return int(k)


def normalise_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    """Score weights checked and scaled to sum 1 (missing scores weigh 0; None: the defaults)."""
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    for name in sorted(set(w) - set(SCORES)):
        check_choice("score weight", name, SCORES)
    full = {key: float(w.get(key, 0.0)) for key in SCORES}
    if any(not math.isfinite(v) or v < 0 for v in full.values()) or sum(full.values()) <= 0:
        msg = f"score weights must be non-negative and not all zero, got {full}"
        raise PlacementError(msg)
    total = sum(full.values())
    return {key: v / total for key, v in full.items()}


def _number(value: Any) -> float:
    """`value` as a float, NaN when it is not a number (so the range checks reject it)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


@dataclass(frozen=True, kw_only=True)
class PlacementOptions:
    """Every option of fellow placement, checked once when the object is made.

    Parameters
    ----------
    level
        The level whose places are ranked (:data:`LEVELS`), for a run that picks the table;
        :func:`~equity.placement.rank_candidates` ranks the table it is given. Default: not set.
    mode
        Selection mode (:data:`MODES`): ``top``, ``coverage`` or ``robust``.
    base_mode
        Robust mode: the selection repeated per draw (:data:`BASE_MODES`).
    k
        Sites per state (``per_state=True``) or in total; existing kept sites count.
    per_state
        Select per state (one fellow per state by default) or nationally.
    radius_km
        Service radius in km; default :data:`equity.settings.radius_km` (when made).
    weights
        Weights of ``need``, ``readiness`` and ``reach``; missing keys are 0; default
        :data:`DEFAULT_WEIGHTS`. :attr:`score_weights` gives them normalised to sum 1.
    min_households, min_population
        Candidates with fewer households or people are dropped (0: no filter).
    min_spacing_km
        Coverage mode: no two new sites closer than this (centroid distance; 0: no limit).
    states
        States to include (FIPS codes, USPS codes or names; one or several, kept as a tuple);
        default None: all. An empty tuple leaves no candidate.
    existing_sites
        GEOIDs of existing program sites (one or several, kept as a tuple of strings).
    keep_existing
        ``True``: existing sites are always selected; ``False``: they are removed from the
        candidates (and in coverage mode the demand they serve counts as covered).
    anchor_weights
        Weight of one anchor of each kind in the readiness score, overriding
        :data:`ANCHOR_WEIGHTS` for the kinds it names (other kinds weigh 1).
    decay
        How a partner's weight falls with distance within the radius (:data:`DECAYS`), in
        readiness and in the choice of the suggested partner; default ``linear``.
    listed_bonus
        Factor on the host score of organisations on the planner's own list (``listed``) when
        the suggested partner is chosen (1: no preference); default 1.5.
    backend
        How the coverage problem is solved (:data:`BACKENDS`, see
        :func:`~equity.placement.solve_mclp`).
    n_draws
        Robust mode without given draws: the number of draws from each place's interval;
        default :data:`equity.settings.n_draws`.
    seed
        Seed of those draws; default :data:`equity.settings.seed`.

    Raises
    ------
    ChoiceError
        An unknown mode, base mode, level, backend or score name (the message lists the
        valid ones).
    PlacementError
        A number out of range: ``k`` not a positive integer, radius not positive, spacing
        negative, weights negative or all zero, anchor weights or ``n_draws`` invalid.

    Examples
    --------
    >>> opts = PlacementOptions(mode="coverage", k=2, radius_km=30, weights={"need": 2, "reach": 2})
    >>> opts.score_weights
    {'need': 0.5, 'readiness': 0.0, 'reach': 0.5}
    >>> PlacementOptions(mode="best")
    Traceback (most recent call last):
    ...
    equity.errors.ChoiceError: unknown mode 'best'; valid: top, coverage, robust
    """

    level: str | None = None
    mode: str = "top"
    base_mode: str = "top"
    k: int = 1
    per_state: bool = True
    radius_km: float = field(default_factory=lambda: settings.radius_km)
    weights: Mapping[str, float] | None = None
    min_households: float = 0
    min_population: float = 0
    min_spacing_km: float = 0.0
    states: tuple[str | int, ...] | None = None
    existing_sites: tuple[str, ...] = ()
    keep_existing: bool = True
    anchor_weights: Mapping[str, float] | None = None
    decay: str = "linear"
    listed_bonus: float = 1.5
    backend: str = "auto"
    n_draws: int = field(default_factory=lambda: settings.n_draws)
    seed: int = field(default_factory=lambda: settings.seed)

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, MODES)
        check_choice("base_mode", self.base_mode, BASE_MODES)
        radius = _number(self.radius_km)
        if not (math.isfinite(radius) and radius > 0):
            msg = f"radius_km must be a positive number of km, got {self.radius_km!r}"
            raise PlacementError(msg)
        spacing = _number(self.min_spacing_km)
        if not (math.isfinite(spacing) and spacing >= 0):
            msg = f"min_spacing_km must be >= 0, got {self.min_spacing_km!r}"
            raise PlacementError(msg)
        self._set("radius_km", radius)
        self._set("min_spacing_km", spacing)
        self._set("k", check_k(self.k))
        normalise_weights(self.weights)
        if self.level is not None:
            check_choice("placement level", self.level, LEVELS)
        check_choice("MCLP backend", self.backend, BACKENDS)
        self._check_anchor_weights()
        check_choice("distance decay", self.decay, DECAYS)
        bonus = _number(self.listed_bonus)
        if not (math.isfinite(bonus) and bonus >= 0):
            msg = f"listed_bonus must be a number >= 0, got {self.listed_bonus!r}"
            raise PlacementError(msg)
        self._set("listed_bonus", bonus)
        self._set("n_draws", check_k(self.n_draws, "n_draws"))
        if (
            isinstance(self.seed, bool)
            or not isinstance(self.seed, numbers.Integral)
            or self.seed < 0
        ):
            msg = f"seed must be a whole number >= 0, got {self.seed!r}"
            raise PlacementError(msg)
        self._set("states", _as_tuple(self.states))
        existing = _as_tuple(self.existing_sites) or ()
        self._set("existing_sites", tuple(str(g) for g in existing))

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)  # frozen: values are normalised once, here

    def _check_anchor_weights(self) -> None:
        for kind, weight in (self.anchor_weights or {}).items():
            if not (math.isfinite(_number(weight)) and _number(weight) >= 0):
                msg = f"anchor weight of {kind!r} must be a number >= 0, got {weight!r}"
                raise PlacementError(msg)

    @property
    def score_weights(self) -> dict[str, float]:
        """The weights of need, readiness and reach, normalised to sum 1."""
        return normalise_weights(self.weights)

    def anchor_weight(self, kind: str) -> float:
        """Weight of one anchor of `kind` in the readiness score."""
        given = dict(self.anchor_weights or {})
        return float(given.get(kind, ANCHOR_WEIGHTS.get(kind, 1.0)))


def _as_tuple(values: Iterable[Any] | str | int | None) -> tuple[Any, ...] | None:
    """One value or several as a tuple (a string is one value); None stays None."""
    if values is None:
        return None
    if isinstance(values, str | int):
        return (values,)
    return tuple(values)
