"""Benchmark of the street level (issues #16 and #20 part 3): time and peak memory per state size.

Inputs are generated in the published layouts: block groups as Census polygons (the real
Virginia block groups for the Virginia size; a perturbed grid for the Texas and Alaska sizes),
2020 tabulation blocks as a TIGER ``tl_2020_<ss>_tabblock20.zip`` (each block group cut into a
grid of blocks, a third of them without housing), read by :func:`equity.sources.read_blocks`.

Each case runs in a fresh child process; its peak resident memory is the child's ``maxrss``.
Stages:

``virginia_blocks``
    5,951 real Virginia block groups, about 250,000 generated blocks (zip read included),
    :func:`equity.geographies.street_level` with block weights. Target: < 60 s, < 2.5 GB.
``virginia_area``
    the same block groups without blocks (area weights, as the real Virginia files give).
    Reference: the previous whole-state :func:`equity.geographies.street_grid`.
``texas_area``, ``alaska_area``
    generated states of Texas's size (18,638 block groups, 254 counties, a box of about
    756,000 km2 against Texas's 696,000) and Alaska's (534 block groups, 30 boroughs, about
    1.7 million km2 as Alaska's total area: the area that made the old whole-state grid need
    77 GB), area weights (the most cells). Target (issue #20, item 3): < 8 GB peak. The
    area the block groups cover is printed (``km2``).

``--workers 2`` runs the county parts in two processes, as ``equity run`` does by default, and
adds the peak of the process tree (this process and its workers, PSS sampled every 0.1 s).

Run ``python benchmarks/bench_street.py [--cases virginia_blocks,virginia_area,...] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "tests"))  # the tabblock20 writer of the tests


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _cpu_s() -> float:
    """CPU seconds of this process (the machine is shared: wall time varies with its load)."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _virginia_blockgroups(seed: int = 0) -> gpd.GeoDataFrame:
    from equity import sources

    bg = sources.read_boundaries(DATA / "boundaries" / "va" / "cb_2020_51_bg_500k.shp")
    rng = np.random.default_rng(seed)
    hh = rng.gamma(4.0, 150.0, len(bg)).round()
    return gpd.GeoDataFrame(
        {
            "GEOID": bg["GEOID"].to_numpy(),
            "households": hh,
            "moe_households": np.sqrt(hh) * 4 + 12,
            "hh_no_internet": (hh * rng.uniform(0.02, 0.3, len(bg))).round(),
            "moe_hh_no_internet": np.sqrt(hh) * 3 + 12,
            "population": (hh * 2.5).round(),
            "moe_population": np.sqrt(hh) * 8 + 12,
        },
        geometry=bg.geometry.to_numpy(),
        crs=4326,
    )


def _grid_state(
    state: str, n_bg: int, n_counties: int, box: tuple[float, float, float, float], seed: int
) -> gpd.GeoDataFrame:
    """Block groups as a perturbed grid over `box`, numbered county by county."""
    rng = np.random.default_rng(seed)
    x0, y0, x1, y1 = box
    nx = int(np.ceil(np.sqrt(n_bg * (x1 - x0) / (y1 - y0))))
    ny = int(np.ceil(n_bg / nx))
    xs, ys = np.linspace(x0, x1, nx + 1), np.linspace(y0, y1, ny + 1)
    i, j = np.meshgrid(np.arange(nx), np.arange(ny))
    i, j = i.ravel()[:n_bg], j.ravel()[:n_bg]
    geoms = shapely.box(xs[i], ys[j], xs[i + 1], ys[j + 1])
    # counties: vertical strips of block groups, so each is contiguous
    county = (i * n_counties) // nx
    ids = [f"{state}{2 * c + 1:03d}{k:06d}1" for k, c in enumerate(county)]
    hh = rng.gamma(2.0, 200.0, n_bg).round()
    return gpd.GeoDataFrame(
        {
            "GEOID": ids,
            "households": hh,
            "moe_households": np.sqrt(hh) * 4 + 12,
            "hh_no_internet": (hh * rng.uniform(0.02, 0.3, n_bg)).round(),
            "moe_hh_no_internet": np.sqrt(hh) * 3 + 12,
        },
        geometry=geoms,
        crs=4326,
    )


