"""Explanations: why each candidate ranks where it does, in words a program planner can check.

For each candidate: its driving pillar, its three strongest indicators in plain words with
the state's median beside them ("households without internet: 22% (state median 11%)"), how
far its rank moves when any one weight is halved (:func:`_sensitivity`), and a short
paragraph that puts it together with the focus area (:mod:`equity.placement.focus`), the
partners, the reach and how clear the choice is (:mod:`equity.placement.margins`):
:func:`_why`. Code names appear only in the machine-readable columns.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from equity.glossary import describe, indicator_label, pillar_title, rank_range_text
from equity.indicators import PILLARS
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


def _driving(cand: pd.DataFrame) -> pd.Series:
    """The driving pillar: given, or the highest pillar score."""
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
    return driving


@dataclass(frozen=True)
class Medians:
    """Yardsticks of each indicator: the median of the candidate's state and of all places."""

    state: dict[str, np.ndarray]
    national: dict[str, float]

    def of(self, name: str, i: int) -> tuple[float, float | None]:
        """(state median, national median or None) of indicator `name` for candidate `i`."""
        state = self.state[name][i] if name in self.state else np.nan
        return state, self.national.get(name)


def state_medians(cands: Candidates, names: list[str]) -> Medians:
    """The median of each indicator over the places of each candidate's state and over all.

    Medians are over all places (candidates or not): the yardsticks a reader compares the
    candidate's own value with. The national median is left out when the places lie in one
    state.
    """
    places, state = cands.places, cands.base["state_GEOID"].astype(str).to_numpy()
    cand_state = cands.rows["state_GEOID"].astype(str)
    several = len(set(state)) > 1
    by_state: dict[str, np.ndarray] = {}
    national: dict[str, float] = {}
    for name in names:
        if name not in places.columns:
            continue
        values = pd.to_numeric(places[name], errors="coerce").to_numpy(dtype=float)
        med = pd.Series(values).groupby(state).median()
        by_state[name] = cand_state.map(med).to_numpy(dtype=float)
        if several:
            national[name] = float(np.nanmedian(values)) if np.isfinite(values).any() else np.nan
    return Medians(by_state, national)


def _indicator_columns(cand: pd.DataFrame) -> tuple[list[str], str]:
    """The normalised indicator columns (``norm_``), else the pillar scores (``score_``)."""
    cols = [c for c in cand.columns if c.startswith("norm_")]
    if cols:
        return cols, "norm_"
    return [f"score_{p}" for p in PILLARS if f"score_{p}" in cand.columns], "score_"


def _pillar_parts(names: np.ndarray, values: np.ndarray, order: np.ndarray) -> list[str]:
    """``"Internet access 81/100; Affordability 64/100"``: the strongest pillar scores."""
    return [
        "; ".join(f"{pillar_title(names[j])} {row[j]:.0f}/100" for j in idx if np.isfinite(row[j]))
        for row, idx in zip(values, order, strict=True)
    ]


def _indicator_parts(
    cand: pd.DataFrame,
    names: np.ndarray,
    values: np.ndarray,
    order: np.ndarray,
    medians: Medians,
) -> list[str]:
    """``"households without internet: 31% (state median 12%); ..."``: the value and the
    state median (the label alone where the table lacks the raw value)."""
    raw = {
        n: pd.to_numeric(cand[n], errors="coerce").to_numpy(dtype=float) for n in names if n in cand
    }

    def part(i: int, name: str) -> str:
        if name not in raw or not np.isfinite(raw[name][i]):
            return indicator_label(name)
        state, national = medians.of(name, i)
        return describe(name, raw[name][i], state, national=national)

    return [
        "; ".join(part(i, str(names[j])) for j in idx if np.isfinite(row[j]))
        for i, (row, idx) in enumerate(zip(values, order, strict=True))
    ]


def _top_indicators(
    cand: pd.DataFrame, meta: dict[str, Any], medians: Medians | None = None
) -> list[str]:
    """The three indicators (or pillars) contributing most to each candidate's need, in words."""
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
    return _indicator_parts(cand, names, values, order, medians or Medians({}, {}))


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
        labels.append(pillar_title(p))
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
# the why paragraph
# --------------------------------------------------------------------------------------------

_LEVEL_NOUNS = {
    "street": "street cells",
    "blockgroup": "block groups",
    "tract": "tracts",
    "town": "towns",
    "county": "counties",
    "state": "states",
}


@dataclass(frozen=True)
class Setting:
    """What every paragraph of one ranking shares."""

    mode: str
    per_state: bool
    radius_km: float
    unit: str  # "people" or "households"
    places: str  # "counties", "towns", ... or "places"
    by_coverage: bool = False  # sites chosen by coverage, not by their own score


def setting_for(cand: pd.DataFrame, opts: Any, *, people: str) -> Setting:
    """The :class:`Setting` of a ranking: mode, grouping, radius, unit and the places' noun."""
    level = cand["level"].dropna().astype(str) if "level" in cand.columns else pd.Series([])
    noun = _LEVEL_NOUNS.get(level.iloc[0], "places") if len(level) else "places"
    unit = "people" if people == "population" else "households"
    coverage = opts.mode == "coverage" or (opts.mode == "robust" and opts.base_mode == "coverage")
    return Setting(opts.mode, opts.per_state, opts.radius_km, unit, noun, coverage)


