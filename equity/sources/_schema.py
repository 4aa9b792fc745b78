"""What each reader reads, declared once: :class:`Schema`.

Every reader module declares one ``SCHEMA`` (``ookla`` declares two, ``anchors`` two) saying
which columns a file of its kind must have (with the spellings it accepts), which column is
its key and which hold digit codes of what width, which columns are numbers, which cannot be
negative, which lie in a range, which values mean "missing", and which file formats it reads.
The reader checks its input against its schema, and :func:`equity.sources.validate.validate`
reports against the same schema, so the two cannot disagree about what a file needs.

Column names are matched the way the published files vary: case-insensitively and with runs of
punctuation and spaces treated as one space (``" BROADBAND USAGE "``, ``"County_ID"`` and
``"COUNTY ID"`` are the same column; ``<`` is kept for ``n<5``). Patterns (numeric, counts,
ranges, text) are regular expressions matched in full against the column name with its
surrounding blanks removed; add ``(?i)`` where case does not matter.

Examples
--------
>>> s = Schema(
...     kind="demo",
...     title="a demo file",
...     required=(("GEOID", "FIPS"), ("value",)),
...     counts=(r"value",),
... )
>>> s.missing(["fips", "name"])
['value']
>>> s.columns(["fips", "Value"])
{'GEOID': 'fips', 'value': 'Value'}
>>> s.is_count("value"), s.is_count("name")
(True, False)
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import pandas as pd

from equity.errors import SchemaError

__all__ = ["Layout", "Names", "Schema", "norm_name"]

#: Accepted spellings of one column; the first is the name messages use and readers rename to.
Names = tuple[str, ...]

_NOT_NAME = re.compile(r"[^A-Z0-9<]+")


def norm_name(column: object) -> str:
    """A column name as compared: upper case, runs of other characters as one space.

    Examples
    --------
    >>> norm_name(" ERROR RANGE (MAE)(+/-) "), norm_name("n<5"), norm_name("county_id")
    ('ERROR RANGE MAE', 'N<5', 'COUNTY ID')
    """
    return _NOT_NAME.sub(" ", str(column).upper()).strip()


@dataclass(frozen=True)
class Layout:
    """One of the alternative column sets of a kind (a county or a ZIP file, a school file...).

    Parameters
    ----------
    name
        Short name (``"county"``, ``"zip"``, ``"nces"``); messages say ``"(<name> file)"``.
    columns
        The columns this layout needs, each with its accepted spellings.
    """

    name: str
    columns: tuple[Names, ...]


@dataclass(frozen=True)
class Schema:
    """The columns, keys, value rules and missing-value codes of one kind of file.

    Parameters
    ----------
    kind
        Kind name, as in ``equity validate --kind`` (``"broadband_usage"``).
    title
        What the file is, with its article, for messages (``"a Microsoft broadband usage file"``).
    required
        Columns every file of the kind has, each with its accepted spellings.
    layouts
        Alternative column sets, at least one of which must be complete (empty: none needed).
    optional
        Other columns the reader uses when present.
    keys
        Candidate keys (canonical column names), in order of preference: the first whose columns
        are all present identifies a row; empty when rows have no key of their own.
    codes
        Columns of zero-padded digit codes (GEOIDs, ZIP codes, quadkeys) and their greatest
        width (None: any), as ``(name, width)`` pairs.
    numeric
        Patterns of the columns holding numbers; None when that is decided by the data (a
        column is numeric when at least 80% of its values parse).
    text
        Patterns of columns that stay text even when `numeric` matches them.
    counts
        Patterns of numeric columns that cannot be negative.
    ranges
        ``(pattern, low, high)``: numeric columns that lie in ``[low, high]`` (first match wins).
    sentinels
        Numbers that stand for a missing value (Census ``-666666666``, CDC ``-999``).
    missing_text
        Text written in place of a number that means "missing" (besides blanks and dashes).
    open_ended
        ACS-style annotated numbers are numbers: ``"±123"``, ``"250,000+"``, ``"2,500-"``.
    signature
        Alternatives of column patterns (matched against each name as written and as
        normalised by :func:`norm_name`) that tell this kind apart when it is detected.
    header_tokens
        Names on the header line of files that start with description lines.
    formats
        File suffixes the reader reads.
    aliases
        Short names accepted for the kind (``"usage"``).
    rule
        Extra column rules that are not a list of names (e.g. "some ``B28002_013E`` columns"):
        called with the column names, returns one sentence per problem.
    """

    kind: str
    title: str
    required: tuple[Names, ...] = ()
    layouts: tuple[Layout, ...] = ()
    optional: tuple[Names, ...] = ()
    keys: tuple[tuple[str, ...], ...] = ()
    codes: tuple[tuple[str, int | None], ...] = ()
    numeric: tuple[str, ...] | None = ()
    text: tuple[str, ...] = ()
    counts: tuple[str, ...] = ()
    ranges: tuple[tuple[str, float, float], ...] = ()
    sentinels: frozenset[float] = frozenset()
    missing_text: tuple[str, ...] = ()
    open_ended: bool = False
    signature: tuple[tuple[str, ...], ...] = ()
    header_tokens: tuple[str, ...] = ()
    formats: tuple[str, ...] = (".csv", ".txt")
    aliases: tuple[str, ...] = ()
    rule: Callable[[Sequence[str]], list[str]] | None = field(default=None, compare=False)

    # ----------------------------------------------------------------------- columns

    def declared(self) -> tuple[Names, ...]:
        """Every column the schema names (required, layouts, optional, keys, codes)."""
        out: list[Names] = [*self.required]
        for layout in self.layouts:
            out += layout.columns
        out += self.optional
        known = {n[0] for n in out}
        extra = [name for key in self.keys for name in key] + [name for name, _ in self.codes]
        out += [(name,) for name in dict.fromkeys(extra) if name not in known]
        return tuple(out)

    def columns(self, columns: Iterable[object]) -> dict[str, str]:
        """``{canonical name: column of the file}`` for every declared column present."""
        present: dict[str, str] = {}
        for c in columns:
            present.setdefault(norm_name(c), str(c))
        out: dict[str, str] = {}
        for names in self.declared():
            found = next((present[norm_name(n)] for n in names if norm_name(n) in present), None)
            if found is not None:
                out.setdefault(names[0], found)
        return out

    def find(self, columns: Iterable[object], name: str) -> str | None:
        """The file's column for the declared column `name` (any accepted spelling), or None."""
        return self.columns(columns).get(name)

    def missing(self, columns: Iterable[object]) -> list[str]:
        """Required columns absent from `columns` (canonical names), then the layouts' if none is
        complete (``"zip (zip file) or fipscty (county file)"``)."""
        found = self.columns(columns)
        out = [names[0] for names in self.required if names[0] not in found]
        if self.layouts and self._layout_of(found) is None:
            parts = []
            for layout in self.layouts:
                absent = [n[0] for n in layout.columns if n[0] not in found]
                parts.append(f"{', '.join(absent)} ({layout.name} file)")
            out.append(" or ".join(parts))
        return out

    def layout(self, columns: Iterable[object]) -> str | None:
        """Name of the first complete layout, or None."""
        return self._layout_of(self.columns(columns))

    def _layout_of(self, found: dict[str, str]) -> str | None:
        for layout in self.layouts:
            if all(n[0] in found for n in layout.columns):
                return layout.name
        return None

    def key(self, columns: Iterable[object]) -> list[str]:
        """The file's columns of the first complete candidate key (empty when none is)."""
        found = self.columns(columns)
        for key in self.keys:
            if all(name in found for name in key):
                return [found[name] for name in key]
        return []

    def problems(self, columns: Sequence[object]) -> list[str]:
        """What the rule finds wrong with `columns` (besides missing columns)."""
        return self.rule([str(c) for c in columns]) if self.rule is not None else []

    def require(self, frame: pd.DataFrame, *, path: object) -> None:
        """Raise :class:`~equity.errors.SchemaError` naming every missing column of `frame`."""
        missing = self.missing(frame.columns)
        if missing:
            found = ", ".join(str(c) for c in frame.columns[:20] if c != "geometry")
            msg = f"not {self.title}: missing {', '.join(missing)} (found: {found})"
            raise SchemaError([msg], source=str(path))

    def canonical(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with its declared columns renamed to their canonical spelling."""
        rename = {actual: name for name, actual in self.columns(frame.columns).items()}
        rename = {a: n for a, n in rename.items() if a != n}
        return frame.rename(columns=rename) if rename else frame

    def matches(self, columns: Iterable[object]) -> bool:
        """Whether the columns carry this kind's signature (a pattern matches a column's name,
        as written or as normalised by :func:`norm_name`)."""
        names = [n for c in columns for n in (str(c).strip(), norm_name(c))]
        return any(
            all(any(re.fullmatch(p, n) for n in names) for p in alternative)
            for alternative in self.signature
        )

    # ----------------------------------------------------------------------- values

    def is_numeric(self, column: object) -> bool | None:
        """Whether `column` holds numbers (None: decided by the data)."""
        c = str(column).strip()
        if any(re.fullmatch(p, c) for p in self.text):
            return False
        if self.numeric is None:
            return None
        return any(re.fullmatch(p, c) for p in self.numeric)

    def is_count(self, column: object) -> bool:
        """Whether `column` cannot be negative."""
        c = str(column).strip()
        return any(re.fullmatch(p, c) for p in self.counts)

    def range_of(self, column: object) -> tuple[float, float] | None:
        """``(low, high)`` of `column`, or None."""
        c = str(column).strip()
        return next(((lo, hi) for p, lo, hi in self.ranges if re.fullmatch(p, c)), None)

    def width_of(self, name: str) -> int | None:
        """Greatest width of the code column `name` (canonical), None when any."""
        return dict(self.codes).get(name)
