"""Explanations: why each candidate ranks where it does, in words a program planner can check.

For each candidate: its driving pillar and suggested intervention, its three strongest
indicators (with raw values and units), how far its rank moves when any one weight is halved
(:func:`_sensitivity`), and one sentence that puts it all together (:func:`_why`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from equity.index import INTERVENTIONS
from equity.indicators import PILLARS, REGISTRY
from equity.placement.candidates import Candidates
from equity.ranking import rank_descending

# --------------------------------------------------------------------------------------------
# the index's own description (attrs["index"] of the level table)
# --------------------------------------------------------------------------------------------


def _index_meta(places: pd.DataFrame) -> dict[str, Any]:
    meta = places.attrs.get("index", {}) if isinstance(places.attrs, dict) else {}
    return meta if isinstance(meta, dict) else {}


def _pillar_weights(places: pd.DataFrame, meta: dict[str, Any]) -> dict[str, float]:
    pillars = [p for p in PILLARS if f"score_{p}" in places.columns]
    given = meta.get("pillar_weights") or meta.get("weights") or {}
    if not isinstance(given, Mapping):
        given = {}
    # only numeric weights count ("weights" may also be nested per indicator)
    out = {p: float(v) if isinstance(v := given.get(p, 1.0), int | float) else 1.0 for p in pillars}
    return {p: v for p, v in out.items() if v > 0}


def _indicator_weights(meta: dict[str, Any]) -> dict[str, float]:
    given = meta.get("indicator_weights") or {}
    return {str(key): float(v) for key, v in given.items()} if isinstance(given, Mapping) else {}


# --------------------------------------------------------------------------------------------
# driving pillar and top indicators
# --------------------------------------------------------------------------------------------


def _driving(cand: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """The driving pillar (given, or the highest pillar score) and its suggested intervention."""
    pillars = [p for p in PILLARS if f"score_{p}" in cand.columns]
    if "driving_pillar" in cand.columns:
        driving = cand["driving_pillar"].astype("string").reset_index(drop=True)
    elif pillars:
        vals = cand[[f"score_{p}" for p in pillars]].to_numpy(dtype=float)
        best = np.argmax(np.where(np.isnan(vals), -np.inf, vals), axis=1)
        driving = pd.Series(np.array(pillars, dtype=object)[best], dtype="string")
        driving[np.isnan(vals).all(axis=1)] = pd.NA
    else:
        driving = pd.Series([pd.NA] * len(cand), dtype="string")
    if "intervention" in cand.columns:
        intervention = cand["intervention"].astype("string").reset_index(drop=True)
    else:
        intervention = driving.map(INTERVENTIONS.get, na_action="ignore").astype("string")
    return driving, intervention


def _format_value(name: str, value: float) -> str:
    """An indicator's raw value with its unit, for explanations ("31%", "24 Mbps", "4.2 km")."""
    if not np.isfinite(value):
        return ""
    unit = REGISTRY[name].unit if name in REGISTRY else "value"
    if unit == "share":
        return f"{value:.0%}"
    if unit == "mbps":
        return f"{value:.0f} Mbps"
    if unit == "usd":
        return f"${value:,.0f}"
    if unit == "km":
        return f"{value:.1f} km"
    if unit in ("per_1k", "per_10k"):
        return f"{value:.1f} {unit.replace('_', ' ')}"
    return f"{value:.3g}"


def _indicator_columns(cand: pd.DataFrame) -> tuple[list[str], str]:
    """The normalised indicator columns (``norm_``), else the pillar scores (``score_``)."""
    cols = [c for c in cand.columns if c.startswith("norm_")]
    if cols:
        return cols, "norm_"
    return [f"score_{p}" for p in PILLARS if f"score_{p}" in cand.columns], "score_"


def _pillar_parts(names: np.ndarray, values: np.ndarray, order: np.ndarray) -> list[str]:
    """``"access 81.2; affordability 64.0"``: the strongest pillar scores of each row."""
    # norm_ values are 0-1 from equity.index; pillar scores 0-100
    fmt = "{:.2f}" if np.nanmax(np.abs(values), initial=0.0) <= 1.0 else "{:.1f}"
    return [
        "; ".join(f"{names[j]} {fmt.format(row[j])}" for j in idx if np.isfinite(row[j]))
        for row, idx in zip(values, order, strict=True)
    ]


def _indicator_parts(
    cand: pd.DataFrame, names: np.ndarray, values: np.ndarray, order: np.ndarray
) -> list[str]:
    """``"share_no_internet 31% (need 0.92); ..."``: raw value (when present) and need."""
    raw = {
        n: pd.to_numeric(cand[n], errors="coerce").to_numpy(dtype=float) for n in names if n in cand
    }

    def part(i: int, name: str, need: float) -> str:
        shown = _format_value(name, raw[name][i]) if name in raw else ""
        return f"{name} {shown} (need {need:.2f})" if shown else f"{name} (need {need:.2f})"

    return [
        "; ".join(part(i, str(names[j]), row[j]) for j in idx if np.isfinite(row[j]))
        for i, (row, idx) in enumerate(zip(values, order, strict=True))
    ]


