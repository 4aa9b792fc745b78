"""Benchmark of equity.geographies: street grid vs tobler, and Ookla tiles onto polygons.

Run::

    /root/venv/bin/python benchmarks/bench_geographies.py            # full size
    /root/venv/bin/python benchmarks/bench_geographies.py --quick    # a tenth of it

Part 1 (street level): a synthetic state of Voronoi "block groups" (clustered like towns
and cities, about 5,000 of them over ~55,000 km2, i.e. about 500,000 H3 resolution-9 cells)
is spread onto the grid by :func:`equity.geographies.street_grid` with area weights, then
by ``tobler.area_weighted.area_interpolate`` on the same cells: the results must agree
within 1e-9 (relative). tobler stores its area table as float32, so the stock call agrees
only to ~1e-7; the 1e-9 comparison passes tobler a float64 table built exactly as tobler
builds its own (``sindex.query`` + ``intersection().area``). Times are reported with their
ratio; tobler's time excludes generating the cells (it is given them), ours includes it.
The same state is also run with synthetic Ookla tiles as the dasymetric weight.

Part 2 (Ookla): 1,000,000 zoom-16 tiles onto 5,000 Voronoi polygons with
:func:`equity.geographies.ookla_to_polygons` (area shares and by centroid); time and peak
resident memory (``ru_maxrss``) are reported, each part in its own process.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import time

import geopandas as gpd
import numpy as np
import shapely

from equity import geographies as geo

LON0, LAT0 = -80.0, 37.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def voronoi_polygons(
    n: int, bounds: tuple[float, float, float, float], *, seed: int
) -> gpd.GeoDataFrame:
    """`n` Voronoi polygons (EPSG:4326) over `bounds`, seeds clustered like settlements."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = bounds
    box = gpd.GeoSeries([shapely.box(*bounds)], crs=4326).to_crs(6933).iloc[0]
    bx0, by0, bx1, by1 = box.bounds
    n_uniform = n // 3
    n_cities = max(1, n // 250)
    centres = rng.uniform([bx0, by0], [bx1, by1], size=(n_cities, 2))
    spread = rng.uniform(2_000, 15_000, size=n_cities)
    which = rng.integers(0, n_cities, size=n - n_uniform)
    clustered = centres[which] + rng.normal(size=(n - n_uniform, 2)) * spread[which, None]
    pts = np.vstack([rng.uniform([bx0, by0], [bx1, by1], size=(n_uniform, 2)), clustered])
    pts = np.clip(pts, [bx0 + 1, by0 + 1], [bx1 - 1, by1 - 1])
    pts = np.unique(np.round(pts, 1), axis=0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(pts), extend_to=box))
    cells = shapely.intersection(cells, box)
    cells = cells[~shapely.is_empty(cells)]
    gdf = gpd.GeoDataFrame(geometry=cells, crs=6933).to_crs(4326)
    return gdf.reset_index(drop=True)


def synthetic_tiles(
    nx: int, ny: int, *, x0: float, y0: float, seed: int, keep: float = 1.0
) -> gpd.GeoDataFrame:
    """Zoom-16-sized tiles (0.0054931640625 degrees of longitude) in an nx by ny block."""
    rng = np.random.default_rng(seed)
    dx = 360 / 2**16
    dy = dx * np.cos(np.radians(y0))
    ix, iy = np.meshgrid(np.arange(nx), np.arange(ny))
    ix, iy = ix.ravel(), iy.ravel()
    if keep < 1:
        sel = rng.random(len(ix)) < keep
        ix, iy = ix[sel], iy[sel]
    xmin, ymin = x0 + ix * dx, y0 + iy * dy
    geoms = shapely.box(xmin, ymin, xmin + dx, ymin + dy)
    n = len(geoms)
    tests = rng.integers(1, 60, n).astype(float)
    return gpd.GeoDataFrame(
        {
            "download_mbps": rng.gamma(2.0, 60.0, n),
            "upload_mbps": rng.gamma(1.5, 12.0, n),
            "latency_ms": rng.gamma(3.0, 8.0, n),
            "tests": tests,
            "devices": np.ceil(tests / rng.uniform(1.5, 4.0, n)),
        },
        geometry=geoms,
        crs=4326,
    )


