"""Fellow placement: candidates, scores, selection modes and explanations.

A program planner's question is "where do we place our fellows, and why there". Given a level
table (towns, tracts, counties, ... with the index columns of ``docs/contracts.md``),
:func:`rank_candidates` scores every candidate place, selects sites and explains each one.
The options travel together as one :class:`PlacementOptions`.

The subpackage reads as the steps of :func:`rank_candidates`:

``options``
    :class:`PlacementOptions` and the vocabularies (modes, levels, score names, backends).
``candidates``
    Input checks, filters, centroids, states and the demand places.
``scores``
    What is within reach of each candidate; need, readiness, reach and the combined score.
``coverage``
    Coverage matrix (a k-d tree radius query), greedy covering, the exact MCLP, spacing.
``selection``
    The ``top``, ``coverage`` and ``robust`` selection modes.
``explain``
    Driving pillar, top indicators, sensitivity to the weights and the ``why`` sentence.
``partner``
    The suggested local partner of each candidate and its runner-up (the host score).
``organisations``, ``duplicates``, ``partner_rows``
    The partner layer: every source located (geocoder, ZIP centres), each organisation once.
``rank``
    :func:`rank_candidates`, the steps called in order.

Scores (each 0-100, higher is better for a fellow)
---------------------------------------------------
``need_score``
    The place's digital-equity index (``equity_index``, 0-100, higher = more need).
``readiness_score``
    Partners a fellow can work with. For each candidate, the partner organisations within the
    service radius ``R`` count once each, weighted by kind (:data:`ANCHOR_WEIGHTS`, or the run
    configuration's ``[partners.weights]``: libraries 3, colleges 2, schools, nonprofits,
    community centres and any other kind 1) and by distance ``d`` (:data:`DECAYS`, option
    ``decay``: ``linear`` ``1 - d / R`` by default, ``gaussian`` ``exp(-2 (d / R)^2)``,
    ``none``), divided by the population within the radius (per 10,000 people). When a
    ``business`` table is given, the business base (establishments per 1,000 people of the
    candidate's county, or of whatever area the table is keyed by) enters too::

        readiness = pct(anchors per 10k)                        (no business table)
        readiness = (2 * pct(anchors per 10k) + pct(establishments per 1k)) / 3

    where ``pct`` is the percentile rank over all candidates, scaled 0-100 (ties share the
    average rank; a constant gives 50).
``reach_score``
    People in need within the service radius: the sum over demand places (``demand``, by
    default the places themselves) whose centroid lies within ``radius_km`` of the
    candidate's centroid of ``population * equity_index / 100``, as a percentile rank 0-100.
``combined_score``
    ``weights["need"] * need + weights["readiness"] * readiness + weights["reach"] * reach``
    with the weights normalised to sum to 1 (default :data:`DEFAULT_WEIGHTS`: 0.5, 0.25, 0.25).

Selection modes (:data:`MODES`)
-------------------------------
``top``
    The best ``k`` candidates by combined score per state (one per state by default), or
    nationally when ``per_state=False``.
``coverage``
    The maximal covering location problem (MCLP, Church & ReVelle 1974): choose ``k`` sites
    maximising the need-weighted population (``population * equity_index / 100`` of the
    demand places) within ``radius_km``, solved exactly with the CBC solver bundled with PuLP:
    the model is :class:`spopt.locate.MCLP` for small problems and the same model built
    sparsely in PuLP for large ones (see :func:`solve_mclp`).
``robust``
    Repeat the selection (``base_mode``, ``top`` by default) over the index's uncertainty
    draws and report how often each candidate is chosen (``times_selected``,
    ``share_selected``); the candidates chosen most often are selected.

Distances are great-circle (haversine, mean Earth radius 6,371.0088 km, :mod:`equity.distance`)
between centroids computed in an equal-area projection (EPSG:6933).

Existing program sites are always part of the selection when ``keep_existing=True`` (and
``k`` counts them); with ``keep_existing=False`` they are removed from the candidates and, in
coverage mode, the demand they already serve (within the radius) counts as covered.
"""

from __future__ import annotations

from equity.distance import EARTH_RADIUS_KM, haversine_km
from equity.index import INTERVENTIONS
from equity.indicators import PILLARS
from equity.placement.coverage import _reduce_demand as _reduce_demand  # bench_placement.py
from equity.placement.coverage import (
    coverage_matrix,
    greedy_coverage,
    solve_mclp,
    spacing_conflicts,
)
from equity.placement.options import (
    ANCHOR_WEIGHTS,
    BACKENDS,
    BASE_MODES,
    DECAYS,
    DEFAULT_WEIGHTS,
    LEVELS,
    MODES,
    SCORES,
    PlacementOptions,
)
from equity.placement.rank import rank_candidates

__all__ = [
    "ANCHOR_WEIGHTS",
    "BACKENDS",
    "BASE_MODES",
    "DECAYS",
    "DEFAULT_WEIGHTS",
    "EARTH_RADIUS_KM",
    "INTERVENTIONS",
    "LEVELS",
    "MODES",
    "PILLARS",
    "SCORES",
    "PlacementOptions",
    "coverage_matrix",
    "greedy_coverage",
    "haversine_km",
    "rank_candidates",
    "solve_mclp",
    "spacing_conflicts",
]
