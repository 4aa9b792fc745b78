"""Coverage: which candidate reaches which demand, and the maximal covering location problem.

:func:`coverage_matrix` answers "is demand ``j`` within the radius of site ``i``" with one k-d
tree query on the sphere (:func:`equity.distance.pairs_within_km`, exact to the haversine);
:func:`greedy_coverage` is the classic heuristic and :func:`solve_mclp` the exact optimum
(CBC through PuLP, the model of :class:`spopt.locate.MCLP`); :func:`spacing_conflicts` gives the
pairs of sites a minimum spacing forbids together.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pulp

from equity.distance import haversine_km, iter_pairs_within_km, pairs_within_km
from equity.errors import PlacementError, check_choice
from equity.placement.options import BACKENDS, check_k

__all__ = ["coverage_matrix", "greedy_coverage", "solve_mclp", "spacing_conflicts"]

_CHUNK_ELEMENTS = 4_000_000  # origin x target pairs queried at once (bounds the pair list)
_SPOPT_MAX_ELEMENTS = 25_000  # spopt builds dense constraints: ~17 us per demand x site pair


def distance_matrix(origins: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Distances (km) between ``origins`` (n, 2) and ``targets`` (m, 2) lon/lat arrays."""
    return haversine_km(
        origins[:, None, 0], origins[:, None, 1], targets[None, :, 0], targets[None, :, 1]
    )


def coverage_matrix(origins: np.ndarray, targets: np.ndarray, *, radius_km: float) -> np.ndarray:
    """Boolean matrix: is target ``j`` within ``radius_km`` of origin ``i``.

    One k-d tree radius query on the sphere per block of origins
    (:func:`equity.distance.iter_pairs_within_km`), so only pairs near each other are measured; the
    answer equals ``haversine_km(...) <= radius_km`` exactly, also at the edge.

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

    Examples
    --------
    >>> import numpy as np
    >>> coverage_matrix(np.array([[-77.4, 37.5]]), np.array([[-76.3, 36.9], [-80, 40]]),
    ...                 radius_km=120).tolist()
    [[True, False]]
    """
    origins = np.asarray(origins, dtype=float).reshape(-1, 2)
    targets = np.asarray(targets, dtype=float).reshape(-1, 2)
    out = np.zeros((len(origins), len(targets)), dtype=bool)
    for i, j in iter_pairs_within_km(origins, targets, radius_km, block_pairs=_CHUNK_ELEMENTS):
        out[i, j] = True
    return out


def spacing_conflicts(xy: np.ndarray, min_spacing_km: float) -> np.ndarray:
    """Pairs ``(a, b)``, ``a < b``, of sites closer than `min_spacing_km` (strictly), sorted.

    Parameters
    ----------
    xy
        Array (n, 2) of longitude, latitude of the sites in degrees.
    min_spacing_km
        The minimum distance between two chosen sites; 0 gives no pairs.

    Returns
    -------
    numpy.ndarray
        Integer array (n_pairs, 2), sorted by ``a`` then ``b``.
    """
    if not min_spacing_km > 0:
        return np.zeros((0, 2), dtype=int)
    a, b = pairs_within_km(xy, xy, min_spacing_km)
    upper = a < b
    a, b = a[upper], b[upper]
    strict = haversine_km(xy[a, 0], xy[a, 1], xy[b, 0], xy[b, 1]) < min_spacing_km
    return np.column_stack([a[strict], b[strict]]).astype(int)


def _check_k(k: Any, n: int, what: str) -> int:
    k = check_k(k)
    if k > n:
        msg = f"k={k} is larger than the {n} candidates {what}"
        raise PlacementError(msg)
    return k


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


def _spopt_mclp(
    cost: np.ndarray, w: np.ndarray, *, radius_km: float, k: int, predefined: np.ndarray
) -> tuple[pulp.LpProblem, list[pulp.LpVariable]]:
    """The MCLP as :meth:`spopt.locate.MCLP.from_cost_matrix` builds it (dense constraints)."""
    from spopt.locate import MCLP

    model = MCLP.from_cost_matrix(
        cost,
        w,
        service_radius=radius_km,
        p_facilities=k,
        predefined_facilities_arr=predefined.astype(int) if predefined.any() else None,
        name="equity_mclp",
    )
    return model.problem, model.fac_vars


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
    ChoiceError
        An unknown backend.

    Examples
    --------
    >>> import numpy as np
    >>> cost = np.array([[0.0, 50.0, 19.0], [50.0, 0.0, 60.0], [8.0, 70.0, 0.0]])
    >>> solve_mclp(cost, np.array([1.0, 5.0, 2.0]), radius_km=10, k=2).tolist()
    [0, 1]
    """
    cost = np.asarray(cost_km, dtype=float)
    w = np.nan_to_num(np.asarray(weights, dtype=float), nan=0.0)
    n_cand = cost.shape[1]
    k = _check_k(k, n_cand, "to choose from")
    check_choice("MCLP backend", backend, BACKENDS)
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
            problem, x = _spopt_mclp(cost[rep], w_u, radius_km=radius_km, k=k, predefined=pre)
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
