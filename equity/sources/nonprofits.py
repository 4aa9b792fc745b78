"""Nonprofits from the IRS Exempt Organizations Business Master File (EO BMF), selected by NTEE code.

The IRS publishes every tax-exempt organisation in the EO BMF extract (``eo_<state>.csv`` or
the regional ``eo1.csv`` ... ``eo4.csv``): its EIN, name, street address, ZIP+4, 501(c)
subsection, NTEE activity code and its income and asset classes, but no coordinates (they come
from :mod:`equity.sources.geocode`). :func:`read_nonprofits` reads such a file with every
column as text, so EINs keep their leading zeros and codes (``SUBSECTION`` ``"03"``, ``RULING``
``"196701"``) stay codes.

Which organisations count as partners
-------------------------------------
A fellow works through an organisation rooted in the community. By default the reader keeps
501(c)(3) public charities (``SUBSECTION`` ``03``, private non-operating foundations, which
make grants rather than run programmes, left out) whose NTEE code falls under one of the rules
of :data:`NTEE_SELECTION`; the longest matching prefix decides:

========  ================  ==============================================================
prefix    partner kind      mission, in plain words
========  ================  ==============================================================
B         nonprofit         education (B82 scholarships, B83 student societies, B84 alumni
                            associations and B94 parent-teacher groups left out)
B4, B50   college           college or university (B41: two-year college)
B60       nonprofit         adult and continuing education
B7        library           library
J         nonprofit         employment and workforce development (J40 labour unions left out)
O         nonprofit         youth development
P27       community_center  YMCA, YWCA or similar association
P28       community_center  neighbourhood centre
P81       community_center  senior centre
S         nonprofit         community improvement and economic development (S46 boards of
                            trade and S47 real estate associations left out)
U         nonprofit         science and technology (U41: computer science and technology)
========  ================  ==============================================================

Organisations without an NTEE code (about a third of the file) cannot be told apart and are
left out; their number is logged and kept in ``attrs["n_blank_ntee"]``. The table is a
default: ``ntee={"P20": "nonprofit", "B94": True, "S41": False}`` (the run configuration's
``[partners.ntee]``) adds or removes prefixes; a prefix replaces the default rules under it.

Size
----
``INCOME_CD`` and ``ASSET_CD`` are the IRS's size classes (:data:`SIZE_CLASSES`: 0 = none
reported, 1 = $1-9,999 ... 6 = $1-5 million ... 9 = $50 million or more); they say how large
an organisation is without trusting one year's amounts.

Examples
--------
>>> classify_ntee(pd.Series(["B70", "B43", "S20", "J40", "X20", None]))["kind"].tolist()
['library', 'college', 'nonprofit', <NA>, <NA>, <NA>]
>>> SIZE_CLASSES[6]
'$1-5 million'
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from equity.errors import ConfigError, SchemaError
from equity.sources._common import (
    PathLike,
    check_file,
    drop_duplicate_rows,
    read_csv_text,
    require_rows,
    set_provenance,
    vintage_from_name,
)
from equity.sources._schema import Schema

__all__ = [
    "NTEE_MAJOR_GROUPS",
    "NTEE_SELECTION",
    "SCHEMA",
    "SIZE_CLASSES",
    "NteeRule",
    "classify_ntee",
    "ntee_rules",
    "read_nonprofits",
    "split_zip",
]

logger = logging.getLogger("equity.sources")

#: The 26 major groups of the National Taxonomy of Exempt Entities, in plain words.
NTEE_MAJOR_GROUPS: dict[str, str] = {
    "A": "arts, culture and humanities",
    "B": "education",
    "C": "environment",
    "D": "animal-related",
    "E": "health care",
    "F": "mental health and crisis intervention",
    "G": "voluntary health associations",
    "H": "medical research",
    "I": "crime and legal-related",
    "J": "employment and workforce development",
    "K": "food, agriculture and nutrition",
    "L": "housing and shelter",
    "M": "public safety and disaster relief",
    "N": "recreation and sports",
    "O": "youth development",
    "P": "human services",
    "Q": "international affairs",
    "R": "civil rights and advocacy",
    "S": "community improvement and economic development",
    "T": "philanthropy and voluntarism",
    "U": "science and technology",
    "V": "social science",
    "W": "public and societal benefit",
    "X": "religion-related",
    "Y": "mutual and membership benefit",
    "Z": "unknown",
}


@dataclass(frozen=True)
class NteeRule:
    """One line of the NTEE selection: codes starting with `prefix` are partners of `kind`
    (None: left out) whose mission reads `mission`."""

    prefix: str
    kind: str | None
    mission: str


#: The default NTEE selection (see the module notes); the longest matching prefix wins.
NTEE_SELECTION: tuple[NteeRule, ...] = (
    NteeRule("B", "nonprofit", "education"),
    NteeRule("B4", "college", "college or university"),
    NteeRule("B41", "college", "two-year college"),
    NteeRule("B50", "college", "graduate and professional school"),
    NteeRule("B60", "nonprofit", "adult and continuing education"),
    NteeRule("B7", "library", "library"),
    NteeRule("B82", None, "scholarships and student financial aid"),
    NteeRule("B83", None, "student sororities and fraternities"),
    NteeRule("B84", None, "alumni associations"),
    NteeRule("B94", None, "parent-teacher groups"),
    NteeRule("J", "nonprofit", "workforce development"),
    NteeRule("J2", "nonprofit", "job training and employment"),
    NteeRule("J3", "nonprofit", "vocational rehabilitation"),
    NteeRule("J40", None, "labour unions"),
    NteeRule("O", "nonprofit", "youth development"),
    NteeRule("P27", "community_center", "YMCA, YWCA or similar association"),
    NteeRule("P28", "community_center", "neighbourhood centre"),
    NteeRule("P81", "community_center", "senior centre"),
    NteeRule("S", "nonprofit", "community improvement"),
    NteeRule("S2", "nonprofit", "community and neighbourhood development"),
    NteeRule("S3", "nonprofit", "economic development"),
    NteeRule("S4", "nonprofit", "business and industry"),
    NteeRule("S43", "nonprofit", "small business development"),
    NteeRule("S46", None, "boards of trade"),
    NteeRule("S47", None, "real estate associations"),
    NteeRule("S5", "nonprofit", "nonprofit management support"),
    NteeRule("S8", "nonprofit", "community service club"),
    NteeRule("U", "nonprofit", "science and technology"),
    NteeRule("U4", "nonprofit", "engineering and technology"),
    NteeRule("U41", "nonprofit", "computer science and technology"),
)

#: IRS size classes of ``INCOME_CD`` and ``ASSET_CD`` (dollars), in words.
SIZE_CLASSES: dict[int, str] = {
    0: "none reported",
    1: "$1-9,999",
    2: "$10,000-24,999",
    3: "$25,000-99,999",
    4: "$100,000-499,999",
    5: "$500,000-999,999",
    6: "$1-5 million",
    7: "$5-10 million",
    8: "$10-50 million",
    9: "$50 million or more",
}

#: 501(c) subsections kept by default: 03, public charities (and private foundations).
DEFAULT_SUBSECTIONS: tuple[str, ...] = ("03",)

#: ``FOUNDATION`` code of private non-operating (grant-making) foundations, left out by default.
_PRIVATE_NONOPERATING = "04"

_PREFIX = re.compile(r"[A-Z]\d{0,2}")

#: Files of the EO BMF extract: one row per EIN, NTEE codes and addresses.
SCHEMA = Schema(
    kind="nonprofits",
    title="an IRS Exempt Organizations Business Master File extract",
    required=(("EIN",), ("NAME",), ("STREET",), ("CITY",), ("STATE",), ("ZIP",), ("NTEE_CD",)),
    optional=tuple(
        (c,)
        for c in ("ICO", "SUBSECTION", "FOUNDATION", "STATUS", "INCOME_CD", "ASSET_CD")
        + ("INCOME_AMT", "ASSET_AMT", "REVENUE_AMT", "SORT_NAME", "AFFILIATION", "RULING")
    ),
    keys=(("EIN",),),
    codes=(("EIN", 9),),
    numeric=(r"(?i)INCOME_AMT|ASSET_AMT|REVENUE_AMT",),
    counts=(r"(?i)ASSET_AMT",),
    signature=((r"EIN", r"NTEE CD"), (r"EIN", r"SUBSECTION", r"ZIP")),
    aliases=("bmf", "irs_eo", "eo_bmf"),
)


def ntee_rules(overrides: Mapping[str, str | bool] | None = None) -> dict[str, NteeRule]:
    """The NTEE selection by prefix: :data:`NTEE_SELECTION` with `overrides` applied.

    Parameters
    ----------
    overrides
        ``{prefix: kind}`` adds or changes a prefix (``True`` means ``"nonprofit"``),
        ``{prefix: False}`` leaves its codes out. A prefix is a major-group letter and up to
        two digits (``"P"``, ``"P2"``, ``"P20"``); it replaces the default rules under it
        (``{"S": False}`` leaves every S code out, ``{"S": False, "S20": True}`` all but S20).

    Returns
    -------
    dict
        Prefix -> :class:`NteeRule`.

    Raises
    ------
    ConfigError
        A prefix that is not a letter and up to two digits, or a kind that is not text.

    Examples
    --------
    >>> ntee_rules({"P20": "nonprofit", "B94": True})["P20"].mission
    'human services'
    """
    rules = {r.prefix: r for r in NTEE_SELECTION}
    problems = []
    given = sorted((overrides or {}).items(), key=lambda kv: len(str(kv[0]).strip()))
    given_prefixes = {str(k).strip().upper() for k, _ in given}
    for raw_prefix, value in given:
        prefix = str(raw_prefix).strip().upper()
        if not _PREFIX.fullmatch(prefix):
            problems.append(f"NTEE prefix {raw_prefix!r} is not a letter and up to two digits")
            continue
        if value is True:
            value = "nonprofit"
        if value is not False and not (isinstance(value, str) and value.strip()):
            problems.append(f"NTEE prefix {raw_prefix!r}: {value!r} must be a kind or false")
            continue
        kind = None if value is False else str(value).strip().lower()
        mission = _mission(prefix, rules)
        # a prefix replaces the default rules under it ("S" = false leaves every S code out)
        for longer in [p for p in rules if p.startswith(prefix) and p != prefix]:
            if longer not in given_prefixes:
                del rules[longer]
        rules[prefix] = NteeRule(prefix, kind, mission)
    if problems:
        raise ConfigError("; ".join(problems))
    return rules


def _mission(prefix: str, rules: Mapping[str, NteeRule]) -> str:
    """The mission words of the longest rule prefix of `prefix`, else its major group's."""
    for n in range(len(prefix), 0, -1):
        if prefix[:n] in rules:
            return rules[prefix[:n]].mission
    return NTEE_MAJOR_GROUPS.get(prefix[0], "unknown")


