"""Download one public file at a time: ACS, boundaries, Ookla, Microsoft usage, CBP.

Each ``fetch_*`` function takes the URL of one public file from :mod:`equity.sources.urls`
(which lists them all), downloads it through the cache of :func:`equity.sources._http.download`
(named by the SHA-1 of the URL in :data:`equity.settings.cache_folder`, written atomically,
checked, retried, never caching a failure) and returns the local path, which the matching
``read_*`` function reads.

:func:`fetch_state` fetches the core files of one state into the cache folder. The national
fetch (``equity fetch --states``, :func:`equity.sources.fetch.fetch_states`) fetches every
input of many states, writes each state's manifest, and is what the state-by-state runner reads.
Nothing here prints; each download logs one line on the ``equity.sources`` logger.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from equity import settings
from equity._io import atomic_path, atomic_write_text
from equity.errors import DataError, check_choice
from equity.sources._http import download, safe_extract
from equity.sources._states import State, lookup_state
from equity.sources.urls import (
    _ACS_GEO_COLUMNS,
    _MAX_GET,
    MICROSOFT_USAGE_COMMIT,
    _expand_variables,
    boundaries_url,
    broadband_usage_url,
    business_patterns_url,
    census_api_url,
    ookla_url,
)

__all__ = [
    "ACS_BLOCKGROUP_VARIABLES",
    "ACS_TRACT_VARIABLES",
    "TRACT_ONLY_TABLES",
    "acs_registry_variables",
    "MICROSOFT_USAGE_COMMIT",
    "acs_json_to_csv",
    "census_api_key",
    "boundaries_url",
    "broadband_usage_url",
    "business_patterns_url",
    "census_api_url",
    "fetch_acs",
    "fetch_boundaries",
    "fetch_broadband_usage",
    "fetch_business_patterns",
    "fetch_ookla",
    "fetch_state",
    "merge_census_tables",
    "ookla_url",
    "write_acs_csv",
]

logger = logging.getLogger("equity.sources")

PathLike = str | os.PathLike[str]


#: ACS tables the Census Bureau publishes for tracts but not for block groups.
TRACT_ONLY_TABLES: frozenset[str] = frozenset({"B18101"})


def acs_registry_variables() -> list[str]:
    """Every ACS variable behind :data:`equity.indicators.ACS_COUNTS`, in registry order.

    ``B28001_011`` ("no computer", published with its own MOE) is added after ``B28001_002``:
    :func:`equity.indicators.counts_from_acs` prefers it to the difference of two counts.
    """
    from equity.indicators import ACS_COUNTS

    names: list[str] = []
    for plus, minus in ACS_COUNTS.values():
        for v in (*plus, *minus):
            if v not in names:
                names.append(v)
    if "B28001_002" in names and "B28001_011" not in names:
        names.insert(names.index("B28001_002") + 1, "B28001_011")
    return names


def _split_by_level(names: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    bg = tuple(v for v in names if v.split("_")[0] not in TRACT_ONLY_TABLES)
    tract = tuple(v for v in names if v.split("_")[0] in TRACT_ONLY_TABLES)
    return bg, tract


#: ACS variables of the indicator registry published for block groups (``B28002_001`` stands
#: for its estimate and MOE).
ACS_BLOCKGROUP_VARIABLES: tuple[str, ...]
#: Registry variables published for tracts only (disability, B18101).
ACS_TRACT_VARIABLES: tuple[str, ...]
ACS_BLOCKGROUP_VARIABLES, ACS_TRACT_VARIABLES = _split_by_level(acs_registry_variables())


# --------------------------------------------------------------------------------------
# ACS (Census Data API)
# --------------------------------------------------------------------------------------


def census_api_key() -> str | None:
    """The Census API key: :data:`equity.settings.census_api_key` (``EQUITY_CENSUS_KEY``), else
    the ``CENSUS_API_KEY`` environment variable, else None (the API works without one)."""
    return settings.census_api_key or os.environ.get("CENSUS_API_KEY") or None


def _validate_census_json(path: Path) -> None:
    """Reject a body that is not the Census API's JSON table (e.g. an HTML 'invalid key' page)."""
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        head = path.read_bytes()[:120].decode("utf-8", errors="replace")
        msg = (
            f"the Census API did not return JSON ({exc}); it starts with {head!r}. "
            "An invalid API key gives such a page: check the key or leave it out."
        )
        raise DataError(msg) from None
    if (
        not isinstance(table, list)
        or not table
        or not all(isinstance(row, list) and len(row) == len(table[0]) for row in table)
    ):
        msg = "the Census API returned JSON that is not a table (a list of equal-length rows)."
        raise DataError(msg)


