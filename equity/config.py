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
    workers = 2                 # worker processes of that local cluster (docs/scale.md)

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

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from equity import settings
from equity.errors import ChoiceError, ConfigError, check_choice

if TYPE_CHECKING:
    from equity.index import IndexOptions
    from equity.placement import PlacementOptions

__all__ = ["DATA_KEYS", "OPTIONS", "SNAPSHOT_DEFAULTS", "Config", "Option", "load_config"]

#: Keys of the ``[data]`` section (``anchors``, ``schools``, ``nonprofits``, ``partners`` and
#: ``ookla`` may hold several files). Boundaries: ``states`` ... ``blockgroups``, ``places`` and
#: ``cousubs`` (Census places and county subdivisions, from which towns are built), ``towns``
#: (polygons a user supplies instead), ``blocks`` (2020 tabulation blocks or block counts: the
#: street level's weights). Tables: ``acs``, ``ookla``, ``usage``, ``fcc`` (FCC BDC
#: availability), ``business``, and the partner sources ``libraries``, ``schools``,
#: ``colleges``, ``nonprofits``, ``anchors`` and ``partners`` (a planner's own list).
DATA_KEYS = (
    "states",
    "counties",
    "tracts",
    "blockgroups",
    "places",
    "cousubs",
    "towns",
    "blocks",
    "acs",
    "ookla",
    "usage",
    "fcc",
    "business",
    "libraries",
    "schools",
    "colleges",
    "nonprofits",
    "anchors",
    "partners",
)
#: Keys every ``[data]`` section must name.
REQUIRED_DATA_KEYS = ("blockgroups", "acs")

#: ``validator(name, value)``: the problems of `value` (empty when valid), each naming `name`.
Validator = Callable[[str, Any], list[str]]


# -- vocabularies, each from the module that owns it -------------------------------------------
# Imported when first checked rather than at import, so that ``import equity.config`` stays
# light (the owners import geopandas, scipy and pulp) and the owners may refer to Config.


def _levels() -> Iterable[str]:
    from equity.geographies import LEVELS

    return LEVELS


def _engines() -> Iterable[str]:
    from equity.engine import ENGINES

    return ENGINES


def _presets() -> Iterable[str]:
    from equity.index import PRESETS

    return PRESETS


def _normalisations() -> Iterable[str]:
    from equity.index import NORMALISATIONS

    return NORMALISATIONS


def _town_methods() -> Iterable[str]:
    from equity.geographies.towns import TOWN_METHODS

    return TOWN_METHODS


def _references() -> Iterable[str]:
    from equity.index import REFERENCES

    return REFERENCES


def _modes() -> Iterable[str]:
    from equity.placement import MODES

    return MODES


def _placement_levels() -> Iterable[str]:
    from equity.placement import LEVELS

    return LEVELS


def _score_weights() -> dict[str, float]:
    from equity.placement import DEFAULT_WEIGHTS

    return dict(DEFAULT_WEIGHTS)


def _decays() -> Iterable[str]:
    from equity.placement import DECAYS

    return DECAYS


def _geocode_modes() -> Iterable[str]:
    from equity.placement.organisations import GEOCODE

    return GEOCODE


def _kind_weights_default() -> dict[str, float]:
    from equity.placement import ANCHOR_WEIGHTS

    return dict(ANCHOR_WEIGHTS)


def _census_geocoder() -> str:
    from equity.sources.geocode import CENSUS_BATCH_URL

    return CENSUS_BATCH_URL


# -- validators: each returns the problems of one value ------------------------------------------


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _choice(kind: str, value: Any, valid: Iterable[str], *, where: str | None) -> list[str]:
    """:func:`equity.errors.check_choice` as a problem to collect instead of an exception."""
    try:
        check_choice(kind, value, valid, where=where)
    except ChoiceError as exc:
        return [str(exc)]
    return []


