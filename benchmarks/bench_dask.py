"""Benchmark of the Dask engine (issue #20 part 4): the street level, local vs a LocalCluster.

The real Virginia street level (5,951 block groups of the 2020 cartographic boundary file, 133
counties, counts of the ACS 2017-2021 block-group file, H3 resolution 9, area weights: the
shared data have no Virginia block polygons or raw Ookla tiles) is computed twice in one
child process:

``local``
    :func:`equity.geographies.street_level` with the local engine (the counties in turn);
``dask``
    the same call with ``map_partitions`` of a :class:`equity.engine.DaskEngine` on a
    ``distributed.LocalCluster`` of ``--workers`` single-threaded worker processes: the
    workers build the county pieces, the client combines them into the pooled units.

Reported for each: wall time, CPU seconds of the client and of the workers, peak memory of
the client (above its size at the start of the call; ``/proc/self/clear_refs`` resets the
peak) and of each worker (its high-water mark during the call, its size before the call), the
cluster's start-up time, the per-county work on the workers (sum, largest county, per res-9
cell), and whether both results are exactly equal (``assert_frame_equal(check_exact=True)``,
geometry as WKB). ``--quick`` takes the first 12 counties.

Run ``python benchmarks/bench_dask.py [--quick] [--workers 2] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing as mp
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
MEDIANS = {"median_household_income": "households"}


def virginia(counties: int | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Real Virginia block groups with their ACS counts (the first `counties` counties)."""
    from equity import indicators, sources

    bg = sources.read_boundaries(DATA / "boundaries" / "va" / "cb_2020_51_bg_500k.shp")
    acs = sources.read_acs(DATA / "acs" / "acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv")
    counts = indicators.counts_from_acs(acs)
    bg = bg[["GEOID", "geometry"]].merge(counts, on="GEOID")
    if counties is not None:
        keep = sorted(bg["GEOID"].str[:5].unique())[:counties]
        bg = bg[bg["GEOID"].str[:5].isin(keep)].reset_index(drop=True)
    cols = [
        c for c in counts.columns if c != "GEOID" and c not in MEDIANS and not c.startswith("moe_")
    ]
    return bg, cols


