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
    a state-sized subset (5,000 block groups of the densest counties) onto the street level by
    :func:`equity.geographies.street_level` as ``equity run`` builds it (county by county,
    H3 resolution 9, household floor of 5; area weights, since the subset has no blocks or
    tiles) against ``tobler.area_weighted.area_interpolate`` on the same units (tobler is
    given our units: cells and pooled parents), tobler with its own ``h3fy`` cells, and the
    previous whole-state :func:`equity.geographies.street_grid` (all resolution-9 cells).
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
``county_run``
    the national county run end to end, step by step, with the functions the pipeline calls
    (:func:`equity.pipeline.build_levels` and :func:`equity.pipeline.run` for one level):
    240,000 block groups summed to 3,200 counties (:func:`equity.geographies.aggregate`,
    polygons and county context joined), :func:`equity.indicators.compute_indicators`,
    :func:`equity.index.compute_index` with 1,000 draws, :func:`equity.hotspots.local_hotspots`,
    :func:`equity.placement.rank_candidates` (``top``, k = 1 per state), the level table and
    :func:`equity.export.write_candidates` (csv, xlsx, geojson), and
    :func:`equity.maps.run_maps` for the county level (HTML + PNG + candidates page). Ookla
    speeds come pre-summarised with the synthetic counties: raw tiles onto counties is the
    ``tiles`` stage (its time is added in a note when both run). Coverage-mode placement is
    timed too, outside the total. Reference: the same run with the index computed by the
    per-draw pandas loop of ``bench_index.py`` (preset indicators only, as the run), timed on
    ``--baseline-draws`` draws and extrapolated to 1,000; the other steps count at our time.
    Target (issue #9): under 30 s at the national size. Also at 1/20 and 1/5 of the nation.
``state_street``
    one state's street level end to end: a Virginia-sized synthetic state (133 counties,
    2,198 tracts, 5,963 block groups over about 110,000 km2, about a million H3 cells, as
    Virginia) with 50,000 synthetic Ookla tiles (``STATE_TILES``: about twice Virginia's at
    the per-person rate of the real Hawaii quarter in ``../shared/data``), the steps of
    ``equity run`` (``equity/pipeline/street.py`` and ``levels.py``):
    :func:`equity.geographies.street_level` with the run's defaults (resolution, the tiles as
    ancillary layer by ``devices``, household floor; county by county), the tiles' area
    shares of the ranked units (:func:`equity.geographies.ookla_to_polygons`, as the
    pipeline does), county context, indicators and :func:`equity.index.compute_index` with
    the configured default draws (:data:`equity.settings.n_draws`) on the ranked units, the
    level table with the unranked units appended (GeoParquet) and the street map
    (:func:`equity.maps.run_maps`: the 50,000 units of greatest need, HTML + PNG).
    Reference: the same run with the index by the per-draw pandas loop (extrapolated as
    above); the street level against tobler is the ``street`` stage. Target (issue #20,
    item 3): under 45 s and 2.5 GB peak resident memory (the process's, inputs included)
    for the Virginia-sized state. Also at 1/20 and 1/5 of it (block groups, area and tiles
    scaled together).

``dask_street``
    the Virginia-sized synthetic state of ``state_street`` (with its tiles) onto the street
    level (:func:`equity.geographies.street_level`, H3 resolution 9) on a 2-worker
    ``distributed.LocalCluster`` (:class:`equity.engine.DaskEngine`: the workers build the
    county pieces, the client combines them) against the local engine, in the same process;
    the results must be exactly equal. ``peak MB`` is the client's; the workers' CPU and
    peaks are in the notes (``bench_dask.py`` runs the same comparison on real Virginia).
    On a 2-core machine the ratio is at best about 2 and falls when other jobs share it.

The ``index`` stage prints issue #9's target (national tract index with 1,000 draws under
60 s) with its peak memory. Unless ``--no-growth``, ``index``, ``county_run`` and
``state_street`` are also measured at 1/20 and 1/5 of their size (of the nation, or of the
Virginia-sized state) for a cost-growth table. ``county_run`` and ``state_street`` time each
step in one child process; ``peak MB`` of a step is the highest resident set during the step
above the process's size when the run started (``/proc/self/clear_refs`` resets the peak at
each step; elsewhere ``ru_maxrss`` growth, cumulative).

Run::

    python benchmarks/run.py --quick                  # about 1/20 of the sizes, < 2 minutes
    python benchmarks/run.py                          # national sizes
    python benchmarks/run.py --stages index,placement # some stages
    python benchmarks/run.py --markdown perf.md       # also the tables as Markdown (atomic)
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing as mp
import os
import platform
import resource
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from equity import synthetic  # noqa: E402

STAGES = ("load", "street", "tiles", "index", "placement", "maps", "county_run", "state_street",
          "dask_street")  # fmt: skip
FULL = {
    "counties": 3200,
    "tracts": 85_000,
    "street_bgs": 5000,
    "tiles": 5_000_000,
    "draws": 1000,
    "baseline_draws": 3,
}
#: Acceptance (issues #9 and #20): stage -> (seconds, peak MB or None, what it is about).
#: A peak target is on the process's whole resident set (inputs included), as a user sees it.
TARGETS: dict[str, tuple[float, float | None, str]] = {
    "index": (60.0, None, "national tract index with 1,000 draws"),
    "county_run": (30.0, None, "national county run (index, placement, map)"),
    "state_street": (45.0, 2500.0, "street level of a Virginia-sized state (#20.3)"),
}
#: Processes of the street level's county parts and of the maps in ``street_run``, as
#: ``equity run``'s default ``[run] workers``.
WORKERS = 2
#: Virginia's size (2020 Census geography): the state of the ``state_street`` stage.
VIRGINIA = {"counties": 133, "tracts": 2198, "blockgroups": 5963, "km2": 110_000.0}
STATE_CENTRE = (-78.7, 37.8)  # lon, lat of the synthetic state's centre
#: Synthetic Ookla tiles over the full-size state. The bundled real Hawaii quarter has 4,292
#: fixed tiles for 1.46 M people; at that rate Virginia (8.6 M) would have about 25,000: twice
#: that errs on the heavy side (more tiles: more populated cells and more tile pieces).
STATE_TILES = 50_000
MEDIANS = {"median_household_income": "households"}
H3_KM2 = 0.1053  # mean area of an H3 resolution-9 cell (km2), for the size label only


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Meter:
    """Wall time and peak-RSS growth of one measured call."""

    seconds: float = 0.0
    peak_mb: float = 0.0
    cpu_s: float | None = None


