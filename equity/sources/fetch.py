"""Download the public files a run needs: ACS, boundaries, Ookla, Microsoft usage, CBP.

Each ``fetch_*`` function builds the real URL of one public file, downloads it through the
cache of :func:`equity.sources._http.download` (named by the SHA-1 of the URL in
:data:`equity.settings.cache_folder`, written atomically, retried, never caching a failure) and
returns the local path, which the matching ``read_*`` function reads.

URLs (hosts in :data:`equity.sources._http.base_urls`):

============================  ==========================================================================
source                        URL
============================  ==========================================================================
ACS 5-year (Census Data API)  ``https://api.census.gov/data/{year}/acs/acs5?get=NAME,{vars}&for=block%20group:*&in=state:{fips}&in=county:*&in=tract:*``
cartographic boundaries       ``https://www2.census.gov/geo/tiger/GENZ{year}/shp/cb_{year}_{fips|us}_{level}_{res}.zip``
Ookla open data               ``https://ookla-open-data.s3.amazonaws.com/parquet/performance/type={service}/year={year}/quarter={q}/{year}-{mm}-01_performance_{service}_tiles.parquet``
Microsoft broadband usage     ``https://raw.githubusercontent.com/microsoft/USBroadbandUsagePercentages/{ref}/dataset/broadband_data_2020October.csv`` (``..._zipcode.csv``)
County Business Patterns      ``https://www2.census.gov/programs-surveys/cbp/datasets/{year}/cbp{yy}co.zip`` (ZIP totals ``zbp{yy}totals.zip``)
============================  ==========================================================================

:func:`fetch_state` fetches everything one state's run needs and is what ``equity fetch
--state VA --year 2021`` calls. Nothing here prints; each download logs one line on the
``equity.sources`` logger.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from equity import settings
from equity._io import atomic_path, atomic_write_text
from equity.errors import ConfigError, DataError
from equity.sources import _http
from equity.sources._http import base_urls, download, safe_extract
from equity.sources._states import lookup_state, state_fips

__all__ = [
    "ACS_BLOCKGROUP_VARIABLES",
    "ACS_TRACT_VARIABLES",
    "MICROSOFT_USAGE_COMMIT",
    "acs_json_to_csv",
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
    "ookla_url",
]

logger = logging.getLogger("equity.sources")

PathLike = str | os.PathLike[str]


def _range(table: str, first: int, last: int) -> list[str]:
    return [f"{table}_{i:03d}" for i in range(first, last + 1)]


#: ACS variables behind the count columns of ``docs/contracts.md`` published for block groups.
ACS_BLOCKGROUP_VARIABLES: tuple[str, ...] = (
    "B01003_001",  # population
    "B11001_001",  # households
    *("B28002_001", "B28002_004", "B28002_007", "B28002_013"),  # internet subscriptions
    *("B28001_001", "B28001_002", "B28001_011"),  # computers (011: no computer)
    *("C17002_001", "C17002_002", "C17002_003"),  # ratio of income to poverty
    "B01001_001",
    *_range("B01001", 20, 25),  # men 65+
    *_range("B01001", 44, 49),  # women 65+
    "B15003_001",
    *_range("B15003", 2, 16),  # 25+ without a high-school diploma
    *("C16002_001", "C16002_004", "C16002_007", "C16002_010", "C16002_013"),  # limited English
    "B19013_001",  # median household income
)

#: Disability (B18101) is published for tracts, not block groups.
ACS_TRACT_VARIABLES: tuple[str, ...] = (
    "B18101_001",
    *(f"B18101_{i:03d}" for i in (4, 7, 10, 13, 16, 19, 23, 26, 29, 32, 35, 38)),
)

#: Commit of microsoft/USBroadbandUsagePercentages whose files match ``../shared/data``:
#: pinning it makes the download reproducible (and the cache entry immutable).
MICROSOFT_USAGE_COMMIT = "c115330729a90e2728fb4435598616fb657aa281"

# Census API: "get" takes at most 50 names, NAME included
_MAX_GET = 50
_ACS_LEVELS: dict[str, tuple[str, tuple[str, ...]]] = {
    # level -> (Census "for" geography, Census "in" geographies below the state)
    "blockgroup": ("block group", ("county", "tract")),
    "tract": ("tract", ("county",)),
    "county": ("county", ()),
    "state": ("state", ()),
}
_LEVEL_ALIASES = {
    "block group": "blockgroup",
    "block_group": "blockgroup",
    "bg": "blockgroup",
    "town": "cousub",
}
_ACS_GEO_COLUMNS = ("state", "county", "tract", "block group")
_VARIABLE = re.compile(r"^[A-Z][0-9]{5}[A-Z]{0,2}_[0-9]{3}(E|M|EA|MA|PE|PM)?$")
_BASE_VARIABLE = re.compile(r"^[A-Z][0-9]{5}[A-Z]{0,2}_[0-9]{3}$")

# cartographic boundary summary levels: one file per state, or one national file
_PER_STATE_LEVELS = frozenset(
    {"bg", "tract", "cousub", "place", "concity", "elsd", "scsd", "unsd", "sldl", "sldu"}
    | {"puma10", "puma20"}
)
_NATIONAL_LEVELS = frozenset(
    {"nation", "region", "division", "state", "county", "cbsa", "csa", "metdiv", "necta"}
    | {"cnecta", "nectadiv", "ua10", "ua20", "zcta510", "zcta520", "aiannh", "aitsn", "anrc"}
    | {"tbg", "ttract", "subbarrio"}
)
_BOUNDARY_LEVELS = {"blockgroup": "bg", "town": "cousub"}
_RESOLUTIONS = ("500k", "5m", "20m")


# --------------------------------------------------------------------------------------
# ACS (Census Data API)
# --------------------------------------------------------------------------------------


def _acs_level(level: str) -> str:
    key = _LEVEL_ALIASES.get(level.lower().strip(), level.lower().strip())
    if key not in _ACS_LEVELS:
        msg = f"unknown ACS level {level!r}; use one of {sorted(_ACS_LEVELS)} (or 'block group')."
        raise ConfigError(msg)
    return key


def _expand_variables(variables: Sequence[str]) -> list[str]:
    """``B28002_001`` -> ``B28002_001E``, ``B28002_001M``; names with a suffix kept as given."""
    if isinstance(variables, str):
        variables = [variables]
    out: list[str] = []
    bad = [v for v in variables if not _VARIABLE.match(str(v).upper())]
    if bad:
        msg = (
            f"not ACS variable names: {bad[:5]}; expected e.g. 'B28002_001' "
            "(estimate and MOE) or 'B28002_001E'."
        )
        raise ConfigError(msg)
    for raw in variables:
        name = str(raw).upper()
        for full in (f"{name}E", f"{name}M") if _BASE_VARIABLE.match(name) else (name,):
            if full not in out:
                out.append(full)
    if not out:
        msg = "no ACS variables requested."
        raise ConfigError(msg)
    return out


def _acs_query(
    names: Sequence[str], *, level: str, state: str | int | None
) -> list[tuple[str, str]]:
    geo, inside = _ACS_LEVELS[_acs_level(level)]
    query = [("get", ",".join(["NAME", *names]))]
    if geo == "state":
        query.append(("for", f"state:{state_fips(state) if state is not None else '*'}"))
        return query
    query.append(("for", f"{geo}:*"))
    if state is None:
        if geo != "county":
            msg = f"ACS level {level!r} needs a state (the Census API serves it state by state)."
            raise ConfigError(msg)
        return query
    query.append(("in", f"state:{state_fips(state)}"))
    query += [("in", f"{g}:*") for g in inside]
    return query


def census_api_url(
    variables: Sequence[str],
    *,
    year: int,
    state: str | int | None,
    level: str = "block group",
    dataset: str = "acs/acs5",
) -> str:
    """URL of one Census Data API request (without the key).

    ``https://api.census.gov/data/{year}/{dataset}?get=NAME,{vars}&for=block%20group:*&in=state:{fips}&in=county:*&in=tract:*``
    for block groups; ``for=tract:*&in=state:{fips}&in=county:*`` for tracts;
    ``for=county:*&in=state:{fips}`` (or all counties when `state` is None) for counties.

    Parameters
    ----------
    variables
        ACS variable names; a bare name (``B28002_001``) stands for its estimate and margin of
        error (``B28002_001E``, ``B28002_001M``). At most 49 names after expansion (the API
        limit of 50 includes ``NAME``); :func:`fetch_acs` splits longer lists.
    year
        Last year of the 5-year period (2021 for 2017-2021).
    state
        USPS code, FIPS code or name; None only for counties or states nationwide.
    level
        ``"block group"`` (or ``"blockgroup"``), ``"tract"``, ``"county"`` or ``"state"``.
    dataset
        API dataset path, ``"acs/acs5"`` by default.

    Returns
    -------
    str
        The URL.

    Examples
    --------
    >>> census_api_url(["B28002_013"], year=2021, state="VA", level="tract")
    'https://api.census.gov/data/2021/acs/acs5?get=NAME,B28002_013E,B28002_013M&for=tract:*&in=state:51&in=county:*'
    """
    names = _expand_variables(variables)
    if len(names) >= _MAX_GET:
        msg = f"{len(names)} variables exceed the Census API limit of {_MAX_GET - 1} per request."
        raise ConfigError(msg)
    url = f"{base_urls['census_api']}/data/{int(year)}/{dataset}"
    return _http.public_url(url, params=_acs_query(names, level=level, state=state))


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


def _merge_census_tables(paths: Sequence[Path]) -> list[list[Any]]:
    """Join Census API tables of the same places (split by variables) on their geography."""
    merged: dict[tuple[Any, ...], list[Any]] = {}
    header: list[str] = []
    order: list[tuple[Any, ...]] = []
    geo_cols: list[str] = []
    for i, path in enumerate(paths):
        table = json.loads(path.read_text(encoding="utf-8"))
        head, rows = table[0], table[1:]
        geo = [c for c in head if c in _ACS_GEO_COLUMNS or c == "us"]
        geo_idx = [head.index(c) for c in geo]
        value_idx = [j for j, c in enumerate(head) if c not in geo and (c != "NAME" or i == 0)]
        if i == 0:
            geo_cols = geo
            header = [head[j] for j in value_idx]
        elif geo != geo_cols:
            msg = f"Census API responses disagree on geography columns: {geo_cols} vs {geo}."
            raise DataError(msg)
        else:
            header += [head[j] for j in value_idx]
        seen = set()
        for row in rows:
            key = tuple(row[j] for j in geo_idx)
            seen.add(key)
            if i == 0:
                merged[key] = [row[j] for j in value_idx]
                order.append(key)
            elif key in merged:
                merged[key] += [row[j] for j in value_idx]
            else:
                where = dict(zip(geo, key, strict=True))
                msg = f"Census API responses disagree on places: {where} only in part {i + 1}."
                raise DataError(msg)
        if i and len(seen) != len(merged):
            msg = f"Census API part {i + 1} lacks {len(merged) - len(seen)} places of part 1."
            raise DataError(msg)
    return [header + geo_cols] + [merged[k] + list(k) for k in order]


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
        Census API key; defaults to :data:`equity.settings.census_api_key`. Optional (the API
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
    key = key if key is not None else settings.census_api_key
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
        table = _merge_census_tables(paths)
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
        head, rows = table[0], table[1:]
    except (OSError, ValueError, IndexError, KeyError, TypeError) as exc:
        msg = f"{json_path} is not a Census API JSON table ({exc})."
        raise DataError(msg) from None
    geo = [c for c in _ACS_GEO_COLUMNS if c in head]
    if not geo:
        msg = f"{json_path} has no geography columns (expected some of {list(_ACS_GEO_COLUMNS)})."
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


def boundaries_url(
    level: str, *, year: int, state: str | int | None = None, resolution: str = "500k"
) -> str:
    """URL of a Census cartographic boundary zipped shapefile.

    ``https://www2.census.gov/geo/tiger/GENZ{year}/shp/cb_{year}_{fips}_{level}_{res}.zip``
    for files published per state (``bg``, ``tract``, ``cousub``, ``place``; 500k only) and
    ``cb_{year}_us_{level}_{res}.zip`` for national files (``state``, ``county``, ...).

    Parameters
    ----------
    level
        ``blockgroup`` (``bg``), ``tract``, ``town`` (``cousub``), ``place``, ``county``,
        ``state``, or another Census summary-level name of the GENZ files.
    year
        Vintage, 2014 or later (earlier GENZ folders are laid out differently).
    state
        Needed for per-state levels; ignored for national files, which cover every state.
    resolution
        ``"500k"``, ``"5m"`` or ``"20m"``.

    Returns
    -------
    str
        The URL.

    Examples
    --------
    >>> boundaries_url("blockgroup", year=2021, state="VA")
    'https://www2.census.gov/geo/tiger/GENZ2021/shp/cb_2021_51_bg_500k.zip'
    >>> boundaries_url("county", year=2018, resolution="20m")
    'https://www2.census.gov/geo/tiger/GENZ2018/shp/cb_2018_us_county_20m.zip'
    """
    raw = level.lower().strip()
    name = _BOUNDARY_LEVELS.get(_LEVEL_ALIASES.get(raw, raw), _LEVEL_ALIASES.get(raw, raw))
    if resolution not in _RESOLUTIONS:
        msg = f"unknown resolution {resolution!r}; use one of {list(_RESOLUTIONS)}."
        raise ConfigError(msg)
    year = int(year)
    if year < 2014:
        msg = f"cartographic boundaries before 2014 are not supported (got {year})."
        raise ConfigError(msg)
    if name in _PER_STATE_LEVELS:
        if state is None:
            msg = f"boundaries of level {level!r} are published per state: give state=..."
            raise ConfigError(msg)
        if resolution != "500k":
            msg = f"per-state boundaries ({level!r}) exist only at 500k, not {resolution!r}."
            raise ConfigError(msg)
        area = state_fips(state)
    elif name in _NATIONAL_LEVELS or re.fullmatch(r"cd[0-9]{3}", name):
        area = "us"
    else:
        ours = sorted({*_BOUNDARY_LEVELS, "tract", "county", "state"})
        census = sorted(_PER_STATE_LEVELS | _NATIONAL_LEVELS)
        msg = f"unknown boundary level {level!r}; use one of {ours}, or a Census name: {census}."
        raise ConfigError(msg)
    return f"{base_urls['census_www2']}/geo/tiger/GENZ{year}/shp/cb_{year}_{area}_{name}_{resolution}.zip"


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


def ookla_url(*, year: int, quarter: int, service: str = "fixed", format: str = "parquet") -> str:
    """URL of one quarter of Ookla's open Speedtest performance tiles (whole world).

    ``https://ookla-open-data.s3.amazonaws.com/parquet/performance/type={service}/year={year}/quarter={q}/{year}-{mm}-01_performance_{service}_tiles.parquet``
    (``shapefiles/...zip`` for ``format="shapefile"``), ``mm`` being the quarter's first month.

    Parameters
    ----------
    year
        Year, 2019 or later.
    quarter
        Quarter, 1 to 4.
    service
        ``"fixed"`` or ``"mobile"``.
    format
        ``"parquet"`` or ``"shapefile"``.

    Returns
    -------
    str
        The URL.

    Examples
    --------
    >>> ookla_url(year=2021, quarter=2)
    'https://ookla-open-data.s3.amazonaws.com/parquet/performance/type=fixed/year=2021/quarter=2/2021-04-01_performance_fixed_tiles.parquet'
    """
    problems = []
    if service not in ("fixed", "mobile"):
        problems.append(f"service must be 'fixed' or 'mobile', not {service!r}")
    if quarter not in (1, 2, 3, 4):
        problems.append(f"quarter must be 1, 2, 3 or 4, not {quarter!r}")
    if int(year) < 2019:
        problems.append(f"Ookla open data starts in 2019, not {year!r}")
    if format not in ("parquet", "shapefile"):
        problems.append(f"format must be 'parquet' or 'shapefile', not {format!r}")
    if problems:
        msg = "; ".join(problems) + "."
        raise ConfigError(msg)
    month = 3 * (quarter - 1) + 1
    stem = f"{int(year)}-{month:02d}-01_performance_{service}_tiles"
    folder = "parquet" if format == "parquet" else "shapefiles"
    ext = "parquet" if format == "parquet" else "zip"
    return (
        f"{base_urls['ookla']}/{folder}/performance/type={service}/year={int(year)}"
        f"/quarter={quarter}/{stem}.{ext}"
    )


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


def broadband_usage_url(kind: str = "county", *, ref: str = MICROSOFT_USAGE_COMMIT) -> str:
    """URL of Microsoft's broadband usage file (October 2020) on GitHub.

    ``https://raw.githubusercontent.com/microsoft/USBroadbandUsagePercentages/{ref}/dataset/broadband_data_2020October.csv``
    for counties, ``.../dataset/broadband_data_zipcode.csv`` for ZIP codes.

    Parameters
    ----------
    kind
        ``"county"`` or ``"zip"``.
    ref
        Git commit or branch; the default commit is the one described in ``SOURCES.md``.

    Returns
    -------
    str
        The URL.
    """
    files = {"county": "broadband_data_2020October.csv", "zip": "broadband_data_zipcode.csv"}
    if kind not in files:
        msg = f"unknown Microsoft usage file {kind!r}; use one of {list(files)}."
        raise ConfigError(msg)
    repo = "microsoft/USBroadbandUsagePercentages"
    return f"{base_urls['github_raw']}/{repo}/{ref}/dataset/{files[kind]}"


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


def business_patterns_url(*, year: int, level: str = "county") -> str:
    """URL of a County Business Patterns file.

    ``https://www2.census.gov/programs-surveys/cbp/datasets/{year}/cbp{yy}co.zip`` (counties,
    by NAICS industry) or ``.../zbp{yy}totals.zip`` (ZIP Code totals, published up to 2018).

    Parameters
    ----------
    year
        Reference year (2012 or later).
    level
        ``"county"`` or ``"zip"``.

    Returns
    -------
    str
        The URL.

    Examples
    --------
    >>> business_patterns_url(year=2021)
    'https://www2.census.gov/programs-surveys/cbp/datasets/2021/cbp21co.zip'
    """
    year = int(year)
    if level not in ("county", "zip"):
        msg = f"unknown business patterns level {level!r}; use 'county' or 'zip'."
        raise ConfigError(msg)
    if year < 2012:
        msg = f"County Business Patterns before 2012 are not supported (got {year})."
        raise ConfigError(msg)
    yy = f"{year % 100:02d}"
    name = f"cbp{yy}co.zip" if level == "county" else f"zbp{yy}totals.zip"
    return f"{base_urls['census_www2']}/programs-surveys/cbp/datasets/{year}/{name}"


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

_BOUNDARY_NAMES = {"blockgroup": "bg", "tract": "tract", "county": "county", "town": "cousub"}


def _copy_out(path: Path, out: Path, name: str) -> Path:
    target = out / name
    with atomic_path(target) as tmp:
        shutil.copyfile(path, tmp)
    return target


def fetch_state(
    state: str | int,
    *,
    year: int,
    levels: Sequence[str] = ("blockgroup", "tract", "county", "town"),
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
        Census API key; defaults to :data:`equity.settings.census_api_key` (optional).
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
    unknown = [lv for lv in levels if lv not in _BOUNDARY_NAMES]
    if unknown:
        msg = f"unknown levels {unknown}; use some of {list(_BOUNDARY_NAMES)}."
        raise ConfigError(msg)
    byear = int(boundary_year if boundary_year is not None else year)
    opts: dict[str, Any] = {"force": force, "cache_folder": cache_folder}
    logger.info("Fetching the files of %s (%s) for %s", st.name, st.fips, year)

    paths: dict[str, Path] = {}
    names: dict[str, str] = {}
    bg_vars = ACS_BLOCKGROUP_VARIABLES if variables is None else variables
    json_path = fetch_acs(bg_vars, year=year, state=st.fips, level="block group", key=key, **opts)
    paths["acs"] = acs_json_to_csv(json_path)
    names["acs"] = f"acs_{year}_{st.fips}_blockgroup.csv"
    tr_vars = ACS_TRACT_VARIABLES if tract_variables is None else tract_variables
    if tr_vars:
        json_path = fetch_acs(tr_vars, year=year, state=st.fips, level="tract", key=key, **opts)
        paths["acs_tract"] = acs_json_to_csv(json_path)
        names["acs_tract"] = f"acs_{year}_{st.fips}_tract.csv"
    for level in levels:
        res = resolution if level == "county" else "500k"
        url = boundaries_url(level, year=byear, state=st.fips, resolution=res)
        paths[level] = fetch_boundaries(level, year=byear, state=st.fips, resolution=res, **opts)
        names[level] = url.rsplit("/", 1)[-1]
    paths["usage"] = fetch_broadband_usage("county", **opts)
    names["usage"] = "broadband_data_2020October.csv"
    paths["business"] = fetch_business_patterns(
        year=business_year if business_year is not None else year, level="county", **opts
    )
    names["business"] = paths["business"].name

    if out is not None:
        out_dir = Path(out)
        paths = {k: _copy_out(p, out_dir, names[k]) for k, p in paths.items()}
    for k, p in paths.items():
        logger.info("%s: %s", k, p)
    return paths
