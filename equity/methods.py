"""What METHODS.md says: first for a reader who is not a statistician, then the technical appendix.

:func:`methods_context` turns what a run knows (its sources, parameters, index record,
candidates, warnings) into the values ``templates/methods.md.j2`` renders:

- who was selected in each state and why, which data were used, what is missing and what that
  means (the run's warnings first);
- the appendix: the indicators of each pillar with their sources and vintages, the weights
  actually used, the placement method in words, the coverage results as a table, the
  parameters as one table of values actually used (never a configured ``None`` beside the value
  the index chose, never raw JSON), and each licence once.

:func:`equity.export.write_methods` is the public entry point.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import Any

import jinja2
import numpy as np
import pandas as pd

from equity.glossary import glossary, pillar_title, rank_range_text
from equity.placement.focus import pillar_indicators

__all__ = ["methods_context", "methods_template"]

#: Entries of a placement record (``attrs["placement"]``) that are the run's bookkeeping or
#: have their own table, not parameters.
_NOT_PARAMETERS = frozenset(
    {
        "placement.coverage",
        "placement.n_places",
        "placement.n_candidates",
        "placement.removed_by_filter",
        "placement.largest_rank_move",
        "index.weights",  # by indicator: the table of indicators shows them
        "index.indicator_weights",
        "index.varying_indicators",
        "index.state_column",
    }
)
#: Placement-record keys -> the configuration option they report (the record wins: it is the
#: value used).
_SAME_AS = {
    "index.normalisation": "normalisation",
    "index.reference": "reference",
    "index.preset": "preset",
    "index.n_draws": "n_draws",
    "index.seed": "seed",
    "index.pillar_weights": "pillar_weights",
    "index.min_indicators_per_pillar": "min_indicators_per_pillar",
    "placement.mode": "mode",
    "placement.k": "k",
    "placement.radius_km": "radius_km",
    "placement.weights": "score_weights",
    "placement.anchor_weights": "partner_weights",
    "placement.decay": "partner_decay",
    "placement.listed_bonus": "listed_bonus",
    "placement.min_households": "min_households",
    "placement.min_spacing_km": "min_spacing_km",
    "placement.states": "states",
    "placement.existing_sites": "existing_sites",
    "placement.seed": "seed",
}
#: What the record-only parameters mean.
_RECORD_DOCS = {
    "index.aggregation": "how pillar scores combine into the index",
    "index.missing_pillars": "pillars without data (their weight redistributed)",
    "index.redistributed_weight": "weight each missing pillar passed to the others",
    "index.missing_indicators": "indicators of the preset without data here",
    "placement.base_mode": "robust mode: the selection repeated over the draws",
    "placement.per_state": "sites chosen within each state",
    "placement.min_population": "smallest candidate, people",
    "placement.keep_existing": "existing sites kept and counted towards k",
    "placement.n_draws": "uncertainty draws of the robust selection",
}
#: Run values that are not options of the configuration.
_EXTRA_DOCS = {"source": ("configuration file", "the TOML file read; none: the defaults")}
#: The attributions the Ookla and Microsoft licences require, with their licence; METHODS.md
#: says of each whether the run used it (the bundled default never has Ookla data).
_REQUIRED_ATTRIBUTION = {
    "ookla": "Speedtest® by Ookla® Global Fixed and Mobile Network Performance Maps. Based on "
    "analysis by Ookla of Speedtest Intelligence® data. Provided by Ookla and accessed from "
    "the Registry of Open Data on AWS (https://registry.opendata.aws/speedtest-global-performance). "
    "Licence: CC BY-NC-SA 4.0 (non-commercial, share-alike, attribution required).",
    "microsoft": "Microsoft Airband Initiative, US Broadband Usage Percentages "
    "(https://github.com/microsoft/USBroadbandUsagePercentages). Licence: Open Use of Data "
    "Agreement (O-UDA) v1.0.",
}


def md(value: Any) -> str:
    """Text for one Markdown table cell or line: pipes escaped, line breaks removed."""
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def plain(value: Any) -> str:
    """A parameter's value in words: numbers as %g, lists joined, mappings as "key value"."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float | np.floating):
        return f"{float(value):g}"
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {plain(v)}" for k, v in value.items()) if value else "none"
    if isinstance(value, list | tuple):
        return ", ".join(plain(v) for v in value) if value else "none"
    return str(value)


