"""The digital-equity index: normalise, weight, aggregate, simulate and diagnose.

Indicators (:mod:`equity.indicators`) are normalised to [0, 1] oriented so that higher means
more need, averaged with weights into pillar scores (0-100) and the pillars into the index
(``equity_index``, 0-100, higher = more need). Margins of error become uncertainty intervals by
Monte Carlo: counts are drawn from their MOEs, rates recomputed, indicators renormalised and the
index recomputed per draw, vectorised over places and draws (no Python loop over places). The
point estimate is always ranked exactly; the draws of a table with more than
:data:`BINNED_RANK_MIN_PLACES` places (nation reference) are percentile-ranked by histogram,
within a documented, recorded error bound (:func:`compute_index`, Notes).

The options that define an index travel together as one :class:`IndexOptions`; the functions
also take them as keywords.

Presets (:data:`PRESETS`):

``techspark`` (default)
    The program's five pillars (access, devices and skills, affordability, education,
    transformation) with equal pillar weights and equal indicator weights within a pillar.
``ddi``
    A Purdue Digital Divide Index style index: an infrastructure/adoption score (INFA) and a
    socioeconomic score (SE), each 0-100, averaged. Purdue (Gallardo et al., Purdue Center for
    Regional Development, https://pcrd.purdue.edu/ddi) builds each score from standardised
    variables weighted by factor loadings; here the published variable lists are used with
    equal weights and min-max scaling, so scores *approximate* the published ones.
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
``_mc_draws``, ``_mc_ranks``, ``montecarlo``
    The Monte Carlo engine: what varies and its draws; ranking the draws; the simulation and
    its intervals.
``compute``
    :func:`compute_index` and :func:`simulate_index`.
``diagnosis``
    Driving pillar, intervention and reliability of each place.
``sensitivity``
    :func:`sensitivity`: rank stability under other weights and normalisations.
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

from equity.index import _mc_ranks, montecarlo
from equity.index._mc_draws import _std_normal as _std_normal
from equity.index._mc_ranks import _binned_ranks as _binned_ranks
from equity.index._mc_ranks import _draw_percentile as _draw_percentile
from equity.index._mc_ranks import _draw_percentile_bound as _draw_percentile_bound
from equity.index._mc_ranks import _draw_rank_desc as _draw_rank_desc
from equity.index._mc_ranks import _draw_rank_desc_bound as _draw_rank_desc_bound
from equity.index._mc_ranks import _layout as _layout
from equity.index._mc_ranks import _sqrt_spacing as _sqrt_spacing
from equity.index._mc_ranks import _top1_counts as _top1_counts
from equity.index.compute import compute_index, simulate_index
from equity.index.diagnosis import RELIABILITY_CV
from equity.index.files import run_index_file
from equity.index.model import AGGREGATIONS, MIN_PILLAR_WEIGHT_SHARE, IndexOptions
from equity.index.montecarlo import _draw_quantiles as _draw_quantiles
from equity.index.normalise import NORMALISATIONS, REFERENCES, normalise
from equity.index.presets import INTERVENTIONS, PRESETS, Preset
from equity.index.sensitivity import sensitivity
from equity.index.svi import SVI_THEMES, svi
from equity.ranking import group_starts as _segments  # noqa: F401
from equity.ranking import percent_rank_inc

__all__ = [
    "AGGREGATIONS",
    "INTERVENTIONS",
    "MIN_PILLAR_WEIGHT_SHARE",
    "NORMALISATIONS",
    "PRESETS",
    "REFERENCES",
    "RELIABILITY_CV",
    "SVI_THEMES",
    "IndexOptions",
    "Preset",
    "compute_index",
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
    global, as it set the one module's global before the package was split. Likewise
    ``BINNED_RANK_MIN_PLACES`` and ``RANK_BINS`` (:mod:`equity.index._mc_ranks`).
    """

    MC_THREADS = _knob(montecarlo, "MC_THREADS")
    BINNED_RANK_MIN_PLACES = _knob(_mc_ranks, "BINNED_RANK_MIN_PLACES")
    RANK_BINS = _knob(_mc_ranks, "RANK_BINS")


sys.modules[__name__].__class__ = _IndexPackage
