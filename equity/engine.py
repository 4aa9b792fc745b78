"""Where the heavy geometry of a run is computed: on this machine, or partitioned on Dask.

The expensive steps of :func:`equity.pipeline.build_levels` are the street level
(:func:`equity.geographies.street_level`: per county, the H3 cover of its block groups, their
overlay with the cells and the block or tile weights) and the Ookla summaries
(:func:`~equity.geographies.ookla_to_polygons`, :func:`~equity.geographies.ookla_to_grid`). An
engine decides where their independent parts run:

* :meth:`Engine.map_partitions` runs one function over a list of argument tuples (one per
  county for the street level) and returns the results in the order of the list.
  :class:`LocalEngine` (``engine = "local"``, the default) calls it on each in turn, or, for
  a region large enough to pay for it, in ``[run] workers`` forked processes of this machine
  (:mod:`equity.processes`), and never imports dask; :class:`DaskEngine` (``engine =
  "dask"``) submits one task per part to a ``dask.distributed`` cluster, so the workers
  build the county pieces and the client only combines them. (A national run partitions by
  state instead: each Dask worker builds and indexes whole states, see
  :mod:`equity.national.engines`.)
* The Ookla summaries are split in :mod:`equity.geographies` into a *pieces* function, whose
  rows for one tile depend only on that tile and the polygons overlapping it, and a cheap
  *combine* function. :class:`DaskEngine` partitions the tiles by a 0.5-degree lon/lat grid
  with ``dask_geopandas``, gives each partition only the polygons whose bounds meet its own,
  runs the same pieces functions on the workers and combines on the client.

Results are identical, bit for bit: the parts are computed by the same functions from the
same inputs (pickled and unpickled unchanged) and combined on the client in the order of the
list whatever order the workers finish in. What stays on the client: reading the inputs,
combining the county pieces into the pooled street units (their counts, MOEs and hexagons),
aggregation up the hierarchy, indicators and the index (its percentile ranks need every
place), hot spots, placement and the outputs.

Examples
--------
>>> with get_engine("local") as eng:
...     eng.map_partitions(divmod, [(7, 2), (9, 4)])
[(3, 1), (2, 1)]
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import geopandas as gpd
import numpy as np
import pandas as pd

from equity import geographies, settings
from equity.errors import ConfigError, EquityError, check_choice
from equity.geographies.h3cells import _check_resolution
from equity.geographies.ookla import _check_ookla_polygons, _tile_table
from equity.geographies.overlay import OVERLAY_METHODS
from equity.partitions import (
    PARTITION_WIDTH,
    _named,
    _tile_grid_keys,
    assign_partitions,
    part_name,
    partitions_overlapping,
)

if TYPE_CHECKING:
    from equity.config import Config

__all__ = [
    "ENGINES",
    "DaskEngine",
    "Engine",
    "LocalEngine",
    "assign_partitions",
    "part_name",
    "process_usage",
    "engine_from_config",
    "get_engine",
    "partitions_overlapping",
]

log = logging.getLogger(__name__)

R = TypeVar("R")

#: Engines of ``[run] engine`` (``equity.config`` checks the setting against them).
ENGINES: tuple[str, ...] = ("local", "dask")
_INSTALL = 'pip install "equity[scale]"'
#: ``MALLOC_TRIM_THRESHOLD_`` of the workers of a LocalCluster this engine starts (bytes).
#: Dask sets 64 KiB, so glibc hands freed heap back to the system after nearly every large
#: free; GEOS, NumPy and pandas code that allocates and frees all the time then re-faults its
#: pages, and real Virginia's whole run as a Dask task took 80 s of CPU against 52-65 s in a
#: process of its own. At 128 MiB it took 55 s (benchmarks/bench_dask_states.py; docs/scale.md).
WORKER_TRIM = 128 * 2**20


class Engine:
    """Runs the expensive stage functions of a run; a context manager closing its resources.

    Subclasses override where the work happens; results are the same whichever engine runs.
    """

    #: The ``[run] engine`` value of this engine.
    name: str = "local"

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the engine's resources (a cluster it started, a client)."""

    def describe(self) -> str:
        """One line naming the engine (for progress lines)."""
        return self.name

    def map_partitions(
        self,
        function: Callable[..., R],
        args: Sequence[tuple[Any, ...]],
        *,
        memory: Sequence[float] | None = None,
    ) -> list[R]:
        """``[function(*a) for a in args]``, wherever the engine runs its work.

        Parameters
        ----------
        function
            A module-level function (a Dask worker imports it by name).
        args
            One tuple of positional arguments per part (e.g. the block groups, blocks and
            tiles of one county).
        memory
            Estimated peak bytes of each part: the local engine's processes run parts side
            by side only while these fit in memory (a Dask worker has its own memory limit
            and ignores it).

        Returns
        -------
        list
            The results, in the order of `args`.

        Examples
        --------
        >>> LocalEngine().map_partitions(pow, [(2, 3), (3, 2)])
        [8, 9]
        """
        return [function(*a) for a in args]

    def ookla_to_grid(
        self,
        tiles: gpd.GeoDataFrame,
        *,
        resolution: int = 9,
        min_tests: float = settings.min_ookla_tests,
    ) -> pd.DataFrame:
        """:func:`equity.geographies.ookla_to_grid` (same arguments, same result)."""
        return geographies.ookla_to_grid(tiles, resolution=resolution, min_tests=min_tests)

    def ookla_to_polygons(
        self,
        tiles: gpd.GeoDataFrame,
        polygons: gpd.GeoDataFrame,
        *,
        id_column: str = "GEOID",
        min_tests: float = settings.min_ookla_tests,
        method: Literal["area", "centroid"] = "area",
    ) -> pd.DataFrame:
        """:func:`equity.geographies.ookla_to_polygons` (same arguments, same result)."""
        return geographies.ookla_to_polygons(
            tiles, polygons, id_column=id_column, min_tests=min_tests, method=method
        )


