"""One state of a national run: :func:`run_state`, the task either engine runs.

A task receives only the state's code, the path of the fetch cache and the run options
(:class:`RunOptions`); it reads the state's manifest and inputs from that (shared) folder
itself, runs :func:`equity.pipeline.run` on them into a staging folder beside
``<out>/<USPS>/`` and swaps it into place (the old folder, if any, is replaced as a whole), and
returns a small :class:`StateResult`: its status, the selected sites and the county table for
the national map, never the state's large tables.

Resume: every finished state leaves ``<out>/<USPS>/.equity-done.json`` holding a digest of its
inputs (the manifest, the content of every input file, the run options, the ``equity`` code
and the library versions: :func:`equity.cache.cache_key`). A state whose marker matches and
whose output files are all present is not run again (status ``resumed``) unless
``RunOptions.force``.

Any failure (no manifest, a missing or unreadable file, an error in a stage) becomes status
``failed`` with a one-line reason; the state's previous outputs, the cache and the other
states are left as they were.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import resource
import shlex
import shutil
import tempfile
import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd

import equity
from equity import export, pipeline
from equity._io import atomic_write_text
from equity.cache import cache_key
from equity.config import Config
from equity.errors import EquityError
from equity.national.manifest import StateInputs, read_manifest
from equity.sources._states import lookup_state

__all__ = ["DONE_MARKER", "RunOptions", "StateResult", "run_state", "state_config"]

log = logging.getLogger("equity.national")

#: File in ``<out>/<USPS>/`` recording a finished state and the digest of its inputs.
DONE_MARKER = ".equity-done.json"
_MARKER_FORMAT = 1
#: Configuration fields that do not change a state's outputs (left out of its digest).
_NOT_IN_DIGEST = ("source", "cache", "cache_folder", "engine", "scheduler", "workers", "run_states")
#: Columns a level table gets from the index and hot spots (recomputed for the national map).
_INDEX_PREFIXES = ("norm_", "score_", "equity_index", "rank", "hotspot")
_INDEX_COLUMNS = ("pillars_missing", "p_top_k", "driving_pillar", "intervention", "reliability")


@dataclass(frozen=True)
class RunOptions:
    """What every state task gets besides its state code and the cache folder.

    Attributes
    ----------
    config
        The national run's configuration; its ``[data]`` files (if any) are added to every
        state's inputs (e.g. a planner's own ``partners`` list).
    out
        National output folder; the state writes ``<out>/<USPS>/``.
    force
        Recompute states whose outputs are complete and up to date.
    write_maps
        Write each state's HTML maps.
    fresh_process
        The task runs in a process of its own, so the process's peak resident memory is the
        state's (else it is sampled while the state runs).
    """

    config: Config
    out: str
    force: bool = False
    write_maps: bool = True
    fresh_process: bool = False


@dataclass
class StateResult:
    """What a state task returns: small, so that a Dask client only collects this.

    Attributes
    ----------
    usps, fips, name
        The state.
    status
        ``done`` (computed now), ``resumed`` (outputs up to date, not recomputed) or ``failed``.
    message
        One line: the reason of a failure, else what was selected.
    seconds
        Wall time of the task.
    cpu_seconds
        CPU time (user and system) of the task's process while it ran.
    peak_mb
        Peak resident memory of the task's process while it ran (MiB).
    selected
        The state's selected sites (rows of its ``candidates.csv`` with their geometry).
    counties
        The state's county table without its index columns (for the national county index).
    provenance
        The state's data sources (as its METHODS.md lists them).
    missing
        Inputs the fetch could not get, with the reason.
    """

    usps: str
    fips: str
    name: str
    status: str
    message: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_mb: float | None = None
    selected: gpd.GeoDataFrame | None = None
    counties: gpd.GeoDataFrame | None = None
    provenance: list[dict[str, Any]] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """The state has outputs from this run's inputs (done or resumed)."""
        return self.status in ("done", "resumed")


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- memory -------------------------------------------------------------------------------------


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class _PeakMemory:
    """Peak resident memory of this process while the block runs (MiB).

    In a process of its own the kernel's high-water mark (``ru_maxrss``) is exact; in a
    long-lived worker the resident size is sampled every 20 ms instead.
    """

    def __init__(self, *, fresh: bool) -> None:
        self.fresh = fresh
        self.peak: float | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _PeakMemory:
        if not self.fresh and _rss_mb() is not None:
            self.peak = _rss_mb()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            now = _rss_mb()
            if now is not None and (self.peak is None or now > self.peak):
                self.peak = now

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.fresh or self.peak is None:
            self.peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the state's configuration and digest -----------------------------------------------------


