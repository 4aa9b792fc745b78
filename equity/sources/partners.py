"""A planner's own list of partner organisations, as CSV or XLSX with the headers people write.

Planners keep their contacts in spreadsheets whose headers vary: "Organization", "Org name",
"Lat", "y", "Street", "Zip code", "Type". :func:`read_partner_list` maps them to its fields by
a small table of accepted spellings (:data:`FIELDS`, also the schema ``validate`` checks), which
lists a few common misspellings (``Lattitude``, ``Adress``, ``Longtitude``) explicitly:

=============  ==================================================================================
field          accepted headers (case, spaces and punctuation ignored)
=============  ==================================================================================
name           name, organization, organisation, org name, org, organization name, partner,
               partner name, institution, agency (and organisation/organization misspellings)
partner_id     id, partner id, anchor id, org id, organization id, record id
kind           kind, type, category, partner type, org type, organization type, sector
address        address, street, street address, address 1, address line 1, addr, adress, addres
city           city, town, municipality, city/town, locality
state          state, st, state abbr, stabbr, state code
zip            zip, zip code, zipcode, postal code, postcode, zip5, zip+4
latitude       latitude, lat, y, lattitude, latitute, latitide
longitude      longitude, lon, long, lng, x, longtitude, longitute, longditude
ein            ein, tax id, fein, employer identification number
=============  ==================================================================================

Headers the table does not know can be named in the run configuration
(``[partners.columns]``, e.g. ``name = "Partner (legal name)"``), the `columns` argument here.
A field still missing is then looked for among the remaining headers by close spelling
(:func:`difflib.get_close_matches`, cutoff 0.85, only for spellings of 5 characters or more, so
``x`` never turns into ``lat``); every such guess is logged as a warning and listed in
``attrs["column_map"]`` with ``how="fuzzy"``, so no column is mapped silently.

Rows need a name and either coordinates or an address (or at least a ZIP code); rows without
coordinates are geocoded later (:mod:`equity.sources.geocode`). An address written whole in one
column (``"12 Main St, Abingdon, VA 24210"``) is split into street, city, state and ZIP when the
file has no such columns. Kinds are normalised (:func:`normalise_kind`: "Public Library" ->
``library``, "Non-profit" -> ``nonprofit``, "Community Centre" -> ``community_center``).
Duplicates are not dropped here: the partner layer merges them with the other sources and
reports each merge.

Examples
--------
>>> normalise_kind(pd.Series(["Public Library", "Non-profit", "", "Workforce Center"])).tolist()
['library', 'nonprofit', 'other', 'workforce_center']
"""

from __future__ import annotations

import difflib
import logging
import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from equity.errors import ConfigError, DataError, SchemaError
from equity.sources._common import (
    PathLike,
    check_file,
    read_csv_text,
    require_rows,
    set_provenance,
    vintage_from_name,
)
from equity.sources._schema import Layout, Schema, norm_name
from equity.sources._states import STATES

__all__ = ["FIELDS", "KIND_ALIASES", "SCHEMA", "normalise_kind", "read_partner_list"]

logger = logging.getLogger("equity.sources")

#: Each field of a partner list and the headers accepted for it (the first is its name).
FIELDS: dict[str, tuple[str, ...]] = {
    "name": (
        "name",
        "organization",
        "organisation",
        "org name",
        "org",
        "organization name",
        "organisation name",
        "partner",
        "partner name",
        "institution",
        "agency",
        "organizaton",
        "orginization",
        "organisaton",
        "organziation",
    ),
    "partner_id": (
        "partner_id",
        "id",
        "anchor id",
        "org id",
        "organization id",
        "organisation id",
        "record id",
    ),
    "kind": (
        "kind",
        "type",
        "category",
        "partner type",
        "org type",
        "organization type",
        "organisation type",
        "sector",
    ),
    "address": (
        "address",
        "street",
        "street address",
        "address 1",
        "address1",
        "address line 1",
        "addr",
        "adress",
        "addres",
        "street adress",
    ),
    "city": ("city", "town", "municipality", "city/town", "locality"),
    "state": ("state", "st", "state abbr", "state_abbr", "stabbr", "state code"),
    "zip": ("zip", "zip code", "zipcode", "postal code", "postcode", "zip5", "zip+4"),
    "latitude": ("latitude", "lat", "y", "lattitude", "latitute", "latitide"),
    "longitude": ("longitude", "lon", "long", "lng", "x", "longtitude", "longitute", "longditude"),
    "ein": ("ein", "tax id", "fein", "employer identification number"),
}

