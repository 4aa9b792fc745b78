"""Indicator registry: counts with their margins of error become rates, oriented towards need.

An *indicator* is a rate or value that says something about digital need in a place. Each one is
described once, in :data:`REGISTRY`, by an :class:`Indicator`: its pillar, its direction (does a
higher value mean more need or less), how it is computed (numerator and denominator counts, or a
value column), how its margin of error is obtained, and where the data come from. The index
(:mod:`equity.index`) reads the registry to normalise, weight and simulate indicators; users add
their own with :func:`register_indicator` (or in the TOML configuration, which calls it).

The two functions of the data flow are :func:`counts_from_acs` (ACS estimates and MOEs -> the
friendly count columns of ``docs/contracts.md``) and :func:`compute_indicators` (counts ->
``share_*`` proportions with ``moe_share_*``, and value indicators with their MOEs).

Margins of error follow the Census Bureau's approximations (*Understanding and Using American
Community Survey Data*, 2020, ch. 8): sums and differences of counts take the square root of the
sum of squared MOEs; a proportion :math:`p = X/Y` whose numerator is a subset of its denominator
takes :math:`\\sqrt{MOE_X^2 - p^2 MOE_Y^2}/Y`, falling back to the ratio formula
:math:`\\sqrt{MOE_X^2 + p^2 MOE_Y^2}/Y` when the radicand is negative. All MOEs are 90% (SE =
MOE / 1.645, :data:`equity.settings.moe_z`).

The MOE helpers are implemented privately here (small vectorised numpy functions) so this module
does not depend on :mod:`equity.geographies`.
"""

from equity.indicators.acs import (
    CODED_VALUES,
    MEDIAN_INCOME_CODES,
    coded_values,
    counts_from_acs,
)
from equity.indicators.catalogue import REGISTRY, get_indicator, register_indicator
from equity.indicators.compute import compute_indicators, count_moe, value_moe
from equity.indicators.model import (
    ACS_COUNTS,
    MOE_RULES,
    OOKLA_TEST_CV,
    PILLARS,
    Indicator,
)

__all__ = [
    "ACS_COUNTS",
    "CODED_VALUES",
    "MEDIAN_INCOME_CODES",
    "MOE_RULES",
    "OOKLA_TEST_CV",
    "PILLARS",
    "REGISTRY",
    "Indicator",
    "coded_values",
    "count_moe",
    "compute_indicators",
    "counts_from_acs",
    "get_indicator",
    "register_indicator",
    "value_moe",
]
