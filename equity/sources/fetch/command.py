"""The ``equity fetch`` command: options, progress on stderr, failures, one summary line.

Output: a progress bar (or one plain line per finished state when stderr is not a terminal) and
notices on stderr; with ``--dry-run`` the planned downloads and their sizes on stdout; for a
single state its files (``key<TAB>path``); each failure as one line on stderr
(``equity fetch: error: <source> (<states>): <reason naming the URL>``); then the summary line
on stdout. Exit status 0, or 2 when anything failed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path
from typing import TextIO

from equity.errors import ConfigError, DataError
from equity.sources.fetch.catalog import ALIASES, SOURCES
from equity.sources.fetch.manifest import resolve_paths, state_dir, state_manifest
from equity.sources.fetch.progress import Progress, human_bytes
from equity.sources.fetch.runner import DEFAULT_YEAR, FetchReport, fetch_states

__all__ = ["add_arguments", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``equity fetch``."""
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--states",
        metavar="LIST",
        help="all (the 50 states and DC), or USPS/FIPS codes such as VA,MD or 51,24",
    )
    which.add_argument("--state", metavar="STATE", help="one state (same as --states STATE)")
    p.add_argument(
        "--year",
        type=int,
        default=DEFAULT_YEAR,
        help=f"ACS 5-year period's last year and vintage of the other files (default {DEFAULT_YEAR})",
    )
    sources = ", ".join(SOURCES)
    p.add_argument(
        "--sources",
        metavar="LIST",
        default=None,
        help=f"sources to fetch (default all): {sources}; aliases "
        + ", ".join(f"{a}={s}" for a, s in ALIASES.items()),
    )
    p.add_argument("--jobs", type=int, default=4, help="downloads in flight at once (default 4)")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be downloaded and its size; write nothing",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="download everything again (cached copies stay if that fails)",
    )
    p.add_argument(
        "--ookla-quarter",
        metavar="YYYYQn",
        default=None,
        help="Ookla quarter, e.g. 2022Q4 (default: Q4 of --year)",
    )
    p.add_argument(
        "--fcc-date",
        default="latest",
        help="FCC BDC release date, e.g. 2023-06-30 (default: latest)",
    )
    p.add_argument(
        "--timeout", type=float, default=None, help="seconds to wait for each read (default 30)"
    )
    p.add_argument(
        "--deadline",
        type=float,
        default=None,
        help="seconds one download may take in all, retries included (default 3600)",
    )
    p.add_argument(
        "--retries", type=int, default=None, help="retries of a failed download (default 3)"
    )
    p.add_argument(
        "--cache-folder",
        type=Path,
        default=None,
        help="cache folder (default: EQUITY_CACHE or ~/.cache/equity)",
    )
    p.add_argument(
        "--out", type=Path, default=None, help="also copy each state's files to OUT/<USPS>/"
    )


def run(
    args: argparse.Namespace, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Run ``equity fetch`` with parsed `args`; the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    if args.jobs is not None and args.jobs < 1:
        msg = f"--jobs must be at least 1 (got {args.jobs})"
        raise ConfigError(msg)
    progress = None if args.dry_run else Progress(err)
    report = fetch_states(
        args.states if args.states is not None else args.state,
        year=args.year,
        sources=args.sources,
        jobs=args.jobs,
        force=args.force,
        dry_run=args.dry_run,
        cache_folder=args.cache_folder,
        ookla_quarter=args.ookla_quarter,
        fcc_date=args.fcc_date,
        timeout=args.timeout,
        deadline=args.deadline,
        retries=args.retries,
        progress=progress,
    )
    for notice in report.notices:
        print(f"equity fetch: note: {notice}", file=err)
    if args.dry_run:
        _print_plan(report, out)
    elif len(report.states) == 1:
        _print_files(report, out)
    if args.out is not None and not args.dry_run:
        _copy_out(report, args.out)
    for line in report.failure_lines():
        print(f"equity fetch: error: {line}", file=err)
    print(report.summary(), file=out)
    return 0 if report.ok else 2


def _print_plan(report: FetchReport, out: TextIO) -> None:
    for row in report.planned:
        where = ", ".join(row.states) if len(row.states) <= 5 else f"{len(row.states)} states"
        size = human_bytes(row.size) if row.size is not None else ""
        note = f" ({row.note})" if row.note and row.size is not None else row.note
        print(f"{row.source:<11} {where:<16} {size:>9}{note}  {row.url}", file=out)


def _print_files(report: FetchReport, out: TextIO) -> None:
    st = report.states[0]
    try:
        manifest = state_manifest(st, cache_folder=report.cache_folder)
    except DataError:  # pragma: no cover - a manifest is always written
        return
    for key, paths in resolve_paths(manifest, cache_folder=report.cache_folder).items():
        for path in paths if isinstance(paths, list) else [paths]:
            print(f"{key}\t{path}", file=out)


def _copy_out(report: FetchReport, folder: Path) -> None:
    """Copy each state's files (and manifest) to ``folder/<USPS>/``."""
    for st in report.states:
        source = state_dir(st, cache_folder=report.cache_folder)
        if source.is_dir():
            shutil.copytree(source, folder / st.usps, dirs_exist_ok=True)
