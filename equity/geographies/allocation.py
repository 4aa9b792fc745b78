"""Counts onto any polygons (towns, the user's): the conserving crosswalk, the allocation,
and points counted per polygon.

:func:`polygon_crosswalk` builds a crosswalk from source polygons to non-overlapping target
polygons in up to three passes (ancillary units, then area or centroid, then the nearest
target for what is left), so every source's weights sum to one;
:func:`allocate_to_polygons` moves counts along it and names each target's county and state.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Literal, NamedTuple

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity.errors import DataError, check_choice
from equity.geographies._checks import (
    _as_list,
    _as_str_ids,
    _check_geo,
    _check_unique,
    _numeric,
    _require_columns,
)
from equity.geographies._crs import OUT_CRS, _area_geoms
from equity.geographies.crosswalk import apply_crosswalk
from equity.geographies.overlay import OVERLAY_METHODS, _overlay

log = logging.getLogger(__name__)

#: Targets may overlap by this share of a source (slivers where generalised outlines cross);
#: beyond it they are refused, since the source would be counted twice.
OVERLAP_TOL = 1e-3


def _representative_points(geoms: np.ndarray) -> np.ndarray:
    """Centroids, or a point on the surface where the centroid falls outside (non-convex)."""
    pts = shapely.centroid(geoms)
    outside = ~shapely.contains(geoms, pts)
    if outside.any():
        pts[outside] = shapely.point_on_surface(geoms[outside])
    return pts


def polygon_crosswalk(
    source: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    *,
    source_id: str = "GEOID",
    target_id: str = "GEOID",
    method: Literal["area", "centroid"] = "area",
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "households",
    within: tuple[str, str] | None = None,
) -> pd.DataFrame:
    """Crosswalk from source polygons to target polygons that conserves every source's total.

    Parameters
    ----------
    source
        Source polygons (block groups, street cells...) with a unique `source_id`.
    targets
        Target polygons (towns...) with a unique `target_id`. They should not overlap
        (give places and county subdivisions separately).
    source_id, target_id
        Id columns.
    method
        ``"area"``: weights are area shares of the overlaps; ``"centroid"``: a source goes
        wholly to the target containing its centroid (exact for small cells).
    weights
        Ancillary units (e.g. street cells with households, address points). Each unit is
        placed at its centroid; the weight of a (source, target) pair is the `weight_column`
        mass of the units whose centroid lies in both. Sources holding no unit fall back to
        `method`.
    weight_column
        Mass column of `weights` (``None``: each unit counts 1).
    within
        ``(source_column, target_column)``: a source only goes to targets of its own group
        (e.g. ``("county_GEOID", "county_GEOID")``: block groups only to towns of their
        county, so that boundary generalisation cannot move counts across county lines);
        targets whose group is missing take sources of any group.

    Returns
    -------
    pandas.DataFrame
        ``source_GEOID``, ``target_GEOID``, ``weight`` (summing to 1 per source),
        ``weight_method`` (``"ancillary"``, ``"area"``, ``"centroid"`` or ``"nearest"``).

    Raises
    ------
    DataError
        When the targets overlap each other by more than :data:`OVERLAP_TOL` of a source (it
        would be counted twice).

    Notes
    -----
    Area of a source outside every target is shared among the targets it overlaps in
    proportion to the overlaps (weights normalised by the covered area), and a source that
    overlaps no target (or whose centroid falls in none) goes wholly to the nearest target
    (distance in EPSG:6933, ``weight_method = "nearest"``), so totals are conserved exactly.
    With `within`, a source whose group has no target at all is left out of the crosswalk.
    """
    sid, tid = _check_polygons(source, targets, source_id=source_id, target_id=target_id)
    if weights is not None:
        _check_weights(weights, weight_column)
    check_choice("method", method, OVERLAY_METHODS, where="polygon_crosswalk")
    groups = _Groups.of(source, targets, within)
    sg, tg = _area_geoms(source), _area_geoms(targets)
    parts: list[_Part] = []
    done = np.zeros(len(sg), dtype=bool)
    if weights is not None:
        by_units = _by_ancillary_units(sg, tg, weights, weight_column, groups)
        if by_units is not None:
            parts.append(by_units)
            done[by_units.source] = True
    todo = np.flatnonzero(~done)
    if method == "area":
        by_method = _by_area(sg, tg, todo, sid, groups)
    else:
        by_method = _by_centroid(sg, tg, todo, groups)
    parts.append(by_method)
    done[by_method.source] = True
    rest = np.flatnonzero(~done)
    if len(rest) and len(tg):
        parts.append(_by_nearest(sg, tg, rest, groups))
    return _crosswalk_frame(sid, tid, parts)


class _Groups(NamedTuple):
    """Group codes of sources and targets (-1: a target open to every group), or none."""

    source: np.ndarray | None
    target: np.ndarray | None

    @classmethod
    def of(
        cls, source: pd.DataFrame, targets: pd.DataFrame, within: tuple[str, str] | None
    ) -> _Groups:
        if within is None:
            return cls(None, None)
        scol, tcol = within
        _require_columns(source, [scol], name="polygon_crosswalk: source")
        _require_columns(targets, [tcol], name="polygon_crosswalk: targets")
        s = source[scol].astype("string")
        t = targets[tcol].astype("string")
        codes, _ = pd.factorize(pd.concat([s, t], ignore_index=True), use_na_sentinel=True)
        return cls(codes[: len(s)], codes[len(s) :])

    def allowed(self, i_s: np.ndarray, i_t: np.ndarray) -> np.ndarray:
        """Mask of the (source, target) pairs that respect the groups."""
        if self.source is None or self.target is None:
            return np.ones(len(i_s), dtype=bool)
        tg = self.target[i_t]
        return (tg < 0) | (tg == self.source[i_s])


class _Part(NamedTuple):
    """Rows of a crosswalk found by one pass: source and target positions, weights, method."""

    source: np.ndarray
    target: np.ndarray
    weight: np.ndarray
    method: np.ndarray


def _check_polygons(
    source: gpd.GeoDataFrame, targets: gpd.GeoDataFrame, *, source_id: str, target_id: str
) -> tuple[pd.Series, pd.Series]:
    """Source and target ids as strings, after checking geometries, columns and uniqueness."""
    _check_geo(source, name="polygon_crosswalk: source")
    _check_geo(targets, name="polygon_crosswalk: targets")
    _require_columns(source, [source_id], name="polygon_crosswalk: source")
    _require_columns(targets, [target_id], name="polygon_crosswalk: targets")
    sid = _as_str_ids(source[source_id], name="polygon_crosswalk: source", column=source_id)
    tid = _as_str_ids(targets[target_id], name="polygon_crosswalk: targets", column=target_id)
    for ids, nm, col in ((sid, "source", source_id), (tid, "targets", target_id)):
        _check_unique(ids, name=f"polygon_crosswalk: {nm}", what=repr(col))
    return sid, tid


def _check_weights(weights: gpd.GeoDataFrame, weight_column: str | None) -> None:
    _check_geo(weights, name="polygon_crosswalk: weights")
    if weight_column is not None:
        _require_columns(weights, [weight_column], name="polygon_crosswalk: weights")


def _first_hit(tree_geoms: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Position of the first polygon holding each point, -1 where none does."""
    k, g = STRtree(tree_geoms).query(pts, predicate="intersects")
    first = np.unique(k, return_index=True)[1]
    out = np.full(len(pts), -1)
    out[k[first]] = g[first]
    return out


