"""Towns built by regionalisation: contiguous groups of block groups within each county.

Each county's block groups are regionalised by contiguity-constrained Ward clustering
(``spopt.region.WardSpatial``) into about one town per ``households_per_town`` households;
the towns never cross county lines. Each is named after the place (or county subdivision)
giving it most households, with its county ("Abingdon area, Washington County"), or, where no
place is known, after its county and its direction from the county's centre
("Washington County (north)").
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
from equity.geographies.overlay import _overlay

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
    county_names: Mapping[str, str] | pd.Series | None = None,
    places: gpd.GeoDataFrame | None = None,
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
        ``{county_GEOID: name}`` ("Washington County", see
        :func:`equity.geographies.names.county_names`); default ``"County <GEOID>"``.
    places
        Named polygons (Census places and/or county subdivisions, as
        :func:`equity.sources.read_boundaries` returns them) the towns are named after.
    contiguity_tolerance_m
        Block groups closer than this (metres, EPSG:6933) are neighbours: queen contiguity
        that tolerates the tiny gaps of generalised boundary files.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per town (EPSG:4326): ``GEOID`` (``<county GEOID>T<nnn>``), ``NAME`` (see
        Notes), ``level`` (``"town"``), ``town_type`` (``"region"``), ``county_GEOID``,
        ``state_GEOID``, ``n_blockgroups``, ``n_counties`` (1), ``crosses_county`` (False),
        counts, MOEs, medians and the dissolved geometry; ``attrs["crosswalk"]`` is the block
        group -> town crosswalk.

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

    Names: a town is named after the place of `places` holding most of its households
    (block-group households shared by the area of each block group inside the place), as
    ``"<place> area, <county>"``; towns of a county that would share a place's name get the
    compass direction of their centres from the (area-weighted) centre of those towns
    (``"Richmond area (north), Henrico County"``). A town holding no place's households is
    named after its county, with the direction of its centre from the county's centre when
    the county has several towns (``"Washington County (south-west)"``). ``"(central)"``:
    within a fifth of the reference radius; several towns in one direction are numbered from
    the centre outwards (``"(north 1)"`` is nearer the centre than ``"(north 2)"``).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> bg = gpd.GeoDataFrame(
    ...     {"GEOID": ["511910101001", "511910101002"], "households": [3000.0, 2500.0]},
    ...     geometry=[box(-82.0, 36.7, -81.9, 36.8), box(-81.9, 36.7, -81.8, 36.8)], crs=4326)
    >>> places = gpd.GeoDataFrame({"GEOID": ["5100148"], "NAME": ["Abingdon"]},
    ...                           geometry=[box(-81.99, 36.71, -81.95, 36.75)], crs=4326)
    >>> build_towns(bg, places=places, county_names={"51191": "Washington County"})["NAME"].tolist()
    ['Abingdon area, Washington County']
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
    res = _town_table(apply_crosswalk(table, xw, counts=counts, medians=medians), xw)
    geoms = (
        gpd.GeoDataFrame({"town": town}, geometry=bg.geometry, crs=bg.crs)
        .dissolve("town")
        .to_crs(OUT_CRS)
    )
    names = region_names(
        bg,
        town,
        size,
        geoms.geometry,
        county_names={} if county_names is None else dict(county_names),
        places=places,
    )
    res.insert(1, "NAME", res["GEOID"].map(names).to_numpy())
    out = gpd.GeoDataFrame(
        res, geometry=geoms.geometry.reindex(res["GEOID"]).to_numpy(), crs=OUT_CRS
    )
    out.attrs["crosswalk"] = xw
    out.attrs["towns"] = {"weight_methods": {"whole": len(xw)}}
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


def _town_table(res: pd.DataFrame, xw: pd.DataFrame) -> pd.DataFrame:
    """The moved counts with each town's level, county, state and block-group count."""
    cty = res["GEOID"].str[:5]
    res.insert(1, "level", "town")
    res.insert(2, "town_type", "region")
    res.insert(3, "county_GEOID", cty)
    res.insert(4, "state_GEOID", cty.str[:2])
    res.insert(
        5, "n_blockgroups", xw.groupby("target_GEOID").size().reindex(res["GEOID"]).to_numpy()
    )
    res.insert(6, "n_counties", 1)
    res.insert(7, "crosses_county", False)
    return res


# -- names --------------------------------------------------------------------------------------

#: Compass directions by 45-degree sector, counter-clockwise from east.
_COMPASS = (
    "east",
    "north-east",
    "north",
    "north-west",
    "west",
    "south-west",
    "south",
    "south-east",
)
#: A centre closer than this fraction of its group's radius to the group's centre is "central".
_CENTRAL = 0.2