_LAT, _LON = FIELDS["latitude"], FIELDS["longitude"]

#: A planner's list: a name, and coordinates, an address or a ZIP code.
SCHEMA = Schema(
    kind="partners",
    title="a partner list",
    required=(FIELDS["name"],),
    layouts=(
        Layout("coordinates", (_LAT, _LON)),
        Layout("address", (FIELDS["address"],)),
        Layout("zip", (FIELDS["zip"],)),
    ),
    optional=tuple(v for k, v in FIELDS.items() if k != "name"),
    numeric=(f"(?i){'|'.join(_LAT + _LON)}",),
    ranges=(
        (f"(?i){'|'.join(_LAT)}", -90.0, 90.0),
        (f"(?i){'|'.join(_LON)}", -180.0, 180.0),
    ),
    formats=(".csv", ".txt", ".xlsx"),
    aliases=("partner_list", "my_partners"),
)

#: Kinds a planner writes, to the kinds of the partner layer (anything else: snake case).
KIND_ALIASES: dict[str, tuple[str, ...]] = {
    "library": ("library", "libraries", "public library", "branch library", "library branch"),
    "college": (
        "college",
        "university",
        "community college",
        "technical college",
        "junior college",
        "higher education",
        "higher ed",
    ),
    "school": (
        "school",
        "public school",
        "k 12",
        "k12",
        "elementary school",
        "middle school",
        "high school",
        "school district",
    ),
    "nonprofit": (
        "nonprofit",
        "non profit",
        "not for profit",
        "npo",
        "ngo",
        "charity",
        "501c3",
        "501 c 3",
        "community organization",
        "community organisation",
        "cbo",
    ),
    "community_center": (
        "community center",
        "community centre",
        "recreation center",
        "recreation centre",
        "rec center",
        "senior center",
        "senior centre",
        "neighborhood center",
        "neighbourhood centre",
        "ymca",
        "ywca",
    ),
}
_KIND_OF = {" ".join(a.split()): kind for kind, names in KIND_ALIASES.items() for a in names}

_FUZZY_CUTOFF = 0.85
_FUZZY_MIN_LENGTH = 5
_WHOLE_ADDRESS = (
    r"^\s*(?P<street>[^,]+?)\s*,\s*(?P<city>[^,]+?)\s*,\s*(?P<state>[A-Za-z]{2})\.?"
    r"(?:\s+(?P<zip>\d{5}(?:-?\d{4})?))?\s*$"
)


def normalise_kind(values: pd.Series) -> pd.Series:
    """Kinds as the partner layer names them (see :data:`KIND_ALIASES`); blank -> ``other``."""
    s = values.astype("string").fillna("").str.lower()
    spaced = s.str.replace(r"[^a-z0-9]+", " ", regex=True).str.strip()
    snake = spaced.str.replace(" ", "_", regex=False)
    out = spaced.map(_KIND_OF).astype("string").fillna(snake)
    return out.where(out != "", "other").astype("string")


# --------------------------------------------------------------------------- columns


def _check_columns_option(columns: Mapping[str, str] | None) -> dict[str, str]:
    given = dict(columns or {})
    unknown = sorted(set(given) - set(FIELDS))
    if unknown:
        msg = (
            f"[partners.columns]: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"valid: {', '.join(FIELDS)}"
        )
        raise ConfigError(msg)
    return {k: str(v) for k, v in given.items()}


