"""Every configuration option, declared once: :data:`OPTIONS` (TOML key, default, check, doc)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from equity import settings
from equity.config.validators import (
    Validator,
    _address,
    _as_states,
    _as_texts,
    _census_geocoder,
    _data,
    _decays,
    _each_one_of,
    _engines,
    _flag,
    _folder,
    _geocode_modes,
    _kind_weights,
    _kind_weights_default,
    _levels,
    _modes,
    _normalisations,
    _ntee_changes,
    _number,
    _one_of,
    _optional_file,
    _optional_whole,
    _partner_columns,
    _pillar_weights,
    _placement_levels,
    _placement_weights,
    _presets,
    _references,
    _run_states,
    _score_weights,
    _text,
    _texts,
    _town_methods,
    _web_address,
    _whole,
)

if TYPE_CHECKING:
    pass


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
        Option(
            "workers",
            "run",
            2,
            _whole(at_least=1),
            "states run at once (local engine), processes of one region's street level and "
            "maps, or worker processes of a local Dask cluster",
        ),
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
