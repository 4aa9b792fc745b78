"""What ``data/README.md`` and every default run's METHODS.md say about the snapshot.

:data:`FILES` describes each bundled file (contents, sources, licence), :func:`notes_for`
gives the caveats a reader of the outputs must know (the same list goes into the manifest,
the README and METHODS.md), :func:`render_readme` renders ``data/README.md`` from the
manifest with the package template ``README.md.j2``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

import jinja2

from equity.snapshot.counts import NOTES as COUNT_NOTES

__all__ = ["FILES", "notes_for", "render_readme"]

_PD = "public domain (US federal government work)"

#: Each bundled file: what it holds, the input keys it comes from, its licence.
FILES: dict[str, dict[str, Any]] = {
    "counties.csv": {
        "what": "the counties of the 50 states and DC: GEOID, NAME (Census name, e.g. "
        "'Apache County, Arizona'), state_GEOID, state_abbr, state_name, ALAND, AWATER (m2), "
        "geometry (WKT, EPSG:4326, on a 0.00001-degree grid)",
        "sources": ["counties", "svi2022", "svi2018"],
        "licence": _PD,
    },
    "states.csv": {
        "what": "the 50 states and DC: GEOID, NAME, state_abbr, geometry (WKT, EPSG:4326)",
        "sources": ["states"],
        "licence": _PD,
    },
    "county_counts.csv": {
        "what": "ACS counts and their 90% margins of error by county (population, households, "
        "people 65+, under 18, 18+, households without an internet subscription, people below "
        "150% of poverty, with a disability, 25+ without a high-school diploma, 5+ with limited "
        "English) and counts_source",
        "sources": ["svi2022", "svi2018"],
        "licence": _PD + "; cite CDC/ATSDR SVI",
    },
    "county_income_acs2018.csv": {
        "what": "median household income (ACS 2014-2018 B19013_001, 2018 dollars) and its MOE",
        "sources": ["income"],
        "licence": _PD,
    },
    "imls_pls_fy19_outlets.csv": {
        "what": "library outlets of the 50 states and DC (IMLS layout, the columns a run reads: "
        "STABR, FSCSKEY, FSCS_SEQ, LIBNAME, CITY, ZIP, C_OUT_TY, LONGITUD, LATITUDE, INCITSST, "
        "INCITSCO)",
        "sources": ["libraries"],
        "licence": _PD,
    },
    "microsoft_broadband_data_2020October.csv": {
        "what": "byte copy of Microsoft's county file: broadband usage (October 2020) and FCC "
        "availability (end of 2019, stale)",
        "sources": ["usage"],
        "licence": "O-UDA v1.0 (attribution): see microsoft_O-UDA_LICENSE.txt",
    },
    "microsoft_O-UDA_LICENSE.txt": {
        "what": "the Open Use of Data Agreement v1.0, the licence of the Microsoft file",
        "sources": ["ouda_licence"],
        "licence": "licence text",
    },
}

#: Caveats of every snapshot run, beyond :data:`equity.snapshot.counts.NOTES`.
_NOTES: tuple[str, ...] = (
    "County polygons are the Census 2018 cartographic boundaries (1:20,000,000); the counts "
    "are ACS 2018-2022 (SVI 2022).",
    "SVI-based shares keep the SVI's numerators; where the file lacks the ACS universe the "
    "denominator is stated: people below 150% of poverty, with a disability and with limited "
    "English over the total population, people 25+ without a high-school diploma over people "
    "18+, households without an internet subscription over households.",
    "Broadband availability is Microsoft's copy of the FCC's 25/3 Mbps figure as of the end "
    "of 2019 (Form 477): stale, and known to overstate availability; broadband usage is "
    "Microsoft's October 2020 estimate.",
    "Education pillar: only the straight-line distance from each county's representative "
    "point to the nearest public library outlet (IMLS FY2019): a weak proxy for access to "
    "education, kept because no national school or computer-science data is bundled. "
    "Readiness counts the library outlets within the service radius.",
    "Transformation pillar: no business or nonprofit data is bundled (no County Business "
    "Patterns county file), so this pillar is missing and its weight is redistributed.",
    "No Ookla data is bundled (CC BY-NC-SA 4.0, non-commercial): no measured speeds.",
)


def notes_for(*, income_missing: list[str] | None) -> tuple[str, ...]:
    """The caveats of a snapshot; `income_missing` names the counties without a median
    income (None: built without income)."""
    if income_missing is None:
        income = "No median household income: the snapshot was built without it."
    else:
        income = (
            "Median household income is ACS 2014-2018 (2018 dollars), four years older than the "
            "other counts"
            + (f"; no published value for {', '.join(income_missing)}" if income_missing else "")
            + "."
        )
    return (*COUNT_NOTES, *_NOTES, income)


@cache
def _template() -> jinja2.Template:
    text = resources.files("equity.snapshot").joinpath("README.md.j2").read_text("utf-8")
    env = jinja2.Environment(
        autoescape=False,  # Markdown, not HTML
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["thousands"] = lambda n: "" if n is None else f"{int(n):,}"
    return env.from_string(text)


def render_readme(manifest: Mapping[str, Any]) -> str:
    """``data/README.md`` from a snapshot manifest (``snapshot.json``)."""
    inputs = {i["key"]: i for i in manifest["inputs"]}
    return _template().render(m=manifest, inputs=inputs)
