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

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from equity import _moe, settings
from equity.errors import ChoiceError, ConfigError, SchemaError, check_choice

__all__ = [
    "ACS_COUNTS",
    "MOE_RULES",
    "OOKLA_TEST_CV",
    "PILLARS",
    "REGISTRY",
    "Indicator",
    "compute_indicators",
    "counts_from_acs",
    "get_indicator",
    "register_indicator",
]

logger = logging.getLogger(__name__)

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
    )


_BUILTIN: list[Indicator] = [
    # access
    _share(
        "share_no_internet",
        "access",
        "hh_no_internet",
        "hh_internet_universe",
        "Households with no internet access (ACS B28002_013 / B28002_001)",
    ),
    _share(
        "share_no_broadband",
        "access",
        "hh_broadband",
        "hh_internet_universe",
        "Households without a broadband subscription of any type (1 - B28002_004 / B28002_001)",
        complement=True,
    ),
    _share(
        "share_no_wired_broadband",
        "access",
        "hh_cable_fiber_dsl",
        "hh_internet_universe",
        "Households without cable, fibre or DSL (1 - B28002_007 / B28002_001)",
        complement=True,
    ),
    Indicator(
        "download_mbps",
        "access",
        -1,
        moe_rule="ookla_mean",
        tests="ookla_tests",
        source="ookla",
        unit="mbps",
        description="Mean measured fixed download speed (Ookla tests, test-weighted)",
    ),
    Indicator(
        "upload_mbps",
        "access",
        -1,
        moe_rule="ookla_mean",
        tests="ookla_tests",
        source="ookla",
        unit="mbps",
        description="Mean measured fixed upload speed (Ookla tests, test-weighted)",
    ),
    Indicator(
        "share_tests_below_25_3",
        "access",
        1,
        moe_rule="binomial",
        tests="ookla_tests",
        source="ookla",
        unit="share",
        description="Share of Ookla fixed tests below 25/3 Mbps",
    ),
    Indicator(
        "share_locations_unserved",
        "access",
        1,
        numerator=("n_unserved",),
        denominator="n_locations",
        moe_rule="none",
        source="fcc",
        unit="share",
        description="Broadband-serviceable locations unserved: no reliable offer of 25/3 Mbps "
        "(FCC BDC, BEAD definitions)",
    ),
    Indicator(
        "share_locations_below_100_20",
        "access",
        1,
        numerator=("n_unserved", "n_underserved"),
        denominator="n_locations",
        moe_rule="none",
        source="fcc",
        unit="share",
        description="Locations unserved or underserved: no reliable offer of 100/20 Mbps "
        "(FCC BDC, BEAD definitions)",
    ),
    Indicator(
        "broadband_usage",
        "access",
        -1,
        moe_rule="none",
        source="microsoft",
        unit="share",
        description="Share of people using the internet at >= 25 Mbps (Microsoft, county; context)",
    ),
    Indicator(
        "broadband_availability",
        "access",
        -1,
        moe_rule="none",
        source="microsoft",
        unit="share",
        description="Share of people with 25/3 Mbps fixed broadband available (FCC via Microsoft, county)",
    ),
    # devices and skills
    _share(
        "share_no_computer",
        "devices_skills",
        "hh_no_computer",
        "hh_computer_universe",
        "Households with no computing device (B28001_011 / B28001_001, or 1 - B28001_002 / "
        "B28001_001 with the MOE of that proportion)",
    ),
    _share(
        "share_65_plus",
        "devices_skills",
        "pop_65_plus",
        "pop_age_universe",
        "People aged 65 and over (B01001)",
    ),
    _share(
        "share_no_hs_diploma",
        "devices_skills",
        "pop_no_hs_diploma",
        "pop_25_plus",
        "People 25+ without a high-school diploma (B15003_002..016 / B15003_001)",
    ),
    _share(
        "share_with_disability",
        "devices_skills",
        "pop_with_disability",
        "pop_disability_universe",
        "People with a disability (B18101)",
    ),
    _share(
        "share_limited_english",
        "devices_skills",
        "hh_limited_english",
        "hh_language_universe",
        "Limited-English-speaking households (C16002)",
    ),
    # affordability
    Indicator(
        "median_household_income",
        "affordability",
        -1,
        moe_rule="value",
        source="acs",
        unit="usd",
        description="Median household income, USD (B19013_001)",
    ),
    _share(
        "share_below_poverty",
        "affordability",
        "pop_below_poverty",
        "pop_poverty_universe",
        "People with income below the poverty line (C17002_002 + _003 / C17002_001)",
    ),
    # CDC/ATSDR SVI county counts (ACS 5-year, equity.sources.counts_from_svi): where the
    # SVI's definition or universe differs from the ACS tables above, its own indicator
    _share(
        "share_no_internet_subscription",
        "access",
        "hh_no_internet_subscription",
        "households",
        "Households without an internet subscription, dial-up and cellular plans counting as "
        "one (ACS S2801 via CDC/ATSDR SVI E_NOINT / E_HH); wider than share_no_internet "
        "(B28002_013, no access at all)",
        source="svi",
        stands_in_for="share_no_internet",
    ),
    _share(
        "share_below_150pct_poverty",
        "affordability",
        "pop_below_150_poverty",
        "population",
        "People below 150% of the poverty line over the total population (SVI E_POV150 / "
        "E_TOTPOP); the file lacks the poverty universe that SVI's EP_POV150 divides by, so "
        "the share is slightly lower where many live in group quarters",
        source="svi",
        stands_in_for="share_below_poverty",
    ),
    _share(
        "share_no_hs_diploma_of_18_plus",
        "devices_skills",
        "pop_no_hs_diploma",
        "pop_18_plus",
        "People 25+ without a high-school diploma over people 18+ (SVI E_NOHSDP / (E_TOTPOP - "
        "E_AGE17)); the file lacks the 25+ universe, so the share is lower than over people 25+",
        source="svi",
        stands_in_for="share_no_hs_diploma",
    ),
    _share(
        "share_with_disability_of_population",
        "devices_skills",
        "pop_with_disability",
        "population",
        "Civilian non-institutionalised people with a disability over the total population "
        "(SVI E_DISABL / E_TOTPOP; the file lacks the civilian non-institutionalised universe)",
        source="svi",
        stands_in_for="share_with_disability",
    ),
    _share(
        "share_limited_english_of_population",
        "devices_skills",
        "pop_limited_english",
        "population",
        "People 5+ who speak English less than well over the total population (SVI E_LIMENG / "
        "E_TOTPOP); persons, unlike the households of share_limited_english",
        source="svi",
        stands_in_for="share_limited_english",
    ),
    # education: anchor counts (exact point counts) per population; no sampling error assumed
    Indicator(
        "schools_per_10k",
        "education",
        -1,
        numerator=("n_school",),
        denominator="population",
        scale=1e4,
        moe_rule="none",
        source="nces",
        unit="per_10k",
        description="Public schools per 10,000 people (NCES EDGE)",
    ),
    Indicator(
        "libraries_per_10k",
        "education",
        -1,
        numerator=("n_library",),
        denominator="population",
        scale=1e4,
        moe_rule="none",
        source="imls",
        unit="per_10k",
        description="Public library outlets per 10,000 people (IMLS PLS)",
    ),
    Indicator(
        "km_to_school",
        "education",
        1,
        value="km_to_school",
        moe_rule="none",
        source="nces",
        unit="km",
        description="Household-weighted mean straight-line distance to the nearest public school "
        "(NCES EDGE), from the street cells' centres; comparable at every level, unlike "
        "schools per person inside small polygons",
    ),
    Indicator(
        "km_to_library",
        "education",
        1,
        value="km_to_library",
        moe_rule="none",
        source="imls",
        unit="km",
        description="Household-weighted mean straight-line distance to the nearest public "
        "library outlet (IMLS PLS), where digital-skills classes and public computers are",
    ),
    # transformation: County Business Patterns (administrative counts, no sampling error)
    Indicator(
        "share_small_business",
        "transformation",
        1,
        numerator=("est_lt5", "est_5_9", "est_10_19"),
        denominator="establishments",
        moe_rule="none",
        source="cbp",
        unit="share",
        description="Establishments with fewer than 20 employees (CBP): firms least likely "
        "to have in-house IT, the target of business digital transformation",
    ),
    Indicator(
        "establishments_per_1k",
        "transformation",
        -1,
        numerator=("establishments",),
        denominator="population",
        scale=1e3,
        moe_rule="none",
        source="cbp",
        unit="per_1k",
        description="Establishments per 1,000 people (CBP; a thin local business base "
        "means more need). Numerator and denominator must be of the same level",
    ),
    Indicator(
        "nonprofits_per_10k",
        "transformation",
        -1,
        numerator=("est_813",),
        denominator="population",
        scale=1e4,
        moe_rule="none",
        source="cbp",
        unit="per_10k",
        description="Religious, civic and social organisations (NAICS 813) per 10,000 people",
    ),
]