def _clean_ntee(codes: pd.Series) -> pd.Series:
    """NTEE codes upper-cased and stripped; a letter O typed for a zero (``J4O``) repaired."""
    s = codes.astype("string").str.strip().str.upper()
    s = s.where(s != "", pd.NA)
    head, tail = s.str[:1], s.str[1:]
    return (head + tail.str.replace("O", "0", regex=False)).astype("string")


def classify_ntee(codes: pd.Series, *, rules: Mapping[str, NteeRule] | None = None) -> pd.DataFrame:
    """Partner kind and mission of each NTEE code by the longest matching rule prefix.

    Parameters
    ----------
    codes
        NTEE codes (``"B70"``, ``"S20Z"``, blank).
    rules
        Prefix -> rule, default :func:`ntee_rules` ``()``.

    Returns
    -------
    pandas.DataFrame
        Same index: ``ntee_code`` (cleaned), ``kind`` (NA when left out or unmatched),
        ``mission`` (the rule's words, else the major group's; NA when blank) and ``rule``
        (the prefix that decided, NA when none).
    """
    rules = ntee_rules() if rules is None else rules
    code = _clean_ntee(codes)
    rule = pd.Series(pd.NA, index=codes.index, dtype="string")
    for n in (3, 2, 1):
        part = code.str[:n]
        hit = rule.isna() & part.isin(list(rules)).fillna(False)
        rule[hit] = part[hit]
    kind = rule.map({p: r.kind for p, r in rules.items()}, na_action="ignore")
    mission = rule.map({p: r.mission for p, r in rules.items()}, na_action="ignore")
    major = code.str[:1].map(NTEE_MAJOR_GROUPS, na_action="ignore")
    return pd.DataFrame(
        {
            "ntee_code": code,
            "kind": kind.astype("string"),
            "mission": mission.fillna(major).astype("string"),
            "rule": rule,
        },
        index=codes.index,
    )


