"""Where the states of a national run are computed: one at a time here, or as Dask tasks.

``local`` (the default) runs up to ``[run] workers`` states at once (default 2), each in a
fresh process forked from a server process that has imported ``equity`` once
(``multiprocessing``'s ``forkserver``): every state starts with a clean heap and returns all
its memory when it ends, so the run's peak is set by the largest states running together, not
by the nation. With more than one worker the largest states (by the size of their own input
files) start first, so the big ones overlap small ones and the peak is bounded by the
`workers` largest states; ``workers = 1`` runs the states one after the other in the order
given. Each state has a process pool of its own, so a state whose process dies (killed, out
of memory) is reported as failed and no other state is touched.

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
import json
import logging
import multiprocessing
import os
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from equity.national.manifest import manifest_path
from equity.national.state import RunOptions, StateResult, failed_result, run_state

__all__ = ["run_dask", "run_local"]

log = logging.getLogger("equity.national")

Report = Callable[[StateResult], None]
Task = Callable[[str, str, RunOptions], StateResult]


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
    # one state per pool, in a new process (max_tasks_per_child=1): a process that dies breaks
    # only its own pool, so it fails only its own state
    return ProcessPoolExecutor(max_workers=1, mp_context=ctx, max_tasks_per_child=1)


def _largest_first(states: Sequence[str], cache_folder: Path) -> list[str]:
    """`states` by the size of their own input files, largest first (ties in given order)."""
    sizes = {usps: _own_size(cache_folder, usps) for usps in states}
    return sorted(states, key=lambda usps: -sizes[usps])


def _outcome(usps: str, future: Future[StateResult], seconds: float) -> StateResult:
    """The state's result, or a failed result when its process died without one."""
    try:
        return future.result()
    except BrokenProcessPool:
        msg = "its worker process died without a result (killed, e.g. out of memory)"
        return failed_result(usps, msg, seconds=seconds)


def run_local(
    states: Sequence[str],
    cache_folder: str | os.PathLike[str],
    options: RunOptions,
    *,
    report: Report,
    workers: int = 2,
    task: Task = run_state,
) -> list[StateResult]:
    """Run `states`, up to `workers` at once, each in a fresh process; `report` each result.

    Parameters
    ----------
    states
        USPS codes.
    cache_folder
        The fetch cache.
    options
        Run options (sent to every task).
    report
        Called with each state's result as soon as it is known (in the order they finish).
    workers
        States run at the same time, each in a process of its own. 1 runs them one after the
        other in the order of `states`; more start the largest states (by the size of their
        input files) first. The peak memory is about that of the `workers` largest states.
    task
        What runs in each state's process (:func:`~equity.national.state.run_state`; it must
        be importable by name in that process).

    Returns
    -------
    list of StateResult
        In the order of `states`, whatever order they finished in.
    """
    if workers < 1:
        msg = f"workers must be at least 1, got {workers}"
        raise ValueError(msg)
    ctx = _context()
    options = dataclasses.replace(options, fresh_process=True)
    queue = list(states) if workers == 1 else _largest_first(states, Path(cache_folder))
    queue.reverse()  # pop() from the end
    running: dict[Future[StateResult], tuple[str, ProcessPoolExecutor, float]] = {}
    by_state: dict[str, StateResult] = {}
    try:
        while queue or running:
            while queue and len(running) < workers:
                usps = queue.pop()
                pool = _pool(ctx)
                future = pool.submit(task, usps, str(cache_folder), options)
                running[future] = (usps, pool, time.perf_counter())
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: running[f][2]):
                usps, pool, t0 = running.pop(future)
                result = _outcome(usps, future, time.perf_counter() - t0)
                pool.shutdown(wait=True)
                by_state[usps] = result
                report(result)
    finally:
        for _, pool, _ in running.values():
            pool.shutdown(wait=True, cancel_futures=True)
    return [by_state[usps] for usps in states]


def _own_size(cache_folder: Path, usps: str) -> int:
    """Bytes of a state's input files, 0 when unknown.

    The files its manifest names (a folder counts with the files in it, relative paths are
    under the cache as :func:`~equity.national.manifest.read_manifest` reads them), wherever
    they lie: a manifest may name files outside the cache. Without a readable manifest, the
    files of the state's folder in the cache.
    """
    try:
        path = manifest_path(cache_folder, usps)
        folder = path.parent
        try:
            data = json.loads(path.read_text(encoding="utf-8")).get("data", {})
        except (OSError, ValueError, AttributeError):  # no manifest, or not one
            data = None
        if not isinstance(data, dict) or not data:
            return sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
        total = 0
        for value in data.values():
            for item in value if isinstance(value, list) else [value]:
                p = Path(str(item))
                p = p if p.is_absolute() else Path(cache_folder) / p  # as read_manifest
                files = [f for f in p.rglob("*") if f.is_file()] if p.is_dir() else [p]
                total += sum(f.stat().st_size for f in files if f.exists())
        return total
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
