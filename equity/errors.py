"""Exceptions raised by `equity`.

Every error the toolkit raises on bad input is an :class:`EquityError`, so a caller (or the
CLI) can catch one type. Messages name the file, the column and an example value where
those apply, and are built as ``msg = f"..."; raise XError(msg)``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = [
    "ChoiceError",
    "ConfigError",
    "DataError",
    "DownloadError",
    "EquityError",
    "EquityWarning",
    "OutputError",
    "PlacementError",
    "SchemaError",
    "SizeError",
    "check_choice",
]

T = TypeVar("T")


class EquityError(Exception):
    """Base class of every error raised by `equity` on bad input or a failed step."""


class DataError(EquityError, ValueError):
    """A file or table holds values the toolkit cannot use (bad value, empty, truncated)."""


class SchemaError(DataError):
    """A table lacks required columns, has duplicate keys or the wrong types.

    Parameters
    ----------
    problems
        Every problem found, so a user can fix them all in one go.
    source
        The file or table the problems were found in.
    """

    def __init__(self, problems: list[str] | str, *, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        if len(self.problems) == 1:
            msg = f"{where}{self.problems[0]}"
        else:
            body = "\n".join(f"  - {p}" for p in self.problems)
            msg = f"{where}{len(self.problems)} problems:\n{body}"
        super().__init__(msg)


class ConfigError(EquityError, ValueError):
    """A run configuration (TOML or keyword arguments) is invalid."""


class DownloadError(EquityError, OSError):
    """A download failed (offline, HTTP error, truncated response) after its retries."""


class PlacementError(EquityError, ValueError):
    """Fellow placement cannot be solved as asked (k too large, no candidates, ...)."""


class OutputError(EquityError, OSError):
    """An output path cannot be written (a file where a folder is needed, read-only, too long)."""


class SizeError(EquityError):
    """A step would need more memory than the machine has (estimated before it starts)."""


class EquityWarning(UserWarning):
    """A stated warning: the run goes on, and the message says what was left out or repaired.

    The CLI prints each one as ``equity <command>: warning: <message>`` on one line; runs also
    repeat them in METHODS.md.
    """


class ChoiceError(ConfigError):
    """An option names a choice the toolkit does not know; the message lists the valid ones."""


def check_choice(kind: str, value: T, valid: Iterable[T], *, where: str | None = None) -> T:
    """Return `value` if it is one of `valid`, else raise :class:`ChoiceError` listing them.

    The one check behind every "unknown X" message, so they all read alike:
    ``unknown normalisation 'pct'; valid: percentile, zscore, minmax, rank``.

    Parameters
    ----------
    kind
        What the value names ("normalisation", "placement mode", ...).
    value
        The value given.
    valid
        The valid choices, in the order to list them (a mapping lists its keys).
    where
        Optional prefix naming the file, section or function the value came from.

    Returns
    -------
    object
        `value`, unchanged.

    Raises
    ------
    ChoiceError
        When `value` is not among `valid`.

    Examples
    --------
    >>> check_choice("mode", "top", ("top", "coverage"))
    'top'
    >>> check_choice("mode", "best", ("top", "coverage"))
    Traceback (most recent call last):
    ...
    equity.errors.ChoiceError: unknown mode 'best'; valid: top, coverage
    """
    names = list(valid)
    try:
        ok = value in names
    except TypeError:  # unhashable or incomparable values are never valid
        ok = False
    if not ok:
        prefix = f"{where}: " if where else ""
        listed = ", ".join(str(n) for n in names)
        msg = f"{prefix}unknown {kind} {value!r}; valid: {listed}"
        raise ChoiceError(msg)
    return value
