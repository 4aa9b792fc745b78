"""Read time and peak memory of the readers on the three largest files in ../shared/data.

Each reader is compared with a plain reference read of the same file (``pandas.read_csv`` /
``geopandas.read_file``, no repairs) as a ratio. Time is the best of ``--repeat`` runs. Peak
memory is the growth of the peak resident set size (VmHWM, reset through
``/proc/self/clear_refs``) over the RSS before the call, after a warm-up call, measured in a
fresh child process per function (``tracemalloc`` misses the Arrow
buffers behind pandas 3 strings and GDAL's allocations).

Run::

    python benchmarks/bench_sources.py [--data ../shared/data] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd

from equity import sources

DEFAULT_DATA = Path(
    os.environ.get(
        "EQUITY_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


def _readers(path: Path) -> tuple[str, Callable[[Path], object], Callable[[Path], object]] | None:
    """(reader name, reader, reference) for a shared file, None when no reader applies."""
    name = path.name
    if path.suffix == ".shp":
        return "read_boundaries", sources.read_boundaries, lambda p: gpd.read_file(p).to_crs(4326)
    if name.startswith("uva_sdad") and "ookla" in name:
        return (
            "read_ookla_aggregates",
            sources.read_ookla_aggregates,
            lambda p: pd.read_csv(p, dtype={"geoid": str}),
        )
    if name.startswith("imls_pls"):
        return (
            "read_libraries",
            sources.read_libraries,
            lambda p: pd.read_csv(p, dtype=str, encoding="cp1252"),
        )
    if name.startswith("census_zbp"):
        return (
            "read_business_patterns",
            sources.read_business_patterns,
            lambda p: pd.read_csv(p, dtype={"zip": str}, encoding="latin-1"),
        )
    if name.startswith("cdc_svi"):
        return "read_svi", sources.read_svi, lambda p: pd.read_csv(p, dtype={"FIPS": str})
    if name.startswith("microsoft_broadband"):
        return (
            "read_broadband_usage",
            sources.read_broadband_usage,
            lambda p: pd.read_csv(p, dtype=str),
        )
    if name.startswith("ookla_fixed"):
        return "read_ookla", sources.read_ookla, gpd.read_file
    if name.startswith("acs2021"):
        return "read_acs", sources.read_acs, lambda p: pd.read_csv(p, dtype={"GEOID": str})
    return None


def largest(data: Path, n: int = 3) -> list[tuple[Path, int]]:
    """The `n` largest datasets a reader reads (a shapefile counts all its parts)."""
    sizes: dict[Path, int] = {}
    for f in data.rglob("*"):
        if not f.is_file():
            continue
        key = f.with_suffix(".shp") if f.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg") else f
        if _readers(key) is None:
            continue
        sizes[key] = sizes.get(key, 0) + f.stat().st_size
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:n]


def measure(func: Callable[[Path], object], path: Path, repeat: int) -> tuple[float, int]:
    """(best seconds, rows)."""
    best = float("inf")
    rows = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(repeat):
            t0 = time.perf_counter()
            out = func(path)
            best = min(best, time.perf_counter() - t0)
            rows = len(out)  # type: ignore[arg-type]
    return best, rows


def peak_mib(which: str, path: Path) -> float:
    """Peak RSS growth (MiB) of one call of the reader or the reference, in a child process."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", which, str(path)],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _child(which: str, path: Path) -> None:
    _, reader, reference = _readers(path)  # type: ignore[misc]
    func = reader if which == "reader" else reference
    func(path)  # warm-up: lazy imports and GDAL drivers are not the read's memory
    import gc

    gc.collect()
    base = _status_kib("VmRSS")
    try:  # reset the peak (VmHWM) to the current RSS (Linux >= 4.0)
        Path("/proc/self/clear_refs").write_text("5")
        hwm = "VmHWM"
    except OSError:
        hwm = ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        func(path)
    peak = _status_kib(hwm) if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print((peak - base) / 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WHICH", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.getLogger("equity").setLevel(logging.ERROR)
    if args.child:
        _child(args.child[0], Path(args.child[1]))
        return 0
    header = (
        f"{'file':<50} {'MB':>5} {'reader':<22} {'rows':>6} {'read s':>7} {'ref s':>7} "
        f"{'ratio':>6} {'peak MiB':>9} {'ref MiB':>8}"
    )
    print(header)
    print("-" * len(header))
    for path, size in largest(args.data):
        name, reader, reference = _readers(path)  # type: ignore[misc]
        t, rows = measure(reader, path, args.repeat)
        rt, _ = measure(reference, path, args.repeat)
        mem, rmem = peak_mib("reader", path), peak_mib("reference", path)
        rel = str(path.relative_to(args.data))
        rel = rel if len(rel) <= 50 else rel[:47] + "..."
        print(
            f"{rel:<50} {size / 1e6:>5.1f} {name:<22} {rows:>6} {t:>7.3f} {rt:>7.3f} "
            f"{t / rt:>6.2f} {mem:>9.1f} {rmem:>8.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
