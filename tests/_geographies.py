"""Shared fixtures' builders and checks of the geography tests (``test_geographies*.py``).

Hand-made geometries with known answers: six block-group squares near 38N, four Ookla
tiles over them, and the real Hawaii tiles and counties in ../shared/data.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

REL = 1e-9
COUNTS = ["households", "hh_no_internet"]
MEDIANS = {"median_household_income": "households"}


def rel_err(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def square(x0: float, y0: float, size: float) -> shapely.Polygon:
    return shapely.box(x0, y0, x0 + size, y0 + size)


def make_blockgroups() -> gpd.GeoDataFrame:
    """Six block groups on a 3 x 2 grid of 0.01-degree squares near 38N (two tracts, two counties)."""
    ids = [
        "510010001001",
        "510010001002",
        "510010002001",
        "510010002002",
        "510030001001",
        "510030001002",
    ]
    geoms = [square(-77.0 + 0.01 * (i % 3), 38.0 + 0.01 * (i // 3), 0.01) for i in range(6)]
    return gpd.GeoDataFrame(
        {
            "GEOID": ids,
            "households": [120.0, 0.0, 340.0, 55.0, 410.0, 75.0],
            "moe_households": [30.0, 12.0, 60.0, 20.0, 70.0, 25.0],
            "hh_no_internet": [20.0, 0.0, 50.0, 10.0, 90.0, 5.0],
            "moe_hh_no_internet": [10.0, 12.0, 20.0, 8.0, 30.0, 6.0],
            "median_household_income": [50000.0, np.nan, 70000.0, 40000.0, 65000.0, 30000.0],
            "moe_median_household_income": [5000.0, np.nan, 9000.0, 7000.0, 6000.0, 8000.0],
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def make_tiles() -> gpd.GeoDataFrame:
    """Four Ookla tiles (raw columns): two inside the west square, one straddling the
    border, one outside."""
    geoms = [
        shapely.box(-77.0, 38.0, -76.995, 38.005),
        shapely.box(-76.995, 38.005, -76.99, 38.01),
        shapely.box(-76.9925, 38.0, -76.9875, 38.005),
        shapely.box(-76.5, 38.0, -76.495, 38.005),
    ]
    return gpd.GeoDataFrame(
        {
            "avg_d_kbps": [10_000.0, 200_000.0, 50_000.0, 1000.0],
            "avg_u_kbps": [1_000.0, 30_000.0, 10_000.0, 1000.0],
            "avg_lat_ms": [40.0, 10.0, 20.0, 50.0],
            "tests": [10.0, 30.0, 20.0, 7.0],
            "devices": [2.0, 6.0, 4.0, 1.0],
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def read_hawaii(shared_data: Path) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The real Hawaii Ookla tiles (raw columns) and Hawaii's counties, EPSG:4326."""
    tiles = gpd.read_file(shared_data / "ookla/ookla_fixed_tiles_hawaii_2021Q1.geojson").to_crs(
        4326
    )
    counties = gpd.read_file(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    counties = (
        counties[counties["STATEFP"] == "15"]
        .to_crs(4326)[["GEOID", "NAME", "geometry"]]
        .reset_index(drop=True)
    )
    return tiles, counties


def table_of(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    return pd.DataFrame(gdf.drop(columns="geometry"))


def some_tiles(blockgroups: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Tiles with devices over part of the block groups, none over the others."""
    x0, y0, x1, y1 = blockgroups.total_bounds
    xs = np.linspace(x0, x0 + (x1 - x0) * 0.6, 9)
    boxes = [shapely.box(a, y0, b, y0 + (y1 - y0) * 0.4) for a, b in itertools.pairwise(xs)]
    devices = np.arange(len(boxes), dtype=float) % 3  # some tiles without devices
    return gpd.GeoDataFrame({"devices": devices}, geometry=boxes, crs="EPSG:4326")


def conserved_per_bg(cells: gpd.GeoDataFrame, xw: pd.DataFrame, bg: gpd.GeoDataFrame) -> None:
    """Weights sum to 1 per populated block group, and every count is conserved."""
    wsum = xw.groupby("source_GEOID")["weight"].sum()
    populated = bg.loc[(bg[COUNTS] > 0).any(axis=1), "GEOID"]
    assert np.allclose(wsum.reindex(populated), 1.0, rtol=0, atol=1e-12)
    moved = xw.merge(table_of(bg), left_on="source_GEOID", right_on="GEOID")
    for c in COUNTS:
        per_bg = (moved["weight"] * moved[c]).groupby(moved["source_GEOID"]).sum()
        assert np.all(
            np.abs(per_bg.reindex(bg["GEOID"]).fillna(0).to_numpy() - bg[c].to_numpy())
            <= REL * bg[c].to_numpy() + 1e-12
        )
        assert rel_err(cells[c].sum(), bg[c].sum()) < REL
