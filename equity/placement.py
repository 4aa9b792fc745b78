"""Fellow placement: candidates, scores, selection modes and explanations.

A program planner's question is "where do we place our fellows, and why there". Given a level
table (towns, tracts, counties, ... with the index columns of ``docs/contracts.md``),
:func:`rank_candidates` scores every candidate place, selects sites and explains each one.

Scores (each 0-100, higher is better for a fellow)
---------------------------------------------------
``need_score``
    The place's digital-equity index (``equity_index``, 0-100, higher = more need).
``readiness_score``
    Partners a fellow can work with. For each candidate, the anchor institutions within the
    service radius are counted by kind and weighted (:data:`ANCHOR_WEIGHTS`: libraries 3,
    colleges 2, schools, nonprofits, community centres and any other kind 1), divided by the
    population within the radius (per 10,000 people). When a ``business`` table is given, the
    business base (establishments per 1,000 people of the candidate's county, or of whatever
    area the table is keyed by) enters too::

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

Distances are great-circle (haversine, mean Earth radius 6,371.0088 km) between centroids
computed in an equal-area projection (EPSG:6933).

Existing program sites are always part of the selection when ``keep_existing=True`` (and
``k`` counts them); with ``keep_existing=False`` they are removed from the candidates and, in
coverage mode, the demand they already serve (within the radius) counts as covered.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pulp
from scipy.stats import rankdata

from equity import settings
from equity.distance import EARTH_RADIUS_KM as EARTH_RADIUS_KM
from equity.distance import haversine_km
from equity.errors import PlacementError, SchemaError
from equity.index import INTERVENTIONS
from equity.indicators import PILLARS, REGISTRY
from equity.sources._states import STATES

__all__ = [
    "ANCHOR_WEIGHTS",
    "DEFAULT_WEIGHTS",
    "INTERVENTIONS",
    "MODES",
    "PILLARS",
    "coverage_matrix",
    "greedy_coverage",
    "haversine_km",
    "rank_candidates",
    "solve_mclp",
]

logger = logging.getLogger("equity.placement")

#: Selection modes of :func:`rank_candidates`.
MODES: tuple[str, ...] = ("top", "coverage", "robust")

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


_CHUNK_ELEMENTS = 4_000_000  # distance-matrix elements computed at once (~32 MB of float64)
_SPOPT_MAX_ELEMENTS = 25_000  # spopt builds dense constraints: ~17 us per demand x site pair
_FILTER_LABELS = {
    "index": "missing equity_index",
    "states": "states={value!r}",
    "min_population": "min_population={value}",
    "min_households": "min_households={value}",
    "existing": "keep_existing=False (existing sites removed)",
}


# --------------------------------------------------------------------------------------------
# distances and coverage
# --------------------------------------------------------------------------------------------


def _distance_matrix(origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distances (km) between ``origins`` (n, 2) and ``targets`` (m, 2) lon/lat arrays."""
    return haversine_km(
        origins[:, None, 0], origins[:, None, 1], targets[None, :, 0], targets[None, :, 1]
    )