class LocalEngine(Engine):
    """Runs the stage functions on this machine (``engine = "local"``).

    Parameters
    ----------
    processes
        Worker processes for :meth:`map_partitions` (``[run] workers``): with more than one,
        the parts of a large enough call (at least :attr:`min_rows` rows in their first
        arguments together, e.g. the block groups of a state) run in that many processes
        (:func:`equity.processes.map_in_processes`), with the same result; small calls, and
        ``processes = 1``, run in turn in this process.
    """

    name = "local"
    #: Fewest rows of the parts' first arguments (block groups) worth starting processes for.
    min_rows: int = 1_000

    def __init__(self, processes: int = 1) -> None:
        if int(processes) < 1:
            msg = f"run.workers must be at least 1; got {processes!r}"
            raise ConfigError(msg)
        self.processes = int(processes)

    def describe(self) -> str:
        """``local`` or ``local, 2 processes``."""
        return self.name if self.processes == 1 else f"{self.name}, {self.processes} processes"

    def map_partitions(
        self,
        function: Callable[..., R],
        args: Sequence[tuple[Any, ...]],
        *,
        memory: Sequence[float] | None = None,
    ) -> list[R]:
        """``[function(*a) for a in args]``, in :attr:`processes` processes when it pays.

        `memory` (estimated peak bytes of each part) keeps parts that would not fit in
        memory together from running side by side; see :meth:`Engine.map_partitions`.
        """
        parts = list(args)
        rows = sum(len(a[0]) for a in parts if a and hasattr(a[0], "__len__"))
        if self.processes < 2 or len(parts) < 2 or rows < self.min_rows:
            return [function(*a) for a in parts]
        from equity.processes import map_in_processes

        return map_in_processes(
            function,
            parts,
            processes=self.processes,
            memory=memory,
            names=[part_name(a, i) for i, a in enumerate(parts)],
        )


