"""Where each public file lives: the URL of every download, built from its options.

URLs (hosts in :data:`equity.sources._http.base_urls`):

=================================  ==========================================================================
source                             URL
=================================  ==========================================================================
ACS 5-year (Census Data API)       ``https://api.census.gov/data/{year}/acs/acs5?get=NAME,{vars}&for=block%20group:*&in=state:{fips}&in=county:*&in=tract:*``
cartographic boundaries            ``https://www2.census.gov/geo/tiger/GENZ{year}/shp/cb_{year}_{fips|us}_{level}_{res}.zip``
TIGER/Line 2020 tabulation blocks  ``https://www2.census.gov/geo/tiger/TIGER2020/TABBLOCK20/tl_2020_{fips}_tabblock20.zip``
Ookla open data                    ``https://ookla-open-data.s3.amazonaws.com/parquet/performance/type={service}/year={year}/quarter={q}/{year}-{mm}-01_performance_{service}_tiles.parquet``
Microsoft broadband usage          ``https://raw.githubusercontent.com/microsoft/USBroadbandUsagePercentages/{ref}/dataset/broadband_data_2020October.csv`` (``..._zipcode.csv``)
County Business Patterns           ``https://www2.census.gov/programs-surveys/cbp/datasets/{year}/cbp{yy}co.zip`` (ZIP totals ``zbp{yy}totals.zip``)
IMLS Public Libraries Survey       ``https://www.imls.gov/sites/default/files/{release month}/pls_fy{year}_csv.zip`` (release folders in :data:`IMLS_RELEASES`)
NCES EDGE public school geocodes   ``https://nces.ed.gov/programs/edge/data/EDGE_GEOCODE_PUBLICSCH_{yy}{yy+1}.zip``
IPEDS institutional directory      ``https://nces.ed.gov/ipeds/datacenter/data/HD{year}.zip``
IRS exempt organizations (EO BMF)  ``https://www.irs.gov/pub/irs-soi/eo_{usps}.csv``
FCC BDC public data API            ``https://broadbandmap.fcc.gov/api/public/map/listAsOfDates``, ``.../downloads/listAvailabilityData/{as_of_date}``, ``.../downloads/downloadFile/availability/{file_id}``
=================================  ==========================================================================

Each function checks its options (an unknown choice lists the valid ones) and returns the URL;
:mod:`equity.sources.fetch` downloads them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from equity.errors import ChoiceError, ConfigError, check_choice
from equity.sources import _http
from equity.sources._http import base_urls
from equity.sources._states import state_fips, state_usps
from equity.sources.ookla import SERVICES

__all__ = [
    "IMLS_RELEASES",
    "MICROSOFT_USAGE_COMMIT",
    "blocks_url",
    "boundaries_url",
    "broadband_usage_url",
    "business_patterns_url",
    "census_api_url",
    "fcc_api_url",
    "imls_url",
    "ipeds_url",
    "irs_eo_url",
    "nces_edge_url",
    "ookla_url",
]

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

#: Microsoft usage files by kind.
_USAGE_FILES = {"county": "broadband_data_2020October.csv", "zip": "broadband_data_zipcode.csv"}
_OOKLA_FORMATS = ("parquet", "shapefile")
_QUARTERS = (1, 2, 3, 4)
_CBP_LEVELS = ("county", "zip")


# --------------------------------------------------------------------------------------
# ACS (Census Data API)
# --------------------------------------------------------------------------------------


def _acs_level(level: str) -> str:
    """The ACS level named by `level` (``"block group"`` and ``"bg"`` are ``"blockgroup"``)."""
    key = _LEVEL_ALIASES.get(level.lower().strip(), level.lower().strip())
    return check_choice("ACS level", key, _ACS_LEVELS)


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


# --------------------------------------------------------------------------------------
# Cartographic boundaries, Ookla, Microsoft, County Business Patterns
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
    check_choice("resolution", resolution, _RESOLUTIONS)
    year = int(year)
    if year < 2014:
        msg = f"cartographic boundaries before 2014 are not supported (got {year})."
        raise ConfigError(msg)
    if name not in _PER_STATE_LEVELS and not _is_national(name):
        ours = sorted({*_BOUNDARY_LEVELS, "tract", "county", "state"})
        check_choice(
            "boundary level", level, [*ours, *sorted(_PER_STATE_LEVELS | _NATIONAL_LEVELS)]
        )
    if name in _PER_STATE_LEVELS:
        if state is None:
            msg = f"boundaries of level {level!r} are published per state: give state=..."
            raise ConfigError(msg)
        if resolution != "500k":
            msg = f"per-state boundaries ({level!r}) exist only at 500k, not {resolution!r}."
            raise ConfigError(msg)
        area = state_fips(state)
    else:
        area = "us"
    return f"{base_urls['census_www2']}/geo/tiger/GENZ{year}/shp/cb_{year}_{area}_{name}_{resolution}.zip"


def _is_national(name: str) -> bool:
    """Whether boundaries of level `name` come in one national file (congressional districts
    ``cd118`` ... included)."""
    return name in _NATIONAL_LEVELS or re.fullmatch(r"cd[0-9]{3}", name) is not None


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
    problems = [
        p
        for p in (
            _choice_problem("service", service, SERVICES),
            _choice_problem("quarter", quarter, _QUARTERS),
            _choice_problem("format", format, _OOKLA_FORMATS),
        )
        if p
    ]
    if int(year) < 2019:
        problems.append(f"Ookla open data starts in 2019, not {year!r}")
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


def _choice_problem(kind: str, value: object, valid: Sequence[object]) -> str | None:
    """The :func:`~equity.errors.check_choice` message for `value`, or None when it is valid."""
    try:
        check_choice(kind, value, valid)
    except ChoiceError as exc:
        return str(exc)
    return None


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
    check_choice("Microsoft usage file", kind, _USAGE_FILES)
    repo = "microsoft/USBroadbandUsagePercentages"
    return f"{base_urls['github_raw']}/{repo}/{ref}/dataset/{_USAGE_FILES[kind]}"


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
    check_choice("business patterns level", level, _CBP_LEVELS)
    if year < 2012:
        msg = f"County Business Patterns before 2012 are not supported (got {year})."
        raise ConfigError(msg)
    yy = f"{year % 100:02d}"
    name = f"cbp{yy}co.zip" if level == "county" else f"zbp{yy}totals.zip"
    return f"{base_urls['census_www2']}/programs-surveys/cbp/datasets/{year}/{name}"


# --------------------------------------------------------------------------------------
# TIGER blocks, IMLS, NCES (EDGE, IPEDS), IRS, FCC
# --------------------------------------------------------------------------------------


def blocks_url(state: str | int) -> str:
    """URL of a state's TIGER/Line 2020 tabulation blocks (``HOUSING20`` and ``POP20`` fields).

    Examples
    --------
    >>> blocks_url("VA")
    'https://www2.census.gov/geo/tiger/TIGER2020/TABBLOCK20/tl_2020_51_tabblock20.zip'
    """
    fips = state_fips(state)
    return (
        f"{base_urls['census_www2']}/geo/tiger/TIGER2020/TABBLOCK20/tl_2020_{fips}_tabblock20.zip"
    )


#: Fiscal year of the IMLS Public Libraries Survey -> the release folder of its CSV zip under
#: ``https://www.imls.gov/sites/default/files/`` (IMLS files each release in the month it was
#: published, so the folder cannot be derived from the year).
IMLS_RELEASES: dict[int, str] = {
    2019: "2021-05",
    2020: "2022-07",
    2021: "2023-06",
    2022: "2024-06",
    2023: "2025-08",
    2024: "2026-06",
}


def imls_url(*, year: int) -> str:
    """URL of the IMLS Public Libraries Survey CSV zip of fiscal year `year`.

    The zip holds the administrative-entity, outlet and state files, e.g.
    ``PLS_FY2022 PUD_CSV/pls_fy22_outlet_pud22i.csv`` (Windows-1252 text).

    Examples
    --------
    >>> imls_url(year=2022)
    'https://www.imls.gov/sites/default/files/2024-06/pls_fy2022_csv.zip'
    """
    year = int(year)
    if year not in IMLS_RELEASES:
        known = ", ".join(str(y) for y in IMLS_RELEASES)
        msg = (
            f"no known IMLS Public Libraries Survey release for FY{year} (known: {known}); "
            "pass another year, or add its release folder to equity.sources.urls.IMLS_RELEASES."
        )
        raise ConfigError(msg)
    return f"{base_urls['imls']}/sites/default/files/{IMLS_RELEASES[year]}/pls_fy{year}_csv.zip"


def nces_edge_url(*, year: int) -> str:
    """URL of the NCES EDGE public-school geocode zip of the school year starting in `year`.

    The zip holds ``EDGE_GEOCODE_PUBLICSCH_{yy}{yy+1}`` as a spreadsheet and a shapefile (some
    years also a delimited ``.TXT``), with ``NCESSCH``, ``NAME``, ``STATE``, ``LAT``, ``LON``.

    Examples
    --------
    >>> nces_edge_url(year=2022)
    'https://nces.ed.gov/programs/edge/data/EDGE_GEOCODE_PUBLICSCH_2223.zip'
    """
    yy = int(year) % 100
    return f"{base_urls['nces']}/programs/edge/data/EDGE_GEOCODE_PUBLICSCH_{yy:02d}{(yy + 1) % 100:02d}.zip"


def ipeds_url(*, year: int) -> str:
    """URL of the IPEDS institutional characteristics directory (``HD{year}.zip``, holding
    ``hd{year}.csv`` with ``UNITID``, ``INSTNM``, ``STABBR``, ``LATITUDE``, ``LONGITUD``).

    Examples
    --------
    >>> ipeds_url(year=2022)
    'https://nces.ed.gov/ipeds/datacenter/data/HD2022.zip'
    """
    return f"{base_urls['nces']}/ipeds/datacenter/data/HD{int(year)}.zip"


def irs_eo_url(state: str | int) -> str:
    """URL of the IRS Exempt Organizations Business Master File extract of one state.

    The IRS replaces these files monthly at the same URL; the cache keeps the copy first
    downloaded until ``equity fetch --force``.

    Examples
    --------
    >>> irs_eo_url("VA")
    'https://www.irs.gov/pub/irs-soi/eo_va.csv'
    """
    usps = state_usps(state).lower()
    return f"{base_urls['irs']}/pub/irs-soi/eo_{usps}.csv"


def fcc_api_url(endpoint: str, *parts: str) -> str:
    """URL of an endpoint of the FCC's BDC public data API.

    ``listAsOfDates``; ``downloads/listAvailabilityData/{as_of_date}``;
    ``downloads/downloadFile/availability/{file_id}``. Every call needs the headers
    ``username`` (the account's e-mail) and ``hash_value`` (its API token).

    Examples
    --------
    >>> fcc_api_url("downloads/listAvailabilityData", "2023-06-30")
    'https://broadbandmap.fcc.gov/api/public/map/downloads/listAvailabilityData/2023-06-30'
    """
    tail = "/".join([endpoint.strip("/"), *(quote(str(p), safe="") for p in parts)])
    return f"{base_urls['fcc']}/api/public/map/{tail}"
