"""Download the public inputs of the index: one file, one state, or all 50 states and DC.

``equity fetch --states all`` (:func:`fetch_states`) downloads, for each state, every input the
index reads, checks each download before caching it, writes the state's files under
``<cache_folder>/states/<USPS>/`` and a manifest the state-by-state runner reads
(:func:`state_manifest`, :func:`manifest_path`; layout in :mod:`.manifest`).

Publishers, URLs and layouts (URL builders in :mod:`equity.sources.urls`, hosts in
:data:`equity.sources._http.base_urls`):

- **ACS 5-year** (Census Data API, ``api.census.gov/data/{year}/acs/acs5``): JSON tables, a
  header row then one row per place, values as text, geography columns last (``state``,
  ``county``, ``tract``, ``block group``). Every variable behind
  :data:`equity.indicators.ACS_COUNTS` is requested with its MOE, 49 names a request; block
  groups for all tables but disability (B18101), which is published for tracts only. An API key
  (``CENSUS_API_KEY`` or ``EQUITY_CENSUS_KEY``) is optional and never stored or shown. Written
  as ``acs_{year}_{fips}_blockgroup.csv`` and ``acs_{year}_{fips}_tract.csv`` (``GEOID``,
  ``NAME``, ``<VAR>E``, ``<VAR>M``).
- **Cartographic boundaries** (``www2.census.gov/geo/tiger/GENZ{year}/shp/``): zipped
  shapefiles ``cb_{year}_{fips}_{bg|tract|place|cousub}_500k.zip`` per state and
  ``cb_{year}_us_{state|county}_500k.zip`` nationally (split per state). Fields ``STATEFP``,
  ``GEOID``, ``NAME``, ``NAMELSAD``, ``LSAD``, ``ALAND``, ``AWATER``; NAD83 (EPSG:4269).
- **TIGER/Line 2020 tabulation blocks** (``.../TIGER2020/TABBLOCK20/tl_2020_{fips}_tabblock20.zip``):
  ``GEOID20`` (15 digits), ``HOUSING20`` and ``POP20`` (the street level's weights).
- **Microsoft broadband usage** (GitHub ``microsoft/USBroadbandUsagePercentages``, pinned
  commit): ``broadband_data_2020October.csv`` with ``ST``, ``COUNTY ID``, ``COUNTY NAME``,
  availability and usage (space-padded headers), split per state by ``ST``. O-UDA v1.0.
- **Ookla open data** (``ookla-open-data.s3.amazonaws.com/parquet/performance/type=fixed/
  year={y}/quarter={q}/{y}-{mm}-01_performance_fixed_tiles.parquet``): one worldwide file per
  quarter, ``quadkey`` (zoom 16), ``tile`` (WKT), ``avg_d_kbps``, ``avg_u_kbps``,
  ``avg_lat_ms``, ``tests``, ``devices``; downloaded once, clipped to each state's polygon
  (:mod:`.clip`). CC BY-NC-SA 4.0.
- **FCC BDC availability** (``broadbandmap.fcc.gov/api/public/map``): zipped CSVs per state
  and technology; needs ``FCC_USERNAME`` and ``FCC_API_TOKEN`` (:mod:`.fcc`).
- **County Business Patterns** (``www2.census.gov/programs-surveys/cbp/datasets/{year}/
  cbp{yy}co.zip``): ``cbp{yy}co.txt`` with ``fipstate``, ``fipscty``, ``naics``, ``est``,
  ``emp``, size classes; split by ``fipstate``.
- **IMLS Public Libraries Survey** (``www.imls.gov/sites/default/files/{release}/
  pls_fy{year}_csv.zip``): the outlet file ``pls_fy{yy}_outlet_pud{yy}i.csv`` (Windows-1252)
  with ``STABR``, ``FSCSKEY``, ``LIBNAME``, ``LONGITUD``, ``LATITUDE``; split by ``STABR``.
- **NCES EDGE public-school geocodes** (``nces.ed.gov/programs/edge/data/
  EDGE_GEOCODE_PUBLICSCH_{yy}{yy+1}.zip``): ``NCESSCH``, ``NAME``, ``STATE``, ``LAT``,
  ``LON`` as text, a workbook or a shapefile (:mod:`.schools`); split by ``STATE``.
- **IPEDS institutional directory** (``nces.ed.gov/ipeds/datacenter/data/HD{year}.zip``):
  ``hd{year}.csv`` (or the revised ``hd{year}_rv.csv``) with ``UNITID``, ``INSTNM``,
  ``STABBR``, ``LATITUDE``, ``LONGITUD``; split by ``STABBR``.
- **IRS exempt organizations** (``www.irs.gov/pub/irs-soi/eo_{st}.csv``): one CSV per state
  with ``EIN`` (9 digits, text), ``NAME``, ``STATE``, ``ZIP``, ``NTEE_CD``; as published.

Single files: :func:`fetch_acs`, :func:`fetch_boundaries`, :func:`fetch_ookla`,
:func:`fetch_broadband_usage`, :func:`fetch_business_patterns` and :func:`fetch_state` (the
core files of one state) download into the cache folder's top level, as before.
Nothing here prints unless a :class:`~.progress.Progress` is passed; every download logs one
line on the ``equity.sources`` logger.
"""

from __future__ import annotations

from equity.sources._http import ContentError
from equity.sources._zips import ZipLimits
from equity.sources.fetch.catalog import SOURCES, source_names
from equity.sources.fetch.clear import clear_source
from equity.sources.fetch.files import (
    ACS_BLOCKGROUP_VARIABLES,
    ACS_TRACT_VARIABLES,
    MICROSOFT_USAGE_COMMIT,
    TRACT_ONLY_TABLES,
    acs_json_to_csv,
    acs_registry_variables,
    boundaries_url,
    broadband_usage_url,
    business_patterns_url,
    census_api_key,
    census_api_url,
    fetch_acs,
    fetch_boundaries,
    fetch_broadband_usage,
    fetch_business_patterns,
    fetch_ookla,
    fetch_state,
    merge_census_tables,
    ookla_url,
    write_acs_csv,
)
from equity.sources.fetch.manifest import FETCH_KEYS, manifest_path, resolve_paths, state_manifest
from equity.sources.fetch.progress import Progress
from equity.sources.fetch.runner import (
    DEFAULT_YEAR,
    FetchReport,
    fetch_states,
    parse_states,
)

__all__ = [
    "ACS_BLOCKGROUP_VARIABLES",
    "ACS_TRACT_VARIABLES",
    "DEFAULT_YEAR",
    "FETCH_KEYS",
    "MICROSOFT_USAGE_COMMIT",
    "SOURCES",
    "TRACT_ONLY_TABLES",
    "ContentError",
    "FetchReport",
    "Progress",
    "ZipLimits",
    "acs_json_to_csv",
    "acs_registry_variables",
    "boundaries_url",
    "broadband_usage_url",
    "business_patterns_url",
    "census_api_key",
    "census_api_url",
    "clear_source",
    "fetch_acs",
    "fetch_boundaries",
    "fetch_broadband_usage",
    "fetch_business_patterns",
    "fetch_ookla",
    "fetch_state",
    "fetch_states",
    "manifest_path",
    "merge_census_tables",
    "ookla_url",
    "parse_states",
    "resolve_paths",
    "source_names",
    "state_manifest",
    "write_acs_csv",
]
