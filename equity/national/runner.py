"""``equity run --states``: every selected state from the fetch cache, then the national files."""

from __future__ import annotations

import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from equity import settings
from equity.config import Config
from equity.errors import ConfigError
from equity.national import engines
from equity.national.outputs import write_national
from equity.national.selection import describe, parse_states
from equity.national.state import RunOptions, StateResult

__all__ = ["NationalResult", "run_states"]


@dataclass
class NationalResult:
    """What :func:`run_states` produced.

    Attributes
    ----------
    results
        Every state's result, in FIPS order.
    files
        National files written.
    seconds
        Wall time of the whole run.
    summary
        One line: states done, resumed and failed, where the outputs are.
    """

    results: list[StateResult]
    files: list[Path]
    seconds: float
    summary: str = ""

    @property
    def failed(self) -> list[StateResult]:
        """The states that failed."""
        return [r for r in self.results if r.status == "failed"]


class _Lines:
    """One progress line per state on stderr (unless quiet)."""

    def __init__(self, n: int, *, quiet: bool, stream: Any = None) -> None:
        self.n, self.quiet, self.done = n, quiet, 0
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()

    def write(self, text: str) -> None:
        if not self.quiet:
            print(f"[{time.perf_counter() - self.t0:7.1f}s] {text}", file=self.stream, flush=True)

    def __call__(self, r: StateResult) -> None:
        self.done += 1
        peak = f", peak {r.peak_mb:,.0f} MB" if r.peak_mb is not None else ""
        self.write(
            f"{self.done:>2}/{self.n} {r.usps} {r.status:<7} {r.message} ({r.seconds:.1f}s{peak})"
        )


def _summary(results: list[StateResult], out: Path, files: list[Path], seconds: float) -> str:
    counts = {s: sum(r.status == s for r in results) for s in ("done", "resumed", "failed")}
    n_sites = sum(len(r.selected) for r in results if r.ok and r.selected is not None)
    parts = [f"{n} {s}" for s, n in counts.items() if n]
    failed = [r.usps for r in results if r.status == "failed"]
    where = (
        f"{n_sites} selected site{'s' if n_sites != 1 else ''} -> {out / 'candidates.csv'}"
        if out / "candidates.csv" in files
        else "no selected sites"
    )
    maps = (
        f"; national map {out / 'maps' / 'national.html'}"
        if out / "maps" / "national.html" in files
        else ""
    )
    return (
        f"equity run: {len(results)} states ({', '.join(parts)}"
        + (f": {', '.join(failed)}" if failed else "")
        + f"), {where}{maps}; states.csv, METHODS.md; {seconds:.1f}s"
    )


def _default_command(cfg: Config, states: tuple[str, ...], out: Path) -> str:
    selection = "all" if len(states) == 51 else ",".join(states)
    return (
        "equity run"
        + (f" --config {shlex.quote(cfg.source)}" if cfg.source else "")
        + f" --states {selection} --out {shlex.quote(str(out))}"
    )


def run_states(
    cfg: Config,
    *,
    out: str | Path = ".",
    states: Any = None,
    cache_folder: str | Path | None = None,
    force: bool = False,
    quiet: bool = False,
    command: str | None = None,
    write_maps: bool = True,
) -> NationalResult:
    """Run every selected state from the fetch cache, one at a time, and the national outputs.

    Parameters
    ----------
    cfg
        Run configuration; ``cfg.run_states`` (``[data] states``) selects the states unless
        `states` is given; ``cfg.engine`` picks where they run (``local``: one at a time, each
        in a fresh process; ``dask``: tasks on a ``dask.distributed`` cluster, see
        :mod:`equity.national.engines`); its ``[data]`` files, if any, are added to every
        state's inputs.
    out
        Output folder: ``<out>/<USPS>/`` per state and the national files (see
        :mod:`equity.national.outputs`).
    states
        ``"all"``, ``"VA,MD"`` or a list of codes; default ``cfg.run_states``.
    cache_folder
        The fetch cache (``states/<USPS>/manifest.json``); default
        :data:`equity.settings.cache_folder`.
    force
        Recompute the states whose outputs are complete and whose inputs did not change
        (they are resumed otherwise).
    quiet
        No progress lines (one per state on stderr).
    command
        The command recorded in the national METHODS.md.
    write_maps
        Write the states' maps and the national map.

    Returns
    -------
    NationalResult
        Every state's result (failed states included: a failure never stops the others), the
        national files and a one-line summary.

    Raises
    ------
    ConfigError
        No states selected, or the Dask cluster cannot be reached.
    """
    selection = parse_states(states) if states is not None else tuple(cfg.run_states)
    if not selection:
        msg = "no states selected: give --states all|VA,MD or [data] states in the configuration"
        raise ConfigError(msg)
    out = Path(out)
    folder = Path(cache_folder if cache_folder is not None else settings.cache_folder)
    # the selection stays in the configuration: each state's own (state_config) replaces it
    # with the state's files; without files it would read as the bundled snapshot's
    options = RunOptions(config=cfg, out=str(out), force=force, write_maps=write_maps)
    lines = _Lines(len(selection), quiet=quiet)
    where = (
        f"on this machine, {'one' if cfg.workers == 1 else cfg.workers} at a time"
        if cfg.engine == "local"
        else f"on Dask ({cfg.scheduler or f'local cluster, {cfg.workers} workers'})"
    )
    lines.write(f"{describe(selection)}: {len(selection)} states from {folder}, {where}")
    t0 = time.perf_counter()
    if cfg.engine == "dask":
        results = engines.run_dask(
            selection, folder, options, report=lines, scheduler=cfg.scheduler, workers=cfg.workers
        )
    else:
        results = engines.run_local(selection, folder, options, report=lines, workers=cfg.workers)
    lines.write("national outputs ...")
    command = command or _default_command(cfg, selection, out)
    files = write_national(results, out, cfg=cfg, command=command, write_maps=write_maps)
    seconds = time.perf_counter() - t0
    return NationalResult(results, files, seconds, _summary(results, out, files, seconds))