def _by_ancillary_units(
    sg: np.ndarray,
    tg: np.ndarray,
    weights: gpd.GeoDataFrame,
    weight_column: str | None,
    groups: _Groups,
) -> _Part | None:
    """Weights from the mass of the units lying in both a source and a target (``None``: no
    unit lies in both)."""
    if weight_column is not None:
        mass = np.nan_to_num(_numeric(weights, weight_column, name="polygon_crosswalk: weights"))
    else:
        mass = np.ones(len(weights))
    pts = _representative_points(_area_geoms(weights))
    unit_src = _first_hit(sg, pts)
    unit_tgt = _first_hit(tg, pts)
    ok = (unit_src >= 0) & (unit_tgt >= 0) & (mass > 0)
    ok[ok] = groups.allowed(unit_src[ok], unit_tgt[ok])
    if not ok.any():
        return None
    pair = (
        pd.DataFrame({"s": unit_src[ok], "t": unit_tgt[ok], "m": mass[ok]})
        .groupby(["s", "t"], as_index=False)["m"]
        .sum()
    )
    tot = pair.groupby("s")["m"].transform("sum").to_numpy()
    return _Part(
        pair["s"].to_numpy(),
        pair["t"].to_numpy(),
        pair["m"].to_numpy() / tot,
        np.full(len(pair), "ancillary", dtype=object),
    )


