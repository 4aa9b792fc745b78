"""Parquet / GeoParquet caches of intermediate tables, keyed by their inputs.

A second run with unchanged inputs skips the work: :meth:`TableCache.table` returns the
stored table when an entry for the same key exists, otherwise it computes the table, writes it
atomically (:mod:`equity._io`) and returns it. DataFrames are stored as Parquet, GeoDataFrames
as GeoParquet, under ``settings.cache_folder / "tables"`` by default (``[cache] folder`` in
the run configuration, or the `folder` argument, moves it).

The key
-------
An entry's file name is the SHA-256 of a JSON document (sorted keys) holding:

- the stage name (``"read_acs"``, ``"street_level_units"``, ...);
- :data:`FORMAT_VERSION` (bumped when the layout of entries changes), the ``equity`` version
  and the versions of the libraries that parse, compute and store tables (pandas, geopandas,
  pyarrow, numpy, shapely and GEOS, pyogrio, h3, pyproj and PROJ): an upgrade recomputes once
  rather than trust a table another library version produced;
- a digest of the source of the code computing the table (`code`: a module, a package, whose
  every ``.py`` file counts, or a function; by default the module defining `compute`), so an
  edited reader never serves a stale table;
- a fingerprint of every input file: resolved path, size, ``mtime_ns`` and the SHA-256 of its
  bytes (read in 1 MiB chunks). A shapefile counts with its ``.dbf``, ``.shx``, ``.prj`` and
  ``.cpg`` parts (their presence changes how it reads), a folder with every file under it;
- the parameters (`key`), as JSON with sorted keys.

Content hashing was measured against parsing on the real Virginia inputs: SHA-256 runs at
about 1 GB/s, 5.5 ms for the 6.1 MB block-group shapefile (132 ms to read, 4%), 0.3 ms for
the ACS CSV (93 ms, 0.4%), 1.7 ms for the ZIP business patterns (202 ms, 0.9%). Hashing is
cheap, so it is always done: size and mtime alone miss an in-place edit within the file
system's timestamp resolution or a copy that keeps timestamps. Size and ``mtime_ns`` are kept
in the key as well, so touching a file (or moving it) also invalidates its entries: the cache
errs on the side of recomputing.

Round trips are exact (``pandas.testing.assert_frame_equal`` with ``check_exact=True``):
dtypes (``str``, categoricals, nullable integers, time zones), column order, index, CRS and
``df.attrs``, which pandas and geopandas store as JSON in the Parquet schema metadata
(``PANDAS_ATTRS``). A table that would not round-trip exactly (``object`` columns, non-text
or duplicate column names, ``attrs`` that are not plain JSON) is computed and returned but not
stored. An entry that cannot be read (truncated, corrupt) is logged as a warning, recomputed
and replaced; a failed write is logged and the computed table returned: the cache never makes
a run fail. Hits and misses are logged on the ``equity.cache`` logger and counted on the
object (:attr:`TableCache.hits`, :attr:`TableCache.misses`, :attr:`TableCache.events`).

``equity cache info`` reports the entries and their size, ``equity cache clear`` removes
them (:func:`clear_cache`, :func:`cache_size`).

Cached stages
-------------
:func:`equity.pipeline.load_dataset` sends every reader through the cache and keeps the cache
on the dataset (``Dataset.cache``; None when built by hand). :func:`equity.pipeline.build_levels`
caches the street level (two entries, ``street_level_units`` and ``street_level_crosswalk``,
sharing one computation; then its indicators and index, ``street_index``) and the Ookla summaries (``ookla_to_grid``, ``ookla_to_polygons``),
keyed by :func:`frame_digest` of their input tables (block groups with their counts, tiles,
polygons) and their parameters, with the source of :mod:`equity.geographies` as the code. The
engine is not in the key: both engines give identical tables. Another stage is cached the same
way::

    cache = ds.cache or TableCache(enabled=False)
    key = {"polygons": frame_digest(polygons), "radius_km": 25.0}
    table = cache.table("my_stage", key, lambda: my_stage(polygons), code=my_module)

Examples
--------
>>> import tempfile
>>> import pandas as pd
>>> cache = TableCache(tempfile.mkdtemp())
>>> make = lambda: pd.DataFrame({"GEOID": ["51001"], "households": [12.0]})
>>> first = cache.table("example", {"year": 2021}, make)
>>> again = cache.table("example", {"year": 2021}, make)
>>> cache.misses, cache.hits
(1, 1)
>>> again.equals(first)
True
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import inspect
import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

import equity
from equity import _io, settings

__all__ = [
    "FORMAT_VERSION",
    "CacheSize",
    "TableCache",
    "cache_key",
    "cache_size",
    "clear_cache",
    "clear_downloads",
    "default_folder",
    "file_fingerprint",
    "frame_digest",
]

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
"""Version of the entry layout; part of every key, bumped when the layout changes."""

_LIBRARIES = ("pandas", "geopandas", "pyarrow", "numpy", "shapely", "pyogrio", "h3", "pyproj")
_SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")
_CHUNK = 1 << 20
_SUFFIX = ".parquet"

Frame = TypeVar("Frame", bound=pd.DataFrame)
Code = ModuleType | Callable[..., Any]
Outcome = Literal["hit", "miss", "corrupt", "uncacheable", "write_failed"]


def default_folder() -> Path:
    """The default folder of table entries: ``settings.cache_folder / "tables"``."""
    return Path(settings.cache_folder) / "tables"


@dataclass(frozen=True)
class CacheSize:
    """Entries in a cache folder and their total size.

    Attributes
    ----------
    folder
        The cache folder.
    entries
        Number of stored tables.
    bytes
        Their total size on disk.
    by_stage
        Stage name to ``(entries, bytes)``.
    """

    folder: Path
    entries: int
    bytes: int
    by_stage: dict[str, tuple[int, int]]

    def __str__(self) -> str:
        lines = [f"{self.folder}: {self.entries} tables, {_human(self.bytes)}"]
        lines += [
            f"  {stage}: {n} tables, {_human(b)}" for stage, (n, b) in sorted(self.by_stage.items())
        ]
        return "\n".join(lines)


class TableCache:
    """A folder of Parquet / GeoParquet tables keyed by the inputs that produced them.

    Parameters
    ----------
    folder
        Where entries are stored; defaults to ``settings.cache_folder / "tables"`` (read when
        the cache is created). The folder is created on the first write.
    enabled
        When False, :meth:`table` only computes: nothing is read, written or counted.

    Attributes
    ----------
    hits, misses
        Tables served from the cache, and tables computed (absent, unreadable or uncacheable
        entries).
    events
        ``(stage, outcome, key)`` per call, in order; outcome is ``hit``, ``miss``,
        ``corrupt`` (recomputed), ``uncacheable`` (computed, not stored) or
        ``write_failed``.
    """

    def __init__(
        self, folder: str | os.PathLike[str] | None = None, *, enabled: bool = True
    ) -> None:
        self.folder = Path(folder).expanduser() if folder is not None else default_folder()
        self.enabled = bool(enabled)
        if self.enabled:  # a file where the folder should be: one clear error, not a traceback
            _io.check_folder(self.folder, what="table cache folder")
        self.hits = 0
        self.misses = 0
        self.events: list[tuple[str, Outcome, str]] = []

    def __repr__(self) -> str:
        state = "" if self.enabled else ", enabled=False"
        return f"TableCache({str(self.folder)!r}{state}; hits={self.hits}, misses={self.misses})"

    def path(self, stage: str, key: str) -> Path:
        """File of the entry of `stage` with key digest `key` (see :func:`cache_key`)."""
        return self.folder / f"{_safe_stage(stage)}-{key}{_SUFFIX}"

    def table(
        self,
        stage: str,
        key: Mapping[str, Any],
        compute: Callable[[], Frame],
        *,
        inputs: Iterable[str | os.PathLike[str]] = (),
        code: Code | Sequence[Code] | None = None,
    ) -> Frame:
        """The table of `stage` for these inputs: from the cache, or computed and stored.

        Parameters
        ----------
        stage
            Name of the step (``"read_acs"``); also the prefix of the entry's file name.
        key
            Parameters the table depends on (JSON-serialisable: text, numbers, booleans, None,
            lists, dicts, paths).
        compute
            Called without arguments on a miss; returns a DataFrame or GeoDataFrame.
        inputs
            Files the table is computed from; fingerprinted by path, size, mtime and content.
        code
            Module(s), package(s) or function(s) whose source digest enters the key; defaults
            to the module defining `compute`.

        Returns
        -------
        pandas.DataFrame or geopandas.GeoDataFrame
            The table, equal (dtypes, index, columns, CRS, ``attrs``) to what `compute` returns.

        Raises
        ------
        TypeError
            `compute` returned something other than a DataFrame, or `key` holds a value that
            is not JSON.
        """
        if not self.enabled:
            return compute()
        digest = cache_key(
            stage, key, inputs=inputs, code=code if code is not None else _module_of(compute)
        )
        entry = self.path(stage, digest)
        outcome: Outcome = "miss"
        if entry.is_file():
            t0 = time.perf_counter()
            try:
                df = _read(entry)
            except Exception as exc:  # any unreadable entry is recomputed, never fatal
                log.warning(
                    "cache entry %s of %s is unreadable (%s: %s); recomputing it",
                    entry,
                    stage,
                    type(exc).__name__,
                    exc,
                )
                outcome = "corrupt"
            else:
                self.hits += 1
                self.events.append((stage, "hit", digest))
                log.info(
                    "cache hit: %s %s (%.2fs) from %s",
                    stage,
                    digest[:12],
                    time.perf_counter() - t0,
                    entry,
                )
                return df
        self.misses += 1
        t0 = time.perf_counter()
        df = compute()
        if not isinstance(df, pd.DataFrame):
            msg = f"cache stage {stage!r}: compute returned {type(df).__name__}, not a DataFrame"
            raise TypeError(msg)
        took = time.perf_counter() - t0
        reason = _uncacheable(df)
        if reason is not None:
            log.info("cache: %s not stored: %s", stage, reason)
            self.events.append((stage, "uncacheable", digest))
            return df
        try:
            _write(df, entry)
        except Exception as exc:  # a full disk or odd table must not fail the run
            log.warning(
                "cache: could not write %s for %s (%s: %s); continuing without it",
                entry,
                stage,
                type(exc).__name__,
                exc,
            )
            self.events.append((stage, "write_failed", digest))
            return df
        self.events.append((stage, outcome, digest))
        log.info(
            "cache %s: %s %s computed in %.2fs -> %s", outcome, stage, digest[:12], took, entry
        )
        return df

    def size(self) -> CacheSize:
        """Entries and bytes stored in :attr:`folder` (see :func:`cache_size`)."""
        return cache_size(self.folder)

    def clear(self, *, stage: str | None = None) -> CacheSize:
        """Remove stored entries (of one `stage`, or all); returns what was removed."""
        return clear_cache(self.folder, stage=stage)


def cache_key(
    stage: str,
    key: Mapping[str, Any],
    *,
    inputs: Iterable[str | os.PathLike[str]] = (),
    code: Code | Sequence[Code] | None = None,
) -> str:
    """SHA-256 (hex) identifying a table: stage, versions, code, input files and parameters.

    Parameters
    ----------
    stage
        Name of the step.
    key
        Parameters, serialised as JSON with sorted keys.
    inputs
        Input files (see :func:`file_fingerprint`).
    code
        Module(s), package(s) or function(s) whose source is digested.

    Returns
    -------
    str
        64 hexadecimal digits.

    Raises
    ------
    TypeError
        A parameter is not JSON-serialisable.

    Examples
    --------
    >>> cache_key("x", {"a": 1, "b": [1, 2]}) == cache_key("x", {"b": [1, 2], "a": 1})
    True
    >>> cache_key("x", {"a": 1}) == cache_key("x", {"a": 2})
    False
    """
    codes = [] if code is None else list(code) if isinstance(code, Sequence) else [code]
    doc = {
        "stage": stage,
        "format": FORMAT_VERSION,
        "equity": equity.__version__,
        "libraries": _library_versions(),
        "code": [_code_digest(c) for c in codes],
        "inputs": [file_fingerprint(p) for p in inputs],
        "params": dict(key),
    }
    try:
        blob = json.dumps(
            doc, sort_keys=True, separators=(",", ":"), default=_json_default, allow_nan=True
        )
    except (TypeError, ValueError) as exc:
        msg = f"cache stage {stage!r}: parameters are not JSON-serialisable ({exc}): {key!r}"
        raise TypeError(msg) from None
    return hashlib.sha256(blob.encode()).hexdigest()


def file_fingerprint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Resolved path, size, ``mtime_ns`` and SHA-256 of an input file (or its parts).

    A shapefile includes its ``.shx``, ``.dbf``, ``.prj`` and ``.cpg`` parts, a folder every
    file under it. A missing path is recorded as missing (the reader then raises its own error).

    Parameters
    ----------
    path
        Input file or folder.

    Returns
    -------
    dict
        ``{"path": ..., "files": [{"name", "size", "mtime_ns", "sha256"}, ...]}``.
    """
    p = Path(path).expanduser().resolve()
    if p.is_dir():
        members = sorted(f for f in p.rglob("*") if f.is_file())
    elif p.suffix.lower() == ".shp" and p.parent.is_dir():
        members = sorted(
            q
            for q in p.parent.iterdir()
            if q.stem == p.stem and q.suffix.lower() in _SHAPEFILE_PARTS and q.is_file()
        )
    else:
        members = [p] if p.exists() else []
    files = []
    for f in members:
        st = f.stat()
        files.append(
            {
                "name": str(f.relative_to(p) if p.is_dir() else f.name),
                "size": st.st_size,
                "mtime_ns": st.st_mtime_ns,
                "sha256": _sha256_file(f),
            }
        )
    return {"path": str(p), "files": files, "missing": not files}


