"""Run configuration: a TOML file (or keyword arguments), validated in one go.

A configuration names the input files (or uses the bundled sample), the street-grid
resolution, the index preset and weights, and the placement settings. Every value has a
default, so ``equity run`` with no configuration runs the bundled sample offline.

Example ``equity.toml`` (every key optional)::

    [data]                      # omit the section to use the bundled sample region
    blockgroups = "cb_2021_51_bg_500k.zip"
    tracts = "cb_2021_51_tract_500k.zip"
    counties = "cb_2021_us_county_500k.zip"
    towns = "cb_2021_51_cousub_500k.zip"    # optional: towns are built when absent
    acs = "acs2021_5yr_va_blockgroup.csv"
    ookla = "2021-01-01_performance_fixed_tiles.parquet"
    usage = "broadband_data_2020October.csv"
    business = "cbp21co.txt"
    libraries = "pls_fy21_outlet_pud21i.csv"
    anchors = ["edge_geocode_publicsch.csv", "my_partners.csv"]

    [run]
    engine = "local"            # local | dask: street grid and Ookla pieces on a Dask cluster
    scheduler = ""              # dask scheduler, e.g. "tcp://10.0.0.5:8786"; empty = local cluster
    workers = 2                 # worker processes of that local cluster (docs/scale.md)

    [grid]
    resolution = 9              # H3 resolution of the street level
    weight = "devices"          # Ookla column spreading block-group counts onto cells

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

    [maps]
    title = "Digital equity index"

    [cache]                     # Parquet caches of the input tables (see equity.cache)
    enabled = true              # false (or `equity run --no-cache`): read every input afresh
    folder = "~/.cache/equity/tables"   # default: settings.cache_folder / "tables"
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from equity import settings
from equity.errors import ConfigError

__all__ = ["DATA_KEYS", "Config", "load_config"]

DATA_KEYS = (
    "states",
    "counties",
    "tracts",
    "blockgroups",
    "towns",
    "acs",
    "ookla",
    "usage",
    "business",
    "libraries",
    "schools",
    "anchors",
)
REQUIRED_DATA_KEYS = ("blockgroups", "acs")
PRESETS = ("techspark", "ddi", "svi")
NORMALISATIONS = ("percentile", "zscore", "minmax", "rank")
REFERENCES = ("nation", "state")
ENGINES = ("local", "dask")
LEVELS = ("street", "blockgroup", "tract", "town", "county", "state")
PLACEMENT_LEVELS = ("town", "tract", "county", "blockgroup")
MODES = ("top", "coverage", "robust")
SCORES = ("need", "readiness", "reach")


@dataclass(frozen=True)
class Config:
    """A validated run configuration; see the module docstring for the TOML form.

    ``data`` maps the keys of :data:`DATA_KEYS` to paths (``anchors`` may hold several);
    an empty ``data`` means the bundled sample region.
    """

    data: dict[str, Any] = field(default_factory=dict)
    levels: tuple[str, ...] = ("street", "blockgroup", "tract", "town", "county")
    seed: int = settings.seed
    engine: str = "local"
    scheduler: str | None = None
    workers: int = 2
    grid_resolution: int = settings.h3_resolution
    grid_weight: str = "devices"
    preset: str = "techspark"
    normalisation: str | None = None
    reference: str = "nation"
    n_draws: int = settings.n_draws
    pillar_weights: dict[str, float] | None = None
    min_indicators_per_pillar: int = 1
    placement_level: str = "town"
    mode: str = "top"
    k: int = 1
    radius_km: float = settings.radius_km
    score_weights: dict[str, float] = field(
        default_factory=lambda: {"need": 0.5, "readiness": 0.25, "reach": 0.25}
    )
    min_households: int = 0
    min_spacing_km: float = 0.0
    states: tuple[str, ...] = ()
    existing_sites: tuple[str, ...] = ()
    title: str = "Digital equity index"
    cache: bool = True
    cache_folder: str | None = None
    source: str | None = None

    @property
    def uses_sample(self) -> bool:
        """True when no input files are configured and the bundled sample is used."""
        return not self.data

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


def _validate(cfg: Config, earlier: list[str] | None = None) -> None:
    problems: list[str] = list(earlier or [])

    def choice(name: str, value: str, valid: tuple[str, ...]) -> None:
        if value not in valid:
            problems.append(f"{name} = {value!r} is not one of {', '.join(valid)}")

    numbers = {
        "run.seed": (cfg.seed, int),
        "run.workers": (cfg.workers, int),
        "grid.resolution": (cfg.grid_resolution, int),
        "index.n_draws": (cfg.n_draws, int),
        "index.min_indicators_per_pillar": (cfg.min_indicators_per_pillar, int),
        "placement.k": (cfg.k, int),
        "placement.radius_km": (cfg.radius_km, float),
        "placement.min_households": (cfg.min_households, float),
        "placement.min_spacing_km": (cfg.min_spacing_km, float),
    }
    wrong = {}
    for name, (value, kind) in numbers.items():
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or (kind is int and not isinstance(value, int)):
            wrong[name] = value
            what = "a whole number" if kind is int else "a number"
            problems.append(f"{name} = {value!r} must be {what}")
    if wrong:  # the range checks below need numbers
        raise ConfigError(_join(cfg.source, problems))
    for name in ("preset", "reference", "placement_level", "mode", "grid_weight", "title"):
        if not isinstance(getattr(cfg, name), str):
            problems.append(f"{name} = {getattr(cfg, name)!r} must be text")
    if not isinstance(cfg.cache, bool):
        problems.append(f"cache.enabled = {cfg.cache!r} must be true or false")
    if cfg.cache_folder is not None:
        if not isinstance(cfg.cache_folder, str):
            problems.append(f"cache.folder = {cfg.cache_folder!r} must be text (a folder path)")
        elif Path(cfg.cache_folder).expanduser().exists() and not (
            Path(cfg.cache_folder).expanduser().is_dir()
        ):
            problems.append(f"cache.folder = {cfg.cache_folder!r} is a file, not a folder")
    choice("run.engine", cfg.engine, ENGINES)
    if cfg.workers < 1:
        problems.append(f"run.workers = {cfg.workers} must be >= 1")
    if cfg.scheduler is not None and not isinstance(cfg.scheduler, str):
        problems.append(f"run.scheduler = {cfg.scheduler!r} must be text (e.g. 'tcp://host:8786')")
    elif cfg.scheduler and cfg.engine != "dask":
        problems.append(f"run.scheduler = {cfg.scheduler!r} needs run.engine = 'dask'")
    choice("index.preset", cfg.preset, PRESETS)
    if cfg.normalisation is not None:
        choice("index.normalisation", cfg.normalisation, NORMALISATIONS)
    choice("index.reference", cfg.reference, REFERENCES)
    choice("placement.level", cfg.placement_level, PLACEMENT_LEVELS)
    choice("placement.mode", cfg.mode, MODES)
    for lv in cfg.levels:
        choice("run.levels", lv, LEVELS)
    if cfg.placement_level not in cfg.levels:
        problems.append(
            f"placement.level = {cfg.placement_level!r} is not among run.levels {list(cfg.levels)}"
        )
    if not 0 <= cfg.grid_resolution <= 15:
        problems.append(f"grid.resolution = {cfg.grid_resolution} is outside 0-15")
    if cfg.n_draws < 0:
        problems.append(f"index.n_draws = {cfg.n_draws} must be >= 0")
    if cfg.k < 1:
        problems.append(f"placement.k = {cfg.k} must be >= 1")
    if not cfg.radius_km > 0:
        problems.append(f"placement.radius_km = {cfg.radius_km} must be > 0")
    if cfg.min_households < 0:
        problems.append(f"placement.min_households = {cfg.min_households} must be >= 0")
    if cfg.min_spacing_km < 0:
        problems.append(f"placement.min_spacing_km = {cfg.min_spacing_km} must be >= 0")
    if cfg.pillar_weights is not None:
        from equity.indicators import PILLARS, REGISTRY

        for name, w in cfg.pillar_weights.items():
            if name not in PILLARS and name not in REGISTRY:
                problems.append(
                    f"index.weights key {name!r} is neither a pillar ({', '.join(PILLARS)}) "
                    "nor a registered indicator"
                )
            if not isinstance(w, int | float) or w < 0:
                problems.append(f"index.weights.{name} = {w!r} must be a number >= 0")
        if sum(float(w) for w in cfg.pillar_weights.values() if isinstance(w, int | float)) <= 0:
            problems.append("index.weights must not all be zero")
    for name, w in cfg.score_weights.items():
        choice("placement.weights key", name, SCORES)
        if not isinstance(w, int | float) or w < 0:
            problems.append(f"placement.weights.{name} = {w!r} must be a number >= 0")
    unknown = sorted(set(cfg.data) - set(DATA_KEYS))
    if unknown:
        problems.append(f"data: unknown keys {unknown}; valid keys are {', '.join(DATA_KEYS)}")
    if cfg.data:
        missing = [k for k in REQUIRED_DATA_KEYS if k not in cfg.data]
        if missing:
            problems.append(f"data: {', '.join(missing)} required when input files are given")
        for key, value in cfg.data.items():
            for p in value if isinstance(value, list) else [value]:
                if not Path(p).exists():
                    problems.append(f"data.{key}: file not found: {p}")
    if problems:
        raise ConfigError(_join(cfg.source, problems))


def _join(source: str | None, problems: list[str]) -> str:
    where = f"{source}: " if source else ""
    if len(problems) == 1:
        return where + problems[0]
    return where + f"{len(problems)} problems: " + "; ".join(problems)


_SECTIONS: dict[str, dict[str, str]] = {
    "run": {
        "levels": "levels",
        "seed": "seed",
        "engine": "engine",
        "scheduler": "scheduler",
        "workers": "workers",
    },
    "grid": {"resolution": "grid_resolution", "weight": "grid_weight"},
    "index": {
        "preset": "preset",
        "normalisation": "normalisation",
        "reference": "reference",
        "n_draws": "n_draws",
        "weights": "pillar_weights",
        "min_indicators_per_pillar": "min_indicators_per_pillar",
    },
    "placement": {
        "level": "placement_level",
        "mode": "mode",
        "k": "k",
        "radius_km": "radius_km",
        "weights": "score_weights",
        "min_households": "min_households",
        "min_spacing_km": "min_spacing_km",
        "states": "states",
        "existing_sites": "existing_sites",
    },
    "maps": {"title": "title"},
    "cache": {"enabled": "cache", "folder": "cache_folder"},
}


def load_config(path: str | Path | None = None, **overrides: Any) -> Config:
    """Read and validate a TOML run configuration.

    Parameters
    ----------
    path
        TOML file; ``None`` gives the defaults (the bundled sample region).
    **overrides
        Field values of :class:`Config` that replace the file's (e.g. from the CLI).

    Returns
    -------
    Config
        The validated configuration. Relative data paths are resolved against the TOML
        file's folder.

    Raises
    ------
    ConfigError
        Listing every problem found (unknown keys, bad values, missing files).

    Examples
    --------
    >>> load_config().uses_sample
    True
    >>> load_config(k=2).k
    2
    """
    values: dict[str, Any] = {}
    problems: list[str] = []
    source = None
    if path is not None:
        source = str(path)
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            msg = f"configuration file not found: {p}"
            raise ConfigError(msg) from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            msg = f"{p}: not valid TOML: {exc}"
            raise ConfigError(msg) from None
        for section, table in raw.items():
            if section == "data":
                if not isinstance(table, dict):
                    problems.append("[data] must be a table")
                    continue
                data: dict[str, Any] = {}
                for key, value in table.items():
                    items = value if isinstance(value, list) else [value]
                    resolved = [
                        str((p.parent / str(v)).resolve())
                        if not Path(str(v)).is_absolute()
                        else str(v)
                        for v in items
                    ]
                    data[key] = resolved if isinstance(value, list) else resolved[0]
                values["data"] = data
                continue
            mapping = _SECTIONS.get(section)
            if mapping is None or not isinstance(table, dict):
                problems.append(
                    f"unknown section [{section}]; valid sections are data, {', '.join(_SECTIONS)}"
                )
                continue
            for key, value in table.items():
                if key not in mapping:
                    problems.append(
                        f"[{section}] unknown key {key!r}; valid keys are {', '.join(mapping)}"
                    )
                    continue
                if (section, key) == ("cache", "folder") and isinstance(value, str):
                    folder = Path(value).expanduser()  # relative to the TOML file, as data paths
                    value = str(folder if folder.is_absolute() else (p.parent / folder).resolve())
                values[mapping[key]] = value
    values.update({k: v for k, v in overrides.items() if v is not None})
    for name in ("levels", "existing_sites", "states"):
        if name in values:
            values[name] = tuple(str(x) for x in values[name])
    try:
        cfg = Config(source=source, **values)
    except TypeError as exc:
        raise ConfigError(_join(source, [*problems, str(exc)])) from None
    _validate(cfg, problems)
    return cfg
