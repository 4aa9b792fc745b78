"""Towns when no town polygons exist: contiguous groups of block groups within each county.

Each county's block groups are regionalised by contiguity-constrained Ward clustering
(``spopt.region.WardSpatial``) into about one town per ``households_per_town`` households;
the towns never cross county lines.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import STRtree

from equity.geographies._checks import (
    _as_list,
    _as_str_ids,
    _check_geo,
    _numeric,
    _require_columns,
)
from equity.geographies._crs import AREA_CRS, OUT_CRS, _area_geoms
from equity.geographies.crosswalk import apply_crosswalk
from equity.geographies.hierarchy import parent_geoid

if TYPE_CHECKING:
    from libpysal.weights import W

log = logging.getLogger(__name__)


def _contiguity(geoms: np.ndarray, *, tolerance: float) -> W:
    """Queen-like contiguity of polygons within `tolerance` of each other (libpysal W)."""
    from libpysal.weights import W

    i, j = STRtree(geoms).query(geoms, predicate="dwithin", distance=tolerance)
    keep = i != j
    neigh = pd.Series(j[keep]).groupby(i[keep]).agg(list).to_dict()
    return W({k: neigh.get(k, []) for k in range(len(geoms))}, silence_warnings=True)


def build_towns(
    blockgroups: gpd.GeoDataFrame,
    *,
    counts: Sequence[str] = ("households",),
    medians: Mapping[str, str] | None = None,
    households_per_town: float = 5000.0,
    size_column: str = "households",
    county_names: Mapping[str, str] | None = None,
    contiguity_tolerance_m: float = 1.0,
) -> gpd.GeoDataFrame:
    """Deterministic, contiguous "towns" built from block groups within each county.

    Use when no town polygons (Census places, county subdivisions) are available.

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID``, the counts and `size_column`.
    counts
        Extensive columns moved to the towns (with ``moe_<count>``).
    medians
        ``{median_column: weight_count_column}``, see :func:`apply_crosswalk`.
    households_per_town
        Target size: a county with :math:`H` households (`size_column`) is split into
        :math:`k = \\max(1, \\mathrm{round}(H / \\text{households\\_per\\_town}))` towns.
    size_column
        Count used to size the towns.
    county_names
        ``{county_GEOID: name}`` for town names; default ``"County <GEOID>"``.
    contiguity_tolerance_m
        Block groups closer than this (metres, EPSG:6933) are neighbours: queen contiguity
        that tolerates the tiny gaps of generalised boundary files.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per town (EPSG:4326): ``GEOID`` (``<county GEOID>T<nnn>``), ``NAME``
        (``"<county> area <n>"``), ``level`` (``"town"``), ``county_GEOID``, ``state_GEOID``,
        ``n_blockgroups``, ``n_counties`` (1), ``crosses_county`` (False), counts, MOEs,
        medians and the dissolved geometry; ``attrs["crosswalk"]`` is the block group -> town
        crosswalk.

    Notes
    -----
    Within each county the block groups (sorted by GEOID) are regionalised by
    contiguity-constrained Ward clustering (``spopt.region.WardSpatial``: agglomerative
    clustering that only merges neighbouring regions, minimising the within-region sum of
    squared deviations) of their standardised centroid coordinates, which yields compact,
    contiguous areas of similar extent (so urban towns hold more households than rural
    ones); :math:`k` follows the county's households. The algorithm has no random step, so
    the towns are reproducible. Where a county's block groups are not all connected
    (islands), scikit-learn links the parts, so a town may be a multipolygon. Towns never
    cross county lines, so each has exactly one county. (SKATER and max-p give similar
    regions but took minutes for a county of 700 block groups.)
    """
    counts = _as_list(counts)
    medians = dict(medians or {})
    _check_geo(blockgroups, name="build_towns: blockgroups")
    _require_columns(blockgroups, ["GEOID", size_column, *counts], name="build_towns: blockgroups")
    ids = _as_str_ids(blockgroups["GEOID"], name="build_towns: blockgroups", column="GEOID")
    bg = blockgroups.assign(GEOID=ids).sort_values("GEOID").reset_index(drop=True)
    county = parent_geoid(bg["GEOID"], "county")
    size = np.nan_to_num(_numeric(bg, size_column, name="build_towns: blockgroups"))
    labels = _regions(
        bg,
        county,
        size,
        households_per_town=households_per_town,
        tolerance=contiguity_tolerance_m,
    )
    town = (
        county.to_numpy(dtype=object)
        + "T"
        + pd.Series(labels + 1).map("{:03d}".format).to_numpy(dtype=object)
    )
    xw = pd.DataFrame(
        {
            "source_GEOID": bg["GEOID"].to_numpy(),
            "target_GEOID": pd.array(town, dtype="str"),
            "weight": 1.0,
        }
    )
    table = pd.DataFrame(bg.drop(columns=bg.geometry.name))
    res = _town_table(
        apply_crosswalk(table, xw, counts=counts, medians=medians), xw, dict(county_names or {})
    )
    geoms = (
        gpd.GeoDataFrame({"town": town}, geometry=bg.geometry, crs=bg.crs)
        .dissolve("town")
        .to_crs(OUT_CRS)
    )
    out = gpd.GeoDataFrame(
        res, geometry=geoms.geometry.reindex(res["GEOID"]).to_numpy(), crs=OUT_CRS
    )
    out.attrs["crosswalk"] = xw
    log.info(
        "built %d towns from %d block groups in %d counties", len(out), len(bg), county.nunique()
    )
    return out


def _regions(
    bg: gpd.GeoDataFrame,
    county: pd.Series,
    size: np.ndarray,
    *,
    households_per_town: float,
    tolerance: float,
) -> np.ndarray:
    """Town number (0, 1, ... within its county, in GEOID order) of each block group."""
    area_geo = _area_geoms(bg)
    xy = shapely.get_coordinates(shapely.centroid(area_geo))
    labels = np.zeros(len(bg), dtype=np.int64)
    for cty, rows in county.groupby(county, sort=True).indices.items():
        # one regionalisation per county
        k = max(1, round(size[rows].sum() / households_per_town))
        if k == 1 or len(rows) <= 2:
            continue
        region = _ward_regions(area_geo[rows], xy[rows], min(k, len(rows)), tolerance=tolerance)
        # renumber regions by their first block group so names follow GEOID order
        _, first = np.unique(region, return_index=True)
        order = np.argsort(np.argsort(first))
        labels[rows] = order[np.searchsorted(np.unique(region), region)]
        log.debug("county %s: %d block groups -> %d towns", cty, len(rows), len(first))
    return labels


def _ward_regions(
    geoms: np.ndarray, xy: np.ndarray, n_clusters: int, *, tolerance: float
) -> np.ndarray:
    """Labels of contiguity-constrained Ward clustering of standardised centroids."""
    import warnings

    from spopt.region import WardSpatial

    part = pd.DataFrame(index=range(len(geoms)))
    z = (xy - xy.mean(axis=0)) / np.where(xy.std(axis=0) > 0, xy.std(axis=0), 1.0)
    part["x"], part["y"] = z[:, 0], z[:, 1]
    frame = gpd.GeoDataFrame(part, geometry=geoms, crs=AREA_CRS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = _contiguity(geoms, tolerance=tolerance)
        model = WardSpatial(frame, w, ["x", "y"], n_clusters=n_clusters)
        model.solve()
    return np.asarray(model.labels_)


def _town_table(res: pd.DataFrame, xw: pd.DataFrame, names: dict[str, str]) -> pd.DataFrame:
    """The moved counts with each town's name, level, county, state and block-group count."""
    cty = res["GEOID"].str[:5]
    number = res["GEOID"].str[6:].astype(int).astype("str")
    res.insert(1, "NAME", cty.map(names).fillna("County " + cty) + " area " + number)
    res.insert(2, "level", "town")
    res.insert(3, "county_GEOID", cty)
    res.insert(4, "state_GEOID", cty.str[:2])
    res.insert(
        5, "n_blockgroups", xw.groupby("target_GEOID").size().reindex(res["GEOID"]).to_numpy()
    )
    res.insert(6, "n_counties", 1)
    res.insert(7, "crosses_county", False)
    return res
