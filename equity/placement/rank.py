"""Ranking: :func:`rank_candidates`, the placement steps called in order.

Validate the options, prepare the candidates and the demand, measure what is within reach,
score, select, explain and assemble the table; each step lives in its own module of
:mod:`equity.placement`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from equity.errors import PlacementError
from equity.placement.candidates import (
    Candidates,
    Demand,
    _normalise_states,
    _num,
    _state_names,
    check_places,
    prepare_candidates,
    prepare_demand,
)
from equity.placement.explain import (
    _driving,
    _index_meta,
    _rank_range,
    _sensitivity,
    _top_indicators,
    _why,
    setting_for,
    state_medians,
)
from equity.placement.focus import focus_areas, pillar_indicators
from equity.placement.margins import margin_columns, margins
from equity.placement.options import PlacementOptions
from equity.placement.partner import suggest_partners
from equity.placement.scores import Measures, Scores, measure, score
from equity.placement.selection import Selection, check_draws, select_sites

__all__ = ["rank_candidates"]

logger = logging.getLogger("equity.placement")

#: The keywords of :func:`rank_candidates` that are fields of :class:`PlacementOptions`.
_OPTION_KEYWORDS = (
    "mode",
    "k",
    "per_state",
    "radius_km",
    "weights",
    "min_households",
    "min_population",
    "states",
    "existing_sites",
    "keep_existing",
    "min_spacing_km",
    "seed",
    "base_mode",
)


def rank_candidates(
    places: gpd.GeoDataFrame,
    *,
    options: PlacementOptions | None = None,
    anchors: gpd.GeoDataFrame | None = None,
    demand: gpd.GeoDataFrame | None = None,
    draws: np.ndarray | None = None,
    business: pd.DataFrame | None = None,
    mode: str | None = None,
    k: int | None = None,
    per_state: bool | None = None,
    radius_km: float | None = None,
    weights: Mapping[str, float] | None = None,
    min_households: float | None = None,
    min_population: float | None = None,
    states: Iterable[str | int] | str | None = None,
    existing_sites: Iterable[str] | None = None,
    keep_existing: bool | None = None,
    min_spacing_km: float | None = None,
    seed: int | None = None,
    base_mode: str | None = None,
) -> gpd.GeoDataFrame:
    """Score candidate places for a fellow, select sites and explain each candidate.

    Parameters
    ----------
    places
        Level table (EPSG:4326 or any CRS) with ``GEOID``, ``equity_index`` and ``population``
        or ``households``; ``NAME``, ``place_name``, ``county_name``, ``state_GEOID``,
        ``state_name`` (:func:`equity.geographies.add_names`), ``equity_index_lo/hi``,
        ``rank_lo/hi``, ``score_<pillar>``, ``norm_<indicator>``, ``driving_pillar`` and
        ``intervention`` are used when present. ``attrs["index"]`` may give
        ``weights`` (pillar weights) and ``indicator_weights``.
    options
        All options in one :class:`PlacementOptions` (as the run configuration and the CLI
        build it). Give either `options` or the option keywords below, not both.
    anchors
        Points of partner organisations with a ``kind`` column (``library``, ``college``,
        ``school``, ``nonprofit``, ``community_center``, ...), one row per organisation (the
        partner layer of :func:`equity.placement.organisations.build_partners`). Without
        ``kind``, rows with a ``library_id`` (:func:`equity.sources.read_libraries`) are
        libraries. ``name``, ``partner_id``, ``detail``, ``size_class``, ``size_basis``,
        ``sources``, ``listed`` and ``located``, when present, describe the suggested partner
        (:mod:`equity.placement.partner`).
    demand
        Finer places (block groups, street cells) with ``population`` (or ``households``) and
        ``equity_index``, used for reach and coverage; default: ``places`` themselves.
    draws
        Robust mode: index values (n_places, n_draws) aligned with ``places``, e.g. from
        :func:`equity.index.simulate_index`. Default: independent normal draws from each
        place's 90% interval (``equity_index_lo/hi``), ``n_draws`` of them (see
        :class:`PlacementOptions`). Need (and, when ``demand`` is ``None``, reach) is
        recomputed per draw; a separate ``demand`` table keeps its own index.
    business
        Business base keyed by area: ``GEOID`` (e.g. county) and ``establishments``, and
        ``population`` when known (else summed from ``places``). Matched on the candidate's
        ``county_GEOID`` for 5-digit keys, else on its GEOID prefix.
    mode, k, per_state, radius_km, weights, min_households, min_population, states, existing_sites, keep_existing, min_spacing_km, seed, base_mode
        The options of the same names of :class:`PlacementOptions` (None: its default):
        selection mode (``top``, ``coverage`` or ``robust``), sites per state or in total,
        per state or national, service radius (km), weights of need, readiness and reach,
        minimum households and people, states to include, existing sites and whether they
        are kept, minimum spacing of new sites (km), seed of the default draws and the
        selection robust mode repeats.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per candidate, sorted by state and rank, with the ``candidates.csv`` columns
        of ``docs/contracts.md`` (``rank`` is within the state by combined score, or national
        when ``per_state=False``), then ``existing``, ``n_anchors``, ``n_<kind>``,
        ``anchors_per_10k``, ``population_within_radius``, ``reach_need_population``,
        (``establishments_per_1k``), the suggested partner and runner-up
        (:data:`equity.placement.partner.PARTNER_COLUMNS`), ``sensitivity``, ``rank_best``,
        ``rank_worst`` (the candidate's rank range across weight and normalisation variants),
        (``times_selected``,
        ``share_selected``), ``longitude``, ``latitude`` and the place geometry.
        ``attrs["placement"]`` holds the parameters and, in coverage mode, the covered
        weight of the optimum and of the greedy choice per state.

    Raises
    ------
    PlacementError
        ``k`` larger than the candidates (per state when ``per_state``), radius not positive,
        no candidates after the filters (naming the filter), an existing site not among the
        candidates, infeasible spacing, bad draws, `options` together with option keywords.
    ChoiceError
        An unknown mode, base mode or score weight name.
    SchemaError
        A table lacks a required column, or places have duplicate GEOIDs.

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
    >>> same = rank_candidates(places, options=PlacementOptions(k=1))
    >>> same["GEOID"].tolist() == out["GEOID"].tolist()
    True
    """
    # first statement: locals() holds just the parameters, of which the option keywords
    keywords = {key: value for key, value in locals().items() if key in _OPTION_KEYWORDS}
    opts = _resolve_options(options, keywords)
    meta = _index_meta(places)
    places = check_places(places)
    draws = check_draws(draws, len(places))
    cands = prepare_candidates(places, opts)
    dem = prepare_demand(demand, cands)
    measures = measure(cands, dem, opts, anchors=anchors, business=business)
    scores = score(cands, measures, opts)
    selection = select_sites(cands, dem, measures, scores, opts, draws=draws)
    out = _assemble(
        cands, dem, measures, scores, selection, opts, meta, anchors=anchors, draws=draws
    )
    logger.info(
        "ranked %d candidates (%s, k=%d, %d selected)",
        cands.n,
        opts.mode,
        opts.k,
        int(selection.selected.sum()),
    )
    return out


def _resolve_options(
    options: PlacementOptions | None, keywords: dict[str, Any]
) -> PlacementOptions:
    """`options`, or the options the keywords give (None: the default); never both."""
    given = {key: value for key, value in keywords.items() if value is not None}
    if options is None:
        return PlacementOptions(**given)
    if not isinstance(options, PlacementOptions):
        msg = f"options must be a PlacementOptions, got {type(options).__name__}"
        raise PlacementError(msg)
    if given:
        msg = f"give either options or option keywords, not both (got {', '.join(sorted(given))})"
        raise PlacementError(msg)
    return options


def _assemble(
    cands: Candidates,
    dem: Demand,
    measures: Measures,
    scores: Scores,
    selection: Selection,
    opts: PlacementOptions,
    meta: dict[str, Any],
    *,
    anchors: gpd.GeoDataFrame | None = None,
    draws: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """The output table: one row per candidate with its scores, selection and explanations."""
    cand, groups = cands.table, cands.groups
    sens_text, sens_move = _sensitivity(
        cand,
        scores.need,
        scores.readiness,
        scores.reach,
        scores.weights,
        groups,
        scores.rank,
        meta,
    )
    out = _main_columns(cands, measures, scores, selection, meta)
    out = _reach_columns(out, cands, measures)
    out = _partner_columns(out, anchors, measures, opts)
    margin = margins(cands, dem, measures, scores, selection, opts, draws=draws)
    for col, values in margin_columns(margin, out["NAME"], out["GEOID"]).items():
        out[col] = values
    out["sensitivity"] = pd.array(sens_text, dtype="string")
    out["rank_best"], out["rank_worst"] = _rank_range(
        cands, scores.need, scores.readiness, scores.reach, scores.weights, scores.rank, meta
    )
    if selection.times is not None and selection.n_draws is not None:
        out["times_selected"] = selection.times.astype(np.int64)
        out["share_selected"] = selection.times / selection.n_draws
    out["longitude"] = cands.xy[:, 0]
    out["latitude"] = cands.xy[:, 1]
    n_per_group = np.bincount(groups)[groups]
    why = _why(out, n_per_group, setting_for(cand, opts, people=dem.size_col))
    out["why"] = pd.array(why, dtype="string")
    out = gpd.GeoDataFrame(out, geometry=cand.geometry.to_numpy(), crs=4326)
    out = out.sort_values(["state_GEOID", "rank"], kind="stable").reset_index(drop=True)
    out.attrs["placement"] = _parameters(cands, measures, selection, opts, sens_move)
    return out


def _main_columns(
    cands: Candidates,
    measures: Measures,
    scores: Scores,
    selection: Selection,
    meta: dict[str, Any],
) -> pd.DataFrame:
    """The ``candidates.csv`` columns of ``docs/contracts.md``, in their order."""
    cand, cb = cands.table, cands.rows
    used = [n for names in pillar_indicators(cand, meta).values() for n in names]
    medians = state_medians(cands, used)
    focus = focus_areas(cand, meta, medians=medians)
    kinds, n = measures.kinds, cands.n
    return pd.DataFrame(
        {
            "rank": scores.rank.astype(np.int64),
            "GEOID": cb["GEOID"],
            "NAME": cand["NAME"].astype("string") if "NAME" in cand.columns else cb["GEOID"],
            "place_name": _text(cand, "place_name"),
            "county_name": _text(cand, "county_name"),
            "state_GEOID": cb["state_GEOID"],
            "state_name": _state_names(cb["state_GEOID"], cands.places),
            "need_score": scores.need,
            "readiness_score": scores.readiness,
            "reach_score": scores.reach,
            "combined_score": scores.combined,
            "households": cb["households"].to_numpy(dtype=float),
            "population": cb["population"].to_numpy(dtype=float),
            "equity_index": cb["equity_index"].to_numpy(dtype=float),
            "equity_index_lo": _num(cand, "equity_index_lo"),
            "equity_index_hi": _num(cand, "equity_index_hi"),
            "rank_lo": _num(cand, "rank_lo"),
            "rank_hi": _num(cand, "rank_hi"),
            "driving_pillar": _driving(cand),
            "intervention": pd.array(focus.name, dtype="string"),
            "top_indicators": pd.array(_top_indicators(cand, meta, medians), dtype="string"),
            "n_anchors": measures.counts.sum(axis=1).astype(np.int64)
            if kinds
            else np.zeros(n, dtype=np.int64),
            "why": "",
            "selected": selection.selected.astype(bool),
            "focus_area": pd.array(focus.key, dtype="string"),
            "focus_reason": pd.array(focus.reason, dtype="string"),
            "reliability": _text(cand, "reliability"),
        }
    )


def _text(cand: pd.DataFrame, column: str) -> pd.Series:
    """A name column of the candidates (missing when the level table has none)."""
    if column in cand.columns:
        return pd.Series(cand[column].to_numpy(), dtype="string")
    return pd.Series(pd.NA, index=range(len(cand)), dtype="string")


def _reach_columns(out: pd.DataFrame, cands: Candidates, measures: Measures) -> pd.DataFrame:
    """County, existing, anchors by kind, people and need within reach, business base."""
    if "county_GEOID" in cands.table.columns:
        out["county_GEOID"] = cands.table["county_GEOID"].astype("string")
    out["existing"] = cands.existing
    for j, kd in enumerate(measures.kinds):
        out[f"n_{kd}"] = measures.counts[:, j].astype(np.int64)
    out["anchors_per_10k"] = measures.anchors_per_10k
    out["population_within_radius"] = measures.population_within
    out["reach_need_population"] = measures.reach_need
    if measures.business_per_1k is not None:
        out["establishments_per_1k"] = measures.business_per_1k
    return out


def _partner_columns(
    out: pd.DataFrame,
    anchors: gpd.GeoDataFrame | None,
    measures: Measures,
    opts: PlacementOptions,
) -> pd.DataFrame:
    """The suggested partner and runner-up of each candidate (:mod:`equity.placement.partner`)."""
    suggested = suggest_partners(
        None if anchors is None else pd.DataFrame(anchors.drop(columns=anchors.geometry.name)),
        measures.pairs,
        len(out),
        radius_km=opts.radius_km,
        decay=opts.decay,
        kind_weight=opts.anchor_weight,
        listed_bonus=opts.listed_bonus,
    )
    return pd.concat([out, suggested.set_index(out.index)], axis=1)


def _parameters(
    cands: Candidates,
    measures: Measures,
    selection: Selection,
    opts: PlacementOptions,
    sens_move: np.ndarray,
) -> dict[str, Any]:
    """``attrs["placement"]``: the options as used, the filters' effect and the coverage log."""
    states = opts.states
    return {
        "mode": opts.mode,
        "base_mode": opts.base_mode if opts.mode == "robust" else None,
        "k": opts.k,
        "per_state": opts.per_state,
        "radius_km": opts.radius_km,
        "weights": opts.score_weights,
        "anchor_weights": {kd: opts.anchor_weight(kd) for kd in measures.kinds},
        "decay": opts.decay,
        "listed_bonus": opts.listed_bonus,
        "min_households": opts.min_households,
        "min_population": opts.min_population,
        "states": None
        if states is None
        else sorted(_normalise_states(states, set(cands.base["state_GEOID"]))),
        "existing_sites": list(opts.existing_sites),
        "keep_existing": opts.keep_existing,
        "min_spacing_km": float(opts.min_spacing_km),
        "n_draws": selection.n_draws,
        "seed": opts.seed,
        "n_places": len(cands.places),
        "n_candidates": cands.n,
        "removed_by_filter": cands.removed,
        "coverage": selection.coverage,
        "largest_rank_move": int(np.max(np.abs(sens_move))) if len(sens_move) else 0,
    }