#: Every known indicator by name. Add to it with :func:`register_indicator`.
REGISTRY: dict[str, Indicator] = {ind.name: ind for ind in _BUILTIN}


def register_indicator(
    indicator: Indicator | None = None, /, *, replace: bool = False, **fields: object
) -> Indicator:
    """Add an indicator to :data:`REGISTRY` and return it.

    Parameters
    ----------
    indicator
        A ready :class:`Indicator`; or give its fields as keywords instead.
    replace
        Allow replacing an indicator of the same name.
    **fields
        Fields of :class:`Indicator` when `indicator` is not given.

    Examples
    --------
    >>> from equity.indicators import register_indicator, REGISTRY
    >>> ind = register_indicator(name="share_no_smartphone_demo", pillar="devices_skills",
    ...                          direction=1, value="share_no_smartphone_demo",
    ...                          moe_rule="none", replace=True)
    >>> REGISTRY["share_no_smartphone_demo"].pillar
    'devices_skills'
    """
    if indicator is None:
        try:
            indicator = Indicator(**fields)  # type: ignore[arg-type]
        except TypeError as exc:
            msg = f"register_indicator: {exc}"
            raise ConfigError(msg) from exc
    elif fields:
        msg = "register_indicator: give an Indicator or keyword fields, not both"
        raise ConfigError(msg)
    if indicator.name in REGISTRY and not replace and REGISTRY[indicator.name] != indicator:
        msg = f"indicator {indicator.name!r} already registered; pass replace=True to replace it"
        raise ConfigError(msg)
    REGISTRY[indicator.name] = indicator
    return indicator