def _top_indicators(cand: pd.DataFrame, meta: dict[str, Any]) -> list[str]:
    """The three indicators (or pillars) contributing most to each candidate's need."""
    cols, prefix = _indicator_columns(cand)
    if not cols:
        return [""] * len(cand)
    names = np.array([c[len(prefix) :] for c in cols], dtype=object)
    values = cand[cols].to_numpy(dtype=float)
    iw = _indicator_weights(meta)
    weight = np.array([iw.get(n, 1.0) for n in names]) if iw else np.ones(len(names))
    contrib = np.where(np.isnan(values), -np.inf, values * weight)
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :3]
    if prefix == "score_":
        return _pillar_parts(names, values, order)
    return _indicator_parts(cand, names, values, order)


# --------------------------------------------------------------------------------------------
# sensitivity
# --------------------------------------------------------------------------------------------


def _weight_variants(
    scores: dict[str, np.ndarray], w: dict[str, float]
) -> tuple[list[str], list[np.ndarray]]:
    """The combined score with each positive score weight halved."""
    labels: list[str] = []
    variants: list[np.ndarray] = []
    for name, wt in w.items():
        if wt > 0:
            w2 = dict(w, **{name: wt / 2})
            variants.append(
                w2["need"] * scores["need"]
                + w2["readiness"] * scores["readiness"]
                + w2["reach"] * scores["reach"]
            )
            labels.append(name)
    return labels, variants


def _pillar_variants(
    cand: pd.DataFrame, scores: dict[str, np.ndarray], w: dict[str, float], meta: dict[str, Any]
) -> tuple[list[str], list[np.ndarray]]:
    """The combined score with each pillar weight of the index halved (need moves with it)."""
    pw = _pillar_weights(cand, meta)
    if len(pw) <= 1 or w["need"] <= 0:
        return [], []
    vals = cand[[f"score_{p}" for p in pw]].to_numpy(dtype=float)
    ok = ~np.isnan(vals)

    def wmean(weights: np.ndarray) -> np.ndarray:
        num = np.where(ok, vals, 0.0) @ weights
        den = ok.astype(float) @ weights
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    wv = np.array(list(pw.values()))
    base_mean = wmean(wv)
    labels: list[str] = []
    variants: list[np.ndarray] = []
    for j, p in enumerate(pw):
        w2 = wv.copy()
        w2[j] /= 2
        # shift the index by the change the halved pillar weight makes to the pillar mean
        need2 = np.clip(scores["need"] + np.nan_to_num(wmean(w2) - base_mean), 0, 100)
        variants.append(
            w["need"] * need2 + w["readiness"] * scores["readiness"] + w["reach"] * scores["reach"]
        )
        labels.append(p)
    return labels, variants


def _sensitivity(
    cand: pd.DataFrame,
    need: np.ndarray,
    readiness: np.ndarray,
    reach: np.ndarray,
    w: dict[str, float],
    groups: np.ndarray,
    rank: np.ndarray,
    meta: dict[str, Any],
) -> tuple[list[str], np.ndarray]:
    """Rank under each weight halved; the largest move per candidate as text."""
    scores = {"need": need, "readiness": readiness, "reach": reach}
    labels, variants = _weight_variants(scores, w)
    more_labels, more = _pillar_variants(cand, scores, w, meta)
    labels, variants = labels + more_labels, variants + more
    if not variants:
        return [""] * len(rank), np.zeros(len(rank), dtype=int)
    ranks = rank_descending(np.column_stack(variants), groups)
    move = ranks - rank[:, None]
    j = np.argmax(np.abs(move), axis=1)
    biggest = move[np.arange(len(rank)), j]
    text = [
        f"halving the {labels[jj]} weight moves it from {r} to {r + m}"
        if m != 0
        else "halving any one weight leaves its rank unchanged"
        for r, jj, m in zip(rank.tolist(), j.tolist(), biggest.tolist(), strict=True)
    ]
    return text, biggest


def _index_need_variants(cands: Candidates, meta: dict[str, Any]) -> np.ndarray | None:
    """The candidates' index (0-100) under each normalisation and halved pillar weight.

    From :func:`equity.index.index_variants` on all places (the normalisation's reference),
    with the index's options recorded in ``attrs["index"]["options"]``; None when the places
    do not carry them or their indicators.
    """
    from equity.index import IndexOptions, index_variants

    options = meta.get("options")
    used = meta.get("indicator_weights") or {}
    if not isinstance(options, Mapping) or not used or options.get("preset") == "svi":
        return None
    if not all(k in cands.places.columns for k in used):
        return None
    opts = IndexOptions(**{k: v for k, v in options.items() if k != "normalisation"})
    variants = index_variants(cands.places, options=opts)
    return variants.to_numpy(dtype=float)[cands.index]