def _column_map(
    headers: list[str], columns: Mapping[str, str] | None, *, path: Path
) -> list[tuple[str, str, str]]:
    """``(field, header, how)`` for every field found: ``config``, ``alias`` or ``fuzzy``."""
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(norm_name(h), h)
    found: list[tuple[str, str, str]] = []
    used: set[str] = set()
    for field, header in _check_columns_option(columns).items():
        actual = by_norm.get(norm_name(header))
        if actual is None:
            msg = (
                f"[partners.columns] {field} = {header!r}: no such column "
                f"(found: {', '.join(headers[:20])})"
            )
            raise SchemaError([msg], source=str(path))
        found.append((field, actual, "config"))
        used.add(actual)
    for field, spellings in FIELDS.items():
        if any(f == field for f, _, _ in found):
            continue
        actual = next((by_norm[norm_name(s)] for s in spellings if norm_name(s) in by_norm), None)
        if actual is not None and actual not in used:
            found.append((field, actual, "alias"))
            used.add(actual)
    return found + _fuzzy(headers, found, used, path=path)


def _fuzzy(
    headers: list[str], found: list[tuple[str, str, str]], used: set[str], *, path: Path
) -> list[tuple[str, str, str]]:
    """Close spellings of the fields still missing among the unused headers, each reported."""
    have = {f for f, _, _ in found}
    free = {norm_name(h): h for h in headers if h not in used and len(norm_name(h)) >= 5}
    out = []
    for field, spellings in FIELDS.items():
        if field in have or field in ("partner_id", "ein"):
            continue
        targets = [norm_name(s) for s in spellings if len(norm_name(s)) >= _FUZZY_MIN_LENGTH]
        best: tuple[float, str] | None = None
        for norm, header in free.items():
            for t in targets:
                ratio = difflib.SequenceMatcher(None, norm, t).ratio()
                if ratio >= _FUZZY_CUTOFF and (best is None or ratio > best[0]):
                    best = (ratio, header)
        if best is not None:
            header = best[1]
            logger.warning(
                "%s: column %r read as the partner %s (a close spelling, %.0f%% alike); "
                "name it in [partners.columns] to make this explicit",
                path,
                header,
                field,
                100 * best[0],
            )
            out.append((field, header, "fuzzy"))
            free.pop(norm_name(header))
    return out


# --------------------------------------------------------------------------- reading


def _read_rows(path: Path, *, sheet: str | int | None) -> pd.DataFrame:
    """Every cell as text; XLSX header found among the first rows (title lines skipped)."""
    if path.suffix.lower() not in (".xlsx", ".xlsm"):
        return read_csv_text(path)
    try:
        grid = pd.read_excel(path, sheet_name=sheet or 0, header=None, dtype=str)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        msg = f"{path}: cannot read as an Excel workbook ({exc})"
        raise DataError(msg) from exc
    names = {norm_name(s) for s in FIELDS["name"]}
    for i in range(min(len(grid), 10)):
        cells = [norm_name(c) for c in grid.iloc[i].tolist() if isinstance(c, str)]
        if names.intersection(cells):
            header = [
                str(c).strip() if isinstance(c, str) else f"column {j + 1}"
                for j, c in enumerate(grid.iloc[i])
            ]
            body = grid.iloc[i + 1 :].reset_index(drop=True)
            body.columns = header
            body = body.dropna(how="all").reset_index(drop=True)
            return body.astype("string")
    first = ", ".join(str(c) for c in grid.iloc[0].tolist()[:10]) if len(grid) else ""
    msg = f"{path}: no header row with a name column in the first 10 rows (first row: {first})"
    raise SchemaError([msg], source=str(path))


def _text(raw: pd.DataFrame, col: str | None) -> pd.Series:
    if col is None:
        return pd.Series(pd.NA, index=raw.index, dtype="string")
    s = raw[col].astype("string").str.strip().str.replace(r"\s+", " ", regex=True)
    return s.where(s != "", pd.NA)