def region_names(
    blockgroups: gpd.GeoDataFrame,
    town: np.ndarray,
    households: np.ndarray,
    town_geoms: gpd.GeoSeries,
    *,
    county_names: Mapping[str, str],
    places: gpd.GeoDataFrame | None,
) -> pd.Series:
    """Town GEOID -> readable name of regionalised towns (see :func:`build_towns`, Notes).

    Parameters
    ----------
    blockgroups
        Block groups, in the order of `town` and `households`.
    town
        Town GEOID of each block group (``<county>T<nnn>``).
    households
        Households of each block group.
    town_geoms
        Town polygons indexed by town GEOID.
    county_names
        ``{county_GEOID: name}``; default ``"County <GEOID>"``.
    places
        Named polygons (``GEOID``, ``NAME``) or ``None``.
    """
    ids = pd.Index(sorted(set(town.tolist())))
    county = pd.Series(ids.str[:5], index=ids)
    cname = county.map(lambda c: county_names.get(c, f"County {c}"))
    best = _largest_place(blockgroups, town, households, places)
    place = best.reindex(ids).astype(object)
    named = place.notna().to_numpy()
    stem = np.where(named, place.astype(str) + " area", cname.to_numpy(dtype=object))
    suffix = np.where(named, ", " + cname.to_numpy(dtype=object), "")
    geo = gpd.GeoSeries(town_geoms.reindex(ids).to_numpy(), crs=town_geoms.crs).to_crs(AREA_CRS)
    xy = shapely.get_coordinates(geo.centroid.to_numpy())
    area = geo.area.to_numpy()
    # place names: those a county would repeat get a direction; county names: every town of
    # a county split in several, so that no part is called by the whole county's name
    per_county = county.map(county.value_counts()).to_numpy()
    key = np.where(named | (per_county == 1), stem + suffix, "county:" + county.to_numpy())
    names = (stem + suffix).astype(object)
    for k in pd.unique(key):
        rows = np.flatnonzero(key == k)
        if len(rows) == 1 and named[rows[0]]:
            continue
        if len(rows) == 1 and per_county[rows[0]] == 1:
            continue
        ref = rows if named[rows[0]] else np.flatnonzero(county.to_numpy() == county.iloc[rows[0]])
        where = _directions(xy[rows], area[rows], xy[ref], area[ref])
        names[rows] = [f"{stem[r]} ({d}){suffix[r]}" for r, d in zip(rows, where, strict=True)]
    return pd.Series(names, index=ids)


def _directions(
    xy: np.ndarray, area: np.ndarray, ref_xy: np.ndarray, ref_area: np.ndarray
) -> list[str]:
    """Compass direction of each centre `xy` from the area-weighted centre of the reference
    towns, numbered from that centre outwards when several share one: ``["north",
    "south 1", "south 2", "central"]``."""
    w = ref_area / ref_area.sum() if ref_area.sum() > 0 else np.full(len(ref_area), 1.0)
    centre = (ref_xy * (w / w.sum())[:, None]).sum(axis=0)
    radius = np.sqrt(ref_area.sum() / np.pi)
    d = xy - centre
    dist = np.hypot(d[:, 0], d[:, 1])
    sector = np.round(np.arctan2(d[:, 1], d[:, 0]) / (np.pi / 4)).astype(int) % 8
    words = np.array(
        [
            "central" if r < _CENTRAL * radius else _COMPASS[s]
            for r, s in zip(dist, sector, strict=True)
        ],
        dtype=object,
    )
    out = words.copy()
    for word in pd.unique(words):
        rows = np.flatnonzero(words == word)
        if len(rows) > 1:
            order = rows[np.argsort(dist[rows], kind="stable")]
            out[order] = [f"{word} {k}" for k in range(1, len(order) + 1)]
    return out.tolist()


def _largest_place(
    blockgroups: gpd.GeoDataFrame,
    town: np.ndarray,
    households: np.ndarray,
    places: gpd.GeoDataFrame | None,
) -> pd.Series:
    """Town GEOID -> bare name of the place giving it most households (area shares of its
    block groups; with no households anywhere, the largest area)."""
    if places is None or len(places) == 0:
        return pd.Series(dtype=object)
    _require_columns(places, ["NAME"], name="build_towns: places")
    bg_geo = _area_geoms(blockgroups)
    i_b, i_p, area, _ = _overlay(bg_geo, _area_geoms(places))
    if not len(i_b):
        return pd.Series(dtype=object)
    share = area / shapely.area(bg_geo)[i_b]
    mass = (np.nan_to_num(households[i_b]) + 1e-6) * share
    names = places["NAME"].astype("string").str.strip().to_numpy(dtype=object)
    pairs = pd.DataFrame({"town": town[i_b], "place": names[i_p], "mass": mass})
    by = pairs.groupby(["town", "place"], as_index=False)["mass"].sum()
    best = by.sort_values(["town", "mass", "place"], ascending=[True, False, True])
    return best.drop_duplicates("town").set_index("town")["place"]