def _rank_range(
    cands: Candidates,
    need: np.ndarray,
    readiness: np.ndarray,
    reach: np.ndarray,
    w: dict[str, float],
    rank: np.ndarray,
    meta: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Best and worst rank of each candidate across the weight and normalisation variants.

    Variants: each score weight (need, readiness, reach) halved; and the need under each
    normalisation of the index with its pillar weights, and with each pillar weight halved
    (:func:`_index_need_variants`; without the index's indicators, each pillar weight halved
    on the pillar scores). Readiness and reach stay as they are.
    """
    scores = {"need": need, "readiness": readiness, "reach": reach}
    _, variants = _weight_variants(scores, w)
    need_variants = _index_need_variants(cands, meta)
    if need_variants is None:
        variants += _pillar_variants(cands.table, scores, w, meta)[1]
    else:
        for j in range(need_variants.shape[1]):
            nv = np.clip(np.nan_to_num(need_variants[:, j], nan=0.0), 0, 100)
            variants.append(w["need"] * nv + w["readiness"] * readiness + w["reach"] * reach)
    if not variants:
        return rank.copy(), rank.copy()
    ranks = rank_descending(np.column_stack(variants), cands.groups)
    return np.minimum(ranks.min(axis=1), rank), np.maximum(ranks.max(axis=1), rank)


# --------------------------------------------------------------------------------------------
# the why sentence
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Setting:
    """What every sentence of one ranking shares."""

    mode: str
    per_state: bool
    radius_km: float
    unit: str  # "people" or "households"


class _Row(NamedTuple):
    rank: int
    n_group: int
    state: str
    need: float
    rank_lo: float
    rank_hi: float
    driving: Any  # str or pd.NA
    top: Any
    n_anchors: int
    n_library: int
    reach: float
    intervention: Any
    sensitivity: str
    selected: bool
    partner: str = ""


def _strongest(top: Any, driving: Any) -> str:
    """The strongest indicator of the driving pillar itself, else the strongest overall."""
    if not (isinstance(top, str) and top):
        return ""
    parts = top.split("; ")
    own = [
        t
        for t in parts
        if isinstance(driving, str)
        and t.split(" ", 1)[0] in REGISTRY
        and REGISTRY[t.split(" ", 1)[0]].pillar == driving
    ]
    return f" ({own[0]})" if own else f"; strongest indicator {parts[0]}"


def _partners(n_anchors: int, n_library: int, radius_km: float) -> str:
    s = f"; {n_anchors} partner {'organisation' if n_anchors == 1 else 'organisations'} within {radius_km:g} km"
    if n_library:
        s += f" incl. {n_library} {'library' if n_library == 1 else 'libraries'}"
    return s


def _sentence(row: _Row, setting: _Setting) -> str:
    where = f"in {row.state}" if setting.per_state else "overall"
    chosen = "selected" if row.selected else "not selected"
    s = f"Ranked {row.rank} of {row.n_group} {where} ({chosen}, {setting.mode} mode): need {row.need:.0f}/100"
    if row.rank_lo == row.rank_lo and row.rank_hi == row.rank_hi:  # not NaN
        s += f" (index rank {int(row.rank_lo)}-{int(row.rank_hi)})"
    if isinstance(row.driving, str) and row.driving:
        s += f", driven by {row.driving}"
    s += _strongest(row.top, row.driving)
    s += _partners(row.n_anchors, row.n_library, setting.radius_km)
    if row.partner:
        s += f" ({row.partner})"
    s += f" and {row.reach:,.0f} {setting.unit} in need within reach"
    if isinstance(row.intervention, str) and row.intervention:
        s += f"; suggested: {row.intervention}"
    sens = row.sensitivity
    return s + (f". {sens[0].upper() + sens[1:]}." if sens else ".")


def _why(
    out: pd.DataFrame,
    n_per_group: np.ndarray,
    kinds: list[str],
    radius_km: float,
    mode: str,
    per_state: bool,
    *,
    people: str = "population",
) -> list[str]:
    """One readable sentence per candidate."""
    lib = out["n_library"].to_numpy() if "library" in kinds else np.zeros(len(out), dtype=int)
    setting = _Setting(
        mode, per_state, radius_km, "people" if people == "population" else "households"
    )
    cols = zip(
        out["rank"].tolist(),
        n_per_group.tolist(),
        out["state_name"].tolist(),
        out["need_score"].tolist(),
        out["rank_lo"].tolist(),
        out["rank_hi"].tolist(),
        out["driving_pillar"].tolist(),
        out["top_indicators"].tolist(),
        out["n_anchors"].tolist(),
        lib.tolist(),
        out["reach_need_population"].tolist(),
        out["intervention"].tolist(),
        out["sensitivity"].tolist(),
        out["selected"].tolist(),
        strict=True,
    )
    partner = _suggested(out)
    return [
        _sentence(_Row._make((*values, p)), setting)
        for values, p in zip(cols, partner, strict=True)
    ]


def _suggested(out: pd.DataFrame) -> list[str]:
    """``"suggested partner: Abingdon Library, library, 2.1 km"`` per candidate ("" if none)."""
    if "partner_name" not in out.columns:
        return [""] * len(out)
    return [
        f"suggested partner: {name}, {str(kind).replace('_', ' ')}, {km:.1f} km"
        if isinstance(name, str) and name
        else ""
        for name, kind, km in zip(
            out["partner_name"].tolist(),
            out["partner_kind"].tolist(),
            out["partner_km"].tolist(),
            strict=True,
        )
    ]
