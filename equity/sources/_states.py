"""US states, DC and Puerto Rico: FIPS code, USPS abbreviation and name, in one place.

Every module that needs to turn ``"VA"``, ``"51"``, ``51`` or ``"Virginia"`` into a FIPS code
uses :func:`state_fips` (or :func:`lookup_state`), so the table exists once.

Examples
--------
>>> state_fips("va"), state_usps(51), lookup_state("Virginia").fips
('51', 'VA', '51')
"""

from __future__ import annotations

from typing import NamedTuple

from equity.errors import check_choice

__all__ = ["STATES", "State", "lookup_state", "state_fips", "state_usps"]


class State(NamedTuple):
    """One state (or DC, or Puerto Rico)."""

    fips: str
    usps: str
    name: str


#: The 50 states, the District of Columbia and Puerto Rico, ordered by FIPS code.
STATES: tuple[State, ...] = (
    State("01", "AL", "Alabama"),
    State("02", "AK", "Alaska"),
    State("04", "AZ", "Arizona"),
    State("05", "AR", "Arkansas"),
    State("06", "CA", "California"),
    State("08", "CO", "Colorado"),
    State("09", "CT", "Connecticut"),
    State("10", "DE", "Delaware"),
    State("11", "DC", "District of Columbia"),
    State("12", "FL", "Florida"),
    State("13", "GA", "Georgia"),
    State("15", "HI", "Hawaii"),
    State("16", "ID", "Idaho"),
    State("17", "IL", "Illinois"),
    State("18", "IN", "Indiana"),
    State("19", "IA", "Iowa"),
    State("20", "KS", "Kansas"),
    State("21", "KY", "Kentucky"),
    State("22", "LA", "Louisiana"),
    State("23", "ME", "Maine"),
    State("24", "MD", "Maryland"),
    State("25", "MA", "Massachusetts"),
    State("26", "MI", "Michigan"),
    State("27", "MN", "Minnesota"),
    State("28", "MS", "Mississippi"),
    State("29", "MO", "Missouri"),
    State("30", "MT", "Montana"),
    State("31", "NE", "Nebraska"),
    State("32", "NV", "Nevada"),
    State("33", "NH", "New Hampshire"),
    State("34", "NJ", "New Jersey"),
    State("35", "NM", "New Mexico"),
    State("36", "NY", "New York"),
    State("37", "NC", "North Carolina"),
    State("38", "ND", "North Dakota"),
    State("39", "OH", "Ohio"),
    State("40", "OK", "Oklahoma"),
    State("41", "OR", "Oregon"),
    State("42", "PA", "Pennsylvania"),
    State("44", "RI", "Rhode Island"),
    State("45", "SC", "South Carolina"),
    State("46", "SD", "South Dakota"),
    State("47", "TN", "Tennessee"),
    State("48", "TX", "Texas"),
    State("49", "UT", "Utah"),
    State("50", "VT", "Vermont"),
    State("51", "VA", "Virginia"),
    State("53", "WA", "Washington"),
    State("54", "WV", "West Virginia"),
    State("55", "WI", "Wisconsin"),
    State("56", "WY", "Wyoming"),
    State("72", "PR", "Puerto Rico"),
)

_BY_KEY: dict[str, State] = {}
for _s in STATES:
    _BY_KEY[_s.fips] = _s
    _BY_KEY[_s.usps.lower()] = _s
    _BY_KEY[_s.name.lower()] = _s


def lookup_state(state: str | int) -> State:
    """Find a state by FIPS code (``"51"``, ``51``, ``"5"`` for Arkansas), USPS code or name.

    Parameters
    ----------
    state
        FIPS code (string or integer), USPS abbreviation or full name; case-insensitive.

    Returns
    -------
    State
        The matching ``State(fips, usps, name)``.

    Raises
    ------
    ChoiceError
        When nothing matches; the message lists the valid USPS codes.

    Examples
    --------
    >>> lookup_state(6)
    State(fips='06', usps='CA', name='California')
    """
    if isinstance(state, bool):
        # bool is an int subclass: True would silently mean Alabama
        key = ""
    elif isinstance(state, int):
        key = f"{state:02d}"
    else:
        key = str(state).strip()
        key = key.zfill(2) if key.isdigit() else key.lower()
    found = _BY_KEY.get(key)
    if found is None:
        # matching no key, `state` is no USPS code either: check_choice raises, listing them
        check_choice("state (FIPS code, USPS code or name)", state, [s.usps for s in STATES])
    assert found is not None
    return found


def state_fips(state: str | int) -> str:
    """Two-digit FIPS code of `state` (see :func:`lookup_state` for what it accepts)."""
    return lookup_state(state).fips


def state_usps(state: str | int) -> str:
    """USPS abbreviation of `state` (see :func:`lookup_state` for what it accepts)."""
    return lookup_state(state).usps