def frame_digest(df: pd.DataFrame | None) -> str | None:
    """SHA-256 of a table's content: columns, dtypes, index, values, geometry (WKB) and CRS.

    Use it to key a stage whose inputs are tables rather than files.

    Parameters
    ----------
    df
        Table, or None (gives None).

    Returns
    -------
    str or None
        64 hexadecimal digits.

    Examples
    --------
    >>> a = pd.DataFrame({"x": [1.0, 2.0]})
    >>> frame_digest(a) == frame_digest(a.copy()), frame_digest(a) == frame_digest(a * 2)
    (True, False)
    """
    if df is None:
        return None
    h = hashlib.sha256()
    h.update(json.dumps([[str(c), str(t)] for c, t in df.dtypes.items()]).encode())
    h.update(pd.util.hash_pandas_object(df.index, index=False).to_numpy().tobytes())
    geometry_dtype = "geometry"
    for name in df.columns:
        col = df[name]
        if str(col.dtype) == geometry_dtype:
            import shapely

            wkb = shapely.to_wkb(np.asarray(col.array), hex=False)
            # lengths (-1: missing) then the bytes: one update each, not one per geometry
            lengths = np.fromiter((-1 if b is None else len(b) for b in wkb), np.int64, len(wkb))
            h.update(lengths.tobytes())
            h.update(b"".join(b for b in wkb if b is not None))
            crs = getattr(col.array, "crs", None)
            h.update((crs.to_wkt() if crs is not None else "").encode())
        else:
            h.update(pd.util.hash_pandas_object(col, index=False).to_numpy().tobytes())
    return h.hexdigest()