def merge_census_tables(paths: Sequence[Path]) -> list[list[Any]]:
    """Join Census API tables of the same places (split by variables) on their geography."""
    tables = [json.loads(path.read_text(encoding="utf-8")) for path in paths]
    first = tables[0]
    geo = _geo_columns(first[0])
    geo_idx = [first[0].index(c) for c in geo]
    header = [c for c in first[0] if c not in geo]
    merged: dict[tuple[Any, ...], list[Any]] = {
        tuple(row[j] for j in geo_idx): [v for j, v in enumerate(row) if j not in geo_idx]
        for row in first[1:]
    }
    for i, table in enumerate(tables[1:], start=2):
        header += _join_part(merged, table, geo, part=i)
    return [header + geo] + [values + list(key) for key, values in merged.items()]


def _geo_columns(head: list[str]) -> list[str]:
    return [c for c in head if c in _ACS_GEO_COLUMNS or c == "us"]


def _join_part(
    merged: dict[tuple[Any, ...], list[Any]], table: list[list[Any]], geo: list[str], *, part: int
) -> list[str]:
    """Append the values of one more response (numbered `part`) to `merged`; its new columns.

    Raises DataError when it has other geography columns or other places than the first.
    """
    head, rows = table[0], table[1:]
    if _geo_columns(head) != geo:
        msg = f"Census API responses disagree on geography columns: {geo} vs {_geo_columns(head)}."
        raise DataError(msg)
    geo_idx = [head.index(c) for c in geo]
    value_idx = [j for j, c in enumerate(head) if c not in geo and c != "NAME"]
    seen = set()
    for row in rows:
        key = tuple(row[j] for j in geo_idx)
        if key not in merged:
            where = dict(zip(geo, key, strict=True))
            msg = f"Census API responses disagree on places: {where} only in part {part}."
            raise DataError(msg)
        seen.add(key)
        merged[key] += [row[j] for j in value_idx]
    if len(seen) != len(merged):
        msg = f"Census API part {part} lacks {len(merged) - len(seen)} places of part 1."
        raise DataError(msg)
    return [head[j] for j in value_idx]


def fetch_acs(
    variables: Sequence[str],
    *,
    year: int,
    state: str | int | None,
    level: str = "block group",
    key: str | None = None,
    dataset: str = "acs/acs5",
    force: bool = False,
    cache_folder: PathLike | None = None,
) -> Path:
    """Download ACS 5-year estimates from the Census Data API as JSON; return the cached file.

    The file is the API's JSON table: a header row (``NAME``, the variables, then the
    geography columns ``state``, ``county``, ``tract``, ``block group``) and one row per place,
    values as strings. Longer variable lists are split into requests of at most 49 variables
    and joined on the geography columns. :func:`acs_json_to_csv` turns it into the CSV layout
    ``read_acs`` reads.

    Parameters
    ----------
    variables
        ACS variable names; a bare name (``B28002_001``) stands for its estimate and MOE.
    year
        Last year of the 5-year period.
    state
        USPS code, FIPS code or name (None only for counties nationwide).
    level
        ``"block group"``, ``"tract"``, ``"county"`` or ``"state"``.
    key
        Census API key; defaults to :func:`census_api_key`. Optional (the API
        answers without one at a lower rate limit); never part of the cache name or messages.
    dataset
        API dataset path, ``"acs/acs5"`` by default.
    force
        Download again even when cached.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    Path
        The JSON file in the cache.

    Examples
    --------
    >>> path = fetch_acs(["B28002_001", "B28002_013"], year=2021, state="VA")  # doctest: +SKIP
    """
    names = _expand_variables(variables)
    key = key if key is not None else census_api_key()
    secret = [("key", key)] if key else None
    per_request = _MAX_GET - 1
    chunks = [names[i : i + per_request] for i in range(0, len(names), per_request)]
    urls = [
        census_api_url(chunk, year=year, state=state, level=level, dataset=dataset)
        for chunk in chunks
    ]
    paths = [
        download(
            url,
            params=secret,
            suffix=".json",
            validate=_validate_census_json,
            force=force,
            cache_folder=cache_folder,
        )
        for url in urls
    ]
    if len(paths) == 1:
        return paths[0]
    folder = Path(cache_folder) if cache_folder is not None else Path(settings.cache_folder)
    combined = folder / (hashlib.sha1("\n".join(urls).encode("utf-8")).hexdigest() + ".json")
    if force or not combined.is_file():
        table = merge_census_tables(paths)
        atomic_write_text(combined, json.dumps(table, separators=(",", ":")))
        logger.info("Joined %d Census API responses into %s", len(paths), combined)
    return combined


