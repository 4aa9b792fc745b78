"""A run's independent parts on this machine's cores: :func:`map_in_processes`.

The local engine (:class:`equity.engine.LocalEngine`) gives the per-county parts of the street
level to a few worker processes when the region is large enough to pay for them (a worker
starts in a few milliseconds as a copy of this process; its results are pickled back). Each part is computed by the same function from the
same (pickled and unpickled, so unchanged) inputs as in this process, and the results come
back in the order of the parts, so the result is identical, bit for bit, to computing the
parts in turn.

Scheduling: the largest parts start first, so no worker idles at the end behind one big
part; parts run side by side only while their estimated memory fits in the memory available,
so a region of a few huge counties (Alaska's boroughs) runs them one at a time rather than
running out of memory. How the workers start (a copy of this process, or from a server
process) is :func:`_context`'s choice.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from equity.errors import EquityError

__all__ = ["map_in_processes"]

log = logging.getLogger(__name__)

R = TypeVar("R")

#: Share of the memory available at the start of the call that parts running side by side
#: may take together (by their estimates); the rest is left for this process and the system.
MEMORY_SHARE = 0.6


#: The parts of the running call, inherited by forked workers (they are not pickled then).
_INHERITED: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []


def _context() -> multiprocessing.context.BaseContext:
    """How the workers start.

    ``fork`` when this process runs a single Python thread (a command-line run): the workers
    are copies of this process, with its modules and the parts already in memory, and start
    at once. With other threads running (Jupyter, a Dask worker) forking is unsafe (a lock
    held by another thread stays locked in the copy), so ``forkserver``: a worker forks from
    a server that imported the part's module once, and receives its part pickled. ``spawn``
    where neither exists.
    """
    methods = multiprocessing.get_all_start_methods()
    if "fork" in methods and threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    if "forkserver" in methods:  # pragma: no cover - a test process runs one thread
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")  # pragma: no cover - Windows


def _inherited(i: int) -> Any:
    """Part `i` of the running call, in a forked worker."""
    function, part = _INHERITED[i]
    return function(*part)


def map_in_processes(
    function: Callable[..., R],
    args: Sequence[tuple[Any, ...]],
    *,
    processes: int,
    memory: Sequence[float] | None = None,
    names: Sequence[str] | None = None,
    available: float | None = None,
) -> list[R]:
    """``[function(*a) for a in args]`` in up to `processes` worker processes.

    Parameters
    ----------
    function
        A module-level function (the workers import it by name).
    args
        One tuple of positional arguments per part.
    processes
        Worker processes (at most one per part).
    memory
        Estimated peak bytes of each part (None: unknown, parts are ordered as given). Parts
        start largest first, and a part starts beside running ones only while the estimates
        of the running parts and its own stay within :data:`MEMORY_SHARE` of `available`.
    names
        A name per part for error messages (``county 51059``).
    available
        Bytes of memory available (default: :func:`equity.checks.available_memory`).

    Returns
    -------
    list
        The results, in the order of `args`.

    Raises
    ------
    EquityError
        A part's own :class:`~equity.errors.EquityError` (same class), its message starting
        with the part's name; or, when a worker process dies (killed, out of memory), an
        :class:`~equity.errors.EquityError` naming the part. The other parts are cancelled.
    """
    parts = list(args)
    if processes < 1:
        msg = f"processes must be at least 1; got {processes!r}"
        raise ValueError(msg)
    if not parts:
        return []
    label = list(names) if names is not None else [f"part {i}" for i in range(len(parts))]
    need = [float(m) for m in memory] if memory is not None else [0.0] * len(parts)
    if available is None:
        from equity.checks import available_memory

        available = float(available_memory() or 0) or float("inf")
    budget = MEMORY_SHARE * available
    queue = sorted(range(len(parts)), key=lambda i: (-need[i], i))
    results: list[Any] = [None] * len(parts)
    ctx = _context()
    forked = ctx.get_start_method() == "fork"
    if ctx.get_start_method() == "forkserver":  # pragma: no cover - see _context
        ctx.set_forkserver_preload([function.__module__])  # no effect once the server runs
    _INHERITED[:] = [(function, p) for p in parts] if forked else []

    def submit(pool: ProcessPoolExecutor, i: int) -> Future[Any]:
        return pool.submit(_inherited, i) if forked else pool.submit(function, *parts[i])

    running: dict[Future[Any], int] = {}
    used = 0.0
    pool = ProcessPoolExecutor(max_workers=min(processes, len(parts)), mp_context=ctx)
    try:
        while queue or running:
            # the next part starts when a worker is free and its memory fits (alone always)
            while (
                queue
                and len(running) < processes
                and (not running or used + need[queue[0]] <= budget)
            ):
                i = queue.pop(0)
                running[submit(pool, i)] = i
                used += need[i]
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(done, key=running.__getitem__):
                i = running.pop(fut)
                used -= need[i]
                results[i] = _result(fut, label[i])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        _INHERITED.clear()
    log.info("processes: %s in %d parts on %d processes", function.__name__, len(parts), processes)
    return results


def _result(fut: Future[R], name: str) -> R:
    """The part's result; its errors named after the part."""
    try:
        return fut.result()
    except EquityError as exc:
        from equity.partitions import _named

        raise _named(exc, name) from exc
    except BrokenProcessPool:
        msg = f"{name}: its worker process died without a result (killed, e.g. out of memory)"
        raise EquityError(msg) from None
    except Exception as exc:
        exc.add_note(f"in {name}, in a worker process of the local engine")
        raise