def _by_area(
    sg: np.ndarray, tg: np.ndarray, todo: np.ndarray, sid: pd.Series, groups: _Groups
) -> _Part:
    """Area shares of the overlaps of the sources `todo` (normalised by their covered area)."""
    i_s, i_t, area, _ = _overlay(sg[todo], tg)
    i_s = todo[i_s]
    # targets of other groups are not the source's to share: drop them before checking
    keep = groups.allowed(i_s, i_t)
    i_s, i_t, area = i_s[keep], i_t[keep], area[keep]
    cover = np.bincount(i_s, weights=area, minlength=len(sg))
    src_area = shapely.area(sg)
    over = cover > src_area * (1 + OVERLAP_TOL) + 1e-6
    if over.any():
        i = int(np.flatnonzero(over)[0])
        msg = (
            f"polygon_crosswalk: targets overlap each other (source {sid.iloc[i]!r} is covered "
            f"{cover[i] / src_area[i]:.3f} times); give non-overlapping targets, e.g. places and "
            "county subdivisions separately"
        )
        raise DataError(msg)
    # overlaps within the tolerance (slivers where two generalised outlines cross) are
    # normalised away with the uncovered area
    return _Part(i_s, i_t, area / cover[i_s], np.full(len(i_s), "area", dtype=object))


def _by_centroid(sg: np.ndarray, tg: np.ndarray, todo: np.ndarray, groups: _Groups) -> _Part:
    """The sources `todo` wholly to the target holding their centroid (first one listed)."""
    pts = _representative_points(sg[todo])
    kp, kt = STRtree(tg).query(pts, predicate="intersects")
    keep = groups.allowed(todo[kp], kt)
    kp, kt = kp[keep], kt[keep]
    first = np.unique(kp, return_index=True)[1]
    return _Part(
        todo[kp[first]],
        kt[first],
        np.ones(len(first)),
        np.full(len(first), "centroid", dtype=object),
    )


def _by_nearest(sg: np.ndarray, tg: np.ndarray, rest: np.ndarray, groups: _Groups) -> _Part:
    """The sources `rest` wholly to their nearest target (of their group)."""
    if groups.source is None or groups.target is None:
        near_s, near_t = STRtree(tg).query_nearest(sg[rest], all_matches=False)
        src, tgt = rest[near_s], near_t
    else:
        src_l, tgt_l = [], []
        open_t = groups.target < 0
        for g in np.unique(groups.source[rest]):
            cand = np.flatnonzero(open_t | (groups.target == g))
            if not len(cand):
                continue  # no target in the group: the source stays unallocated
            rows = rest[groups.source[rest] == g]
            k_s, k_t = STRtree(tg[cand]).query_nearest(sg[rows], all_matches=False)
            src_l.append(rows[k_s])
            tgt_l.append(cand[k_t])
        src = np.concatenate(src_l) if src_l else np.zeros(0, dtype=np.intp)
        tgt = np.concatenate(tgt_l) if tgt_l else np.zeros(0, dtype=np.intp)
    return _Part(src, tgt, np.ones(len(src)), np.full(len(src), "nearest", dtype=object))


