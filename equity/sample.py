"""Generator of the bundled sample region: fictional places written in real public file formats.

The sample region is three fictional states (codes ``90``, ``91``, ``92``, which no real state
uses) in the open Atlantic (longitudes -45 to -42, latitudes 37.5 to 39.5), so it can never be
mistaken for a real place. Each state has counties, census tracts, block groups and towns
(county subdivisions) with urban cores, suburbs, small towns and rural areas. Every file is
written in the layout of the real public file it imitates, so the sample goes through the real
readers of :mod:`equity.sources`:

========== ============================================== =====================================
key        file                                           format of
========== ============================================== =====================================
state      ``cb_2021_sample_state_500k.zip``              Census cartographic boundary shapefile
county     ``cb_2021_sample_county_500k.zip``             (zipped, NAD83, Census columns)
tract      ``cb_2021_sample_tract_500k.zip``
blockgroup ``cb_2021_sample_bg_500k.zip``
town       ``cb_2021_sample_cousub_500k.zip``
acs        ``acs2021_5yr_sample_blockgroup.csv``          ACS block-group CSV (``<VAR>E``/``M``)
ookla      ``2021-01-01_performance_fixed_tiles_sample``  Ookla open-data fixed tiles (Parquet)
           ``.parquet``
usage      ``microsoft_broadband_data_sample.csv``        Microsoft county usage (Oct 2020)
business   ``cbp21co_sample.txt``                         County Business Patterns county file
libraries  ``pls_fy21_outlet_sample.csv``                 IMLS Public Libraries Survey outlets
schools    ``edge_geocode_publicsch_sample.csv``          NCES EDGE public-school geocodes
anchors    ``anchors_sample.csv``                         generic anchor-institution points
========== ============================================== =====================================

Everything follows from one seed: the same seed and the same installed library versions give
byte-identical files (sorted rows, fixed number formats, fixed zip timestamps and DBF dates).

How the region is built (all in a local kilometre plane, then converted to longitude/latitude):

1. A relative population density on the grid of zoom-16 Ookla tile centres: a rural baseline
   plus Gaussian urban cores (1-3 per state, with a wider suburban halo) and small towns, softly
   capped so no block group is smaller than a few tiles.
2. Block groups are the Voronoi cells of density-weighted k-means centres (cells hold roughly
   equal numbers of households), clipped to the state; tracts group about three block groups,
   counties group tracts, and the boundaries of each level are exact unions of the level below.
3. Towns are Voronoi cells of town seeds clipped to each county: they tile the county but do not
   follow block-group edges.
4. ACS counts are drawn from smooth random fields (affluence, age, connectivity, poverty
   pockets) and urbanity, so need clusters in space and income is negatively correlated with
   the share of households without internet; MOEs have realistic block-group magnitudes and a
   few Census sentinel values appear.
5. Ookla tiles sit where households live; download speeds are high in towns and suburbs, slow
   in rural areas, vary street by street (fine random field) and are fast along a few fibre
   corridors.

Examples
--------
>>> import tempfile
>>> from equity import sample
>>> paths = sample.write_sample(tempfile.mkdtemp())
>>> sorted(paths)[:3]
['acs', 'anchors', 'blockgroup']
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import math
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely
from scipy.spatial import cKDTree

import equity
from equity import settings
from equity._generators import acs_like_moe, logistic, random_field
from equity._io import atomic_dir, check_folder
from equity.errors import ConfigError
from equity.tiles import quadkeys_from_xy, tile_lat, tile_lon, tile_xy

__all__ = ["FILES", "SAMPLE_STATES", "sample_paths", "write_sample"]

logger = logging.getLogger(__name__)

#: Fictional sample states: state code -> (name, postal abbreviation). No real state uses them.
SAMPLE_STATES: dict[str, tuple[str, str]] = {
    "90": ("Northvale", "XN"),
    "91": ("Eastmarch", "XE"),
    "92": ("Southmoor", "XS"),
}

#: File name of each sample file, by key (see the module docstring).
FILES: dict[str, str] = {
    "state": "cb_2021_sample_state_500k.zip",
    "county": "cb_2021_sample_county_500k.zip",
    "tract": "cb_2021_sample_tract_500k.zip",
    "blockgroup": "cb_2021_sample_bg_500k.zip",
    "town": "cb_2021_sample_cousub_500k.zip",
    "acs": "acs2021_5yr_sample_blockgroup.csv",
    "ookla": "2021-01-01_performance_fixed_tiles_sample.parquet",
    "usage": "microsoft_broadband_data_sample.csv",
    "business": "cbp21co_sample.txt",
    "libraries": "pls_fy21_outlet_sample.csv",
    "schools": "edge_geocode_publicsch_sample.csv",
    "anchors": "anchors_sample.csv",
}

SAMPLE_LABEL = "FICTIONAL SAMPLE"

# Region (longitude/latitude) and the local kilometre plane used for all geometry.
_LON_W, _LON_E, _LAT_S, _LAT_N = -45.0, -42.0, 37.5, 39.5
_LON0, _LAT0 = -43.5, 38.5
_KX = 111.320 * math.cos(math.radians(_LAT0))  # km per degree of longitude
_KY = 110.574  # km per degree of latitude

# Per state: block groups, urban cores, small towns, counties.
_STATE_PLAN = {
    "90": {"n_bg": 170, "cores": 2, "towns": 8, "counties": 4},
    "91": {"n_bg": 190, "cores": 3, "towns": 9, "counties": 5},
    "92": {"n_bg": 140, "cores": 1, "towns": 7, "counties": 3},
}
_MIN_BG_CELLS = 5  # soft minimum of tile cells per block group (so each gets >= 3 tiles)
_ZIP_DATE = (2021, 1, 1, 0, 0, 0)
_DBF_DATE = bytes([121, 1, 1])  # 2021-01-01 as DBF header bytes (year - 1900, month, day)

# Sentinel values of the Census API.
_NOT_COMPUTABLE = -666666666
_MOE_NOT_COMPUTABLE = -222222222
_MOE_OPEN_ENDED = -333333333
_MOE_CONTROLLED = -555555555

_COUNTY_NAMES = [
    "Ashbury", "Brindlewood", "Cobbleford", "Dellamere", "Elderwick", "Fernhollow",
    "Glimmerdale", "Harrowmere", "Ivybrook", "Juniper Hollow", "Kestrelford", "Larkmoor",
    "Marrowdale", "Nettlecombe", "Oakenshaw", "Pellinore",
]  # fmt: skip
_TOWN_PREFIXES = [
    "Mill", "Harl", "Ash", "Birch", "Cedar", "Elm", "Fox", "Glen", "Hazel", "Iron", "Kings",
    "Lark", "Maple", "North", "Oak", "Pine", "Quarry", "Raven", "Stone", "Thorn", "Upton",
    "Willow", "Wren", "Amber", "Bramble", "Clover", "Dun", "Fair", "Gold", "Heather",
]  # fmt: skip
_TOWN_SUFFIXES = [
    "brook", "ow", "field", "ford", "haven", "ridge", "ton", "wick", "dale", "mere", "bury",
    "ville", "stead", "wood",
]  # fmt: skip
_STREETS = [
    "Main", "Church", "Mill", "Market", "School", "Harbor", "Orchard", "Union", "Spring",
    "Ridge", "Meadow", "Bridge", "Station", "Chestnut", "Liberty", "Water",
]  # fmt: skip
_STREET_TYPES = ["STREET", "AVENUE", "ROAD", "LANE", "DRIVE", "WAY"]

# County Business Patterns: sectors written, their share of establishments and mean pay
# ($ thousand per employee per year). "813///" (membership organisations) is part of "81----".
_CBP_SECTORS = {
    "44----": (0.12, 33.0),
    "51----": (0.015, 95.0),
    "54----": (0.10, 88.0),
    "62----": (0.10, 55.0),
    "72----": (0.09, 22.0),
    "81----": (0.10, 34.0),
}
_CBP_SIZE_COLUMNS = [
    "n<5", "n5_9", "n10_19", "n20_49", "n50_99", "n100_249", "n250_499", "n500_999",
    "n1000", "n1000_1", "n1000_2", "n1000_3", "n1000_4",
]  # fmt: skip
_CBP_SIZE_PROBS = np.array([0.56, 0.19, 0.12, 0.08, 0.03, 0.014, 0.004, 0.0015, 0.0005])
_CBP_SIZE_MIDPOINTS = np.array([2.2, 6.8, 13.5, 31.0, 69.0, 152.0, 340.0, 690.0, 1500.0])

_IMLS_COLUMNS = [
    "STABR", "FSCSKEY", "FSCS_SEQ", "C_FSCS", "LIBID", "LIBNAME", "ADDRESS", "CITY", "ZIP",
    "ZIP4", "CNTY", "PHONE", "C_OUT_TY", "SQ_FEET", "F_SQ_FT", "L_NUM_BM", "HOURS", "F_HOURS",
    "WKS_OPEN", "F_WKSOPN", "YR_SUB", "OBEREG", "STATSTRU", "STATNAME", "STATADDR", "LONGITUD",
    "LATITUDE", "INCITSST", "INCITSCO", "GNISPLAC", "CNTYPOP", "LOCALE", "CENTRACT", "CENBLOCK",
    "CDCODE", "CBSA", "MICROF", "GEOMATCH",
]  # fmt: skip
_EDGE_COLUMNS = [
    "NCESSCH", "LEAID", "NAME", "OPSTFIPS", "STREET", "CITY", "STATE", "ZIP", "STFIP", "CNTY",
    "NMCNTY", "LOCALE", "LAT", "LON", "CBSA", "NMCBSA", "CBSATYPE", "CSA", "NMCSA", "NECTA",
    "NMNECTA", "CD", "SLDL", "SLDU", "SCHOOLYEAR",
]  # fmt: skip
_ANCHOR_COLUMNS = [
    "anchor_id", "name", "kind", "address", "city", "state_abbr", "county_fips", "latitude",
    "longitude",
]  # fmt: skip
_USAGE_HEADER = "ST,COUNTY ID,COUNTY NAME, BROADBAND AVAILABILITY PER FCC , BROADBAND USAGE "

# ACS variables written: the "Count columns" of docs/contracts.md.
_AGE65_MALE = [f"B01001_{i:03d}" for i in range(20, 26)]
_AGE65_FEMALE = [f"B01001_{i:03d}" for i in range(44, 50)]
_NO_DIPLOMA = [f"B15003_{i:03d}" for i in range(2, 17)]
_DISABILITY = [f"B18101_{i:03d}" for i in (4, 7, 10, 13, 16, 19, 23, 26, 29, 32, 35, 38)]
_LIMITED_ENGLISH = ["C16002_004", "C16002_007", "C16002_010", "C16002_013"]


# --------------------------------------------------------------------------------------------
# Small helpers: coordinates, tiles, random fields, formatting
# --------------------------------------------------------------------------------------------


def _to_km(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return (np.asarray(lon) - _LON0) * _KX, (np.asarray(lat) - _LAT0) * _KY


def _to_deg(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(x) / _KX + _LON0, np.asarray(y) / _KY + _LAT0


def _geoms_to_deg(geoms: np.ndarray) -> np.ndarray:
    scale = np.array([1.0 / _KX, 1.0 / _KY])
    offset = np.array([_LON0, _LAT0])
    return shapely.transform(geoms, lambda c: c * scale + offset)


def _geoms_to_km(geoms: np.ndarray) -> np.ndarray:
    scale = np.array([_KX, _KY])
    offset = np.array([_LON0, _LAT0])
    return shapely.transform(geoms, lambda c: (c - offset) * scale)


def _fmt(values: np.ndarray, spec: str) -> np.ndarray:
    """Format floats with a fixed printf spec (vectorised, locale independent)."""
    return np.char.mod(spec, np.asarray(values, dtype=float)).astype(object)


def _general(values: np.ndarray, decimals: int) -> np.ndarray:
    """Round and drop trailing zeros, as a spreadsheet's General format ('0.758', '1')."""
    s = pd.Series(_fmt(values, f"%.{decimals}f"), dtype=object)
    return s.str.rstrip("0").str.rstrip(".").to_numpy(dtype=object, copy=True)


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Keep only the polygonal parts of each geometry (clipping can leave stray lines)."""
    out = np.asarray(geoms, dtype=object).copy()
    mixed = shapely.get_type_id(out) == 7  # GeometryCollection
    for i in np.flatnonzero(mixed):  # rare: only degenerate clips
        parts = shapely.get_parts(out[i])
        polys = parts[np.isin(shapely.get_type_id(parts), (3, 6))]
        out[i] = shapely.union_all(polys)
    return out


def _kmeans(
    points: np.ndarray, k: int, weights: np.ndarray, rng: np.random.Generator, *, iters: int = 10
) -> np.ndarray:
    """Weighted Lloyd iterations; returns k centres (empty clusters keep their centre)."""
    p = weights / weights.sum()
    centres = points[rng.choice(len(points), size=k, replace=False, p=p)].copy()
    for _ in range(iters):
        _, lab = cKDTree(centres).query(points)
        wsum = np.bincount(lab, weights=weights, minlength=k)
        cx = np.bincount(lab, weights=weights * points[:, 0], minlength=k)
        cy = np.bincount(lab, weights=weights * points[:, 1], minlength=k)
        ok = wsum > 0
        centres[ok, 0] = cx[ok] / wsum[ok]
        centres[ok, 1] = cy[ok] / wsum[ok]
    return centres


def _voronoi_cells(seeds: np.ndarray, clip: shapely.Geometry) -> np.ndarray:
    """Voronoi cells of `seeds` (in input order) clipped to `clip`."""
    mp = shapely.multipoints(seeds)
    big = shapely.box(*(np.array(clip.bounds) + np.array([-500, -500, 500, 500])))
    cells = shapely.get_parts(shapely.voronoi_polygons(mp, extend_to=big, ordered=True))
    return _polygonal(shapely.intersection(cells, clip))


def _group_union(geoms: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """Union of geometries per label 0..n-1 (coverage union: the parts share exact edges)."""
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n + 1))
    out = np.empty(n, dtype=object)
    for g in range(n):  # loops over places of the coarser level (tens), not features
        part = geoms[order[bounds[g] : bounds[g + 1]]]
        out[g] = shapely.coverage_union_all(part)
    return _polygonal(out)


def _rank_within(groups: np.ndarray, score: np.ndarray) -> np.ndarray:
    """0-based rank of each row within its group by descending score."""
    order = np.lexsort((-score, groups))
    g_sorted = groups[order]
    start = np.searchsorted(g_sorted, g_sorted, side="left")
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - start
    return rank


# --------------------------------------------------------------------------------------------
# The region
# --------------------------------------------------------------------------------------------


@dataclass
class _Region:
    states: pd.DataFrame  # code, name, abbr, geometry (km)
    grid: pd.DataFrame  # tile grid: tx, ty, x, y, state, raw, rho, s, bg
    bgs: pd.DataFrame  # per block group: codes, x, y (centre), geometry (km), mass, ...
    tracts: pd.DataFrame
    counties: pd.DataFrame
    towns: pd.DataFrame
    density: Callable[[np.ndarray, np.ndarray], np.ndarray]  # raw density of (x, y) in km
    outline: shapely.Geometry


def _wiggle(rng: np.random.Generator, t: np.ndarray, amp: float, n: int = 4) -> np.ndarray:
    k = np.arange(1, n + 1)
    a = rng.normal(0, amp, n) / k
    ph = rng.uniform(0, 2 * np.pi, n)
    wave = (a[None, :] * np.sin(np.outer(t, k) * np.pi + ph)).sum(axis=1)
    return np.clip(wave, -2 * amp, 2 * amp)


def _build_states(rng: np.random.Generator) -> tuple[pd.DataFrame, shapely.Geometry]:
    # Outline: the region's rectangle with a wiggly coast (degrees, then km).
    t = np.linspace(0.0, 1.0, 61)
    inset = 0.1
    w, e, s, n = _LON_W + inset, _LON_E - inset, _LAT_S + inset, _LAT_N - inset
    south = np.column_stack([w + (e - w) * t, s + _wiggle(rng, t, 0.05)])
    east = np.column_stack([e + _wiggle(rng, t, 0.05), s + (n - s) * t])
    north = np.column_stack([e - (e - w) * t, n + _wiggle(rng, t, 0.05)])
    west = np.column_stack([w + _wiggle(rng, t, 0.05), n - (n - s) * t])
    ring = np.vstack([south, east[1:], north[1:], west[1:]])
    outline = shapely.make_valid(shapely.Polygon(ring))
    # Two north-south dividers give three states side by side.
    ts = np.linspace(0.0, 1.0, 41)
    lats = _LAT_S - 0.5 + (_LAT_N - _LAT_S + 1.0) * ts
    cuts = []
    for lon in (-44.0 + rng.uniform(-0.1, 0.1), -43.0 + rng.uniform(-0.1, 0.1)):
        cuts.append(np.column_stack([lon + _wiggle(rng, ts, 0.06), lats]))
    far_w, far_e = _LON_W - 1, _LON_E + 1
    lo, hi = lats[0], lats[-1]
    pieces = [
        shapely.Polygon([(far_w, lo), *cuts[0].tolist(), (far_w, hi)]),
        shapely.Polygon([*cuts[0].tolist(), *cuts[1][::-1].tolist()]),
        shapely.Polygon([*cuts[1].tolist(), (far_e, hi), (far_e, lo)]),
    ]
    geoms = _geoms_to_km(np.array([shapely.intersection(outline, p) for p in pieces]))
    codes = list(SAMPLE_STATES)
    states = pd.DataFrame(
        {
            "code": codes,
            "name": [SAMPLE_STATES[c][0] for c in codes],
            "abbr": [SAMPLE_STATES[c][1] for c in codes],
            "geometry": _polygonal(geoms),
        }
    )
    return states, _geoms_to_km(np.array([outline]))[0]


def _build_grid(states: pd.DataFrame) -> pd.DataFrame:
    tx0, ty0 = tile_xy(_LON_W, _LAT_N)
    tx1, ty1 = tile_xy(_LON_E, _LAT_S)
    txs = np.arange(tx0, tx1 + 1)
    tys = np.arange(ty0, ty1 + 1)
    tx, ty = (a.ravel() for a in np.meshgrid(txs, tys))
    lon = (tile_lon(tx) + tile_lon(tx + 1)) / 2
    lat = (tile_lat(ty) + tile_lat(ty + 1)) / 2
    x, y = _to_km(lon, lat)
    state = np.full(tx.size, -1, dtype=np.int64)
    for i, geom in enumerate(states["geometry"]):  # three states
        state[shapely.contains_xy(geom, x, y)] = i
    keep = state >= 0
    return pd.DataFrame(
        {
            "tx": tx[keep],
            "ty": ty[keep],
            "lon": lon[keep],
            "lat": lat[keep],
            "x": x[keep],
            "y": y[keep],
            "state": state[keep],
        }
    )


def _build_density(
    rng: np.random.Generator, states: pd.DataFrame, grid: pd.DataFrame
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Urban cores (with suburban halos) and small towns on a rural baseline."""
    cx: list[float] = []
    cy: list[float] = []
    amp: list[float] = []
    sig: list[float] = []
    for i, code in enumerate(states["code"]):
        plan = _STATE_PLAN[code]
        g = grid[grid["state"] == i]
        # Keep cores away from the coast and borders: interior points only.
        interior = shapely.contains_xy(
            shapely.buffer(states["geometry"].iloc[i], -18.0), g["x"].to_numpy(), g["y"].to_numpy()
        )
        gi = g[interior]
        picks = gi.iloc[rng.choice(len(gi), size=plan["cores"] + plan["towns"], replace=False)]
        for j, (x, y) in enumerate(zip(picks["x"], picks["y"], strict=True)):
            if j < plan["cores"]:
                a, s = rng.uniform(40, 80), rng.uniform(3.0, 5.0)
                cx += [x, x]
                cy += [y, y]
                amp += [a, a / 8]
                sig += [s, s * 3.0]
            else:
                cx.append(x)
                cy.append(y)
                amp.append(rng.uniform(15, 45))
                sig.append(rng.uniform(1.5, 3.0))
    cxa, cya, ampa, siga = (np.asarray(v) for v in (cx, cy, amp, sig))

    def density(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        d2 = (np.subtract.outer(x, cxa)) ** 2 + (np.subtract.outer(y, cya)) ** 2
        return 1.0 + (ampa * np.exp(-d2 / (2 * siga**2))).sum(axis=1)

    return density


def _build_region(rng: np.random.Generator) -> _Region:
    # one random stream: the steps draw from it in this order, which fixes the sample's bytes
    states, outline = _build_states(rng)
    grid = _build_grid(states)
    density = _build_density(rng, states, grid)
    raw = density(grid["x"].to_numpy(), grid["y"].to_numpy())
    grid["raw"] = raw
    # Urbanity 0 (rural baseline) .. 1 (urban core), from the raw density.
    grid["s"] = np.clip(np.log(raw) / np.log(60.0), 0.0, 1.0)
    bgs, rho, bg_of_cell = _build_blockgroups(rng, states, grid)
    grid["rho"] = rho
    grid["bg"] = bg_of_cell
    bgs["tract"] = _group_blockgroups(rng, states, bgs)
    tracts = _tracts_of(bgs)
    tracts["county"] = _group_tracts(rng, states, grid, tracts)
    counties = _counties_of(tracts)
    bgs["county"] = tracts["county"].to_numpy()[bgs["tract"].to_numpy()]
    states = states.copy()
    state_geom = _group_union(counties["geometry"].to_numpy(), counties["state"].to_numpy(), 3)
    states["geometry"] = state_geom

    _name_and_code(rng, states, counties, tracts, bgs)
    towns = _build_towns(rng, states, counties, grid)
    return _Region(states, grid, bgs, tracts, counties, towns, density, outline)


def _build_blockgroups(
    rng: np.random.Generator, states: pd.DataFrame, grid: pd.DataFrame
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Block groups of each state: Voronoi cells of density-weighted k-means centres.

    Returns the block groups (state, centre, geometry, mass, tile cells), the capped density
    of each grid cell and the block group each grid cell falls in.
    """
    raw = grid["raw"].to_numpy()
    rho = np.empty(len(grid))
    bg_of_cell = np.empty(len(grid), dtype=np.int64)
    bg_rows = []
    offset = 0
    for i, code in enumerate(states["code"]):  # three states
        plan = _STATE_PLAN[code]
        k = plan["n_bg"]
        idx = np.flatnonzero(grid["state"].to_numpy() == i)
        r = raw[idx]
        # Soft cap of the density so each block group spans at least a few tiles.
        d = r.copy()
        for _ in range(5):
            cap = d.sum() / k / _MIN_BG_CELLS
            d = cap * (1.0 - np.exp(-r / cap))
        rho[idx] = d
        pts = grid[["x", "y"]].to_numpy()[idx]
        centres = _kmeans(pts, k, d**2, rng, iters=12)
        _, lab = cKDTree(centres).query(pts)
        # Drop centres whose cell holds fewer than 3 tile cells (every occupied block group
        # gets at least 3 Ookla tiles); their cells go to the neighbours.
        while (np.bincount(lab, minlength=len(centres)) < 3).any():
            centres = centres[np.bincount(lab, minlength=len(centres)) >= 3]
            _, lab = cKDTree(centres).query(pts)
        cells = _voronoi_cells(centres, states["geometry"].iloc[i])
        mass = np.bincount(lab, weights=d, minlength=len(centres))
        ncell = np.bincount(lab, minlength=len(centres))
        bg_of_cell[idx] = lab + offset
        bg_rows.append(
            pd.DataFrame(
                {
                    "state": i,
                    "x": centres[:, 0],
                    "y": centres[:, 1],
                    "geometry": cells,
                    "mass": mass,
                    "ncell": ncell,
                }
            )
        )
        offset += len(centres)
    return pd.concat(bg_rows, ignore_index=True), rho, bg_of_cell


def _group_blockgroups(
    rng: np.random.Generator, states: pd.DataFrame, bgs: pd.DataFrame
) -> np.ndarray:
    """Tract of each block group: about three block groups each (k-means on block-group
    centres, snapped to one)."""
    tract = np.full(len(bgs), -1, dtype=np.int64)
    t_off = 0
    for i in range(len(states)):
        sel = np.flatnonzero(bgs["state"].to_numpy() == i)
        pts = bgs[["x", "y"]].to_numpy()[sel]
        k = max(1, round(len(sel) / 3))
        c = _kmeans(pts, k, np.ones(len(sel)), rng, iters=15)
        _, snap = cKDTree(pts).query(c)
        c = pts[np.unique(snap)]
        _, lab = cKDTree(c).query(pts)
        lab = _split_large_groups(pts, lab, max_size=9)
        tract[sel] = lab + t_off
        t_off += lab.max() + 1
    return tract


def _tracts_of(bgs: pd.DataFrame) -> pd.DataFrame:
    """Tracts as unions of their block groups (state, mass-weighted centre, geometry)."""
    tract_id = bgs["tract"].to_numpy()
    n_tract = tract_id.max() + 1
    tract_geom = _group_union(bgs["geometry"].to_numpy(), tract_id, n_tract)
    return pd.DataFrame(
        {
            "state": np.bincount(tract_id, weights=bgs["state"], minlength=n_tract).astype(int)
            // np.bincount(tract_id, minlength=n_tract),
            "x": np.bincount(tract_id, weights=bgs["x"] * bgs["mass"])
            / np.bincount(tract_id, weights=bgs["mass"]),
            "y": np.bincount(tract_id, weights=bgs["y"] * bgs["mass"])
            / np.bincount(tract_id, weights=bgs["mass"]),
            "geometry": tract_geom,
        }
    )


def _group_tracts(
    rng: np.random.Generator, states: pd.DataFrame, grid: pd.DataFrame, tracts: pd.DataFrame
) -> np.ndarray:
    """County of each tract: area-balanced centres per state; each tract joins the nearest."""
    county = np.full(len(tracts), -1, dtype=np.int64)
    c_off = 0
    for i, code in enumerate(states["code"]):
        sel = np.flatnonzero(tracts["state"].to_numpy() == i)
        g = grid[grid["state"] == i]
        pts = g[["x", "y"]].to_numpy()[::7]
        c = _kmeans(pts, _STATE_PLAN[code]["counties"], np.ones(len(pts)), rng, iters=10)
        _, lab = cKDTree(c).query(tracts[["x", "y"]].to_numpy()[sel])
        used = np.unique(lab)
        county[sel] = np.searchsorted(used, lab) + c_off
        c_off += len(used)
    return county


def _counties_of(tracts: pd.DataFrame) -> pd.DataFrame:
    """Counties as unions of their tracts (state, geometry)."""
    county_id = tracts["county"].to_numpy()
    n_county = county_id.max() + 1
    county_geom = _group_union(tracts["geometry"].to_numpy(), county_id, n_county)
    return pd.DataFrame(
        {
            "state": np.bincount(county_id, weights=tracts["state"], minlength=n_county).astype(int)
            // np.bincount(county_id, minlength=n_county),
            "geometry": county_geom,
        }
    )


def _split_large_groups(pts: np.ndarray, lab: np.ndarray, *, max_size: int) -> np.ndarray:
    """Split groups larger than `max_size` (a tract holds at most 9 block groups)."""
    lab = lab.copy()
    while True:
        sizes = np.bincount(lab)
        big = np.flatnonzero(sizes > max_size)
        if big.size == 0:
            return np.unique(lab, return_inverse=True)[1]
        g = big[0]
        members = np.flatnonzero(lab == g)
        sub = pts[members]
        far = sub[np.argmax(((sub - sub.mean(axis=0)) ** 2).sum(axis=1))]
        d_far = ((sub - far) ** 2).sum(axis=1)
        d_mid = ((sub - sub.mean(axis=0)) ** 2).sum(axis=1)
        lab[members[d_far < d_mid]] = lab.max() + 1


def _name_and_code(
    rng: np.random.Generator,
    states: pd.DataFrame,
    counties: pd.DataFrame,
    tracts: pd.DataFrame,
    bgs: pd.DataFrame,
) -> None:
    """Give counties names and FIPS codes (odd, alphabetical), tracts and block groups codes."""
    names = rng.permutation(_COUNTY_NAMES)[: len(counties)]
    counties["name"] = names
    counties["countyfp"] = ""
    for i in range(len(states)):
        sel = np.flatnonzero(counties["state"].to_numpy() == i)
        order = sel[np.argsort(names[sel])]
        counties.loc[order, "countyfp"] = [f"{2 * j + 1:03d}" for j in range(len(order))]
    counties["statefp"] = states["code"].to_numpy()[counties["state"]]
    counties["geoid"] = counties["statefp"] + counties["countyfp"]
    # Tracts numbered within their county from north-west to south-east.
    tracts["geoid"] = ""
    cgeo = counties["geoid"].to_numpy()[tracts["county"]]
    key = np.lexsort((tracts["x"].round(1), -tracts["y"].round(0), cgeo))
    seq_sorted = np.empty(len(key), dtype=np.int64)
    # Position within the county: with all scores tied, _rank_within keeps the sort order.
    seq_sorted[key] = _rank_within(cgeo[key], np.zeros(len(key)))
    # Codes as Census numbers them: 000100, 000200, ... and some split tracts (000301, 000302
    # style suffixes), so readers meet both "3" and "3.01" forms (e.g. IMLS CENTRACT).
    split = rng.random(len(seq_sorted)) < 0.2
    codes = (seq_sorted + 1) * 100 + split * rng.integers(1, 3, len(seq_sorted))
    tracts["tractce"] = [f"{v:06d}" for v in codes]
    tracts["geoid"] = cgeo + tracts["tractce"].to_numpy()
    tgeo = tracts["geoid"].to_numpy()[bgs["tract"]]
    key = np.lexsort((bgs["x"].round(2), -bgs["y"].round(1), tgeo))
    seq = np.empty(len(bgs), dtype=np.int64)
    seq[key] = _rank_within(tgeo[key], np.zeros(len(key)))
    bgs["blkgrpce"] = (seq + 1).astype(str)
    bgs["geoid"] = tgeo + bgs["blkgrpce"].to_numpy()


def _build_towns(
    rng: np.random.Generator, states: pd.DataFrame, counties: pd.DataFrame, grid: pd.DataFrame
) -> pd.DataFrame:
    """Towns (county subdivisions): Voronoi cells of town seeds clipped to each county."""
    pts_all = grid[["x", "y"]].to_numpy()
    # County of each grid cell, via its containing county polygon (vectorised query); a cell
    # centre on a county line belongs to neither, so every town seed lies inside its county.
    tree = shapely.STRtree(counties["geometry"].to_numpy())
    cell_pts = shapely.points(pts_all)
    hit_pt, hit_c = tree.query(cell_pts, predicate="within")
    county_of_cell = np.full(len(grid), -1, dtype=np.int64)
    county_of_cell[hit_pt] = hit_c
    words = [p + s for p in _TOWN_PREFIXES for s in _TOWN_SUFFIXES]
    names = rng.permutation(np.array(words, dtype=object))
    rows = []
    used = 0
    for c in range(len(counties)):  # a dozen counties
        idx = np.flatnonzero(county_of_cell == c)
        pts = pts_all[idx]
        w = grid["rho"].to_numpy()[idx]
        k = int(rng.integers(3, 7))
        centres = _kmeans(pts, k, np.sqrt(w), rng, iters=8)
        _, snap = cKDTree(pts).query(centres)  # seeds on grid cells inside the county
        snap = np.unique(snap)
        seeds = pts[snap]
        cells = _voronoi_cells(seeds, counties["geometry"].iloc[c])
        dens = grid["raw"].to_numpy()[idx][snap]
        kind = np.where(
            dens >= 20, "city", np.where(rng.random(len(snap)) < 0.6, "town", "township")
        )
        kind[np.argmax(dens)] = "city" if dens.max() >= 20 else "town"
        n = len(snap)
        rows.append(
            pd.DataFrame(
                {
                    "county": c,
                    "state": counties["state"].iloc[c],
                    "x": seeds[:, 0],
                    "y": seeds[:, 1],
                    "raw": dens,
                    "s": grid["s"].to_numpy()[idx][snap],
                    "name": names[used : used + n],
                    "kind": kind,
                    "seat": np.arange(n) == np.argmax(dens),
                    "geometry": cells,
                }
            )
        )
        used += n
    towns = pd.concat(rows, ignore_index=True)
    towns["county_geoid"] = counties["geoid"].to_numpy()[towns["county"]]
    towns = towns.sort_values(["county_geoid", "name"], ignore_index=True)
    seq = np.empty(len(towns), dtype=np.int64)
    cg = towns["county_geoid"].to_numpy()
    seq[:] = np.arange(len(towns)) - np.searchsorted(cg, cg)
    codes = 1000 + 1500 * seq + rng.integers(0, 900, len(towns))
    towns["cousubfp"] = [f"{v:05d}" for v in codes]
    towns["geoid"] = towns["county_geoid"] + towns["cousubfp"]
    return towns


# --------------------------------------------------------------------------------------------
# ACS block-group counts
# --------------------------------------------------------------------------------------------


def _split(rng: np.random.Generator, total: np.ndarray, probs: np.ndarray) -> np.ndarray:
    """Split integer totals into cells with a multinomial draw per row."""
    probs = np.asarray(probs, dtype=float)
    probs = probs / probs.sum(axis=-1, keepdims=True)
    return rng.multinomial(np.asarray(total, dtype=np.int64), probs)


def _build_acs(rng: np.random.Generator, region: _Region) -> tuple[pd.DataFrame, pd.DataFrame]:
    """ACS estimates/MOEs per block group, and the latent variables the other files reuse."""
    # one random stream: the steps draw from it in this order, which fixes the sample's bytes
    bgs = region.bgs
    fields = _acs_fields(rng, region)
    hh, empty = _households(rng, bgs, fields)
    shares = _acs_shares(rng, fields)
    est = _acs_counts(rng, hh, shares, empty)
    moe = _acs_moes(rng, est)
    inc, inc_moe, ann, controlled = _median_income(rng, shares["income"], empty)
    moe["B01003_001"] = moe["B01003_001"].copy()
    moe["B01003_001"][controlled] = _MOE_CONTROLLED
    est["B19013_001"] = inc
    moe["B19013_001"] = inc_moe

    cols: dict[str, object] = {"GEOID": bgs["geoid"].to_numpy()}
    for v in sorted(est):
        cols[f"{v}E"] = est[v]
        cols[f"{v}M"] = moe[v]
        if v == "B19013_001":
            cols[f"{v}MA"] = ann
    acs = pd.DataFrame(cols).sort_values("GEOID", ignore_index=True)
    latent = pd.DataFrame(
        {
            "s": fields["s"],
            "z_net": fields["z_net"],
            "income": shares["income"],
            "hh": hh,
            "pop": est["B01003_001"],
            "p_noint": shares["p_noint"],
            "bband": est["B28002_004"],
            "area_km2": fields["area_km2"],
        }
    )
    return acs, latent


def _acs_fields(rng: np.random.Generator, region: _Region) -> dict[str, np.ndarray]:
    """Smooth random fields (affluence, age, connectivity, poverty, language) and urbanity."""
    bgs = region.bgs
    x, y = bgs["x"].to_numpy(), bgs["y"].to_numpy()
    out = {"area_km2": shapely.area(bgs["geometry"].to_numpy())}
    for name, scale in (
        ("z_aff", 22.0),
        ("z_age", 30.0),
        ("z_net", 18.0),
        ("z_pov", 5.0),
        ("z_lang", 12.0),
    ):
        out[name] = random_field(rng, scale)(x, y)
    s = np.clip(np.log(region.density(x, y)) / np.log(60.0), 0.0, 1.0)
    out["s"] = s
    out["suburb"] = np.exp(-(((s - 0.5) / 0.17) ** 2))
    out["rural"] = (1.0 - s) ** 2
    return out


def _households(
    rng: np.random.Generator, bgs: pd.DataFrame, fields: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Households per block group, and the block groups without any (a park, a forest)."""
    n = len(bgs)
    s, area_km2 = fields["s"], fields["area_km2"]
    mass = bgs["mass"].to_numpy()
    # Households: about 600 per block group (as Census designs them), a little more in town.
    hh = np.rint(520 * (1 + 0.35 * s) * (mass / mass.mean()) ** 0.2 * rng.lognormal(0.0, 0.25, n))
    hh = np.clip(hh, 250, 1500).astype(np.int64)
    # Block groups without households (a park downtown and a state forest).
    park = int(np.argmax(s + 1e-9 * rng.random(n)))
    rural_bgs = np.flatnonzero(s < 0.2)
    rural_bgs = rural_bgs if rural_bgs.size else np.arange(n)
    a = area_km2[rural_bgs] * rng.uniform(0.9, 1.1, rural_bgs.size)
    forest = int(rural_bgs[np.argmin(np.abs(a - np.median(a)))])
    empty = np.array(sorted({park, forest}))
    hh[empty] = 0
    return hh, empty


def _acs_shares(rng: np.random.Generator, fields: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Income, household size and the probabilities behind each count, from the fields."""
    s, suburb, rural = fields["s"], fields["suburb"], fields["rural"]
    z_aff, z_age, z_net = fields["z_aff"], fields["z_age"], fields["z_net"]
    n = len(s)
    pocket = (s > 0.55) * np.clip(fields["z_pov"] - 0.3, 0, None)
    log_inc = (
        np.log(64000)
        + 0.45 * suburb
        - 0.50 * rural
        + 0.22 * z_aff
        - 0.70 * pocket
        + rng.normal(0, 0.12, n)
    )
    income = np.exp(log_inc)
    dev = log_inc - np.log(64000)
    p_noint = logistic(-2.75 - 1.3 * dev + 0.9 * rural + 0.35 * z_net + rng.normal(0, 0.35, n))
    p_65 = logistic(-1.65 + 0.55 * rural + 0.35 * z_age + rng.normal(0, 0.1, n))
    p_nocomp = np.clip(0.55 * p_noint + 0.1 * p_65 * rural + rng.normal(0, 0.01, n), 0.01, 0.6)
    p_pov = logistic(-2.0 - 1.7 * dev + rng.normal(0, 0.2, n))
    p_nohs = logistic(-2.5 - 1.1 * dev + 0.45 * rural + rng.normal(0, 0.15, n))
    p_dis = logistic(-2.2 + 2.5 * (p_65 - 0.17) + 0.4 * rural + rng.normal(0, 0.1, n))
    p_lep = logistic(-3.8 + 1.4 * s + 0.6 * fields["z_lang"] + rng.normal(0, 0.2, n))
    p_cable = logistic(-0.4 + 3.2 * s - 0.3 * z_net + rng.normal(0, 0.2, n))
    hhsize = np.clip(2.35 + 0.3 * suburb + 0.1 * z_aff + rng.normal(0, 0.12, n), 1.6, 3.4)
    return {
        "income": income,
        "p_noint": p_noint,
        "p_65": p_65,
        "p_nocomp": p_nocomp,
        "p_pov": p_pov,
        "p_nohs": p_nohs,
        "p_dis": p_dis,
        "p_lep": p_lep,
        "p_cable": p_cable,
        "hhsize": hhsize,
    }


def _acs_counts(
    rng: np.random.Generator, hh: np.ndarray, p: dict[str, np.ndarray], empty: np.ndarray
) -> dict[str, np.ndarray]:
    """Estimates of every ACS variable written (zero in the empty block groups)."""
    n = len(hh)
    pop = np.rint(hh * p["hhsize"]).astype(np.int64)
    no_int = rng.binomial(hh, p["p_noint"])
    # Broadband of any type: most households with a subscription (the rest dial-up or access
    # without a subscription).
    bband = rng.binomial(hh - no_int, 0.955)
    cable = rng.binomial(bband, p["p_cable"])
    has_comp = hh - rng.binomial(hh, p["p_nocomp"])
    pov_univ = pop - rng.binomial(pop, 0.025)
    p_pov = p["p_pov"]
    pov = _split(rng, pov_univ, np.column_stack([p_pov * 0.45, p_pov * 0.55, 1 - p_pov]))
    age65 = rng.binomial(pop, p["p_65"])
    age_probs = np.array([0.045, 0.06, 0.1, 0.07, 0.05, 0.05, 0.05, 0.07, 0.13, 0.11, 0.09, 0.1])
    age_cells = _split(rng, age65, np.broadcast_to(age_probs, (n, 12)))
    pop25 = rng.binomial(pop, np.clip(0.64 + 0.3 * (p["p_65"] - 0.17), 0.5, 0.85))
    nohs = rng.binomial(pop25, p["p_nohs"])
    edu_probs = np.array([2, 0.3, 0.4, 0.6, 0.6, 0.7, 1.0, 1.2, 2.6, 2.4, 3.2, 3.3, 3.5, 3.6, 4.0])
    edu_cells = _split(rng, nohs, np.broadcast_to(edu_probs, (n, 15)))
    dis_univ = pop - rng.binomial(pop, 0.012)
    dis = rng.binomial(dis_univ, p["p_dis"])
    dis_probs = np.array([0.2, 0.9, 1.6, 2.5, 3.2, 3.0, 0.2, 0.8, 1.4, 2.5, 3.4, 4.2])
    dis_cells = _split(rng, dis, np.broadcast_to(dis_probs, (n, 12)))
    lep = rng.binomial(hh, p["p_lep"])
    lep_cells = _split(rng, lep, np.broadcast_to([0.58, 0.15, 0.2, 0.07], (n, 4)))

    est: dict[str, np.ndarray] = {
        "B01003_001": pop,
        "B11001_001": hh,
        "B28002_001": hh,
        "B28002_004": bband,
        "B28002_007": cable,
        "B28002_013": no_int,
        "B28001_001": hh,
        "B28001_002": has_comp,
        "C17002_001": pov_univ,
        "C17002_002": pov[:, 0],
        "C17002_003": pov[:, 1],
        "B01001_001": pop,
        "B15003_001": pop25,
        "B18101_001": dis_univ,
        "C16002_001": hh,
    }
    est.update({v: age_cells[:, j] for j, v in enumerate(_AGE65_MALE + _AGE65_FEMALE)})
    est.update({v: edu_cells[:, j] for j, v in enumerate(_NO_DIPLOMA)})
    est.update({v: dis_cells[:, j] for j, v in enumerate(_DISABILITY)})
    est.update({v: lep_cells[:, j] for j, v in enumerate(_LIMITED_ENGLISH)})
    for v in est:
        est[v] = np.where(np.isin(np.arange(n), empty), 0, est[v]).astype(np.int64)
    return est


def _acs_moes(rng: np.random.Generator, est: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """MOEs of block-group magnitude; universes that are the households share their MOE."""
    n = len(est["B11001_001"])
    k = rng.uniform(4.5, 7.5, n)  # design effect of the block group's sample
    moe: dict[str, np.ndarray] = {v: acs_like_moe(rng, e, k) for v, e in est.items()}
    hh_moe = moe["B11001_001"]
    for v in ("B28002_001", "B28001_001", "C16002_001"):
        moe[v] = hh_moe
    moe["B01001_001"] = moe["B01003_001"]
    return moe


def _median_income(
    rng: np.random.Generator, income: np.ndarray, empty: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Median household income, its MOE and annotation (with the Census sentinels), and the
    block groups whose population MOE is "controlled"."""
    n = len(income)
    inc = np.rint(income / 10) * 10
    inc_moe = np.rint(inc * rng.uniform(0.08, 0.5, n))
    ann = np.full(n, "", dtype=object)
    candidates = np.setdiff1d(np.arange(n), empty)
    top = candidates[np.argsort(-income[candidates])][:3]
    bottom = candidates[np.argsort(income[candidates])][:1]
    small = rng.choice(np.setdiff1d(candidates, np.r_[top, bottom]), size=3, replace=False)
    inc[top], inc_moe[top], ann[top] = 250001, _MOE_OPEN_ENDED, "***"
    inc[bottom], inc_moe[bottom], ann[bottom] = 2499, _MOE_OPEN_ENDED, "***"
    nc = np.r_[empty, small]
    inc[nc], inc_moe[nc], ann[nc] = _NOT_COMPUTABLE, _MOE_NOT_COMPUTABLE, "**"
    controlled = rng.choice(np.setdiff1d(candidates, nc), size=2, replace=False)
    return inc.astype(np.int64), inc_moe.astype(np.int64), ann, controlled


# --------------------------------------------------------------------------------------------
# Ookla tiles
# --------------------------------------------------------------------------------------------


def _build_tiles(rng: np.random.Generator, region: _Region, latent: pd.DataFrame) -> pd.DataFrame:
    """Ookla-format fixed tiles where households live, with speeds that vary by street."""
    grid = region.grid
    bg = grid["bg"].to_numpy()
    s_cell = grid["s"].to_numpy()
    hh_bg = latent["hh"].to_numpy()
    # Houses cluster: heavy-tailed noise in rural areas (hamlets), mild in towns.
    w = grid["rho"].to_numpy() * rng.lognormal(0.0, 0.35 + 1.0 * (1 - s_cell))
    n_avail = np.bincount(bg, minlength=len(hh_bg))
    # Households per measured tile: fewer in the country, where houses spread over more tiles.
    hh_per_tile = 40.0 + 25.0 * latent["s"].to_numpy()
    n_take = np.where(hh_bg > 0, np.maximum(3, np.rint(hh_bg / hh_per_tile)), 0)
    n_take = np.minimum(n_take, n_avail)
    rank = _rank_within(bg, w)
    take = rank < n_take[bg]
    t = grid.loc[take].reset_index(drop=True)
    wt = w[take]
    tb = t["bg"].to_numpy()
    share = wt / np.bincount(tb, weights=wt, minlength=len(hh_bg))[tb]
    hh_tile = hh_bg[tb] * share
    adopt = 1.0 - latent["p_noint"].to_numpy()[tb]
    devices = 1 + rng.poisson(hh_tile * adopt * 0.12)
    tests = devices + rng.poisson(devices * 1.4)

    x, y = t["x"].to_numpy(), t["y"].to_numpy()
    s = t["s"].to_numpy()
    fine = random_field(rng, 2.5, n=64)(x, y)  # street-by-street variation
    mu = s * np.log(210.0) + (1 - s) * np.log(20.0)
    mu = mu + 0.45 * fine - 0.25 * latent["z_net"].to_numpy()[tb] + rng.normal(0, 0.3, len(t))
    # A few fibre corridors along roads between towns: fast even in the country.
    seeds = region.towns[["x", "y"]].to_numpy()
    pairs = rng.choice(len(seeds), size=(5, 2), replace=False)
    lines = shapely.linestrings(np.stack([seeds[pairs[:, 0]], seeds[pairs[:, 1]]], axis=1))
    near = shapely.dwithin(shapely.union_all(lines), shapely.points(x, y), 1.2)
    fibre = near | (rng.random(len(t)) < 0.04 * s)
    mu = np.where(fibre, np.maximum(mu, np.log(300.0) + rng.normal(0, 0.25, len(t))), mu)
    down = np.clip(np.exp(mu), 0.8, 950.0)
    ratio = np.where(fibre, rng.uniform(0.55, 1.0, len(t)), rng.uniform(0.07, 0.3, len(t)))
    up = np.clip(down * ratio, 0.3, 900.0)
    lat = 7.0 + 700.0 / (down + 12.0) + rng.gamma(2.0, 2.5, len(t))
    satellite = (down < 15) & (rng.random(len(t)) < 0.3)
    lat = np.where(satellite, rng.uniform(520, 680, len(t)), lat)

    tx, ty = t["tx"].to_numpy(), t["ty"].to_numpy()
    w_, e_ = tile_lon(tx), tile_lon(tx + 1)
    n_, s_ = tile_lat(ty), tile_lat(ty + 1)
    ring = np.stack(
        [
            np.column_stack([w_, n_]),
            np.column_stack([e_, n_]),
            np.column_stack([e_, s_]),
            np.column_stack([w_, s_]),
            np.column_stack([w_, n_]),
        ],
        axis=1,
    )
    wkt = shapely.to_wkt(shapely.polygons(ring), rounding_precision=-1, trim=True)
    wkt = pd.Series(wkt, dtype=object).str.replace("POLYGON ((", "POLYGON((", regex=False)
    tiles = pd.DataFrame(
        {
            "quadkey": quadkeys_from_xy(tx, ty),
            "tile": wkt.to_numpy(),
            "avg_d_kbps": np.rint(down * 1000).astype(np.int64),
            "avg_u_kbps": np.rint(up * 1000).astype(np.int64),
            "avg_lat_ms": np.rint(lat).astype(np.int64),
            "tests": tests.astype(np.int64),
            "devices": devices.astype(np.int64),
        }
    )
    return tiles.sort_values("quadkey", ignore_index=True)


# --------------------------------------------------------------------------------------------
# Points: libraries, schools, anchors
# --------------------------------------------------------------------------------------------


def _locate(region: _Region, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Block group and town index of each point (-1 outside the region)."""
    pts = shapely.points(x, y)
    out = []
    for geoms in (region.bgs["geometry"].to_numpy(), region.towns["geometry"].to_numpy()):
        idx = np.full(len(pts), -1, dtype=np.int64)
        p, g = shapely.STRtree(geoms).query(pts, predicate="intersects")
        idx[p] = g
        out.append(idx)
    return out[0], out[1]


def _jitter_near(
    rng: np.random.Generator, region: _Region, x: np.ndarray, y: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Points within `radius` km of (x, y) that stay in the same town; returns x, y, bg, town."""
    _, town0 = _locate(region, x, y)
    jx = x + rng.uniform(-radius, radius, len(x))
    jy = y + rng.uniform(-radius, radius, len(y))
    bg, town = _locate(region, jx, jy)
    bad = (town != town0) | (bg < 0)
    jx, jy = np.where(bad, x, jx), np.where(bad, y, jy)
    bg, town = _locate(region, jx, jy)
    return jx, jy, bg, town


def _addresses(rng: np.random.Generator, n: int) -> np.ndarray:
    num = rng.integers(1, 2400, n).astype(str)
    street = np.array(_STREETS, dtype=object)[rng.integers(0, len(_STREETS), n)]
    kind = np.array(_STREET_TYPES, dtype=object)[rng.integers(0, len(_STREET_TYPES), n)]
    return (pd.Series(num, dtype=object) + " " + street + " " + kind).str.upper().to_numpy()


def _zips(town: np.ndarray) -> np.ndarray:
    # ZIP codes below 00501 are unused in the US: clearly fictional.
    return np.array([f"00{(t % 499) + 1:03d}" for t in town], dtype=object)


def _locale(s: np.ndarray) -> np.ndarray:
    codes = np.select(
        [s > 0.8, s > 0.6, s > 0.45, s > 0.3, s > 0.15], ["11", "21", "22", "32", "41"], "42"
    )
    return codes.astype(object)


def _build_libraries(
    rng: np.random.Generator, region: _Region, latent: pd.DataFrame
) -> pd.DataFrame:
    """IMLS Public Libraries Survey outlets: a central library per county, branches, bookmobiles."""
    # one random stream: the steps draw from it in this order, which fixes the sample's bytes
    outlets = _library_outlets(rng, region)
    libname = _library_names(outlets)
    fscskey, fscs_seq = _library_keys(region, outlets, libname)
    lib = _imls_table(rng, region, latent, outlets, libname, fscskey, fscs_seq)
    lib = lib.iloc[np.lexsort((lib["FSCS_SEQ"], lib["FSCSKEY"], lib["STABR"]))].reset_index(
        drop=True
    )
    return lib[_IMLS_COLUMNS]


@dataclass(frozen=True)
class _Outlets:
    """Library outlets: type (CE central, BR branch, BS bookmobile), place and names."""

    out_ty: np.ndarray
    x: np.ndarray
    y: np.ndarray
    bg: np.ndarray
    town: np.ndarray
    county: np.ndarray
    cnames: np.ndarray  # county name
    tnames: np.ndarray  # town name


def _library_outlets(rng: np.random.Generator, region: _Region) -> _Outlets:
    """One central library per county (at its seat), branches in other towns (more in cities),
    and two bookmobiles based at central libraries."""
    towns, counties = region.towns, region.counties
    n_branch = np.where(
        towns["seat"], 0, (rng.random(len(towns)) < 0.35 + 0.6 * towns["s"]).astype(int)
    )
    n_branch = n_branch + (towns["kind"].to_numpy() == "city") * rng.integers(1, 3, len(towns))
    rep = np.r_[np.flatnonzero(towns["seat"]), np.repeat(np.arange(len(towns)), n_branch)]
    out_ty = np.r_[np.full(int(towns["seat"].sum()), "CE"), np.full(int(n_branch.sum()), "BR")]
    tx, ty = towns["x"].to_numpy()[rep], towns["y"].to_numpy()[rep]
    x, y, bg, town = _jitter_near(rng, region, tx, ty, 1.5)
    # Bookmobiles: based at two central libraries, no fixed coordinates.
    book = rng.choice(np.flatnonzero(out_ty == "CE"), size=2, replace=False)
    out_ty = np.r_[out_ty, ["BS", "BS"]]
    x, y, bg, town = (
        np.r_[x, x[book]],
        np.r_[y, y[book]],
        np.r_[bg, bg[book]],
        np.r_[town, town[book]],
    )
    county = towns["county"].to_numpy()[town]
    return _Outlets(
        out_ty=out_ty,
        x=x,
        y=y,
        bg=bg,
        town=town,
        county=county,
        cnames=counties["name"].to_numpy()[county],
        tnames=towns["name"].to_numpy()[town],
    )


def _library_names(o: _Outlets) -> np.ndarray:
    """``<county> COUNTY PUBLIC LIBRARY``, ``<town> BRANCH LIBRARY``, ``<county> COUNTY BOOKMOBILE``."""
    return np.where(
        o.out_ty == "CE",
        pd.Series(o.cnames, dtype=object) + " COUNTY PUBLIC LIBRARY",
        np.where(
            o.out_ty == "BR",
            pd.Series(o.tnames, dtype=object) + " BRANCH LIBRARY",
            pd.Series(o.cnames, dtype=object) + " COUNTY BOOKMOBILE",
        ),
    )


def _library_keys(
    region: _Region, o: _Outlets, libname: np.ndarray
) -> tuple[pd.Series, np.ndarray]:
    """FSCSKEY (one library system per county) and FSCS_SEQ (outlets numbered within it)."""
    counties = region.counties
    abbr = region.states["abbr"].to_numpy()[counties["state"].to_numpy()[o.county]]
    cidx = o.county.copy()
    df = pd.DataFrame(
        {
            "county": cidx,
            "type_order": pd.Categorical(o.out_ty, ["CE", "BR", "BS"]).codes,
            "name": libname,
        }
    )
    order = np.lexsort((df["name"], df["type_order"], df["county"]))
    seq = np.empty(len(df), dtype=np.int64)
    seq[order] = _rank_within(cidx[order], np.zeros(len(order)))
    sys_no = np.array([int(c) for c in counties["countyfp"].to_numpy()[o.county]])
    fscskey = pd.Series(abbr, dtype=object) + pd.Series(
        [f"{(v + 1) // 2:04d}" for v in sys_no], dtype=object
    )
    fscs_seq = np.array([f"{v + 2:03d}" for v in seq], dtype=object)
    return fscskey, fscs_seq


def _imls_table(
    rng: np.random.Generator,
    region: _Region,
    latent: pd.DataFrame,
    o: _Outlets,
    libname: np.ndarray,
    fscskey: pd.Series,
    fscs_seq: np.ndarray,
) -> pd.DataFrame:
    """The outlets in the IMLS layout (the random columns draw in column order)."""
    counties, towns = region.counties, region.towns
    county, town = o.county, o.town
    abbr = region.states["abbr"].to_numpy()[counties["state"].to_numpy()[county]]
    lon, lat = _to_deg(o.x, o.y)
    bg_geoid = region.bgs["geoid"].to_numpy()[o.bg]
    cntypop = np.bincount(region.bgs["county"], weights=latent["pop"], minlength=len(counties))
    lon_s = _fmt(lon, "%.5f")
    lat_s = _fmt(lat, "%.5f")
    book_rows = o.out_ty == "BS"
    lon_s[book_rows] = ""
    lat_s[book_rows] = ""
    n = len(o.out_ty)
    s_town = towns["s"].to_numpy()[town]
    statefp = counties["statefp"].to_numpy()[county]
    return pd.DataFrame(
        {
            "STABR": abbr,
            "FSCSKEY": fscskey.to_numpy(),
            "FSCS_SEQ": fscs_seq,
            "C_FSCS": "Y",
            "LIBID": fscskey.to_numpy() + "-" + fscs_seq,
            "LIBNAME": pd.Series(libname, dtype=object).str.upper().to_numpy(),
            "ADDRESS": _addresses(rng, n),
            "CITY": pd.Series(o.tnames, dtype=object).str.upper().to_numpy(),
            "ZIP": _zips(town),
            "ZIP4": np.where(
                rng.random(n) < 0.15, "M", [f"{v:04d}" for v in rng.integers(1, 9999, n)]
            ),
            "CNTY": pd.Series(o.cnames, dtype=object).str.upper().to_numpy(),
            "PHONE": [f"555{v:07d}" for v in rng.integers(0, 10**7, n)],
            "C_OUT_TY": o.out_ty,
            "SQ_FEET": np.where(
                book_rows,
                -4,
                np.where(
                    o.out_ty == "CE", rng.integers(12000, 60000, n), rng.integers(1500, 15000, n)
                ),
            ),
            "F_SQ_FT": np.where(book_rows, "N_21", "R_21"),
            "L_NUM_BM": np.where(book_rows, 1, 0),
            "HOURS": np.where(
                o.out_ty == "CE", rng.integers(2800, 3400, n), rng.integers(1000, 2900, n)
            ),
            "F_HOURS": "R_21",
            "WKS_OPEN": 52,
            "F_WKSOPN": "R_21",
            "YR_SUB": 2021,
            "OBEREG": "09",
            "STATSTRU": "00",
            "STATNAME": "00",
            "STATADDR": "00",
            "LONGITUD": lon_s,
            "LATITUDE": lat_s,
            "INCITSST": statefp,
            "INCITSCO": counties["countyfp"].to_numpy()[county],
            "GNISPLAC": towns["cousubfp"].to_numpy()[town],
            "CNTYPOP": np.rint(cntypop[county]).astype(np.int64),
            "LOCALE": _locale(s_town),
            # 2010-style tract code as IMLS prints it ("11" for 001100, "2.01" for 000201).
            "CENTRACT": [f"{int(g[5:11]) / 100:g}" for g in bg_geoid],
            "CENBLOCK": [
                f"{g[11]}{v:03d}" for g, v in zip(bg_geoid, rng.integers(0, 60, n), strict=True)
            ],
            "CDCODE": pd.Series(statefp, dtype=object).to_numpy() + "01",
            "CBSA": np.where(s_town > 0.45, "99" + statefp + "0", "-4"),
            "MICROF": np.where(s_town > 0.45, "0", "N"),
            "GEOMATCH": "A",
        }
    )


def _build_schools(rng: np.random.Generator, region: _Region, latent: pd.DataFrame) -> pd.DataFrame:
    grid, towns, counties, states = region.grid, region.towns, region.counties, region.states
    # Roughly one school per 2,800 residents, placed where people live.
    n = max(len(counties) * 3, int(round(latent["pop"].sum() / 2800)))
    p = grid["rho"].to_numpy() ** 1.2
    cells = np.sort(rng.choice(len(grid), size=n, replace=False, p=p / p.sum()))
    x0, y0 = grid["x"].to_numpy()[cells], grid["y"].to_numpy()[cells]
    x, y, bg, town = _jitter_near(rng, region, x0, y0, 0.2)
    keep = (bg >= 0) & (town >= 0)
    x, y, bg, town = x[keep], y[keep], bg[keep], town[keep]
    n = len(x)
    county = towns["county"].to_numpy()[town]
    level = rng.choice(
        np.array(["Elementary School", "Middle School", "High School"], dtype=object),
        size=n,
        p=[0.6, 0.2, 0.2],
    )
    tname = towns["name"].to_numpy()[town]
    # Several schools in one town: name them after streets to keep names distinct.
    street = np.array(_STREETS, dtype=object)[rng.integers(0, len(_STREETS), n)]
    name = np.where(
        rng.random(n) < 0.5,
        pd.Series(tname, dtype=object) + " " + level,
        pd.Series(street, dtype=object) + " " + level,
    )
    statefp = counties["statefp"].to_numpy()[county]
    countyfp = counties["countyfp"].to_numpy()[county]
    leaid = pd.Series(statefp, dtype=object) + "0" + pd.Series(countyfp, dtype=object) + "0"
    lon, lat = _to_deg(x, y)
    df = pd.DataFrame(
        {
            "LEAID": leaid.to_numpy(),
            "NAME": name,
            "OPSTFIPS": statefp,
            "STREET": _addresses(rng, n),
            "CITY": tname,
            "STATE": states["abbr"].to_numpy()[counties["state"].to_numpy()[county]],
            "ZIP": _zips(town),
            "STFIP": statefp,
            "CNTY": counties["geoid"].to_numpy()[county],
            "NMCNTY": pd.Series(counties["name"].to_numpy()[county], dtype=object).to_numpy()
            + " County",
            "LOCALE": _locale(latent["s"].to_numpy()[bg]),
            "LAT": _fmt(lat, "%.6f"),
            "LON": _fmt(lon, "%.6f"),
            "CBSA": "N",
            "NMCBSA": "N",
            "CBSATYPE": "0",
            "CSA": "N",
            "NMCSA": "N",
            "NECTA": "N",
            "NMNECTA": "N",
            "CD": pd.Series(statefp, dtype=object).to_numpy() + "01",
            "SLDL": "N",
            "SLDU": "N",
            "SCHOOLYEAR": "2020-2021",
        }
    )
    df = df.iloc[np.lexsort((df["LON"], df["LAT"], df["NAME"], df["LEAID"]))].reset_index(drop=True)
    seq = np.arange(len(df)) - np.searchsorted(df["LEAID"].to_numpy(), df["LEAID"].to_numpy())
    df.insert(
        0,
        "NCESSCH",
        df["LEAID"].to_numpy() + pd.Series([f"{v + 1:05d}" for v in seq], dtype=object).to_numpy(),
    )
    return df[_EDGE_COLUMNS]


def _build_anchors(rng: np.random.Generator, region: _Region) -> pd.DataFrame:
    towns, counties, states = region.towns, region.counties, region.states
    s = towns["s"].to_numpy()
    city = towns["kind"].to_numpy() == "city"
    seat = towns["seat"].to_numpy()
    kinds, where = [], []
    # Colleges: one per city, one per some county seats.
    for kind_name, counts in (
        ("college", city.astype(int) + (seat & (rng.random(len(towns)) < 0.35))),
        ("nonprofit", rng.poisson(1.0 + 6.0 * s)),
        ("community_center", (rng.random(len(towns)) < 0.5 + 0.4 * s).astype(int)),
        ("workforce_center", seat.astype(int)),
    ):
        idx = np.repeat(np.arange(len(towns)), counts)
        kinds.append(np.full(len(idx), kind_name, dtype=object))
        where.append(idx)
    kind = np.concatenate(kinds)
    town0 = np.concatenate(where)
    x, y, bg, town = _jitter_near(
        rng, region, towns["x"].to_numpy()[town0], towns["y"].to_numpy()[town0], 1.2
    )
    county = towns["county"].to_numpy()[town]
    tname = pd.Series(towns["name"].to_numpy()[town], dtype=object)
    cname = pd.Series(counties["name"].to_numpy()[county], dtype=object)
    label = np.select(
        [kind == "college", kind == "nonprofit", kind == "community_center"],
        [
            (cname + " Community College").to_numpy(),
            (
                tname
                + pd.Series(
                    rng.choice(
                        np.array(
                            [
                                " Neighborhood Alliance",
                                " Family Services",
                                " Youth Network",
                                " Senior Center Association",
                                " Digital Inclusion Coalition",
                                " Food Bank",
                            ],
                            dtype=object,
                        ),
                        len(kind),
                    ),
                    dtype=object,
                )
            ).to_numpy(),
            (tname + " Community Center").to_numpy(),
        ],
        (cname + " County Workforce Center").to_numpy(),
    )
    # A city's college is a university.
    uni = (kind == "college") & (towns["kind"].to_numpy()[town] == "city")
    label = np.where(uni, ("University of " + tname).to_numpy(), label)
    lon, lat = _to_deg(x, y)
    df = pd.DataFrame(
        {
            "name": label,
            "kind": kind,
            "address": pd.Series(_addresses(rng, len(kind)), dtype=object).str.title().to_numpy(),
            "city": tname.to_numpy(),
            "state_abbr": states["abbr"].to_numpy()[counties["state"].to_numpy()[county]],
            "county_fips": counties["geoid"].to_numpy()[county],
            "latitude": _fmt(lat, "%.6f"),
            "longitude": _fmt(lon, "%.6f"),
        }
    )
    df = df.drop_duplicates(subset=["name", "county_fips"]).reset_index(drop=True)
    df = df.iloc[
        np.lexsort((df["longitude"], df["name"], df["kind"], df["county_fips"]))
    ].reset_index(drop=True)
    df.insert(0, "anchor_id", [f"SAMPLE-{i + 1:04d}" for i in range(len(df))])
    return df[_ANCHOR_COLUMNS]


# --------------------------------------------------------------------------------------------
# County files: Microsoft usage, County Business Patterns
# --------------------------------------------------------------------------------------------


def _build_usage(
    rng: np.random.Generator, region: _Region, latent: pd.DataFrame, tiles_bg: pd.DataFrame
) -> str:
    counties = region.counties
    cbg = region.bgs["county"].to_numpy()
    nc = len(counties)
    hh = np.bincount(cbg, weights=latent["hh"], minlength=nc)
    bb = np.bincount(cbg, weights=latent["bband"], minlength=nc)
    share_bb = bb / hh
    # Share of measured devices in tiles at >= 25 Mbps.
    fast_devices = np.bincount(
        tiles_bg["county"], weights=tiles_bg["devices"] * (tiles_bg["down"] >= 25), minlength=nc
    )
    fast = fast_devices / np.maximum(
        np.bincount(tiles_bg["county"], weights=tiles_bg["devices"]), 1
    )
    # Usage (Microsoft: share of people using the internet at >= 25 Mbps): well below the
    # subscription share as in the real file, following it, a little higher where lines are fast.
    usage = np.clip(
        1.2 * share_bb - 0.45 + 0.1 * (fast - 0.8) + rng.normal(0, 0.01, nc), 0.03, 0.97
    )
    # Availability per FCC: optimistic, as the FCC's was.
    avail = np.clip(0.2 + 0.8 * fast + rng.normal(0, 0.02, nc), 0.2, 1.0)
    avail_s = _general(avail, 4)
    avail_s[int(rng.integers(0, nc))] = " -   "
    st = region.states["abbr"].to_numpy()[counties["state"].to_numpy()]
    df = pd.DataFrame(
        {
            "ST": st,
            "COUNTY ID": counties["geoid"].astype(int).to_numpy(),
            "COUNTY NAME": (counties["name"] + " County").to_numpy(),
            "avail": avail_s,
            "usage": _general(usage, 3),
        }
    ).sort_values("COUNTY ID")
    lines = [_USAGE_HEADER] + [
        f"{a},{b},{c},{d},{e}" for a, b, c, d, e in df.itertuples(index=False, name=None)
    ]  # a dozen rows
    return "\r\n".join(lines) + "\r\n"


def _build_business(rng: np.random.Generator, region: _Region, latent: pd.DataFrame) -> str:
    counties = region.counties
    nc = len(counties)
    pop = np.bincount(region.bgs["county"], weights=latent["pop"], minlength=nc)
    s = np.bincount(region.bgs["county"], weights=latent["s"] * latent["pop"], minlength=nc) / pop
    sectors = list(_CBP_SECTORS)
    shares = np.array([_CBP_SECTORS[k][0] for k in sectors])
    pay = np.array([_CBP_SECTORS[k][1] for k in sectors] + [52.0])
    rows = []
    for c in range(nc):  # a dozen counties
        est_total = int(rng.poisson(pop[c] * (0.018 + 0.012 * s[c])))
        est_sector = rng.multinomial(est_total, np.r_[shares, 1 - shares.sum()])
        size = np.array([rng.multinomial(e, _CBP_SIZE_PROBS) for e in est_sector])
        emp = np.rint(
            (size * _CBP_SIZE_MIDPOINTS).sum(axis=1) * rng.uniform(0.85, 1.15, len(est_sector))
        )
        emp = np.maximum(emp, est_sector).astype(np.int64)
        ap = np.rint(emp * pay * rng.uniform(0.9, 1.1, len(emp))).astype(np.int64)
        qp1 = np.rint(ap / 4 * rng.uniform(0.9, 1.05, len(ap))).astype(np.int64)
        # Membership organisations (813): part of the 81 sector.
        i81 = sectors.index("81----")
        est813 = int(rng.binomial(est_sector[i81], 0.35))
        size813 = rng.multivariate_hypergeometric(size[i81], est813)
        emp813 = int(min(emp[i81], round((size813 * _CBP_SIZE_MIDPOINTS).sum())))
        ap813 = int(min(ap[i81], round(emp813 * 30.0)))
        qp813 = int(min(qp1[i81], round(ap813 / 4)))
        table = {
            "------": (emp.sum(), qp1.sum(), ap.sum(), est_sector.sum(), size.sum(axis=0)),
            **{k: (emp[j], qp1[j], ap[j], est_sector[j], size[j]) for j, k in enumerate(sectors)},
            "813///": (emp813, qp813, ap813, est813, size813),
        }
        for naics, (e, q, a, n_est, sz) in table.items():
            if n_est == 0:
                continue
            flag = ["G", "H", "J"][int(rng.choice(3, p=[0.7, 0.25, 0.05]))]
            # n1000 (1,000 or more employees) is split again into n1000_1..n1000_4.
            big = rng.multinomial(int(sz[8]), [0.6, 0.25, 0.1, 0.05])
            sizes = [*sz[:8], int(sz[8]), *big]
            rows.append(
                [
                    counties["statefp"].iloc[c],
                    counties["countyfp"].iloc[c],
                    naics,
                    flag,
                    int(e),
                    flag,
                    int(q),
                    flag,
                    int(a),
                    int(n_est),
                    *[int(v) for v in sizes],
                ]
            )
    header = [
        "fipstate",
        "fipscty",
        "naics",
        "emp_nf",
        "emp",
        "qp1_nf",
        "qp1",
        "ap_nf",
        "ap",
        "est",
        *_CBP_SIZE_COLUMNS,
        "censtate",
        "cencty",
    ]
    rows.sort(key=lambda r: (r[0], r[1], r[2]))
    out = [",".join(f'"{h}"' for h in header)]
    for r in rows:  # ~100 rows
        cells = [
            f'"{r[0]}"',
            f'"{r[1]}"',
            f'"{r[2]}"',
            f'"{r[3]}"',
            str(r[4]),
            f'"{r[5]}"',
            str(r[6]),
            f'"{r[7]}"',
            str(r[8]),
        ]
        cells += [str(v) for v in r[9:]]
        cells += [f'"{r[0]}"', f'"{r[1]}"']
        out.append(",".join(cells))
    return "\r\n".join(out) + "\r\n"


# --------------------------------------------------------------------------------------------
# Writers
# --------------------------------------------------------------------------------------------


def _csv_text(df: pd.DataFrame, *, line_end: str = "\n") -> str:
    buf = io.StringIO()
    df.to_csv(buf, index=False, lineterminator=line_end)
    return buf.getvalue()


def _write_zipped_shapefile(gdf: gpd.GeoDataFrame, path: Path, *, stem: str, title: str) -> None:
    """Write a zipped shapefile with fixed dates so the bytes depend only on the data."""
    with tempfile.TemporaryDirectory(prefix="equity-shp-") as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        pyogrio.write_dataframe(
            gdf, shp, driver="ESRI Shapefile", encoding="UTF-8", promote_to_multi=False
        )
        dbf = shp.with_suffix(".dbf")
        raw = bytearray(dbf.read_bytes())
        raw[1:4] = _DBF_DATE  # GDAL writes today's date here
        dbf.write_bytes(bytes(raw))
        meta = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<metadata><title>{title}</title>"
            f"<abstract>{SAMPLE_LABEL}: fictional places generated by equity.sample; "
            "not Census data.</abstract></metadata>\n"
        )
        (Path(tmp) / f"{stem}.shp.iso.xml").write_text(meta, encoding="utf-8")
        with (
            path.open("wb") as fh,
            zipfile.ZipFile(fh, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        ):
            for part in sorted(Path(tmp).iterdir(), key=lambda p: p.name):
                info = zipfile.ZipInfo(part.name, date_time=_ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, part.read_bytes())


def _boundary_frames(region: _Region) -> dict[str, gpd.GeoDataFrame]:
    land = _land_and_water(region)
    sname = np.array(
        [f"{SAMPLE_STATES[c][0]} (sample)" for c in region.states["code"]], dtype=object
    )
    frames = {
        "state": _state_frame(region, land, sname),
        "county": _county_frame(region, land, sname),
        "tract": _tract_frame(region, land, sname),
        "blockgroup": _blockgroup_frame(region, land),
        "town": _town_frame(region, sname),
    }
    # Census files are NAD83; in this sample the coordinates are the same numbers.
    return {
        k: v.sort_values("GEOID", ignore_index=True).set_crs("EPSG:4269", allow_override=True)
        for k, v in frames.items()
    }


def _deg(geoms: np.ndarray) -> gpd.GeoSeries:
    """Geometries of the kilometre plane in longitude/latitude."""
    return gpd.GeoSeries(_geoms_to_deg(np.asarray(geoms, dtype=object)), crs="EPSG:4326")


def _aland(geoms: gpd.GeoSeries) -> np.ndarray:
    """Land area (square metres, equal-area CRS), rounded."""
    return np.rint(geoms.to_crs("EPSG:6933").area.to_numpy()).astype(np.int64)


def _land_and_water(region: _Region) -> dict[str, np.ndarray]:
    """ALAND and AWATER of every block group, tract, county and state (sums up the tree);
    block groups on the coast have some water. Also the block groups' lon/lat geometries."""
    bgs = region.bgs
    outline_edge = shapely.boundary(region.outline)
    bg_geo = _deg(bgs["geometry"])
    bg_land = _aland(bg_geo)
    coastal = shapely.intersects(bgs["geometry"].to_numpy(), outline_edge)
    bg_water = np.where(coastal, np.rint(bg_land * 0.04), 0).astype(np.int64)
    tract_of_bg = bgs["tract"].to_numpy()
    t_land = np.bincount(tract_of_bg, weights=bg_land).astype(np.int64)
    t_water = np.bincount(tract_of_bg, weights=bg_water).astype(np.int64)
    c_of_t = region.tracts["county"].to_numpy()
    c_land = np.bincount(c_of_t, weights=t_land).astype(np.int64)
    c_water = np.bincount(c_of_t, weights=t_water).astype(np.int64)
    s_of_c = region.counties["state"].to_numpy()
    s_land = np.bincount(s_of_c, weights=c_land, minlength=3).astype(np.int64)
    s_water = np.bincount(s_of_c, weights=c_water, minlength=3).astype(np.int64)
    return {
        "bg_geo": bg_geo.to_numpy(),
        "bg_land": bg_land,
        "bg_water": bg_water,
        "tract_land": t_land,
        "tract_water": t_water,
        "county_land": c_land,
        "county_water": c_water,
        "state_land": s_land,
        "state_water": s_water,
    }


def _state_frame(
    region: _Region, land: dict[str, np.ndarray], sname: np.ndarray
) -> gpd.GeoDataFrame:
    states = region.states
    return gpd.GeoDataFrame(
        {
            "STATEFP": states["code"].to_numpy(),
            "STATENS": [f"0{9000000 + 11 * int(c):07d}" for c in states["code"]],
            "AFFGEOID": "0400000US" + states["code"],
            "GEOID": states["code"].to_numpy(),
            "STUSPS": states["abbr"].to_numpy(),
            "NAME": sname,
            "LSAD": "00",
            "ALAND": land["state_land"],
            "AWATER": land["state_water"],
        },
        geometry=_deg(states["geometry"]).to_numpy(),
        crs="EPSG:4326",
    )


def _county_frame(
    region: _Region, land: dict[str, np.ndarray], sname: np.ndarray
) -> gpd.GeoDataFrame:
    counties = region.counties
    sabbr = region.states["abbr"].to_numpy()
    cs = counties["state"].to_numpy()
    return gpd.GeoDataFrame(
        {
            "STATEFP": counties["statefp"].to_numpy(),
            "COUNTYFP": counties["countyfp"].to_numpy(),
            "COUNTYNS": [f"0{9100000 + i * 37:07d}" for i in range(len(counties))],
            "AFFGEOID": ("0500000US" + counties["geoid"]).to_numpy(),
            "GEOID": counties["geoid"].to_numpy(),
            "NAME": counties["name"].to_numpy(),
            "NAMELSAD": (counties["name"] + " County").to_numpy(),
            "STUSPS": sabbr[cs],
            "STATE_NAME": sname[cs],
            "LSAD": "06",
            "ALAND": land["county_land"],
            "AWATER": land["county_water"],
        },
        geometry=_deg(counties["geometry"]).to_numpy(),
        crs="EPSG:4326",
    )


def _tract_frame(
    region: _Region, land: dict[str, np.ndarray], sname: np.ndarray
) -> gpd.GeoDataFrame:
    counties, tracts = region.counties, region.tracts
    sabbr = region.states["abbr"].to_numpy()
    cs = counties["state"].to_numpy()
    tc = tracts["county"].to_numpy()
    tname = np.array([f"{int(t) / 100:g}" for t in tracts["tractce"]], dtype=object)
    return gpd.GeoDataFrame(
        {
            "STATEFP": counties["statefp"].to_numpy()[tc],
            "COUNTYFP": counties["countyfp"].to_numpy()[tc],
            "TRACTCE": tracts["tractce"].to_numpy(),
            "AFFGEOID": ("1400000US" + tracts["geoid"]).to_numpy(),
            "GEOID": tracts["geoid"].to_numpy(),
            "NAME": tname,
            "NAMELSAD": ("Census Tract " + pd.Series(tname, dtype=object)).to_numpy(),
            "STUSPS": sabbr[cs[tc]],
            "NAMELSADCO": (counties["name"] + " County").to_numpy()[tc],
            "STATE_NAME": sname[cs[tc]],
            "LSAD": "CT",
            "ALAND": land["tract_land"],
            "AWATER": land["tract_water"],
        },
        geometry=_deg(tracts["geometry"]).to_numpy(),
        crs="EPSG:4326",
    )


def _blockgroup_frame(region: _Region, land: dict[str, np.ndarray]) -> gpd.GeoDataFrame:
    counties, tracts, bgs = region.counties, region.tracts, region.bgs
    bc = bgs["county"].to_numpy()
    return gpd.GeoDataFrame(
        {
            "STATEFP": counties["statefp"].to_numpy()[bc],
            "COUNTYFP": counties["countyfp"].to_numpy()[bc],
            "TRACTCE": tracts["tractce"].to_numpy()[bgs["tract"].to_numpy()],
            "BLKGRPCE": bgs["blkgrpce"].to_numpy(),
            "AFFGEOID": ("1500000US" + bgs["geoid"]).to_numpy(),
            "GEOID": bgs["geoid"].to_numpy(),
            "NAME": bgs["blkgrpce"].to_numpy(),
            "NAMELSAD": ("Block Group " + bgs["blkgrpce"]).to_numpy(),
            "LSAD": "BG",
            "ALAND": land["bg_land"],
            "AWATER": land["bg_water"],
        },
        geometry=land["bg_geo"],
        crs="EPSG:4326",
    )


def _town_frame(region: _Region, sname: np.ndarray) -> gpd.GeoDataFrame:
    counties, towns = region.counties, region.towns
    sabbr = region.states["abbr"].to_numpy()
    cs = counties["state"].to_numpy()
    wc = towns["county"].to_numpy()
    t_geo = _deg(towns["geometry"])
    lsad = towns["kind"].map({"city": "25", "town": "43", "township": "44"}).to_numpy()
    return gpd.GeoDataFrame(
        {
            "STATEFP": counties["statefp"].to_numpy()[wc],
            "COUNTYFP": counties["countyfp"].to_numpy()[wc],
            "COUSUBFP": towns["cousubfp"].to_numpy(),
            "COUSUBNS": [f"0{9200000 + i * 13:07d}" for i in range(len(towns))],
            "AFFGEOID": ("0600000US" + towns["geoid"]).to_numpy(),
            "GEOID": towns["geoid"].to_numpy(),
            "NAME": towns["name"].to_numpy(),
            "NAMELSAD": (towns["name"] + " " + towns["kind"]).to_numpy(),
            "STUSPS": sabbr[cs[wc]],
            "NAMELSADCO": (counties["name"] + " County").to_numpy()[wc],
            "STATE_NAME": sname[cs[wc]],
            "LSAD": lsad,
            "ALAND": _aland(t_geo),
            "AWATER": 0,
        },
        geometry=t_geo.to_numpy(),
        crs="EPSG:4326",
    )


def _write_parquet(tiles: pd.DataFrame, path: Path, *, seed: int) -> None:
    schema = pa.schema(
        [
            ("quadkey", pa.string()),
            ("tile", pa.string()),
            ("avg_d_kbps", pa.int64()),
            ("avg_u_kbps", pa.int64()),
            ("avg_lat_ms", pa.int64()),
            ("tests", pa.int64()),
            ("devices", pa.int64()),
        ],
        metadata={"equity_sample": f"{SAMPLE_LABEL} (equity.sample, seed={seed})"},
    )
    table = pa.Table.from_pydict({c: tiles[c].to_numpy() for c in schema.names}, schema=schema)
    pq.write_table(table, path, compression="snappy", row_group_size=1 << 20, write_statistics=True)


def _readme(counts: dict[str, int], seed: int) -> str:
    rows = "\n".join(f"| `{k}` | `{FILES[k]}` |" for k in FILES)
    states = ", ".join(f"`{c}` {n} (`{a}`)" for c, (n, a) in SAMPLE_STATES.items())
    return (
        f"# {SAMPLE_LABEL} region (equity {equity.__version__}, seed {seed})\n\n"
        "**Every place, name and number in this folder is fictional.** The files were generated\n"
        "by `equity.sample.write_sample` in the formats of real public files (Census boundaries\n"
        "and ACS, Ookla open data, Microsoft broadband usage, County Business Patterns, IMLS,\n"
        "NCES EDGE) so that the toolkit's real readers can be exercised offline. The region lies\n"
        "in the open Atlantic Ocean (longitudes -45 to -42, latitudes 37.5 to 39.5).\n\n"
        f"States: {states}. Codes 90-92 and these abbreviations are used by no real state;\n"
        "ZIP codes (00001-00499) and phone numbers (555...) are unused ranges.\n\n"
        f"Counts: {counts['state']} states, {counts['county']} counties, {counts['tract']} tracts, "
        f"{counts['blockgroup']} block groups, {counts['town']} towns, {counts['ookla']} Ookla "
        f"tiles, {counts['libraries']} library outlets, {counts['schools']} schools, "
        f"{counts['anchors']} other anchor institutions.\n\n"
        "| key | file |\n|---|---|\n" + rows + "\n\n"
        "Regenerate byte-identically with `equity sample --out DIR` (same seed, same library\n"
        "versions).\n"
    )


def write_sample(out_dir: str | os.PathLike[str], *, seed: int = settings.seed) -> dict[str, Path]:
    """Generate the fictional sample region and write its files into `out_dir`.

    Parameters
    ----------
    out_dir
        Folder to write into (created when missing). Existing sample files are replaced
        atomically; nothing half-written is left behind on error.
    seed
        Seed of the generator; the same seed (and library versions) gives byte-identical files.

    Returns
    -------
    dict[str, pathlib.Path]
        Path of each file by key: ``state``, ``county``, ``tract``, ``blockgroup``, ``town``,
        ``acs``, ``ookla``, ``usage``, ``business``, ``libraries``, ``schools``, ``anchors``
        (see :data:`FILES`); a ``README.md`` labelling the data as fictional is written too.

    Examples
    --------
    >>> import tempfile
    >>> paths = write_sample(tempfile.mkdtemp())
    >>> paths["acs"].name
    'acs2021_5yr_sample_blockgroup.csv'
    """
    t0 = time.perf_counter()
    out = Path(out_dir)
    _check_arguments(out, seed)
    rng = np.random.default_rng(seed)
    region = _build_region(rng)
    acs, latent = _build_acs(rng, region)
    tiles = _build_tiles(rng, region, latent)
    tiles_bg = _tiles_by_bg(region, tiles)
    libraries = _build_libraries(rng, region, latent)
    schools = _build_schools(rng, region, latent)
    anchors = _build_anchors(rng, region)
    usage = _build_usage(rng, region, latent, tiles_bg)
    business = _build_business(rng, region, latent)
    frames = _boundary_frames(region)

    counts = {k: len(v) for k, v in frames.items()}
    counts.update(
        ookla=len(tiles), libraries=len(libraries), schools=len(schools), anchors=len(anchors)
    )
    with atomic_dir(out) as tmp:
        titles = {
            "state": "States",
            "county": "Counties",
            "tract": "Census tracts",
            "blockgroup": "Block groups",
            "town": "County subdivisions",
        }
        for key, gdf in frames.items():
            name = FILES[key]
            _write_zipped_shapefile(
                gdf,
                tmp / name,
                stem=name.removesuffix(".zip"),
                title=f"{SAMPLE_LABEL}: {titles[key]}",
            )
        (tmp / FILES["acs"]).write_text(_csv_text(acs), encoding="utf-8")
        _write_parquet(tiles, tmp / FILES["ookla"], seed=seed)
        (tmp / FILES["usage"]).write_bytes(usage.encode("utf-8"))
        (tmp / FILES["business"]).write_bytes(business.encode("latin-1"))
        (tmp / FILES["libraries"]).write_text(_csv_text(libraries), encoding="utf-8")
        (tmp / FILES["schools"]).write_text(_csv_text(schools), encoding="utf-8")
        (tmp / FILES["anchors"]).write_text(_csv_text(anchors), encoding="utf-8")
        (tmp / "README.md").write_text(_readme(counts, seed), encoding="utf-8")
    logger.info(
        "wrote the sample region (seed %s) to %s in %.1f s: %s",
        seed,
        out,
        time.perf_counter() - t0,
        ", ".join(f"{v} {k}" for k, v in counts.items()),
    )
    return {k: out / v for k, v in FILES.items()}


def _check_arguments(out: Path, seed: object) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        msg = f"sample seed must be a non-negative integer, got {seed!r}"
        raise ConfigError(msg)
    if out.exists() and not out.is_dir():
        msg = f"sample output folder {str(out)!r} exists and is not a folder"
        raise ConfigError(msg)


def _tiles_by_bg(region: _Region, tiles: pd.DataFrame) -> pd.DataFrame:
    """Devices, download speed and county of each tile (for the county files)."""
    grid = region.grid
    qk = quadkeys_from_xy(grid["tx"].to_numpy(), grid["ty"].to_numpy())
    pos = pd.Index(qk).get_indexer(tiles["quadkey"].to_numpy())
    bg = grid["bg"].to_numpy()[pos]
    return pd.DataFrame(
        {
            "county": region.bgs["county"].to_numpy()[bg],
            "devices": tiles["devices"].to_numpy(dtype=float),
            "down": tiles["avg_d_kbps"].to_numpy() / 1000,
        }
    )


def sample_paths(*, seed: int = settings.seed) -> dict[str, Path]:
    """Paths of the cached sample region, generating it on first use.

    The files live in ``settings.cache_folder / f"sample-{equity.__version__}-{seed}-{digest}"``,
    where ``digest`` is a short hash of this generator's source, so a changed generator never
    reuses a stale copy. A new
    copy is generated into a temporary folder beside it and renamed into place, so two
    processes racing to create it both end up using one complete copy.

    Parameters
    ----------
    seed
        Seed of the generator (see :func:`write_sample`).

    Returns
    -------
    dict[str, pathlib.Path]
        Path of each sample file by key (see :data:`FILES`).

    Examples
    --------
    >>> paths = sample_paths()
    >>> paths["blockgroup"].exists()
    True
    """
    digest = hashlib.sha1(Path(__file__).read_bytes()).hexdigest()[:10]
    check_folder(settings.cache_folder, what="cache folder (EQUITY_CACHE)")
    target = Path(settings.cache_folder) / f"sample-{equity.__version__}-{seed}-{digest}"
    paths = {k: target / v for k, v in FILES.items()}
    if (target / "README.md").is_file() and all(p.is_file() for p in paths.values()):
        return paths
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        write_sample(tmp, seed=seed)
        if target.exists():  # an incomplete copy left by a crash: replace it
            if (target / "README.md").is_file() and all(p.is_file() for p in paths.values()):
                return paths
            stale = Path(tempfile.mkdtemp(prefix=f".{target.name}-stale-", dir=target.parent))
            with contextlib.suppress(OSError):
                os.replace(target, stale / "old")
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.replace(tmp, target)
        except OSError:
            # Another process renamed its complete copy into place first: use that one.
            if not all(p.is_file() for p in paths.values()):
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return paths
