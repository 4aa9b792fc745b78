"""Sensitivity of the ranking to the model's choices: pillar weights and normalisation.

:func:`sensitivity` ranks the places under many scenarios, each with pillar weights drawn
around the chosen ones (Dirichlet) and one of several normalisations, and reports per place
the range of its ranks and, overall, the Spearman correlation of each scenario's ranking with
the chosen one. :func:`index_variants` gives the index itself under a fixed, nameable set of
variants (each normalisation, with the chosen pillar weights and with each pillar weight
halved), from which a candidate's rank range is read (:mod:`equity.placement`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd

from equity import settings
from equity.errors import check_choice
from equity.index.model import (
    IndexOptions,
    _Model,
    _options,
    _oriented_norm,
    _pillar_layout,
    _place_pillar_weights,
    _point_index,
    _resolve_model,
    _whole,
)
from equity.index.normalise import NORMALISATIONS
from equity.ranking import group_ranks, min_rank_descending

__all__ = ["index_variants", "sensitivity"]


def sensitivity(
    table: pd.DataFrame,
    *,
    options: IndexOptions | None = None,
    preset: str | None = None,
    weights: Mapping[str, float] | None = None,
    n: int = 200,
    concentration: float = 50.0,
    normalisations: Iterable[str] = tuple(NORMALISATIONS),
    reference: str | None = None,
    state_column: str | None = None,
    aggregation: str | None = None,
    seed: int | None = None,
    id_column: str = "GEOID",
) -> pd.DataFrame:
    """Rank stability under perturbed pillar weights and swapped normalisations.

    Parameters
    ----------
    table
        As for :func:`~equity.index.compute_index`.
    options
        The chosen model (:class:`~equity.index.IndexOptions`; its ``n_draws`` and ``top_k``
        are not used); or give `preset`, `weights`, `reference`, `state_column`,
        `aggregation` and `seed` as keywords (not both), the model then taking the preset's
        normalisation and one indicator per pillar at least.
    preset, weights, reference, state_column, aggregation
        The chosen model, as for :func:`~equity.index.compute_index`.
    n
        Number of scenarios.
    concentration
        Dirichlet concentration: pillar weights of a scenario are drawn from
        :math:`\\mathrm{Dir}(\\kappa w)`; larger means closer to the chosen weights.
    normalisations
        Normalisations cycled through the scenarios.
    seed
        Seed; default :data:`equity.settings.seed`.
    id_column
        Column copied to the result when present.

    Returns
    -------
    pandas.DataFrame
        Per place: ``rank`` (chosen model), ``rank_min``, ``rank_max``, ``rank_range``,
        ``rank_median`` over the scenarios. ``attrs["sensitivity"]`` holds the Spearman
        correlation of each scenario's ranking with the chosen one (mean, min, 5th percentile).

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"share_no_internet": [0.1, 0.3, 0.2, 0.4], "share_no_computer": [0.2, 0.1, 0.3, 0.4],
    ...                   "median_household_income": [80e3, 40e3, 60e3, 30e3]})
    >>> s = sensitivity(t, n=20, seed=1)
    >>> bool((s["rank_min"] <= s["rank"]).all() and (s["rank"] <= s["rank_max"]).all())
    True
    """
    opts = _options(
        options,
        "sensitivity",
        preset=preset,
        weights=weights,
        reference=reference,
        state_column=state_column,
        aggregation=aggregation,
        seed=seed,
    )
    seed_ = _whole("seed", settings.seed if opts.seed is None else opts.seed)
    methods = [check_choice("normalisation", m, NORMALISATIONS) for m in normalisations]
    model = _resolve_model(table, opts)
    _, _, base_index = _point_index(model)
    pillars = list(model.pillars)
    scores, valid = _scenario_scores(model, pillars, methods)
    rng = np.random.default_rng(seed_)
    w0 = np.array([model.pillar_weights[p] for p in pillars])
    w = (
        rng.dirichlet(np.maximum(concentration * w0, 1e-6), size=n)
        if len(pillars) > 1
        else np.ones((n, 1))
    )
    idx = _scenario_index(model, pillars, scores[np.arange(n) % len(methods)], valid, w)
    ranks = min_rank_descending(idx, np.zeros(idx.shape[1], dtype=np.int64))
    base_rank = min_rank_descending(
        base_index.reshape(1, -1), np.zeros(len(base_index), dtype=np.int64)
    )[0]
    ok = np.isfinite(base_rank)
    rho = _spearman(idx[:, ok], base_index[ok])
    out = _rank_ranges(table, id_column, base_rank, ranks, ok)
    out.attrs["sensitivity"] = {
        "n": n,
        "concentration": concentration,
        "normalisations": methods,
        "seed": seed_,
        "spearman_mean": float(np.nanmean(rho)) if rho.size else float("nan"),
        "spearman_min": float(np.nanmin(rho)) if rho.size else float("nan"),
        "spearman_p05": float(np.nanquantile(rho, 0.05)) if rho.size else float("nan"),
        "pillar_weights": dict(zip(pillars, w0.tolist(), strict=True)),
    }
    return out


def index_variants(
    table: pd.DataFrame,
    *,
    options: IndexOptions | None = None,
    preset: str | None = None,
    weights: Mapping[str, float] | None = None,
    reference: str | None = None,
    state_column: str | None = None,
    aggregation: str | None = None,
    normalisations: Iterable[str] = tuple(NORMALISATIONS),
) -> pd.DataFrame:
    """The index (0-100, point estimates) under each normalisation and each pillar weight halved.

    Parameters
    ----------
    table
        As for :func:`~equity.index.compute_index`.
    options
        The chosen model (:class:`~equity.index.IndexOptions`; its normalisation, draws and
        ``top_k`` are not used); or give `preset`, `weights`, `reference`, `state_column` and
        `aggregation` as keywords (not both).
    preset, weights, reference, state_column, aggregation
        The chosen model, as for :func:`~equity.index.compute_index`.
    normalisations
        The normalisations to vary over.

    Returns
    -------
    pandas.DataFrame
        One row per place (the table's index), one column per variant: ``"<normalisation>"``
        (the chosen pillar weights) and ``"<normalisation>, <pillar> halved"``; NaN where the
        place has no index.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"share_no_internet": [0.1, 0.3, 0.2], "median_household_income": [8e4, 4e4, 6e4]})
    >>> v = index_variants(t, normalisations=["percentile", "minmax"])
    >>> list(v.columns)
    ['percentile', 'percentile, access halved', 'percentile, affordability halved', 'minmax', 'minmax, access halved', 'minmax, affordability halved']
    >>> v["percentile"].tolist()
    [0.0, 100.0, 50.0]
    """
    opts = _options(
        options,
        "index_variants",
        preset=preset,
        weights=weights,
        reference=reference,
        state_column=state_column,
        aggregation=aggregation,
    )
    methods = [check_choice("normalisation", m, NORMALISATIONS) for m in normalisations]
    model = _resolve_model(table, opts)
    pillars = list(model.pillars)
    scores, valid = _scenario_scores(model, pillars, methods)
    w0 = np.array([model.pillar_weights[p] for p in pillars])
    labels: list[str] = []
    columns: list[np.ndarray] = []
    for i, m in enumerate(methods):
        sets = [("", w0)]
        if len(pillars) > 1:
            sets += [(f", {p} halved", np.where(np.arange(len(pillars)) == j, w0 / 2, w0))
                     for j, p in enumerate(pillars)]  # fmt: skip
        for suffix, w in sets:
            idx = _scenario_index(model, pillars, scores[i][None], valid, w[None])[0]
            labels.append(m + suffix)
            columns.append(100.0 * idx)
    return pd.DataFrame(dict(zip(labels, columns, strict=True)), index=table.index)


def _scenario_scores(
    model: _Model, pillars: list[str], methods: list[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Pillar scores (0-1) under each normalisation, (methods, pillars, places), and validity.

    Sets the model's normalisation to each method in turn.
    """
    eff, valid = _pillar_layout(model)
    stacks = []
    for m in methods:
        model.normalisation = m
        norms = {
            k: _oriented_norm(v.reshape(1, -1), model.indicators[k], model)[0]
            for k, v in model.values.items()
        }
        stacks.append(
            np.vstack([sum(eff[p][k] * np.nan_to_num(norms[k]) for k in eff[p]) for p in pillars])
        )
    return np.stack(stacks), valid


