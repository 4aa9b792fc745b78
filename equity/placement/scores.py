"""Scores: what is within reach of each candidate, and its need, readiness, reach and combined score.

Each score is 0-100, higher is better for a fellow (see :mod:`equity.placement`): need is the
index itself, readiness and reach are percentile ranks over all candidates of the partners per
10,000 people (and the business base) and of the need-weighted people within the radius.

Readiness counts each partner organisation within the service radius ``R`` once, weighted by
its kind (``[partners.weights]``) and by its distance ``d`` (``decay``: ``linear`` ``1 - d / R``
by default, ``gaussian`` ``exp(-2 (d / R)^2)`` or ``none``)::

    partners_weighted = sum over partners within R of weight(kind) * decay(d)
    anchors_per_10k   = partners_weighted / people within R * 10,000
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.stats import rankdata

from equity.distance import haversine_km, pairs_within_km
from equity.errors import SchemaError
from equity.placement.candidates import Candidates, Demand, _as_wgs84, _centroids_lonlat
from equity.placement.coverage import coverage_matrix
from equity.placement.options import PlacementOptions
from equity.placement.partner import PartnerPairs, distance_decay
from equity.ranking import rank_descending


@dataclass(frozen=True)
class Measures:
    """What lies within the service radius of each candidate (the raw inputs of the scores).

    Attributes
    ----------
    within
        Float matrix (n_candidates, n_demand): 1 where the demand place is within the radius.
    population_within, reach_need
        People (or households) and need-weighted people within the radius.
    kinds, counts
        Anchor kinds (sorted) and the count of each kind within the radius (n, n_kinds).
    anchors_per_10k
        Kind-weighted, distance-decayed partners per 10,000 people within the radius.
    business_per_1k
        Establishments per 1,000 people of the candidate's area, when a business table is given.
    pairs
        The candidate-partner pairs within the radius and their distances (None: no partners).
    partners_weighted
        Sum of kind weight x distance decay over the partners within the radius.
    """

    within: np.ndarray
    population_within: np.ndarray
    reach_need: np.ndarray
    kinds: list[str]
    counts: np.ndarray
    anchors_per_10k: np.ndarray
    business_per_1k: np.ndarray | None
    pairs: PartnerPairs | None = None
    partners_weighted: np.ndarray | None = None


@dataclass(frozen=True)
class Scores:
    """The four scores of each candidate (0-100), its rank and the normalised score weights."""

    need: np.ndarray
    readiness: np.ndarray
    reach: np.ndarray
    combined: np.ndarray
    rank: np.ndarray
    weights: dict[str, float]


def _percentile_score(values: np.ndarray) -> np.ndarray:
    """Percentile rank scaled 0-100 along axis 0 (ties average; NaN lowest; n == 1 gives 50)."""
    arr = np.asarray(values, dtype=float)
    n = arr.shape[0]
    if n == 1:
        return np.full(arr.shape, 50.0)
    filled = np.where(np.isnan(arr), -np.inf, arr)
    ranks = rankdata(filled, method="average", axis=0)
    return 100.0 * (ranks - 1.0) / (n - 1.0)


def _combine(
    w: dict[str, float], need: np.ndarray, readiness: np.ndarray, reach: np.ndarray
) -> np.ndarray:
    """The combined score: the weighted sum of need, readiness and reach."""
    return w["need"] * need + w["readiness"] * readiness + w["reach"] * reach


def _anchor_kinds(anchors: gpd.GeoDataFrame) -> pd.Series:
    """Each anchor's kind, lower case with underscores (libraries when only ``library_id``)."""
    if "kind" in anchors.columns:
        kind = anchors["kind"].astype("string").fillna("other").str.strip().str.lower()
    else:
        label = "library" if "library_id" in anchors.columns else "anchor"
        kind = pd.Series(label, index=anchors.index)
    return kind.str.replace(r"[^a-z0-9]+", "_", regex=True)


def _anchor_counts(
    anchors: gpd.GeoDataFrame | None, xy: np.ndarray, radius_km: float
) -> tuple[list[str], np.ndarray, np.ndarray, PartnerPairs | None]:
    """Anchor kinds, the number of each within the radius of each candidate (n, n_kinds), each
    anchor's kind code, and the candidate-anchor pairs within the radius with their distance."""
    if anchors is None or not len(anchors):
        return [], np.zeros((len(xy), 0)), np.zeros(0, dtype=np.intp), None
    anc = _as_wgs84(anchors, "anchors")
    codes, kinds_idx = pd.factorize(_anchor_kinds(anc), sort=True)
    kinds = [str(x) for x in kinds_idx]
    pts = _centroids_lonlat(anc.geometry)
    i, j = pairs_within_km(xy, pts, radius_km)
    km = haversine_km(xy[i, 0], xy[i, 1], pts[j, 0], pts[j, 1])
    counts = np.zeros((len(xy), len(kinds)))
    np.add.at(counts, (i, codes[j]), 1.0)
    return kinds, counts, codes, PartnerPairs(i, j, km)


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


def measure(
    cands: Candidates,
    demand: Demand,
    options: PlacementOptions,
    *,
    anchors: gpd.GeoDataFrame | None = None,
    business: pd.DataFrame | None = None,
) -> Measures:
    """People, need, anchors and businesses within reach of each candidate."""
    within = coverage_matrix(cands.xy, demand.xy, radius_km=options.radius_km).astype(np.float64)
    population_within = within @ demand.population
    kinds, counts, codes, pairs = _anchor_counts(anchors, cands.xy, options.radius_km)
    kind_w = np.array([options.anchor_weight(kd) for kd in kinds])
    weighted = np.zeros(cands.n)
    if pairs is not None:
        decay = distance_decay(pairs.km, options.radius_km, options.decay)
        np.add.at(weighted, pairs.i, kind_w[codes[pairs.j]] * decay)
    return Measures(
        within=within,
        population_within=population_within,
        reach_need=within @ demand.need,
        kinds=kinds,
        counts=counts,
        anchors_per_10k=weighted / np.maximum(population_within, 1.0) * 1e4,
        business_per_1k=None
        if business is None
        else _business_per_1k(business, cands.table, cands.places),
        pairs=pairs,
        partners_weighted=weighted,
    )


def score(cands: Candidates, measures: Measures, options: PlacementOptions) -> Scores:
    """Need, readiness, reach and combined score of each candidate, and its rank in its group."""
    w = options.score_weights
    need = np.clip(cands.rows["equity_index"].to_numpy(dtype=float), 0, 100)
    readiness = _percentile_score(measures.anchors_per_10k)
    if measures.business_per_1k is not None:
        readiness = (2 * readiness + _percentile_score(measures.business_per_1k)) / 3
    reach = _percentile_score(measures.reach_need)
    combined = _combine(w, need, readiness, reach)
    return Scores(
        need=need,
        readiness=readiness,
        reach=reach,
        combined=combined,
        rank=rank_descending(combined, cands.groups),
        weights=w,
    )
