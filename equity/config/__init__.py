"""Run configuration: a TOML file (or keyword arguments), validated in one go.

A configuration names the input files (or uses bundled data), the street-grid resolution,
the index preset and weights, and the placement settings. Every value has a default, so
``equity run`` with no configuration runs offline on the bundled national county snapshot
(``equity.snapshot``, with the defaults of :data:`SNAPSHOT_DEFAULTS`); ``[run] sample = true``
(``--sample``, ``load_config(sample=True)``) runs the fictional sample region instead.

Each setting is declared once, in :data:`OPTIONS`: its TOML section and key, its default,
its validator and what it does (the ``Option`` table of geopandas' ``_config.py``). The
choices a setting takes (presets, levels, modes, ...) come from the module that owns them.
Every problem of a configuration is collected and reported in one :class:`ConfigError`.

Example ``equity.toml`` (every key optional)::

    [data]                      # omit the section to use bundled data (snapshot or sample)
    # states = "all"            # or ["VA", "MD"]: run these states one at a time from the
    #                           # fetch cache (equity.national), no file paths needed
    blockgroups = "cb_2021_51_bg_500k.zip"
    tracts = "cb_2021_51_tract_500k.zip"
    counties = "cb_2021_us_county_500k.zip"
    places = "cb_2021_51_place_500k.zip"    # optional: Census places (towns: places + balance
    cousubs = "cb_2021_51_cousub_500k.zip"  #   of each county; county subdivisions in MCD states)
    towns = "my_towns.geojson"  # optional: your own town polygons instead (+ rest of each county)
    acs = "acs2021_5yr_va_blockgroup.csv"
    ookla = "2021-01-01_performance_fixed_tiles.parquet"
    usage = "broadband_data_2020October.csv"
    business = "cbp21co.txt"
    libraries = "pls_fy21_outlet_pud21i.csv"
    anchors = ["edge_geocode_publicsch.csv", "my_partners.csv"]

    [run]
    sample = false              # true: the fictional sample region instead of the snapshot
    engine = "local"            # local | dask: street level by county and Ookla pieces on Dask
    scheduler = ""              # dask scheduler, e.g. "tcp://10.0.0.5:8786"; empty = local cluster
    workers = 2                 # processes: states at once, a street level's counties, a Dask cluster

    [grid]
    resolution = 9              # H3 resolution of the street level
    max_cells = 5000000         # unset: what memory holds (estimated first); 0: no limit
    weight = "devices"          # Ookla column spreading block-group counts onto cells
    min_households = 5          # household floor of a ranked street cell (smaller ones pooled)

    [towns]
    method = "census"           # census | regions: block groups grouped, named after places

    [index]
    preset = "techspark"        # techspark | ddi | svi
    normalisation = "percentile" # default: the preset's (percentile; min-max for ddi)
    reference = "nation"        # nation | state
    n_draws = 200
    [index.weights]             # pillar weights; missing pillars are redistributed
    access = 1.0
    devices_skills = 1.0
    affordability = 1.0
    education = 1.0
    transformation = 1.0

    [placement]
    level = "town"              # town | tract | county | blockgroup
    mode = "top"                # top | coverage | robust
    k = 1                       # fellows per state
    radius_km = 25.0
    min_households = 0
    min_spacing_km = 0.0        # minimum distance between chosen sites (coverage mode)
    states = []                 # limit to these states (FIPS or USPS); empty = all
    existing_sites = []         # GEOIDs of current program sites
    [placement.weights]
    need = 0.5
    readiness = 0.25
    reach = 0.25

    [partners]                  # partner organisations (equity.placement.organisations)
    decay = "linear"            # linear | gaussian | none: a partner's weight over distance
    listed_bonus = 1.5          # host-score factor of organisations on the planner's list
    same_place_km = 1.0         # equal names at most this far apart are one organisation
    geocode = "partners"        # off | partners | all: who goes to the Census geocoder
    zip_centroids = "2020_Gaz_zcta_national.txt"   # ZIP centres for what is not geocoded
    subsections = ["03"]        # 501(c) subsections of the IRS nonprofits kept
    [partners.weights]          # weight of one organisation of each kind in readiness
    library = 3.0
    college = 2.0
    school = 1.0
    nonprofit = 1.0
    community_center = 1.0
    [partners.columns]          # headers of the planner's list the alias table does not know
    name = "Partner (legal name)"
    [partners.ntee]             # changes to the NTEE selection of the IRS nonprofits
    P20 = "nonprofit"           # add human services
    B94 = false                 # leave parent-teacher groups out (the default)

    [maps]
    title = "Digital equity index"

    [cache]                     # Parquet caches of the input tables (see equity.cache)
    enabled = true              # false (or `equity run --no-cache`): read every input afresh
    folder = "~/.cache/equity/tables"   # default: settings.cache_folder / "tables"
"""

from equity.config.load import load_config
from equity.config.model import Config
from equity.config.options import OPTIONS, SNAPSHOT_DEFAULTS, Option
from equity.config.validators import DATA_KEYS, REQUIRED_DATA_KEYS
from equity.errors import ConfigError  # raised by load_config; importable from here as before

__all__ = [
    "DATA_KEYS",
    "OPTIONS",
    "REQUIRED_DATA_KEYS",
    "SNAPSHOT_DEFAULTS",
    "Config",
    "ConfigError",
    "Option",
    "load_config",
]