def part_street(scale: float, seed: int) -> dict[str, object]:
    from scipy.sparse import coo_matrix
    from tobler.area_weighted import area_interpolate

    w = 3.0 * np.sqrt(scale)
    h = 2.1 * np.sqrt(scale)
    bounds = (LON0, LAT0, LON0 + w, LAT0 + h)
    n_bg = int(5000 * scale)
    bg = voronoi_polygons(n_bg, bounds, seed=seed)
    rng = np.random.default_rng(seed)
    bg["GEOID"] = [f"99{(i // 60):03d}{(i // 3):06d}{i % 3}" for i in range(len(bg))]
    bg["households"] = rng.integers(0, 1500, len(bg)).astype(float)
    bg["moe_households"] = rng.uniform(20, 200, len(bg))
    bg["hh_no_internet"] = np.floor(bg["households"] * rng.uniform(0, 0.4, len(bg)))
    counts = ["households", "hh_no_internet"]
    area_km2 = float(bg.to_crs(6933).area.sum() / 1e6)

    t = time.perf_counter()
    cells, xw = geo.street_grid(bg, counts=counts, drop_empty=False)
    t_ours = time.perf_counter() - t
    rss_ours = _rss_mb()

    src = bg.to_crs(6933)
    tgt = cells[["GEOID", "geometry"]].to_crs(6933)
    t = time.perf_counter()
    stock = area_interpolate(src, tgt, extensive_variables=counts)
    t_tobler = time.perf_counter() - t
    i_t, i_s = src.sindex.query(tgt.geometry, predicate="intersects")
    table = coo_matrix(
        (src.geometry.values[i_s].intersection(tgt.geometry.values[i_t]).area, (i_s, i_t)),
        shape=(len(src), len(tgt)),
    ).tocsr()
    ref = area_interpolate(src, tgt, extensive_variables=counts, table=table)

    def rel(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))

    per_bg = xw.merge(bg[["GEOID", *counts]], left_on="source_GEOID", right_on="GEOID")
    per_bg = (per_bg["weight"] * per_bg["households"]).groupby(per_bg["source_GEOID"]).sum()
    hh = bg.set_index("GEOID")["households"].reindex(per_bg.index)
    conserv = float((np.abs(per_bg - hh) / hh.where(hh > 0)).max())

    # dasymetric: synthetic Ookla tiles on ~35% of the zoom-16 tiles covering the state
    nx = int(w / (360 / 2**16)) + 1
    ny = int(h / (360 / 2**16 * np.cos(np.radians(LAT0)))) + 1
    tiles = synthetic_tiles(nx, ny, x0=LON0, y0=LAT0, seed=seed + 1, keep=0.35)
    t = time.perf_counter()
    cells_t, xw_t = geo.street_grid(bg, counts=counts, tiles=tiles, weight_column="devices")
    t_tiles = time.perf_counter() - t
    conserv_t = abs(cells_t["households"].sum() / bg["households"].sum() - 1)
    t = time.perf_counter()
    grid = geo.ookla_to_grid(tiles)
    t_grid = time.perf_counter() - t
    conserv_grid = abs(grid["ookla_tests"].sum() / tiles["tests"].sum() - 1)
    return {
        "block_groups": len(bg),
        "area_km2": round(area_km2),
        "cells": len(cells),
        "pieces": len(xw),
        "street_grid_s": round(t_ours, 2),
        "tobler_area_interpolate_s": round(t_tobler, 2),
        "ratio_ours_over_tobler": round(t_ours / t_tobler, 3),
        "max_rel_diff_vs_tobler_float64_table": rel(
            cells[counts].to_numpy(), ref[counts].to_numpy()
        ),
        "max_rel_diff_vs_stock_tobler_float32": rel(
            cells[counts].to_numpy(), stock[counts].to_numpy()
        ),
        "max_rel_conservation_error_per_bg": conserv,
        "peak_rss_mb_after_street_grid": round(rss_ours),
        "tiles_for_dasymetric": len(tiles),
        "street_grid_with_tiles_s": round(t_tiles, 2),
        "cells_with_tiles": len(cells_t),
        "rel_conservation_error_with_tiles": conserv_t,
        "block_groups_area_fallback": int(
            xw_t.loc[xw_t["weight_method"] == "area", "source_GEOID"].nunique()
        ),
        "ookla_to_grid_s": round(t_grid, 2),
        "ookla_grid_cells": len(grid),
        "ookla_to_grid_rel_tests_conservation_error": conserv_grid,
    }


def part_ookla(n_tiles: int, n_polygons: int, seed: int) -> dict[str, object]:
    side = int(np.sqrt(n_tiles))
    tiles = synthetic_tiles(side, side, x0=LON0, y0=LAT0, seed=seed)
    tb = tiles.total_bounds
    polys = voronoi_polygons(n_polygons, tuple(tb), seed=seed)
    polys["GEOID"] = [f"P{i:05d}" for i in range(len(polys))]
    rss0 = _rss_mb()
    t = time.perf_counter()
    out = geo.ookla_to_polygons(tiles, polys)
    t_area = time.perf_counter() - t
    rss1 = _rss_mb()
    t = time.perf_counter()
    cen = geo.ookla_to_polygons(tiles, polys, method="centroid")
    t_cen = time.perf_counter() - t
    # reference for the centroid method: geopandas sjoin of centroids + groupby
    t = time.perf_counter()
    pts = gpd.GeoDataFrame(tiles[["tests"]], geometry=tiles.to_crs(6933).centroid, crs=6933)
    ref = gpd.sjoin(pts, polys.to_crs(6933)[["GEOID", "geometry"]], predicate="intersects")
    ref = ref[~ref.index.duplicated()].groupby("GEOID")["tests"].sum()
    t_ref = time.perf_counter() - t
    diff = float(np.max(np.abs(cen.set_index("GEOID")["ookla_tests"].reindex(ref.index) - ref)))
    return {
        "tiles": len(tiles),
        "polygons": len(polys),
        "ookla_to_polygons_area_s": round(t_area, 2),
        "ookla_to_polygons_centroid_s": round(t_cen, 2),
        "geopandas_sjoin_centroid_reference_s": round(t_ref, 2),
        "centroid_tests_max_abs_diff_vs_reference": diff,
        "rel_tests_conservation_error": abs(
            (out["ookla_tests"].sum() + out.attrs["ookla_tests_outside"]) / tiles["tests"].sum() - 1
        ),
        "rss_mb_with_inputs": round(rss0),
        "peak_rss_mb_after_area_method": round(rss1),
    }