def _whole(*, at_least: int | None = None, at_most: int | None = None) -> Validator:
    """A whole number (not a bool), at least `at_least` and at most `at_most`."""

    def check(name: str, value: Any) -> list[str]:
        if not _is_number(value) or not isinstance(value, int):
            return [f"{name} = {value!r} must be a whole number"]
        if at_least is not None and at_most is not None and not at_least <= value <= at_most:
            return [f"{name} = {value} is outside {at_least}-{at_most}"]
        if at_least is not None and value < at_least:
            return [f"{name} = {value} must be >= {at_least}"]
        return []

    return check


def _number(*, at_least: float | None = None, above: float | None = None) -> Validator:
    """A number (int or float, not a bool), at least `at_least` or above `above`."""

    def check(name: str, value: Any) -> list[str]:
        if not _is_number(value):
            return [f"{name} = {value!r} must be a number"]
        if above is not None and not value > above:  # NaN fails too
            return [f"{name} = {value} must be > {above}"]
        if at_least is not None and not value >= at_least:
            return [f"{name} = {value} must be >= {at_least}"]
        return []

    return check


def _one_of(
    kind: str, vocabulary: Callable[[], Iterable[str]], *, optional: bool = False
) -> Validator:
    """One of the names `vocabulary()` returns (or None when `optional`)."""

    def check(name: str, value: Any) -> list[str]:
        if value is None and optional:
            return []
        return _choice(kind, value, vocabulary(), where=name)

    return check


def _each_one_of(kind: str, vocabulary: Callable[[], Iterable[str]]) -> Validator:
    """A list whose every item is one of the names `vocabulary()` returns."""

    def check(name: str, value: Any) -> list[str]:
        if not isinstance(value, tuple | list):
            return [f"{name} = {value!r} must be a list"]
        valid = list(vocabulary())
        return [p for item in value for p in _choice(kind, item, valid, where=name)]

    return check


def _optional_whole(name: str, value: Any) -> list[str]:
    return [] if value is None else _whole(at_least=0)(name, value)


def _text(name: str, value: Any) -> list[str]:
    return [] if isinstance(value, str) else [f"{name} = {value!r} must be text"]


def _texts(name: str, value: Any) -> list[str]:
    if isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
        return []
    return [f"{name} = {value!r} must be a list of text"]


def _flag(name: str, value: Any) -> list[str]:
    return [] if isinstance(value, bool) else [f"{name} = {value!r} must be true or false"]


def _address(name: str, value: Any) -> list[str]:
    if value is None or isinstance(value, str):
        return []
    return [f"{name} = {value!r} must be text (e.g. 'tcp://host:8786')"]