def get_indicator(name: str | Indicator) -> Indicator:
    """Look an indicator up by name; an unknown name lists the known ones."""
    if isinstance(name, Indicator):
        return name
    return REGISTRY[check_choice("indicator", name, sorted(REGISTRY))]


# --- MOE helpers (Census approximations), vectorised --------------------------------------


# --- counts from ACS ------------------------------------------------------------------------


def _acs_moe(acs: pd.DataFrame, var: str) -> np.ndarray:
    """MOE of one ACS variable; a controlled (published as sentinel) MOE of zero is 0."""
    col = f"{var}M"
    if col not in acs:
        return np.full(len(acs), np.nan)
    moe = acs[col].to_numpy(dtype=float, na_value=np.nan).copy()
    flag = f"{var}_flag"
    if flag in acs:
        controlled = acs[flag].astype("string").fillna("").to_numpy() == "controlled_moe_zero"
        moe[controlled & np.isnan(moe)] = 0.0
    return moe


def counts_from_acs(acs: pd.DataFrame) -> pd.DataFrame:
    """Friendly count columns (with ``moe_<count>``) from ACS estimates and MOEs.

    Parameters
    ----------
    acs
        Output of :func:`equity.sources.read_acs`: ``GEOID``, ``<VAR>E``, ``<VAR>M`` (NaN for
        sentinels) and optionally ``<VAR>_flag``. Any subset of variables may be present.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` and, for every count of :data:`ACS_COUNTS` whose variables are all present,
        the count and ``moe_<count>``. Counts whose variables are absent are not produced;
        ``households`` falls back to ``B28002_001`` (households of the internet table) when
        ``B11001_001`` is absent.

    Notes
    -----
    A sum :math:`X = \\sum_i a_i` gets :math:`MOE_X = \\sqrt{\\sum_i MOE_{a_i}^2}`, where of
    the parts estimated at zero only the largest MOE counts (Census approximation, with the
    Handbook's rule for zero estimates). Households without a computing device are
    ``B28001_011`` when present; else ``B28001_001 - B28001_002`` (the universe less the
    households with a device), whose MOE is derived from the proportion ``B28001_002 /
    B28001_001`` (:func:`_complement_moe`) rather than from the difference formula, which
    treats a universe and its own subset as independent. ``median_household_income`` is
    intensive and copied with its MOE; an open-ended median keeps its code (250,001 for
    "250,000+", 2,499 for "2,500-") with no MOE (:func:`coded_values`).

    Examples
    --------
    >>> import pandas as pd
    >>> acs = pd.DataFrame({"GEOID": ["510010901011"], "B28001_001E": [574.0],
    ...                     "B28001_001M": [152.0], "B28001_002E": [499.0], "B28001_002M": [139.0]})
    >>> counts_from_acs(acs)[["hh_no_computer", "moe_hh_no_computer"]].round(1)
       hh_no_computer  moe_hh_no_computer
    0            75.0                47.5
    """
    if "GEOID" not in acs:
        raise SchemaError(
            f"ACS table lacks the GEOID column (columns: {list(acs.columns)[:8]} ...)"
        )
    out: dict[str, object] = {"GEOID": acs["GEOID"].astype("string").to_numpy()}
    specs = dict(ACS_COUNTS)
    if not all(f"{v}E" in acs for v in specs["households"][0]):
        specs["households"] = (("B28002_001",), ())
    if "B28001_011E" in acs:  # "no computer" as published, with its own (smaller) MOE
        specs["hh_no_computer"] = (("B28001_011",), ())
    produced = []
    for name, (plus, minus) in specs.items():
        variables = (*plus, *minus)
        if not all(f"{v}E" in acs for v in variables):
            continue
        est = sum(acs[f"{v}E"].to_numpy(dtype=float, na_value=np.nan) for v in plus)
        for v in minus:
            est = est - acs[f"{v}E"].to_numpy(dtype=float, na_value=np.nan)
        out[name] = np.asarray(est, dtype=float)
        moes = [_acs_moe(acs, v) for v in variables]
        if name == "hh_no_computer" and minus:  # universe minus a subset of it
            out[f"moe_{name}"] = _complement_moe(acs, "B28001_001", "B28001_002")
        elif minus:  # a difference: plain root sum of squares
            out[f"moe_{name}"] = np.asarray(_moe.moe_sum(moes), dtype=float)
        else:  # a sum: of the parts estimated at 0, only the largest MOE counts (Handbook)
            parts = [acs[f"{v}E"].to_numpy(dtype=float, na_value=np.nan) for v in plus]
            out[f"moe_{name}"] = np.asarray(_moe.moe_sum(moes, estimates=parts), dtype=float)
        produced.append(name)
    result = pd.DataFrame(out, index=acs.index)
    result.attrs = {k: v for k, v in acs.attrs.items() if isinstance(v, str | int | float)}
    logger.info("counts_from_acs: %d rows, counts %s", len(result), produced)
    return result


