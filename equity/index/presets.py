"""Presets: named index definitions (pillars, indicator weights, default normalisation).

``techspark`` (default)
    The program's five pillars (access, devices and skills, affordability, education,
    transformation) with equal pillar weights and equal indicator weights within a pillar.
``ddi``
    The Purdue Digital Divide Index's variables and groups (Gallardo et al., Purdue Center for
    Regional Development, https://pcrd.purdue.edu/ddi): an infrastructure/adoption score
    (INFA: broadband availability, no computing device, no internet access, download and upload
    speed) and a socioeconomic score (SE: age 65+, no high-school diploma, poverty,
    disability), each 0-100, averaged. Equal weights and min-max scaling; every difference from
    Purdue's published method is in :data:`equity.index.notes.PRESET_DIFFERENCES`.
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
                "share_no_computer": 1.0,
                "share_no_internet": 1.0,
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
            },
        },
        pillar_weights={"infa": 1.0, "se": 1.0},
        normalisation="minmax",
        description=(
            "Digital Divide Index of the Purdue Center for Regional Development (Gallardo et "
            "al., https://pcrd.purdue.edu/ddi): INFA, the infrastructure/adoption score (25/3 "
            "fixed broadband not available, households without a computing device, households "
            "without internet access, download and upload speed), and SE, the socioeconomic "
            "score (age 65 and over, no high-school diploma among people 25 and over, "
            "individual poverty, disability), each 0-100; the DDI is their mean. Same variables "
            "and groups as Purdue's published definition; equal weights, min-max scaling and "
            "measured (Ookla) instead of advertised speeds: see METHODS.md for every difference."
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