def split_zip(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Five-digit ZIP codes and ZIP+4 extensions from ``"25827-9436"``, ``"258279436"``, ``"2134"``.

    Codes that lost a leading zero (4 or 8 digits) are zero-padded; anything else is NA.

    Examples
    --------
    >>> z, plus4 = split_zip(pd.Series(["25827-9436", "2134", "021340001", "n/a"]))
    >>> z.tolist(), plus4.tolist()
    (['25827', '02134', '02134', <NA>], ['9436', <NA>, '0001', <NA>])
    """
    s = values.astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    dashed = s.str.extract(r"^(\d{3,5})-(\d{4})$")
    digits = s.where(s.str.fullmatch(r"\d{3,9}").fillna(False))
    short = digits.where(digits.str.len() <= 5)
    long_ = digits.where(digits.str.len() > 5).str.zfill(9)
    zip5 = dashed[0].str.zfill(5).fillna(short.str.zfill(5)).fillna(long_.str[:5])
    plus4 = dashed[1].fillna(long_.str[5:])
    return zip5.astype("string"), plus4.astype("string")


def _size_class(values: pd.Series) -> pd.Series:
    """IRS size class 0-9 as a nullable integer (NA when blank or not a class)."""
    s = values.astype("string").str.strip()
    return pd.to_numeric(s.where(s.str.fullmatch(r"\d").fillna(False)), errors="coerce").astype(
        "Int64"
    )


def _amount(values: pd.Series) -> pd.Series:
    return pd.to_numeric(values.astype("string").str.strip(), errors="coerce").astype("float64")


def _text(raw: pd.DataFrame, column: str) -> pd.Series:
    if column not in raw.columns:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    s = raw[column].astype("string").str.strip()
    return s.where(s != "", pd.NA)


def _table(raw: pd.DataFrame, rules: Mapping[str, NteeRule]) -> pd.DataFrame:
    """The tidy columns of every row (before selection)."""
    zip5, plus4 = split_zip(raw["ZIP"])
    ntee = classify_ntee(raw["NTEE_CD"], rules=rules)
    return pd.DataFrame(
        {
            "ein": raw["EIN"].astype("string").str.strip().str.zfill(9),
            "name": _text(raw, "NAME"),
            "care_of": _text(raw, "ICO"),
            "street": _text(raw, "STREET"),
            "city": _text(raw, "CITY"),
            "state_abbr": _text(raw, "STATE").str.upper(),
            "zip": zip5,
            "zip4": plus4,
            "ntee_code": ntee["ntee_code"],
            "kind": ntee["kind"],
            "mission": ntee["mission"],
            "subsection": _text(raw, "SUBSECTION").str.zfill(2),
            "foundation": _text(raw, "FOUNDATION").str.zfill(2),
            "income_class": _size_class(raw["INCOME_CD"])
            if "INCOME_CD" in raw
            else pd.array([pd.NA] * len(raw), dtype="Int64"),
            "asset_class": _size_class(raw["ASSET_CD"])
            if "ASSET_CD" in raw
            else pd.array([pd.NA] * len(raw), dtype="Int64"),
            "income_amount": _amount(raw["INCOME_AMT"]) if "INCOME_AMT" in raw else float("nan"),
            "asset_amount": _amount(raw["ASSET_AMT"]) if "ASSET_AMT" in raw else float("nan"),
        }
    )


def _mask(values: pd.Series) -> np.ndarray:
    """A boolean mask as numpy (missing is False)."""
    return values.fillna(False).to_numpy(dtype=bool)


def _selection(
    out: pd.DataFrame, subsections: Iterable[str], private_foundations: bool
) -> tuple[np.ndarray, dict[str, int]]:
    """Which rows are partners, and how many each rule left out."""
    subs = {str(s).strip().zfill(2) for s in subsections}
    blank = out["ntee_code"].isna().to_numpy()
    other_sub = ~_mask(out["subsection"].isin(list(subs))) if subs else np.zeros(len(out), bool)
    private = _mask(out["foundation"] == _PRIVATE_NONOPERATING) & (not private_foundations)
    by_code = out["kind"].isna().to_numpy() & ~blank
    keep = ~blank & ~other_sub & ~private & ~by_code
    counts = {
        "n_blank_ntee": int(blank.sum()),
        "n_other_subsection": int((other_sub & ~blank).sum()),
        "n_private_foundation": int((private & ~blank & ~other_sub).sum()),
        "n_not_selected_ntee": int((by_code & ~other_sub & ~private).sum()),
    }
    return keep, counts


def read_nonprofits(
    path: PathLike,
    *,
    select: bool = True,
    ntee: Mapping[str, str | bool] | None = None,
    subsections: Iterable[str] = DEFAULT_SUBSECTIONS,
    private_foundations: bool = False,
) -> pd.DataFrame:
    """Read an IRS EO BMF extract: nonprofits with their address, mission and size.

    Parameters
    ----------
    path
        ``eo_<state>.csv`` or ``eo1.csv`` ... ``eo4.csv`` (``EIN``, ``NAME``, ``STREET``,
        ``CITY``, ``STATE``, ``ZIP``, ``NTEE_CD``, ``SUBSECTION``, ``INCOME_CD``, ...).
    select
        Keep only the partner organisations (see the module notes); False returns every row,
        with ``kind`` NA for those the selection leaves out.
    ntee
        Changes to the NTEE selection (:func:`ntee_rules`).
    subsections
        501(c) subsections kept (``"03"``: public charities); empty keeps all.
    private_foundations
        Keep private non-operating foundations (``FOUNDATION`` ``04``, grant-makers).

    Returns
    -------
    pandas.DataFrame
        ``ein`` (9-digit text), ``name``, ``care_of``, ``street``, ``city``, ``state_abbr``,
        ``zip`` (5 digits), ``zip4``, ``ntee_code``, ``kind`` (``nonprofit``, ``library``,
        ``college``, ``community_center``), ``mission`` (plain words), ``subsection``,
        ``foundation``, ``income_class`` and ``asset_class`` (IRS classes 0-9,
        :data:`SIZE_CLASSES`), ``income_amount``, ``asset_amount`` (dollars). No coordinates.
        ``attrs``: provenance, ``n_rows``, ``n_selected``, ``n_blank_ntee``,
        ``n_other_subsection``, ``n_private_foundation``, ``n_not_selected_ntee``,
        ``n_bad_zip``.

    Raises
    ------
    SchemaError
        Missing columns (:data:`SCHEMA`), EINs that are not 9-digit codes, repeated EINs.
    ConfigError
        A bad `ntee` change.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "eo_xx.csv"
    >>> _ = p.write_text(
    ...     "EIN,NAME,STREET,CITY,STATE,ZIP,SUBSECTION,NTEE_CD,INCOME_CD\\n"
    ...     "010549451,TOWN LIBRARY,1 MAIN ST,TOWN,VT,05001-1234,03,B70,4\\n"
    ...     "020000001,TOWN CHURCH,2 MAIN ST,TOWN,VT,05001-1234,03,X20,1\\n")
    >>> read_nonprofits(p)[["ein", "kind", "zip", "income_class"]].values.tolist()
    [['010549451', 'library', '05001', 4]]
    """
    p = check_file(path)
    raw = SCHEMA.canonical(read_csv_text(p))
    require_rows(raw, path=p)
    SCHEMA.require(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    ein = raw["EIN"].astype("string").str.strip()
    bad = ~ein.str.fullmatch(r"\d{1,9}").fillna(False)
    if bad.any():
        msg = f"column 'EIN' has {int(bad.sum())} value(s) that are not EINs, e.g. {ein[bad].iloc[0]!r}"
        raise SchemaError([msg], source=str(p))
    out = _table(raw, ntee_rules(ntee))
    dup = out["ein"].duplicated(keep=False)
    if dup.any():
        msg = f"column 'EIN' repeats {int(dup.sum())} EINs with different rows, e.g. {out.loc[dup, 'ein'].iloc[0]!r}"
        raise SchemaError([msg], source=str(p))
    keep, counts = _selection(out, subsections, private_foundations)
    n_bad_zip = int(out["zip"].isna().sum())
    if n_bad_zip:
        logger.warning("%s: %d row(s) without a usable ZIP code", p, n_bad_zip)
    if select:
        out = out.loc[keep].reset_index(drop=True)
    logger.info(
        "read_nonprofits %s: %d of %d organisations selected (%d without an NTEE code)",
        p,
        int(keep.sum()),
        len(keep),
        counts["n_blank_ntee"],
    )
    return set_provenance(
        out,
        source="irs_eo_bmf",
        title="IRS Exempt Organizations Business Master File extract",
        publisher="Internal Revenue Service, Statistics of Income",
        vintage=vintage_from_name(p),
        licence="Public domain (US federal government work)",
        attribution="Internal Revenue Service, Exempt Organizations Business Master File",
        path=p,
        n_rows=len(keep),
        n_selected=int(keep.sum()),
        n_bad_zip=n_bad_zip,
        **counts,
    )
