"""The warnings of a run, in one place: collected while it runs, each said once.

A run can be right and still mislead if nobody sees what it had to make do with: a pillar
without data, a fallback (area weights instead of housing units), towns the program generated
rather than the Census's, data that are out of date. :class:`RunWarnings` collects them in the
order they arise, keeps each once, and is what the console, the top of METHODS.md and the top
of every map show.

Two ways in: :func:`run_warnings` derives them from the level tables, the index's records and
the provenance once the levels are built; :meth:`RunWarnings.capture` records every warning the
stages log (``logging.WARNING`` on the ``equity`` loggers) while the run is under way.

Examples
--------
>>> w = RunWarnings()
>>> w.add("stale", "Availability is from 2019.")
>>> w.add("stale", "Availability is from 2019.")
>>> w.lines()
['Availability is from 2019.']
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from equity.glossary import STALE, pillar_title, source_record
from equity.indicators import REGISTRY
from equity.placement.focus import weak_pillars

__all__ = ["RunWarning", "RunWarnings", "run_warnings"]

#: Kinds of warning, in the order they are listed.
KINDS: dict[str, str] = {
    "missing": "missing data",
    "proxy": "weak proxy",
    "fallback": "fallback",
    "generated": "generated places",
    "stale": "out-of-date data",
    "logged": "during the run",
}


@dataclass(frozen=True)
class RunWarning:
    """One warning: its kind (a key of :data:`KINDS`), one or two plain sentences, and the
    words a note on the same subject contains (:meth:`RunWarnings.absorb`)."""

    kind: str
    text: str
    topic: tuple[str, ...] = ()
    then: str = ""  # what it means, kept when a note's words replace the text


class RunWarnings:
    """The run's warnings, in order of arrival (then by kind when listed), each once."""

    def __init__(self, items: Sequence[RunWarning] = ()) -> None:
        self._items: dict[str, RunWarning] = {}
        self.extend(items)

    def add(self, kind: str, text: str, topic: tuple[str, ...] = (), then: str = "") -> None:
        """Add a warning unless the same text is already there."""
        text = " ".join(str(text).split())
        if text and text not in self._items:
            self._items[text] = RunWarning(kind if kind in KINDS else "logged", text, topic, then)

    def extend(self, items: Sequence[RunWarning]) -> None:
        """Add several warnings."""
        for item in items:
            self.add(item.kind, item.text, item.topic, item.then)

    def absorb(self, notes: Sequence[str]) -> list[str]:
        """Notes of the data that say what a warning says replace its words (they know more
        of the source), followed by what it means for the results: each subject is said once.
        Returns the other notes.

        Examples
        --------
        >>> w = RunWarnings([RunWarning("proxy", "Education is a proxy.", ("education", "proxy"),
        ...                             "It cannot decide a focus area.")])
        >>> w.absorb(["Education: library distance only, a weak proxy.", "Alaska: areas summed."])
        ['Alaska: areas summed.']
        >>> w.lines()
        ['Education: library distance only, a weak proxy. It cannot decide a focus area.']
        """
        rest = []
        for note in notes:
            low = str(note).lower()
            match = next(
                (w for w in self._items.values() if w.topic and all(t in low for t in w.topic)),
                None,
            )
            if match is None:
                rest.append(note)
                continue
            joined = RunWarning(match.kind, " ".join(f"{note} {match.then}".split()))
            self._items = {  # in the warning's place
                (joined.text if k == match.text else k): (joined if k == match.text else v)
                for k, v in self._items.items()
            }
        return rest

    def items(self) -> list[RunWarning]:
        """The warnings, grouped by kind in the order of :data:`KINDS`."""
        order = {k: i for i, k in enumerate(KINDS)}
        return sorted(self._items.values(), key=lambda w: order[w.kind])

    def lines(self) -> list[str]:
        """The warnings' texts (see :meth:`items`)."""
        return [w.text for w in self.items()]

    def __len__(self) -> int:
        return len(self._items)

    def __bool__(self) -> bool:
        return bool(self._items)

    @contextlib.contextmanager
    def capture(self, logger: str = "equity") -> Iterator[RunWarnings]:
        """Record the warnings logged under `logger` while the block runs (and not print them
        twice: they are shown with the others)."""
        handler = _Collector(self)
        log = logging.getLogger(logger)
        log.addHandler(handler)
        try:
            yield self
        finally:
            log.removeHandler(handler)


class _Collector(logging.Handler):
    def __init__(self, target: RunWarnings) -> None:
        super().__init__(level=logging.WARNING)
        self.target = target

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.target.add("logged", record.getMessage())
        except Exception:  # a warning must never break the run
            self.handleError(record)


# --------------------------------------------------------------------------------------------
# what the level tables and records say
# --------------------------------------------------------------------------------------------


def _missing_pillars(metas: Mapping[str, Mapping[str, Any]]) -> list[RunWarning]:
    """One warning per pillar without data, naming the levels."""
    levels: dict[str, list[str]] = {}
    for level, meta in metas.items():
        for pillar in meta.get("missing_pillars") or ():
            levels.setdefault(str(pillar), []).append(level)
    out = []
    for pillar, where in levels.items():
        at = ", ".join(where)
        out.append(
            RunWarning(
                "missing",
                f"No data for the {pillar_title(pillar)} pillar ({at} level): its weight is "
                "shared among the other pillars, so need here leaves it out.",
                (f"{pillar} pillar", "missing"),
                f"Need ({at} level) leaves out {pillar_title(pillar)}.",
            )
        )
    return out