#: ACS codes of an open-ended median household income (B19013, 2017 and later): "250,000+" is
#: published as 250,001 and "2,500-" as 2,499, each with no MOE.
MEDIAN_INCOME_CODES: dict[str, float] = {"top": 250_001.0, "bottom": 2_499.0}


def _complement_moe(acs: pd.DataFrame, universe: str, subset: str) -> np.ndarray:
    """MOE of ``universe - subset`` (a subset of the universe) consistent with its proportion.

    The count :math:`X = U (1 - p)`, :math:`p = S / U`, gets
    :math:`MOE_X = \\sqrt{(U\\,MOE_p)^2 + (1 - p)^2 MOE_U^2}` with :math:`MOE_p` the Census
    proportion MOE of :math:`S / U` -- the count MOE under the proportion formula's own
    assumption (:math:`p` and :math:`U` independent), so that ``X / U`` gets back exactly the
    proportion's MOE. The difference formula :math:`\\sqrt{MOE_U^2 + MOE_S^2}` would treat the
    universe and its subset as independent (up to several times the proportion's MOE). A zero
    universe keeps the difference formula.
    """
    u = acs[f"{universe}E"].to_numpy(dtype=float, na_value=np.nan)
    sub = acs[f"{subset}E"].to_numpy(dtype=float, na_value=np.nan)
    mu, ms = _acs_moe(acs, universe), _acs_moe(acs, subset)
    moe_p = np.asarray(_moe.moe_proportion(sub, u, ms, mu), dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        q = np.where(u > 0, 1.0 - sub / u, np.nan)
    derived = np.sqrt(np.square(u * moe_p) + np.square(q) * np.square(mu))
    return np.where(u > 0, derived, np.asarray(_moe.moe_sum([mu, ms]), dtype=float))


#: Value indicators whose published codes stand for open-ended values: indicator ->
#: {"top" | "bottom": code}. A value equal to a code with no MOE is open-ended.
CODED_VALUES: dict[str, dict[str, float]] = {"median_household_income": MEDIAN_INCOME_CODES}


def coded_values(table: pd.DataFrame, ind: Indicator) -> np.ndarray:
    """``"top"``, ``"bottom"`` or ``""`` per row: which values of `ind` are open-ended codes.

    From a ``<value>_coded`` column when the table has one; else a value equal to one of the
    indicator's codes (:data:`CODED_VALUES`, e.g. 250,001 for "250,000+") whose MOE is
    missing, as the ACS publishes them (:func:`equity.sources.read_acs` keeps the code and
    turns the MOE sentinel into NaN).
    """
    out = np.full(len(table), "", dtype=object)
    column = f"{ind.value_column}_coded"
    if column in table:
        given = table[column].astype("string").fillna("").to_numpy(dtype=object)
        out[np.isin(given, ["top", "bottom"])] = given[np.isin(given, ["top", "bottom"])]
        return out
    codes = CODED_VALUES.get(ind.name)
    if not codes or ind.value_column not in table:
        return out
    value = _column(table, ind.value_column)
    moe_col = ind.moe or f"moe_{ind.value_column}"
    no_moe = np.isnan(_column(table, moe_col)) if moe_col in table else np.ones(len(table), bool)
    for side, code in codes.items():
        out[no_moe & (value == code)] = side
    return out


# --- indicators -----------------------------------------------------------------------------


def _column(table: pd.DataFrame, name: str) -> np.ndarray:
    return pd.to_numeric(table[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _resolve(
    indicators: Iterable[str | Indicator] | None,
    table: pd.DataFrame,
) -> list[Indicator]:
    if indicators is None:
        return [
            ind
            for ind in REGISTRY.values()
            if all(c in table for c in ind.inputs) and not _original_available(ind, table)
        ]
    return [get_indicator(i) for i in indicators]


def _original_available(ind: Indicator, table: pd.DataFrame) -> bool:
    """True when `ind` stands in for an indicator the table has or can compute."""
    original = REGISTRY.get(ind.stands_in_for or "")
    return original is not None and (
        original.name in table or all(c in table for c in original.inputs)
    )


def count_moe(table: pd.DataFrame, column: str) -> np.ndarray:
    """The MOE column ``moe_<column>`` of a count as floats (zeros when absent).

    A count without an MOE column (administrative counts such as CBP establishments or anchor
    counts) has no sampling error.
    """
    name = f"moe_{column}"
    if name not in table:
        return np.zeros(len(table))
    moe = _column(table, name)
    return moe


def value_moe(table: pd.DataFrame, ind: Indicator) -> np.ndarray:
    """MOE (90%) of a value indicator by its rule, as floats (NaN where unknown)."""
    n = len(table)
    if ind.moe_rule == "none":
        return np.zeros(n)
    if ind.moe_rule == "value":
        col = ind.moe or f"moe_{ind.value_column}"
        return _column(table, col) if col in table else np.full(n, np.nan)
    value = _column(table, ind.value_column)
    tests = (
        _column(table, ind.tests)
        if ind.tests is not None and ind.tests in table
        else np.full(n, np.nan)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        if ind.moe_rule == "ookla_mean":
            se = OOKLA_TEST_CV * np.abs(value) / np.sqrt(tests)
        else:  # binomial
            p = np.clip(value, 0.0, 1.0)
            se = np.sqrt(p * (1.0 - p) / tests)
    return np.where(tests > 0, settings.moe_z * se, np.nan)


def compute_indicators(
    table: pd.DataFrame, *, indicators: Iterable[str | Indicator] | None = None
) -> pd.DataFrame:
    """Indicators (``share_*`` and values) with their MOEs from counts.

    Parameters
    ----------
    table
        Counts with ``moe_<count>`` columns (output of :func:`counts_from_acs`, possibly
        aggregated) and any value columns (``median_household_income``, ``download_mbps``, ...).
    indicators
        Names (or :class:`Indicator` objects) to compute; by default every registered indicator
        whose input columns are present. A requested indicator with missing inputs raises.

    Returns
    -------
    pandas.DataFrame
        A copy of `table` with, per count indicator, ``<name>`` and ``moe_<name>`` (when the
        counts have MOEs); per value indicator with an MOE rule, ``moe_<name>``.

    Notes
    -----
    Count indicators are :math:`s \\cdot X/Y` (or :math:`1 - X/Y` for complements) with the
    Census proportion MOE (ratio formula when the numerator is not a subset of the denominator,
    or when the proportion formula's radicand is negative). A zero or missing denominator gives
    NaN, never infinity. Ookla means get :math:`MOE = 1.645 \\cdot CV \\cdot \\bar x/\\sqrt{t}`
    (:data:`OOKLA_TEST_CV`), Ookla shares the binomial :math:`1.645\\sqrt{p(1-p)/t}`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"hh_internet_universe": [100.0, 0.0], "moe_hh_internet_universe": [10.0, 5.0],
    ...                   "hh_no_internet": [20.0, 0.0], "moe_hh_no_internet": [8.0, 5.0]})
    >>> compute_indicators(t, indicators=["share_no_internet"])["share_no_internet"].tolist()
    [0.2, nan]
    """
    chosen = _resolve(indicators, table)
    problems = [
        f"indicator {ind.name!r} needs column(s) {missing}"
        for ind in chosen
        if (missing := [c for c in ind.inputs if c not in table])
    ]
    if problems:
        raise SchemaError(problems, source="compute_indicators")
    out = table.copy()
    new: dict[str, np.ndarray] = {}
    for ind in chosen:
        new.update(_count_columns(table, ind) if ind.is_count else _value_columns(table, ind))
    for name, values in new.items():
        out[name] = values
    _check_shares(out, chosen)
    logger.info("compute_indicators: %d rows, %d indicators", len(out), len(chosen))
    return out


def _check_shares(table: pd.DataFrame, chosen: list[Indicator]) -> None:
    """Shares computed from counts lie in [0, 1] (else the counts were wrong: an error)."""
    from equity.checks import check_shares

    level = table["level"].iloc[0] if "level" in table and len(table) else None
    where = f"compute_indicators ({level} level)" if level else "compute_indicators"
    check_shares(table, [i.name for i in chosen if i.is_count and i.unit == "share"], where=where)


def _count_columns(table: pd.DataFrame, ind: Indicator) -> dict[str, np.ndarray]:
    """A count indicator, ``scale * X / Y`` (or ``1 - X / Y``), and its MOE when counts have one."""
    den_name = ind.inputs[-1]  # the denominator
    num = np.sum([_column(table, c) for c in ind.numerator], axis=0)
    den = _column(table, den_name)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den > 0, num / den, np.nan)
    new = {ind.name: ind.scale * ((1.0 - ratio) if ind.complement else ratio)}
    if ind.moe_rule != "none" and any(f"moe_{c}" in table for c in ind.inputs):
        moe_num = np.asarray(
            _moe.moe_sum(
                [count_moe(table, c) for c in ind.numerator],
                estimates=[_column(table, c) for c in ind.numerator],
            ),
            dtype=float,
        )
        moe_den = count_moe(table, den_name)
        rule = _moe.moe_proportion if ind.moe_rule == "proportion" else _moe.moe_ratio
        moe = np.asarray(rule(num, den, moe_num, moe_den), dtype=float)
        new[ind.moe_column] = ind.scale * moe
    return new


def _value_columns(table: pd.DataFrame, ind: Indicator) -> dict[str, np.ndarray]:
    """A value indicator's MOE by its rule (unless present), and its value under its name."""
    new: dict[str, np.ndarray] = {}
    if ind.moe_rule in ("ookla_mean", "binomial") and ind.moe_column not in table:
        new[ind.moe_column] = value_moe(table, ind)
    elif ind.moe_rule == "value" and ind.moe and ind.moe in table:
        new[ind.moe_column] = _column(table, ind.moe)  # published MOE under another name
    if ind.value_column != ind.name:
        new[ind.name] = _column(table, ind.value_column)
    return new
