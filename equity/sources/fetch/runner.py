"""The national fetch: every input of many states, in parallel, resumable, with a report.

:func:`fetch_states` plans one item per (state, ``[data]`` key) (:mod:`.catalog`), skips those
its manifest records as fetched from the same URLs with unchanged files, and runs the rest on
``jobs`` threads, so at most ``jobs`` downloads are in flight. A national file is downloaded
once and split for every state that needs it; a failure of one item is recorded in that
state's manifest and reported, and the other items go on. The cache folder is locked for the
run (``<cache>/.fetch.lock``), and temporary files left by a killed run are removed first.

Cache layout::

    <cache_folder>/
      .fetch.lock
      downloads/<source>/<sha1 of URL>.<ext>     checked downloads, as published
      states/<USPS>/manifest.json                what was fetched for the state (.manifest)
      states/<USPS>/<files>                      the state's files (links to the downloads
                                                 or per-state extracts of national files)
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from equity import settings
from equity.errors import ConfigError, DownloadError, EquityError
from equity.sources._http import Fetched, download_file
from equity.sources._states import STATES, State, lookup_state
from equity.sources._zips import DEFAULT_LIMITS, ZipLimits
from equity.sources.fetch import fcc
from equity.sources.fetch.catalog import (
    SOURCES,
    Download,
    FetchOptions,
    Item,
    Skip,
    plan_state,
    source_names,
)
from equity.sources.fetch.checks import check_body
from equity.sources.fetch.files import census_api_key
from equity.sources.fetch.lock import locked
from equity.sources.fetch.manifest import ManifestStore, state_dir
from equity.sources.fetch.progress import Progress, human_bytes

__all__ = [
    "DEFAULT_YEAR",
    "DryRow",
    "FetchReport",
    "Outcome",
    "fetch_states",
    "parse_states",
]

logger = logging.getLogger("equity.sources")
T = TypeVar("T")

#: Default ACS 5-year period (2018-2022) and vintage of the other files.
DEFAULT_YEAR = 2022
#: The states ``all`` stands for: the 50 states and the District of Columbia.
ALL_STATES: tuple[State, ...] = tuple(s for s in STATES if s.usps != "PR")
_STATUSES = ("fetched", "cached", "skipped", "failed")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def parse_states(spec: str | int | Sequence[str | int] | None) -> list[State]:
    """States from ``"all"``, ``"VA,MD"``, ``"51"``, names or a list of them, in FIPS order.

    ``all`` is the 50 states and DC; Puerto Rico is fetched when named (``PR`` or ``72``).

    Examples
    --------
    >>> [s.usps for s in parse_states("md, 51")]
    ['MD', 'VA']
    >>> len(parse_states("all"))
    51
    """
    if spec is None:
        msg = "no states given: pass --states all, or a list such as VA,MD (USPS or FIPS codes)"
        raise ConfigError(msg)
    parts = (
        spec.split(",")
        if isinstance(spec, str)
        else [spec]
        if isinstance(spec, int)
        else list(spec)
    )
    chosen: dict[str, State] = {}
    for part in parts:
        text = str(part).strip()
        if not text:
            continue
        if text.lower() == "all":
            chosen.update((s.fips, s) for s in ALL_STATES)
        else:
            st = lookup_state(text)
            chosen[st.fips] = st
    if not chosen:
        msg = f"no states in {spec!r}: pass all, or a list such as VA,MD (USPS or FIPS codes)"
        raise ConfigError(msg)
    return [chosen[k] for k in sorted(chosen)]


@dataclass
class Outcome:
    """What happened to one (state, key): ``fetched``, ``cached``, ``skipped`` or ``failed``."""

    state: str
    key: str
    source: str
    status: str
    reason: str = ""
    files: int = 0
    bytes: int = 0


@dataclass
class DryRow:
    """One download a dry run would make."""

    source: str
    states: list[str]
    url: str
    size: int | None
    note: str = ""


@dataclass
class FetchReport:
    """The result of :func:`fetch_states`.

    Attributes
    ----------
    cache_folder
        The cache folder.
    states
        The states asked for.
    outcomes
        One per (state, key).
    downloaded_bytes, downloads
        Bytes and files received from the servers in this run.
    elapsed_s
        Wall time.
    notices
        Things said once (e.g. FCC data skipped: how to get a token).
    planned
        The downloads a dry run would make (empty for a real run).
    dry_run
        Whether nothing was downloaded.
    """

    cache_folder: Path
    states: list[State]
    outcomes: list[Outcome] = field(default_factory=list)
    downloaded_bytes: int = 0
    downloads: int = 0
    elapsed_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    planned: list[DryRow] = field(default_factory=list)
    dry_run: bool = False

    def count(self, status: str) -> int:
        """Number of outcomes with `status`."""
        return sum(o.status == status for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return self.count("failed") == 0

    def failure_lines(self) -> list[str]:
        """One line per distinct failure: source, states, reason (naming the URL)."""
        groups: dict[tuple[str, str], list[str]] = {}
        for o in self.outcomes:
            if o.status == "failed":
                groups.setdefault((o.source, o.reason), []).append(o.state)
        lines = []
        for (source, reason), states in groups.items():
            unique = sorted(set(states))
            where = ", ".join(unique) if len(unique) <= 5 else f"{len(unique)} states"
            lines.append(f"{source} ({where}): {reason}")
        return lines

    def summary(self) -> str:
        """The one-line summary printed at the end."""
        n = _plural(len(self.states), "state")
        skipped, failed = self.count("skipped"), self.count("failed")
        if self.dry_run:
            known = sum(r.size or 0 for r in self.planned)
            unknown = sum(r.size is None for r in self.planned)
            return (
                f"equity fetch --dry-run: {n}, {len(self.planned)} files to fetch "
                f"({human_bytes(known)} known, {unknown} of unknown size), "
                f"{self.count('cached')} up to date, {skipped} skipped, {failed} failed"
            )
        fetched, cached = self.count("fetched"), self.count("cached")
        return (
            f"equity fetch: {n}, {fetched + cached} files ({fetched} fetched, {cached} up "
            f"to date), {human_bytes(self.downloaded_bytes)} downloaded, {skipped} skipped, "
            f"{failed} failed in {self.elapsed_s:.1f} s"
        )


# --------------------------------------------------------------------------------------
# the context build functions use
# --------------------------------------------------------------------------------------


class _Cancelled(BaseException):
    """Raised in download threads once the run is interrupted (never recorded as a failure)."""


class _Memo:
    """Compute each key once (results and exceptions kept), one lock per key."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._locks: dict[Any, threading.Lock] = {}
        self._done: dict[Any, tuple[bool, Any]] = {}

    def __call__(self, key: Any, make: Callable[[], T]) -> T:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key not in self._done:
                try:
                    self._done[key] = (True, make())
                except Exception as exc:
                    self._done[key] = (False, exc)
            ok, value = self._done[key]
        if not ok:
            raise value
        return value