def _run(target, args, queue):  # pragma: no cover - child process
    queue.put(target(*args))


def in_child(target, *args) -> dict[str, object]:
    """Run a part in its own process so its peak memory is its own."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_run, args=(target, args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the full size")
    parser.add_argument("--part", choices=["street", "ookla", "both"], default="both")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    scale = 0.1 if args.quick else 1.0
    results = {}
    if args.part in ("street", "both"):
        results["street"] = in_child(part_street, scale, args.seed)
        print(json.dumps({"street": results["street"]}, indent=2), flush=True)
    if args.part in ("ookla", "both"):
        results["ookla"] = in_child(
            part_ookla, int(1_000_000 * scale), int(5_000 * scale), args.seed
        )
        print(json.dumps({"ookla": results["ookla"]}, indent=2), flush=True)


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------- references for run.py


def sjoin_centroid_tests(tiles: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> object:
    """Tests per polygon the way a geopandas user would: tile centroids, ``sjoin``, ``groupby``."""
    # planar lon/lat centroids (shapely directly: GeoSeries.centroid's points, without its
    # geographic-CRS warning)
    centres = shapely.centroid(tiles.geometry.to_numpy())
    pts = gpd.GeoDataFrame(tiles[["tests"]], geometry=centres, crs=tiles.crs)
    joined = gpd.sjoin(pts, polygons, predicate="intersects")
    return joined[~joined.index.duplicated()].groupby("GEOID")["tests"].sum()


def duckdb_available() -> bool:
    """Whether DuckDB and its spatial extension (``duckdb-extension-spatial``) are installed."""
    try:
        _duckdb_connection().close()
    except Exception:
        return False
    return True


def _duckdb_connection():
    """A DuckDB connection with the spatial extension loaded from its PyPI package (offline)."""
    from pathlib import Path

    import duckdb
    import duckdb_extension_spatial

    version = duckdb.__version__
    path = Path(duckdb_extension_spatial.__file__).parent / "extensions" / f"v{version}"
    con = duckdb.connect()
    con.execute(f"LOAD '{path / 'spatial.duckdb_extension'}'")
    return con


def duckdb_tables(tiles: gpd.GeoDataFrame, polygons: gpd.GeoDataFrame) -> tuple[object, object]:
    """The tiles and polygons as Arrow tables with WKB geometry (DuckDB reads them in place)."""
    import pyarrow as pa

    t = pa.table({"tests": tiles["tests"].to_numpy(), "wkb": shapely.to_wkb(tiles.geometry.array)})
    p = pa.table(
        {"GEOID": polygons["GEOID"].to_numpy(), "wkb": shapely.to_wkb(polygons.geometry.array)}
    )
    return t, p


def duckdb_tile_tests(
    tile_table: object, polygon_table: object, *, method: str
) -> tuple[object, float]:
    """Tests per polygon by DuckDB spatial, and the query's own time (s).

    The tables (:func:`duckdb_tables`) are first loaded into DuckDB tables with their
    geometries (not timed: a DuckDB user keeps the data there); the timed query joins them
    (DuckDB's spatial join) and sums by polygon: area shares (planar lon/lat) or centroids.
    """
    con = _duckdb_connection()
    con.execute("SET enable_progress_bar = false")
    con.register("tiles_in", tile_table)
    con.register("polys_in", polygon_table)
    con.execute("CREATE TABLE t AS SELECT tests, ST_GeomFromWKB(wkb) AS g FROM tiles_in")
    con.execute("CREATE TABLE p AS SELECT GEOID, ST_GeomFromWKB(wkb) AS g FROM polys_in")
    if method == "area":
        sql = """SELECT p.GEOID,
                        SUM(t.tests * ST_Area(ST_Intersection(t.g, p.g)) / ST_Area(t.g)) AS tests
                 FROM t JOIN p ON ST_Intersects(t.g, p.g) GROUP BY p.GEOID"""
    else:
        con.execute("CREATE TABLE c AS SELECT tests, ST_Centroid(g) AS g FROM t")
        sql = """SELECT p.GEOID, SUM(c.tests) AS tests
                 FROM c JOIN p ON ST_Intersects(p.g, c.g) GROUP BY p.GEOID"""
    start = time.perf_counter()
    out = con.execute(sql).df().set_index("GEOID")["tests"]
    seconds = time.perf_counter() - start
    con.close()
    return out, seconds
