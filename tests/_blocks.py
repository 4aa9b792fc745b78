"""Generated 2020 tabulation blocks in the published TIGER tabblock20 layout (tests, benchmarks).

The kit has no block geometry, so geometry handling is tested on files written here exactly
as the Census publishes them: a zipped shapefile ``tl_2020_<ss>_tabblock20.zip`` in NAD83
(EPSG:4269) with ``STATEFP20, COUNTYFP20, TRACTCE20, BLOCKCE20, GEOID20, NAME20, MTFCC20,
UR20, UACE20, UATYPE20, FUNCSTAT20, ALAND20, AWATER20, INTPTLAT20, INTPTLON20, HOUSING20,
POP20``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely


def split_blockgroups(
    blockgroups: gpd.GeoDataFrame, *, n: int = 4, seed: int = 0, empty_share: float = 0.3
) -> gpd.GeoDataFrame:
    """Blocks: each block group's bounding box cut into an n x n grid, clipped to it.

    A share of the blocks holds no housing (fields, water); the rest share the block group's
    households as housing units (rounded) and 2.5 people per unit.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for _, bg in blockgroups.iterrows():
        x0, y0, x1, y1 = bg.geometry.bounds
        xs, ys = np.linspace(x0, x1, n + 1), np.linspace(y0, y1, n + 1)
        parts = [
            shapely.intersection(bg.geometry, shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1]))
            for i in range(n)
            for j in range(n)
        ]
        parts = [p for p in parts if not p.is_empty and p.area > 0]
        live = rng.random(len(parts)) >= empty_share
        if not live.any():
            live[0] = True
        share = rng.dirichlet(np.ones(int(live.sum())))
        hu = np.zeros(len(parts))
        hu[live] = np.round(share * float(bg.get("households", 100.0)) * 1.05)
        for k, (p, h) in enumerate(zip(parts, hu, strict=True)):
            rows.append((f"{bg['GEOID']}{k:03d}", h, np.round(h * 2.5), p))
    ids, hu, pop, geoms = zip(*rows, strict=True)
    return gpd.GeoDataFrame(
        {"GEOID20": ids, "HOUSING20": hu, "POP20": pop}, geometry=list(geoms), crs="EPSG:4326"
    )


def write_tabblock20(blocks: gpd.GeoDataFrame, folder: Path, state: str = "51") -> Path:
    """Write `blocks` (``GEOID20``, ``HOUSING20``, ``POP20``, polygons) as the Census zip."""
    g = blocks.to_crs("EPSG:4269")
    ids = g["GEOID20"].astype(str)
    pt = shapely.point_on_surface(g.geometry.to_numpy())
    area = gpd.GeoSeries(g.geometry, crs=4269).to_crs(6933).area.round()
    table = pd.DataFrame(
        {
            "STATEFP20": ids.str[:2],
            "COUNTYFP20": ids.str[2:5],
            "TRACTCE20": ids.str[5:11],
            "BLOCKCE20": ids.str[11:15],
            "GEOID20": ids,
            "NAME20": "Block " + ids.str[11:15],
            "MTFCC20": "G5040",
            "UR20": "U",
            "UACE20": "",
            "UATYPE20": "",
            "FUNCSTAT20": "S",
            "ALAND20": area.astype("int64"),
            "AWATER20": 0,
            "INTPTLAT20": [f"{y:+011.7f}" for y in shapely.get_y(pt)],
            "INTPTLON20": [f"{x:+012.7f}" for x in shapely.get_x(pt)],
            "HOUSING20": g["HOUSING20"].astype("int64"),
            "POP20": g["POP20"].astype("int64"),
        }
    )
    name = f"tl_2020_{state}_tabblock20"
    work = folder / name
    work.mkdir(parents=True, exist_ok=True)
    gpd.GeoDataFrame(table, geometry=g.geometry.to_numpy(), crs=4269).to_file(
        work / f"{name}.shp", engine="pyogrio"
    )
    out = folder / f"{name}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for f in sorted(work.iterdir()):
            z.write(f, f.name)
    return out