def state_config(cfg: Config, inputs: StateInputs, cache_folder: str | os.PathLike[str]) -> Config:
    """The configuration of one state's run: its inputs from the fetch cache.

    The national configuration's own ``[data]`` files are added to (and win over) the
    state's; the county level is always built (the national map needs it); the run is local,
    in one process (a state is one task) and its placement covers the state.
    """
    levels = cfg.levels if "county" in cfg.levels else (*cfg.levels, "county")
    return cfg.replace(
        data={**inputs.data, **cfg.data},
        run_states=(),
        engine="local",
        scheduler=None,
        workers=1,  # states run side by side (or on Dask workers): no processes of their own
        states=(),
        levels=levels,
        title=f"{cfg.title}: {inputs.name}",
        cache_folder=cfg.cache_folder or str(Path(cache_folder) / "tables"),
    )


def _digest(inputs: StateInputs, cfg: Config, options: RunOptions) -> str:
    settings_ = {k: v for k, v in cfg.as_dict().items() if k not in _NOT_IN_DIGEST}
    params = {
        "state": inputs.usps,
        "config": settings_,
        "write_maps": options.write_maps,
        "missing": inputs.missing,
        "year": inputs.year,
    }
    return cache_key("national_state", params, inputs=inputs.paths(), code=equity)


def _command(cfg: Config, usps: str, out: str) -> str:
    parts = ["equity", "run", "--states", usps, "--out", shlex.quote(out)]
    if cfg.source:
        parts[2:2] = ["--config", shlex.quote(cfg.source)]
    return " ".join(parts)


# -- resume marker and the atomic swap ------------------------------------------------------------


