"""The built-in indicators (:data:`REGISTRY`) and how users add their own."""

from __future__ import annotations

from equity.errors import ConfigError, check_choice
from equity.indicators.model import Indicator, _share

_BUILTIN: list[Indicator] = [
    # access
    _share(
        "share_no_internet",
        "access",
        "hh_no_internet",
        "hh_internet_universe",
        "Households with no internet access (ACS B28002_013 / B28002_001)",
        label="households without internet",
    ),
    _share(
        "share_no_broadband",
        "access",
        "hh_broadband",
        "hh_internet_universe",
        "Households without a broadband subscription of any type (1 - B28002_004 / B28002_001)",
        complement=True,
        label="households without a broadband subscription",
    ),
    _share(
        "share_no_wired_broadband",
        "access",
        "hh_cable_fiber_dsl",
        "hh_internet_universe",
        "Households without cable, fibre or DSL (1 - B28002_007 / B28002_001)",
        complement=True,
        label="households without cable, fibre or DSL",
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
        label="measured download speed",
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
        label="measured upload speed",
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
        label="speed tests below 25/3 Mbps",
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
        label="locations without 25/3 Mbps on offer",
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
        label="locations without 100/20 Mbps on offer",
    ),
    Indicator(
        "broadband_usage",
        "access",
        -1,
        moe_rule="none",
        source="microsoft",
        unit="share",
        description="Share of people using the internet at >= 25 Mbps (Microsoft, county; context)",
        label="people using the internet at broadband speed",
    ),
    Indicator(
        "broadband_availability",
        "access",
        -1,
        moe_rule="none",
        source="microsoft",
        unit="share",
        description="Share of people with 25/3 Mbps fixed broadband available (FCC via Microsoft, county)",
        label="people with 25/3 Mbps broadband available",
    ),
    # devices and skills
    _share(
        "share_no_computer",
        "devices_skills",
        "hh_no_computer",
        "hh_computer_universe",
        "Households with no computing device (B28001_011 / B28001_001, or 1 - B28001_002 / "
        "B28001_001 with the MOE of that proportion)",
        label="households without a computer",
    ),
    _share(
        "share_65_plus",
        "devices_skills",
        "pop_65_plus",
        "pop_age_universe",
        "People aged 65 and over (B01001)",
        label="people aged 65 and over",
    ),
    _share(
        "share_no_hs_diploma",
        "devices_skills",
        "pop_no_hs_diploma",
        "pop_25_plus",
        "People 25+ without a high-school diploma (B15003_002..016 / B15003_001)",
        label="adults without a high-school diploma",
    ),
    _share(
        "share_with_disability",
        "devices_skills",
        "pop_with_disability",
        "pop_disability_universe",
        "People with a disability (B18101)",
        label="people with a disability",
    ),
    _share(
        "share_limited_english",
        "devices_skills",
        "hh_limited_english",
        "hh_language_universe",
        "Limited-English-speaking households (C16002)",
        label="households with limited English",
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
        label="median household income",
    ),
    _share(
        "share_below_poverty",
        "affordability",
        "pop_below_poverty",
        "pop_poverty_universe",
        "People with income below the poverty line (C17002_002 + _003 / C17002_001)",
        label="people below the poverty line",
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
        label="households without an internet subscription",
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
        label="people below 150% of the poverty line",
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
        label="adults without a high-school diploma",
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
        label="people with a disability",
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
        label="people who speak English less than well",
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
        label="public schools per 10,000 people",
        weak_proxy=True,
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
        label="public libraries per 10,000 people",
        weak_proxy=True,
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
        label="distance to the nearest public school",
        weak_proxy=True,
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
        label="distance to the nearest public library",
        weak_proxy=True,
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
        label="businesses with fewer than 20 employees",
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
        label="businesses per 1,000 people",
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
        label="civic and social organisations per 10,000 people",
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
