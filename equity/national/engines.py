"""Where the states of a national run are computed: one at a time here, or as Dask tasks.

``local`` (the default) runs the states one after the other, each in a fresh process forked
from a server process that has imported ``equity`` once (``multiprocessing``'s
``forkserver``): every state starts with a clean heap and returns all its memory when it
ends, so the run's peak is set by the largest state, not by the nation; a state whose process
dies (killed, out of memory) is reported as failed and the next state gets a new process.

``dask`` submits one task per state to a ``dask.distributed`` cluster (``[run] scheduler``,
or a LocalCluster of ``[run] workers`` processes). A task receives only the state's code,
the fetch cache's path and the run options; the worker reads the state's inputs from that
shared folder, writes ``<out>/<USPS>/`` itself and returns the small
:class:`~equity.national.state.StateResult`. Larger states (by the size of their own input
files) are given higher priority, so they start first and the workers finish together.

Both call :func:`equity.national.state.run_state`, so their outputs are identical.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from equity.national.manifest import manifest_path
from equity.national.state import RunOptions, StateResult, failed_result, run_state

__all__ = ["run_dask", "run_local"]

log = logging.getLogger("equity.national")

Report = Callable[[StateResult], None]


#: Modules the fork server imports once, so that no state's process pays for them: the state
#: task and what a run imports on first use (hot spots, towns, coverage, workbook, PNG maps).
PRELOAD = (
    "equity.national.state",
    "esda",
    "libpysal.weights",
    "spopt.region",
    "spopt.locate",
    "openpyxl",
    "matplotlib.figure",
    "matplotlib.backends.backend_agg",
    "matplotlib.colors",
    "matplotlib.path",
)


def _context() -> multiprocessing.context.BaseContext:
    """``forkserver`` (preloading :data:`PRELOAD`) where available, else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(list(PRELOAD))  # a module that fails to import is skipped
        return ctx
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def _pool(ctx: multiprocessing.context.BaseContext) -> ProcessPoolExecutor:
    # one state at a time, each in a new process (max_tasks_per_child=1)
    return ProcessPoolExecutor(max_workers=1, mp_context=ctx, max_tasks_per_child=1)


def run_local(
    states: Sequence[str],
    cache_folder: str | os.PathLike[str],
    options: RunOptions,
    *,
    report: Report,
) -> list[StateResult]:
    """Run `states` one at a time, each in a fresh process; `report` each result as it comes.

    Parameters
    ----------
    states
        USPS codes, in the order to run them.
    cache_folder
        The fetch cache.
    options
        Run options (sent to every task).
    report
        Called with each state's result as soon as it is known.

    Returns
    -------
    list of StateResult
        In the order of `states`.
    """
    ctx = _context()
    options = dataclasses.replace(options, fresh_process=True)
    results = []
    pool = _pool(ctx)
    try:
        for usps in states:
            t0 = time.perf_counter()
            try:
                result = pool.submit(run_state, usps, str(cache_folder), options).result()
            except BrokenProcessPool:
                result = failed_result(
                    usps,
                    "its worker process died without a result (killed, e.g. out of memory)",
                    seconds=time.perf_counter() - t0,
                )
                pool.shutdown(wait=False, cancel_futures=True)
                pool = _pool(ctx)
            report(result)
            results.append(result)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return results


def _own_size(cache_folder: Path, usps: str) -> int:
    """Bytes of a state's own input files (its folder in the cache), 0 when unknown."""
    try:
        folder = manifest_path(cache_folder, usps).parent
        return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    except OSError:  # the client may not see the workers' storage: no priorities then
        return 0


def run_dask(
    states: Sequence[str],
    cache_folder: str | os.PathLike[str],
    options: RunOptions,
    *,
    report: Report,
    scheduler: str | None = None,
    workers: int = 2,
) -> list[StateResult]:
    """Run `states` as tasks on a ``dask.distributed`` cluster; `report` each result.

    Parameters
    ----------
    states
        USPS codes.
    cache_folder
        The fetch cache, as the workers see it (shared storage).
    options
        Run options (sent to every task with the state's code and `cache_folder`).
    report
        Called with each state's result as it completes.
    scheduler
        Address of a running scheduler; None starts a LocalCluster.
    workers
        Worker processes of that LocalCluster (one thread each: one state at a time each).

    Returns
    -------
    list of StateResult
        In the order of `states`.

    Raises
    ------
    ConfigError
        Dask is not installed or the scheduler cannot be reached.
    """
    import distributed

    from equity.engine import DaskEngine

    folder = str(cache_folder)
    run = uuid.uuid4().hex[:8]
    by_state: dict[str, StateResult] = {}
    eng = DaskEngine(scheduler=scheduler, workers=workers)
    with eng:
        client = eng.client
        futures = {
            client.submit(
                run_state,
                usps,
                folder,
                options,
                key=f"equity-state-{usps}-{run}",
                pure=False,
                priority=_own_size(Path(folder), usps),
            ): usps
            for usps in states
        }
        for future in distributed.as_completed(futures):
            usps = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the task's worker died (KilledWorker) or was lost
                msg = " ".join(str(exc).split())
                result = failed_result(usps, f"its Dask task failed: {type(exc).__name__}: {msg}")
            by_state[usps] = result
            report(result)
    return [by_state[usps] for usps in states]