def _weak_proxies(metas: Mapping[str, Mapping[str, Any]]) -> list[RunWarning]:
    seen: dict[str, str] = {}
    for meta in metas.values():
        weights = meta.get("weights")
        if isinstance(weights, Mapping) and all(isinstance(v, Mapping) for v in weights.values()):
            for pillar, words in weak_pillars({p: list(w) for p, w in weights.items()}).items():
                seen.setdefault(pillar, words)
    return [
        RunWarning(
            "proxy",
            f"The {pillar_title(p)} pillar {words}: it counts in the index but cannot decide a "
            "place's focus area.",
            (f"{p} pillar", "weak proxy"),
            "It counts in the index but cannot decide a place's focus area.",
        )
        for p, words in seen.items()
    ]


def _partial_index(metas: Mapping[str, Mapping[str, Any]]) -> list[RunWarning]:
    out = []
    for level, meta in metas.items():
        n = int(meta.get("n_missing_index") or 0)
        if n:
            out.append(
                RunWarning(
                    "missing",
                    f"{n:,} {level} places have no index: the pillars with data there carry "
                    "half the weight or less.",
                )
            )
    return out


def _street_fallback(street: pd.DataFrame | None) -> list[RunWarning]:
    """Street cells whose block-group counts were spread by area, not by housing or devices."""
    if street is None or "weight_method" not in street.columns or not len(street):
        return []
    area = street["weight_method"].astype("string").fillna("") == "area"
    if not area.any():
        return []
    hh = pd.to_numeric(street.get("households"), errors="coerce")
    share = (
        f" ({float(hh[area].sum()) / float(hh.sum()):.1%} of households)"
        if hh is not None and float(hh.sum()) > 0
        else ""
    )
    return [
        RunWarning(
            "fallback",
            f"Street level: {int(area.sum()):,} of {len(street):,} cells{share} received their "
            "block group's counts by area, for want of housing-unit or Ookla device weights: "
            "there the street map spreads the block group's average evenly.",
            ("street level", "area weights"),
        )
    ]


def _town_warnings(towns: pd.DataFrame | None, info: Mapping[str, Any]) -> list[RunWarning]:
    out = []
    methods = info.get("weight_methods") or {}
    n_area = int(methods.get("area", 0) or 0)
    if n_area:
        pieces = "1 block-group piece was" if n_area == 1 else f"{n_area:,} block-group pieces were"
        out.append(
            RunWarning(
                "fallback",
                f"Town level: {pieces} shared among towns by area, for want of household weights.",
            )
        )
    if towns is not None and "town_type" in towns.columns:
        n = int((towns["town_type"].astype("string") == "region").sum())
        if n:
            out.append(
                RunWarning(
                    "generated",
                    f"{n:,} towns are generated regions (block groups grouped and named after their "
                    "largest place), not Census places: names and outlines are approximations.",
                )
            )
    return out


def _stale(
    metas: Mapping[str, Mapping[str, Any]], provenance: Sequence[Mapping[str, Any]]
) -> list[RunWarning]:
    used = {
        n
        for meta in metas.values()
        for ws in (meta.get("weights") or {}).values()
        if isinstance(ws, Mapping)
        for n in ws
    }
    out = [
        RunWarning("stale", f"{text[0].upper()}{text[1:]}.", (n.split("_")[-1], "stale"))
        for n, text in STALE.items()
        if n in used
    ]
    covered = {
        id(rec)
        for n in used & set(STALE)
        if n in REGISTRY and (rec := source_record(REGISTRY[n].source, provenance)) is not None
    }
    for rec in provenance:
        if "stale" in str(rec.get("vintage") or "").lower() and id(rec) not in covered:
            name = rec.get("title") or rec.get("source")
            out.append(RunWarning("stale", f"{name}: out of date ({rec.get('vintage')})."))
    return out


def run_warnings(
    levels: Mapping[str, pd.DataFrame],
    *,
    index_meta: Mapping[str, Mapping[str, Any]],
    provenance: Sequence[Mapping[str, Any]] = (),
    towns: Mapping[str, Any] | None = None,
) -> list[RunWarning]:
    """What a run had to make do with, from its level tables and records.

    Parameters
    ----------
    levels
        The level tables (a street table's ``weight_method`` and a town table's
        ``town_type`` are read).
    index_meta
        Level -> the index's record (``attrs["index"]``: ``missing_pillars``, ``weights``,
        ``n_missing_index``).
    provenance
        The run's provenance records (a vintage marked "stale").
    towns
        The town level's record (``weight_methods``).

    Returns
    -------
    list of RunWarning
        Missing pillars, pillars resting on weak proxies, places without an index, area
        fallbacks, generated towns and out-of-date data.
    """
    return [
        *_missing_pillars(index_meta),
        *_partial_index(index_meta),
        *_weak_proxies(index_meta),
        *_street_fallback(levels.get("street")),
        *_town_warnings(levels.get("town"), towns or {}),
        *_stale(index_meta, provenance),
    ]
