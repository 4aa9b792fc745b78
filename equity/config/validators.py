"""Checks of single configuration values, and the vocabularies they check against."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from equity.errors import ChoiceError, ConfigError, check_choice

if TYPE_CHECKING:
    pass

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