def _crosswalk_frame(sid: pd.Series, tid: pd.Series, parts: list[_Part]) -> pd.DataFrame:
    """The crosswalk's rows from every pass, ordered by source then target."""
    s_all = np.concatenate([p.source for p in parts]) if parts else np.zeros(0, dtype=np.intp)
    t_all = np.concatenate([p.target for p in parts]) if parts else np.zeros(0, dtype=np.intp)
    order = np.lexsort((t_all, s_all))
    return pd.DataFrame(
        {
            "source_GEOID": pd.array(sid.to_numpy(dtype=object)[s_all[order]], dtype="str"),
            "target_GEOID": pd.array(tid.to_numpy(dtype=object)[t_all[order]], dtype="str"),
            "weight": np.concatenate([p.weight for p in parts])[order] if parts else np.zeros(0),
            "weight_method": pd.array(
                np.concatenate([p.method for p in parts])[order]
                if parts
                else np.zeros(0, dtype=object),
                dtype="str",
            ),
        }
    )


def _source_counties(source: pd.DataFrame, ids: pd.Series) -> pd.Series | None:
    if "county_GEOID" in source.columns:
        return source["county_GEOID"].astype("str")
    if ids.str.fullmatch(r"\d{5,}").all():
        return ids.str[:5]
    return None


def allocate_to_polygons(
    source: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    *,
    counts: Sequence[str],
    medians: Mapping[str, str] | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "households",
    method: Literal["area", "centroid"] = "area",
    id_column: str = "GEOID",
) -> gpd.GeoDataFrame:
    """Move counts from source polygons onto target polygons (towns) with conserved totals.

    Parameters
    ----------
    source
        Source places with ``GEOID``, counts, ``moe_<count>``, medians (block groups, or
        street cells from :func:`street_grid`, which carry ``county_GEOID``).
    targets
        Town polygons (Census places, county subdivisions or the user's) with `id_column`
        and optionally ``NAME``.
    counts
        Extensive columns to move.
    medians
        ``{median_column: weight_count_column}``, see :func:`apply_crosswalk`.
    weights, weight_column
        Optional ancillary units (e.g. street cells and their ``households``), see
        :func:`polygon_crosswalk`.
    method
        ``"area"`` or ``"centroid"`` (a source goes wholly to the town holding its centroid:
        the natural choice when the sources are street cells), see :func:`polygon_crosswalk`.
    id_column
        Id column of `targets`.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per target (EPSG:4326): ``GEOID``, ``NAME``, ``level`` (``"town"``),
        ``county_GEOID`` and ``state_GEOID`` of the county giving it most households (or of
        the first count), ``n_counties``, ``crosses_county``, ``n_states``,
        ``crosses_state``, the counts (0 for a target receiving nothing), ``moe_<count>``
        and medians.

    Notes
    -----
    Totals are conserved exactly: see :func:`polygon_crosswalk` for the handling of source
    area outside every target. Counts and MOEs move with :func:`apply_crosswalk`.
    """
    counts = _as_list(counts)
    medians = dict(medians or {})
    _require_columns(source, ["GEOID", *counts, *medians], name="allocate_to_polygons: source")
    _require_columns(targets, [id_column], name="allocate_to_polygons: targets")
    xw = polygon_crosswalk(
        source,
        targets,
        target_id=id_column,
        method=method,
        weights=weights,
        weight_column=weight_column,
    )
    ids = _as_str_ids(source["GEOID"], name="allocate_to_polygons: source", column="GEOID")
    table = pd.DataFrame(source.drop(columns=source.geometry.name)).assign(GEOID=ids)
    moved = apply_crosswalk(table, xw, counts=counts, medians=medians)
    out = _town_frame(targets, id_column)
    counties = _source_counties(table, ids)
    if counties is not None:
        _add_counties(out, xw, table, ids, counties, counts=counts)
    out = out.merge(moved, on="GEOID", how="left")
    for c in counts:
        out[c] = out[c].fillna(0.0)
        if f"moe_{c}" in out:
            out[f"moe_{c}"] = out[f"moe_{c}"].fillna(0.0)
    geom = targets.geometry.to_crs(OUT_CRS).to_numpy()
    log.info("allocated %d sources to %d targets (%s)", len(source), len(targets), method)
    return gpd.GeoDataFrame(out, geometry=geom, crs=OUT_CRS)


def _town_frame(targets: gpd.GeoDataFrame, id_column: str) -> pd.DataFrame:
    """``GEOID``, ``NAME`` (the id where targets have none) and ``level`` of the targets."""
    tid = targets[id_column].astype("str")
    out = pd.DataFrame(
        {
            "GEOID": tid.to_numpy(),
            "NAME": targets["NAME"].to_numpy() if "NAME" in targets else tid.to_numpy(),
        }
    )
    out["level"] = "town"
    return out


