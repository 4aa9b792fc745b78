"""What an indicator is: :class:`Indicator`, the pillars, MOE rules and units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from equity.errors import ChoiceError, ConfigError, check_choice

#: Pillars of the index, from the program's focus areas (``docs/contracts.md``).
PILLARS: tuple[str, ...] = (
    "access",
    "devices_skills",
    "affordability",
    "education",
    "transformation",
)

#: How an indicator's margin of error is obtained (see :class:`Indicator`).
MOE_RULES: dict[str, str] = {
    "proportion": "Census proportion formula from the counts' MOEs (ratio formula if the root is negative)",
    "ratio": "Census ratio formula from the counts' MOEs (numerator not a subset of the denominator)",
    "value": "published MOE of the value column (``moe_<value>``)",
    "ookla_mean": "SE = OOKLA_TEST_CV * mean / sqrt(tests) for a mean of speed tests",
    "binomial": "SE = sqrt(p (1 - p) / tests) for a share of speed tests",
    "none": "no sampling error (administrative counts, modelled estimates without error)",
}

#: Assumed coefficient of variation of a single speed test (sd / mean). Ookla's open tiles give the
#: mean speed and the number of tests but not their spread; speed-test distributions are right
#: skewed with a standard deviation of the order of their mean, so a mean of ``t`` tests gets
#: ``SE = OOKLA_TEST_CV * mean / sqrt(t)``. An assumption, stated in every methods card.
OOKLA_TEST_CV: float = 1.0

#: ACS definitions of the count columns: name -> (variables added, variables subtracted).
ACS_COUNTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "population": (("B01003_001",), ()),
    "households": (("B11001_001",), ()),
    "hh_internet_universe": (("B28002_001",), ()),
    "hh_no_internet": (("B28002_013",), ()),
    "hh_broadband": (("B28002_004",), ()),
    "hh_cable_fiber_dsl": (("B28002_007",), ()),
    "hh_computer_universe": (("B28001_001",), ()),
    "hh_no_computer": (("B28001_001",), ("B28001_002",)),
    "pop_poverty_universe": (("C17002_001",), ()),
    "pop_below_poverty": (("C17002_002", "C17002_003"), ()),
    "pop_age_universe": (("B01001_001",), ()),
    "pop_65_plus": (
        tuple(f"B01001_{i:03d}" for i in range(20, 26))
        + tuple(f"B01001_{i:03d}" for i in range(44, 50)),
        (),
    ),
    "pop_25_plus": (("B15003_001",), ()),
    "pop_no_hs_diploma": (tuple(f"B15003_{i:03d}" for i in range(2, 17)), ()),
    "pop_disability_universe": (("B18101_001",), ()),
    "pop_with_disability": (
        tuple(f"B18101_{i:03d}" for i in (4, 7, 10, 13, 16, 19, 23, 26, 29, 32, 35, 38)),
        (),
    ),
    "hh_language_universe": (("C16002_001",), ()),
    "hh_limited_english": (("C16002_004", "C16002_007", "C16002_010", "C16002_013"), ()),
    "median_household_income": (("B19013_001",), ()),
}

_UNITS = ("share", "mbps", "usd", "per_1k", "per_10k", "km", "value")


@dataclass(frozen=True)
class Indicator:
    """Definition of one indicator.

    Parameters
    ----------
    name
        Column name of the indicator (``share_*`` for proportions).
    pillar
        Pillar it belongs to by default (one of :data:`PILLARS`, or a user pillar).
    direction
        ``+1`` if a higher value means more need, ``-1`` if a lower value means more need.
    numerator
        Count columns summed into the numerator (count indicators).
    denominator
        Count column of the denominator (count indicators).
    complement
        If true the indicator is ``1 - numerator / denominator`` (e.g. households *without*
        broadband from households with it); its MOE equals that of the proportion.
    scale
        Multiplier of the ratio (1 for shares, 1000 for "per 1,000 people").
    value
        Column holding the value (value indicators); defaults to `name`.
    moe
        Column holding the value's MOE (rule ``"value"``); defaults to ``moe_<value>``.
    tests
        Column holding the number of speed tests (rules ``"ookla_mean"``, ``"binomial"``).
    moe_rule
        One of :data:`MOE_RULES`.
    source
        Short id of the data source (``"acs"``, ``"ookla"``, ``"microsoft"``, ``"cbp"``, ...).
    description
        One line for the methods card.
    unit
        ``"share"`` (0-1), ``"mbps"``, ``"usd"``, ``"per_1k"``, ``"per_10k"``, ``"km"`` or ``"value"``.
    stands_in_for
        Name of the indicator this one replaces where that one cannot be computed: the same
        concept from a source that lacks its universe or table (e.g. the SVI's disability
        count over the total population for ACS B18101's share). An index uses the original
        when a table has both, and :func:`compute_indicators` then leaves the stand-in out.
    label
        What a person reads instead of the column name ("households without internet");
        lower case, so it fits inside a sentence. Default: `name` with spaces.
    weak_proxy
        The indicator stands for its pillar only loosely (distance to a library for
        education): a pillar resting on weak proxies alone cannot drive a recommendation
        (:mod:`equity.placement.focus`).
    """

    name: str
    pillar: str
    direction: int
    numerator: tuple[str, ...] = ()
    denominator: str | None = None
    complement: bool = False
    scale: float = 1.0
    value: str | None = None
    moe: str | None = None
    tests: str | None = None
    moe_rule: str = "proportion"
    source: str = ""
    description: str = ""
    unit: str = "share"
    stands_in_for: str | None = None
    label: str = ""
    weak_proxy: bool = False

    def __post_init__(self) -> None:
        problems = []
        if self.stands_in_for == self.name:
            problems.append("an indicator cannot stand in for itself")
        if self.direction not in (1, -1):
            problems.append(f"direction must be +1 or -1, got {self.direction!r}")
        for kind, value, valid in (
            ("moe_rule", self.moe_rule, MOE_RULES),
            ("unit", self.unit, _UNITS),
        ):
            try:
                check_choice(kind, value, valid)
            except ChoiceError as exc:  # collected: every problem is reported at once
                problems.append(str(exc))
        if bool(self.numerator) != bool(self.denominator):
            problems.append("a count indicator needs both numerator and denominator")
        if self.numerator and self.moe_rule not in ("proportion", "ratio", "none"):
            problems.append(
                f"a count indicator takes moe_rule proportion/ratio/none, got {self.moe_rule!r}"
            )
        if not self.numerator and self.moe_rule in ("proportion", "ratio"):
            problems.append(f"a value indicator cannot take moe_rule {self.moe_rule!r}")
        if self.moe_rule in ("ookla_mean", "binomial") and not self.tests:
            problems.append(f"moe_rule {self.moe_rule!r} needs the `tests` column")
        if problems:
            raise ConfigError(f"indicator {self.name!r}: " + "; ".join(problems))

    @property
    def plain_label(self) -> str:
        """`label`, or the name without its prefix and underscores when none was given."""
        return self.label or self.name.removeprefix("share_").replace("_", " ")

    @property
    def is_count(self) -> bool:
        """True if computed from numerator and denominator counts."""
        return bool(self.numerator)

    @property
    def value_column(self) -> str:
        """Column of a value indicator (`value`, defaulting to `name`)."""
        return self.value or self.name

    @property
    def moe_column(self) -> str:
        """Column of the indicator's MOE once computed (``moe_<name>``)."""
        return f"moe_{self.name}"

    @property
    def inputs(self) -> tuple[str, ...]:
        """Columns the indicator is computed from."""
        if self.numerator and self.denominator:  # a count indicator
            return (*self.numerator, self.denominator)
        return (self.value_column,)


def _share(
    name: str,
    pillar: str,
    num: str | tuple[str, ...],
    den: str,
    description: str,
    *,
    direction: int = 1,
    complement: bool = False,
    source: str = "acs",
    stands_in_for: str | None = None,
    label: str = "",
) -> Indicator:
    numerator = (num,) if isinstance(num, str) else num
    return Indicator(
        name=name,
        pillar=pillar,
        direction=direction,
        numerator=numerator,
        denominator=den,
        complement=complement,
        moe_rule="proportion",
        source=source,
        description=description,
        unit="share",
        stands_in_for=stands_in_for,
        label=label,
    )


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