def _trim() -> None:
    """Give memory that malloc and Arrow hold free back to the system, so it counts as new.

    Otherwise a call reuses (and hides) memory freed while its inputs were built, or the
    allocators return it during the call and offset the call's own growth.
    """
    if "pyarrow" in sys.modules:
        with contextlib.suppress(Exception):
            sys.modules["pyarrow"].default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def measured(fn: Callable, *args: object, **kwargs: object) -> tuple[object, _Meter]:
    """``fn(*args, **kwargs)`` in a forked process: its result, wall time and peak memory.

    The child first returns the memory malloc holds free (inherited from building the inputs)
    to the system, since reusing it would hide the call's allocations; then its peak resident
    set is reset (``/proc/self/clear_refs``; elsewhere ``ru_maxrss`` growth) so that the peak
    above its size is the call's own. The result comes back pickled (not timed).
    """
    ctx = mp.get_context("fork")
    queue = ctx.Queue()

    def work() -> None:  # pragma: no cover - child process
        try:
            _trim()
            exact = _reset_peak()
            rss0 = (_status_mb("VmRSS") or 0.0) if exact else _rss_mb()
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn(*args, **kwargs)
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            peak = (_status_mb("VmHWM") or 0.0) if exact else _rss_mb()
            queue.put(("ok", (out, seconds, max(0.0, peak - rss0), cpu)))
        except BaseException:
            queue.put(("error", traceback.format_exc()))

    proc = ctx.Process(target=work)
    proc.start()
    status, result = queue.get()
    proc.join()
    if status != "ok":
        raise RuntimeError(f"{getattr(fn, '__name__', fn)} failed:\n{result}")
    out, m = result[0], _Meter()
    m.seconds, m.peak_mb, m.cpu_s = result[1], result[2], result[3]
    return out, m


