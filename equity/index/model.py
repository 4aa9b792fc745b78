"""The index model: its options, a preset resolved against a table, weights and aggregation.

:class:`IndexOptions` holds the options that define an index (preset, weights, normalisation,
reference, aggregation, draws, seed, ...), validated once where they are set; the Python API
(:func:`equity.index.compute_index`), the configuration and the CLI build the same object.
:func:`_resolve_model` resolves the options against a table (which indicators have data,
their weights renormalised over the pillars present), and :func:`_point_index` computes the
point estimate: normalised indicators, pillar scores (weighted means over each place's
indicators with data) and the index (weighted arithmetic or geometric mean of the pillars).
"""

from __future__ import annotations

import logging
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from equity.errors import ConfigError, SchemaError, check_choice
from equity.index.normalise import NORMALISATIONS, REFERENCES, _normalise_rows
from equity.index.presets import PRESETS, Preset
from equity.indicators import PILLARS, REGISTRY, Indicator, compute_indicators, get_indicator
from equity.ranking import group_codes

__all__ = ["AGGREGATIONS", "MIN_PILLAR_WEIGHT_SHARE", "IndexOptions"]

logger = logging.getLogger(__name__)

#: Aggregations of pillar scores into the index.
AGGREGATIONS: dict[str, str] = {
    "arithmetic": "weighted arithmetic mean of pillar scores",
    "geometric": "weighted geometric mean of pillar scores (a pillar at 0 gives 0)",
}


@dataclass(frozen=True)
class IndexOptions:
    """The options that define an index, validated where they are set.

    :func:`~equity.index.compute_index`, :func:`~equity.index.simulate_index` and
    :func:`~equity.index.sensitivity` take one (``options=``) or build it from their keywords.

    Parameters
    ----------
    preset
        One of :data:`~equity.index.PRESETS` (``"svi"`` computes the CDC/ATSDR SVI).
    weights
        Overrides of the preset's weights: pillar name -> pillar weight and/or indicator name
        -> indicator weight (an indicator not in the preset joins its registry pillar); each a
        finite number >= 0, 0 dropping the item. Keys must be pillars (of the preset or
        :data:`~equity.indicators.PILLARS`) or registered indicators, and at least one pillar
        must keep a positive weight. None keeps the preset's weights.
    normalisation
        One of :data:`~equity.index.NORMALISATIONS`; None for the preset's (``percentile``
        for techspark).
    reference
        Reference region of the normalisation (:data:`~equity.index.REFERENCES`):
        ``"nation"`` (all places) or ``"state"`` (within each state).
    aggregation
        ``"arithmetic"`` or ``"geometric"`` mean of pillar scores (:data:`AGGREGATIONS`).
    n_draws
        Monte Carlo draws, a whole number >= 0 (0 skips the simulation); None for
        :data:`equity.settings.n_draws` at the time of the call.
    seed
        Seed of the draws (and of sensitivity scenarios), a whole number; None for
        :data:`equity.settings.seed` at the time of the call.
    top_k
        ``p_top_k`` is the probability of ranking within the top `top_k` of the state; a
        whole number >= 1.
    state_column
        Column with the state code (needed for ``reference="state"``; without it
        ``rank_in_state`` and ``p_top_k`` refer to the whole table).
    min_indicators_per_pillar
        A place's pillar score needs at least this many of the pillar's indicators (capped at
        the number of indicators of the pillar with data); a whole number >= 1.

    Raises
    ------
    ConfigError
        On an unknown choice (:class:`~equity.errors.ChoiceError`, listing the valid ones), a
        number of the wrong type or out of range, or invalid weights.

    Examples
    --------
    >>> opts = IndexOptions(preset="ddi", n_draws=200, seed=7)
    >>> opts.normalisation is None, opts.reference
    (True, 'nation')
    >>> IndexOptions(reference="county")
    Traceback (most recent call last):
    ...
    equity.errors.ChoiceError: unknown reference 'county'; valid: nation, state
    """

    preset: str = "techspark"
    weights: Mapping[str, float] | None = None
    normalisation: str | None = None
    reference: str = "nation"
    aggregation: str = "arithmetic"
    n_draws: int | None = None
    seed: int | None = None
    top_k: int = 1
    state_column: str = "state_GEOID"
    min_indicators_per_pillar: int = 1

    def __post_init__(self) -> None:
        check_choice("preset", self.preset, PRESETS)
        if self.normalisation is not None:
            check_choice("normalisation", self.normalisation, NORMALISATIONS)
        check_choice("reference", self.reference, REFERENCES)
        check_choice("aggregation", self.aggregation, AGGREGATIONS)
        if self.n_draws is not None:
            object.__setattr__(self, "n_draws", _whole("n_draws", self.n_draws, minimum=0))
        if self.seed is not None:
            object.__setattr__(self, "seed", _whole("seed", self.seed, minimum=0))
        object.__setattr__(self, "top_k", _whole("top_k", self.top_k, minimum=1))
        minimum = _whole("min_indicators_per_pillar", self.min_indicators_per_pillar, minimum=1)
        object.__setattr__(self, "min_indicators_per_pillar", minimum)
        if not isinstance(self.state_column, str):
            msg = f"state_column must be a column name (text), got {self.state_column!r}"
            raise ConfigError(msg)
        if self.weights is not None:
            _check_weights(PRESETS[self.preset], self.weights)
            object.__setattr__(self, "weights", dict(self.weights))


