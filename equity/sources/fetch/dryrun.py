"""``equity fetch --dry-run``: what would be downloaded, and how big it is, without writing.

The plan is the real one (items up to date in the manifests are left out); each download it
needs is listed once with the states needing it. Sizes come from the cached file when it is
already downloaded (only the state's files would be made), else from a ``HEAD`` request's
``Content-Length`` ("size unknown" when the server says none; Census API responses are never
sized). FCC files are listed through the FCC API (its listings go to a temporary folder).
"""

from __future__ import annotations

import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

from equity.errors import EquityError
from equity.sources._http import cache_path, remote_size
from equity.sources._states import State
from equity.sources.fetch import fcc
from equity.sources.fetch.catalog import Download, FetchOptions
from equity.sources.fetch.manifest import ManifestStore
from equity.sources.fetch.runner import DryRow, FetchReport, Outcome, _Context, _one_line, _plan

__all__ = ["dry_run"]


def dry_run(
    states: list[State],
    names: tuple[str, ...],
    opts: FetchOptions,
    root: Path,
    jobs: int,
    started: float,
) -> FetchReport:
    """List the downloads the pending items need, with their announced sizes; write nothing."""
    store = ManifestStore(root, opts.year)
    plan = _plan(states, names, opts, store)
    rows: dict[str, DryRow] = {}
    known: dict[str, Download] = {}
    outcomes = list(plan.outcomes)
    with tempfile.TemporaryDirectory(prefix="equity-dry-run-") as tmp:
        ctx = _Context(root, opts, {}, downloads=Path(tmp))
        for item in plan.pending:
            try:
                downloads = (
                    item.downloads
                    if item.urls_known
                    else tuple(d for d, _ in fcc.state_files(ctx, item.state)[1])
                )
            except EquityError as exc:
                outcomes.append(
                    Outcome(item.state.usps, item.key, item.source, "failed", _one_line(exc))
                )
                continue
            outcomes.append(Outcome(item.state.usps, item.key, item.source, "pending"))
            for d in downloads:
                known[d.url] = d
                row = rows.setdefault(d.url, DryRow(d.source, [], d.url, None))
                if item.state.usps not in row.states:
                    row.states.append(item.state.usps)
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            sized = pool.map(partial(_size, root, opts, known), rows.values())
            for row, (size, note) in zip(list(rows.values()), sized, strict=True):
                row.size, row.note = size, note
    return FetchReport(
        root,
        states,
        outcomes,
        0,
        0,
        time.monotonic() - started,
        plan.notices,
        list(rows.values()),
        dry_run=True,
    )


def _size(
    root: Path, opts: FetchOptions, known: dict[str, Download], row: DryRow
) -> tuple[int | None, str]:
    """Size of one planned download: the cached file's, or the server's Content-Length."""
    d = known.get(row.url)
    if d is not None and not (opts.force or d.fresh):
        cached = cache_path(d.url, cache_folder=root / "downloads" / d.source, suffix=d.suffix)
        if cached.is_file():
            return cached.stat().st_size, "already downloaded (only the state's files are made)"
    if d is not None and d.expect.kind == "census_json":
        return None, "size unknown (Census API response)"
    headers = dict(d.headers) if d is not None else {}
    params = d.params if d is not None else ()
    return remote_size(row.url, params=params, headers=headers, timeout=opts.timeout)