def _scenario_index(
    model: _Model,
    pillars: list[str],
    sc: np.ndarray,
    valid: dict[str, np.ndarray],
    w: np.ndarray,
) -> np.ndarray:
    """Index (0-1) per scenario and place from its pillar scores (scenarios, pillars, places).

    The scenario's weights `w` (scenarios, pillars) are renormalised, per place, over the
    pillars the place has; NaN where the place has no index.
    """
    valid_all = _place_pillar_weights(model, valid)[1]
    avail = np.stack([valid[p] for p in pillars]).astype(float)  # (pillars, places)
    den = np.einsum("sp,pi->si", w, avail)
    den = np.where(den > 0, den, 1.0)
    if model.aggregation == "arithmetic":
        idx = np.einsum("sp,spi->si", w, sc * avail[None]) / den
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            logs = np.where(avail[None] > 0, np.log(np.clip(sc, 0, 1)), 0.0)
            idx = np.exp(np.einsum("sp,spi->si", w, logs) / den)
    return np.where(valid_all[None, :], idx, np.nan)


def _spearman(idx: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of `idx` with `base`: Pearson's of (average) ranks."""
    zero = np.zeros(base.size, dtype=np.int64)
    ra = group_ranks(-idx, zero, average=True)[0]
    rb = group_ranks(-base.reshape(1, -1), zero, average=True)[0]
    ra = ra - ra.mean(axis=1, keepdims=True)
    rb = rb - rb.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (ra * rb).sum(axis=1) / np.sqrt((ra * ra).sum(axis=1) * (rb * rb).sum(axis=1))


def _rank_ranges(
    table: pd.DataFrame, id_column: str, base_rank: np.ndarray, ranks: np.ndarray, ok: np.ndarray
) -> pd.DataFrame:
    """Per place: the chosen model's rank and the min, max, range and median over scenarios."""
    out = pd.DataFrame(index=table.index)
    if id_column in table:
        out[id_column] = table[id_column].to_numpy()
    out["rank"] = pd.array(base_rank, dtype="Int64")
    with np.errstate(invalid="ignore"):
        out["rank_min"] = pd.array(
            np.where(ok, np.nanmin(np.where(ok, ranks, np.inf), axis=0), np.nan), dtype="Int64"
        )
        out["rank_max"] = pd.array(
            np.where(ok, np.nanmax(np.where(ok, ranks, -np.inf), axis=0), np.nan), dtype="Int64"
        )
        out["rank_median"] = np.where(ok, np.median(np.where(ok, ranks, 0), axis=0), np.nan)
    out["rank_min"] = out["rank_min"].where(out["rank_min"] <= out["rank"], out["rank"])
    out["rank_max"] = out["rank_max"].where(out["rank_max"] >= out["rank"], out["rank"])
    out["rank_range"] = out["rank_max"] - out["rank_min"]
    return out