def same_tables(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Exactly equal (values, dtypes, order), geometry compared as WKB."""
    geo = [c for c in a.columns if isinstance(a[c].dtype, gpd.array.GeometryDtype)]
    try:
        pd.testing.assert_frame_equal(
            pd.DataFrame(a.drop(columns=geo)), pd.DataFrame(b.drop(columns=geo)), check_exact=True
        )
    except AssertionError:
        return False
    return all((gpd.GeoSeries(a[c]).to_wkb() == gpd.GeoSeries(b[c]).to_wkb()).all() for c in geo)


def compare(
    bg: gpd.GeoDataFrame,
    counts: list[str],
    *,
    workers: int = 2,
    resolution: int = 9,
    medians: dict[str, str] | None = None,
    **street: Any,
) -> dict[str, Any]:
    """The street level of `bg` on the local engine, then on a LocalCluster: the figures."""
    import distributed

    from equity import geographies
    from equity.engine import DaskEngine, process_usage

    kw = {"counts": counts, "medians": medians or {}, "resolution": resolution, **street}
    out: dict[str, Any] = {"blockgroups": len(bg), "counties": int(bg["GEOID"].str[:5].nunique())}

    start = process_usage(reset_peak=True)
    t = time.perf_counter()
    local = geographies.street_level(bg, **kw)
    end = process_usage()
    out["local"] = {
        "wall_s": time.perf_counter() - t,
        "cpu_s": end["cpu_s"] - start["cpu_s"],
        "peak_mb": end["peak_mb"] - start["rss_mb"],
    }
    units = local[0]
    out["units"] = len(units)
    out["res9_cells"] = int(units["n_cells"].sum())  # live finest cells, pooled or not
    out["pieces"] = len(local[1])

    t = time.perf_counter()
    with (
        distributed.LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
        DaskEngine(client=client) as eng,
    ):
        client.wait_for_workers(workers)
        out["cluster_start_s"] = time.perf_counter() - t
        before = eng.worker_usage(reset_peak=True)
        start = process_usage(reset_peak=True)
        t = time.perf_counter()
        got = geographies.street_level(bg, **kw, map_partitions=eng.map_partitions)
        end = process_usage()
        wall = time.perf_counter() - t
        after = eng.worker_usage()
        rows = eng.last_partitions["rows"]
    out["dask"] = {
        "wall_s": wall,
        "client_cpu_s": end["cpu_s"] - start["cpu_s"],
        "client_peak_mb": end["peak_mb"] - start["rss_mb"],
        "workers": [
            {
                "cpu_s": after[w]["cpu_s"] - before[w]["cpu_s"],
                "rss_before_mb": before[w]["rss_mb"],
                "peak_mb": after[w]["peak_mb"],
                "parts": sum(r["worker"] == w for r in rows),
            }
            for w in sorted(after)
        ],
    }
    part_cpu = [r["cpu_s"] for r in rows]
    out["parts"] = {
        "n": len(rows),
        "cpu_s": sum(part_cpu),
        "largest_cpu_s": max(part_cpu, default=0.0),
        "largest": max(rows, key=lambda r: r["cpu_s"])["name"] if rows else "",
        "cpu_us_per_cell": 1e6 * sum(part_cpu) / max(1, out["res9_cells"]),
    }
    out["dask"]["workers_cpu_s"] = sum(w["cpu_s"] for w in out["dask"]["workers"])
    out["identical"] = same_tables(local[0], got[0]) and same_tables(local[1], got[1])
    out["speedup"] = out["local"]["wall_s"] / wall
    return out


def _child(counties: int | None, workers: int, queue: Any) -> None:  # pragma: no cover
    try:
        bg, cols = virginia(counties)
        queue.put(("ok", compare(bg, cols, workers=workers, medians=MEDIANS)))
    except BaseException:
        queue.put(("error", traceback.format_exc()))


def report(r: dict[str, Any], file: Any = sys.stdout) -> None:
    """The figures of :func:`compare` as a few lines of text."""
    lo, dk = r["local"], r["dask"]
    print(
        f"{r['blockgroups']:,} block groups, {r['counties']} counties -> {r['res9_cells']:,} "
        f"res-9 cells, {r['units']:,} units, {r['pieces']:,} crosswalk rows",
        file=file,
    )
    print(
        f"local: {lo['wall_s']:.1f} s wall, {lo['cpu_s']:.1f} s CPU, peak +{lo['peak_mb']:.0f} MB",
        file=file,
    )
    print(
        f"dask ({len(dk['workers'])} workers; cluster start {r['cluster_start_s']:.1f} s): "
        f"{dk['wall_s']:.1f} s wall (speed-up {r['speedup']:.2f}), client {dk['client_cpu_s']:.1f} s "
        f"CPU, peak +{dk['client_peak_mb']:.0f} MB; workers {dk['workers_cpu_s']:.1f} s CPU",
        file=file,
    )
    for i, w in enumerate(dk["workers"]):
        print(
            f"  worker {i}: {w['parts']} parts, {w['cpu_s']:.1f} s CPU, peak {w['peak_mb']:.0f} MB "
            f"(was {w['rss_before_mb']:.0f} MB before)",
            file=file,
        )
    p = r["parts"]
    print(
        f"county parts on the workers: {p['n']}, {p['cpu_s']:.1f} s CPU in all "
        f"({p['cpu_us_per_cell']:.1f} us per res-9 cell), largest {p['largest']} "
        f"{p['largest_cpu_s']:.2f} s",
        file=file,
    )
    print(f"identical to the local engine: {r['identical']}", file=file)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the first 12 counties only")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args(argv)
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(12 if args.quick else None, args.workers, queue))
    proc.start()
    status, got = queue.get()
    proc.join()
    if status != "ok":
        raise SystemExit(f"bench_dask failed:\n{got}")
    report(got)
    if args.json:
        args.json.write_text(json.dumps(got, indent=2))
    if not got["identical"]:
        raise SystemExit("the Dask engine's street level differs from the local engine's")
    return got


if __name__ == "__main__":
    main()
