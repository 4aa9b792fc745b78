"""Which states a national run covers: ``"all"``, ``"VA,MD"``, ``["51", "24"]``.

A selection names states by USPS code or FIPS code (any case, ``"5"`` for Arkansas) or is
``"all"``: the 50 states and the District of Columbia (:data:`ALL_STATES`; Puerto Rico only
when listed). :func:`parse_states` turns any of these into USPS codes in FIPS order, without
duplicates; :func:`state_problems` reports what cannot be read, for the configuration's
one-go error message. :func:`looks_like_selection` tells a selection from the path of a
state boundary file, which ``[data] states`` also holds.

Examples
--------
>>> parse_states("md, va,51")
('MD', 'VA')
>>> len(parse_states("all"))
51
>>> looks_like_selection("cb_2021_us_state_500k.zip"), looks_like_selection(["VA", "24"])
(False, True)
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from equity.errors import ChoiceError, ConfigError
from equity.sources._states import STATES, State, lookup_state

__all__ = [
    "ALL_STATES",
    "describe",
    "looks_like_selection",
    "normalise_selection",
    "parse_states",
    "state_problems",
    "tokens",
]

#: USPS codes of the 50 states and DC, in FIPS order: what ``"all"`` selects.
ALL_STATES: tuple[str, ...] = tuple(s.usps for s in STATES if s.usps != "PR")

_CODE = re.compile(r"[A-Za-z]{2}|\d{1,2}")


def tokens(value: Any) -> list[str]:
    """The items of a selection: a list as given, a text split on commas and spaces.

    Examples
    --------
    >>> tokens("VA, MD"), tokens(["va"])
    (['VA', 'MD'], ['va'])
    """
    if isinstance(value, str):
        return [t for t in re.split(r"[,\s]+", value.strip()) if t]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value]
    return []


def looks_like_selection(value: Any) -> bool:
    """True when `value` is ``"all"`` or state codes, not the path of a boundary file.

    Codes are two letters or one or two digits (an unknown code such as ``"XX"`` still counts
    as a selection, so that the error names the code rather than a missing file).
    """
    items = tokens(value)
    if not items:
        return False
    if len(items) == 1 and items[0].lower() == "all":
        return True
    return all(_CODE.fullmatch(t) for t in items)


def _lookup(token: str) -> State:
    try:
        return lookup_state(token)
    except ChoiceError:
        msg = (
            f"unknown state {token!r}; use USPS or FIPS codes (e.g. VA or 51) or 'all'; "
            f"valid: {', '.join(s.usps for s in STATES)}"
        )
        raise ConfigError(msg) from None


def parse_states(value: Any) -> tuple[str, ...]:
    """USPS codes of a selection, in FIPS order, each once.

    Parameters
    ----------
    value
        ``"all"``, a text of codes separated by commas or spaces, or a list of codes.

    Returns
    -------
    tuple of str
        USPS codes (``"all"``: :data:`ALL_STATES`).

    Raises
    ------
    ConfigError
        An empty selection or an unknown code (the message lists the valid ones).
    """
    items = tokens(value)
    if not items:
        msg = f"no states selected ({value!r}); give 'all' or codes such as 'VA,MD'"
        raise ConfigError(msg)
    if any(t.lower() == "all" for t in items):
        if len(items) > 1:
            msg = f"'all' cannot be combined with other states: {value!r}"
            raise ConfigError(msg)
        return ALL_STATES
    found = {s.fips: s.usps for s in (_lookup(t) for t in items)}
    return tuple(found[f] for f in sorted(found))


def state_problems(name: str, value: Any) -> list[str]:
    """The problems of a selection (empty when it reads), each naming the option `name`."""
    if value in ((), None):
        return []
    problems = []
    items = tokens(value)
    if not isinstance(value, str | list | tuple) or not items:
        return [f"{name} = {value!r} must be 'all' or a list of state codes"]
    for item in items:
        if item.lower() == "all":
            if len(items) > 1:
                problems.append(f"{name}: 'all' cannot be combined with other states")
            continue
        try:
            _lookup(item)
        except ConfigError as exc:
            problems.append(f"{name}: {exc}")
    return problems


def normalise_selection(value: Any) -> Any:
    """`value` as USPS codes when it reads; else unchanged, for :func:`state_problems`."""
    if value in ((), None, ""):
        return ()
    try:
        return parse_states(value)
    except ConfigError:
        return tuple(tokens(value)) if isinstance(value, str | list | tuple) else value


def describe(states: Iterable[str]) -> str:
    """``"the 50 states and DC"`` or ``"VA, MD"``, for progress lines."""
    states = tuple(states)
    if states == ALL_STATES:
        return "the 50 states and DC"
    return ", ".join(states)