def _whole(name: str, value: Any, *, minimum: int | None = None) -> int:
    """`value` as an int if it is a whole number (not a bool) of at least `minimum`."""
    whole = isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer())
    if not whole or isinstance(value, bool):
        msg = f"{name} must be a whole number, got {value!r}"
        raise ConfigError(msg)
    if minimum is not None and value < minimum:
        msg = f"{name} must be >= {minimum}, got {value!r}"
        raise ConfigError(msg)
    return int(value)


def _check_weights(preset: Preset, weights: Any) -> None:
    """Weights: a mapping of known pillars or indicators to finite numbers >= 0, not all zero."""
    if not isinstance(weights, Mapping):
        msg = f"weights must map pillar or indicator names to numbers, got {weights!r}"
        raise ConfigError(msg)
    for key, w in weights.items():
        if not isinstance(w, int | float) or isinstance(w, bool) or not math.isfinite(w) or w < 0:
            msg = f"weight of {key!r} must be a finite number >= 0, got {w!r}"
            raise ConfigError(msg)
        if key not in preset.pillar_weights and key not in PILLARS and key not in REGISTRY:
            msg = (
                f"weights: {key!r} is neither a pillar ({', '.join(preset.pillar_weights)}) nor a "
                f"registered indicator; known indicators: {sorted(REGISTRY)}"
            )
            raise ConfigError(msg)
    _, pillar_weights = _weights_from(preset, weights)
    if preset.pillars and not any(w > 0 for w in pillar_weights.values()):
        msg = (
            f"weights leave every pillar of preset {preset.name!r} at 0; "
            "at least one pillar needs a positive weight"
        )
        raise ConfigError(msg)


def _options(options: IndexOptions | None, where: str, **keywords: Any) -> IndexOptions:
    """`options`, or the options built from a function's keywords (those not None).

    Passing both is a :class:`~equity.errors.ConfigError`: one of them would be ignored.
    """
    given = {k: v for k, v in keywords.items() if v is not None}
    if options is None:
        return IndexOptions(**given)
    if not isinstance(options, IndexOptions):
        msg = f"{where}: options must be an IndexOptions, got {type(options).__name__}"
        raise ConfigError(msg)
    if given:
        msg = f"{where}: pass options or the keywords {sorted(given)}, not both"
        raise ConfigError(msg)
    return options


@dataclass
class _Model:
    """A preset resolved against a table: which indicators, which weights, which data."""

    preset: str
    normalisation: str
    reference: str
    aggregation: str
    pillars: dict[str, dict[str, float]]  # pillar -> indicator -> weight (normalised, present only)
    pillar_weights: dict[str, float]  # present pillars, sum 1
    missing_pillars: dict[str, float]  # pillar -> weight redistributed
    missing_indicators: list[str]
    indicators: dict[str, Indicator]
    values: dict[str, np.ndarray]  # point values (float64)
    norm_codes: np.ndarray  # reference region code per place
    state_codes: np.ndarray  # state code per place (p_top_k, rank_in_state)
    has_states: bool
    min_indicators: int
    notes: list[str] = field(default_factory=list)