class _Context:
    """Downloads (each URL once per run), splits (once), the states' folders."""

    def __init__(
        self,
        root: Path,
        opts: FetchOptions,
        pending: dict[str, list[State]],
        *,
        downloads: Path | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.root = root
        self.opts = opts
        self.pending = pending
        self.downloads = downloads if downloads is not None else root / "downloads"
        self.progress = progress
        self.bytes = 0
        self.count = 0
        self._memo = _Memo()
        self._lock = threading.Lock()
        self._fcc_lock = threading.Lock()
        self._fcc_last = 0.0
        self.cancel = threading.Event()  # set on Ctrl-C: downloads stop at their next chunk

    def state_dir(self, st: State) -> Path:
        return state_dir(st, cache_folder=self.root)

    def once(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        return self._memo(("once", key), make)

    def get(self, download: Download) -> Fetched:
        return self._memo(("get", download.url), partial(self._download, download))

    def _download(self, d: Download) -> Fetched:
        o = self.opts
        with self._fcc_slot() if d.source == "fcc" else contextlib.nullcontext():
            fetched = download_file(
                d.url,
                params=d.params,
                headers=dict(d.headers),
                cache_folder=self.downloads / d.source,
                suffix=d.suffix,
                force=o.force or d.fresh,
                check=partial(check_body, expect=d.expect, limits=o.zip_limits),
                timeout=o.timeout,
                deadline=o.deadline,
                retries=o.retries,
                backoff=o.backoff,
                progress=self._received,
            )
        if not fetched.cached:
            with self._lock:
                self.bytes += fetched.bytes
                self.count += 1
        return fetched

    def _received(self, n: int) -> None:
        if self.cancel.is_set():
            raise _Cancelled
        if self.progress is not None:
            self.progress.add_bytes(n)

    @contextlib.contextmanager
    def _fcc_slot(self) -> Iterator[None]:
        """Space calls to the FCC API (about 10 a minute allowed)."""
        with self._fcc_lock:
            wait = self._fcc_last + self.opts.fcc_interval_s - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self._fcc_last = time.monotonic()
        yield


# --------------------------------------------------------------------------------------
# planning
# --------------------------------------------------------------------------------------


@dataclass
class _Plan:
    pending: list[Item] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    # (state, key, reason) to record in the manifests: skipped or failed before any download
    skipped: list[tuple[State, str, str]] = field(default_factory=list)


def _fcc_recorded_date(store: ManifestStore, st: State) -> str | None:
    entries = store.get(st)["sources"].get("fcc", [])
    entries = entries if isinstance(entries, list) else [entries]
    return entries[0].get("as_of_date") if entries else None


def _up_to_date(store: ManifestStore, item: Item, opts: FetchOptions) -> bool:
    if opts.force:
        return False
    if item.urls_known:
        return store.up_to_date(item.state, item.key, [d.url for d in item.downloads])
    ok = store.up_to_date(item.state, item.key, None)
    return ok and opts.fcc_date in ("latest", _fcc_recorded_date(store, item.state))


def _plan(
    states: list[State], sources: tuple[str, ...], opts: FetchOptions, store: ManifestStore
) -> _Plan:
    plan = _Plan()
    no_token = "fcc" in sources and opts.fcc_credentials is None
    for st in states:
        for source in sources:
            try:
                items = plan_state(st, source, opts)
            except EquityError as exc:
                reason = " ".join(str(exc).split())
                plan.outcomes += [
                    Outcome(st.usps, k, source, "failed", reason) for k in SOURCES[source]
                ]
                plan.skipped += [(st, k, f"failed: {reason}") for k in SOURCES[source]]
                continue
            for item in items:
                if source == "fcc" and no_token:
                    reason = "skipped: no FCC API token (set FCC_USERNAME and FCC_API_TOKEN)"
                    plan.skipped.append((st, item.key, reason))
                    plan.outcomes.append(Outcome(st.usps, item.key, source, "skipped", reason))
                elif _up_to_date(store, item, opts):
                    plan.outcomes.append(Outcome(st.usps, item.key, source, "cached"))
                else:
                    plan.pending.append(item)
    if no_token:
        plan.notices.append(
            f"FCC BDC availability skipped for {_plural(len(states), 'state')}: no FCC API token. {fcc.HELP}."
        )
    return plan


def _options(
    year: int,
    *,
    ookla_quarter: str | None,
    fcc_date: str,
    census_key: str | None,
    fcc_username: str | None,
    fcc_token: str | None,
    force: bool,
    timeout: float | None,
    deadline: float | None,
    retries: int | None,
    backoff: float,
    zip_limits: ZipLimits | None,
    fcc_interval_s: float | None,
) -> FetchOptions:
    oy, oq = _quarter(ookla_quarter, year)
    return FetchOptions(
        year=int(year),
        ookla_year=oy,
        ookla_quarter=oq,
        fcc_date=_fcc_date(fcc_date),
        census_key=census_key if census_key is not None else census_api_key(),
        fcc_credentials=fcc.credentials(fcc_username, fcc_token),
        force=force,
        timeout=timeout,
        deadline=deadline,
        retries=retries,
        backoff=backoff,
        zip_limits=zip_limits or DEFAULT_LIMITS,
        fcc_interval_s=fcc.MIN_INTERVAL_S if fcc_interval_s is None else float(fcc_interval_s),
    )


def _quarter(spec: str | None, year: int) -> tuple[int, int]:
    """``"2022Q4"`` (or None: Q4 of `year`) -> (2022, 4)."""
    if spec is None:
        return int(year), 4
    text = str(spec).strip().upper().replace("-", "")
    head, _, tail = text.partition("Q")
    if not (head.isdigit() and len(head) == 4 and tail in ("1", "2", "3", "4")):
        msg = f"Ookla quarter {spec!r} is not of the form 2022Q4"
        raise ConfigError(msg)
    return int(head), int(tail)


def _fcc_date(spec: str) -> str:
    text = str(spec).strip()
    if text == "latest":
        return text
    import datetime

    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        msg = f"FCC release date {spec!r} is not 'latest' or a date such as 2023-06-30"
        raise ConfigError(msg) from None


# --------------------------------------------------------------------------------------
# running
# --------------------------------------------------------------------------------------


def _one_line(exc: BaseException) -> str:
    text = fcc.explain(exc) if isinstance(exc, DownloadError) else str(exc)
    return " ".join(text.split()) or type(exc).__name__


def _run_item(ctx: _Context, store: ManifestStore, item: Item) -> Outcome:
    st, key = item.state, item.key
    try:
        product = item.build(ctx, item)
        store.record(
            st, key, product.paths, product.sources, as_list=product.as_list, hashes=product.hashes
        )
        size = sum(p.stat().st_size for p in product.paths)
        return Outcome(st.usps, key, item.source, "fetched", files=len(product.paths), bytes=size)
    except Skip as exc:
        reason = f"skipped: {exc}"
        store.missing(st, key, reason)
        return Outcome(st.usps, key, item.source, "skipped", reason)
    except EquityError as exc:
        reason = _one_line(exc)
        store.missing(st, key, f"failed: {reason}")
        return Outcome(st.usps, key, item.source, "failed", reason)
    except Exception as exc:  # a bug or the file system (disk full): report it, go on
        logger.debug("fetch of %s %s failed", st.usps, key, exc_info=True)
        reason = f"{type(exc).__name__}: {_one_line(exc)}"
        store.missing(st, key, f"failed: {reason}")
        return Outcome(st.usps, key, item.source, "failed", reason)
    finally:
        if ctx.progress is not None:
            ctx.progress.file_done()


def _execute(
    plan: _Plan, ctx: _Context, store: ManifestStore, states: list[State], jobs: int
) -> list[Outcome]:
    left = Counter(item.state.usps for item in plan.pending)
    tally: dict[str, list[Outcome]] = {s.usps: [] for s in states}
    for outcome in plan.outcomes:
        tally[outcome.state].append(outcome)
    for st, key, reason in plan.skipped:
        store.missing(st, key, reason)

    def state_done(st: State) -> None:
        store.finish(st)
        if ctx.progress is not None:
            done = tally[st.usps]
            ctx.progress.state_done(
                st.usps,
                files=sum(o.status in ("fetched", "cached") for o in done),
                new=sum(o.status == "fetched" for o in done),
                size=sum(o.bytes for o in done),
                failed=sum(o.status == "failed" for o in done),
            )

    for st in states:
        if not left[st.usps]:
            state_done(st)
    outcomes = list(plan.outcomes)
    by_usps = {s.usps: s for s in states}
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="equity-fetch") as pool:
        futures = [pool.submit(_run_item, ctx, store, item) for item in plan.pending]
        try:
            for future in as_completed(futures):
                outcome = future.result()
                outcomes.append(outcome)
                tally[outcome.state].append(outcome)
                left[outcome.state] -= 1
                if not left[outcome.state]:
                    state_done(by_usps[outcome.state])
        except BaseException:
            ctx.cancel.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return outcomes


def fetch_states(
    states: str | int | Sequence[str | int] = "all",
    *,
    year: int = DEFAULT_YEAR,
    sources: str | Sequence[str] | None = None,
    jobs: int = 4,
    force: bool = False,
    dry_run: bool = False,
    cache_folder: str | os.PathLike[str] | None = None,
    ookla_quarter: str | None = None,
    fcc_date: str = "latest",
    census_key: str | None = None,
    fcc_username: str | None = None,
    fcc_token: str | None = None,
    timeout: float | None = None,
    deadline: float | None = None,
    retries: int | None = None,
    backoff: float = 1.0,
    zip_limits: ZipLimits | None = None,
    fcc_interval_s: float | None = None,
    progress: Progress | None = None,
) -> FetchReport:
    """Fetch every input of `states` into the cache and write each state's manifest.

    Parameters
    ----------
    states
        ``"all"`` (50 states and DC), or USPS codes, FIPS codes or names (``"VA,MD"``).
    year
        ACS 5-year period's last year, and the vintage of the boundaries, County Business
        Patterns, IMLS (fiscal year), NCES EDGE (school year starting then) and IPEDS files.
    sources
        Sources to fetch (``"acs,boundaries"`` or a list; see
        :data:`~equity.sources.fetch.catalog.SOURCES`); all by default.
    jobs
        Downloads in flight at once (threads).
    force
        Download and rebuild everything again (the cached copy stays if that fails).
    dry_run
        Only list what would be downloaded and its size (HEAD requests); write nothing.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.
    ookla_quarter
        Ookla quarter such as ``"2022Q4"``; defaults to Q4 of `year`.
    fcc_date
        FCC BDC release (``"2023-06-30"``) or ``"latest"``.
    census_key
        Census API key; defaults to ``EQUITY_CENSUS_KEY`` / ``CENSUS_API_KEY`` (optional).
    fcc_username, fcc_token
        FCC account e-mail and API token; default ``FCC_USERNAME`` / ``FCC_API_TOKEN``. Without
        them the FCC data is skipped (a notice says how to get a token).
    timeout, deadline, retries, backoff
        Per-read timeout, overall deadline per download (seconds), retries and first backoff
        (see :func:`equity.sources._http.download`).
    zip_limits
        Decompression limits of downloaded zips.
    fcc_interval_s
        Seconds between FCC API calls (default :data:`equity.sources.fetch.fcc.MIN_INTERVAL_S`).
    progress
        Where to show progress (e.g. ``Progress()`` on stderr); nothing is shown by default.

    Returns
    -------
    FetchReport
        Outcomes per state and key, bytes, failures (:meth:`FetchReport.failure_lines`) and
        the summary line. Failures do not raise: the other states and files go on.

    Raises
    ------
    ConfigError
        Unknown state or source, a malformed quarter or date, `jobs` below 1, or another fetch
        holding the cache.

    Examples
    --------
    >>> report = fetch_states("VA,MD", sources="acs,boundaries")  # doctest: +SKIP
    >>> report.summary()  # doctest: +SKIP
    'equity fetch: 2 states, 14 files (14 fetched, 0 up to date), 41.3 MB downloaded, ...'
    """
    started = time.monotonic()
    if int(jobs) < 1:
        msg = f"jobs must be at least 1 (got {jobs})"
        raise ConfigError(msg)
    chosen = parse_states(states)
    names = source_names(sources)
    opts = _options(
        year,
        ookla_quarter=ookla_quarter,
        fcc_date=fcc_date,
        census_key=census_key,
        fcc_username=fcc_username,
        fcc_token=fcc_token,
        force=force,
        timeout=timeout,
        deadline=deadline,
        retries=retries,
        backoff=backoff,
        zip_limits=zip_limits,
        fcc_interval_s=fcc_interval_s,
    )
    root = Path(cache_folder if cache_folder is not None else settings.cache_folder).expanduser()
    if dry_run:
        from equity.sources.fetch.dryrun import dry_run as list_downloads

        return list_downloads(chosen, names, opts, root, int(jobs), started)
    with locked(root):
        store = ManifestStore(root, opts.year)
        plan = _plan(chosen, names, opts, store)
        pending: dict[str, list[State]] = {}
        for item in plan.pending:
            pending.setdefault(item.key, []).append(item.state)
        ctx = _Context(root, opts, pending, progress=progress)
        if progress is not None:
            progress.start(states=len(chosen), files=len(plan.outcomes) + len(plan.pending))
            for _ in plan.outcomes:
                progress.file_done()
        try:
            outcomes = _execute(plan, ctx, store, chosen, int(jobs))
        finally:
            if progress is not None:
                progress.close()
    report = FetchReport(
        root, chosen, outcomes, ctx.bytes, ctx.count, time.monotonic() - started, plan.notices
    )
    logger.info("%s", report.summary())
    return report