def coverage_matrix(origins: np.ndarray, targets: np.ndarray, *, radius_km: float) -> np.ndarray:
    """Boolean matrix: is target ``j`` within ``radius_km`` of origin ``i``.

    Computed in row chunks so that large inputs (e.g. 6,000 x 6,000) stay within memory.

    Parameters
    ----------
    origins
        Array (n, 2) of longitude, latitude in degrees.
    targets
        Array (m, 2) of longitude, latitude in degrees.
    radius_km
        Radius in km (inclusive).

    Returns
    -------
    numpy.ndarray
        Boolean array of shape (n, m).
    """
    origins = np.asarray(origins, dtype=float).reshape(-1, 2)
    targets = np.asarray(targets, dtype=float).reshape(-1, 2)
    out = np.zeros((len(origins), len(targets)), dtype=bool)
    step = max(1, _CHUNK_ELEMENTS // max(1, len(targets)))
    for start in range(0, len(origins), step):
        out[start : start + step] = (
            _distance_matrix(origins[start : start + step], targets) <= radius_km
        )
    return out


def _check_k(k: Any, n: int, what: str) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        msg = f"k must be a positive integer, got {k!r}"
        raise PlacementError(msg)
    if k > n:
        msg = f"k={k} is larger than the {n} candidates {what}"
        raise PlacementError(msg)
    return int(k)


def _predefined_mask(predefined: np.ndarray | Sequence[int] | None, n: int) -> np.ndarray:
    if predefined is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(predefined)
    if arr.dtype == bool:
        if arr.shape != (n,):
            msg = f"predefined mask has shape {arr.shape}, expected ({n},)"
            raise PlacementError(msg)
        return arr.copy()
    mask = np.zeros(n, dtype=bool)
    mask[arr.astype(int)] = True
    return mask


def _conflict_pairs(conflicts: np.ndarray | None) -> np.ndarray:
    if conflicts is None:
        return np.zeros((0, 2), dtype=int)
    return np.asarray(conflicts, dtype=int).reshape(-1, 2)


def greedy_coverage(
    coverage: np.ndarray,
    weights: np.ndarray,
    *,
    k: int,
    predefined: np.ndarray | Sequence[int] | None = None,
    conflicts: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy maximal covering: add, one at a time, the site covering the most uncovered weight.

    The classic (1 - 1/e)-approximation, used as the reference the exact MCLP must match or
    beat. Ties go to the lowest candidate index, so the result is deterministic.

    Parameters
    ----------
    coverage
        Boolean array (n_demand, n_candidates): candidate ``j`` covers demand ``i``.
    weights
        Demand weights (n_demand,), e.g. need-weighted population.
    k
        Number of sites in total, predefined ones included.
    predefined
        Sites that must be chosen (boolean mask or indices).
    conflicts
        Pairs (n_pairs, 2) of candidate indices that may not both be chosen (minimum spacing).

    Returns
    -------
    numpy.ndarray
        Sorted indices of the chosen candidates (fewer than ``k`` only when the spacing
        constraints leave no admissible site).

    Examples
    --------
    >>> import numpy as np
    >>> cov = np.array([[1, 0, 1], [1, 1, 0], [0, 1, 0]], dtype=bool)
    >>> greedy_coverage(cov, np.array([5.0, 1.0, 2.0]), k=2).tolist()
    [0, 1]
    """
    cov = np.asarray(coverage, dtype=bool)
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0)
    n_cand = cov.shape[1]
    k = _check_k(k, n_cand, "to choose from")
    chosen = _predefined_mask(predefined, n_cand)
    pairs = _conflict_pairs(conflicts)
    blocked = np.zeros(n_cand, dtype=bool)

    def block_neighbours(mask: np.ndarray) -> None:
        if len(pairs):
            hit0 = mask[pairs[:, 0]]
            hit1 = mask[pairs[:, 1]]
            blocked[pairs[hit0, 1]] = True
            blocked[pairs[hit1, 0]] = True

    block_neighbours(chosen)
    covered = cov[:, chosen].any(axis=1)
    covf = cov.astype(np.float32)
    while chosen.sum() < k:
        gain = (w * ~covered).astype(np.float32) @ covf
        gain[chosen | blocked] = -1.0
        best = int(np.argmax(gain))
        if gain[best] < 0:
            break
        chosen[best] = True
        covered |= cov[:, best]
        block_neighbours(np.eye(1, n_cand, best, dtype=bool)[0])
    return np.flatnonzero(chosen)


def _reduce_demand(
    coverage: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop uncoverable or weightless demand and merge rows with identical coverage.

    Exact for the MCLP: rows covered by the same candidate set are covered together.
    Returns (unique coverage rows, their summed weights, index of one original row each).
    """
    keep = coverage.any(axis=1) & (weights > 0)
    rows = np.flatnonzero(keep)
    if len(rows) == 0:
        return coverage[:0], weights[:0], rows
    packed = np.packbits(coverage[rows], axis=1)
    view = np.ascontiguousarray(packed).view(np.dtype((np.void, packed.shape[1])))[:, 0]
    _, first, inverse = np.unique(view, return_index=True, return_inverse=True)
    w = np.bincount(inverse.ravel(), weights=weights[rows], minlength=len(first))
    return coverage[rows[first]], w, rows[first]


def _sparse_mclp(
    cov: np.ndarray, w: np.ndarray, *, k: int, predefined: np.ndarray
) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The MCLP of spopt, built in PuLP with one sparse constraint per demand row."""
    problem = pulp.LpProblem("equity_mclp", pulp.LpMaximize)
    add = getattr(problem, "add_variable", None)

    def var(name: str, **kw: Any) -> pulp.LpVariable:
        return add(name, **kw) if add is not None else pulp.LpVariable(name, **kw)

    x = [var(f"x_{j}", lowBound=0, upBound=1, cat=pulp.LpBinary) for j in range(cov.shape[1])]
    # y may be continuous: at the optimum y_i = min(1, sum x_j) is integral since x is
    y = [var(f"y_{i}", lowBound=0, upBound=1) for i in range(len(w))]
    problem += pulp.LpAffineExpression(zip(y, w.tolist(), strict=True)), "covered_weight"
    rows, cols = np.nonzero(cov)
    splits = np.split(cols, np.flatnonzero(np.diff(rows)) + 1)
    for i, js in zip(np.unique(rows).tolist(), splits, strict=True):
        problem += pulp.LpAffineExpression([(x[j], 1) for j in js.tolist()] + [(y[i], -1)]) >= 0
    problem += pulp.LpAffineExpression([(v, 1) for v in x]) == k
    for j in np.flatnonzero(predefined).tolist():
        x[j].setInitialValue(1)
        x[j].fixValue()
    return problem, x


def solve_mclp(
    cost_km: np.ndarray,
    weights: np.ndarray,
    *,
    radius_km: float,
    k: int,
    predefined: np.ndarray | Sequence[int] | None = None,
    conflicts: np.ndarray | None = None,
    backend: str = "auto",
    time_limit_s: float | None = None,
) -> np.ndarray:
    """Solve the maximal covering location problem exactly (CBC through PuLP).

    Maximise ``sum_i w_i y_i`` subject to ``y_i <= sum_{j: d_ij <= R} x_j``, ``sum_j x_j = k``,
    ``x_j = 1`` for predefined sites, ``x_a + x_b <= 1`` for each conflicting pair and binary
    ``x``. Before solving, demand rows no candidate covers (or of weight 0) are dropped and
    rows with identical coverage are merged (summing weights), which leaves the optimum
    unchanged and shrinks real problems a lot.

    Parameters
    ----------
    cost_km
        Distances (n_demand, n_candidates) in km.
    weights
        Demand weights (n_demand,).
    radius_km
        Service radius in km (a demand is covered when its distance is at most this).
    k
        Number of sites in total, predefined ones included.
    predefined
        Sites that must be chosen (boolean mask or indices), e.g. existing program sites.
    conflicts
        Pairs (n_pairs, 2) of candidates that may not both be chosen (minimum spacing).
    backend
        ``"spopt"``: :meth:`spopt.locate.MCLP.from_cost_matrix` builds the model (its
        ``problem`` gets the spacing constraints added) and solves it; ``"pulp"``: the same
        model built directly in PuLP with sparse constraints and continuous ``y`` (integral
        at the optimum), much faster to build for thousands of sites (spopt adds every
        demand x site pair to the model, ~17 us each: 114 s for 2,201 x 3,000 against 1 s);
        ``"auto"``: spopt up to 25,000 pairs after the reduction, else pulp.
    time_limit_s
        Optional CBC time limit; the best solution found is returned when it is hit.

    Returns
    -------
    numpy.ndarray
        Sorted indices of the chosen candidates.

    Raises
    ------
    PlacementError
        When ``k`` is out of range, more sites are predefined than ``k``, or the spacing
        constraints make the problem infeasible.
    """
    cost = np.asarray(cost_km, dtype=float)
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0)
    n_cand = cost.shape[1]
    k = _check_k(k, n_cand, "to choose from")
    if backend not in ("auto", "spopt", "pulp"):
        msg = f"unknown MCLP backend {backend!r}: use one of 'auto', 'spopt', 'pulp'"
        raise PlacementError(msg)
    pre = _predefined_mask(predefined, n_cand)
    if pre.sum() > k:
        msg = f"{int(pre.sum())} sites must be kept but only k={k} may be chosen"
        raise PlacementError(msg)
    pairs = _conflict_pairs(conflicts)
    cov_all = cost <= radius_km
    cov_u, w_u, rep = _reduce_demand(cov_all, w)
    if backend == "auto":
        backend = "spopt" if cov_u.size <= _SPOPT_MAX_ELEMENTS else "pulp"
    if len(rep) == 0:  # nothing to cover: every choice scores 0; keep it deterministic
        return greedy_coverage(cov_all, w, k=k, predefined=pre, conflicts=pairs)
    with warnings.catch_warnings():
        # PuLP 3.x announces API changes for 4.0 (PULP_CBC_CMD, LpVariable); spopt uses both
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s)
        if backend == "spopt":
            from spopt.locate import MCLP

            model = MCLP.from_cost_matrix(
                cost[rep],
                w_u,
                service_radius=radius_km,
                p_facilities=k,
                predefined_facilities_arr=pre.astype(int) if pre.any() else None,
                name="equity_mclp",
            )
            x = model.fac_vars
            problem = model.problem
        else:
            problem, x = _sparse_mclp(cov_u, w_u, k=k, predefined=pre)
        for a, b in pairs.tolist():
            if not (pre[a] and pre[b]):  # spacing applies to new sites; kept sites stay
                problem += x[a] + x[b] <= 1
        status = problem.solve(solver)
    chosen = np.array([(v.value() or 0.0) > 0.5 for v in x], dtype=bool)
    if pulp.LpStatus[status] != "Optimal" and not (time_limit_s and chosen.sum() == k):
        msg = (
            f"the coverage problem could not be solved ({pulp.LpStatus[status]}): "
            f"k={k} sites with the minimum spacing may be impossible"
        )
        raise PlacementError(msg)
    return np.flatnonzero(chosen)


# --------------------------------------------------------------------------------------------
# helpers of rank_candidates
# --------------------------------------------------------------------------------------------


def _percentile_score(values: np.ndarray) -> np.ndarray:
    """Percentile rank scaled 0-100 along axis 0 (ties average; NaN lowest; n == 1 gives 50)."""
    arr = np.asarray(values, dtype=float)
    n = arr.shape[0]
    if n == 1:
        return np.full(arr.shape, 50.0)
    filled = np.where(np.isnan(arr), -np.inf, arr)
    ranks = rankdata(filled, method="average", axis=0)
    return 100.0 * (ranks - 1.0) / (n - 1.0)


def _rank_within(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Rank (1 = highest score) within contiguous groups, along axis 0.

    Rows must be sorted by group (then by GEOID, which breaks ties). Scores may be 1-D or
    2-D (one column per variant or draw); NaN ranks last.
    """
    s = np.asarray(scores, dtype=float)
    squeeze = s.ndim == 1
    if squeeze:
        s = s[:, None]
    n = s.shape[0]
    s = np.where(np.isnan(s), -np.inf, s)
    # primary key group (ascending), secondary score (descending); stable keeps GEOID order
    lo = np.nanmin(np.where(np.isinf(s), np.nan, s)) if np.isfinite(s).any() else 0.0
    hi = np.nanmax(np.where(np.isinf(s), np.nan, s)) if np.isfinite(s).any() else 0.0
    span = (hi - lo) + 2.0
    s = np.where(np.isinf(s), lo - 1.0, s)
    key = groups[:, None] * span + (hi - s)
    order = np.argsort(key, axis=0, kind="stable")
    pos = np.empty_like(order)
    np.put_along_axis(pos, order, np.arange(n)[:, None].repeat(s.shape[1], axis=1), axis=0)
    starts = np.searchsorted(groups, groups, side="left")
    ranks = pos - starts[:, None] + 1
    return ranks[:, 0] if squeeze else ranks


def _centroids_lonlat(gdf: gpd.GeoSeries) -> np.ndarray:
    """Longitude/latitude (n, 2) of centroids computed in an equal-area CRS."""
    geom = gdf
    if len(geom) == 0:
        return np.zeros((0, 2))
    if (geom.geom_type == "Point").all():
        pts = geom.to_crs(4326)
    else:
        pts = geom.to_crs(6933).centroid.to_crs(4326)
    return np.column_stack([pts.x.to_numpy(), pts.y.to_numpy()])


def _as_wgs84(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if not isinstance(gdf, gpd.GeoDataFrame):
        msg = f"{what} must be a GeoDataFrame, got {type(gdf).__name__}"
        raise PlacementError(msg)
    if gdf.crs is None:
        msg = f"{what} has no CRS; set it (EPSG:4326 expected) before ranking"
        raise PlacementError(msg)
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        bad = int((gdf.geometry.isna() | gdf.geometry.is_empty).sum())
        msg = f"{what} has {bad} rows without geometry"
        raise PlacementError(msg)
    return gdf if gdf.crs.to_epsg() == 4326 else gdf.to_crs(4326)


def _state_of(table: pd.DataFrame, what: str) -> pd.Series:
    if "state_GEOID" in table.columns:
        return table["state_GEOID"].astype("string").fillna("")
    geoid = table["GEOID"].astype("string")
    if geoid.str.fullmatch(r"\d{5,}").all():
        return geoid.str[:2]
    msg = f"{what} has no state_GEOID column and its GEOIDs do not start with a state code (e.g. {geoid.iloc[0]!r})"
    raise SchemaError(msg)


def _sample_states() -> dict[str, tuple[str, str]]:
    """The fictional states of the bundled sample region: code -> (name, abbreviation)."""
    try:
        from equity.sample import SAMPLE_STATES
    except ImportError:  # pragma: no cover - the sample module ships with the package
        return {}
    return dict(SAMPLE_STATES)


def _state_names(codes: pd.Series, places: pd.DataFrame) -> pd.Series:
    names = {s.fips: s.name for s in STATES}
    names.update({code: name for code, (name, _) in _sample_states().items()})
    if "state_name" in places.columns:
        known = places.dropna(subset=["state_name"]).drop_duplicates("state_GEOID")
        names.update(
            dict(
                zip(known["state_GEOID"].astype(str), known["state_name"].astype(str), strict=True)
            )
        )
    return codes.map(lambda c: names.get(c, c)).astype("string")


def _normalise_states(states: Iterable[str | int], present: set[str]) -> set[str]:
    from equity.sources._states import lookup_state

    out: set[str] = set()
    for s in [states] if isinstance(states, str | int) else states:
        key = str(s).strip()
        if key.isdigit() and key.zfill(2) in present:
            out.add(key.zfill(2))
            continue
        sample = [
            c for c, (nm, ab) in _sample_states().items() if key.lower() in (nm.lower(), ab.lower())
        ]
        if sample:
            out.add(sample[0])
            continue
        try:
            out.add(lookup_state(s).fips)
        except Exception as exc:
            msg = f"unknown state {s!r} in states (present: {', '.join(sorted(present))})"
            raise PlacementError(msg) from exc
    return out


def _check_weights(weights: Mapping[str, float] | None) -> dict[str, float]:
    w = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = sorted(set(w) - set(DEFAULT_WEIGHTS))
    if unknown:
        msg = f"unknown score weight(s) {unknown}: use need, readiness, reach"
        raise PlacementError(msg)
    full = {key: float(w.get(key, 0.0)) for key in DEFAULT_WEIGHTS}
    if any(not math.isfinite(v) or v < 0 for v in full.values()) or sum(full.values()) <= 0:
        msg = f"score weights must be non-negative and not all zero, got {full}"
        raise PlacementError(msg)
    total = sum(full.values())
    return {key: v / total for key, v in full.items()}


def _index_meta(places: pd.DataFrame) -> dict[str, Any]:
    meta = places.attrs.get("index", {}) if isinstance(places.attrs, dict) else {}
    return meta if isinstance(meta, dict) else {}


def _pillar_weights(places: pd.DataFrame, meta: dict[str, Any]) -> dict[str, float]:
    pillars = [p for p in PILLARS if f"score_{p}" in places.columns]
    given = meta.get("pillar_weights") or meta.get("weights") or {}
    if not isinstance(given, Mapping):
        given = {}
    # only numeric weights count ("weights" may also be nested per indicator)
    out = {p: float(v) if isinstance(v := given.get(p, 1.0), int | float) else 1.0 for p in pillars}
    return {p: v for p, v in out.items() if v > 0}


def _indicator_weights(meta: dict[str, Any]) -> dict[str, float]:
    given = meta.get("indicator_weights") or {}
    return {str(key): float(v) for key, v in given.items()} if isinstance(given, Mapping) else {}


def _top_indicators(cand: pd.DataFrame, meta: dict[str, Any]) -> list[str]:
    cols = [c for c in cand.columns if c.startswith("norm_")]
    prefix = "norm_"
    if not cols:
        cols = [f"score_{p}" for p in PILLARS if f"score_{p}" in cand.columns]
        prefix = "score_"
    if not cols:
        return [""] * len(cand)
    names = np.array([c[len(prefix) :] for c in cols], dtype=object)
    values = cand[cols].to_numpy(dtype=float)
    iw = _indicator_weights(meta)
    weight = np.array([iw.get(n, 1.0) for n in names]) if iw else np.ones(len(names))
    contrib = np.where(np.isnan(values), -np.inf, values * weight)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :3]
    # norm_ values are 0-1 from equity.index; pillar scores 0-100
    fmt = "{:.2f}" if np.nanmax(np.abs(values), initial=0.0) <= 1.0 else "{:.1f}"
    if prefix == "score_":
        return [
            "; ".join(f"{names[j]} {fmt.format(row[j])}" for j in idx if np.isfinite(row[j]))
            for row, idx in zip(values, order, strict=True)
        ]
    raw = {
        n: pd.to_numeric(cand[n], errors="coerce").to_numpy(dtype=float) for n in names if n in cand
    }
    out = []
    for i, (row, idx) in enumerate(zip(values, order, strict=True)):
        parts = []
        for j in idx:
            if not np.isfinite(row[j]):
                continue
            name = str(names[j])
            shown = _format_value(name, raw[name][i]) if name in raw else ""
            parts.append(
                f"{name} {shown} (need {row[j]:.2f})" if shown else f"{name} (need {row[j]:.2f})"
            )
        out.append("; ".join(parts))
    return out


def _format_value(name: str, value: float) -> str:
    """An indicator's raw value with its unit, for explanations ("31%", "24 Mbps", "4.2 km")."""
    from equity.indicators import REGISTRY

    if not np.isfinite(value):
        return ""
    unit = REGISTRY[name].unit if name in REGISTRY else "value"
    if unit == "share":
        return f"{value:.0%}"
    if unit == "mbps":
        return f"{value:.0f} Mbps"
    if unit == "usd":
        return f"${value:,.0f}"
    if unit == "km":
        return f"{value:.1f} km"
    if unit in ("per_1k", "per_10k"):
        return f"{value:.1f} {unit.replace('_', ' ')}"
    return f"{value:.3g}"


def _group_codes(states: pd.Series, per_state: bool) -> np.ndarray:
    if not per_state:
        return np.zeros(len(states), dtype=np.int64)
    return pd.factorize(states, sort=True)[0].astype(np.int64)


def _select_top(scores: np.ndarray, groups: np.ndarray, existing: np.ndarray, k: int) -> np.ndarray:
    """Boolean (n,) or (n, m): the k best per group, existing sites first."""
    bump = scores + np.where(existing[:, None] if scores.ndim == 2 else existing, 1e6, 0.0)
    return _rank_within(bump, groups) <= k


# --------------------------------------------------------------------------------------------
# rank_candidates
# --------------------------------------------------------------------------------------------


def rank_candidates(
    places: gpd.GeoDataFrame,
    *,
    anchors: gpd.GeoDataFrame | None = None,
    demand: gpd.GeoDataFrame | None = None,
    mode: str = "top",
    k: int = 1,
    per_state: bool = True,
    radius_km: float | None = None,
    weights: Mapping[str, float] | None = None,
    min_households: float = 0,
    min_population: float = 0,
    states: Iterable[str | int] | str | None = None,
    existing_sites: Iterable[str] | None = None,
    keep_existing: bool = True,
    min_spacing_km: float = 0.0,
    draws: np.ndarray | None = None,
    seed: int | None = None,
    business: pd.DataFrame | None = None,
    base_mode: str = "top",
) -> gpd.GeoDataFrame:
    """Score candidate places for a fellow, select sites and explain each candidate.

    Parameters
    ----------
    places
        Level table (EPSG:4326 or any CRS) with ``GEOID``, ``equity_index`` and ``population``
        or ``households``; ``NAME``, ``state_GEOID``, ``state_name``, ``equity_index_lo/hi``,
        ``rank_lo/hi``, ``score_<pillar>``, ``norm_<indicator>``, ``driving_pillar`` and
        ``intervention`` are used when present. ``attrs["index"]`` may give
        ``weights`` (pillar weights) and ``indicator_weights``.
    anchors
        Points of anchor institutions with a ``kind`` column (``library``, ``college``,
        ``school``, ``nonprofit``, ``community_center``, ...). Without ``kind``, rows with a
        ``library_id`` (:func:`equity.sources.read_libraries`) are libraries.
    demand
        Finer places (block groups, street cells) with ``population`` (or ``households``) and
        ``equity_index``, used for reach and coverage; default: ``places`` themselves.
    mode
        ``top``, ``coverage`` or ``robust`` (see the module docstring).
    k
        Sites per state (``per_state=True``) or in total; existing kept sites count.
    per_state
        Select per state (one fellow per state by default) or nationally.
    radius_km
        Service radius in km; default :data:`equity.settings.radius_km`.
    weights
        Weights of ``need``, ``readiness`` and ``reach`` (normalised to sum 1); missing
        keys are 0; default :data:`DEFAULT_WEIGHTS`.
    min_households, min_population
        Candidates with fewer households or people are dropped.
    states
        States to include (FIPS codes, USPS codes or names); default all.
    existing_sites
        GEOIDs of existing program sites.
    keep_existing
        ``True``: existing sites are always selected; ``False``: they are removed from the
        candidates (and in coverage mode the demand they serve counts as covered).
    min_spacing_km
        Coverage mode: no two new sites closer than this (centroid distance).
    draws
        Robust mode: index values (n_places, n_draws) aligned with ``places``, e.g. from
        :func:`equity.index.simulate_index`. Default: independent normal draws from each
        place's 90% interval (``equity_index_lo/hi``), :data:`equity.settings.n_draws` of them.
        Need (and, when ``demand`` is ``None``, reach) is recomputed per draw; a separate
        ``demand`` table keeps its own index.
    seed
        Seed of the default draws; default :data:`equity.settings.seed`.
    business
        Business base keyed by area: ``GEOID`` (e.g. county) and ``establishments``, and
        ``population`` when known (else summed from ``places``). Matched on the candidate's
        ``county_GEOID`` for 5-digit keys, else on its GEOID prefix.
    base_mode
        Robust mode: the selection repeated per draw, ``top`` or ``coverage``.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per candidate, sorted by state and rank, with the ``candidates.csv`` columns
        of ``docs/contracts.md`` (``rank`` is within the state by combined score, or national
        when ``per_state=False``), then ``existing``, ``n_anchors``, ``n_<kind>``,
        ``anchors_per_10k``, ``population_within_radius``, ``reach_need_population``,
        (``establishments_per_1k``), ``sensitivity``, (``times_selected``,
        ``share_selected``), ``longitude``, ``latitude`` and the place geometry.
        ``attrs["placement"]`` holds the parameters and, in coverage mode, the covered
        weight of the optimum and of the greedy choice per state.

    Raises
    ------
    PlacementError
        ``k`` larger than the candidates (per state when ``per_state``), radius not positive,
        no candidates after the filters (naming the filter), an existing site not among the
        candidates, infeasible spacing, bad draws.

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import Point
    >>> places = gpd.GeoDataFrame(
    ...     {"GEOID": ["51001", "51003", "51005"], "NAME": ["A", "B", "C"],
    ...      "population": [4000, 5000, 3000], "equity_index": [80.0, 40.0, 60.0]},
    ...     geometry=[Point(-77, 37), Point(-78, 38), Point(-79, 37.5)], crs=4326)
    >>> out = rank_candidates(places, k=1)
    >>> out.loc[out["selected"], "GEOID"].tolist()
    ['51001']
    """
    radius_km = settings.radius_km if radius_km is None else radius_km
    seed = settings.seed if seed is None else seed
    if mode not in MODES:
        msg = f"unknown mode {mode!r}: use one of {', '.join(MODES)}"
        raise PlacementError(msg)
    if base_mode not in ("top", "coverage"):
        msg = f"unknown base_mode {base_mode!r}: use 'top' or 'coverage'"
        raise PlacementError(msg)
    try:
        radius_ok = math.isfinite(float(radius_km)) and float(radius_km) > 0
    except (TypeError, ValueError):
        radius_ok = False
    if not radius_ok:
        msg = f"radius_km must be a positive number of km, got {radius_km!r}"
        raise PlacementError(msg)
    radius_km = float(radius_km)
    if not (math.isfinite(float(min_spacing_km)) and float(min_spacing_km) >= 0):
        msg = f"min_spacing_km must be >= 0, got {min_spacing_km!r}"
        raise PlacementError(msg)
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        msg = f"k must be a positive integer, got {k!r}"
        raise PlacementError(msg)
    k = int(k)
    w = _check_weights(weights)
    meta = _index_meta(places)

    places = _as_wgs84(places, "places").reset_index(drop=True)
    missing = [c for c in ("GEOID", "equity_index") if c not in places.columns]
    if "population" not in places.columns and "households" not in places.columns:
        missing.append("population or households")
    if missing:
        raise SchemaError([f"places lacks column {c!r}" for c in missing], source="rank_candidates")
    if places["GEOID"].duplicated().any():
        dup = places.loc[places["GEOID"].duplicated(), "GEOID"].iloc[0]
        raise SchemaError(f"places has duplicate GEOID {dup!r}", source="rank_candidates")
    n_places = len(places)
    if draws is not None:
        draws = np.asarray(draws, dtype=float)
        if draws.ndim != 2 or draws.shape[0] != n_places or draws.shape[1] < 1:
            msg = f"draws must be an array (n_places={n_places}, n_draws), got shape {draws.shape}"
            raise PlacementError(msg)

    # -- candidates: the places, filtered -------------------------------------------------
    base = pd.DataFrame(
        {
            "GEOID": places["GEOID"].astype("string"),
            "state_GEOID": _state_of(places, "places"),
            "population": pd.to_numeric(places["population"], errors="coerce")
            if "population" in places.columns
            else np.nan,
            "households": pd.to_numeric(places["households"], errors="coerce")
            if "households" in places.columns
            else np.nan,
            "equity_index": pd.to_numeric(places["equity_index"], errors="coerce"),
        }
    )
    existing = [] if existing_sites is None else [str(g) for g in existing_sites]
    if isinstance(existing_sites, str):
        existing = [existing_sites]
    absent = [g for g in existing if g not in set(base["GEOID"].tolist())]
    if absent:
        msg = f"existing site {absent[0]!r} is not among the candidates (no place with that GEOID)"
        raise PlacementError(msg)
    is_existing = base["GEOID"].isin(existing).to_numpy()

    keep = np.ones(n_places, dtype=bool)
    removed: dict[str, int] = {}
    steps: list[tuple[str, Any, np.ndarray]] = [
        ("index", None, base["equity_index"].notna().to_numpy())
    ]
    if states is not None:
        wanted = _normalise_states(states, set(base["state_GEOID"].unique().tolist()))
        steps.append(("states", sorted(wanted), base["state_GEOID"].isin(wanted).to_numpy()))
    if min_population:
        steps.append(
            ("min_population", min_population, (base["population"] >= min_population).to_numpy())
        )
    if min_households:
        steps.append(
            ("min_households", min_households, (base["households"] >= min_households).to_numpy())
        )
    if not keep_existing and existing:
        steps.append(("existing", None, ~is_existing))
    for name, value, ok in steps:
        before = int(keep.sum())
        keep &= ok
        removed[name] = before - int(keep.sum())
        if keep_existing and existing:
            lost = base["GEOID"].to_numpy()[is_existing & ~keep].tolist()
            if lost:
                label = _FILTER_LABELS[name].format(value=value)
                msg = f"existing site {lost[0]!r} is not among the candidates: removed by the filter {label}"
                raise PlacementError(msg)
        if not keep.any():
            label = _FILTER_LABELS[name].format(value=value)
            msg = f"no candidates left after the filter {label} (of {n_places} places)"
            raise PlacementError(msg)

    cand_idx = np.flatnonzero(keep)
    order = np.lexsort(
        (
            base["GEOID"].to_numpy()[cand_idx].astype(str),
            base["state_GEOID"].to_numpy()[cand_idx].astype(str),
        )
    )
    cand_idx = cand_idx[order]
    cand = places.iloc[cand_idx].reset_index(drop=True)
    cb = base.iloc[cand_idx].reset_index(drop=True)
    n = len(cand)
    groups = _group_codes(cb["state_GEOID"], per_state)
    ex = is_existing[cand_idx]

    # k against the candidates (per state) and the kept sites
    sizes = np.bincount(groups)
    if (sizes < k).any():
        g = int(np.argmax(sizes < k))
        where = (
            f"in state {cb['state_GEOID'][groups == g].iloc[0]}"
            if per_state
            else "after the filters"
        )
        msg = f"k={k} is larger than the {int(sizes[g])} candidates {where}"
        raise PlacementError(msg)
    n_ex = np.bincount(groups, weights=ex.astype(float), minlength=len(sizes))
    if keep_existing and (n_ex > k).any():
        g = int(np.argmax(n_ex > k))
        msg = f"{int(n_ex[g])} existing sites must be kept but k={k} (state {cb['state_GEOID'][groups == g].iloc[0]})"
        raise PlacementError(msg)

    # -- geometry, demand, anchors ----------------------------------------------------------
    places_xy = _centroids_lonlat(places.geometry)
    cand_xy = places_xy[cand_idx]
    if demand is None:
        dem = places
        dem_is_places = True
    else:
        dem = _as_wgs84(demand, "demand")
        dem_is_places = False
        miss = [c for c in ("equity_index",) if c not in dem.columns]
        if "population" not in dem.columns and "households" not in dem.columns:
            miss.append("population or households")
        if miss:
            raise SchemaError(
                [f"demand lacks column {c!r}" for c in miss], source="rank_candidates"
            )
    dem_xy = places_xy if dem_is_places else _centroids_lonlat(dem.geometry)
    size_col = "population" if "population" in dem.columns else "households"
    dem_pop = np.nan_to_num(pd.to_numeric(dem[size_col], errors="coerce").to_numpy(dtype=float))
    dem_idx = np.nan_to_num(
        pd.to_numeric(dem["equity_index"], errors="coerce").to_numpy(dtype=float)
    )
    dem_need = dem_pop * np.clip(dem_idx, 0, 100) / 100.0
    within_cd = coverage_matrix(cand_xy, dem_xy, radius_km=radius_km)  # (n_cand, n_dem)
    withf = within_cd.astype(np.float64)
    pop_within = withf @ dem_pop
    reach_raw = withf @ dem_need

    kinds: list[str] = []
    counts = np.zeros((n, 0))
    if anchors is not None and len(anchors):
        anc = _as_wgs84(anchors, "anchors")
        if "kind" in anc.columns:
            kind = anc["kind"].astype("string").fillna("other").str.strip().str.lower()
        else:
            kind = pd.Series(
                "library" if "library_id" in anc.columns else "anchor", index=anc.index
            )
        kind = kind.str.replace(r"[^a-z0-9]+", "_", regex=True)
        codes, kinds_idx = pd.factorize(kind, sort=True)
        kinds = [str(x) for x in kinds_idx]
        onehot = np.zeros((len(anc), len(kinds)))
        onehot[np.arange(len(anc)), codes] = 1.0
        within_ca = coverage_matrix(cand_xy, _centroids_lonlat(anc.geometry), radius_km=radius_km)
        counts = within_ca.astype(np.float64) @ onehot
    kind_w = np.array([ANCHOR_WEIGHTS.get(kd, 1.0) for kd in kinds])
    weighted_anchors = counts @ kind_w if kinds else np.zeros(n)
    anchors_per_10k = weighted_anchors / np.maximum(pop_within, 1.0) * 1e4

    biz_per_1k = None
    if business is not None:
        biz_per_1k = _business_per_1k(business, cand, places)

    # -- scores -----------------------------------------------------------------------------
    need = np.clip(cb["equity_index"].to_numpy(dtype=float), 0, 100)
    readiness = _percentile_score(anchors_per_10k)
    if biz_per_1k is not None:
        readiness = (2 * readiness + _percentile_score(biz_per_1k)) / 3
    reach = _percentile_score(reach_raw)
    combined = w["need"] * need + w["readiness"] * readiness + w["reach"] * reach
    rank = _rank_within(combined, groups)

    # -- selection --------------------------------------------------------------------------
    existing_all = is_existing & ~keep if not keep_existing else np.zeros(n_places, dtype=bool)
    served = np.zeros(len(dem_pop), dtype=bool)
    if existing_all.any():
        ex_xy = places_xy[existing_all]
        served = coverage_matrix(dem_xy, ex_xy, radius_km=radius_km).any(axis=1)
    dem_state = _state_of(dem, "demand").to_numpy().astype(str) if per_state else None
    coverage_log: list[dict[str, Any]] = []
    times = None
    ex_keep = ex if keep_existing else np.zeros(n, dtype=bool)

    def coverage_select(need_weights: np.ndarray, log: bool) -> np.ndarray:
        chosen = np.zeros(n, dtype=bool)
        for g in np.unique(groups):
            ci = np.flatnonzero(groups == g)
            if per_state:
                st = cb["state_GEOID"].iloc[ci[0]]
                di = np.flatnonzero(dem_state == st)
            else:
                st = "all"
                di = np.arange(len(dem_pop))
            wts = np.where(served[di], 0.0, need_weights[di])
            cost = _distance_matrix(dem_xy[di], cand_xy[ci])
            conflicts = None
            if min_spacing_km > 0:
                dd = _distance_matrix(cand_xy[ci], cand_xy[ci])
                a, b = np.nonzero(np.triu(dd < min_spacing_km, k=1))
                conflicts = np.column_stack([a, b])
            pick = solve_mclp(
                cost, wts, radius_km=radius_km, k=k, predefined=ex_keep[ci], conflicts=conflicts
            )
            chosen[ci[pick]] = True
            if log:
                cov = cost <= radius_km
                greedy = greedy_coverage(cov, wts, k=k, predefined=ex_keep[ci], conflicts=conflicts)
                coverage_log.append(
                    {
                        "state_GEOID": st,
                        "k": k,
                        "covered_need_population": float(wts[cov[:, pick].any(axis=1)].sum()),
                        "greedy_need_population": float(wts[cov[:, greedy].any(axis=1)].sum()),
                        "total_need_population": float(wts.sum()),
                    }
                )
        return chosen

    if mode == "top":
        selected = _select_top(combined, groups, ex_keep, k)
    elif mode == "coverage":
        selected = coverage_select(dem_need, log=True)
    else:
        if draws is None:
            draws = _default_draws(places, seed=seed)
        cdraw = np.clip(draws[cand_idx], 0, 100)
        if base_mode == "top":
            if dem_is_places:
                dn = dem_pop[:, None] * np.clip(np.nan_to_num(draws), 0, 100) / 100.0
                reach_d = _percentile_score(withf @ dn)
            else:
                reach_d = reach[:, None]
            comb_d = w["need"] * cdraw + w["readiness"] * readiness[:, None] + w["reach"] * reach_d
            sel_d = _select_top(comb_d, groups, ex_keep, k)
        else:
            cols = []
            for j in range(draws.shape[1]):
                dv = np.clip(np.nan_to_num(draws[:, j]), 0, 100) if dem_is_places else dem_idx
                cols.append(coverage_select(dem_pop * dv / 100.0, log=False))
            sel_d = np.column_stack(cols)
        times = sel_d.sum(axis=1)
        # most often chosen first; ties by combined score (scaled below one selection)
        score = times + combined / 1000.0
        selected = _select_top(score, groups, ex_keep, k)

    # -- explanations -----------------------------------------------------------------------
    sens_text, sens_move = _sensitivity(cand, need, readiness, reach, w, groups, rank, meta)
    top_ind = _top_indicators(cand, meta)
    driving, intervention = _driving(cand)
    state_name = _state_names(cb["state_GEOID"], places)
    n_per_group = np.bincount(groups)[groups]

    out = pd.DataFrame(
        {
            "rank": rank.astype(np.int64),
            "GEOID": cb["GEOID"],
            "NAME": cand["NAME"].astype("string") if "NAME" in cand.columns else cb["GEOID"],
            "state_GEOID": cb["state_GEOID"],
            "state_name": state_name,
            "need_score": need,
            "readiness_score": readiness,
            "reach_score": reach,
            "combined_score": combined,
            "households": cb["households"].to_numpy(dtype=float),
            "population": cb["population"].to_numpy(dtype=float),
            "equity_index": cb["equity_index"].to_numpy(dtype=float),
            "equity_index_lo": _num(cand, "equity_index_lo"),
            "equity_index_hi": _num(cand, "equity_index_hi"),
            "rank_lo": _num(cand, "rank_lo"),
            "rank_hi": _num(cand, "rank_hi"),
            "driving_pillar": driving,
            "intervention": intervention,
            "top_indicators": pd.array(top_ind, dtype="string"),
            "n_anchors": counts.sum(axis=1).astype(np.int64)
            if kinds
            else np.zeros(n, dtype=np.int64),
            "why": "",
            "selected": selected.astype(bool),
        }
    )
    if "county_GEOID" in cand.columns:
        out["county_GEOID"] = cand["county_GEOID"].astype("string")
    out["existing"] = ex
    for j, kd in enumerate(kinds):
        out[f"n_{kd}"] = counts[:, j].astype(np.int64)
    out["anchors_per_10k"] = anchors_per_10k
    out["population_within_radius"] = pop_within
    out["reach_need_population"] = reach_raw
    if biz_per_1k is not None:
        out["establishments_per_1k"] = biz_per_1k
    out["sensitivity"] = pd.array(sens_text, dtype="string")
    if times is not None:
        out["times_selected"] = times.astype(np.int64)
        out["share_selected"] = times / draws.shape[1]
    out["longitude"] = cand_xy[:, 0]
    out["latitude"] = cand_xy[:, 1]
    out["why"] = pd.array(
        _why(out, n_per_group, kinds, radius_km, mode, per_state, people=size_col),
        dtype="string",
    )
    out = gpd.GeoDataFrame(out, geometry=cand.geometry.to_numpy(), crs=4326)
    out = out.sort_values(["state_GEOID", "rank"], kind="stable").reset_index(drop=True)
    out.attrs["placement"] = {
        "mode": mode,
        "base_mode": base_mode if mode == "robust" else None,
        "k": k,
        "per_state": per_state,
        "radius_km": radius_km,
        "weights": w,
        "anchor_weights": {kd: float(ANCHOR_WEIGHTS.get(kd, 1.0)) for kd in kinds},
        "min_households": min_households,
        "min_population": min_population,
        "states": None
        if states is None
        else sorted(_normalise_states(states, set(base["state_GEOID"]))),
        "existing_sites": existing,
        "keep_existing": keep_existing,
        "min_spacing_km": float(min_spacing_km),
        "n_draws": None if times is None else int(draws.shape[1]),
        "seed": seed,
        "n_places": n_places,
        "n_candidates": n,
        "removed_by_filter": removed,
        "coverage": coverage_log,
        "largest_rank_move": int(np.max(np.abs(sens_move))) if len(sens_move) else 0,
    }
    logger.info("ranked %d candidates (%s, k=%d, %d selected)", n, mode, k, int(selected.sum()))
    return out


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


def _driving(cand: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    pillars = [p for p in PILLARS if f"score_{p}" in cand.columns]
    if "driving_pillar" in cand.columns:
        driving = cand["driving_pillar"].astype("string").reset_index(drop=True)
    elif pillars:
        vals = cand[[f"score_{p}" for p in pillars]].to_numpy(dtype=float)
        best = np.argmax(np.where(np.isnan(vals), -np.inf, vals), axis=1)
        driving = pd.Series(np.array(pillars, dtype=object)[best], dtype="string")
        driving[np.isnan(vals).all(axis=1)] = pd.NA
    else:
        driving = pd.Series([pd.NA] * len(cand), dtype="string")
    if "intervention" in cand.columns:
        intervention = cand["intervention"].astype("string").reset_index(drop=True)
    else:
        intervention = driving.map(INTERVENTIONS.get, na_action="ignore").astype("string")
    return driving, intervention


def _business_per_1k(
    business: pd.DataFrame, cand: pd.DataFrame, places: pd.DataFrame
) -> np.ndarray:
    need = [c for c in ("GEOID", "establishments") if c not in business.columns]
    if need:
        raise SchemaError([f"business lacks column {c!r}" for c in need], source="rank_candidates")
    key = business["GEOID"].astype(str)
    width = int(key.str.len().max())
    est = business.groupby(key)["establishments"].sum()

    def keys(df: pd.DataFrame) -> pd.Series:
        if width == 5 and "county_GEOID" in df.columns:
            return df["county_GEOID"].astype(str)
        return df["GEOID"].astype(str).str[:width]

    if "population" in business.columns:
        pop = business.groupby(key)["population"].sum()
    else:
        pop = (
            pd.to_numeric(places["population"], errors="coerce")
            .groupby(keys(places).to_numpy())
            .sum()
        )
    ck = keys(cand)
    e = ck.map(est).to_numpy(dtype=float)
    p = ck.map(pop).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, e / p * 1000.0, np.nan)


def _default_draws(places: pd.DataFrame, *, seed: int) -> np.ndarray:
    """Independent normal draws of the index from each place's 90% interval."""
    idx = pd.to_numeric(places["equity_index"], errors="coerce").to_numpy(dtype=float)
    lo = _num(places, "equity_index_lo")
    hi = _num(places, "equity_index_hi")
    if np.isnan(lo).all() or np.isnan(hi).all():
        msg = "robust mode needs draws (from equity.index.simulate_index) or equity_index_lo/hi columns"
        raise PlacementError(msg)
    sd = np.nan_to_num((hi - lo) / (2 * settings.moe_z), nan=0.0)
    rng = np.random.default_rng(seed)
    return np.clip(
        idx[:, None] + sd[:, None] * rng.standard_normal((len(idx), settings.n_draws)), 0, 100
    )


def _sensitivity(
    cand: pd.DataFrame,
    need: np.ndarray,
    readiness: np.ndarray,
    reach: np.ndarray,
    w: dict[str, float],
    groups: np.ndarray,
    rank: np.ndarray,
    meta: dict[str, Any],
) -> tuple[list[str], np.ndarray]:
    """Rank under each weight halved; the largest move per candidate as text."""
    labels: list[str] = []
    variants: list[np.ndarray] = []
    scores = {"need": need, "readiness": readiness, "reach": reach}
    for name, wt in w.items():
        if wt > 0:
            w2 = dict(w, **{name: wt / 2})
            variants.append(sum(w2[key] * scores[key] for key in scores))
            labels.append(name)
    pw = _pillar_weights(cand, meta)
    if len(pw) > 1 and w["need"] > 0:
        vals = cand[[f"score_{p}" for p in pw]].to_numpy(dtype=float)
        wv = np.array(list(pw.values()))

        def wmean(weights: np.ndarray) -> np.ndarray:
            ok = ~np.isnan(vals)
            num = np.where(ok, vals, 0.0) @ weights
            den = ok.astype(float) @ weights
            with np.errstate(invalid="ignore", divide="ignore"):
                return np.where(den > 0, num / den, np.nan)

        base_mean = wmean(wv)
        for j, p in enumerate(pw):
            w2 = wv.copy()
            w2[j] /= 2
            # shift the index by the change the halved pillar weight makes to the pillar mean
            need2 = np.clip(need + np.nan_to_num(wmean(w2) - base_mean), 0, 100)
            variants.append(w["need"] * need2 + w["readiness"] * readiness + w["reach"] * reach)
            labels.append(p)
    if not variants:
        return [""] * len(rank), np.zeros(len(rank), dtype=int)
    ranks = _rank_within(np.column_stack(variants), groups)
    move = ranks - rank[:, None]
    j = np.argmax(np.abs(move), axis=1)
    biggest = move[np.arange(len(rank)), j]
    text = [
        f"halving the {labels[jj]} weight moves it from {r} to {r + m}"
        if m != 0
        else "halving any one weight leaves its rank unchanged"
        for r, jj, m in zip(rank.tolist(), j.tolist(), biggest.tolist(), strict=True)
    ]
    return text, biggest


def _why(
    out: pd.DataFrame,
    n_per_group: np.ndarray,
    kinds: list[str],
    radius_km: float,
    mode: str,
    per_state: bool,
    *,
    people: str = "population",
) -> list[str]:
    """One readable sentence per candidate."""
    lib = out["n_library"].to_numpy() if "library" in kinds else np.zeros(len(out), dtype=int)
    sentences = []
    cols = zip(
        out["rank"].tolist(),
        n_per_group.tolist(),
        out["state_name"].tolist(),
        out["need_score"].tolist(),
        out["rank_lo"].tolist(),
        out["rank_hi"].tolist(),
        out["driving_pillar"].tolist(),
        out["top_indicators"].tolist(),
        out["n_anchors"].tolist(),
        lib.tolist(),
        out["reach_need_population"].tolist(),
        out["intervention"].tolist(),
        out["sensitivity"].tolist(),
        out["selected"].tolist(),
        strict=True,
    )
    for r, ng, st, nd, rlo, rhi, drv, top, na, nl, reach, inter, sens, sel in cols:
        where = f"in {st}" if per_state else "overall"
        s = f"Ranked {r} of {ng} {where} ({'selected' if sel else 'not selected'}, {mode} mode): need {nd:.0f}/100"
        if rlo == rlo and rhi == rhi:  # not NaN
            s += f" (index rank {int(rlo)}-{int(rhi)})"
        if isinstance(drv, str) and drv:
            s += f", driven by {drv}"
        if isinstance(top, str) and top:
            # name the strongest indicator of the driving pillar itself, else the strongest overall
            parts = top.split("; ")
            own = [
                t
                for t in parts
                if isinstance(drv, str)
                and t.split(" ", 1)[0] in REGISTRY
                and REGISTRY[t.split(" ", 1)[0]].pillar == drv
            ]
            s += f" ({own[0]})" if own else f"; strongest indicator {parts[0]}"
        s += f"; {na} anchor {'partner' if na == 1 else 'partners'} within {radius_km:g} km"
        if nl:
            s += f" incl. {nl} {'library' if nl == 1 else 'libraries'}"
        unit = "people" if people == "population" else "households"
        s += f" and {reach:,.0f} {unit} in need within reach"
        if isinstance(inter, str) and inter:
            s += f"; suggested: {inter}"
        s += f". {sens[0].upper() + sens[1:]}." if sens else "."
        sentences.append(s)
    return sentences
