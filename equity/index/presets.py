"""Presets: named index definitions (pillars, indicator weights, default normalisation).

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
    inputs (:func:`equity.index.svi`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from equity.indicators import PILLARS

__all__ = ["INTERVENTIONS", "PRESETS", "Preset"]


@dataclass(frozen=True)
class Preset:
    """A named index definition.

    Parameters
    ----------
    name
        Preset name.
    pillars
        Pillar -> {indicator name: weight}.
    pillar_weights
        Pillar -> weight (normalised to sum 1 over the pillars with data).
    normalisation
        Default normalisation.
    description
        One paragraph for the methods card, with citations.
    """

    name: str
    pillars: Mapping[str, Mapping[str, float]]
    pillar_weights: Mapping[str, float]
    normalisation: str = "percentile"
    description: str = ""


PRESETS: dict[str, Preset] = {
    "techspark": Preset(
        name="techspark",
        pillars={
            # the SVI-based indicators (national county snapshot) stand in for their ACS
            # counterparts; a table has one or the other, never both
            "access": {
                "share_no_internet": 1.0,
                "share_no_internet_subscription": 1.0,
                "share_no_broadband": 1.0,
                "download_mbps": 1.0,
                "share_tests_below_25_3": 1.0,
                "broadband_usage": 1.0,
                "broadband_availability": 1.0,
            },
            "devices_skills": {
                "share_no_computer": 1.0,
                "share_65_plus": 1.0,
                "share_no_hs_diploma": 1.0,
                "share_no_hs_diploma_of_18_plus": 1.0,
                "share_with_disability": 1.0,
                "share_with_disability_of_population": 1.0,
                "share_limited_english": 1.0,
                "share_limited_english_of_population": 1.0,
            },
            "affordability": {
                "median_household_income": 1.0,
                "share_below_poverty": 1.0,
                "share_below_150pct_poverty": 1.0,
            },
            "education": {"km_to_school": 1.0, "km_to_library": 1.0},
            "transformation": {
                "share_small_business": 1.0,
                "establishments_per_1k": 1.0,
                "nonprofits_per_10k": 1.0,
            },
        },
        pillar_weights={p: 1.0 for p in PILLARS},
        description=(
            "Five pillars from the program's focus areas, equal pillar weights, equal indicator "
            "weights. No internet-income ratio is included: no public internet price by place "
            "exists in the inputs, and a national price over income is only income again."
        ),
    ),
    "ddi": Preset(
        name="ddi",
        pillars={
            "infa": {
                "broadband_availability": 1.0,
                "share_no_broadband": 1.0,
                "share_no_internet_subscription": 1.0,  # SVI counts stand in (snapshot)
                "download_mbps": 1.0,
                "upload_mbps": 1.0,
            },
            "se": {
                "share_65_plus": 1.0,
                "share_no_hs_diploma": 1.0,
                "share_no_hs_diploma_of_18_plus": 1.0,
                "share_below_poverty": 1.0,
                "share_below_150pct_poverty": 1.0,
                "share_with_disability": 1.0,
                "share_with_disability_of_population": 1.0,
                "share_no_computer": 1.0,
            },
        },
        pillar_weights={"infa": 1.0, "se": 1.0},
        normalisation="minmax",
        description=(
            "Digital Divide Index after Gallardo et al., Purdue Center for Regional Development "
            "(https://pcrd.purdue.edu/ddi): INFA (availability of 25/3 broadband, households "
            "without broadband, download and upload speed) and SE (age 65+, no high-school "
            "diploma, poverty, disability, no computer) scores 0-100, DDI their mean. Purdue "
            "weights standardised variables by factor loadings; equal weights and min-max "
            "scaling are used here, an approximation of the published scores."
        ),
    ),
    "svi": Preset(
        name="svi",
        pillars={},
        pillar_weights={},
        description=(
            "CDC/ATSDR Social Vulnerability Index (2018: 15 variables in 4 themes, per-capita "
            "income ranked in reverse; 2020 and later: 16 variables in 4 themes), percentile "
            "ranks as CDC computes them (PERCENTRANK.INC, 4 decimals)."
        ),
    ),
}


#: Intervention type following from the pillar that drives a place's need.
INTERVENTIONS: dict[str, str] = {
    "access": "infrastructure",
    "devices_skills": "devices and skills",
    "affordability": "affordability",
    "education": "education",
    "transformation": "business transformation",
    "infa": "infrastructure",
    "se": "devices and skills",
}
