"""Towns people know: Census places and county subdivisions, and the rest of each county.

:func:`census_towns` combines the Census Bureau's two kinds of local area the way the Census
publishes them for each state:

* In the 12 **strong-MCD states** (:data:`STRONG_MCD_STATES`: Connecticut, Maine,
  Massachusetts, Michigan, Minnesota, New Hampshire, New Jersey, New York, Pennsylvania,
  Rhode Island, Vermont, Wisconsin), the minor civil divisions (towns, townships) are
  functioning general-purpose governments that cover the state, and the Census Bureau
  publishes them as it publishes places (U.S. Census Bureau, *Geographic Areas Reference
  Manual*, ch. 8 "County Subdivisions"; the American Community Survey's "12 strong-MCD
  states", https://www.census.gov/programs-surveys/geography/guidance/geo-areas/county-subdivision.html).
  There the towns are the county subdivisions. Incorporated places that are independent of
  any MCD (the cities of New York, Michigan, Wisconsin, Maine...) are county subdivisions
  of their own in the Census files, so they appear as towns as the Census shows them;
  places that are part of an MCD (villages of New York, boroughs of Connecticut) stay inside
  their town and are not towns of their own.
* Elsewhere the towns are the places (incorporated places and census designated places),
  each split by county where it crosses a county line ("Kansas City city (Clay County
  part)", as the Census's place-within-county parts), plus the part of each county outside
  every place as one area, "Balance of <County>". Where only county subdivisions are given
  (e.g. census county divisions, "Umatilla CCD"), they are the towns.

:func:`complete_towns` gives polygons a user supplies the same treatment: the part of each
county outside them becomes "Rest of <County>", with a warning saying how many households
live there.

Either way every household belongs to exactly one town and each town receives the households
of the block groups inside it: block-group counts are shared among the towns by the area of
each block group inside them (or by ancillary units such as 2020 blocks or street cells with
households, when given), only among towns of the block group's own county, so counts are
conserved per county. Slivers that come from generalised boundaries (parts narrower than
``2 * sliver_m``) are not towns: their area goes to the neighbouring towns.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Collection, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from equity.errors import SchemaError
from equity.geographies._checks import (
    _as_list,
    _as_str_ids,
    _check_geo,
    _check_unique,
    _require_columns,
)
from equity.geographies._crs import AREA_CRS, OUT_CRS, _area_geoms
from equity.geographies.allocation import _add_counties, polygon_crosswalk
from equity.geographies.crosswalk import apply_crosswalk
from equity.geographies.names import _described

__all__ = [
    "DEFAULT_SLIVER_M",
    "STRONG_MCD_STATES",
    "TOWN_METHODS",
    "census_towns",
    "complete_towns",
    "make_towns",
    "towns_note",
]

log = logging.getLogger(__name__)

#: The Census Bureau's strong-MCD states (state FIPS -> name): minor civil divisions are
#: functioning governments covering the state (Geographic Areas Reference Manual, ch. 8).
STRONG_MCD_STATES: dict[str, str] = {
    "09": "Connecticut",
    "23": "Maine",
    "25": "Massachusetts",
    "26": "Michigan",
    "27": "Minnesota",
    "33": "New Hampshire",
    "34": "New Jersey",
    "36": "New York",
    "42": "Pennsylvania",
    "44": "Rhode Island",
    "50": "Vermont",
    "55": "Wisconsin",
}

#: Half the width (metres) below which a piece of a town or a county's remainder is a sliver
#: of boundary generalisation: at 1:500,000 (the Census cartographic files) 0.1 mm is 50 m.
DEFAULT_SLIVER_M = 50.0

#: How a run's towns are made when no polygons are given (``[towns] method``): ``census``
#: (places and county subdivisions, :func:`census_towns`) or ``regions`` (block groups
#: grouped by :func:`equity.geographies.build_towns`).
TOWN_METHODS: tuple[str, ...] = ("census", "regions")

#: Columns of a town table before the counts.
_TOWN_COLUMNS = (
    "GEOID",
    "NAME",
    "level",
    "town_type",
    "census_GEOID",
    "LSAD",
    "county_GEOID",
    "state_GEOID",
    "n_blockgroups",
    "n_counties",
    "crosses_county",
)


def census_towns(
    blockgroups: gpd.GeoDataFrame,
    *,
    places: gpd.GeoDataFrame | None = None,
    cousubs: gpd.GeoDataFrame | None = None,
    county_names: Mapping[str, str] | pd.Series | None = None,
    counts: Sequence[str] = ("households",),
    medians: Mapping[str, str] | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "households",
    cousub_states: Collection[str] = tuple(STRONG_MCD_STATES),
    sliver_m: float = DEFAULT_SLIVER_M,
) -> gpd.GeoDataFrame:
    """Towns from Census places and county subdivisions, with the balance of each county.

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID`` (12 digits), the counts, their ``moe_<count>``
        and the medians.
    places, cousubs
        Census places and county subdivisions as :func:`equity.sources.read_boundaries`
        returns them (``GEOID``, ``NAME``, ``LSAD`` or ``NAMELSAD``); either may be omitted.
    county_names
        County GEOID -> name ("Fairfax County", :func:`equity.geographies.names.county_names`)
        for the balance areas; default ``"County <GEOID>"``.
    counts, medians
        Extensive columns moved to the towns, and ``{median: weighting count}``
        (:func:`equity.geographies.apply_crosswalk`).
    weights, weight_column
        Ancillary units placed at their centroids (2020 blocks with housing units, street
        cells with households) sharing each block group among its towns; block groups
        without a unit are shared by area (:func:`equity.geographies.polygon_crosswalk`).
    cousub_states
        State FIPS codes whose towns are the county subdivisions when both kinds are given
        (default: the strong-MCD states). A state with county subdivisions and no places
        uses the subdivisions anyway.
    sliver_m
        Pieces narrower than twice this (metres) are slivers, not towns.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per town (EPSG:4326): ``GEOID`` (the place or subdivision GEOID;
        ``<place GEOID>_<county GEOID>`` for the part of a place in one county;
        ``<county GEOID>_balance`` for the balance of a county), ``NAME`` with the LSAD
        ("Fairfax city", "Hempstead town", "Kansas City city (Clay County part)", "Balance of
        Fairfax County"; a county without places is named after the county), ``level``,
        ``town_type`` (``place``, ``place part``, ``county subdivision``, ``balance of
        county``), ``census_GEOID`` (of the place or subdivision), ``LSAD``,
        ``county_GEOID``, ``state_GEOID``, ``n_blockgroups`` (block groups giving it
        something), ``n_counties`` (1), ``crosses_county`` (False), counts, MOEs, medians.
        ``attrs["crosswalk"]``: the block group -> town crosswalk (with ``weight_method``);
        ``attrs["towns"]``: a summary (households in places and in balances, weighting).

    Examples
    --------
    >>> import geopandas as gpd
    >>> from shapely.geometry import box
    >>> bg = gpd.GeoDataFrame(
    ...     {"GEOID": ["510010001001", "510010001002"], "households": [100.0, 300.0]},
    ...     geometry=[box(-76.0, 37.0, -75.9, 37.1), box(-75.9, 37.0, -75.8, 37.1)], crs=4326)
    >>> place = gpd.GeoDataFrame({"GEOID": ["5100100"], "NAME": ["Acme"], "LSAD": ["43"]},
    ...                          geometry=[box(-75.9, 37.0, -75.8, 37.1)], crs=4326)
    >>> towns = census_towns(bg, places=place, county_names={"51001": "Accomack County"})
    >>> towns[["NAME", "households"]].values.tolist()
    [['Acme town', 300.0], ['Balance of Accomack County', 100.0]]
    """
    bg = _prepare(blockgroups, counts, medians, name="census_towns")
    counties = _county_shapes(bg)
    base = _census_base(bg, places, cousubs, cousub_states)
    names = _county_name_map(county_names)
    pieces = _pieces(base, counties, names, sliver_m=sliver_m)
    rest = _remainders(counties, pieces, names, kind="balance of county", sliver_m=sliver_m)
    out = _allocate(
        bg, pd.concat([pieces, rest], ignore_index=True), counts, medians, weights, weight_column
    )
    _log_summary(out, "census_towns")
    return out


def complete_towns(
    blockgroups: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    *,
    county_names: Mapping[str, str] | pd.Series | None = None,
    counts: Sequence[str] = ("households",),
    medians: Mapping[str, str] | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "households",
    id_column: str = "GEOID",
    sliver_m: float = DEFAULT_SLIVER_M,
) -> gpd.GeoDataFrame:
    """Counts moved into town polygons a user supplies, plus the rest of each county.

    Parameters
    ----------
    blockgroups
        Block-group polygons with ``GEOID``, counts, MOEs and medians.
    towns
        The user's polygons (not overlapping each other) with `id_column` and ``NAME``
        (``NAMELSAD`` or ``LSAD`` when they are Census files).
    county_names, counts, medians, weights, weight_column, sliver_m
        As in :func:`census_towns`.
    id_column
        Id column of `towns`.

    Returns
    -------
    geopandas.GeoDataFrame
        The columns of :func:`census_towns`: the given polygons whole (``town_type``
        ``"given"``, ``county_GEOID`` the county giving most households, ``n_counties``,
        ``crosses_county``) and, for each county not covered by them, ``"Rest of
        <County>"`` (``GEOID`` ``<county GEOID>_rest``, ``town_type`` ``"rest of county"``).

    Warns
    -----
    UserWarning
        When households live outside the given polygons: how many, and in how many areas.

    Notes
    -----
    No household is moved into a polygon it does not live in: a block group partly outside
    the polygons sends that part (by area, or by the ancillary units) to the rest of its
    county. Slivers along the polygons' edges (narrower than ``2 * sliver_m``) stay with the
    polygons.
    """
    bg = _prepare(blockgroups, counts, medians, name="complete_towns")
    _check_geo(towns, name="complete_towns: towns")
    _require_columns(towns, [id_column], name="complete_towns: towns")
    ids = _as_str_ids(towns[id_column], name="complete_towns: towns", column=id_column)
    _check_unique(ids, name="complete_towns: towns", what=repr(id_column))
    given = gpd.GeoDataFrame(
        {
            "GEOID": ids.to_numpy(),
            "NAME": _described(towns.assign(NAME=towns.get("NAME", ids))).to_numpy(),
            "town_type": "given",
            "census_GEOID": pd.array([pd.NA] * len(towns), dtype="string"),
            "LSAD": towns["LSAD"].astype("string").to_numpy()
            if "LSAD" in towns
            else pd.array([pd.NA] * len(towns), dtype="string"),
            "county_GEOID": pd.array([pd.NA] * len(towns), dtype="string"),
        },
        geometry=_area_geoms(towns),
        crs=AREA_CRS,
    )
    counties = _county_shapes(bg)
    names = _county_name_map(county_names)
    rest = _remainders(counties, given, names, kind="rest of county", sliver_m=sliver_m)
    out = _allocate(
        bg, pd.concat([given, rest], ignore_index=True), counts, medians, weights, weight_column
    )
    _warn_outside(out, n_given=len(given))
    return out


def make_towns(
    blockgroups: gpd.GeoDataFrame,
    *,
    polygons: gpd.GeoDataFrame | None = None,
    places: gpd.GeoDataFrame | None = None,
    cousubs: gpd.GeoDataFrame | None = None,
    county_names: Mapping[str, str] | pd.Series | None = None,
    counts: Sequence[str] = ("households",),
    medians: Mapping[str, str] | None = None,
    weights: gpd.GeoDataFrame | None = None,
    weight_column: str | None = "households",
    method: str = "census",
    households_per_town: float = 5000.0,
) -> gpd.GeoDataFrame:
    """The town level of a run, from whatever towns the inputs offer.

    The user's `polygons` completed with the rest of each county (:func:`complete_towns`);
    else Census `places` and `cousubs` with the balance of each county
    (:func:`census_towns`); else, or with ``method="regions"``, block groups grouped into
    towns of about `households_per_town` households (:func:`equity.geographies.build_towns`)
    named after the place or county subdivision giving each most households.

    Parameters
    ----------
    blockgroups
        Block groups with ``GEOID``, counts, MOEs and medians.
    polygons, places, cousubs
        Town polygons a user supplies; Census places; Census county subdivisions.
    county_names
        County GEOID -> name (:func:`equity.geographies.names.county_names`).
    counts, medians, weights, weight_column
        As in :func:`census_towns`.
    method
        ``"census"`` or ``"regions"`` (:data:`TOWN_METHODS`); given polygons are always used.
    households_per_town
        Target size of regions.

    Returns
    -------
    geopandas.GeoDataFrame
        The town table; ``attrs["crosswalk"]`` is the block group -> town crosswalk.
    """
    from equity.errors import check_choice
    from equity.geographies.regions import build_towns

    check_choice("town method", method, TOWN_METHODS, where="make_towns")
    if polygons is not None:
        return complete_towns(
            blockgroups,
            polygons,
            county_names=county_names,
            counts=counts,
            medians=medians,
            weights=weights,
            weight_column=weight_column,
        )
    given = [g for g in (places, cousubs) if g is not None and len(g)]
    if method == "census" and given:
        return census_towns(
            blockgroups,
            places=places,
            cousubs=cousubs,
            county_names=county_names,
            counts=counts,
            medians=medians,
            weights=weights,
            weight_column=weight_column,
        )
    if method == "census":
        log.info("towns: no places or county subdivisions given; regions of block groups instead")
    named = (
        gpd.GeoDataFrame(
            pd.concat([g[["NAME", "geometry"]].to_crs(OUT_CRS) for g in given], ignore_index=True),
            crs=OUT_CRS,
        )
        if given
        else None
    )
    return build_towns(
        blockgroups,
        counts=counts,
        medians=medians,
        county_names=_county_name_map(county_names),
        places=named,
        households_per_town=households_per_town,
    )


# -- inputs ---------------------------------------------------------------------------------------


def _prepare(
    blockgroups: gpd.GeoDataFrame,
    counts: Sequence[str],
    medians: Mapping[str, str] | None,
    *,
    name: str,
) -> gpd.GeoDataFrame:
    """Block groups with string GEOIDs and ``county_GEOID``, sorted by GEOID."""
    where = f"{name}: blockgroups"
    _check_geo(blockgroups, name=where)
    _require_columns(blockgroups, ["GEOID", *_as_list(counts), *(medians or {})], name=where)
    ids = _as_str_ids(blockgroups["GEOID"], name=where, column="GEOID")
    if not ids.str.fullmatch(r"\d{12}").all():
        bad = ids[~ids.str.fullmatch(r"\d{12}")].iloc[0]
        msg = f"{where}: column 'GEOID' must hold 12-digit block-group GEOIDs, e.g. {bad!r}"
        raise SchemaError(msg)
    _check_unique(ids, name=where, what="'GEOID'")
    bg = blockgroups.assign(GEOID=ids.to_numpy(), county_GEOID=ids.str[:5].to_numpy())
    return bg.sort_values("GEOID").reset_index(drop=True)


def _county_name_map(names: Mapping[str, str] | pd.Series | None) -> dict[str, str]:
    if names is None:
        return {}
    if isinstance(names, pd.Series):
        return {str(k): str(v) for k, v in names.dropna().items()}
    return {str(k): str(v) for k, v in names.items()}


def _county_shapes(bg: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Each county's outline (EPSG:6933) as the union of its block groups, so that the towns
    tile exactly the area the block groups cover."""
    geoms = _area_geoms(bg)
    county = bg["county_GEOID"].to_numpy()
    keys, first = np.unique(county, return_index=True)
    bounds = np.r_[first, len(county)]
    shapes = [_union(geoms[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return gpd.GeoDataFrame({"county_GEOID": keys}, geometry=shapes, crs=AREA_CRS)


def _union(geoms: np.ndarray) -> shapely.Geometry:
    """Union of polygons that form a coverage (block groups): the coverage union (fifteen
    times faster), or the general union when they overlap, are not noded alike (GEOS refuses
    them) or the result is not valid."""
    try:
        cover = shapely.coverage_union_all(geoms)
    except shapely.errors.GEOSException:  # e.g. generalised boundaries whose edges do not match
        return shapely.union_all(geoms)
    total = float(shapely.area(geoms).sum())
    if shapely.is_valid(cover) and abs(shapely.area(cover) - total) <= 1e-9 * max(total, 1.0):
        return cover
    return shapely.union_all(geoms)


def _census_base(
    bg: gpd.GeoDataFrame,
    places: gpd.GeoDataFrame | None,
    cousubs: gpd.GeoDataFrame | None,
    cousub_states: Collection[str],
) -> gpd.GeoDataFrame:
    """The places and county subdivisions that make the towns, per state (module docstring):
    ``GEOID``, ``NAME`` (with LSAD), ``LSAD``, ``town_type``, ``own_county``, geometry."""
    frames = []
    states = set(bg["GEOID"].str[:2])
    with_cousubs: set[str] = set()
    cs = _census_frame(cousubs, "county subdivision", width=10)
    pl = _census_frame(places, "place", width=7)
    if cs is not None:
        cs = cs[cs["GEOID"].str[:2].isin(states) & ~cs["GEOID"].str.endswith("00000")]
        place_states = set(pl["GEOID"].str[:2]) if pl is not None else set()
        have = set(cs["GEOID"].str[:2])
        with_cousubs = {s for s in have if s in set(cousub_states) or s not in place_states}
        frames.append(cs[cs["GEOID"].str[:2].isin(with_cousubs)])
    if pl is not None:
        pl = pl[pl["GEOID"].str[:2].isin(states - with_cousubs)]
        frames.append(pl)
        mcd = sorted(set(pl["GEOID"].str[:2]) & set(STRONG_MCD_STATES))
        if mcd:
            log.info(
                "towns: places in strong-MCD state(s) %s; their county subdivisions (data.cousubs) "
                "are the towns the Census publishes there",
                ", ".join(mcd),
            )
    if not frames:
        return gpd.GeoDataFrame(
            {c: [] for c in ("GEOID", "NAME", "LSAD", "town_type", "own_county")},
            geometry=[],
            crs=AREA_CRS,
        )
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=AREA_CRS)


def _census_frame(
    gdf: gpd.GeoDataFrame | None, kind: str, *, width: int
) -> gpd.GeoDataFrame | None:
    """A place or county-subdivision file as base towns (GEOIDs checked, names described)."""
    if gdf is None or len(gdf) == 0:
        return None
    where = f"census_towns: {kind} polygons"
    _check_geo(gdf, name=where)
    _require_columns(gdf, ["GEOID", "NAME"], name=where)
    ids = _as_str_ids(gdf["GEOID"], name=where, column="GEOID")
    bad = ~ids.str.fullmatch(rf"\d{{{width}}}")
    if bad.any():
        msg = f"{where}: column 'GEOID' must hold {width}-digit GEOIDs, e.g. {ids[bad].iloc[0]!r}"
        raise SchemaError(msg)
    _check_unique(ids, name=where, what="'GEOID'")
    lsad = gdf["LSAD"].astype("string") if "LSAD" in gdf else pd.Series(pd.NA, index=gdf.index)
    return gpd.GeoDataFrame(
        {
            "GEOID": ids.to_numpy(),
            "NAME": _described(gdf).to_numpy(),
            "LSAD": pd.array(lsad.to_numpy(), dtype="string"),
            "town_type": kind,
            "own_county": ids.str[:5].to_numpy() if width == 10 else None,
        },
        geometry=_area_geoms(gdf),
        crs=AREA_CRS,
    )


# -- geometry --------------------------------------------------------------------------------------


def _slivers(geoms: np.ndarray, sliver_m: float) -> np.ndarray:
    """Mask of geometries with no part wider than ``2 * sliver_m`` (metres, EPSG:6933)."""
    if sliver_m <= 0:
        return np.zeros(len(geoms), dtype=bool)
    return shapely.is_empty(shapely.buffer(geoms, -sliver_m))


def _pieces(
    base: gpd.GeoDataFrame,
    counties: gpd.GeoDataFrame,
    county_names: Mapping[str, str],
    *,
    sliver_m: float,
) -> gpd.GeoDataFrame:
    """The base towns cut by county: a county subdivision in its own county, a place in
    each county it covers (slivers dropped; a place kept whole in one county keeps its
    GEOID)."""
    from equity.geographies.overlay import _overlay

    if len(base) == 0:
        cols = ("GEOID", "NAME", "town_type", "census_GEOID", "LSAD", "county_GEOID")
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=AREA_CRS)
    bgeo = np.asarray(base.geometry.array, dtype=object)
    cgeo = np.asarray(counties.geometry.array, dtype=object)
    i_b, i_c, area, piece = _overlay(bgeo, cgeo, geometry=True)
    assert piece is not None
    piece = _polygonal(piece)
    county = counties["county_GEOID"].to_numpy()[i_c]
    own = base["own_county"].to_numpy()[i_b]
    keep = pd.isna(own) | (own == county)
    keep &= _keep_pieces(i_b, area, _slivers(piece, sliver_m), shapely.area(bgeo))
    i_b, county, piece = i_b[keep], county[keep], piece[keep]
    n_parts = np.bincount(i_b, minlength=len(base))[i_b]
    ids = base["GEOID"].to_numpy()[i_b].astype(object)
    names = base["NAME"].to_numpy()[i_b].astype(object)
    cname = np.array([_county_name(c, county_names) for c in county], dtype=object)
    part = n_parts > 1
    return gpd.GeoDataFrame(
        {
            "GEOID": np.where(part, ids + "_" + county.astype(object), ids),
            "NAME": np.where(part, names + " (" + cname + " part)", names),
            "town_type": np.where(part, "place part", base["town_type"].to_numpy()[i_b]),
            "census_GEOID": pd.array(ids, dtype="string"),
            "LSAD": base["LSAD"].to_numpy()[i_b],
            "county_GEOID": pd.array(county, dtype="string"),
        },
        geometry=piece,
        crs=AREA_CRS,
    )


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """The polygonal part of each geometry: an intersection of two polygons that also touch
    elsewhere is a GeometryCollection holding lines or points beside its polygon(s), which
    the contiguity weights and the maps refuse."""
    mixed = np.flatnonzero(shapely.get_type_id(geoms) == 7)
    if not len(mixed):
        return geoms
    parts, of = shapely.get_parts(geoms[mixed], return_index=True)
    parts, sub = shapely.get_parts(parts, return_index=True)  # multipolygons into polygons
    of = of[sub]
    poly = shapely.get_type_id(parts) == 3
    out = geoms.copy()
    out[mixed] = shapely.Polygon()
    if poly.any():
        keep = np.unique(of[poly])
        out[mixed[keep]] = shapely.multipolygons(
            parts[poly], indices=np.searchsorted(keep, of[poly])
        )
    return out


def _county_name(county: str, names: Mapping[str, str]) -> str:
    return names.get(county) or f"County {county}"


def _keep_pieces(
    i_b: np.ndarray, area: np.ndarray, sliver: np.ndarray, base_area: np.ndarray
) -> np.ndarray:
    """Pieces that are towns: every piece that is not a sliver; where all pieces of a polygon
    are slivers, its largest piece when that holds most of the polygon (a small place wholly
    in the region), else none (a polygon outside the region touching it)."""
    keep = ~sliver
    frame = pd.DataFrame({"b": i_b, "area": area, "keep": keep})
    any_kept = frame.groupby("b")["keep"].transform("any").to_numpy()
    largest = frame.groupby("b")["area"].transform("max").to_numpy() == area
    mostly_in = area >= 0.5 * base_area[i_b]
    return keep | (~any_kept & largest & mostly_in)


def _remainders(
    counties: gpd.GeoDataFrame,
    towns: gpd.GeoDataFrame,
    county_names: Mapping[str, str],
    *,
    kind: str,
    sliver_m: float,
) -> gpd.GeoDataFrame:
    """Each county's area outside `towns` (slivers dropped) as one area per county:
    "Balance of <County>" / "Rest of <County>" (a county without towns: its own name for a
    balance)."""
    left, has_towns = _uncovered(counties, towns)
    parts, of = shapely.get_parts(left, return_index=True)
    good = (shapely.get_type_id(parts) == 3) & ~_slivers(parts, sliver_m)
    parts, of = parts[good], of[good]
    if not len(parts):
        return towns.iloc[0:0]
    keep = np.unique(of)
    geoms = shapely.multipolygons(parts, indices=np.searchsorted(keep, of))
    geoid = counties["county_GEOID"].to_numpy()[keep].astype(object)
    names = []
    for c in geoid:
        cname = _county_name(c, county_names)
        if kind == "rest of county":
            names.append(f"Rest of {cname}")
        else:
            names.append(f"Balance of {cname}" if c in has_towns else cname)
    suffix = "_rest" if kind == "rest of county" else "_balance"
    return gpd.GeoDataFrame(
        {
            "GEOID": geoid + suffix,
            "NAME": names,
            "town_type": kind,
            "census_GEOID": pd.array([pd.NA] * len(keep), dtype="string"),
            "LSAD": pd.array([pd.NA] * len(keep), dtype="string"),
            "county_GEOID": pd.array(geoid, dtype="string"),
        },
        geometry=geoms,
        crs=AREA_CRS,
    )


def _uncovered(counties: gpd.GeoDataFrame, towns: gpd.GeoDataFrame) -> tuple[np.ndarray, set[str]]:
    """Each county's area outside the towns meeting it (towns with a county: only those of
    that county), and the counties that hold a town."""
    cgeo = np.asarray(counties.geometry.array, dtype=object)
    tgeo = np.asarray(towns.geometry.array, dtype=object)
    i_c, i_t = shapely.STRtree(tgeo).query(cgeo, predicate="intersects")
    cid = counties["county_GEOID"].to_numpy()
    if len(towns) and "county_GEOID" in towns and towns["county_GEOID"].notna().all():
        same = towns["county_GEOID"].astype(str).to_numpy()[i_t] == cid[i_c]
        i_c, i_t = i_c[same], i_t[same]
    left = cgeo.copy()
    # one difference per county (with the union of its own towns): far cheaper than every
    # county against the union of all towns
    for c, rows in pd.Series(i_t).groupby(i_c).indices.items():
        left[c] = shapely.difference(cgeo[c], shapely.union_all(tgeo[i_t[rows]]))
    return left, set(cid[np.unique(i_c)])


# -- counts ----------------------------------------------------------------------------------------


def _allocate(
    bg: gpd.GeoDataFrame,
    targets: gpd.GeoDataFrame,
    counts: Sequence[str],
    medians: Mapping[str, str] | None,
    weights: gpd.GeoDataFrame | None,
    weight_column: str | None,
) -> gpd.GeoDataFrame:
    """Counts of the block groups moved into the towns (within their county), with each
    town's county, state and block-group count, in GEOID order."""
    counts, medians = _as_list(counts), dict(medians or {})
    targets = gpd.GeoDataFrame(targets, geometry="geometry", crs=AREA_CRS)
    _check_unique(targets["GEOID"].astype(str), name="towns", what="'GEOID'")
    xw = polygon_crosswalk(
        bg[["GEOID", "county_GEOID", "geometry"]],
        targets[["GEOID", "county_GEOID", "geometry"]],
        weights=weights,
        weight_column=weight_column,
        within=("county_GEOID", "county_GEOID"),
    )
    table = pd.DataFrame(bg.drop(columns=bg.geometry.name))
    moved = apply_crosswalk(table, xw, counts=counts, medians=medians)
    info = pd.DataFrame(targets.drop(columns="geometry")).rename(
        columns={"county_GEOID": "_county"}
    )
    info["GEOID"] = info["GEOID"].astype(str)
    out = info[info["GEOID"].isin(set(xw["target_GEOID"]))].reset_index(drop=True)
    out.insert(2, "level", "town")
    _add_counties(out, xw, table, bg["GEOID"], bg["county_GEOID"], counts=counts)
    out["n_blockgroups"] = out["GEOID"].map(xw.groupby("target_GEOID").size()).astype(int)
    out = out[list(_TOWN_COLUMNS)].merge(moved, on="GEOID", how="left")
    geom = targets.set_index(targets["GEOID"].astype(str)).geometry.reindex(out["GEOID"])
    res = gpd.GeoDataFrame(
        out, geometry=gpd.GeoSeries(geom.to_numpy(), crs=AREA_CRS).to_crs(OUT_CRS).to_numpy()
    ).set_crs(OUT_CRS)
    res = res.sort_values("GEOID", kind="stable").reset_index(drop=True)
    methods = xw["weight_method"].value_counts().to_dict()
    res.attrs["crosswalk"] = xw
    res.attrs["towns"] = {"weight_methods": {str(k): int(v) for k, v in methods.items()}}
    return res


def _households(towns: pd.DataFrame) -> pd.Series | None:
    if "households" in towns.columns:
        return towns["households"].astype(float)
    return None


def _warn_outside(towns: gpd.GeoDataFrame, *, n_given: int) -> None:
    """Warn with the households (or the first count) living outside the given polygons."""
    rest = towns["town_type"].eq("rest of county")
    hh = _households(towns)
    total = float(hh.sum()) if hh is not None else float("nan")
    outside = float(hh[rest].sum()) if hh is not None else float("nan")
    towns.attrs["towns"].update(
        {"households": total, "households_outside": outside, "n_rest_areas": int(rest.sum())}
    )
    if not rest.any():
        return
    what = (
        f"{outside:,.0f} of {total:,.0f} households ({outside / total:.1%})"
        if hh is not None and total > 0
        else "some households"
    )
    msg = (
        f"{what} live outside the {n_given} given town polygons; they form "
        f"{int(rest.sum())} 'Rest of <county>' areas of their own"
    )
    log.info(msg)
    warnings.warn(msg, UserWarning, stacklevel=3)


def _log_summary(towns: gpd.GeoDataFrame, where: str) -> None:
    hh = _households(towns)
    balance = towns["town_type"].eq("balance of county")
    if hh is not None:
        towns.attrs["towns"].update(
            {
                "households": float(hh.sum()),
                "households_in_balances": float(hh[balance].sum()),
            }
        )
        log.info(
            "%s: %d towns (%d balances of counties); %s of %s households in places or "
            "county subdivisions",
            where,
            len(towns),
            int(balance.sum()),
            f"{hh[~balance].sum():,.0f}",
            f"{hh.sum():,.0f}",
        )


_WEIGHTING = {
    "area": "by area",
    "ancillary": "by the households of ancillary units (street cells or blocks)",
    "nearest": "wholly to the nearest town (no overlap)",
    "centroid": "wholly to the town holding their centre",
    "whole": "whole (regions are groups of block groups)",
}


def towns_note(towns: pd.DataFrame) -> str:
    """One sentence for METHODS.md: what the towns are and how households reached them.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"town_type": ["place", "balance of county"],
    ...                   "households": [300.0, 100.0]})
    >>> t.attrs["towns"] = {"weight_methods": {"area": 3}}
    >>> towns_note(t)
    'town level: 2 towns (place: 1, balance of county: 1); 100 of 400 households (25.0%) live outside places and county subdivisions (or the given polygons); block groups go to towns by area (3 pairs)'
    """
    kinds = towns["town_type"].value_counts(sort=False) if "town_type" in towns else pd.Series()
    parts = ", ".join(f"{k}: {n:,}" for k, n in kinds.items())
    text = f"town level: {len(towns):,} towns ({parts})"
    hh = _households(towns)
    outside = towns["town_type"].isin(["balance of county", "rest of county"])
    if hh is not None and outside.any() and hh.sum() > 0:
        out_hh, total = float(hh[outside].sum()), float(hh.sum())
        text += (
            f"; {out_hh:,.0f} of {total:,.0f} households ({out_hh / total:.1%}) live outside "
            "places and county subdivisions (or the given polygons)"
        )
    methods = towns.attrs.get("towns", {}).get("weight_methods", {})
    if methods:
        how = "; ".join(f"{_WEIGHTING.get(m, m)} ({n:,} pairs)" for m, n in sorted(methods.items()))
        text += f"; block groups go to towns {how}"
    return text