def _read_marker(folder: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads((folder / DONE_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) and doc.get("format") == _MARKER_FORMAT else None


def _up_to_date(marker: dict[str, Any] | None, digest: str, folder: Path) -> bool:
    if marker is None or marker.get("digest") != digest:
        return False
    files = marker.get("files")
    return isinstance(files, list) and all((folder / f).is_file() for f in files)


def _clean_stale(out: Path, usps: str) -> None:
    """Remove staging folders a killed run left behind for this state."""
    for stale in out.glob(f".{usps}.*-*"):
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)


def _swap_in(staging: Path, folder: Path) -> None:
    """Replace `folder` by `staging` as a whole: the old folder is moved aside, then removed."""
    old = None
    if folder.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
        os.replace(folder, old / "x")
    try:
        os.replace(staging, folder)
    except OSError:
        if old is not None:  # put the previous outputs back
            os.replace(old / "x", folder)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _run_into(
    folder: Path, cfg: Config, digest: str, options: RunOptions, inputs: StateInputs
) -> None:
    """Run the state into a staging folder, write its marker, swap it in."""
    out = folder.parent
    out.mkdir(parents=True, exist_ok=True)
    _clean_stale(out, inputs.usps)
    staging = Path(tempfile.mkdtemp(prefix=f".{inputs.usps}.partial-", dir=out))
    staging.chmod(0o777 & ~_umask())  # mkdtemp's folder is private; the outputs are not
    try:
        result = pipeline.run(
            cfg,
            out=staging,
            quiet=True,
            command=_command(options.config, inputs.usps, options.out),
            write_maps=options.write_maps,
        )
        marker = {
            "format": _MARKER_FORMAT,
            "state": inputs.usps,
            "digest": digest,
            "files": sorted(str(Path(f).relative_to(staging)) for f in result.files),
            "provenance": result.provenance,
            "missing": inputs.missing,
            "equity": equity.__version__,
            "seconds": round(result.seconds, 2),
        }
        atomic_write_text(staging / DONE_MARKER, json.dumps(marker, indent=1, default=str) + "\n")
        _swap_in(staging, folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# -- what the national outputs need from a finished state ------------------------------------------


def _selected(folder: Path) -> gpd.GeoDataFrame:
    """The selected rows of the state's candidates.csv, with their geometry."""
    table = export.read_candidates(folder / "candidates.csv")
    table = table[table["selected"].astype(bool)] if "selected" in table else table.iloc[:0]
    geo_path = folder / "candidates.geojson"
    if geo_path.is_file():
        geo = gpd.read_file(geo_path, columns=["GEOID"]).drop_duplicates("GEOID")
        geometry = table["GEOID"].map(geo.set_index("GEOID").geometry)
    else:  # points from the centroid columns
        geometry = gpd.points_from_xy(table.get("longitude"), table.get("latitude"))
    return gpd.GeoDataFrame(table, geometry=gpd.GeoSeries(geometry, index=table.index), crs=4326)


def _counties(folder: Path) -> gpd.GeoDataFrame | None:
    """The state's county table without the index's own columns."""
    path = folder / "index_county.parquet"
    if not path.is_file():
        return None
    table = gpd.read_parquet(path)
    drop = [c for c in table.columns if c.startswith(_INDEX_PREFIXES) or c in _INDEX_COLUMNS]
    out = table.drop(columns=drop)
    out.attrs = {}
    return out


def _success(inputs: StateInputs, folder: Path, status: str) -> StateResult:
    marker = _read_marker(folder) or {}
    selected = _selected(folder)
    names = ", ".join(str(n) for n in selected["NAME"]) if "NAME" in selected else ""
    message = f"{len(selected)} selected: {names}" if len(selected) else "no site selected"
    return StateResult(
        usps=inputs.usps,
        fips=inputs.fips,
        name=inputs.name,
        status=status,
        message=message,
        selected=selected,
        counties=_counties(folder),
        provenance=list(marker.get("provenance", [])),
        missing=dict(inputs.missing),
    )


def _one_line(exc: BaseException, usps: str) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    text = text.removeprefix(f"{usps}: ")  # the result names its state already
    if isinstance(exc, EquityError):
        return text
    return f"{type(exc).__name__} in a stage: {text}"


def _release_memory() -> None:
    """Return freed memory to the system between states in a long-lived worker."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """BLAS on one thread while a state runs, as on a Dask worker (its nanny sets
    ``OPENBLAS_NUM_THREADS=1``): a matrix product summed in another order differs in the last
    binary digit, and the engines' outputs are then not byte-identical."""
    try:
        from threadpoolctl import threadpool_limits  # with scikit-learn (esda, mapclassify)
    except ImportError:  # pragma: no cover
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


def run_state(state: str, cache_folder: str | os.PathLike[str], options: RunOptions) -> StateResult:
    """Run one state from the fetch cache into ``<out>/<USPS>/`` (or resume it).

    Parameters
    ----------
    state
        USPS or FIPS code.
    cache_folder
        The fetch cache holding ``states/<USPS>/manifest.json`` (shared storage on a cluster).
    options
        The run options.

    Returns
    -------
    StateResult
        Never raises for a failure of the state: its status is then ``failed`` with the
        reason on one line.
    """
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    st = lookup_state(state)
    result: StateResult
    with _PeakMemory(fresh=options.fresh_process) as memory, _one_blas_thread():
        try:
            inputs = read_manifest(cache_folder, st.usps)
            cfg = state_config(options.config, inputs, cache_folder)
            digest = _digest(inputs, cfg, options)
            folder = Path(options.out) / st.usps
            status = "resumed"
            if options.force or not _up_to_date(_read_marker(folder), digest, folder):
                _run_into(folder, cfg, digest, options, inputs)
                status = "done"
            result = _success(inputs, folder, status)
        except Exception as exc:  # a state's failure is its result, never the run's
            log.info("%s failed:\n%s", st.usps, traceback.format_exc())
            result = StateResult(st.usps, st.fips, st.name, "failed", _one_line(exc, st.usps))
    result.seconds = time.perf_counter() - t0
    result.cpu_seconds = _cpu_seconds() - cpu0
    result.peak_mb = memory.peak
    _release_memory()
    return result


def failed_result(state: str, message: str, *, seconds: float = 0.0) -> StateResult:
    """The result of a state whose task never returned (its process died)."""
    st = lookup_state(state)
    return StateResult(st.usps, st.fips, st.name, "failed", message, seconds=seconds)
