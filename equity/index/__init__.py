"""The digital-equity index: normalise, weight, aggregate, simulate and diagnose.

Indicators (:mod:`equity.indicators`) are normalised to [0, 1] oriented so that higher means
more need, averaged with weights into pillar scores (0-100) and the pillars into the index
(``equity_index``, 0-100, higher = more need). Margins of error become uncertainty intervals by
Monte Carlo: every indicator is drawn from its estimate and standard error (shares with the
Census proportion formula, bounded to [0, 1]), each draw normalised against a fixed reference
(the point estimates adjusted for their sampling error) and the index recomputed per draw,
vectorised over places and draws (no Python loop over places). The intervals are checked
against a simulation with a known truth (``benchmarks/bench_calibration.py``).

The options that define an index travel together as one :class:`IndexOptions`; the functions
also take them as keywords.

Presets (:data:`PRESETS`):

``techspark`` (default)
    The program's five pillars (access, devices and skills, affordability, education,
    transformation) with equal pillar weights and equal indicator weights within a pillar.
``ddi``
    The Purdue Digital Divide Index's variables and groups (Gallardo et al., Purdue Center for
    Regional Development, https://pcrd.purdue.edu/ddi): an infrastructure/adoption score
    (INFA: broadband availability, no computing device, no internet access, download and upload
    speed) and a socioeconomic score (SE: age 65+, no high-school diploma, poverty,
    disability), each 0-100, averaged; equal weights and min-max scaling (the differences from
    Purdue's method: :data:`equity.index.notes.PRESET_DIFFERENCES`).
``svi``
    The CDC/ATSDR Social Vulnerability Index, computed exactly as CDC does from the ``EP_*``
    inputs (:func:`svi`).

Normalisations (:data:`NORMALISATIONS`): ``percentile`` (CDC's PERCENTRANK.INC, rounded to 4
decimals), ``zscore`` (mapped to [0, 1] by the standard normal CDF), ``minmax`` and ``rank``
(average rank for ties, scaled to [0, 1]). The reference region is all places (``nation``) or
each state separately (``state``).

The package, in the order of the data flow:

``presets``
    :class:`Preset`, :data:`PRESETS` and the pillars' :data:`INTERVENTIONS`.
``normalise``
    :func:`normalise` and the row kernel the draws share.
``model``
    :class:`IndexOptions`; a preset resolved against a table; weights, aggregation, point index.
``_mc_draws``, ``_mc_reference``, ``_mc_ranks``, ``montecarlo``
    The Monte Carlo engine: what varies and its draws; normalising draws against the fixed
    reference; in-state ranks of the draws; the simulation and its intervals.
``compute``
    :func:`compute_index` and :func:`simulate_index`.
``diagnosis``
    Driving pillar, intervention and reliability of each place.
``sensitivity``
    :func:`sensitivity`: rank stability under other weights and normalisations;
    :func:`index_variants`: the index under each normalisation and halved pillar weight.
``notes``
    :func:`index_notes`: the method and data notes of an index for the methods card.
``svi``
    :func:`svi`: the CDC/ATSDR SVI.
``files``
    :func:`run_index_file`: the ``equity index`` command's table in, table out.
"""

from __future__ import annotations

# Private kernels imported ``as`` themselves stay importable from the package, as before the
# split: the tests exercise them directly.
import sys
import types
from typing import Any

from equity.index import montecarlo
from equity.index._mc_draws import _std_normal as _std_normal
from equity.index._mc_ranks import _draw_rank_desc as _draw_rank_desc
from equity.index._mc_ranks import _layout as _layout
from equity.index._mc_ranks import _top1_counts as _top1_counts
from equity.index.compute import compute_index, simulate_index
from equity.index.diagnosis import RELIABILITY_CV, RELIABILITY_SCALE
from equity.index.files import run_index_file
from equity.index.model import AGGREGATIONS, MIN_PILLAR_WEIGHT_SHARE, IndexOptions
from equity.index.montecarlo import _draw_quantiles as _draw_quantiles
from equity.index.normalise import NORMALISATIONS, REFERENCES, normalise
from equity.index.notes import PRESET_DIFFERENCES, index_notes
from equity.index.presets import INTERVENTIONS, PRESETS, Preset
from equity.index.sensitivity import index_variants, sensitivity
from equity.index.svi import SVI_THEMES, svi
from equity.ranking import group_starts as _segments  # noqa: F401
from equity.ranking import percent_rank_inc

__all__ = [
    "AGGREGATIONS",
    "INTERVENTIONS",
    "MIN_PILLAR_WEIGHT_SHARE",
    "NORMALISATIONS",
    "PRESETS",
    "PRESET_DIFFERENCES",
    "REFERENCES",
    "RELIABILITY_CV",
    "RELIABILITY_SCALE",
    "SVI_THEMES",
    "IndexOptions",
    "Preset",
    "compute_index",
    "index_notes",
    "index_variants",
    "normalise",
    "percent_rank_inc",
    "run_index_file",
    "sensitivity",
    "simulate_index",
    "svi",
]


def _knob(module: types.ModuleType, name: str) -> property:
    """A package attribute that reads and sets the global `name` of `module`."""

    def get(self: types.ModuleType) -> Any:
        return getattr(module, name)

    def set_(self: types.ModuleType, value: Any) -> None:
        setattr(module, name, value)

    return property(get, set_, doc=f"{module.__name__}.{name}")


class _IndexPackage(types.ModuleType):
    """``equity.index``, whose Monte Carlo tunables live in the submodules that read them.

    Reading ``equity.index.MC_THREADS`` reads :data:`equity.index.montecarlo.MC_THREADS`, and
    setting it (also with ``monkeypatch.setattr(equity.index, ...)``) sets the submodule's
    global, as it set the one module's global before the package was split.
    """

    MC_THREADS = _knob(montecarlo, "MC_THREADS")


sys.modules[__name__].__class__ = _IndexPackage