@functools.cache
def methods_template() -> jinja2.Template:
    """``templates/methods.md.j2``: Markdown, so no HTML escaping; ``md`` and ``num`` filters."""
    text = (resources.files("equity") / "templates" / "methods.md.j2").read_text(encoding="utf-8")
    env = jinja2.Environment(
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["md"] = md
    env.filters["num"] = plain
    return env.from_string(text)


# --------------------------------------------------------------------------------------------
# parameters: one table of values used
# --------------------------------------------------------------------------------------------


def _flatten(d: Mapping[str, Any], options: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """(dotted name, value) pairs: a stage's record (``index``, ``placement``) one level deep,
    a configuration option whole (its mapping is one value)."""
    items: list[tuple[str, Any]] = []
    for key, value in d.items():
        if isinstance(value, Mapping) and value and key not in options:
            items.extend((f"{key}.{k}", v) for k, v in value.items())
        else:
            items.append((str(key), value))
    return items


def _option_docs() -> dict[str, tuple[str, str]]:
    """Config attribute -> (TOML name, meaning)."""
    try:
        from equity.config import OPTIONS
    except ImportError:  # pragma: no cover - config is part of the package
        return {}
    return {attr: (o.name, o.doc) for attr, o in OPTIONS.items()}


def parameter_rows(parameters: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(name, value used, meaning) rows: each parameter once, with the value actually used.

    A configuration option the index or the placement also records (``normalisation`` beside
    ``index.normalisation``) is shown once, with the recorded value: a configured ``None``
    means "the preset's default", and the record says which default that was.

    Examples
    --------
    >>> rows = parameter_rows({"normalisation": None, "index": {"normalisation": "percentile"}})
    >>> [(n, v) for n, v, _ in rows]
    [('index.normalisation', 'percentile')]
    """
    docs = _option_docs()
    flat = _flatten(parameters, docs)
    recorded = {name: value for name, value in flat if "." in name}
    replaced = {attr for name, attr in _SAME_AS.items() if name in recorded}
    rows = []
    for name, value in flat:
        if name in replaced or name in _NOT_PARAMETERS:
            continue
        attr = _SAME_AS.get(name, name)
        toml, doc = docs.get(attr) or _EXTRA_DOCS.get(name) or (name, _RECORD_DOCS.get(name, ""))
        rows.append((toml, plain(value), doc))
    return list(dict.fromkeys(rows))


# --------------------------------------------------------------------------------------------
# the reader's part
# --------------------------------------------------------------------------------------------


def _selected(candidates: pd.DataFrame | None) -> pd.DataFrame:
    if candidates is None or "selected" not in candidates.columns:
        return pd.DataFrame()
    chosen = candidates[candidates["selected"].fillna(False).astype(bool)]
    return pd.DataFrame(chosen.drop(columns="geometry", errors="ignore"))


def _num(value: Any, fmt: str) -> str:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return ""
    return format(x, fmt) if np.isfinite(x) else ""


def selection_rows(candidates: pd.DataFrame | None) -> list[dict[str, str]]:
    """One row per selected site: state, place, focus area, need, chance, flags and why."""
    rows = []
    for rec in _selected(candidates).to_dict("records"):
        lo, hi = _num(rec.get("equity_index_lo"), ".0f"), _num(rec.get("equity_index_hi"), ".0f")
        need = _num(rec.get("need_score"), ".0f")
        flags = []
        if rec.get("close_call") is True:
            flags.append("close call")
        if rec.get("below_median_need") is True:
            flags.append("need below the state median")
        p = _num(rec.get("p_top1"), ".0%")
        rows.append(
            {
                "state": str(rec.get("state_name") or rec.get("state_GEOID") or ""),
                "place": str(rec.get("NAME") or rec.get("GEOID")),
                "focus": str(rec.get("intervention") or "none"),
                "need": f"{need} ({lo}-{hi})" if lo and hi else need,
                "chance": p,
                "runner_up": str(rec.get("runner_up_place") or ""),
                "reliability": str(rec.get("reliability") or ""),
                "ranks": rank_range_text(rec.get("rank_best"), rec.get("rank_worst")),
                "partner": str(rec.get("partner_name") or ""),
                "flags": ", ".join(flags),
                "why": str(rec.get("why") or ""),
            }
        )
    return rows


def _summary(candidates: pd.DataFrame | None, placement: Mapping[str, Any]) -> str:
    """One paragraph: how many sites, how they were chosen, how many are close calls."""
    chosen = _selected(candidates)
    if not len(chosen):
        return "No site was selected."
    mode = str(placement.get("mode") or "")
    how = {
        "top": "the best combined score of need, readiness and reach in each state",
        "coverage": "the sites that together reach the most people in need within the service radius",
        "robust": "the sites chosen most often when the choice is repeated over the uncertainty of the index",
    }.get(mode, "the selection mode's rule")
    n_states = chosen["state_GEOID"].nunique() if "state_GEOID" in chosen else 1
    text = (
        f"{len(chosen):,} {'site was' if len(chosen) == 1 else 'sites were'} selected in "
        f"{n_states:,} {'state' if n_states == 1 else 'states'} ({mode} mode: {how})."
    )
    if "close_call" in chosen:
        n = int(chosen["close_call"].fillna(False).astype(bool).sum())
        if n:
            text += (
                f" {n:,} {'is a close call' if n == 1 else 'are close calls'}: the runner-up could "
                "as well be first within the data's uncertainty; look at both before deciding."
            )
    if "below_median_need" in chosen:
        n = int(chosen["below_median_need"].fillna(False).astype(bool).sum())
        if n:
            text += (
                f" {n:,} {'has' if n == 1 else 'have'} less need than the median place of "
                "its state; the flags say why it was chosen anyway."
            )
    return text


def _data_rows(provenance: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, str]]:
    """(title, vintage, publisher) per source, in words."""
    rows = [
        (
            str(p.get("title") or p.get("source") or ""),
            str(p.get("vintage") or "not stated"),
            str(p.get("publisher") or ""),
        )
        for p in provenance
    ]
    return list(dict.fromkeys(rows))  # one line per source, however many files it gave


# --------------------------------------------------------------------------------------------
# the appendix
# --------------------------------------------------------------------------------------------


def indicator_rows(
    index: Mapping[str, Any], provenance: Sequence[Mapping[str, Any]]
) -> list[dict[str, str]]:
    """The glossary of the indicators the index used, by pillar (label, code, weight, source)."""
    used = pillar_indicators(pd.DataFrame(), index)
    names = [n for ns in used.values() for n in ns]
    if not names:
        return []
    weights = index.get("weights") if isinstance(index.get("weights"), Mapping) else None
    g = glossary(names, provenance, weights=weights)
    out = []
    for rec in g.to_dict("records"):
        w = rec.get("weight_in_pillar")
        out.append({k: str(v) for k, v in rec.items() if k != "weight_in_pillar"})
        out[-1]["weight"] = f"{w:.2f}" if isinstance(w, float) and np.isfinite(w) else ""
    return out


def weight_rows(
    index: Mapping[str, Any], weights: Mapping[str, float] | None
) -> list[tuple[str, str, str]]:
    """(pillar, weight used, note) per pillar, the missing ones with the weight they passed on."""
    used = dict(weights or index.get("pillar_weights") or {})
    missing = list(index.get("missing_pillars") or [])
    total = sum(float(v) for v in used.values()) or 1.0
    rows = [(pillar_title(p), f"{float(w) / total:.2f}", "") for p, w in used.items()]
    for p in missing:
        rows.append((pillar_title(p), "0", "no data: its weight went to the others"))
    return rows


def coverage_rows(placement: Mapping[str, Any], names: Mapping[str, str]) -> list[dict[str, str]]:
    """The coverage mode's result per state, in numbers rather than JSON."""
    rows = []
    for rec in placement.get("coverage") or []:
        total = float(rec.get("total_need_population") or 0.0)
        covered = float(rec.get("covered_need_population") or 0.0)
        greedy = float(rec.get("greedy_need_population") or 0.0)
        st = str(rec.get("state_GEOID"))
        rows.append(
            {
                "state": names.get(st, st),
                "k": str(rec.get("k")),
                "covered": f"{covered:,.0f}",
                "greedy": f"{greedy:,.0f}",
                "total": f"{total:,.0f}",
                "share": f"{covered / total:.0%}" if total > 0 else "",
            }
        )
    return rows


def licence_rows(provenance: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    """(licence, the sources under it) with each licence once, required attributions after."""
    by: dict[str, list[str]] = {}
    for p in provenance:
        key = str(p.get("licence") or "not stated").split(";")[0].strip()
        if key.lower().startswith("public domain"):  # with or without the source's own remark
            key = "Public domain (US federal government work)"
        by.setdefault(key, [])
        name = str(p.get("attribution") or p.get("title") or p.get("source"))
        if name not in by[key]:
            by[key].append(name)
    return [(lic, "; ".join(names)) for lic, names in by.items()]


def required_attributions(provenance: Sequence[Mapping[str, Any]]) -> list[str]:
    """The attribution texts of Ookla's and Microsoft's licences, each saying whether the run
    used that source."""
    text = " ".join(
        str(p.get(k, "")) for p in provenance for k in ("source", "title", "publisher", "licence")
    ).lower()
    used = {
        "ookla": "ookla" in text or "speedtest" in text,
        "microsoft": "microsoft" in text or "o-uda" in text,
    }
    return [
        f"{line} {'Used in this run.' if used[word] else 'Not used in this run.'}"
        for word, line in _REQUIRED_ATTRIBUTION.items()
    ]


def methods_context(
    *,
    version: str,
    command: str,
    provenance: Sequence[Mapping[str, Any]],
    parameters: Mapping[str, Any],
    weights: Mapping[str, float] | None,
    notes: Sequence[str],
    partners: Mapping[str, Any] | None,
    warnings: Sequence[str],
    index: Mapping[str, Any] | None,
    candidates: pd.DataFrame | None,
    run_date: str,
    source_columns: Sequence[str],
    title: str,
    street: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The values ``templates/methods.md.j2`` renders (see the module docstring)."""
    placement = (
        parameters.get("placement") if isinstance(parameters.get("placement"), Mapping) else {}
    )
    idx = dict(
        index
        or (parameters.get("index") if isinstance(parameters.get("index"), Mapping) else {})
        or {}
    )
    names = (
        {}
        if candidates is None or "state_name" not in candidates
        else dict(
            zip(
                candidates["state_GEOID"].astype(str),
                candidates["state_name"].astype(str),
                strict=True,
            )
        )
    )
    return {
        "title": title,
        "version": version,
        "run_date": run_date,
        "command": command,
        "warnings": list(warnings),
        "summary": _summary(candidates, placement or {}),
        "selection": selection_rows(candidates),
        "data": _data_rows(provenance),
        "notes": list(notes),
        "provenance": [dict(p) for p in provenance],
        "source_columns": list(source_columns),
        "indicators": indicator_rows(idx, provenance),
        "weights": weight_rows(idx, weights),
        "coverage": coverage_rows(placement or {}, names),
        "parameters": parameter_rows(parameters),
        "licences": licence_rows(provenance),
        "attributions": required_attributions(provenance),
        "partners": dict(partners) if partners else None,
        "street": dict(street) if street else None,
        "method_notes": [str(n) for n in idx.get("notes") or ()],
    }