def cache_size(folder: str | os.PathLike[str] | None = None) -> CacheSize:
    """Entries and bytes stored in a table cache folder.

    Parameters
    ----------
    folder
        Cache folder; defaults to :func:`default_folder`.

    Returns
    -------
    CacheSize
        Totals and per-stage counts; ``str()`` gives a short report.
    """
    root = Path(folder).expanduser() if folder is not None else default_folder()
    by_stage: dict[str, tuple[int, int]] = {}
    for f in _entries(root):
        stage = f.name[: -len(_SUFFIX)].rsplit("-", 1)[0]
        n, b = by_stage.get(stage, (0, 0))
        by_stage[stage] = (n + 1, b + f.stat().st_size)
    return CacheSize(
        root,
        sum(n for n, _ in by_stage.values()),
        sum(b for _, b in by_stage.values()),
        by_stage,
    )


def clear_cache(
    folder: str | os.PathLike[str] | None = None, *, stage: str | None = None
) -> CacheSize:
    """Remove the stored tables (and temporary files left by an interrupted write).

    Parameters
    ----------
    folder
        Cache folder; defaults to :func:`default_folder`. Only entry files are removed, so
        a mistaken folder loses nothing else.
    stage
        Remove only this stage's entries.

    Returns
    -------
    CacheSize
        What was removed.
    """
    root = Path(folder).expanduser() if folder is not None else default_folder()
    removed = cache_size(root)
    if stage is not None:
        n, b = removed.by_stage.get(_safe_stage(stage), (0, 0))
        removed = CacheSize(root, n, b, {stage: (n, b)} if n else {})
    for f in _entries(root):
        if stage is None or f.name.startswith(f"{_safe_stage(stage)}-"):
            f.unlink(missing_ok=True)
    if stage is None and root.is_dir():
        for f in root.iterdir():  # temporaries of atomic writes killed mid-way
            if _TEMPORARY.match(f.name) and f.is_file():
                f.unlink(missing_ok=True)
    log.info("cache cleared: %d tables, %s from %s", removed.entries, _human(removed.bytes), root)
    return removed


