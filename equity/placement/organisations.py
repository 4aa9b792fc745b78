"""Partner organisations: every source located, and each organisation counted once.

A fellow's partners come from several lists that overlap: IMLS library outlets, IPEDS colleges,
NCES public schools, IRS nonprofits (:mod:`equity.sources.nonprofits`), generic anchor files and
the planner's own list (:mod:`equity.sources.partners`). :func:`build_partners` turns them into
one point layer with one row per organisation:

1. **Standardise** each source to the same columns (name, kind, mission, size, address, ZIP,
   coordinates). Library bookmobiles and books-by-mail outlets (IMLS ``BS``, ``BM``) are left
   out: they have no building to host a fellow.
2. **Merge duplicates** (:data:`MERGE_RULES`), each merge reported in :attr:`PartnerLayer.merged`:

   - ``same id``: the planner lists the same id twice;
   - ``same EIN``: a listed EIN equals a nonprofit's;
   - ``same name and ZIP``: equal names (case, punctuation, ``Inc``/``The`` and common
     abbreviations such as ``Ctr``, ``Assn``, ``Lib`` ignored) in the same ZIP code;
   - ``same address and ZIP``: the same street address (``Street``/``St``, ``Suite ...``
     ignored) and ZIP code, with names sharing at least half their words;
   - ``same name within <same_place_km> km``: equal names, once located, at most
     ``same_place_km`` apart.

   Two rows of the same official source are never merged (two EINs are two organisations),
   and a "Friends of", foundation, booster, alumni or parent-teacher group is never merged with
   the organisation it supports. The merged organisation takes its name and kind from the
   planner's list when listed there (the planner knows best), else from the first source in
   :data:`SOURCE_ORDER`; its mission and size from the IRS file; its point from the most
   precise source.
3. **Locate** each organisation (column ``located``): ``source`` (coordinates in a source file),
   ``address`` (its street address matched by the Census geocoder) or ``zip`` (the centre of
   its ZIP code area: a precision of a few km in towns, tens of km in rural areas).
   Which organisations are sent to the geocoder is the ``geocode`` option (:data:`GEOCODE`):
   ``partners`` (default: the planner's list), ``all`` (also the IRS nonprofits, which have
   addresses but no coordinates) or ``off``. Organisations that cannot be located are listed in
   :attr:`PartnerLayer.unlocated` with the reason, never dropped silently.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from equity._cells import csv_safe
from equity._io import atomic_path
from equity.distance import haversine_km
from equity.errors import DownloadError, check_choice
from equity.placement.duplicates import (
    MERGE_RULES,
    components,
    duplicate_edges,
    name_key,
    nearby_edges,
    street_key,
    supporters,
)
from equity.placement.partner_rows import SOURCE_ORDER, standardise
from equity.sources.zipcodes import locate_by_zip

if TYPE_CHECKING:
    from equity.config import Config

__all__ = [
    "GEOCODE",
    "LOCATED",
    "PartnerLayer",
    "build_partners",
    "partner_methods",
    "write_partner_files",
]

logger = logging.getLogger("equity.placement")

#: Which organisations are sent to the geocoder: none, the planner's list, or all.
GEOCODE: tuple[str, ...] = ("off", "partners", "all")

#: How each organisation was located, from the most precise.
LOCATED: tuple[str, ...] = ("source", "address", "zip")

_DETAIL_ORDER = ("imls", "ipeds", "nces", "irs_bmf", "anchors", "list")


# --------------------------------------------------------------------------------------------
# the layer
# --------------------------------------------------------------------------------------------


@dataclass
class PartnerLayer:
    """The partner organisations of a run, and what became of every row read.

    Attributes
    ----------
    partners
        One row per located organisation (EPSG:4326 points): ``partner_id``
        (``<source>:<id>`` of the row it was named from), ``anchor_id`` (the same),
        ``name``, ``kind``, ``mission``, ``detail`` (what it is, in words), ``size_class``
        (IRS income class, else asset class, 0-9), ``size_basis`` (``income`` or ``assets``),
        ``listed`` (on the planner's list), ``sources`` (``imls+list``), ``source_ids``,
        ``ein``, ``address``, ``city``, ``state_abbr``, ``zip``, ``county_GEOID``,
        ``located`` (:data:`LOCATED`), ``located_note`` (why not more precise), ``geometry``.
    unlocated
        Organisations that could not be placed: ``partner_id``, ``name``, ``kind``,
        ``sources``, ``address``, ``city``, ``state_abbr``, ``zip``, ``reason``.
    merged
        One row per row merged into another: ``partner_id`` and ``name`` of the organisation
        kept, ``merged_source``, ``merged_id``, ``merged_name``, ``rule``, ``km`` (between the
        two points when both were located).
    counts
        Rows read per source, organisations located per precision, merged, unlocated, and the
        geocoder's counts.
    column_maps
        How the columns of each planner list were read (``[field, header, how]``).
    """

    partners: gpd.GeoDataFrame
    unlocated: pd.DataFrame
    merged: pd.DataFrame
    counts: dict[str, Any] = field(default_factory=dict)
    column_maps: dict[str, list[list[str]]] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the console: organisations, precision, merges, rows not located."""
        c = self.counts
        by_kind = self.partners["kind"].value_counts()
        kinds = ", ".join(f"{n:,} {k}" for k, n in by_kind.items())
        located = ", ".join(f"{c.get(f'located_{p}', 0):,} by {p}" for p in LOCATED)
        dropped = sum(v for k, v in c.items() if k.startswith("dropped_"))
        return (
            f"partners: {len(self.partners):,} organisations ({kinds or 'none'}; located {located}); "
            f"{len(self.merged):,} duplicate row(s) merged; {len(self.unlocated):,} not located"
            + (" (listed in partners_unlocated.csv)" if len(self.unlocated) else "")
            + (
                f"; {dropped:,} source row(s) without coordinates left out by their reader"
                if dropped
                else ""
            )
        )


# --------------------------------------------------------------------------------------------
# locating
# --------------------------------------------------------------------------------------------

Geocoder = Callable[[pd.DataFrame], pd.DataFrame]

_STATUS_WORDS = {
    "no_match": "the geocoder found no match",
    "tie": "the geocoder found several equally good matches (tie)",
    "no_address": "no street address",
    "po_box": "a PO box has no street location",
    "not_answered": "the geocoder did not answer for it",
}


@dataclass
class _Location:
    """Per organisation (component): its point, how it was located and why not better."""

    lon: np.ndarray
    lat: np.ndarray
    located: np.ndarray  # object: "source" | "address" | "zip" | None
    note: np.ndarray  # object: text or ""
    geocoded: dict[str, int] = field(default_factory=dict)


def _first_by(rows: pd.DataFrame, comp: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Position of the first row (in row order) of each component among `mask`; -1 if none."""
    out = np.full(n, -1, dtype=np.intp)
    idx = np.flatnonzero(mask)[::-1]  # reversed: the first row is written last
    out[comp[idx]] = idx
    return out


def _locate(
    rows: pd.DataFrame,
    comp: np.ndarray,
    n: int,
    *,
    geocode: str,
    geocoder: Geocoder | None,
    zip_centroids: pd.DataFrame | None,
) -> _Location:
    """Coordinates of each organisation: from a source, the geocoder, or its ZIP code."""
    lon_r, lat_r = rows["longitude"].to_numpy(float), rows["latitude"].to_numpy(float)
    given = np.isfinite(lon_r) & np.isfinite(lat_r)
    # official coordinates before the planner's (rows are in source order, the list first)
    official = given & (rows["source"] != "list").to_numpy()
    pick = _first_by(rows, comp, official, n)
    pick = np.where(pick < 0, _first_by(rows, comp, given, n), pick)
    loc = _Location(
        lon=np.where(pick >= 0, lon_r[np.maximum(pick, 0)], np.nan),
        lat=np.where(pick >= 0, lat_r[np.maximum(pick, 0)], np.nan),
        located=np.array(["source" if k >= 0 else None for k in pick.tolist()], dtype=object),
        note=np.full(n, "", dtype=object),
    )
    _geocode_missing(rows, comp, loc, geocode=geocode, geocoder=geocoder)
    _zip_missing(rows, comp, loc, zip_centroids)
    return loc


def _geocode_missing(
    rows: pd.DataFrame, comp: np.ndarray, loc: _Location, *, geocode: str, geocoder: Geocoder | None
) -> None:
    """Send the street address of each organisation still without a point (in place)."""
    n = len(loc.lon)
    missing = loc.located == None  # noqa: E711 - elementwise on an object array
    with_street = rows["address"].notna().to_numpy()
    rep = _first_by(rows, comp, with_street, n)
    listed = np.zeros(n, dtype=bool)
    listed[comp[(rows["source"] == "list").to_numpy()]] = True
    wanted = missing & (rep >= 0) & (listed if geocode == "partners" else geocode == "all")
    loc.note[missing & (rep < 0)] = "no street address"
    skipped = missing & (rep >= 0) & ~wanted
    loc.note[skipped] = (
        "geocoding off" if geocode == "off" else "not geocoded (geocode = 'partners')"
    )
    if geocoder is None:
        loc.note[wanted] = "no geocoder"
        return
    targets = np.flatnonzero(wanted)
    if not len(targets):
        return
    r = rows.iloc[rep[targets]]
    addresses = pd.DataFrame(
        {
            "street": r["address"].to_numpy(),
            "city": r["city"].to_numpy(),
            "state": r["state_abbr"].to_numpy(),
            "zip": r["zip"].to_numpy(),
        },
        index=targets,
    )
    try:
        found = geocoder(addresses)
    except DownloadError as exc:
        logger.warning("partners: geocoding failed, ZIP code centres used instead: %s", exc)
        loc.note[targets] = f"geocoder failed: {exc}"
        loc.geocoded = {"failed": len(targets)}
        return
    status = found["geocode_status"].astype("string").fillna("not_answered").to_numpy()
    ok = status == "match"
    loc.lon[targets[ok]] = found["longitude"].to_numpy(float)[ok]
    loc.lat[targets[ok]] = found["latitude"].to_numpy(float)[ok]
    loc.located[targets[ok]] = "address"
    loc.note[targets[~ok]] = [_STATUS_WORDS.get(s, s) for s in status[~ok]]
    loc.geocoded = {str(s): int((status == s).sum()) for s in np.unique(status)}


def _zip_missing(
    rows: pd.DataFrame, comp: np.ndarray, loc: _Location, centroids: pd.DataFrame | None
) -> None:
    """Place each organisation still without a point at its ZIP code's centre (in place)."""
    n = len(loc.lon)
    missing = np.flatnonzero(loc.located == None)  # noqa: E711
    if not len(missing):
        return
    rep = _first_by(rows, comp, rows["zip"].notna().to_numpy(), n)[missing]
    has_zip = rep >= 0
    if centroids is None:
        reason = np.where(has_zip, "no ZIP centroid file", "no ZIP code")
    else:
        zips = rows["zip"].to_numpy(dtype=object)[np.maximum(rep, 0)]
        lon, lat = locate_by_zip(pd.Series(np.where(has_zip, zips, None)), centroids)
        ok = np.isfinite(lon)
        loc.lon[missing[ok]], loc.lat[missing[ok]] = lon[ok], lat[ok]
        loc.located[missing[ok]] = "zip"
        reason = np.where(
            has_zip, [f"ZIP {z} not in the ZIP centroids" for z in zips], "no ZIP code"
        )
    gone = loc.located[missing] == None  # noqa: E711
    loc.note[missing[gone]] = [
        "; ".join(p for p in (note, why) if p)
        for note, why in zip(loc.note[missing[gone]], reason[gone], strict=True)
    ]


# --------------------------------------------------------------------------------------------
# assembling
# --------------------------------------------------------------------------------------------


def _first_value(
    rows: pd.DataFrame, comp: np.ndarray, column: str, order: Sequence[str]
) -> pd.Series:
    """Per organisation, the first non-missing `column` in the source `order`."""
    rank = rows["source"].map({s: i for i, s in enumerate(order)}).fillna(len(order)).to_numpy()
    df = pd.DataFrame({"comp": comp, "rank": rank, "value": rows[column].to_numpy()})
    df = df.iloc[np.lexsort((np.arange(len(df)), df["rank"].to_numpy()))]
    return df.groupby("comp", sort=True)["value"].first()


def _join(
    values: np.ndarray, comp: np.ndarray, n: int, sep: str, *, unique: bool = False
) -> np.ndarray:
    """Per component, its rows' `values` joined by `sep` in row order (singletons as they are)."""
    out = np.empty(n, dtype=object)
    single = np.bincount(comp, minlength=n)[comp] == 1
    out[comp[single]] = values[single]
    groups: dict[int, list[str]] = {}
    for c, v in zip(comp[~single].tolist(), values[~single].tolist(), strict=True):
        groups.setdefault(c, []).append(str(v))
    for c, vs in groups.items():
        out[c] = sep.join(dict.fromkeys(vs) if unique else vs)
    return out


def _organisations(rows: pd.DataFrame, comp: np.ndarray, n: int) -> pd.DataFrame:
    """One row of attributes per organisation (component), before locating."""
    first = _first_by(rows, comp, np.ones(len(rows), dtype=bool), n)
    head = rows.iloc[first]
    out = pd.DataFrame(
        {
            "partner_id": (head["source"] + ":" + head["source_id"].fillna("")).to_numpy(),
            "name": head["name"].to_numpy(),
        }
    )
    for column in ("kind", "mission", "size_class", "size_basis", "ein", "address", "city"):
        out[column] = _first_value(rows, comp, column, SOURCE_ORDER).reindex(range(n)).to_numpy()
    for column in ("state_abbr", "zip", "county_GEOID"):
        out[column] = _first_value(rows, comp, column, SOURCE_ORDER).reindex(range(n)).to_numpy()
    out["detail"] = _first_value(rows, comp, "detail", _DETAIL_ORDER).reindex(range(n)).to_numpy()
    out["kind"] = out["kind"].fillna("other")
    out["size_class"] = pd.array(out["size_class"], dtype="Int64")
    source = rows["source"].to_numpy(dtype=object)
    tags = (rows["source"] + ":" + rows["source_id"].fillna("")).to_numpy(dtype=object)
    out["sources"] = _join(source, comp, n, "+", unique=True)
    out["source_ids"] = _join(tags, comp, n, "; ")
    listed = np.zeros(n, dtype=bool)
    listed[comp[(rows["source"] == "list").to_numpy()]] = True
    out["listed"] = listed
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].astype("string")
    return out


def _merged_report(
    rows: pd.DataFrame,
    comp: np.ndarray,
    orgs: pd.DataFrame,
    edges: tuple[np.ndarray, np.ndarray, np.ndarray],
    lon: np.ndarray,
    lat: np.ndarray,
) -> pd.DataFrame:
    """One line per row merged into an organisation named after another row."""
    i, j, rule = edges
    first = _first_by(rows, comp, np.ones(len(rows), dtype=bool), len(orgs))
    merged = np.setdiff1d(np.arange(len(rows)), first)
    by_row: dict[int, str] = {}
    for a, r in zip(np.concatenate([i, j]), np.concatenate([rule, rule]), strict=True):
        by_row.setdefault(int(a), str(r))
    rl, ra = rows["longitude"].to_numpy(float), rows["latitude"].to_numpy(float)
    c = comp[merged]
    km = haversine_km(rl[merged], ra[merged], lon[c], lat[c])
    return pd.DataFrame(
        {
            "partner_id": orgs["partner_id"].to_numpy()[c],
            "name": orgs["name"].to_numpy()[c],
            "merged_source": rows["source"].to_numpy()[merged],
            "merged_id": rows["source_id"].to_numpy()[merged],
            "merged_name": rows["name"].to_numpy()[merged],
            "rule": [by_row.get(int(m), "") for m in merged],
            "km": np.round(km, 3),
        }
    ).astype(
        {
            c: "string"
            for c in ("partner_id", "name", "merged_source", "merged_id", "merged_name", "rule")
        }
    )


def build_partners(
    *,
    libraries: Any = None,
    colleges: Any = None,
    anchors: Any = None,
    nonprofits: Any = None,
    lists: Any = None,
    geocode: str = "partners",
    geocoder: Geocoder | None = None,
    zip_centroids: pd.DataFrame | None = None,
    same_place_km: float = 1.0,
) -> PartnerLayer:
    """One located point per partner organisation, from every source, duplicates merged.

    Parameters
    ----------
    libraries
        IMLS outlets (:func:`equity.sources.read_libraries`), one table or several.
    colleges
        IPEDS colleges (:func:`equity.sources.read_colleges`).
    anchors
        Anchor files (:func:`equity.sources.read_anchors`: NCES schools, generic anchors).
    nonprofits
        IRS nonprofits (:func:`equity.sources.read_nonprofits`), located by address or ZIP.
    lists
        The planner's lists (:func:`equity.sources.read_partner_list`).
    geocode
        Which organisations without coordinates go to the geocoder (:data:`GEOCODE`).
    geocoder
        ``geocoder(addresses) -> answers``, e.g. ``functools.partial(geocode_addresses,
        url=...)`` (:func:`equity.sources.geocode.geocode_addresses`); None geocodes nothing.
    zip_centroids
        ZIP centre points (:func:`equity.sources.read_zip_centroids`) for those the
        geocoder could not place (or was not asked for).
    same_place_km
        Equal names at most this far apart are one organisation.

    Returns
    -------
    PartnerLayer
        The organisations, those not located (with the reason) and the merges made.

    Examples
    --------
    >>> listed = pd.DataFrame({"partner_id": ["a", "b"], "name": ["Hub", "HUB INC"],
    ...     "kind": ["nonprofit", "other"], "address": [None, None], "city": [None, None],
    ...     "state": ["VA", "VA"], "zip": ["24210", "24210"], "ein": [None, None],
    ...     "latitude": [36.7, 36.7], "longitude": [-81.98, -81.98]})
    >>> layer = build_partners(lists=listed)
    >>> len(layer.partners), layer.merged["rule"].tolist()
    (1, ['same name and ZIP'])
    """
    check_choice("geocode", geocode, GEOCODE)
    rows = standardise(
        libraries=libraries, colleges=colleges, anchors=anchors, nonprofits=nonprofits, lists=lists
    )
    rows["name_key"] = name_key(rows["name"])
    rows["words"] = rows["name_key"].str.split()
    rows["supporter"] = supporters(rows["words"])
    rows["street_key"] = street_key(rows["address"])
    first = duplicate_edges(rows)
    i1, j1, r1 = first.arrays()
    comp = components(len(rows), i1, j1)
    n1 = int(comp.max()) + 1 if len(comp) else 0
    loc = _locate(rows, comp, n1, geocode=geocode, geocoder=geocoder, zip_centroids=zip_centroids)
    second = nearby_edges(rows, comp, loc.lon, loc.lat, float(same_place_km))
    i2, j2, r2 = second.arrays()
    merged_comp = components(n1, comp[i2], comp[j2]) if n1 else comp
    final = merged_comp[comp] if n1 else comp
    n = int(final.max()) + 1 if len(final) else 0
    # each final organisation takes the best-located of the components it joins
    rank = np.array([LOCATED.index(x) if x in LOCATED else len(LOCATED) for x in loc.located])
    order = np.lexsort((np.arange(n1), rank))
    best = np.full(n, -1, dtype=np.intp)
    best[merged_comp[order[::-1]]] = order[::-1]
    orgs = _organisations(rows, final, n)
    lon, lat = loc.lon[best], loc.lat[best]
    orgs["located"] = pd.array(loc.located[best], dtype="string")
    orgs["located_note"] = pd.array(loc.note[best], dtype="string")
    edges = (np.concatenate([i1, i2]), np.concatenate([j1, j2]), np.concatenate([r1, r2]))
    merged = _merged_report(rows, final, orgs, edges, lon, lat)
    return _layer(rows, orgs, lon, lat, merged, loc, geocode=geocode)


def _layer(
    rows: pd.DataFrame,
    orgs: pd.DataFrame,
    lon: np.ndarray,
    lat: np.ndarray,
    merged: pd.DataFrame,
    loc: _Location,
    *,
    geocode: str,
) -> PartnerLayer:
    ok = np.isfinite(lon) & np.isfinite(lat)
    partners = gpd.GeoDataFrame(
        orgs.loc[ok].reset_index(drop=True),
        geometry=gpd.points_from_xy(lon[ok], lat[ok]),
        crs=4326,
    )
    partners.insert(1, "anchor_id", partners["partner_id"])
    unlocated = orgs.loc[
        ~ok,
        ["partner_id", "name", "kind", "sources", "address", "city", "state_abbr", "zip"],
    ].reset_index(drop=True)
    unlocated["reason"] = orgs.loc[~ok, "located_note"].fillna("").to_numpy()
    counts: dict[str, Any] = {f"rows_{s}": int((rows["source"] == s).sum()) for s in SOURCE_ORDER}
    counts.update({f"dropped_{s}": n for s, n in rows.attrs.get("dropped", {}).items()})
    counts.update({f"located_{p}": int((partners["located"] == p).sum()) for p in LOCATED})
    counts.update(
        {
            "organisations": len(partners),
            "merged": len(merged),
            "unlocated": len(unlocated),
            "geocode": geocode,
            **{f"geocoder_{k}": v for k, v in loc.geocoded.items()},
        }
    )
    layer = PartnerLayer(partners, unlocated, merged, counts)
    logger.info(layer.summary())
    return layer


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _csv(frame: pd.DataFrame, path: Path) -> Path:
    with atomic_path(path) as tmp:
        csv_safe(frame).to_csv(tmp, index=False)  # names never become formulas
    return path


def write_partner_files(layer: PartnerLayer, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write ``partners.csv`` (the organisations used, with how each was located),
    ``partners_unlocated.csv`` (those not placed, with the reason) and ``partners_merged.csv``
    (each duplicate merged, with the rule), atomically.

    Parameters
    ----------
    layer
        The run's partners (:func:`build_partners`).
    out_dir
        Folder to write into.

    Returns
    -------
    list of Path
        The three files.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    table = pd.DataFrame(layer.partners.drop(columns=["geometry", "anchor_id"]))
    table["longitude"] = np.round(layer.partners.geometry.x.to_numpy(), 6)
    table["latitude"] = np.round(layer.partners.geometry.y.to_numpy(), 6)
    return [
        _csv(table, out / "partners.csv"),
        _csv(layer.unlocated, out / "partners_unlocated.csv"),
        _csv(layer.merged, out / "partners_merged.csv"),
    ]


def partner_methods(layer: PartnerLayer, cfg: Config) -> dict[str, Any]:
    """What METHODS.md says about the partners of a run: sources, locating, merges, weights,
    decay, the host score and the NTEE selection in effect."""
    from equity.placement.partner import CAPACITY
    from equity.sources.nonprofits import SIZE_CLASSES, ntee_rules

    c = layer.counts
    sources = [(s, c.get(f"rows_{s}", 0)) for s in SOURCE_ORDER if c.get(f"rows_{s}", 0)]
    rules = sorted(ntee_rules(cfg.partner_ntee).values(), key=lambda r: r.prefix)
    capacity: dict[float, list[str]] = {}
    for k, v in CAPACITY.items():
        capacity.setdefault(v, []).append(SIZE_CLASSES[k])
    return {
        "sources": sources,
        "organisations": len(layer.partners),
        "located": [(p, c.get(f"located_{p}", 0)) for p in LOCATED],
        "merged": len(layer.merged),
        "unlocated": len(layer.unlocated),
        "dropped": [(k[8:], v) for k, v in c.items() if k.startswith("dropped_") and v],
        "merge_rules": [r.format(km=cfg.same_place_km) for r in MERGE_RULES],
        "geocode": cfg.geocode,
        "geocoder": f"{cfg.geocoder_url} (benchmark {cfg.geocoder_benchmark})",
        "geocoder_counts": {k[9:]: v for k, v in c.items() if k.startswith("geocoder_")},
        "zip_centroids": cfg.zip_centroids or "",
        "weights": dict(sorted(cfg.partner_weights.items())),
        "decay": cfg.partner_decay,
        "listed_bonus": cfg.listed_bonus,
        "capacity": [(v, ", ".join(classes)) for v, classes in sorted(capacity.items())],
        "ntee": [(r.prefix, r.kind or "left out", r.mission) for r in rules]
        if c.get("rows_irs_bmf")
        else [],
        "subsections": ", ".join(cfg.nonprofit_subsections),
        "column_maps": [
            (Path(path).name, field_, header, how)
            for path, mapping in layer.column_maps.items()
            for field_, header, how in mapping
        ],
    }