def _weights_from(
    preset: Preset, weights: Mapping[str, float] | None
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """The preset's pillar -> indicator weights and pillar weights with `weights` applied.

    `weights` are checked by :class:`IndexOptions`.
    """
    pillars = {p: dict(w) for p, w in preset.pillars.items()}
    pillar_weights = dict(preset.pillar_weights)
    for key, w in (weights or {}).items():
        if key in pillar_weights or key in PILLARS:
            pillar_weights[key] = float(w)
            pillars.setdefault(key, {})
        else:  # a registered indicator (IndexOptions checked the key)
            ind = REGISTRY[key]
            owner = next((p for p, m in pillars.items() if key in m), ind.pillar)
            pillars.setdefault(owner, {})[key] = float(w)
            pillar_weights.setdefault(owner, 1.0)
    return pillars, pillar_weights


def _point_value(table: pd.DataFrame, ind: Indicator) -> np.ndarray | None:
    """An indicator's published values, else computed from its inputs; None without either."""
    if ind.name in table:
        v = pd.to_numeric(table[ind.name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return v
    if all(c in table for c in ind.inputs):
        return compute_indicators(table[list(ind.inputs)], indicators=[ind])[ind.name].to_numpy(
            float
        )
    return None


def _resolve_model(table: pd.DataFrame, options: IndexOptions) -> _Model:
    """The options resolved against `table`: indicators with data, weights over pillars present."""
    preset = PRESETS[options.preset]
    pillars_w, pillar_weights = _weights_from(preset, options.weights)
    has_states, state_codes, norm_codes = _reference_codes(table, options)
    values, inds, missing_ind, pillars = _indicator_values(table, pillars_w, pillar_weights)
    pw, missing_pillars = _present_pillar_weights(
        table, options.preset, pillars_w, pillar_weights, pillars
    )
    return _Model(
        preset=options.preset,
        normalisation=options.normalisation or preset.normalisation,
        reference=options.reference,
        aggregation=options.aggregation,
        pillars=pillars,
        pillar_weights=pw,
        missing_pillars=missing_pillars,
        missing_indicators=missing_ind,
        indicators=inds,
        values=values,
        norm_codes=norm_codes,
        state_codes=state_codes,
        has_states=has_states,
        min_indicators=options.min_indicators_per_pillar,
    )


def _reference_codes(
    table: pd.DataFrame, options: IndexOptions
) -> tuple[bool, np.ndarray, np.ndarray]:
    """Whether the table has states, the state code and the reference-region code per place."""
    state_column = options.state_column
    has_states = state_column in table
    if options.reference == "state" and not has_states:
        msg = (
            f"reference='state' needs the state column {state_column!r}; "
            f"columns: {list(table.columns)[:12]}"
        )
        raise SchemaError(msg)
    n = len(table)
    state_codes = group_codes(table[state_column] if has_states else None, n)
    norm_codes = state_codes if options.reference == "state" else np.zeros(n, dtype=np.int64)
    return has_states, state_codes, norm_codes


def _indicator_values(
    table: pd.DataFrame,
    pillars_w: dict[str, dict[str, float]],
    pillar_weights: dict[str, float],
) -> tuple[dict[str, np.ndarray], dict[str, Indicator], list[str], dict[str, dict[str, float]]]:
    """Point values of the weighted indicators with data, those without, and pillar members.

    Indicators of a pillar weighted 0 are still read (and reported); the members of each
    pillar with a positive weight get their weights normalised to sum 1.
    """
    values: dict[str, np.ndarray] = {}
    inds: dict[str, Indicator] = {}
    missing_ind: list[str] = []
    pillars: dict[str, dict[str, float]] = {}
    for pillar, members in pillars_w.items():
        kept = {}
        for name, w in members.items():
            if w <= 0:
                continue
            ind = get_indicator(name)
            v = _point_value(table, ind)
            if v is None or not np.isfinite(v).any():
                missing_ind.append(name)
                continue
            values[name] = v
            inds[name] = ind
            kept[name] = float(w)
        _prefer_originals(list(members), kept, (values, inds), missing_ind, pillars)
        if kept and pillar_weights.get(pillar, 0) > 0:
            total = sum(kept.values())
            pillars[pillar] = {k: w / total for k, w in kept.items()}
    return values, inds, missing_ind, pillars


def _prefer_originals(
    members: list[str],
    kept: dict[str, float],
    found: tuple[dict[str, np.ndarray], dict[str, Indicator]],
    missing_ind: list[str],
    pillars: dict[str, dict[str, float]],
) -> None:
    """A pillar's stand-ins (``Indicator.stands_in_for``) give way to their originals.

    Of an indicator and its stand-in that both have data only the original counts (the
    stand-in is neither used nor drawn); a concept that has either is not reported missing.
    """
    values, inds = found
    for name in members:
        original = get_indicator(name).stands_in_for
        if original is None or original not in members:
            continue
        if name in kept and original in kept:
            del kept[name]
            if not any(name in m for m in pillars.values()):  # used by no other pillar
                values.pop(name, None)
                inds.pop(name, None)
        if name in kept or original in kept:
            for gone in (name, original):
                if gone in missing_ind:
                    missing_ind.remove(gone)


def _present_pillar_weights(
    table: pd.DataFrame,
    preset: str,
    pillars_w: dict[str, dict[str, float]],
    pillar_weights: dict[str, float],
    pillars: dict[str, dict[str, float]],
) -> tuple[dict[str, float], dict[str, float]]:
    """Weights of the pillars with data (sum 1) and the weights of those without."""
    positive = {q: w for q, w in pillar_weights.items() if w > 0}
    missing_pillars = {q: w for q, w in positive.items() if q not in pillars}
    total_present = sum(positive[q] for q in pillars)
    if not pillars or total_present <= 0:
        wanted = sorted({i for m in pillars_w.values() for i in m})
        msg = (
            f"preset {preset!r}: no indicator has data in the table; needs any of {wanted} "
            f"(or their count columns); columns present: {list(table.columns)[:15]}"
        )
        raise SchemaError(msg)
    pw = {q: positive[q] / total_present for q in pillars}
    if missing_pillars:
        logger.info(
            "compute_index: pillars without data %s; weight redistributed", sorted(missing_pillars)
        )
    return pw, missing_pillars


def _oriented_norm(x: np.ndarray, ind: Indicator, model: _Model) -> np.ndarray:
    """Rows of `x` oriented towards need (``direction * x``), then normalised by the model
    within its reference regions.

    Orienting first gives every indicator's favourable end the need 0 under percentile ranks
    (ties at the lowest rank): 100% broadband availability, the most favourable value, ranks
    0 however many places share it, as 0% without internet does.
    """
    return _normalise_rows(ind.direction * x, model.norm_codes, model.normalisation)


def _pillar_layout(model: _Model) -> tuple[dict[str, dict[str, np.ndarray]], dict[str, np.ndarray]]:
    """Per-place effective indicator weights (renormalised over available ones) and pillar validity."""
    eff: dict[str, dict[str, np.ndarray]] = {}
    valid: dict[str, np.ndarray] = {}
    for pillar, members in model.pillars.items():
        avail = {k: np.isfinite(model.values[k]) for k in members}
        wsum = sum(members[k] * avail[k] for k in members)
        cnt = sum(avail[k].astype(int) for k in members)
        ok = (cnt >= min(model.min_indicators, len(members))) & (wsum > 0)
        eff[pillar] = {
            k: np.where(avail[k] & ok, members[k] / np.where(wsum > 0, wsum, 1), 0.0)
            for k in members
        }
        valid[pillar] = ok
    return eff, valid


#: A place gets an index when the pillars it has data for carry more than this share of the
#: pillar weight; their weights are renormalised for that place (``pillars_missing`` says which
#: pillars were left out), so a place missing one of several pillars is neither dropped nor
#: given a zero, while a place with half its pillars or fewer (e.g. no households) gets none.
MIN_PILLAR_WEIGHT_SHARE = 0.5


def _place_pillar_weights(
    model: _Model, valid: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-place pillar weights renormalised over the pillars the place has, and index validity."""
    covered = sum(model.pillar_weights[p] * valid[p] for p in model.pillars)
    covered = np.asarray(covered, dtype=float)
    ok = covered > MIN_PILLAR_WEIGHT_SHARE + 1e-12
    denom = np.where(covered > 0, covered, 1.0)
    weights = {p: np.where(valid[p], model.pillar_weights[p] / denom, 0.0) for p in model.pillars}
    return weights, ok


def _aggregate(
    scores: dict[str, np.ndarray],
    model: _Model,
    valid_all: np.ndarray,
    weights: Mapping[str, np.ndarray | float] | None = None,
) -> np.ndarray:
    """Index (0-1) from pillar scores (0-1), rows x places; NaN where the index is not valid.

    `weights` are per-place pillar weights (:func:`_place_pillar_weights`); by default the
    model's pillar weights.
    """
    w = weights if weights is not None else model.pillar_weights
    if model.aggregation == "arithmetic":
        out = sum(w[p] * s for p, s in scores.items())
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = sum(
                np.where(np.asarray(w[p]) > 0, w[p] * np.log(np.clip(s, 0.0, 1.0)), 0.0)
                for p, s in scores.items()
            )
        out = np.exp(logs)
    return np.where(valid_all, np.clip(out, 0.0, 1.0), np.nan)


def _point_index(model: _Model) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], np.ndarray]:
    """The point estimate: normalised indicators, pillar scores and the index (all 0-1)."""
    norms = {
        k: _oriented_norm(v.reshape(1, -1), model.indicators[k], model)[0]
        for k, v in model.values.items()
    }
    eff, valid = _pillar_layout(model)
    scores = {}
    for pillar, members in eff.items():
        s = sum(members[k] * np.nan_to_num(norms[k]) for k in members)
        scores[pillar] = np.where(valid[pillar], s, np.nan)
    place_w, valid_all = _place_pillar_weights(model, valid)
    index = _aggregate({p: np.nan_to_num(s) for p, s in scores.items()}, model, valid_all, place_w)
    return norms, scores, index