def _blocks_zip(bg: gpd.GeoDataFrame, folder: Path, *, n: int, seed: int) -> Path:
    """Each block group cut into an n x n grid of blocks (vectorised), as tabblock20."""
    from _blocks import write_tabblock20

    rng = np.random.default_rng(seed)
    b = shapely.bounds(bg.geometry.to_numpy())
    k = np.arange(n * n)
    rows = np.repeat(np.arange(len(bg)), n * n)
    kk = np.tile(k, len(bg))
    w = (b[rows, 2] - b[rows, 0]) / n
    h = (b[rows, 3] - b[rows, 1]) / n
    x0 = b[rows, 0] + (kk % n) * w
    y0 = b[rows, 1] + (kk // n) * h
    boxes = shapely.box(x0, y0, x0 + w, y0 + h)
    parts = shapely.intersection(bg.geometry.to_numpy()[rows], boxes)
    ok = ~shapely.is_empty(parts) & (shapely.area(parts) > 0)
    ok &= np.isin(shapely.get_type_id(parts), (3, 6))
    rows, kk, parts = rows[ok], kk[ok], parts[ok]
    live = rng.random(len(rows)) > 0.33
    share = np.where(live, rng.gamma(1.0, 1.0, len(rows)), 0.0)
    tot = np.bincount(rows, weights=share, minlength=len(bg))
    hh = bg["households"].to_numpy()[rows]
    hu = np.round(np.where(tot[rows] > 0, share / tot[rows], 0) * hh * 1.08)
    blocks = gpd.GeoDataFrame(
        {
            "GEOID20": [f"{bg['GEOID'].iloc[r]}{q:03d}" for r, q in zip(rows, kk, strict=True)],
            "HOUSING20": hu,
            "POP20": np.round(hu * 2.5),
        },
        geometry=parts,
        crs=4326,
    )
    return write_tabblock20(blocks, folder, state=str(bg["GEOID"].iloc[0])[:2])


def _case(name: str, workers: int, queue: Any) -> None:  # pragma: no cover - child process
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_national import TreeMemory

    from equity import geographies, sources
    from equity.engine import LocalEngine

    out: dict[str, Any] = {"case": name, "workers": workers}
    counts = ["households", "hh_no_internet"]
    with tempfile.TemporaryDirectory() as tmp:
        if name.startswith("virginia"):
            bg = _virginia_blockgroups()
            counts = [*counts, "population"]
        elif name.startswith("texas"):
            bg = _grid_state("48", 18_638, 254, (-104.5, 27.0, -95.0, 34.5), seed=1)
        else:
            bg = _grid_state("02", 534, 30, (-166.0, 57.5, -141.0, 70.0), seed=2)
        blocks_path = _blocks_zip(bg, Path(tmp), n=7, seed=3) if name.endswith("blocks") else None
        out["blockgroups"] = len(bg)
        out["km2"] = round(float(bg.to_crs(6933).area.sum() / 1e6))
        out["input_mb"] = round(_peak_mb())
        t0, c0 = time.perf_counter(), _cpu_s()
        blocks = sources.read_blocks(blocks_path) if blocks_path else None
        if blocks is not None:
            out["blocks"] = len(blocks)
            out["read_blocks_s"] = round(time.perf_counter() - t0, 2)
        # as `equity run` with [run] workers: the counties in that many processes
        run = LocalEngine(processes=workers).map_partitions
        with TreeMemory() if workers > 1 else contextlib.nullcontext() as tree:
            units, _ = geographies.street_level(
                bg, counts=counts, blocks=blocks, map_partitions=run
            )
        out["street_level_s"] = round(time.perf_counter() - t0, 2)
        out["street_level_cpu_s"] = round(_cpu_s() - c0, 2)
        out["peak_mb"] = round(_peak_mb())
        if tree is not None:  # this process and its workers together (PSS, sampled)
            out["process_tree_peak_mb"] = round(tree.peak_pss)
        out["units"] = len(units)
        out["ranked"] = int(units["ranked"].sum())
        out["households_conserved"] = bool(
            np.isclose(units["households"].sum(), bg["households"].sum(), rtol=1e-9)
        )
        out["by_resolution"] = units["cell_resolution"].value_counts().sort_index().to_dict()
    queue.put(out)


def _reference(queue: Any) -> None:  # pragma: no cover - child process
    """The previous whole-state street grid (all res-9 cells, no floor) on the same input."""
    from equity import geographies

    bg = _virginia_blockgroups()
    t0, c0 = time.perf_counter(), _cpu_s()
    cells, _ = geographies.street_grid(bg, counts=["households", "hh_no_internet", "population"])
    queue.put(
        {
            "case": "reference_street_grid_virginia",
            "seconds": round(time.perf_counter() - t0, 2),
            "cpu_s": round(_cpu_s() - c0, 2),
            "peak_mb": round(_peak_mb()),
            "cells": len(cells),
            "cells_under_1_household": round(float((cells["households"] < 1).mean()), 3),
        }
    )


def _in_child(target: Any, *args: Any) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=target, args=(*args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--cases",
        default="virginia_blocks,virginia_area,reference,texas_area,alaska_area",
        help="comma-separated cases",
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="processes of the county parts (equity run: 2)"
    )
    args = parser.parse_args()
    for name in args.cases.split(","):
        res = _in_child(_reference) if name == "reference" else _in_child(_case, name, args.workers)
        print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