# ---------------------------------------------------------------------------------------------
# per-partition functions (run on the workers)


def _frame(part: pd.DataFrame, crs: Any) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(part.reset_index(drop=True), geometry="geometry", crs=crs)


def _run_part(function: Callable[..., Any], *args: Any) -> tuple[Any, dict[str, Any]]:
    """``function(*args)`` on a worker, with its wall and CPU seconds and where it ran."""
    import time

    from distributed import get_worker

    wall, cpu = time.perf_counter(), time.process_time()
    out = function(*args)
    return out, {
        "wall_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "worker": get_worker().address,
    }


def process_usage(*, reset_peak: bool = False) -> dict[str, float]:
    """CPU seconds, resident and peak resident memory (MB) of this process (Linux).

    Parameters
    ----------
    reset_peak
        Reset the peak to the current size first (``/proc/self/clear_refs``), so a later
        call reports the peak since this one.

    Returns
    -------
    dict
        ``cpu_s`` (user + system), ``rss_mb``, ``peak_mb`` (``VmHWM``; ``ru_maxrss`` where
        ``/proc`` is missing).

    Examples
    --------
    >>> sorted(process_usage())
    ['cpu_s', 'peak_mb', 'rss_mb']
    """
    import resource
    from pathlib import Path

    if reset_peak:
        with contextlib.suppress(OSError):
            Path("/proc/self/clear_refs").write_text("5")
    fields: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024.0
    r = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu_s": r.ru_utime + r.ru_stime,
        "rss_mb": fields.get("VmRSS", r.ru_maxrss / 1024.0),
        "peak_mb": fields.get("VmHWM", r.ru_maxrss / 1024.0),
    }


def _ookla_grid_part(tiles_part: pd.DataFrame, *, crs: Any, resolution: int) -> pd.DataFrame:
    if not len(tiles_part):
        return _empty_tile_pieces("GEOID")
    tiles = _frame(tiles_part, crs)
    pieces = geographies.ookla_grid_pieces(tiles, resolution=resolution)
    rows = tiles["_row"].to_numpy(dtype=np.intp)
    return pieces.assign(tile=rows[pieces["tile"].to_numpy(dtype=np.intp)])


def _ookla_polygon_part(
    tiles_part: pd.DataFrame,
    polys_part: pd.DataFrame,
    *,
    tiles_crs: Any,
    polys_crs: Any,
    method: Literal["area", "centroid"],
) -> pd.DataFrame:
    if not len(tiles_part) or not len(polys_part):
        return _empty_tile_pieces("polygon")
    tiles, polys = _frame(tiles_part, tiles_crs), _frame(polys_part, polys_crs)
    pieces = geographies.ookla_polygon_pieces(tiles, polys, method=method)
    t_rows = tiles["_row"].to_numpy(dtype=np.intp)
    p_rows = polys["_row"].to_numpy(dtype=np.intp)
    return pieces.assign(
        tile=t_rows[pieces["tile"].to_numpy(dtype=np.intp)],
        polygon=p_rows[pieces["polygon"].to_numpy(dtype=np.intp)],
    )


def _empty_tile_pieces(target: str) -> pd.DataFrame:
    tgt = pd.array([], dtype="str") if target == "GEOID" else np.zeros(0, dtype=np.intp)
    return pd.DataFrame({"tile": np.zeros(0, dtype=np.intp), target: tgt, "share": np.zeros(0)})


# ---------------------------------------------------------------------------------------------
# Dask


def _import_dask() -> tuple[Any, Any]:
    try:
        import dask_geopandas
        import distributed
    except ImportError as exc:
        msg = (
            f'engine = "dask" needs dask.distributed and dask-geopandas ({exc.name} is not '
            f"installed); install them with: {_INSTALL}"
        )
        raise ConfigError(msg) from None
    return dask_geopandas, distributed