def _folder(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [f"{name} = {value!r} must be text (a folder path)"]
    path = Path(value).expanduser()
    if path.exists() and not path.is_dir():
        return [f"{name} = {value!r} is a file, not a folder"]
    return []


def _weight(name: str, value: Any) -> list[str]:
    if _is_number(value) and value >= 0:
        return []
    return [f"{name} = {value!r} must be a number >= 0"]


def _pillar_weights(name: str, value: Any) -> list[str]:
    """Weights of pillars or single indicators (owner of both: ``equity.indicators``)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{name} = {value!r} must be a table of weights"]
    from equity.indicators import PILLARS, REGISTRY

    problems = []
    for key, w in value.items():
        if key not in PILLARS and key not in REGISTRY:
            problems.append(
                f"{name} key {key!r} is neither a pillar ({', '.join(PILLARS)}) "
                "nor a registered indicator"
            )
        problems += _weight(f"{name}.{key}", w)
    if sum(float(w) for w in value.values() if _is_number(w)) <= 0:
        problems.append(f"{name} must not all be zero")
    return problems


def _placement_weights(name: str, value: Any) -> list[str]:
    """Weights of the placement scores (need, readiness, reach: ``equity.placement``)."""
    if not isinstance(value, dict):
        return [f"{name} = {value!r} must be a table of weights"]
    scores = list(_score_weights())
    problems = []
    for key, w in value.items():
        problems += _choice("score", key, scores, where=name)
        problems += _weight(f"{name}.{key}", w)
    return problems


def _kind_weights(name: str, value: Any) -> list[str]:
    """Weights of partner kinds (any kind name: ``library``, ``workforce_center`` ...)."""
    if not isinstance(value, dict):
        return [f"{name} = {value!r} must be a table of weights"]
    return [p for key, w in value.items() for p in _weight(f"{name}.{key}", w)]


def _partner_columns(name: str, value: Any) -> list[str]:
    """``field = "header"`` for the planner's list (fields: ``equity.sources.partners``)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{name} = {value!r} must be a table of field = header"]
    from equity.sources.partners import FIELDS

    problems = [p for key in value for p in _choice("field", key, FIELDS, where=name)]
    return problems + [
        f"{name}.{k} = {v!r} must be text (a column header)"
        for k, v in value.items()
        if not isinstance(v, str)
    ]


def _ntee_changes(name: str, value: Any) -> list[str]:
    """NTEE prefixes to add (``= "kind"``) or leave out (``= false``)."""
    if value is None:
        return []
    if not isinstance(value, dict):
        return [f"{name} = {value!r} must be a table of NTEE prefix = kind or false"]
    from equity.sources.nonprofits import ntee_rules

    try:
        ntee_rules(value)
    except ConfigError as exc:
        return [f"{name}: {exc}"]
    return []


def _web_address(name: str, value: Any) -> list[str]:
    if isinstance(value, str) and value.startswith(("http://", "https://")):
        return []
    return [f"{name} = {value!r} must be an http(s) URL"]


def _optional_file(name: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, str):
        return [f"{name} = {value!r} must be text (a file path)"]
    return [] if Path(value).expanduser().is_file() else [f"{name}: file not found: {value}"]


def _data(name: str, value: Any) -> list[str]:
    """Known keys, the required ones present, every file there."""
    if not isinstance(value, dict):
        return [f"[{name}] must be a table"]
    problems = [p for key in value for p in _choice("key", key, DATA_KEYS, where=name)]
    for key, paths in value.items():
        for p in paths if isinstance(paths, list) else [paths]:
            if not Path(p).exists():
                problems.append(f"{name}.{key}: file not found: {p}")
    return problems


def _run_states(name: str, value: Any) -> list[str]:
    """``[data] states`` as a selection: "all" or state codes (``equity.national``)."""
    from equity.national.selection import state_problems

    return state_problems(name, value)


def _as_states(value: Any) -> Any:
    """A selection as USPS codes when it reads (left as given for the validator otherwise)."""
    from equity.national.selection import normalise_selection

    return normalise_selection(value)


def _as_texts(value: Any) -> Any:
    """A TOML list as a tuple of text (other values are left for the validator to report)."""
    return tuple(str(x) for x in value) if isinstance(value, list | tuple) else value


# -- the options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Option:
    """One setting of the run configuration, declared once with its check.

    Parameters
    ----------
    key
        Key within its TOML section (empty for ``[data]``, a table of any of :data:`DATA_KEYS`).
    section
        TOML section (``run``, ``grid``, ``index``, ``placement``, ``maps``, ``cache``, ``data``).
    default
        Value when neither the file nor an override sets it (see `factory`).
    validator
        ``validator(name, value)`` returns the problems of `value`, empty when it is valid.
    doc
        What the setting does.
    attr
        Attribute of :class:`Config` holding the value; default `key`.
    factory
        Builds the default instead of `default` (a fresh table, or one another module owns).
    coerce
        Applied to the value before it is checked (TOML lists become tuples).
    path
        The value is a path: relative to the TOML file when given there.

    Examples
    --------
    >>> OPTIONS["k"].name, OPTIONS["k"].default
    ('placement.k', 1)
    >>> OPTIONS["k"].check(0)
    ['placement.k = 0 must be >= 1']
    """

    key: str
    section: str
    default: Any
    validator: Validator
    doc: str
    attr: str = ""
    factory: Callable[[], Any] | None = None
    coerce: Callable[[Any], Any] | None = None
    path: bool = False

    def __post_init__(self) -> None:
        if not self.attr:
            object.__setattr__(self, "attr", self.key)

    @property
    def name(self) -> str:
        """The name problems are reported under (``placement.k``; ``data``)."""
        return f"{self.section}.{self.key}" if self.key else self.section

    def check(self, value: Any) -> list[str]:
        """The problems of `value` for this option (empty when it is valid)."""
        return self.validator(self.name, value)


_STREET_TO_COUNTY = ("street", "blockgroup", "tract", "town", "county")
#: Levels the national county snapshot has.
_SNAPSHOT_LEVELS = ("county", "state")

#: Defaults of a run on the bundled national county snapshot (no ``[data]``, no ``sample``),
#: where they differ from the options' own: it has county data only, and a fellow is not
#: placed in a county of fewer than 1,000 households (the smallest counties' ACS estimates
#: are the least reliable, and their per-person readiness is inflated by a single library).
SNAPSHOT_DEFAULTS: dict[str, Any] = {
    "levels": ("county",),
    "placement_level": "county",
    "min_households": 1000,
    "title": "Digital equity index, US counties",
}

#: Every option, by :class:`Config` attribute, in the order of the TOML sections.
OPTIONS: dict[str, Option] = {
    o.attr: o
    for o in (
        Option(
            "",
            "data",
            None,
            _data,
            "input files; empty: the bundled national county snapshot (or the sample with [run] sample)",
            attr="data",
            factory=dict,
        ),
        Option(
            "states",
            "data",
            (),
            _run_states,
            "states to run one at a time from the fetch cache: 'all' or codes ('VA,MD'); "
            "a path instead is the state boundary file",
            attr="run_states",
            coerce=_as_states,
        ),
        Option(
            "sample",
            "run",
            False,
            _flag,
            "run the fictional sample region (street level included) instead of the bundled "
            "national county snapshot; only without [data] files",
        ),
        Option(
            "levels",
            "run",
            _STREET_TO_COUNTY,
            _each_one_of("level", _levels),
            "levels to build",
            coerce=_as_texts,
        ),
        Option("seed", "run", settings.seed, _whole(at_least=0), "seed of every random step"),
        Option(
            "engine",
            "run",
            "local",
            _one_of("engine", _engines),
            "where the street level's county parts and the Ookla pieces run",
        ),
        Option(
            "scheduler", "run", None, _address, "Dask scheduler address; empty: a local cluster"
        ),
        Option("workers", "run", 2, _whole(at_least=1), "worker processes of a local Dask cluster"),
        Option(
            "resolution",
            "grid",
            settings.h3_resolution,
            _whole(at_least=0, at_most=15),
            "H3 resolution of the street level",
            attr="grid_resolution",
        ),
        Option(
            "max_cells",
            "grid",
            None,
            _optional_whole,
            "most street cells to build (estimated from the area before building); default: "
            "what the available memory holds; 0: no limit (--force-size)",
            attr="grid_max_cells",
        ),
        Option(
            "weight",
            "grid",
            "devices",
            _text,
            "Ookla column spreading block-group counts onto cells",
            attr="grid_weight",
        ),
        Option(
            "method",
            "towns",
            "census",
            _one_of("town method", _town_methods),
            "census: places and county subdivisions (or [data] towns) with the rest of each "
            "county; regions: block groups grouped into towns named after their largest place",
            attr="town_method",
        ),
        Option(
            "min_households",
            "grid",
            5.0,
            _number(at_least=0),
            "household floor of a ranked street cell; cells below it are pooled",
            attr="grid_min_households",
        ),
        Option("preset", "index", "techspark", _one_of("preset", _presets), "index definition"),
        Option(
            "normalisation",
            "index",
            None,
            _one_of("normalisation", _normalisations, optional=True),
            "default: the preset's",
        ),
        Option(
            "reference",
            "index",
            "nation",
            _one_of("reference", _references),
            "reference region of the normalisation",
        ),
        Option("n_draws", "index", settings.n_draws, _whole(at_least=0), "Monte Carlo draws"),
        Option(
            "weights",
            "index",
            None,
            _pillar_weights,
            "pillar (or indicator) weights",
            attr="pillar_weights",
        ),
        Option(
            "min_indicators_per_pillar",
            "index",
            1,
            _whole(at_least=1),
            "indicators a pillar needs to count",
        ),
        Option(
            "level",
            "placement",
            "town",
            _one_of("placement level", _placement_levels),
            "level of the candidates",
            attr="placement_level",
        ),
        Option("mode", "placement", "top", _one_of("mode", _modes), "top | coverage | robust"),
        Option("k", "placement", 1, _whole(at_least=1), "fellows per state"),
        Option(
            "radius_km",
            "placement",
            settings.radius_km,
            _number(above=0),
            "service radius of a fellow",
        ),
        Option(
            "weights",
            "placement",
            None,
            _placement_weights,
            "weights of need, readiness and reach; default equity.placement.DEFAULT_WEIGHTS",
            attr="score_weights",
            factory=_score_weights,
        ),
        Option("min_households", "placement", 0, _number(at_least=0), "smallest candidate"),
        Option(
            "min_spacing_km",
            "placement",
            0.0,
            _number(at_least=0),
            "minimum distance between chosen sites",
        ),
        Option(
            "states", "placement", (), _texts, "limit to these states; empty: all", coerce=_as_texts
        ),
        Option(
            "existing_sites",
            "placement",
            (),
            _texts,
            "GEOIDs of current program sites",
            coerce=_as_texts,
        ),
        Option(
            "weights",
            "partners",
            None,
            _kind_weights,
            "weight of one partner of each kind in readiness; default "
            "equity.placement.ANCHOR_WEIGHTS (other kinds 1)",
            attr="partner_weights",
            factory=_kind_weights_default,
        ),
        Option(
            "decay",
            "partners",
            "linear",
            _one_of("distance decay", _decays),
            "how a partner's weight falls with distance: linear 1 - d/R, gaussian "
            "exp(-2 (d/R)^2), none",
            attr="partner_decay",
        ),
        Option(
            "listed_bonus",
            "partners",
            1.5,
            _number(at_least=0),
            "host-score factor of the organisations on the planner's list",
        ),
        Option(
            "same_place_km",
            "partners",
            1.0,
            _number(at_least=0),
            "equal names at most this far apart are one organisation",
        ),
        Option(
            "geocode",
            "partners",
            "partners",
            _one_of("geocode", _geocode_modes),
            "organisations without coordinates sent to the Census geocoder: off | partners "
            "(the planner's list) | all (also the IRS nonprofits)",
        ),
        Option(
            "geocoder_url",
            "partners",
            None,
            _web_address,
            "the Census batch geocoder (or a mirror)",
            factory=_census_geocoder,
        ),
        Option(
            "benchmark",
            "partners",
            "Public_AR_Current",
            _text,
            "the geocoder's address benchmark",
            attr="geocoder_benchmark",
        ),
        Option(
            "zip_centroids",
            "partners",
            None,
            _optional_file,
            "ZIP (ZCTA) centre points for organisations the geocoder does not place",
            path=True,
        ),
        Option(
            "columns",
            "partners",
            None,
            _partner_columns,
            "headers of the planner's list: field = header",
            attr="partner_columns",
        ),
        Option(
            "ntee",
            "partners",
            None,
            _ntee_changes,
            "changes to the NTEE selection of the IRS nonprofits: prefix = kind or false",
            attr="partner_ntee",
        ),
        Option(
            "subsections",
            "partners",
            ("03",),
            _texts,
            "501(c) subsections of the IRS nonprofits kept",
            attr="nonprofit_subsections",
            coerce=_as_texts,
        ),
        Option("title", "maps", "Digital equity index", _text, "title of the maps"),
        Option("enabled", "cache", True, _flag, "read and write the table cache", attr="cache"),
        Option(
            "folder",
            "cache",
            None,
            _folder,
            "table cache folder; default settings.cache_folder / 'tables'",
            attr="cache_folder",
            path=True,
        ),
    )
}


def _by_section() -> dict[str, dict[str, Option]]:
    sections: dict[str, dict[str, Option]] = {}
    for option in OPTIONS.values():
        if option.key and option.section != "data":  # [data] is read as one table
            sections.setdefault(option.section, {})[option.key] = option
    return sections


#: TOML section -> key -> option.
_SECTIONS = _by_section()


def _default(attr: str) -> Any:
    """The default of :class:`Config` field `attr`, from its option."""
    option = OPTIONS[attr]
    if option.factory is not None:
        return field(default_factory=option.factory)
    return option.default


@dataclass(frozen=True)
class Config:
    """A validated run configuration; see the module docstring for the TOML form.

    Each attribute is an option of :data:`OPTIONS` (its TOML name, default, check and
    meaning); ``source`` is the file it was read from. ``data`` maps the keys of
    :data:`DATA_KEYS` to paths (``anchors`` may hold several); an empty ``data`` means bundled
    data: the national county snapshot, or the sample region when ``sample`` is set.
    """

    data: dict[str, Any] = _default("data")
    run_states: tuple[str, ...] = _default("run_states")
    sample: bool = _default("sample")
    levels: tuple[str, ...] = _default("levels")
    seed: int = _default("seed")
    engine: str = _default("engine")
    scheduler: str | None = _default("scheduler")
    workers: int = _default("workers")
    grid_resolution: int = _default("grid_resolution")
    grid_max_cells: int | None = _default("grid_max_cells")
    grid_weight: str = _default("grid_weight")
    town_method: str = _default("town_method")
    grid_min_households: float = _default("grid_min_households")
    preset: str = _default("preset")
    normalisation: str | None = _default("normalisation")
    reference: str = _default("reference")
    n_draws: int = _default("n_draws")
    pillar_weights: dict[str, float] | None = _default("pillar_weights")
    min_indicators_per_pillar: int = _default("min_indicators_per_pillar")
    placement_level: str = _default("placement_level")
    mode: str = _default("mode")
    k: int = _default("k")
    radius_km: float = _default("radius_km")
    score_weights: dict[str, float] = _default("score_weights")
    min_households: int = _default("min_households")
    min_spacing_km: float = _default("min_spacing_km")
    states: tuple[str, ...] = _default("states")
    existing_sites: tuple[str, ...] = _default("existing_sites")
    partner_weights: dict[str, float] = _default("partner_weights")
    partner_decay: str = _default("partner_decay")
    listed_bonus: float = _default("listed_bonus")
    same_place_km: float = _default("same_place_km")
    geocode: str = _default("geocode")
    geocoder_url: str = _default("geocoder_url")
    geocoder_benchmark: str = _default("geocoder_benchmark")
    zip_centroids: str | None = _default("zip_centroids")
    partner_columns: dict[str, str] | None = _default("partner_columns")
    partner_ntee: dict[str, Any] | None = _default("partner_ntee")
    nonprofit_subsections: tuple[str, ...] = _default("nonprofit_subsections")
    title: str = _default("title")
    cache: bool = _default("cache")
    cache_folder: str | None = _default("cache_folder")
    source: str | None = None

    def index_options(self, **changes: Any) -> IndexOptions:
        """The index model options of this run, as :class:`equity.index.IndexOptions`.

        The one place a configuration becomes the index's parameter object; `changes`
        override fields (e.g. ``n_draws`` for the robust-placement draws).
        """
        from equity.index import IndexOptions

        fields: dict[str, Any] = {
            "preset": self.preset,
            "weights": self.pillar_weights,
            "normalisation": self.normalisation,
            "reference": self.reference,
            "n_draws": self.n_draws,
            "seed": self.seed,
            "top_k": self.k,
            "min_indicators_per_pillar": self.min_indicators_per_pillar,
        }
        return IndexOptions(**{**fields, **changes})

    def placement_options(self, **changes: Any) -> PlacementOptions:
        """The placement options of this run, as :class:`equity.placement.PlacementOptions`."""
        from equity.placement import PlacementOptions

        fields: dict[str, Any] = {
            "level": self.placement_level,
            "mode": self.mode,
            "k": self.k,
            "radius_km": self.radius_km,
            "weights": self.score_weights,
            "min_households": self.min_households,
            "min_spacing_km": self.min_spacing_km,
            "states": tuple(self.states) or None,  # empty means every state
            "existing_sites": tuple(self.existing_sites) or None,
            "seed": self.seed,
            "anchor_weights": dict(self.partner_weights),
            "decay": self.partner_decay,
            "listed_bonus": self.listed_bonus,
        }
        return PlacementOptions(**{**fields, **changes})

    @property
    def uses_sample(self) -> bool:
        """True when the fictional sample region is used (``sample`` set, no input files)."""
        return not self.data and not self.run_states and self.sample

    @property
    def uses_snapshot(self) -> bool:
        """True when the bundled national county snapshot is used (no input files, no
        ``sample``, no state selection): ``equity run`` with no arguments."""
        return not self.data and not self.run_states and not self.sample

    def replace(self, **changes: Any) -> Config:
        """Return a validated copy with `changes` applied (e.g. CLI overrides)."""
        new = dataclasses.replace(self, **changes)
        _validate(new)
        return new

    def as_dict(self) -> dict[str, Any]:
        """The configuration as plain values (for METHODS.md and logs)."""
        out = dataclasses.asdict(self)
        out["data"] = {
            k: (str(v) if not isinstance(v, list) else [str(x) for x in v])
            for k, v in self.data.items()
        }
        return out


# -- checks across options ---------------------------------------------------------------------


def _scheduler_needs_dask(cfg: Config) -> list[str]:
    if cfg.scheduler and cfg.engine != "dask":
        return [f"run.scheduler = {cfg.scheduler!r} needs run.engine = 'dask'"]
    return []


def _required_data(cfg: Config) -> list[str]:
    """Input files need block groups and ACS; a state selection takes them from the fetch cache."""
    if not isinstance(cfg.data, dict) or not cfg.data or cfg.run_states:
        return []
    missing = [k for k in REQUIRED_DATA_KEYS if k not in cfg.data]
    if missing:
        return [f"data: {', '.join(missing)} required when input files are given"]
    return []


def _bundled_data(cfg: Config) -> list[str]:
    """Input files, the sample and a state selection exclude each other; the snapshot has
    counties only."""
    if cfg.sample and cfg.run_states:
        return ["run.sample = true and data.states (a state selection): choose one"]
    if cfg.sample and cfg.data:
        return ["run.sample = true and [data] input files: choose one"]
    finer = [lv for lv in cfg.levels if lv not in _SNAPSHOT_LEVELS] if cfg.uses_snapshot else []
    if finer:
        return [
            f"run.levels {list(cfg.levels)}: the bundled national snapshot has county data only "
            f"(no {', '.join(finer)}); use the sample region (--sample) or [data] files"
        ]
    return []


def _placement_level_is_built(cfg: Config) -> list[str]:
    if cfg.placement_level not in cfg.levels:
        return [
            f"placement.level = {cfg.placement_level!r} is not among run.levels {list(cfg.levels)}"
        ]
    return []


#: Checks of several options together, each run when those options are valid on their own.
_ACROSS: tuple[tuple[Callable[[Config], list[str]], tuple[str, ...]], ...] = (
    (_scheduler_needs_dask, ("scheduler", "engine")),
    (_placement_level_is_built, ("placement_level", "levels")),
    # reported with the [data] section's own problems (a missing file), as one list
    (_required_data, ("run_states",)),
    (_bundled_data, ("sample", "data", "levels", "run_states")),
)


def _validate(cfg: Config, earlier: list[str] | None = None) -> None:
    """Check every option, then the options together; raise once listing every problem."""
    problems: list[str] = list(earlier or [])
    invalid = set()
    for attr, option in OPTIONS.items():
        found = option.check(getattr(cfg, attr))
        if found:
            invalid.add(attr)
            problems += found
    for check, attrs in _ACROSS:
        if not invalid.intersection(attrs):
            problems += check(cfg)
    if problems:
        raise ConfigError(_join(cfg.source, problems))


def _join(source: str | None, problems: list[str]) -> str:
    where = f"{source}: " if source else ""
    if len(problems) == 1:
        return where + problems[0]
    return where + f"{len(problems)} problems: " + "; ".join(problems)


# -- reading ---------------------------------------------------------------------------------------


def _parse(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = f"configuration file not found: {path}"
        raise ConfigError(msg) from None
    except IsADirectoryError:
        msg = f"{path}: a folder, not a configuration file (give the TOML file in it)"
        raise ConfigError(msg) from None
    except OSError as exc:
        msg = f"{path}: cannot read the configuration file: {exc.strerror or exc}"
        raise ConfigError(msg) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        msg = f"{path}: not valid TOML: {exc}"
        raise ConfigError(msg) from None


def _relative_to(base: Path, value: Any) -> str:
    """`value` as a path, resolved against `base` unless absolute (after expanding ``~``)."""
    path = Path(str(value)).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())


def _data_paths(table: dict[str, Any], base: Path) -> dict[str, Any]:
    """The ``[data]`` table with relative paths resolved against `base` (no ``~`` expansion)."""
    data: dict[str, Any] = {}
    for key, value in table.items():
        items = value if isinstance(value, list) else [value]
        resolved = [
            str(v) if Path(str(v)).is_absolute() else str((base / str(v)).resolve()) for v in items
        ]
        data[key] = resolved if isinstance(value, list) else resolved[0]
    return data


def _is_selection(value: Any) -> bool:
    """``[data] states`` names states ("all", "VA,MD", [...]) rather than a boundary file."""
    if value is None:
        return False
    from equity.national.selection import looks_like_selection

    return looks_like_selection(value)


def _read_toml(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Config field values from a TOML file, and the unknown sections and keys found."""
    raw = _parse(path)
    values: dict[str, Any] = {}
    problems: list[str] = []
    sections = ["data", *_SECTIONS]
    for section, table in raw.items():
        found = _choice("section", section, sections, where=None)
        if found or not isinstance(table, dict):
            problems += found or [f"[{section}] must be a table"]
        elif section == "data":
            table = dict(table)
            if _is_selection(table.get("states")):
                values["run_states"] = table.pop("states")
            values["data"] = _data_paths(table, path.parent)
        else:
            for key, value in table.items():
                option = _SECTIONS[section].get(key)
                if option is None:
                    problems += _choice("key", key, _SECTIONS[section], where=f"[{section}]")
                elif option.path and isinstance(value, str):
                    values[option.attr] = _relative_to(path.parent, value)
                else:
                    values[option.attr] = value
    return values, problems


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read and validate a TOML run configuration.

    Parameters
    ----------
    path
        TOML file; ``None`` gives the defaults (the bundled national county snapshot).
    **overrides
        Field values of :class:`Config` that replace the file's (e.g. from the CLI);
        ``sample=True`` runs the fictional sample region.

    Returns
    -------
    Config
        The validated configuration. Relative data paths are resolved against the TOML
        file's folder. Without ``[data]`` files and ``sample``, the options of
        :data:`SNAPSHOT_DEFAULTS` not set take the snapshot's defaults.

    Raises
    ------
    ConfigError
        Listing every problem found (unknown keys, bad values, missing files).

    Examples
    --------
    >>> load_config().uses_snapshot, load_config().placement_level
    (True, 'county')
    >>> load_config(sample=True).uses_sample, load_config(sample=True).placement_level
    (True, 'town')
    >>> load_config(k=2).k
    2
    """
    source = None if path is None else str(path)
    values, problems = ({}, []) if path is None else _read_toml(Path(path))
    values.update({k: v for k, v in overrides.items() if v is not None})
    if not values.get("data") and not values.get("sample") and not values.get("run_states"):
        values = {**SNAPSHOT_DEFAULTS, **values}
    for attr, value in values.items():
        option = OPTIONS.get(attr)
        if option is not None and option.coerce is not None:
            values[attr] = option.coerce(value)
    try:
        cfg = Config(source=source, **values)
    except TypeError as exc:
        raise ConfigError(_join(source, [*problems, str(exc)])) from None
    _validate(cfg, problems)
    return cfg
