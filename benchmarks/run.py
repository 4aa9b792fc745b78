"""All hot stages on synthetic national data, each against a reference measured in the same run.

Data come from :mod:`equity.synthetic` (generated in memory, never stored). Each stage runs in
its own forked process, so its peak memory is its own: ``peak MB`` is the growth of the
process's peak resident set (``getrusage`` ``ru_maxrss``) during the measured calls, over its
size once the inputs were built. ``ratio`` is reference time / our time (above 1: we are
faster) unless the notes say otherwise.

Stages (full size; ``--quick`` uses about 1/20 of it):

``load``
    240,000 block groups written as an ACS-format CSV (119 columns), read by
    :func:`equity.sources.read_acs` (sentinels, flags, GEOID checks) against plain
    ``pandas.read_csv``.
``street``
    a state-sized subset (5,000 block groups of the densest counties) spread onto H3 cells by
    :func:`equity.geographies.street_grid` (area weights) against
    ``tobler.area_weighted.area_interpolate`` on the same cells (tobler is given the cells).
``tiles``
    5,000,000 zoom-16 Ookla tiles onto the 3,200 counties by
    :func:`equity.geographies.ookla_to_polygons` (area shares, and by centroid) against a
    geopandas ``sjoin`` of tile centroids + ``groupby`` (the centroid method's reference).
``index``
    :func:`equity.index.compute_index` on 85,000 tracts with 1,000 draws against the per-draw
    pandas loop of ``bench_index.py``, timed on ``--baseline-draws`` draws and extrapolated
    linearly to 1,000 (said in the output); plus the growth of our time with size (1/20, 1/5
    and 1x of the tracts; 1/400, 1/100, 1/20 in quick mode).
``placement``
    coverage placement: exact MCLP (:func:`equity.placement.solve_mclp`, CBC) against
    :func:`equity.placement.greedy_coverage` on county-level demand (3,200 counties) and one
    candidate site per county (its neediest tract), k = 50, R = 100 km. The ratio is the
    covered need-weighted population, MCLP / greedy (>= 1).
``maps``
    :func:`equity.maps.choropleth` + :func:`equity.maps.save_map` of the national counties
    against folium ``GeoJson`` with a per-feature ``style_function``: write time and size.

Run::

    python benchmarks/run.py --quick                  # about 1/20 of the sizes, < 2 minutes
    python benchmarks/run.py                          # national sizes
    python benchmarks/run.py --stages index,placement # some stages
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from equity import synthetic  # noqa: E402

STAGES = ("load", "street", "tiles", "index", "placement", "maps")
FULL = {
    "counties": 3200,
    "street_bgs": 5000,
    "tiles": 5_000_000,
    "draws": 1000,
    "baseline_draws": 3,
}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Meter:
    """Wall time and peak-RSS growth of one measured call."""

    seconds: float = 0.0
    peak_mb: float = 0.0


def measured(fn: Callable, *args: object, **kwargs: object) -> tuple[object, _Meter]:
    """``fn(*args, **kwargs)`` in a forked process: its result, wall time and peak memory.

    A forked process starts with its peak resident set equal to its current size (the inputs),
    so the growth of ``ru_maxrss`` during the call is the call's own peak, whatever the
    parent's peak was while building the inputs. The result comes back pickled (not timed).
    """
    ctx = mp.get_context("fork")
    queue = ctx.Queue()

    def work() -> None:  # pragma: no cover - child process
        try:
            rss0 = _rss_mb()
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            seconds = time.perf_counter() - t0
            queue.put(("ok", (out, seconds, max(0.0, _rss_mb() - rss0))))
        except BaseException:
            queue.put(("error", traceback.format_exc()))

    proc = ctx.Process(target=work)
    proc.start()
    status, result = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{getattr(fn, '__name__', fn)} failed:\n{result}")
    out, m = result[0], _Meter()
    m.seconds, m.peak_mb = result[1], result[2]
    return out, m


def _tables(scale: float, seed: int, *, geometry: bool = True) -> dict:
    return synthetic.national_tables(
        n_counties=max(4, round(FULL["counties"] * scale)), seed=seed, geometry=geometry
    )


def _row(stage: str, size: str, ours: _Meter, ref_name: str, ref: _Meter | float,
         ratio: float | None, notes: str = "") -> dict:  # fmt: skip
    ref_s = ref.seconds if isinstance(ref, _Meter) else ref
    return {
        "stage": stage,
        "size": size,
        "time_s": round(ours.seconds, 3),
        "peak_mb": round(ours.peak_mb),
        "reference": ref_name,
        "reference_s": round(ref_s, 3),
        "reference_peak_mb": round(ref.peak_mb) if isinstance(ref, _Meter) else None,
        "ratio": None if ratio is None else round(ratio, 3),
        "notes": notes,
    }


# --------------------------------------------------------------------------- stages


def stage_load(scale: float, seed: int) -> list[dict]:
    from equity.sources import read_acs

    bg = _tables(scale, seed, geometry=False)["blockgroup"]
    acs = synthetic.acs_table(bg)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "acs2021_5yr_synthetic_blockgroup.csv"
        t = time.perf_counter()
        acs.to_csv(path, index=False)
        t_write = time.perf_counter() - t
        mb = path.stat().st_size / 2**20
        del acs, bg
        n_ours, ours = measured(lambda: len(read_acs(path)))
        shape, ref = measured(lambda: pd.read_csv(path, dtype={"GEOID": str}).shape)
    assert n_ours == shape[0]
    size = f"{shape[0]:,} BGs x {shape[1] - 1} cols, {mb:.0f} MB CSV"
    notes = f"CSV write {t_write:.1f} s; read_acs parses sentinels, flags, GEOIDs"
    return [_row("load", size, ours, "pandas.read_csv", ref, ref.seconds / ours.seconds, notes)]


def stage_street(scale: float, seed: int) -> list[dict]:
    import shapely
    from tobler.area_weighted import area_interpolate

    from equity import geographies as geo

    # block groups of the national-size nation (state-sized subsets keep their real size)
    bg = _tables(1.0, seed)["blockgroup"]
    target = max(50, round(FULL["street_bgs"] * scale))
    # the densest counties first (smallest block groups), the first `target` block groups
    area = pd.Series(shapely.area(bg.geometry.to_numpy()), index=bg.index)  # degrees2: order only
    mean_area = area.groupby(bg["county_GEOID"]).transform("mean")
    order = np.lexsort((bg["GEOID"].to_numpy(), mean_area.to_numpy()))[:target]
    sub = bg.iloc[np.sort(order)].reset_index(drop=True)
    del bg, area, mean_area
    counts = ["households", "hh_no_internet"]
    sub = sub[["GEOID", *counts, *[f"moe_{c}" for c in counts], "geometry"]]
    cells, ours = measured(
        lambda: geo.street_grid(sub, counts=counts, drop_empty=False)[0][
            ["GEOID", *counts, "geometry"]
        ]
    )
    src = sub.to_crs(6933)
    tgt = cells[["GEOID", "geometry"]].to_crs(6933)
    ref_out, ref = measured(lambda: area_interpolate(src, tgt, extensive_variables=counts)[counts])
    diff = float(np.max(np.abs(cells["households"].to_numpy() - ref_out["households"].to_numpy())))
    rel = diff / float(ref_out["households"].max())
    km2 = src.area.sum() / 1e6
    size = f"{len(sub):,} BGs ({km2:,.0f} km2) -> {len(cells):,} H3 cells"
    notes = f"tobler given the cells; max rel diff {rel:.1e} (tobler float32 table)"
    return [_row("street", size, ours, "tobler.area_interpolate", ref, ref.seconds / ours.seconds,
                 notes)]  # fmt: skip


def stage_tiles(scale: float, seed: int) -> list[dict]:
    import geopandas as gpd

    from equity import geographies as geo

    counties = _tables(scale, seed)["county"][["GEOID", "geometry"]]
    n = max(10_000, round(FULL["tiles"] * scale))
    t = time.perf_counter()
    tiles = synthetic.synthetic_tiles(n, seed=seed)
    t_gen = time.perf_counter() - t
    out, ours = measured(geo.ookla_to_polygons, tiles, counties)
    by_cen, cen = measured(geo.ookla_to_polygons, tiles, counties, method="centroid")

    def reference() -> pd.Series:
        pts = gpd.GeoDataFrame(tiles[["tests"]], geometry=tiles.centroid, crs=4326)
        joined = gpd.sjoin(pts, counties, predicate="intersects")
        return joined[~joined.index.duplicated()].groupby("GEOID")["tests"].sum()

    ref_out, ref = measured(reference)
    got = by_cen.set_index("GEOID")["ookla_tests"].reindex(ref_out.index)
    diff = float(np.max(np.abs(got - ref_out)))
    kept = (out["ookla_tests"].sum() + out.attrs.get("ookla_tests_outside", 0)) / tiles[
        "tests"
    ].sum()
    size = f"{len(tiles):,} tiles -> {len(counties):,} counties"
    return [
        _row("tiles (area shares)", size, ours, "sjoin centroids + groupby", ref,
             ref.seconds / ours.seconds,
             f"tiles generated in {t_gen:.1f} s; tests conserved x{kept:.6f}"),
        _row("tiles (centroid)", size, cen, "sjoin centroids + groupby", ref,
             ref.seconds / cen.seconds, f"max abs diff of tests vs reference {diff:g}"),
    ]  # fmt: skip


def _index_table(scale: float, seed: int) -> pd.DataFrame:
    from equity import indicators as ind_mod

    tract = _tables(scale, seed, geometry=False)["tract"]
    return ind_mod.compute_indicators(tract)


def stage_index(scale: float, seed: int, draws: int, baseline_draws: int) -> list[dict]:
    import bench_index

    from equity.index import compute_index

    table = _index_table(scale, seed)
    kw = {"weights": bench_index.EXTRA_WEIGHTS, "n_draws": draws, "seed": 1}
    _, ours = measured(lambda: len(compute_index(table, **kw)))
    _, ref = measured(
        lambda: bench_index.baseline_loop(table, n_draws=baseline_draws, seed=1).shape
    )
    per_draw = ref.seconds / baseline_draws
    ref.seconds = per_draw * draws
    size = f"{len(table):,} tracts x {draws:,} draws"
    notes = (f"reference timed on {baseline_draws} draws ({per_draw:.3f} s/draw), "
             f"extrapolated linearly to {draws:,}; its peak is of those draws")  # fmt: skip
    return [_row("index", size, ours, "per-draw pandas loop", ref, ref.seconds / ours.seconds,
                 notes)]  # fmt: skip


def stage_index_growth(scales: list[float], seed: int, draws: int) -> list[dict]:
    from bench_index import EXTRA_WEIGHTS

    from equity.index import compute_index

    rows = []
    for s in scales:
        table = _index_table(s, seed)
        _, m = measured(
            lambda t=table: len(compute_index(t, weights=EXTRA_WEIGHTS, n_draws=draws, seed=1))
        )
        rows.append({"tracts": len(table), "draws": draws, "time_s": round(m.seconds, 3),
                     "peak_mb": round(m.peak_mb)})  # fmt: skip
    return rows


def stage_placement(scale: float, seed: int, k: int = 50, radius_km: float = 100.0) -> list[dict]:
    from equity.placement import coverage_matrix, greedy_coverage, haversine_km, solve_mclp

    t = _tables(scale, seed, geometry=False)
    county, tract = t["county"], t["tract"]
    need = np.clip(county["hh_no_internet"] / county["households"], 0, 1).to_numpy()
    weights = county["population"].to_numpy() * need
    demand = county[["lon", "lat"]].to_numpy()
    share = tract["hh_no_internet"] / tract["households"]
    best = share.groupby(tract["county_GEOID"]).idxmax().reindex(county["GEOID"])
    sites = tract.loc[best.to_numpy(), ["lon", "lat"]].to_numpy()
    k = min(k, max(1, len(sites) // 4))

    def exact() -> np.ndarray:
        cost = haversine_km(
            demand[:, None, 0], demand[:, None, 1], sites[None, :, 0], sites[None, :, 1]
        )
        return solve_mclp(cost, weights, radius_km=radius_km, k=k)

    def greedy() -> np.ndarray:
        cov = coverage_matrix(demand, sites, radius_km=radius_km)
        return greedy_coverage(cov, weights, k=k)

    chosen, ours = measured(exact)
    picked, ref = measured(greedy)
    cov = coverage_matrix(demand, sites, radius_km=radius_km)
    c_opt = weights[cov[:, chosen].any(axis=1)].sum()
    c_greedy = weights[cov[:, picked].any(axis=1)].sum()
    size = f"{len(demand):,} demand x {len(sites):,} sites, k={k}, R={radius_km:g} km"
    notes = (f"ratio = covered need, MCLP / greedy (times include the distance/coverage "
             f"matrix); MCLP covers {c_opt / weights.sum():.2%}, greedy "
             f"{c_greedy / weights.sum():.2%}")  # fmt: skip
    return [_row("placement", size, ours, "greedy_coverage", ref, c_opt / c_greedy, notes)]


def stage_maps(scale: float, seed: int) -> list[dict]:
    import folium

    from equity import maps

    county = _tables(scale, seed)["county"]
    county["equity_index"] = (
        100 * (county["hh_no_internet"] / county["households"]).rank(pct=True)
    ).round(1)
    with tempfile.TemporaryDirectory() as tmp:

        def ours_map(self_contained: bool) -> int:
            m = maps.choropleth(county, "equity_index", title="Synthetic counties")
            name = "counties.html" if self_contained else "light.html"
            return maps.save_map(m, Path(tmp) / name, self_contained=self_contained).stat().st_size

        def reference() -> int:
            colors = maps._palette_colors(None, 5)
            classes, _ = maps._classify(county["equity_index"], scheme="quantiles", k=5)
            ref_table = county[["NAME", "equity_index", "geometry"]].assign(_c=classes)
            m = folium.Map(tiles=None, location=[37, -96], zoom_start=4)
            folium.GeoJson(
                ref_table,
                style_function=lambda f: {
                    "fillColor": colors[f["properties"]["_c"]],
                    "weight": 0.2,
                    "fillOpacity": 0.8,
                },
                tooltip=folium.GeoJsonTooltip(["NAME", "equity_index"]),
            ).add_to(m)
            path = Path(tmp) / "reference.html"
            m.save(str(path))
            return path.stat().st_size

        size_ours, ours = measured(ours_map, True)
        size_light, light = measured(ours_map, False)
        size_ref, ref = measured(reference)
    mb = 2**20
    size = f"{len(county):,} counties: {size_ours / mb:.2f} MB vs {size_ref / mb:.2f} MB"
    notes = (f"size ratio reference/ours {size_ref / size_ours:.2f}x (ours inlines Leaflet and "
             f"its runtime; the reference links CDNs); ours with CDN scripts "
             f"(self_contained=False) {size_light / mb:.2f} MB in {light.seconds:.2f} s: "
             f"size ratio {size_ref / size_light:.2f}x")  # fmt: skip
    return [_row("maps", size, ours, "folium GeoJson style_function", ref,
                 ref.seconds / ours.seconds, notes)]  # fmt: skip


# --------------------------------------------------------------------------- running


def _child(target: Callable, args: tuple, queue: mp.Queue) -> None:  # pragma: no cover
    try:
        queue.put(("ok", target(*args)))
    except BaseException:
        queue.put(("error", traceback.format_exc()))


def in_child(target: Callable, *args: object) -> list[dict]:
    """Run `target(*args)` in a forked process (its peak memory its own); its rows."""
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(target, args, queue))
    proc.start()
    status, result = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{target.__name__} failed:\n{result}")
    return result


def _fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"
    return str(v)


def print_table(rows: list[dict], columns: list[str], *, file=None) -> None:
    """Rows as an aligned text table."""
    file = file or sys.stdout
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(columns)]
    print("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=file)
    for x in cells:
        print("  ".join(v.ljust(w) for v, w in zip(x, widths, strict=True)), file=file)
    file.flush()


def run(
    stages: list[str],
    *,
    scale: float,
    seed: int,
    draws: int,
    baseline_draws: int,
    growth_scales: list[float] | None,
    file=None,
) -> dict[str, list[dict]]:
    """Run the stages (each in a child process), print the tables, return the rows."""
    file = file or sys.stdout
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        msg = f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}"
        raise ValueError(msg)
    t = time.perf_counter()
    tables = synthetic.national_tables(
        n_counties=max(4, round(FULL["counties"] * scale)), seed=seed
    )
    plural = {"county": "counties"}
    sizes = ", ".join(f"{len(v):,} {plural.get(k, k + 's')}" for k, v in tables.items())
    print(f"synthetic nation (scale {scale:g}): {sizes}; generated with geometry in "
          f"{time.perf_counter() - t:.1f} s", file=file)  # fmt: skip
    del tables
    calls: dict[str, tuple] = {
        "load": (stage_load, scale, seed),
        "street": (stage_street, scale, seed),
        "tiles": (stage_tiles, scale, seed),
        "index": (stage_index, scale, seed, draws, baseline_draws),
        "placement": (stage_placement, scale, seed),
        "maps": (stage_maps, scale, seed),
    }
    rows: list[dict] = []
    columns = ["stage", "size", "time_s", "peak_mb", "reference", "reference_s",
               "reference_peak_mb", "ratio"]  # fmt: skip
    for name in [s for s in STAGES if s in stages]:
        t = time.perf_counter()
        got = in_child(*calls[name])
        rows.extend(got)
        print(f"[{name}: {time.perf_counter() - t:.1f} s with data generation]", file=file)
        print_table(got, columns, file=file)
        for r in got:
            if r["notes"]:
                print(f"  note ({r['stage']}): {r['notes']}", file=file)
    print("\nsummary (ratio = reference time / our time unless noted):", file=file)
    print_table(rows, columns, file=file)
    out = {"stages": rows}
    if growth_scales and "index" in stages:
        growth = in_child(stage_index_growth, growth_scales, seed, draws)
        print("\ncost growth with size: compute_index", file=file)
        base = growth[0]
        for g in growth:
            g["time_per_tract_us"] = round(1e6 * g["time_s"] / g["tracts"], 2)
            g["size_x"] = round(g["tracts"] / base["tracts"], 1)
            g["time_x"] = round(g["time_s"] / base["time_s"], 1)
        print_table(growth, ["tracts", "draws", "time_s", "peak_mb", "time_per_tract_us",
                             "size_x", "time_x"], file=file)  # fmt: skip
        out["growth"] = growth
    return out


def main(argv: list[str] | None = None) -> dict[str, list[dict]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1/20 of the national sizes")
    parser.add_argument("--scale", type=float, default=None, help="explicit size factor")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated stages")
    parser.add_argument("--draws", type=int, default=FULL["draws"])
    parser.add_argument("--baseline-draws", type=int, default=FULL["baseline_draws"])
    parser.add_argument("--no-growth", action="store_true", help="skip the size-growth table")
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args(argv)
    scale = args.scale if args.scale is not None else (0.05 if args.quick else 1.0)
    growth = None if args.no_growth else [scale / 20, scale / 5, scale]
    return run(
        [s.strip() for s in args.stages.split(",") if s.strip()],
        scale=scale,
        seed=args.seed,
        draws=args.draws,
        baseline_draws=args.baseline_draws,
        growth_scales=growth,
    )


if __name__ == "__main__":
    main()