def acs_json_to_csv(json_path: PathLike, out: PathLike | None = None) -> Path:
    """Write a Census API JSON table as the ACS CSV that ``read_acs`` reads.

    Columns: ``GEOID`` (the geography columns joined: state + county + tract + block group),
    ``NAME``, then the variables in the API's order, values unchanged (Census sentinels such
    as ``-666666666`` included; a JSON ``null`` becomes an empty field).

    Parameters
    ----------
    json_path
        File written by :func:`fetch_acs`.
    out
        Output CSV; defaults to `json_path` with the suffix ``.csv``.

    Returns
    -------
    Path
        The CSV file (written atomically).
    """
    json_path = Path(json_path)
    out_path = Path(out) if out is not None else json_path.with_suffix(".csv")
    try:
        table = json.loads(json_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        msg = f"{json_path} is not a Census API JSON table ({exc})."
        raise DataError(msg) from None
    return write_acs_csv(table, out_path, label=str(json_path))


def write_acs_csv(table: list[list[Any]], out: PathLike, *, label: str = "ACS table") -> Path:
    """Write a Census API table (header row, then rows) as the CSV of :func:`acs_json_to_csv`.

    Parameters
    ----------
    table
        The API's JSON table, geography columns included.
    out
        Output CSV (written atomically).
    label
        How to name the table in messages.

    Returns
    -------
    Path
        The CSV file.
    """
    out_path = Path(out)
    try:
        head, rows = table[0], table[1:]
    except (IndexError, KeyError, TypeError) as exc:
        msg = f"{label} is not a Census API JSON table ({exc})."
        raise DataError(msg) from None
    geo = [c for c in _ACS_GEO_COLUMNS if c in head]
    if not geo:
        msg = f"{label} has no geography columns (expected some of {list(_ACS_GEO_COLUMNS)})."
        raise DataError(msg)
    geo_idx = [head.index(c) for c in geo]
    value_idx = [j for j, c in enumerate(head) if c not in geo]
    with atomic_path(out_path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["GEOID", *(head[j] for j in value_idx)])
        for row in rows:
            geoid = "".join(str(row[j]) for j in geo_idx)
            writer.writerow([geoid, *("" if row[j] is None else row[j] for j in value_idx)])
    return out_path


# --------------------------------------------------------------------------------------
# Cartographic boundaries
# --------------------------------------------------------------------------------------


def _validate_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except zipfile.BadZipFile as exc:
        msg = f"the downloaded file is not a valid zip ({exc})."
        raise DataError(msg) from None
    if bad is not None:
        msg = f"the downloaded zip is corrupt (entry {bad!r} fails its CRC check)."
        raise DataError(msg)


def fetch_boundaries(
    level: str,
    *,
    year: int,
    state: str | int | None = None,
    resolution: str = "500k",
    force: bool = False,
    cache_folder: PathLike | None = None,
) -> Path:
    """Download a Census cartographic boundary file (zipped shapefile); return the cached zip.

    See :func:`boundaries_url` for the URL and the accepted levels. ``read_boundaries``
    reads the zip as it is.

    Parameters
    ----------
    level
        ``blockgroup``, ``tract``, ``town`` (county subdivisions), ``county``, ``state``, ...
    year
        Vintage (2014 or later).
    state
        State of a per-state file (USPS code, FIPS code or name).
    resolution
        ``"500k"``, ``"5m"`` or ``"20m"`` (per-state files: 500k only).
    force
        Download again even when cached.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    Path
        The zip file in the cache.

    Examples
    --------
    >>> path = fetch_boundaries("tract", year=2021, state="VA")  # doctest: +SKIP
    """
    url = boundaries_url(level, year=year, state=state, resolution=resolution)
    return download(url, validate=_validate_zip, force=force, cache_folder=cache_folder)


# --------------------------------------------------------------------------------------
# Ookla, Microsoft, County Business Patterns
# --------------------------------------------------------------------------------------


def fetch_ookla(
    *,
    year: int,
    quarter: int,
    service: str = "fixed",
    format: str = "parquet",
    force: bool = False,
    cache_folder: PathLike | None = None,
) -> Path:
    """Download one quarter of Ookla's Speedtest tiles (worldwide, several hundred MB).

    Ookla open data is licensed CC BY-NC-SA 4.0 (non-commercial). See :func:`ookla_url`.

    Parameters
    ----------
    year
        Year, 2019 or later.
    quarter
        Quarter, 1 to 4.
    service
        ``"fixed"`` or ``"mobile"``.
    format
        ``"parquet"`` (default) or ``"shapefile"`` (a zip).
    force
        Download again even when cached.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    Path
        The Parquet (or zip) file in the cache.
    """
    url = ookla_url(year=year, quarter=quarter, service=service, format=format)
    validate = _validate_zip if format == "shapefile" else None
    return download(url, validate=validate, force=force, cache_folder=cache_folder)


def fetch_broadband_usage(
    kind: str = "county",
    *,
    ref: str = MICROSOFT_USAGE_COMMIT,
    force: bool = False,
    cache_folder: PathLike | None = None,
) -> Path:
    """Download Microsoft's broadband usage estimates (O-UDA v1.0); return the cached CSV.

    Parameters
    ----------
    kind
        ``"county"`` (``broadband_data_2020October.csv``) or ``"zip"``
        (``broadband_data_zipcode.csv``).
    ref
        Git commit or branch of ``microsoft/USBroadbandUsagePercentages``.
    force
        Download again even when cached.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    Path
        The CSV file in the cache.
    """
    url = broadband_usage_url(kind, ref=ref)
    return download(url, force=force, cache_folder=cache_folder)


def fetch_business_patterns(
    *,
    year: int,
    level: str = "county",
    force: bool = False,
    cache_folder: PathLike | None = None,
) -> Path:
    """Download County (or ZIP Code) Business Patterns and return the extracted text file.

    The zip is cached like any download and its ``.txt`` (``cbp21co.txt``, ``zbp18totals.txt``)
    is extracted safely beside it, in a folder named after the zip's cache name.

    Parameters
    ----------
    year
        Reference year.
    level
        ``"county"`` or ``"zip"``.
    force
        Download and extract again even when cached.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    Path
        The extracted comma-separated text file.
    """
    url = business_patterns_url(year=year, level=level)
    zip_path = download(url, validate=_validate_zip, force=force, cache_folder=cache_folder)
    with zipfile.ZipFile(zip_path) as archive:
        texts = [n for n in archive.namelist() if n.lower().endswith(".txt")]
    if not texts:
        msg = f"{zip_path} (from {url}) holds no .txt file."
        raise DataError(msg)
    folder = zip_path.with_suffix("")
    target = folder / texts[0]
    if force or not target.is_file():
        safe_extract(zip_path, folder, members=[texts[0]])
    return target


# --------------------------------------------------------------------------------------
# One state's run
# --------------------------------------------------------------------------------------

#: Boundary levels one state's run can use.
_STATE_LEVELS = ("blockgroup", "tract", "county", "town")


def _copy_out(path: Path, out: Path, name: str) -> Path:
    target = out / name
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    return target


def fetch_state(
    state: str | int,
    *,
    year: int,
    levels: Sequence[str] = _STATE_LEVELS,
    boundary_year: int | None = None,
    resolution: str = "500k",
    variables: Sequence[str] | None = None,
    tract_variables: Sequence[str] | None = None,
    business_year: int | None = None,
    key: str | None = None,
    out: PathLike | None = None,
    force: bool = False,
    cache_folder: PathLike | None = None,
) -> dict[str, Path]:
    """Fetch every public file one state's run needs; return their paths by key.

    Keys (those of ``equity.sample.write_sample``): ``acs`` (block-group CSV), ``acs_tract``
    (tract CSV of the tract-only variables), ``blockgroup``, ``tract``, ``county``, ``town``
    (boundary zips; county is the national file), ``usage`` (Microsoft county CSV) and
    ``business`` (County Business Patterns text file). Logs one line per file, prints nothing.

    Parameters
    ----------
    state
        USPS code (``"VA"``), FIPS code (``"51"``, ``51``) or name.
    year
        ACS 5-year period's last year; also the default vintage of the other files.
    levels
        Boundary levels to fetch, among ``blockgroup``, ``tract``, ``county``, ``town``.
    boundary_year
        Vintage of the boundaries; defaults to `year`.
    resolution
        Resolution of the national county file (``500k``, ``5m``, ``20m``); per-state files are
        published at 500k only.
    variables
        ACS block-group variables; defaults to :data:`ACS_BLOCKGROUP_VARIABLES`.
    tract_variables
        ACS tract variables; defaults to :data:`ACS_TRACT_VARIABLES`; empty to skip.
    business_year
        CBP reference year; defaults to `year`.
    key
        Census API key; defaults to :func:`census_api_key` (optional).
    out
        When given, the files are also copied there under readable names
        (``acs_2021_51_blockgroup.csv``, ``cb_2021_51_bg_500k.zip``, ...) and those paths are
        returned.
    force
        Download again even when cached.
    cache_folder
        Cache folder; defaults to :data:`equity.settings.cache_folder`.

    Returns
    -------
    dict of str to Path
        Local files by key.

    Examples
    --------
    >>> paths = fetch_state("VA", year=2021)  # doctest: +SKIP
    >>> sorted(paths)  # doctest: +SKIP
    ['acs', 'acs_tract', 'blockgroup', 'business', 'county', 'tract', 'town', 'usage']
    """
    st = lookup_state(state)
    for level in levels:
        check_choice("level", level, _STATE_LEVELS)
    opts: dict[str, Any] = {"force": force, "cache_folder": cache_folder}
    logger.info("Fetching the files of %s (%s) for %s", st.name, st.fips, year)
    files = _fetch_acs_files(
        st, year=year, variables=variables, tract_variables=tract_variables, key=key, opts=opts
    )
    byear = int(boundary_year if boundary_year is not None else year)
    files |= _fetch_boundary_files(st, levels, year=byear, resolution=resolution, opts=opts)
    files["usage"] = (fetch_broadband_usage("county", **opts), "broadband_data_2020October.csv")
    business = fetch_business_patterns(
        year=business_year if business_year is not None else year, level="county", **opts
    )
    files["business"] = (business, business.name)
    if out is None:
        paths = {k: path for k, (path, _) in files.items()}
    else:
        paths = {k: _copy_out(path, Path(out), name) for k, (path, name) in files.items()}
    for k, p in paths.items():
        logger.info("%s: %s", k, p)
    return paths


def _fetch_acs_files(
    st: State,
    *,
    year: int,
    variables: Sequence[str] | None,
    tract_variables: Sequence[str] | None,
    key: str | None,
    opts: dict[str, Any],
) -> dict[str, tuple[Path, str]]:
    """The block-group ACS CSV and, unless no tract variables are asked for, the tract one,
    each with its readable name."""
    files = {}
    bg_vars = ACS_BLOCKGROUP_VARIABLES if variables is None else variables
    json_path = fetch_acs(bg_vars, year=year, state=st.fips, level="block group", key=key, **opts)
    files["acs"] = (acs_json_to_csv(json_path), f"acs_{year}_{st.fips}_blockgroup.csv")
    tr_vars = ACS_TRACT_VARIABLES if tract_variables is None else tract_variables
    if tr_vars:
        json_path = fetch_acs(tr_vars, year=year, state=st.fips, level="tract", key=key, **opts)
        files["acs_tract"] = (acs_json_to_csv(json_path), f"acs_{year}_{st.fips}_tract.csv")
    return files


def _fetch_boundary_files(
    st: State, levels: Sequence[str], *, year: int, resolution: str, opts: dict[str, Any]
) -> dict[str, tuple[Path, str]]:
    """The boundary zip of each level (per-state files at 500k), with its Census name."""
    files = {}
    for level in levels:
        res = resolution if level == "county" else "500k"
        url = boundaries_url(level, year=year, state=st.fips, resolution=res)
        path = fetch_boundaries(level, year=year, state=st.fips, resolution=res, **opts)
        files[level] = (path, url.rsplit("/", 1)[-1])
    return files