def _coordinate(raw: pd.DataFrame, col: str | None, bound: float, *, path: Path) -> np.ndarray:
    """A coordinate column as floats (NaN when blank); text or values out of range raise."""
    if col is None:
        return np.full(len(raw), np.nan)
    s = _text(raw, col)
    v = pd.to_numeric(s, errors="coerce")
    bad = v.isna() & s.notna()
    if bad.any():
        msg = f"column {col!r} has {int(bad.sum())} value(s) that are not numbers, e.g. {s[bad].iloc[0]!r}"
        raise SchemaError([msg], source=str(path))
    out = v.to_numpy(dtype=float, na_value=np.nan)
    far = np.abs(out) > bound
    if far.any():
        msg = f"column {col!r} has {int(far.sum())} value(s) outside -{bound:g}..{bound:g}, e.g. {out[far][0]!r}"
        raise SchemaError([msg], source=str(path))
    return out


def _state(values: pd.Series) -> pd.Series:
    """USPS codes from codes or names (``"Virginia"`` -> ``"VA"``); other text kept upper-cased."""
    names = {s.name.upper(): s.usps for s in STATES}
    s = values.astype("string").str.strip().str.upper().str.rstrip(".")
    return s.map(lambda v: names.get(v, v), na_action="ignore").astype("string")


def _split_whole_address(out: pd.DataFrame) -> int:
    """Split ``"street, city, ST zip"`` addresses into their parts (in place); how many."""
    parts = out["address"].str.extract(_WHOLE_ADDRESS)
    ok = parts["street"].notna()
    out.loc[ok, "city"] = parts.loc[ok, "city"]
    out.loc[ok, "state"] = _state(parts.loc[ok, "state"])
    out.loc[ok, "zip"] = parts.loc[ok, "zip"].str[:5]
    out.loc[ok, "address"] = parts.loc[ok, "street"]
    return int(ok.sum())


def read_partner_list(
    path: PathLike,
    *,
    columns: Mapping[str, str] | None = None,
    sheet: str | int | None = None,
) -> pd.DataFrame:
    """Read a planner's list of partner organisations (CSV or XLSX).

    Parameters
    ----------
    path
        A ``.csv`` (header on the first line) or ``.xlsx`` (header within the first 10 rows of
        the sheet) with at least a name column and coordinates, an address or a ZIP code.
    columns
        ``{field: header}`` for headers :data:`FIELDS` does not know (``[partners.columns]``).
    sheet
        Sheet of a workbook (name or 0-based position); default the first.

    Returns
    -------
    pandas.DataFrame
        One row per listed row: ``partner_id`` (the file's id, else ``row <n>``), ``name``,
        ``kind`` (normalised), ``address``, ``city``, ``state`` (USPS), ``zip`` (5 digits),
        ``ein``, ``latitude``, ``longitude`` (NaN where not given; 0, 0 counts as not given).
        ``attrs``: provenance, ``column_map`` (``[field, header, how]`` with how ``config``,
        ``alias`` or ``fuzzy``), ``n_without_location`` (rows with neither coordinates, address
        nor ZIP), ``n_split_addresses``.

    Raises
    ------
    SchemaError
        No name column; neither coordinates, address nor ZIP columns; coordinates that are not
        numbers or out of range; a ``[partners.columns]`` header not in the file.
    ConfigError
        `columns` names an unknown field.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "my partners.csv"
    >>> _ = p.write_text("Organization,Type,Adress,Town,ST,Zip code\\n"
    ...                  "Abingdon Library,Public library,200 Oak Hill St,Abingdon,VA,24210\\n")
    >>> df = read_partner_list(p)
    >>> df[["name", "kind", "address", "zip"]].values.tolist()
    [['Abingdon Library', 'library', '200 Oak Hill St', '24210']]
    >>> [m[:2] for m in df.attrs["column_map"]][:3]
    [['name', 'Organization'], ['kind', 'Type'], ['address', 'Adress']]
    """
    p = check_file(path)
    raw = _read_rows(p, sheet=sheet)
    require_rows(raw, path=p)
    headers = [str(c) for c in raw.columns]
    mapping = _column_map(headers, columns, path=p)
    col = {field: header for field, header, _ in mapping}
    _require(col, headers, path=p)
    out = _table(raw, col, path=p)
    located = out[["latitude", "longitude"]].notna().all(axis=1)
    n_split = (
        _split_whole_address(out)
        if "address" in col and not {"city", "state", "zip"} & set(col)
        else 0
    )
    nothing = ~located & out["address"].isna() & out["zip"].isna()
    if nothing.any():
        logger.warning(
            "%s: %d row(s) with neither coordinates, address nor ZIP code (e.g. %r)",
            p,
            int(nothing.sum()),
            out.loc[nothing, "name"].iloc[0],
        )
    logger.info(
        "read_partner_list %s: %d rows, %d with coordinates; columns %s",
        p,
        len(out),
        int(located.sum()),
        ", ".join(f"{f}={h!r} ({how})" for f, h, how in mapping),
    )
    return set_provenance(
        out,
        source="partner_list",
        title="Partner organisations listed by the planner",
        publisher="user supplied",
        vintage=vintage_from_name(p),
        licence="see the file's source",
        attribution="",
        path=p,
        column_map=[list(m) for m in mapping],
        n_without_location=int(nothing.sum()),
        n_split_addresses=n_split,
    )