def _status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` field (``VmRSS``, ``VmHWM``) in MB; None where unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _reset_peak() -> bool:
    """Reset the process's peak resident set to its current size (Linux >= 4.0)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _status_mb("VmHWM") is not None


class _Clock:
    """Wall time, CPU time and peak memory of each step of a run, in the current process.

    A step's ``peak_mb`` is the highest resident set during the step above the size of the
    process when the clock started (the peak is reset at each step's start). Where the peak
    cannot be reset, ``ru_maxrss`` growth is used (then cumulative, and only meaningful in a
    fresh forked process). Steps with ``in_total=False`` are reported apart from the total.
    """

    def __init__(self) -> None:
        self.exact = _reset_peak()
        self.base = _status_mb("VmRSS") if self.exact else _rss_mb()
        self.steps: list[dict] = []

    def _peak(self) -> float:
        now = _status_mb("VmHWM") if self.exact else _rss_mb()
        return max(0.0, (now or 0.0) - (self.base or 0.0))

    @contextlib.contextmanager
    def __call__(self, name: str, *, in_total: bool = True):
        if self.exact:
            _reset_peak()
        t, cpu = time.perf_counter(), time.process_time()
        yield
        seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        self.steps.append({"step": name, "time_s": seconds, "cpu_s": cpu, "peak_mb": self._peak(),
                           "in_total": in_total})  # fmt: skip

    def total(self, key: str = "time_s") -> float:
        return sum(s[key] for s in self.steps if s["in_total"])

    def peak(self) -> float:
        return max((s["peak_mb"] for s in self.steps if s["in_total"]), default=0.0)


def _target(stage: str, seconds: float, at_size: bool, rss_mb: float | None = None) -> str:
    """The target of `stage`: met / NOT met, or that this run is not at its size.

    `rss_mb` is the process's peak resident set (inputs included), checked against the
    stage's memory target when it has one.
    """
    limit, mb, _ = TARGETS[stage]
    text = f"< {limit:g} s" + (f" and < {mb / 1000:g} GB" if mb is not None else "")
    if not at_size:
        return f"{text} (applies at full size only)"
    met = seconds < limit and (mb is None or (rss_mb is not None and rss_mb < mb))
    return f"{text}: {'met' if met else 'NOT met'}"


def _fractions(scale: float, growth_scales: list[float] | None) -> list[float]:
    """Sizes of a growth table as fractions of `scale` (always ending with 1)."""
    if not growth_scales:
        return [1.0]
    return sorted({round(g / scale, 6) for g in growth_scales if 0 < g <= scale} | {1.0})


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
        "reference_peak_mb": (
            round(ref.peak_mb) if isinstance(ref, _Meter) and ref.peak_mb is not None else None
        ),
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


def _street_subset(scale: float, seed: int) -> pd.DataFrame:
    """Block groups of the densest national counties (state-sized, of their real size)."""
    import shapely

    bg = _tables(1.0, seed)["blockgroup"]
    target = max(50, round(FULL["street_bgs"] * scale))
    # the densest counties first (smallest block groups), the first `target` block groups
    area = pd.Series(shapely.area(bg.geometry.to_numpy()), index=bg.index)  # degrees2: order only
    mean_area = area.groupby(bg["county_GEOID"]).transform("mean")
    order = np.lexsort((bg["GEOID"].to_numpy(), mean_area.to_numpy()))[:target]
    sub = bg.iloc[np.sort(order)].reset_index(drop=True)
    counts = ["households", "hh_no_internet"]
    return sub[["GEOID", *counts, *[f"moe_{c}" for c in counts], "geometry"]]


def _street_options() -> dict:
    """The street-level options ``equity run`` uses by default (``equity/pipeline/street.py``)."""
    from equity.config import Config

    cfg = Config()
    return {"resolution": cfg.grid_resolution, "weight_column": cfg.grid_weight,
            "min_households": cfg.grid_min_households}  # fmt: skip


def stage_street(scale: float, seed: int) -> list[dict]:
    from tobler.area_weighted import area_interpolate

    from equity import geographies as geo

    sub = _street_subset(scale, seed)
    counts = ["households", "hh_no_internet"]
    opts = _street_options()
    got, ours = measured(
        lambda: geo.street_level(sub, counts=counts, **opts)[0][
            ["GEOID", "ranked", "n_cells", *counts, "geometry"]
        ]
    )
    units = cast(pd.DataFrame, got)
    src = sub.to_crs(6933)
    tgt = units[["GEOID", "geometry"]].to_crs(6933)
    ref_out, ref = measured(lambda: area_interpolate(src, tgt, extensive_variables=counts)[counts])
    diff = float(np.max(np.abs(units["households"].to_numpy() - ref_out["households"].to_numpy())))
    rel = diff / float(ref_out["households"].max())
    km2 = src.area.sum() / 1e6
    pooled = int((units["n_cells"] > 1).sum())
    size = (
        f"{len(sub):,} BGs ({km2:,.0f} km2) -> {len(units):,} units "
        f"({int(units['n_cells'].sum()):,} res-{opts['resolution']} cells, {pooled:,} pools)"
    )
    notes = (f"street_level (area weights, floor {opts['min_households']:g} households, "
             f"{int(units['ranked'].sum()):,} units ranked); tobler given our units; max rel "
             f"diff {rel:.1e} (tobler float32 table)")  # fmt: skip

    def tobler_own_cells() -> tuple[int, float]:
        # what a tobler user writes: its own H3 cells (h3fy), then area interpolation
        from tobler.util import h3fy

        hexes = h3fy(sub[["geometry"]], resolution=opts["resolution"], clip=True).to_crs(6933)
        out = area_interpolate(sub.to_crs(6933), hexes, extensive_variables=counts)
        return len(out), float(out["households"].sum())

    (n_hex, total), own = measured(tobler_own_cells)
    own_notes = (f"tobler's h3fy cells ({n_hex:,}, clipped) + area_interpolate; households "
                 f"{total:,.0f} against ours {units['households'].sum():,.0f}")  # fmt: skip

    def previous_grid() -> tuple[int, float]:
        cells = geo.street_grid(sub, counts=counts, resolution=opts["resolution"])[0]
        return len(cells), float(cells["households"].sum())

    old_got, old = measured(previous_grid)
    n_old, old_total = cast(tuple[int, float], old_got)
    old_notes = (f"the previous whole-state grid: {n_old:,} cells, no floor, households "
                 f"{old_total:,.0f}")  # fmt: skip
    cpu = f"CPU ours {ours.cpu_s or 0:.1f} s, "
    notes = f"{cpu}tobler {ref.cpu_s or 0:.1f} s; {notes}"
    own_notes = f"{cpu}tobler {own.cpu_s or 0:.1f} s; {own_notes}"
    old_notes = f"{cpu}street_grid {old.cpu_s or 0:.1f} s; {old_notes}"
    return [_row("street", size, ours, "tobler h3fy + area_interpolate", own,
                 own.seconds / ours.seconds, own_notes),
            _row("street", size, ours, "tobler.area_interpolate on our units", ref,
                 ref.seconds / ours.seconds, notes),
            _row("street", size, ours, "previous street_grid (whole state)", old,
                 old.seconds / ours.seconds, old_notes)]  # fmt: skip


def stage_tiles(scale: float, seed: int) -> list[dict]:
    import bench_geographies as bg

    from equity import geographies as geo

    counties = _tables(scale, seed)["county"][["GEOID", "geometry"]]
    n = max(10_000, round(FULL["tiles"] * scale))
    t = time.perf_counter()
    tiles = synthetic.synthetic_tiles(n, seed=seed)
    t_gen = time.perf_counter() - t
    out, ours = measured(geo.ookla_to_polygons, tiles, counties)
    by_cen, cen = measured(geo.ookla_to_polygons, tiles, counties, method="centroid")
    ref_out, ref = measured(bg.sjoin_centroid_tests, tiles, counties)
    got = by_cen.set_index("GEOID")["ookla_tests"].reindex(ref_out.index)
    diff = float(np.max(np.abs(got - ref_out)))
    kept = (out["ookla_tests"].sum() + out.attrs.get("ookla_tests_outside", 0)) / tiles[
        "tests"
    ].sum()
    size = f"{len(tiles):,} tiles -> {len(counties):,} counties"
    rows = [
        _row("tiles (area shares)", size, ours, "sjoin centroids + groupby", ref,
             ref.seconds / ours.seconds,
             f"tiles generated in {t_gen:.1f} s; tests conserved x{kept:.6f}"),
        _row("tiles (centroid)", size, cen, "sjoin centroids + groupby", ref,
             ref.seconds / cen.seconds, f"max abs diff of tests vs reference {diff:g}"),
    ]  # fmt: skip
    if not bg.duckdb_available():
        rows[0]["notes"] += "; duckdb spatial not installed (pip install duckdb==1.5.5 "
        rows[0]["notes"] += "duckdb-extension-spatial==1.5.5): no DuckDB reference"
        return rows
    tables = bg.duckdb_tables(tiles, counties)
    ours_tests = {"area": out, "centroid": by_cen}
    for method, meter in (("area", ours), ("centroid", cen)):
        (got_db, query_s), db = measured(bg.duckdb_tile_tests, *tables, method=method)
        db.seconds = query_s
        mine = ours_tests[method].set_index("GEOID")["ookla_tests"]
        rel = float(
            ((got_db.reindex(mine.index).fillna(0.0) - mine).abs() / mine.clip(lower=1)).max()
        )
        label = "area shares" if method == "area" else "centroid"
        rows.append(_row(f"tiles ({label})", size, meter, "duckdb spatial join + group by", db,
                         db.seconds / meter.seconds,
                         f"DuckDB {method} query on loaded tables (2 threads; peak includes "
                         f"loading); max rel diff of tests vs ours {rel:.1e}"
                         + (" (planar lon/lat areas)" if method == "area" else "")))  # fmt: skip
    return rows


def _index_table(scale: float, seed: int) -> pd.DataFrame:
    from equity import indicators as ind_mod

    tract = _tables(scale, seed, geometry=False)["tract"]
    return ind_mod.compute_indicators(tract)


def stage_index(scale: float, seed: int, draws: int, baseline_draws: int) -> list[dict]:
    import bench_index

    from equity.index import compute_index

    table = _index_table(scale, seed)
    kw = {"weights": bench_index.EXTRA_WEIGHTS, "n_draws": draws, "seed": 1}
    got, ours = measured(lambda: compute_index(table, **kw)["equity_index"].to_numpy())
    base, ref = measured(
        lambda: np.median(bench_index.numpy_baseline(table, n_draws=draws, seed=1), axis=1)
    )
    size = f"{len(table):,} tracts x {draws:,} draws"
    corr = float(np.corrcoef(got, base)[0, 1])
    notes = (f"reference: the same model written straightforwardly in NumPy, vectorised over "
             f"places and draws (bench_index.numpy_baseline, all {draws:,} draws); "
             f"corr(its median draw, our index) {corr:.4f}")  # fmt: skip
    row = _row("index", size, ours, "vectorised numpy baseline", ref, ref.seconds / ours.seconds,
               notes)  # fmt: skip
    at_size = len(table) >= FULL["tracts"] and draws >= FULL["draws"]
    row.update(target=_target("index", ours.seconds, at_size), units=len(table), unit="tracts",
               cpu_s=round(ours.cpu_s, 3))  # fmt: skip
    return [row]


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
    import bench_placement

    from equity.placement import coverage_matrix, haversine_km, solve_mclp

    t = _tables(scale, seed, geometry=False)
    county, tract = t["county"], t["tract"]
    need = np.clip(county["hh_no_internet"] / county["households"], 0, 1).to_numpy()
    weights = county["population"].to_numpy() * need
    demand = county[["lon", "lat"]].to_numpy()
    share = tract["hh_no_internet"] / tract["households"]
    best = share.groupby(tract["county_GEOID"]).idxmax().reindex(county["GEOID"])
    sites = tract.loc[best.to_numpy(), ["lon", "lat"]].to_numpy()
    k = min(k, max(1, len(sites) // 4))

    def cost() -> np.ndarray:
        return haversine_km(
            demand[:, None, 0], demand[:, None, 1], sites[None, :, 0], sites[None, :, 1]
        )

    def ours() -> np.ndarray:
        return solve_mclp(cost(), weights, radius_km=radius_km, k=k)

    def reference() -> np.ndarray:
        return bench_placement.spopt_mclp(cost(), weights, radius_km=radius_km, k=k)

    chosen, mine = measured(ours)
    picked, ref = measured(reference)
    cov = coverage_matrix(demand, sites, radius_km=radius_km)
    c_ours = weights[cov[:, chosen].any(axis=1)].sum()
    c_ref = weights[cov[:, picked].any(axis=1)].sum()
    size = f"{len(demand):,} demand x {len(sites):,} sites, k={k}, R={radius_km:g} km"
    notes = (f"both exact (CBC): ours covers {c_ours / weights.sum():.4%} of the need-weighted "
             f"population, spopt {c_ref / weights.sum():.4%} (objective ratio "
             f"{c_ours / c_ref:.6f}); times include the distance matrix")  # fmt: skip
    return [_row("placement", size, mine, "spopt MCLP (CBC)", ref, ref.seconds / mine.seconds,
                 notes)]  # fmt: skip


def stage_maps(scale: float, seed: int) -> list[dict]:
    """A street-level layer loaded in headless Chromium: ours, folium's, geopandas.explore's."""
    sys.path.insert(0, str(HERE.parent / "tests"))
    from _browser import chromium_available

    n = max(2_000, round(50_000 * scale))
    size = f"{n:,} cells in headless Chromium"
    if not chromium_available():
        return [{**_row("maps", size, _Meter(), "folium GeoJson style_function", 0.0, None),
                 "notes": "Chromium or Playwright not available: not measured"}]  # fmt: skip
    import bench_maps
    from test_maps import level_table

    grid = level_table(n, "street", seed=seed, step=0.002)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        built = {}
        for name, make in (("ours", bench_maps.ours_file), ("folium", bench_maps.folium_file),
                           ("explore", bench_maps.explore_file)):  # fmt: skip
            path, meter = measured(make, grid, Path(tmp) / f"{name}.html")
            ready = None if name == "ours" else bench_maps.PATHS_READY
            kw = {"ready": ready} if ready else {}
            load = bench_maps.load_in_chromium(path, **kw)
            built[name] = (path.stat().st_size / 2**20, meter, load)
    mb, build, load = built["ours"]
    ours = _Meter()
    ours.seconds, ours.peak_mb = load, build.peak_mb
    for name, label in (("folium", "folium GeoJson style_function"),
                        ("explore", "geopandas.explore")):  # fmt: skip
        r_mb, r_build, r_load = built[name]
        ref = _Meter()
        ref.seconds, ref.peak_mb = r_load, r_build.peak_mb
        notes = (f"time = page load to first paint; ours {mb:.1f} MB (built in "
                 f"{build.seconds:.1f} s), {name} {r_mb:.1f} MB (built in {r_build.seconds:.1f} s); "
                 f"Leaflet inlined in both (network blocked); peak = building the file")  # fmt: skip
        rows.append(_row("maps", size, ours, label, ref, ref.seconds / ours.seconds, notes))
    return rows


COUNTY_CONTEXT = ("download_mbps", "upload_mbps", "latency_ms", "share_tests_below_25_3",
                  "ookla_tests", "broadband_usage", "broadband_availability")  # fmt: skip


def _count_columns() -> list[str]:
    counts = list(synthetic.COUNT_COLUMNS)
    return [*counts, *[f"moe_{c}" for c in counts], *MEDIANS, *[f"moe_{m}" for m in MEDIANS]]


def _county_inputs(scale: float, seed: int) -> tuple[pd.DataFrame, object, pd.DataFrame]:
    """Block-group counts (no geometry), county polygons and county context of a nation."""
    t = _tables(scale, seed)
    bg = pd.DataFrame(t["blockgroup"][["GEOID", *_count_columns()]])
    county = t["county"]
    polygons = county[["GEOID", "NAME", "geometry"]].copy()
    context = pd.DataFrame(county[["GEOID", *COUNTY_CONTEXT]])
    return bg, polygons, context


def county_run(bg: pd.DataFrame, polygons, context: pd.DataFrame, *, draws: int, seed: int,
               baseline_draws: int, out_dir: Path) -> dict:  # fmt: skip
    """The county level of ``equity run`` step by step (as ``pipeline.build_levels``/``run``).

    Returns the steps (time, peak), the place and candidate counts and, measured after the
    run in the same process, the per-draw pandas loop on the run's indicator table.
    """
    import geopandas as gpd

    from equity import export, geographies, hotspots, index, indicators, maps, placement

    counts = list(synthetic.COUNT_COLUMNS)
    clock = _Clock()
    with clock(f"aggregate {len(bg):,} block groups to counties, join polygons and context"):
        agg = geographies.aggregate(bg, to="county", counts=counts, medians=MEDIANS)
        table = polygons.merge(agg, on="GEOID", how="inner").merge(context, on="GEOID", how="left")
        table["county_GEOID"] = table["GEOID"]
        table = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
    with clock("compute_indicators"):
        ind_table = indicators.compute_indicators(table)
    with clock(f"compute_index ({draws:,} draws)"):
        table = index.compute_index(ind_table, n_draws=draws, seed=seed, top_k=1)
        meta = dict(table.attrs.get("index", {}))
    with clock("local_hotspots (Moran, 999 permutations)"):
        gdf = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
        hs = hotspots.local_hotspots(gdf, seed=seed)
        table = gpd.GeoDataFrame(table.merge(hs, on="GEOID", how="left"), geometry="geometry",
                                 crs="EPSG:4326")  # fmt: skip
        table.attrs["index"] = meta
    with clock("rank_candidates (top, k=1 per state)"):
        cands = placement.rank_candidates(table, mode="top", k=1, seed=seed)
    with clock("write index_county.parquet + candidates csv/xlsx/geojson"):
        export.write_level_tables({"county": table}, out_dir)
        export.write_candidates(cands, out_dir, formats=("csv", "xlsx", "geojson"))
    with clock("run_maps county (HTML + PNG + candidates page)"):
        files = maps.run_maps({"county": table}, cands, out_dir / "maps", provenance=[],
                              title="Synthetic nation")  # fmt: skip
    with clock("rank_candidates (coverage, k=1 per state) [not in total]", in_total=False):
        covered = placement.rank_candidates(table, mode="coverage", k=1, seed=seed)
    return {
        **_staged_record(clock, ind_table, files, baseline_draws=baseline_draws, seed=seed),
        "counties": len(table),
        "states": int(table["state_GEOID"].nunique()),
        "selected": int(cands["selected"].sum()) if "selected" in cands else len(cands),
        "coverage_selected": int(covered["selected"].sum()) if "selected" in covered else 0,
        "n_indicators": len(meta.get("indicator_weights", {})),
    }


def _state_bounds(km2: float) -> tuple[float, float, float, float]:
    """A box of about `km2` around :data:`STATE_CENTRE`, slightly taller than wide (km).

    Taller than wide so that :func:`equity.synthetic.national_tables` lays its one state over
    the whole box (a wider box is cut into a 2-column lattice with one slot used).
    """
    lon0, lat0 = STATE_CENTRE
    h_km = np.sqrt(km2 / 0.95)
    dlat = h_km / 111.32
    dlon = 0.95 * h_km / (111.32 * np.cos(np.radians(lat0)))
    return (lon0 - dlon / 2, lat0 - dlat / 2, lon0 + dlon / 2, lat0 + dlat / 2)


def _state_inputs(fraction: float, seed: int) -> tuple:
    """A `fraction` of the Virginia-sized synthetic state: block groups, county context, tiles.

    The synthetic lattice leaves the unused slots of each parent's grid empty (e.g. 133
    counties on a 12 x 12 grid), so the box is enlarged once by the share left empty: the
    block groups then cover ``VIRGINIA["km2"] * fraction`` (within a few percent).
    """
    n_counties = max(1, round(VIRGINIA["counties"] * fraction))
    n_tracts = max(n_counties, round(VIRGINIA["tracts"] * fraction))
    n_bgs = max(n_tracts, round(VIRGINIA["blockgroups"] * fraction))
    km2 = VIRGINIA["km2"] * fraction

    def make(box_km2: float) -> tuple[dict, tuple[float, float, float, float], float]:
        bounds = _state_bounds(box_km2)
        t = synthetic.national_tables(n_counties=n_counties, bgs_per_tract=n_bgs / n_tracts,
                                      tracts_per_county=n_tracts / n_counties, n_states=1,
                                      seed=seed, bounds=bounds)  # fmt: skip
        covered = float(t["blockgroup"].to_crs(6933).area.sum() / 1e6)
        return t, bounds, covered

    t, bounds, covered = make(km2)
    t, bounds, covered = make(km2 * km2 / covered)
    keys = ["GEOID", "NAME", "level", "state_GEOID", "county_GEOID"]
    bg = t["blockgroup"][[*keys, *_count_columns(), "geometry"]]
    context = pd.DataFrame(t["county"][["GEOID", "broadband_usage", "broadband_availability"]])
    context = context.rename(columns={"GEOID": "county_GEOID"})
    n_tiles = max(100, round(STATE_TILES * fraction))
    tiles = synthetic.synthetic_tiles(n_tiles, bounds=bounds, seed=seed,
                                      n_cities=max(1, round(20 * fraction)))  # fmt: skip
    return bg, context, tiles


def street_run(bg, context: pd.DataFrame, tiles, *, draws: int, seed: int, baseline_draws: int,
               out_dir: Path) -> dict:  # fmt: skip
    """The street level of ``equity run`` step by step (``pipeline/street.py``, ``levels.py``).

    Returns the steps (time, peak), sizes and, measured after the run in the same process,
    the per-draw pandas loop on the run's indicator table.
    """
    import geopandas as gpd

    from equity import export, geographies, index, indicators, maps
    from equity.engine import LocalEngine

    counts = list(synthetic.COUNT_COLUMNS)
    opts = _street_options()
    clock = _Clock()
    # as `equity run` with its default [run] workers = 2: the counties in two processes
    engine = LocalEngine(processes=WORKERS)
    with clock(
        f"street_level (H3 res {opts['resolution']}, {len(tiles):,} tiles by "
        f"{opts['weight_column']}, floor {opts['min_households']:g} households, "
        f"{WORKERS} processes)"
    ):
        units, xwalk = geographies.street_level(bg, counts=counts, medians=MEDIANS, tiles=tiles,
                                                map_partitions=engine.map_partitions,
                                                **opts)  # fmt: skip
        units = units.copy()
        units["level"] = "street"
        units["NAME"] = "Cell " + units["GEOID"].astype(str)
    ranked = units["ranked"].astype(bool)
    unranked, cells = units[~ranked], units[ranked]
    with clock("ookla_to_polygons onto the ranked units + join speeds and county context"):
        speeds = geographies.ookla_to_polygons(tiles, cells[["GEOID", "geometry"]])
        table = cells.merge(speeds, on="GEOID", how="left")
        table = table.merge(context, on="county_GEOID", how="left")
    with clock("compute_indicators"):
        ind_table = indicators.compute_indicators(table)
    with clock(f"compute_index ({draws:,} draws, ranked units)"):
        table = index.compute_index(ind_table, n_draws=draws, seed=seed, top_k=1)
        meta = dict(table.attrs.get("index", {}))
        table["hotspot"] = "not computed"  # as the pipeline at street level
        table = pd.concat([table, unranked.assign(hotspot="not computed")], ignore_index=True)
        table = gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326")
        table.attrs["index"] = meta
    with clock("write index_street.parquet"):
        export.write_level_tables({"street": table}, out_dir)
    with clock("run_maps street (50,000 units of greatest need, HTML + PNG)"):
        files = maps.run_maps({"street": table}, None, out_dir / "maps", provenance=[],
                              title="Synthetic state", processes=WORKERS)  # fmt: skip
    km2 = float(bg.to_crs(6933).area.sum() / 1e6)
    return {
        **_staged_record(clock, ind_table, files, baseline_draws=baseline_draws, seed=seed),
        "blockgroups": len(bg),
        "km2": km2,
        "tiles": len(tiles),
        "cells": len(table),
        "ranked": int(ranked.sum()),
        "res_cells": int(units["n_cells"].sum()),
        "pieces": len(xwalk),
        "n_indicators": len(meta.get("indicator_weights", {})),
    }


def _staged_record(clock: _Clock, ind_table: pd.DataFrame, files: list[Path], *,
                   baseline_draws: int, seed: int) -> dict:  # fmt: skip
    """Steps, totals and map size of a step-by-step run, and its reference measured after it.

    The reference is the per-draw pandas loop of ``bench_index.py`` on the run's indicator
    table, timed on `baseline_draws` draws in the same process (see :func:`_staged_row`).
    """
    import bench_index

    ref = _Clock()
    with ref(f"per-draw pandas loop, {baseline_draws} draws"):
        bench_index.baseline_loop(ind_table, n_draws=baseline_draws, seed=seed, extra={})
    return {
        "steps": clock.steps,
        "time_s": clock.total(),
        "cpu_s": clock.total("cpu_s"),
        "peak_mb": clock.peak(),
        "rss_mb": clock.peak() + (clock.base or 0.0),
        "ref_step": ref.steps[0],
        "ref_exact": ref.exact,
        "map_mb": sum(f.stat().st_size for f in files if f.suffix == ".html") / 2**20,
    }


def _meter(got: dict) -> _Meter:
    m = _Meter()
    m.seconds, m.peak_mb = got["time_s"], got["peak_mb"]
    return m


def _staged_row(stage: str, size: str, got: dict, *, draws: int, baseline_draws: int,
                at_size: bool, units: int, unit: str, notes: str) -> dict:  # fmt: skip
    """A stage row from a step-by-step run: reference = same run with the pandas-loop index."""
    ours = _meter(got)
    index_s = sum(x["time_s"] for x in got["steps"] if x["step"].startswith("compute_index"))
    per_draw = got["ref_step"]["time_s"] / baseline_draws
    ref = _Meter()
    ref.seconds = ours.seconds - index_s + per_draw * draws
    # after our run in the same process: its peak means something only if it could be reset
    ref.peak_mb = got["ref_step"]["peak_mb"] if got["ref_exact"] else None
    notes = (f"{notes}; reference = this run with compute_index ({index_s:.2f} s) replaced by "
             f"the per-draw pandas loop, {per_draw:.3f} s/draw timed on {baseline_draws} draws "
             f"and extrapolated to {draws:,} ({per_draw * draws:,.1f} s), its peak of those "
             "draws")  # fmt: skip
    row = _row(stage, size, ours, "run with pandas-loop index", ref, ref.seconds / ours.seconds,
               notes)  # fmt: skip
    row.update(target=_target(stage, ours.seconds, at_size, got.get("rss_mb")),
               steps=got["steps"], units=units, unit=unit, cpu_s=round(got["cpu_s"], 3),
               rss_mb=round(got["rss_mb"]))  # fmt: skip
    return row


def _growth_row(stage: str, size: str, m: _Meter, units: int, unit: str) -> dict:
    return {"stage": stage, "size": size, "units": units, "unit": unit,
            "time_s": round(m.seconds, 3), "peak_mb": round(m.peak_mb)}  # fmt: skip


def stage_county_run(scale: float, seed: int, draws: int, baseline_draws: int,
                     fractions: list[float]) -> list[dict]:  # fmt: skip
    """``county_run`` at each size (fractions of `scale`); the last one is the stage's row."""
    rows: list[dict] = []
    for f in fractions:
        bg, polygons, context = _county_inputs(scale * f, seed)
        with tempfile.TemporaryDirectory() as tmp:
            got, _ = measured(county_run, bg, polygons, context, draws=draws, seed=seed,
                              baseline_draws=baseline_draws, out_dir=Path(tmp))  # fmt: skip
        del bg, polygons, context
        size = f"{got['counties']:,} counties x {draws:,} draws"
        row = _growth_row("county_run", size, _meter(got), got["counties"], "counties")
        if f == 1.0:
            cover = next(x for x in got["steps"] if not x["in_total"])
            notes = (f"{got['n_indicators']} indicators; {got['selected']} candidates selected "
                     f"in {got['states']} states; HTML maps {got['map_mb']:.2f} MB; coverage mode "
                     f"would take {cover['time_s']:.2f} s instead of top")  # fmt: skip
            at_size = scale >= 1 and draws >= FULL["draws"]
            main = _staged_row("county_run", size, got, draws=draws, baseline_draws=baseline_draws,
                               at_size=at_size, units=got["counties"], unit="counties",
                               notes=notes)  # fmt: skip
            main["growth"] = [*rows, row]
            return [main]
        rows.append(row)
    raise AssertionError("fractions must end with 1")


def stage_state_street(scale: float, seed: int, baseline_draws: int,
                       fractions: list[float]) -> list[dict]:  # fmt: skip
    """``state_street`` at each size (fractions of the Virginia-sized state times `scale`)."""
    from equity import settings

    draws = settings.n_draws
    rows: list[dict] = []
    for f in fractions:
        bg, context, tiles = _state_inputs(scale * f, seed)
        with tempfile.TemporaryDirectory() as tmp:
            got, _ = measured(street_run, bg, context, tiles, draws=draws, seed=seed,
                              baseline_draws=baseline_draws, out_dir=Path(tmp))  # fmt: skip
        del bg, context, tiles
        size = (f"{got['blockgroups']:,} BGs ({got['km2']:,.0f} km2, ~{got['km2'] / H3_KM2:,.0f} "
                f"res-9 cells), {got['tiles']:,} tiles -> {got['cells']:,} units "
                f"({got['ranked']:,} ranked) x {draws} draws")  # fmt: skip
        row = _growth_row("state_street", size, _meter(got), got["cells"], "units")
        if f == 1.0:
            notes = (f"{got['n_indicators']} indicators; {got['res_cells']:,} populated cells "
                     f"in {got['cells']:,} units; {got['pieces']:,} block-group x unit "
                     f"pieces; HTML map {got['map_mb']:.2f} MB; process peak "
                     f"{got['rss_mb']:,.0f} MB (inputs included)")  # fmt: skip
            main = _staged_row("state_street", size, got, draws=draws,
                               baseline_draws=baseline_draws, at_size=scale >= 1,
                               units=got["cells"], unit="units", notes=notes)  # fmt: skip
            main["growth"] = [*rows, row]
            return [main]
        rows.append(row)
    raise AssertionError("fractions must end with 1")


def stage_dask_street(scale: float, seed: int) -> list[dict]:
    """``dask_street``: the synthetic state's street level, local engine vs a LocalCluster."""
    import bench_dask

    bg, _, tiles = _state_inputs(scale, seed)
    counts = list(synthetic.COUNT_COLUMNS)
    r = bench_dask.compare(bg, counts, workers=2, medians=MEDIANS, tiles=tiles)
    if not r["identical"]:
        raise AssertionError("dask_street: the Dask engine's street level differs from local")
    dk = r["dask"]
    peaks = ", ".join(f"{w['peak_mb']:.0f}" for w in dk["workers"])
    notes = (f"identical results; cluster start {r['cluster_start_s']:.1f} s (not counted); "
             f"CPU local {r['local']['cpu_s']:.1f} s, dask client {dk['client_cpu_s']:.1f} s + "
             f"workers {dk['workers_cpu_s']:.1f} s; worker peaks {peaks} MB; {r['parts']['n']} "
             f"county parts, largest {r['parts']['largest_cpu_s']:.2f} s CPU")  # fmt: skip
    return [{
        "stage": "dask_street",
        "size": (f"{r['blockgroups']:,} BGs, {r['counties']} counties, {len(tiles):,} tiles -> "
                 f"{r['res9_cells']:,} res-9 cells, {r['units']:,} units"),
        "time_s": round(dk["wall_s"], 3),
        "peak_mb": round(dk["client_peak_mb"]),
        "reference": "local engine",
        "reference_s": round(r["local"]["wall_s"], 3),
        "reference_peak_mb": round(r["local"]["peak_mb"]),
        "ratio": round(r["speedup"], 3),
        "notes": notes,
    }]  # fmt: skip


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


def print_table(rows: list[dict], columns: list[str], *, file=None, indent: str = "") -> None:
    """Rows as an aligned text table."""
    file = file or sys.stdout
    cells = [[_fmt(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(x[i]) for x in cells)) for i, c in enumerate(columns)]
    print(indent + "  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)), file=file)
    for x in cells:
        print(indent + "  ".join(v.ljust(w) for v, w in zip(x, widths, strict=True)), file=file)
    file.flush()


def _size_table(rows: list[dict]) -> list[dict]:
    """Growth rows with each stage's size and time relative to its smallest size."""
    out = []
    for stage in dict.fromkeys(r["stage"] for r in rows):
        group = sorted((r for r in rows if r["stage"] == stage), key=lambda r: r["units"])
        base = group[0]
        for r in group:
            per = r["time_s"] / r["units"] if r["units"] else float("nan")
            one = {"counties": "county", "tracts": "tract", "cells": "cell"}.get(
                r["unit"], r["unit"]
            )
            per_text = f"{1e3 * per:,.2f} ms" if per >= 1e-3 else f"{1e6 * per:,.1f} us"
            time_x = round(r["time_s"] / base["time_s"], 1) if base["time_s"] else None
            out.append({**r, "size_x": round(r["units"] / base["units"], 1), "time_x": time_x,
                        "per_place": f"{per_text}/{one}"})  # fmt: skip
    return out


STAGE_COLUMNS = ["stage", "size", "time_s", "peak_mb", "reference", "reference_s",
                 "reference_peak_mb", "ratio", "target"]  # fmt: skip
SIZE_COLUMNS = ["stage", "size", "time_s", "peak_mb", "size_x", "time_x", "per_place"]


def _print_steps(row: dict, file) -> None:
    total = row["time_s"]
    steps = [{"step": x["step"], "time_s": round(x["time_s"], 3), "cpu_s": round(x["cpu_s"], 3),
              "share": f"{x['time_s'] / total:.0%}" if x["in_total"] and total else "-",
              "peak_mb": round(x["peak_mb"])} for x in row["steps"]]  # fmt: skip
    steps.append({"step": "total", "time_s": total, "cpu_s": row["cpu_s"], "share": "100%",
                  "peak_mb": row["peak_mb"]})  # fmt: skip
    print(f"  steps of {row['stage']} ({row['size']}):", file=file)
    print_table(steps, ["step", "time_s", "cpu_s", "share", "peak_mb"], file=file, indent="    ")


def _target_line(row: dict) -> str:
    what = TARGETS[row["stage"]][-1]
    cpu = f" ({row['cpu_s']:.1f} s CPU)" if row.get("cpu_s") is not None else ""
    rss = f", process peak {row['rss_mb']:,} MB" if row.get("rss_mb") is not None else ""
    line = (f"target: {what} {row['target']} -- {row['time_s']:.2f} s{cpu}, "
            f"peak +{row['peak_mb']:,} MB{rss}")  # fmt: skip
    if "NOT met" in row["target"] and row.get("steps"):
        worst = sorted((x for x in row["steps"] if x["in_total"]), key=lambda x: -x["time_s"])
        line += "; the time goes to " + ", ".join(
            f"{x['step']} {x['time_s']:.1f} s" for x in worst[:3]
        )
    return line


def _machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mem = ""
    with contextlib.suppress(ValueError, OSError, AttributeError):
        mem = f", {os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GB RAM"
    return f"{os.cpu_count()} cores ({model}){mem}, Python {platform.python_version()}"


def _md_cell(v: object) -> str:
    return _fmt(v).replace("|", "\\|")


def _md_table(rows: list[dict], columns: list[str], headers: list[str]) -> list[str]:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_md_cell(r.get(c)) for c in columns) + " |" for r in rows]
    return lines


def markdown_report(out: dict, *, command: str, scale: float, load: tuple[float, ...]) -> str:
    """The run's tables as Markdown (targets, stages, growth with size, steps, notes)."""
    rows = out["stages"]
    after = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Measured by `{command}` on {time.strftime('%Y-%m-%d')}: {_machine()}; "
        f"scale {scale:g} of the national sizes; load average {load[0]:.1f} before the run and "
        f"{after:.1f} after (other work on the machine inflates wall times; CPU times are "
        "the process's own).",
        "",
    ]
    targeted = [r for r in rows if r.get("target")]
    if targeted:
        lines += ["Targets (issues #9 and #20):", ""]
        lines += _md_table(
            [{**r, "what": TARGETS[r["stage"]][-1]} for r in targeted],
            ["what", "size", "time_s", "cpu_s", "peak_mb", "rss_mb", "target"],
            ["target", "size", "time (s)", "CPU (s)", "peak MB", "process peak MB", "result"],
        )
        lines.append("")
    lines += ["Stages against a reference measured in the same run (ratio = reference time / "
              "our time unless noted):", ""]  # fmt: skip
    lines += _md_table(rows, ["stage", "size", "time_s", "peak_mb", "reference", "reference_s",
                              "reference_peak_mb", "ratio", "target"],
                       ["stage", "size", "time (s)", "peak MB", "reference", "reference (s)",
                        "reference peak MB", "ratio", "target"])  # fmt: skip
    if out.get("size_table"):
        lines += ["", "Cost growth with size:", ""]
        lines += _md_table(out["size_table"], SIZE_COLUMNS,
                           ["stage", "size", "time (s)", "peak MB", "size x", "time x",
                            "time per place"])  # fmt: skip
    stepped = [r for r in rows if r.get("steps")]
    if stepped:
        lines += ["", "Steps (largest size):", ""]
        steps = [{"stage": r["stage"], "step": x["step"], "time_s": round(x["time_s"], 3),
                  "cpu_s": round(x["cpu_s"], 3),
                  "share": f"{x['time_s'] / r['time_s']:.0%}" if x["in_total"] else "-",
                  "peak_mb": round(x["peak_mb"])}
                 for r in stepped for x in r["steps"]]  # fmt: skip
        lines += _md_table(steps, ["stage", "step", "time_s", "cpu_s", "share", "peak_mb"],
                           ["stage", "step", "time (s)", "CPU (s)", "share",
                            "peak MB"])  # fmt: skip
    notes = [f"- {r['stage']}: {r['notes']}" for r in rows if r.get("notes")]
    notes += [f"- {n}" for n in out.get("notes", [])]
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines) + "\n"


def run(
    stages: list[str],
    *,
    scale: float,
    seed: int,
    draws: int,
    baseline_draws: int,
    growth_scales: list[float] | None,
    file=None,
    markdown: str | Path | None = None,
    command: str = "python benchmarks/run.py",
) -> dict[str, list[dict]]:
    """Run the stages (each in a child process), print the tables, return the rows.

    Returns ``{"stages": rows, "growth": index growth rows (with "tracts"), "size_table":
    every stage's growth with size}``; with `markdown`, also writes the tables there
    (atomically).
    """
    file = file or sys.stdout
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        msg = f"unknown stage(s) {unknown}; valid: {', '.join(STAGES)}"
        raise ValueError(msg)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),)
    print(f"machine: {_machine()}; load average {load[0]:.1f}", file=file)
    t = time.perf_counter()
    tables = synthetic.national_tables(
        n_counties=max(4, round(FULL["counties"] * scale)), seed=seed
    )
    plural = {"county": "counties"}
    sizes = ", ".join(f"{len(v):,} {plural.get(k, k + 's')}" for k, v in tables.items())
    print(f"synthetic nation (scale {scale:g}): {sizes}; generated with geometry in "
          f"{time.perf_counter() - t:.1f} s", file=file)  # fmt: skip
    del tables
    fractions = _fractions(scale, growth_scales)
    calls: dict[str, tuple] = {
        "load": (stage_load, scale, seed),
        "street": (stage_street, scale, seed),
        "tiles": (stage_tiles, scale, seed),
        "index": (stage_index, scale, seed, draws, baseline_draws),
        "placement": (stage_placement, scale, seed),
        "maps": (stage_maps, scale, seed),
        "county_run": (stage_county_run, scale, seed, draws, baseline_draws, fractions),
        "state_street": (stage_state_street, scale, seed, baseline_draws, fractions),
        "dask_street": (stage_dask_street, scale, seed),
    }
    rows: list[dict] = []
    size_rows: list[dict] = []
    for name in [s for s in STAGES if s in stages]:
        t = time.perf_counter()
        got = in_child(*calls[name])
        for r in got:
            size_rows.extend(r.pop("growth", []))
        rows.extend(got)
        print(f"\n[{name}: {time.perf_counter() - t:.1f} s with data generation]", file=file)
        print_table(got, STAGE_COLUMNS, file=file)
        for r in got:
            if r["notes"]:
                print(f"  note ({r['stage']}): {r['notes']}", file=file)
            if r.get("steps"):
                _print_steps(r, file)
            if r.get("target"):
                print("  " + _target_line(r), file=file)
    by_stage = {r["stage"]: r for r in rows}
    out: dict[str, list] = {"stages": rows, "notes": []}
    if "county_run" in by_stage and "tiles (area shares)" in by_stage:
        c, tl = by_stage["county_run"], by_stage["tiles (area shares)"]
        note = (f"a county run that also spreads raw tiles onto the counties ({tl['size']}, "
                f"ookla_to_polygons area shares {tl['time_s']:.1f} s) would take "
                f"{c['time_s'] + tl['time_s']:.1f} s")  # fmt: skip
        out["notes"].append(note)
        print(f"\nnote: {note}", file=file)
    print("\nsummary (ratio = reference time / our time unless noted):", file=file)
    print_table(rows, STAGE_COLUMNS, file=file)
    if growth_scales and "index" in stages:
        main = by_stage["index"]
        others = [g for g in growth_scales if not np.isclose(g, scale)]
        growth = in_child(stage_index_growth, others, seed, draws) if others else []
        if any(np.isclose(g, scale) for g in growth_scales):
            growth.append({"tracts": main["units"], "draws": draws, "time_s": main["time_s"],
                           "peak_mb": main["peak_mb"]})  # fmt: skip
        growth.sort(key=lambda g: g["tracts"])
        base = growth[0]
        for g in growth:
            g["time_per_tract_us"] = round(1e6 * g["time_s"] / g["tracts"], 2)
            g["size_x"] = round(g["tracts"] / base["tracts"], 1)
            g["time_x"] = round(g["time_s"] / base["time_s"], 1)
        out["growth"] = growth
        size_rows = [
            _growth_row("index", f"{g['tracts']:,} tracts x {draws:,} draws",
                        _meter({"time_s": g["time_s"], "peak_mb": g["peak_mb"]}), g["tracts"],
                        "tracts")
            for g in growth
        ] + size_rows  # fmt: skip
    if size_rows:
        out["size_table"] = _size_table(size_rows)
        print("\ncost growth with size (time x / size x near 1: linear):", file=file)
        print_table(out["size_table"], SIZE_COLUMNS, file=file)
    for r in rows:
        if r.get("target"):
            print(_target_line(r), file=file)
    if markdown:
        from equity._io import atomic_write_text

        text = markdown_report(out, command=command, scale=scale, load=load)
        path = atomic_write_text(markdown, text)
        print(f"\nMarkdown tables written to {path}", file=file)
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
    parser.add_argument("--markdown", metavar="FILE", default=None,
                        help="also write the tables as Markdown to FILE (atomically)")  # fmt: skip
    args = parser.parse_args(argv)
    scale = args.scale if args.scale is not None else (0.05 if args.quick else 1.0)
    growth = None if args.no_growth else [scale / 20, scale / 5, scale]
    argv_used = sys.argv[1:] if argv is None else argv
    return run(
        [s.strip() for s in args.stages.split(",") if s.strip()],
        scale=scale,
        seed=args.seed,
        draws=args.draws,
        baseline_draws=args.baseline_draws,
        growth_scales=growth,
        markdown=args.markdown,
        command=" ".join(["python benchmarks/run.py", *argv_used]),
    )


if __name__ == "__main__":
    main()
