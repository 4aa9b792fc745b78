"""Benchmark of the scale-out that pays (issue #20 item 4): states with their street level as
Dask tasks, each worker building and indexing its own state from shared storage.

``equity run --states`` on the Dask engine sends each worker only a state's code, the fetch
cache's path and the run options; the worker reads the state's files from that shared folder,
builds every level (the street level included), computes the index, writes
``<out>/<USPS>/`` and returns a small result; the client only collects the results and writes
the national files. This benchmark runs the same states at levels street, block group, tract
and county (H3 resolution 9, every output, maps included):

``local``
    the local engine, one state at a time (``[run] workers = 1``: each state in a fresh
    process of its own, one process per state);
``dask``
    a ``distributed.LocalCluster`` of ``--workers`` single-threaded workers (one state at a
    time each).

States: real Virginia (the published files of ``../shared/data``, given to the run through a
fetch-cache manifest naming them: 5,951 block groups, the Address Count Listing's blocks, UVA's
tile x block speeds), and ``--generated`` states of :func:`equity.national.synthetic.census_nation`
(their real county counts, generated block groups over a lattice box of about 160,000 km2 each
with Ookla tiles; ``--scale`` of the national block-group count).

Reported: wall time of each engine's run, CPU seconds of the states (their own processes or
worker tasks) and of the client (this process: what the client itself does), every state's
wall and CPU seconds, street units and peak memory, and whether each state's files are byte
for byte the same on both engines (the index tables of every level, candidates.csv). The
figures for a 16-worker cluster on the nation are an estimate from these (see docs/scale.md).

Run ``python benchmarks/bench_dask_states.py [--generated NC,GA,MI] [--workers 2]
[--markdown FILE]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"

sys.path.insert(0, str(ROOT / "benchmarks"))
from bench_virginia_run import COMPARED, VIRGINIA  # noqa: E402 - the same files and outputs

LEVELS = ("street", "blockgroup", "tract", "county")


def virginia_manifest(fetch: Path) -> None:
    """``states/VA/manifest.json`` naming the real Virginia files of ``../shared/data``."""
    from equity.national.manifest import MANIFEST_FORMAT

    folder = fetch / "states" / "VA"
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "format": MANIFEST_FORMAT,
        "state": "VA",
        "fips": "51",
        "year": 2021,
        "complete": True,
        "data": {k: str(v) for k, v in VIRGINIA.items()},
    }
    (folder / "manifest.json").write_text(json.dumps(doc, indent=1), encoding="utf-8")


def generated_states(fetch: Path, states: list[str], scale: float, seed: int) -> None:
    """Generated states (census-sized shares of `scale` x 240,000 block groups) in `fetch`."""
    from equity.national.synthetic import census_nation, write_synthetic_cache

    nation = census_nation(
        n_blockgroups=round(240_000 * scale),
        n_tracts=round(85_000 * scale),
        n_tiles=round(2_000_000 * scale),
        seed=seed,
    )
    write_synthetic_cache(fetch, nation, states=states)


def _cpu_self() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def run_engine(engine: str, states: list[str], fetch: Path, folder: Path, workers: int) -> dict:
    """One national run of `states` on `engine` (``local`` one state at a time, ``local2``
    `workers` states at a time in processes of their own, ``dask``); its figures."""
    label = engine
    engine, at_once = ("local", workers) if engine == "local2" else (engine, 1)
    from equity.config import load_config
    from equity.national import run_states

    cfg_path = folder / f"equity-{label}.toml"
    cfg_path.write_text(
        f"[data]\nstates = {json.dumps(states)}\n"
        "[run]\n"
        f"levels = {json.dumps(list(LEVELS))}\n"
        f'engine = "{engine}"\n'
        f"workers = {workers if engine == 'dask' else at_once}\n"
        '[placement]\nlevel = "tract"\n'
        f'[cache]\nfolder = "{folder / ("tables-" + label)}"\n',
        encoding="utf-8",
    )
    cfg = load_config(cfg_path)
    out = folder / f"out-{label}"
    cpu0, t0 = _cpu_self(), time.perf_counter()
    result = run_states(cfg, out=out, states=",".join(states), cache_folder=fetch, quiet=True)
    wall, client_cpu = time.perf_counter() - t0, _cpu_self() - cpu0
    rows = {r.usps: r for r in result.results}
    failed = [f"{r.usps}: {r.message}" for r in result.results if r.status == "failed"]
    if failed:
        raise SystemExit(f"{engine}: states failed: {failed}")
    return {
        "engine": label,
        "wall_s": wall,
        "client_cpu_s": client_cpu,
        "states_cpu_s": sum(r.cpu_seconds for r in rows.values()),
        "states": {
            u: {
                "wall_s": r.seconds,
                "cpu_s": r.cpu_seconds,
                "peak_mb": r.peak_mb,
                "units": _street_units(out / u),
                "digests": _digests(out / u),
            }
            for u, r in rows.items()
        },
    }


def _street_units(folder: Path) -> int:
    import pyarrow.parquet as pq

    path = folder / "index_street.parquet"
    return pq.ParquetFile(path).metadata.num_rows if path.is_file() else 0


def _digests(folder: Path) -> dict[str, str]:
    return {
        name: hashlib.sha256((folder / name).read_bytes()).hexdigest()[:16]
        for name in COMPARED
        if (folder / name).is_file()
    }


def report(runs: list[dict], states: list[str], workers: int) -> list[str]:
    local, dask = runs[0], next(r for r in runs if r["engine"] == "dask")
    names = {
        "local": "local, one state at a time",
        "local2": f"local, {workers} states at a time",
        "dask": f"Dask, {workers}-worker LocalCluster",
    }
    lines = [
        "| engine | wall | CPU of the states | CPU of the client | speed-up (wall) |",
        "|---|---|---|---|---|",
    ]
    for r in runs:
        lines.append(
            f"| {names[r['engine']]} | "
            f"{r['wall_s']:.1f} s | {r['states_cpu_s']:.1f} s | {r['client_cpu_s']:.1f} s | "
            f"{local['wall_s'] / r['wall_s']:.2f} |"
        )
    lines += [
        "",
        "| state | street units | local: wall / CPU / peak | dask: wall / CPU / peak | files identical |",
        "|---|---|---|---|---|",
    ]
    for u in states:
        a, b = local["states"][u], dask["states"][u]
        same = a["digests"] == b["digests"] and len(a["digests"]) == len(COMPARED)
        lines.append(
            f"| {u} | {a['units']:,} | {a['wall_s']:.1f} s / {a['cpu_s']:.1f} s / "
            f"{a['peak_mb'] or 0:.0f} MB | {b['wall_s']:.1f} s / {b['cpu_s']:.1f} s / "
            f"{b['peak_mb'] or 0:.0f} MB | {'yes' if same else 'NO'} |"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--generated", default="DE,RI,NH", help="generated states (USPS codes)")
    ap.add_argument("--no-virginia", action="store_true", help="leave out real Virginia")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20261122)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--engines",
        default="local,dask",
        help="local (one at a time), dask, local2 (two at a time)",
    )
    ap.add_argument("--markdown", type=Path)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    generated = [s.strip().upper() for s in args.generated.split(",") if s.strip()]
    states = ([] if args.no_virginia else ["VA"]) + generated
    with tempfile.TemporaryDirectory(prefix="equity-bench-states-") as tmp:
        folder = Path(tmp)
        fetch = folder / "fetch"
        t0 = time.perf_counter()
        if generated:
            generated_states(fetch, generated, args.scale, args.seed)
        if not args.no_virginia:
            if not (DATA / "SOURCES.md").is_file():
                raise SystemExit(f"{DATA} is missing: real Virginia reads it")
            virginia_manifest(fetch)
        print(f"fetch cache written in {time.perf_counter() - t0:.1f} s", flush=True)
        runs = []
        for engine in args.engines.split(","):
            r = run_engine(engine, states, fetch, folder, args.workers)
            print(
                f"{engine}: {r['wall_s']:.1f} s wall, states {r['states_cpu_s']:.1f} CPU s, "
                f"client {r['client_cpu_s']:.1f} CPU s",
                flush=True,
            )
            runs.append(r)
    lines = report(runs, states, args.workers)
    print("\n".join(lines))
    if args.markdown:
        args.markdown.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1, default=str), encoding="utf-8")
    same = all(
        r["states"][u]["digests"] == runs[0]["states"][u]["digests"] for r in runs for u in states
    )
    if not same:
        sys.exit("outputs differ between the engines")


if __name__ == "__main__":
    main()
