"""Benchmark of a whole ``equity run`` on real Virginia with the street level (issue #20 item 3).

The run a planner makes for one state from the published files in ``../shared/data``: the
2020 block-group and tract cartographic boundaries, the 2018 US counties, ACS 2017-2021 block
groups, the 2020 Address Count Listing's blocks, UVA's Ookla tile x block speeds of 2022 and
Microsoft usage; levels street, block group, tract and county; every output (tables,
workbook, METHODS.md, maps). Each run is the command-line program in a fresh process:

``cold``
    an empty table cache (``EQUITY_CACHE`` in a new folder): every input read, the street
    level and its index computed;
``warm``
    the same command again: inputs, street level and street index from the cache.

Both with ``[run] workers = 1`` (everything in one process) and ``workers = 2`` (the street
level's county parts and the maps in two processes; see docs/performance.md), `--repeat`
times each, in alternation, so the machine's load falls on both alike. Reported: wall
seconds and CPU seconds of the process and its children (median of the timed runs); the peak
memory of the process tree (the sum of proportional set sizes, sampled every 0.1 s) from one
more run of each, untimed (reading /proc that often slows a run by a third), and the largest
single process of any run (``maxrss``). The
outputs of every run must be identical (index tables and candidates, byte for byte).

Targets (issue #20, item 3): cold under 45 s, peak under 2.5 GB; the warm run takes the
street index from the cache.

Run ``python benchmarks/bench_virginia_run.py [--repeat 3] [--markdown FILE]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
sys.path.insert(0, str(ROOT / "benchmarks"))

TARGET_S = 45.0
TARGET_MB = 2500.0
COMPARED = (
    "candidates.csv",
    "index_street.parquet",
    "index_blockgroup.parquet",
    "index_tract.parquet",
    "index_county.parquet",
)


#: The real Virginia inputs in ``../shared/data`` by ``[data]`` key (also bench_dask_states.py).
VIRGINIA = {
    "blockgroups": DATA / "boundaries/va/cb_2020_51_bg_500k.shp",
    "acs": DATA / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv",
    "tracts": DATA / "boundaries/va/cb_2020_51_tract_500k.shp",
    "counties": DATA / "boundaries/us/cb_2018_us_county_20m.shp",
    "blocks": DATA / "blocks/va_bl_abc_2021_address_block_counts.csv.xz",
    "ookla": DATA / "ookla/va_blocks_2022",
    "usage": DATA / "broadband/microsoft_broadband_data_2020October.csv",
}


def config_text(workers: int) -> str:
    """The run's configuration: real Virginia from ``../shared/data``."""
    data = "\n".join(f'{key} = "{path}"' for key, path in VIRGINIA.items())
    return f"""
[data]
{data}

[run]
levels = ["street", "blockgroup", "tract", "county"]
workers = {workers}

[placement]
level = "tract"
"""


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(folder: Path, workers: int, cache: Path, *, sample: bool = False) -> dict:
    """One ``equity run`` in a fresh process; its wall and CPU seconds, and with `sample` the
    peak memory of its process tree (sampling /proc slows the run: timed runs do not)."""
    import contextlib

    from bench_national import TreeMemory

    cfg = folder / f"equity-{workers}.toml"
    cfg.write_text(config_text(workers), encoding="utf-8")
    out = folder / f"out-{workers}"
    cmd = [sys.executable, "-m", "equity", "run", "--config", str(cfg), "--out", str(out), "-v"]
    env = {**os.environ, "EQUITY_CACHE": str(cache)}
    cpu0 = _children_cpu()
    t0 = time.perf_counter()
    mem = TreeMemory() if sample else None
    with mem or contextlib.nullcontext():
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"equity run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    largest = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    street = [
        ln
        for ln in done.stderr.splitlines()
        if ln.strip().startswith("[") and "street level (" in ln
    ]
    return {
        "workers": workers,
        "wall_s": wall,
        "cpu_s": _children_cpu() - cpu0,
        "tree_pss_mb": mem.peak_pss if mem is not None else float("nan"),
        "largest_process_mb": largest,
        "street_line": street[-1].strip() if street else "",
        "cache_hits": sum("cache hit" in ln for ln in done.stderr.splitlines()),
        "digests": {
            name: hashlib.sha256((out / name).read_bytes()).hexdigest()[:16] for name in COMPARED
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", default="1,2", help="comma-separated [run] workers values")
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    if not (DATA / "SOURCES.md").is_file():
        raise SystemExit(f"{DATA} is missing: this benchmark reads the real files")
    workers = [int(w) for w in args.workers.split(",")]
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="equity-bench-va-") as tmp:
        folder = Path(tmp)
        for rep in range(args.repeat + 1):
            for w in workers:
                # the last round samples memory (not timed: sampling slows the run)
                sample = rep == args.repeat
                cache = folder / f"cache-{w}-{rep}"
                cold = run_once(folder, w, cache, sample=sample)
                warm = run_once(folder, w, cache, sample=sample)
                for case, r in (("cold", cold), ("warm", warm)):
                    r |= {"case": case, "repeat": rep, "sampled": sample}
                    rows.append(r)
                    print(
                        f"{case:4} workers={w} wall {r['wall_s']:6.1f} s  CPU {r['cpu_s']:6.1f} s  "
                        f"tree peak {r['tree_pss_mb']:6.0f} MB  cache hits {r['cache_hits']}"
                        + ("  (memory sampled, not timed)" if sample else ""),
                        flush=True,
                    )
    same = len({tuple(sorted(r["digests"].items())) for r in rows}) == 1
    lines = _summary(rows, workers, same)
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if not same:
        raise SystemExit("outputs differ between runs")


def _summary(rows: list[dict], workers: list[int], same: bool) -> list[str]:
    lines = [
        "| run | workers | wall, median (min-max) | CPU, median | tree peak PSS | largest process (any run) | target |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in ("cold", "warm"):
        for w in workers:
            sel = [r for r in rows if r["case"] == case and r["workers"] == w]
            timed = [r for r in sel if not r["sampled"]]
            walls = [r["wall_s"] for r in timed]
            med = statistics.median(walls)
            peak = max(r["tree_pss_mb"] for r in sel if r["sampled"])
            target = ""
            if case == "cold":
                ok_t = "met" if med < TARGET_S else "not met"
                ok_m = "met" if peak < TARGET_MB else "not met"
                target = f"< {TARGET_S:.0f} s: {ok_t}; < {TARGET_MB:.0f} MB: {ok_m}"
            else:
                hits = min(r["cache_hits"] for r in sel)
                target = f"{hits} cache hits (street level and index included)"
            lines.append(
                f"| {case} | {w} | {med:.1f} s ({min(walls):.1f}-{max(walls):.1f}) | "
                f"{statistics.median(r['cpu_s'] for r in timed):.1f} s | {peak:.0f} MB | "
                f"{max(r['largest_process_mb'] for r in sel):.0f} MB | {target} |"
            )
    lines.append("")
    lines.append(
        "Outputs (candidates.csv, the four index tables) identical in every run: "
        + ("yes" if same else "NO")
    )
    return lines


if __name__ == "__main__":
    main()