def _plural(n: int, one: str, many: str) -> str:
    return f"{n:,} {one if n == 1 else many}"


def _partners_text(row: Mapping[str, Any], setting: Setting) -> str:
    """``"Partners: 4 organisations within 25 km, including 2 libraries; suggested ..."``."""
    n = int(row["n_anchors"])
    if n == 0:
        return f"No partner organisations within {setting.radius_km:g} km."
    s = f"Partners: {_plural(n, 'organisation', 'organisations')} within {setting.radius_km:g} km"
    n_lib = int(row.get("n_library", 0) or 0)
    if n_lib:
        s += f", including {_plural(n_lib, 'library', 'libraries')}"
    name = row.get("partner_name")
    if isinstance(name, str) and name:
        kind = str(row.get("partner_kind") or "").replace("_", " ")
        km = row.get("partner_km")
        where = f", {km:.1f} km" if isinstance(km, float) and np.isfinite(km) else ""
        s += f"; suggested partner: {name}, {kind}{where}"
    return s + "."


def _choice_text(row: Mapping[str, Any], *, coverage: bool) -> str:
    """Runner-up, lead, P(top 1) and the flags of a selected site ("" for the others)."""
    if not row["selected"]:
        return ""
    parts = []
    runner, lead = row.get("runner_up_place"), row.get("lead")
    if isinstance(runner, str) and runner:
        if not (isinstance(lead, float) and np.isfinite(lead)):
            parts.append(f"Runner-up: {runner}")
        elif lead >= 0:
            parts.append(f"Runner-up: {runner}, {lead:.1f} points behind on the combined score")
        else:
            parts.append(
                f"Best-ranked place not chosen: {runner}, {-lead:.1f} points ahead on the "
                "combined score"
                + (" (the chosen sites together reach more people in need)" if coverage else "")
            )
    p = row.get("p_top1")
    if isinstance(p, float) and np.isfinite(p) and not coverage:
        parts.append(f"P(top 1) {p:.2f}")
    text = "; ".join(parts) + "." if parts else ""
    note = row.get("note")
    if isinstance(note, str) and note:
        text += f" {note[0].upper()}{note[1:]}."
    return text.strip()


def _need_bracket(row: Mapping[str, Any]) -> str:
    """``" (90% interval 52-64; reliability high)"``, or the parts known ("" for none)."""
    lo, hi = row.get("equity_index_lo"), row.get("equity_index_hi")
    rel = row.get("reliability")
    parts = []
    if isinstance(lo, float) and isinstance(hi, float) and np.isfinite(lo) and np.isfinite(hi):
        parts.append(f"90% interval {lo:.0f}-{hi:.0f}")
    if isinstance(rel, str) and rel:
        parts.append(f"reliability {rel}")
    return f" ({'; '.join(parts)})" if parts else ""


def _rank_range_sentence(row: Mapping[str, Any]) -> str:
    """How far the rank moves under the weighting and normalisation variants ("" unknown)."""
    ranks = rank_range_text(row.get("rank_best"), row.get("rank_worst"))
    if not ranks:
        return ""
    if "-" in ranks:
        return f" Under other weightings and normalisations it ranks {ranks}."
    return f" It ranks {ranks} under every other weighting and normalisation tried."


def _paragraph(row: Mapping[str, Any], setting: Setting) -> str:
    """One candidate's explanation (see :func:`_why`)."""
    where = f"in {row['state_name']}" if setting.per_state else "overall"
    head = "Selected" if row["selected"] else "Not selected"
    s = (
        f"{head}: ranked {row['rank']} of {row['n_group']} {setting.places} {where} "
        f"({setting.mode} mode). Need {row['need_score']:.0f}/100"
    )
    s += _need_bracket(row) + "."
    area, reason = row.get("intervention"), row.get("focus_reason")
    if isinstance(area, str) and area:
        s += f" Focus area: {area}"
        s += f", because {reason}." if isinstance(reason, str) and reason else "."
    elif isinstance(reason, str) and reason:
        s += f" No focus area: {reason}."
    s += " " + _partners_text(row, setting)
    s += (
        f" Reach: {row['reach_need_population']:,.0f} {setting.unit} in need within "
        f"{setting.radius_km:g} km."
    )
    choice = _choice_text(row, coverage=setting.by_coverage)
    if choice:
        s += " " + choice
    sens = row.get("sensitivity")
    if isinstance(sens, str) and sens:
        s += f" {sens[0].upper()}{sens[1:]}."
    return s + _rank_range_sentence(row)


def _why(out: pd.DataFrame, n_per_group: np.ndarray, setting: Setting) -> list[str]:
    """A short paragraph per candidate: where it ranks and why, in plain words.

    Selected or not, rank among the places of its state, need with its 90% interval, the
    focus area and its reason, the partners (and the suggested one), the people in need
    within reach, for a selected site the runner-up, P(top 1) and any flag (close call,
    need below the state median), and what would change the rank.
    """
    table = pd.DataFrame(out).drop(columns="geometry", errors="ignore")
    records = table.assign(n_group=n_per_group).to_dict("records")
    return [_paragraph(r, setting) for r in records]