def clear_downloads(
    source: str, *, action: str = "clear", folder: str | os.PathLike[str] | None = None
) -> int:
    """``equity cache clear --source X``: remove one fetched source (see
    :func:`equity.sources.fetch.clear_source`); print what was removed and return 0.

    `folder` is the fetch cache folder (default ``settings.cache_folder``).
    """
    from equity.errors import ConfigError
    from equity.sources.fetch import clear_source

    if action != "clear":
        msg = f"--source goes with `equity cache clear`, not `equity cache {action}`"
        raise ConfigError(msg)
    cleared = clear_source(source, cache_folder=folder)
    print(
        f"equity cache: removed {cleared.files} files ({_human(cleared.bytes)}) of source "
        f"{cleared.source}; {cleared.states} state manifests updated"
    )
    return 0


# --- helpers -------------------------------------------------------------------------------

_ENTRY = re.compile(r"^[A-Za-z0-9_.]+-[0-9a-f]{64}\.parquet$")
_TEMPORARY = re.compile(r"^\.[A-Za-z0-9_.]+-[0-9a-f]{64}\.parquet\..+\.parquet$")  # _io.atomic_path


def _entries(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    return sorted(f for f in root.iterdir() if _ENTRY.match(f.name) and f.is_file())


def _safe_stage(stage: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.]", "_", stage) or "stage"


def _human(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    exp = min(int(math.log(n, 1024)), 4)
    return f"{n / 1024**exp:.1f} {'BKMGT'[exp]}{'iB' if exp else ''}"


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


@functools.cache
def _library_versions() -> dict[str, str]:
    out = {}
    for name in _LIBRARIES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = ""
    # the libraries that compute geometry bring their own C libraries along
    try:
        import pyproj
        import shapely

        out["PROJ"] = pyproj.proj_version_str
        out["GEOS"] = shapely.geos_version_string
    except ImportError:  # pragma: no cover - both are dependencies
        pass
    return out


def _module_of(func: Callable[..., Any]) -> ModuleType | None:
    return inspect.getmodule(func)


def _code_digest(code: Code | None) -> str:
    if code is None:
        return ""
    if isinstance(code, ModuleType):
        return _module_digest(code.__name__)
    module = inspect.getmodule(code)
    try:
        return hashlib.sha256(inspect.getsource(code).encode()).hexdigest()
    except (OSError, TypeError):  # built-ins, lambdas typed at a prompt
        return _module_digest(module.__name__) if module is not None else ""


@functools.cache
def _module_digest(name: str) -> str:
    """Digest of a module's source file, or of every ``.py`` file of a package."""
    module = importlib.import_module(name)
    paths = getattr(module, "__path__", None)
    if paths:
        files = sorted(f for d in paths for f in Path(d).rglob("*.py"))
        base = Path(next(iter(paths)))
    else:
        source = getattr(module, "__file__", None)
        if source is None:
            return ""
        files, base = [Path(source)], Path(source).parent
    h = hashlib.sha256()
    for f in files:
        try:
            source = f.read_bytes()
        except OSError:  # code typed at a prompt (``<stdin>``) has no file: key it by name only
            source = b""
        h.update(str(f.relative_to(base)).encode() + b"\0" + source + b"\0")
    return h.hexdigest()


def _json_default(value: Any) -> Any:
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, np.generic):
        return value.item()
    msg = f"{type(value).__name__} {value!r}"
    raise TypeError(msg)


def _uncacheable(df: pd.DataFrame) -> str | None:
    """Why `df` would not round-trip exactly through Parquet, or None."""
    names = list(df.columns)
    if isinstance(df.columns, pd.MultiIndex) or not all(isinstance(c, str) for c in names):
        return "column names are not all text"
    if len(set(names)) != len(names):
        return "duplicate column names"
    objects = [c for c in names if df[c].dtype == object]
    if objects:
        return f"object columns ({', '.join(objects[:5])}) would not keep their dtype"
    levels = df.index.levels if isinstance(df.index, pd.MultiIndex) else [df.index]
    if any(level.dtype == object for level in levels):
        return "object index would not keep its dtype"
    try:
        same = json.loads(json.dumps(df.attrs)) == df.attrs
    except (TypeError, ValueError):
        same = False
    if not same:
        return "attrs are not plain JSON"
    return None


def _write(df: pd.DataFrame, path: Path) -> None:
    with _io.atomic_path(path) as tmp:
        # both writers store df.attrs as JSON in the schema metadata (PANDAS_ATTRS)
        df.to_parquet(tmp)


def _read(path: Path) -> pd.DataFrame:
    import pyarrow.parquet as pq

    metadata = pq.read_schema(path).metadata or {}
    if b"geo" in metadata:
        import geopandas as gpd

        return gpd.read_parquet(path)
    return pd.read_parquet(path)