def _add_counties(
    out: pd.DataFrame,
    xw: pd.DataFrame,
    table: pd.DataFrame,
    ids: pd.Series,
    counties: pd.Series,
    *,
    counts: list[str],
) -> None:
    """Add each target's dominant county and state, and how many of each it spans, to `out`.

    The dominant county gives the target most households (or of the first count).
    """
    key = "households" if "households" in counts else (counts[0] if counts else None)
    cmap = pd.Series(counties.to_numpy(), index=ids.to_numpy())
    contrib = xw.assign(county=xw["source_GEOID"].map(cmap))
    if key:
        contrib["score"] = contrib["weight"] * contrib["source_GEOID"].map(
            table.set_index("GEOID")[key]
        ).fillna(0.0)
    else:
        contrib["score"] = contrib["weight"]
    by = contrib.groupby(["target_GEOID", "county"], as_index=False)["score"].sum()
    dom = by.sort_values(
        ["target_GEOID", "score", "county"], ascending=[True, False, True]
    ).drop_duplicates("target_GEOID")
    dom = dom.set_index("target_GEOID")["county"]
    out["county_GEOID"] = out["GEOID"].map(dom)
    out["state_GEOID"] = out["county_GEOID"].str[:2]
    out["n_counties"] = (
        out["GEOID"].map(by.groupby("target_GEOID")["county"].nunique()).fillna(0).astype(int)
    )
    out["crosses_county"] = out["n_counties"] > 1
    states = by.assign(state=by["county"].str[:2]).groupby("target_GEOID")["state"].nunique()
    out["n_states"] = out["GEOID"].map(states).fillna(0).astype(int)
    out["crosses_state"] = out["n_states"] > 1


def count_points(
    points: gpd.GeoDataFrame,
    polygons: gpd.GeoDataFrame,
    *,
    id_column: str = "GEOID",
    by: str | None = "kind",
) -> pd.DataFrame:
    """Count points (anchor institutions) per polygon, by kind.

    Parameters
    ----------
    points
        Point features; `by` names their category column.
    polygons
        Places with a unique `id_column`.
    id_column
        Id column of `polygons`.
    by
        Category column of `points` (``None``: only the total).

    Returns
    -------
    pandas.DataFrame
        One row per polygon: `id_column`, ``n_<kind>`` per category (sorted) and ``n_anchors``
        (all points). Points outside every polygon are dropped and counted in
        ``attrs["n_points_outside"]``; a point on a shared border counts once (first polygon).
    """
    _check_geo(points, name="count_points: points")
    _check_geo(polygons, name="count_points: polygons")
    _require_columns(polygons, [id_column], name="count_points: polygons")
    if by is not None:
        _require_columns(points, [by], name="count_points: points")
    pts = np.asarray(points.geometry.to_crs(polygons.crs).array, dtype=object)
    geoms = np.asarray(polygons.geometry.array, dtype=object)
    ip, ig = STRtree(geoms).query(pts, predicate="intersects")
    first = np.unique(ip, return_index=True)[1]
    ip, ig = ip[first], ig[first]
    res = pd.DataFrame({id_column: polygons[id_column].to_numpy()})
    if by is not None:
        kinds = points[by].astype("str").fillna("unknown").to_numpy(dtype=object)
        all_codes, kind_names = pd.factorize(kinds, sort=True)
        kind_codes = all_codes[ip]
        table = np.zeros((len(polygons), len(kind_names)), dtype=np.int64)
        np.add.at(table, (ig, kind_codes), 1)
        for j, k in enumerate(kind_names):
            res[f"n_{k}"] = table[:, j]
    res["n_anchors"] = np.bincount(ig, minlength=len(polygons)).astype(np.int64)
    res.attrs["n_points_outside"] = int(len(points) - len(ip))
    log.info(
        "counted %d points in %d polygons (%d outside)",
        len(ip),
        len(polygons),
        res.attrs["n_points_outside"],
    )
    return res