def _require(col: Mapping[str, str], headers: list[str], *, path: Path) -> None:
    """Raise naming what is missing: a name column, or any column that locates a row."""
    found = ", ".join(headers[:20])
    hint = "; or name the header in [partners.columns]"
    if "name" not in col:
        accepted = ", ".join(FIELDS["name"][:8])
        msg = f"not a partner list: no name column (accepted: {accepted} ...{hint}); found: {found}"
        raise SchemaError([msg], source=str(path))
    if SCHEMA.layout(col) is None:
        msg = (
            "not a partner list: no column locates the organisations: latitude and longitude, "
            f"an address or a ZIP code (accepted: {', '.join(FIELDS['latitude'][:3])} / "
            f"{', '.join(FIELDS['longitude'][:3])}, {', '.join(FIELDS['address'][:3])}, "
            f"{', '.join(FIELDS['zip'][:3])} ...{hint}); found: {found}"
        )
        raise SchemaError([msg], source=str(path))


def _table(raw: pd.DataFrame, col: dict[str, str], *, path: Path) -> pd.DataFrame:
    """The list's fields, cleaned (ids, kinds, states, ZIP codes, coordinates)."""
    names = _text(raw, col.get("name"))
    if names.isna().all():
        msg = f"column {col['name']!r} holds no names"
        raise SchemaError([msg], source=str(path))
    ids = _text(raw, col.get("partner_id"))
    ids = ids.fillna(pd.Series([f"row {i + 2}" for i in range(len(raw))], index=raw.index))
    lat = _coordinate(raw, col.get("latitude"), 90.0, path=path)
    lon = _coordinate(raw, col.get("longitude"), 180.0, path=path)
    zero = (lat == 0) & (lon == 0)
    lat[zero], lon[zero] = np.nan, np.nan
    zips = _text(raw, col.get("zip")).str.replace(r"\.0+$", "", regex=True)
    zip5 = zips.str.extract(r"^(\d{3,5})(?:-?\d{4})?$", expand=False).str.zfill(5)
    ein = _text(raw, col.get("ein")).str.replace("-", "", regex=False)
    return (
        pd.DataFrame(
            {
                "partner_id": ids.astype("string"),
                "name": names,
                "kind": normalise_kind(_text(raw, col.get("kind"))),
                "address": _text(raw, col.get("address")),
                "city": _text(raw, col.get("city")),
                "state": _state(_text(raw, col.get("state"))),
                "zip": zip5.astype("string"),
                "ein": ein.where(ein.str.fullmatch(r"\d{1,9}").fillna(False)).str.zfill(9),
                "latitude": lat,
                "longitude": lon,
            }
        )
        .loc[names.notna()]
        .reset_index(drop=True)
    )