class DaskEngine(Engine):
    """Runs the street level's county parts and the Ookla pieces on a ``dask.distributed`` cluster.

    Parameters
    ----------
    scheduler
        Address of a running scheduler (``"tcp://host:8786"``); ``None`` or ``""`` starts a
        ``distributed.LocalCluster`` on this machine.
    workers
        Worker processes of the LocalCluster (one thread each); ignored with `scheduler`.
    partition_by
        ``"county"`` or ``"state"``: the GEOID prefix keying the block-group partitions.
    timeout
        Seconds to wait for the scheduler.
    client
        An existing ``distributed.Client`` to use (left open on close).

    Raises
    ------
    ConfigError
        When dask is not installed, `partition_by` or `workers` is invalid, or the scheduler
        cannot be reached (the message names the address).

    Notes
    -----
    Use it as a context manager, so the cluster it started is closed::

        with DaskEngine(scheduler="tcp://10.0.0.5:8786") as eng:
            units, xwalk = geographies.street_level(
                blockgroups, counts=["households"], map_partitions=eng.map_partitions
            )

    Every input goes from this process to the workers, a partition at a time; the workers
    need the ``equity`` package (same version), not the input files.
    """

    name = "dask"
    #: Block groups per partition aimed at (more partitions than workers keeps them busy).
    blockgroups_per_partition = 2_000
    #: Tiles per partition aimed at.
    tiles_per_partition = 50_000
    #: :meth:`map_partitions` scatters arguments of at least this many bytes (sizeof).
    scatter_bytes = 100_000
    #: Tasks of :meth:`map_partitions` submitted at once (None: twice the worker threads).
    in_flight: int | None = None

    def __init__(
        self,
        *,
        scheduler: str | None = None,
        workers: int = 2,
        partition_by: Literal["county", "state"] = "county",
        timeout: float = 10.0,
        client: Any = None,
    ) -> None:
        self._dgpd, distributed = _import_dask()
        check_choice("partition_by", partition_by, PARTITION_WIDTH, where="DaskEngine")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            msg = f"run.workers = {workers!r} must be a whole number >= 1"
            raise ConfigError(msg)
        self.partition_by = partition_by
        self.scheduler = scheduler or None
        self.cluster: Any = None
        self._own_client = client is None
        #: Per-partition row counts shipped by the last call: ``{"step": ..., "rows": [...]}``.
        self.last_partitions: dict[str, Any] = {}
        self._tile_cache: tuple[Any, ...] | None = None
        # distributed logs every connection at INFO: quiet unless the run logs INFO itself
        self._quieted: list[tuple[logging.Logger, int]] = []
        if not logging.getLogger().isEnabledFor(logging.INFO):
            for name in ("distributed", "distributed.scheduler", "distributed.core"):
                logger = logging.getLogger(name)
                self._quieted.append((logger, logger.level))
                logger.setLevel(logging.ERROR)
        if client is not None:
            self.client = client
            return
        try:
            self._connect(distributed, workers, timeout)
        except BaseException:
            self.close()  # a half-started cluster, and the loggers' levels
            raise
        log.info("dask engine: %s", self.describe())

    def _connect(self, distributed: Any, workers: int, timeout: float) -> None:
        self.client = None
        if self.scheduler is None:
            # the workers' allocator keeps up to this much freed memory (see the constant)
            with _worker_trim():
                self.cluster = distributed.LocalCluster(
                    n_workers=workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
            self.client = distributed.Client(self.cluster)
            return
        try:
            self.client = distributed.Client(self.scheduler, timeout=timeout)
        except (OSError, TimeoutError) as exc:
            msg = (
                f"run.scheduler = {self.scheduler!r}: cannot reach the Dask scheduler "
                f"within {timeout:g}s ({type(exc).__name__}: {exc}); start one with "
                "`dask scheduler` or leave run.scheduler empty for a local cluster"
            )
            raise ConfigError(msg) from None

    def close(self) -> None:
        """Close the client and the LocalCluster this engine started."""
        self._tile_cache = None
        try:
            if self._own_client and getattr(self, "client", None) is not None:
                self.client.close()
                self.client = None
            if self.cluster is not None:
                self.cluster.close()
                self.cluster = None
        finally:
            for logger, level in self._quieted:
                logger.setLevel(level)
            self._quieted = []

    def describe(self) -> str:
        """``dask (<address>, <n> threads)``."""
        if getattr(self, "client", None) is None:
            return "dask (closed)"
        where = self.scheduler or "local cluster"
        return f"dask ({where}, {self._threads()} worker threads)"

    def _threads(self) -> int:
        return max(1, sum(self.client.nthreads().values()))

    def _n_partitions(self, rows: int, per_partition: int) -> int:
        return max(2 * self._threads(), math.ceil(rows / per_partition))

    def _partitioned(self, frame: gpd.GeoDataFrame, part: np.ndarray, n: int) -> Any:
        """A dask-geopandas frame whose partition i holds the rows with ``part == i``.

        Built from one frame per partition, empty ones included, with divisions ``0..n-1``
        given explicitly: partitions of block groups, tiles and polygons then line up for
        ``map_partitions`` whichever of them hold no rows (a county without tiles, a tile
        cell outside every polygon).
        """
        import dask
        import dask.dataframe as dd

        keyed = frame.assign(_part=np.asarray(part, dtype=np.int64))
        keyed = keyed.sort_values("_part", kind="stable").set_index("_part")
        bounds = np.searchsorted(keyed.index.to_numpy(), np.arange(n + 1))
        parts = [dask.delayed(keyed.iloc[bounds[i] : bounds[i + 1]]) for i in range(n)]
        divisions = (*range(n), n - 1) if n > 1 else (0, 0)
        ddf = dd.from_delayed(parts, meta=keyed.iloc[:0], divisions=divisions, verify_meta=False)
        return self._dgpd.from_dask_dataframe(ddf, geometry=frame.geometry.name)

    def _record(self, step: str, counts: dict[str, np.ndarray], n: int) -> None:
        rows = [
            {"partition": i, **{k: int(np.sum(v == i)) for k, v in counts.items()}}
            for i in range(n)
        ]
        self.last_partitions = {"step": step, "rows": rows}
        log.info("dask engine: %s in %d partitions", step, n)

    def _gather(self, ddf: Any) -> pd.DataFrame:
        try:
            return self.client.compute(ddf).result()
        except EquityError:
            raise
        except OSError as exc:  # the cluster went away mid-run
            msg = f"Dask cluster {self.scheduler or 'local'} failed: {exc}"
            raise EquityError(msg) from None

    def map_partitions(
        self,
        function: Callable[..., R],
        args: Sequence[tuple[Any, ...]],
        *,
        memory: Sequence[float] | None = None,
    ) -> list[R]:
        """``[function(*a) for a in args]``, one task per part on the cluster (`memory` is
        not used: each worker has its own memory limit).

        Arguments larger than :attr:`scatter_bytes` (a county's block groups, blocks and
        tiles) are scattered to the workers, a part at a time, just before its task is
        submitted; at most :attr:`in_flight` tasks (default: twice the worker threads) are
        submitted or running at once, the largest parts first, so the client never holds
        more than a few parts' results beyond those it has gathered and no worker idles at
        the end behind one big part. Each result is gathered as its task finishes and put
        in its place: the list comes back in the order of `args`.

        Per-part figures of the call (name, seconds, CPU seconds, worker) are kept in
        :attr:`last_partitions`.

        Raises
        ------
        EquityError
            The error a part raised on its worker, of the same class, its message starting
            with the part's name (``county 51059: ...``, see :func:`part_name`); or, when the
            cluster goes away mid-run, an :class:`~equity.errors.EquityError` naming it.
            Other exceptions of a part are re-raised as they are, with the part named in a
            note. The other parts are cancelled.
        """
        from distributed import as_completed
        from distributed.client import FutureCancelledError

        parts = list(args)
        if not parts:
            self.last_partitions = {"step": getattr(function, "__name__", "map"), "rows": []}
            return []
        from dask.sizeof import sizeof

        sizes = [sum(sizeof(x) for x in a) for a in parts]
        order = iter(sorted(range(len(parts)), key=lambda i: (-sizes[i], i)))
        limit = max(1, self.in_flight or 2 * self._threads())
        results: list[Any] = [None] * len(parts)
        stats: list[dict[str, Any]] = [{} for _ in parts]
        running: dict[Any, tuple[int, Any]] = {}  # key -> (part, future)
        queue = as_completed()

        def submit() -> None:
            i = next(order, None)
            if i is None:
                return
            sent = [
                self.client.scatter(x, hash=False)
                if sizes[i] and sizeof(x) >= self.scatter_bytes
                else x
                for x in parts[i]
            ]
            fut = self.client.submit(_run_part, function, *sent, pure=False)
            running[fut.key] = (i, fut)
            queue.add(fut)

        for _ in range(limit):
            submit()
        try:
            for fut in queue:
                i = running[fut.key][0]
                try:
                    results[i], stats[i] = fut.result()
                except EquityError as exc:
                    raise _named(exc, part_name(parts[i], i)) from exc
                except (OSError, FutureCancelledError) as exc:
                    msg = f"Dask cluster {self.scheduler or 'local'} failed: {exc}"
                    raise EquityError(msg) from None
                except Exception as exc:
                    exc.add_note(f"in {part_name(parts[i], i)} on the Dask engine")
                    raise
                del running[fut.key]
                fut.release()
                submit()
        except BaseException:
            self.client.cancel([f for _, f in running.values()])
            raise
        rows = [
            {"partition": i, "name": part_name(a, i), "bytes": int(sizes[i]), **stats[i]}
            for i, a in enumerate(parts)
        ]
        self.last_partitions = {"step": getattr(function, "__name__", "map"), "rows": rows}
        log.info("dask engine: %s in %d parts", self.last_partitions["step"], len(parts))
        return results

    def worker_usage(self, *, reset_peak: bool = False) -> dict[str, dict[str, float]]:
        """:func:`process_usage` of every worker process, by worker address."""
        return dict(self.client.run(process_usage, reset_peak=reset_peak))

    def _tile_partitions(self, tiles: gpd.GeoDataFrame) -> tuple[np.ndarray, int, Any]:
        """Tiles partitioned by the lon/lat grid, persisted on the workers (cached per table)."""
        if self._tile_cache is not None and self._tile_cache[0] is tiles:
            return self._tile_cache[1:]
        part = assign_partitions(
            _tile_grid_keys(tiles), self._n_partitions(len(tiles), self.tiles_per_partition)
        )
        n = int(part.max()) + 1 if len(part) else 1
        layer = gpd.GeoDataFrame(
            {"_row": np.arange(len(tiles), dtype=np.intp)},
            geometry=tiles.geometry.to_numpy(),
            crs=tiles.crs,
        )
        ddf = self.client.persist(self._partitioned(layer, part, n))
        self._tile_cache = (tiles, part, n, ddf)
        return part, n, ddf

    def ookla_to_grid(
        self,
        tiles: gpd.GeoDataFrame,
        *,
        resolution: int = 9,
        min_tests: float = settings.min_ookla_tests,
    ) -> pd.DataFrame:
        """:func:`equity.geographies.ookla_to_grid`, its pieces computed per tile partition."""
        _tile_table(tiles, name="ookla_to_grid: tiles")  # fail before the cluster
        _check_resolution(resolution)
        part, n, tiles_ddf = self._tile_partitions(tiles)
        self._record("ookla grid", {"tiles": part}, n)
        pieces_ddf = tiles_ddf.map_partitions(
            _ookla_grid_part, crs=tiles.crs, resolution=resolution, meta=_empty_tile_pieces("GEOID")
        )
        return geographies.combine_ookla_grid(tiles, self._gather(pieces_ddf), min_tests=min_tests)

    def ookla_to_polygons(
        self,
        tiles: gpd.GeoDataFrame,
        polygons: gpd.GeoDataFrame,
        *,
        id_column: str = "GEOID",
        min_tests: float = settings.min_ookla_tests,
        method: Literal["area", "centroid"] = "area",
    ) -> pd.DataFrame:
        """:func:`equity.geographies.ookla_to_polygons`, its pieces computed per tile partition."""
        _tile_table(tiles, name="ookla_to_polygons: tiles")
        _check_ookla_polygons(polygons, id_column=id_column)
        check_choice("method", method, OVERLAY_METHODS, where="ookla_to_polygons")
        part, n, tiles_ddf = self._tile_partitions(tiles)
        polys = gpd.GeoDataFrame(
            {"_row": np.arange(len(polygons), dtype=np.intp)},
            geometry=polygons.geometry.to_numpy(),
            crs=polygons.crs,
        )
        ppart, prow = partitions_overlapping(part, tiles.geometry.to_crs(polys.crs), polys.geometry)
        polys_ddf = self._partitioned(polys.iloc[prow], ppart, n)
        self._record("ookla polygons", {"tiles": part, "polygons": ppart}, n)
        pieces_ddf = tiles_ddf.map_partitions(
            _ookla_polygon_part,
            polys_ddf,
            tiles_crs=tiles.crs,
            polys_crs=polys.crs,
            method=method,
            meta=_empty_tile_pieces("polygon"),
        )
        return geographies.combine_ookla_polygons(
            tiles, polygons, self._gather(pieces_ddf), id_column=id_column, min_tests=min_tests
        )


@contextlib.contextmanager
def _worker_trim() -> Iterator[None]:
    """:data:`WORKER_TRIM` for the nannies made inside: in Dask's configuration, which each
    nanny reads once, and in this process's environment, which wins over it (a cluster
    started earlier in this process leaves Dask's 64 KiB there); the environment is restored."""
    import os

    import dask

    key = "MALLOC_TRIM_THRESHOLD_"
    before = os.environ.get(key)
    os.environ[key] = str(WORKER_TRIM)
    try:
        with dask.config.set({f"distributed.nanny.pre-spawn-environ.{key}": WORKER_TRIM}):
            yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def get_engine(
    name: str = "local",
    *,
    scheduler: str | None = None,
    workers: int = 2,
    timeout: float = 10.0,
) -> Engine:
    """The engine called `name` (``"local"`` or ``"dask"``).

    Parameters
    ----------
    name
        ``"local"``: this process. ``"dask"``: a Dask cluster (see :class:`DaskEngine`).
    scheduler
        Dask scheduler address; empty or ``None`` starts a LocalCluster.
    workers
        Worker processes of the LocalCluster; on the local engine, the processes of the
        street level's county parts (:class:`LocalEngine`).
    timeout
        Seconds to wait for the scheduler.

    Returns
    -------
    Engine
        Use it as a context manager so a cluster it started is closed.

    Raises
    ------
    ConfigError
        For an unknown `name` (listing the valid ones) and the errors of :class:`DaskEngine`.

    Examples
    --------
    >>> get_engine("local").name
    'local'
    """
    check_choice("engine", name, ENGINES, where="run.engine")
    if name == "local":
        return LocalEngine(processes=workers)
    return DaskEngine(scheduler=scheduler, workers=workers, timeout=timeout)


def engine_from_config(cfg: Config) -> Engine:
    """The engine a run configuration asks for (``[run] engine``, ``scheduler``, ``workers``).

    Parameters
    ----------
    cfg
        Run configuration.

    Returns
    -------
    Engine
        :class:`LocalEngine` or :class:`DaskEngine`.
    """
    return get_engine(
        getattr(cfg, "engine", "local"),
        scheduler=getattr(cfg, "scheduler", None),
        workers=getattr(cfg, "workers", 2),
    )
