"""The validated run configuration, :class:`Config`, and the checks across its options."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from equity.config.options import _SNAPSHOT_LEVELS, OPTIONS, _default
from equity.config.validators import REQUIRED_DATA_KEYS
from equity.errors import ConfigError

if TYPE_CHECKING:
    from equity.index import IndexOptions
    from equity.placement import PlacementOptions


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
