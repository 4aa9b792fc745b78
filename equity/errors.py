"""Exceptions raised by `equity`.

Every error the toolkit raises on bad input is an :class:`EquityError`, so a caller (or the
CLI) can catch one type. Messages name the file, the column and an example value where
those apply, and are built as ``msg = f"..."; raise XError(msg)``.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DownloadError",
    "EquityError",
    "PlacementError",
    "SchemaError",
]


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
