"""FCC Broadband Data Collection (BDC) fixed availability: location classification and summaries.

A BDC availability CSV has one row per provider x technology x location (columns of the FCC
"Data Specifications for Mobile and Fixed Availability Data Downloads": ``frn``,
``provider_id``, ``brand_name``, ``location_id``, ``technology``,
``max_advertised_download_speed``, ``max_advertised_upload_speed``, ``low_latency``,
``business_residential_code``, ``state_usps``, ``block_geoid``, ``h3_res8_id``).

Classification follows NTIA's BEAD program (Notice of Funding Opportunity, section I.C):

- Only **reliable broadband** counts: fibre (FCC technology code 50), cable/HFC (40), copper
  DSL (10), licensed terrestrial fixed wireless (71) and licensed-by-rule fixed wireless (72),
  and only with ``low_latency == 1`` (95% of round trips <= 100 ms). Satellite (60 GSO, 61 NGSO),
  unlicensed fixed wireless (70) and other (0) do not make a location served.
- A location is **served** when its best reliable offer is >= 100/20 Mbps, **underserved** when
  it is >= 25/3 but below 100/20, **unserved** otherwise (including no reliable offer).

Speeds are advertised maxima in Mbps.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from equity.errors import SchemaError, check_choice
from equity.sources._common import (
    PathLike,
    check_file,
    check_nonnegative,
    check_unique,
    clean_geoid,
    drop_duplicate_rows,
    read_csv_text,
    require_rows,
    set_provenance,
    to_number,
    vintage_from_name,
)
from equity.sources._schema import Schema

__all__ = [
    "BDC_COLUMNS",
    "RELIABLE_TECHNOLOGIES",
    "SCHEMA",
    "TECHNOLOGY_NAMES",
    "read_fcc_477_summary",
    "read_fcc_bdc",
    "summarise_fcc_bdc",
]

logger = logging.getLogger("equity.sources")

BDC_COLUMNS = [
    "frn",
    "provider_id",
    "brand_name",
    "location_id",
    "technology",
    "max_advertised_download_speed",
    "max_advertised_upload_speed",
    "low_latency",
    "business_residential_code",
    "state_usps",
    "block_geoid",
    "h3_res8_id",
]

TECHNOLOGY_NAMES: dict[int, str] = {
    0: "Other",
    10: "Copper Wire",
    40: "Coaxial Cable / HFC",
    50: "Optical Carrier / Fiber to the Premises",
    60: "Geostationary Satellite",
    61: "Non-geostationary Satellite",
    70: "Unlicensed Terrestrial Fixed Wireless",
    71: "Licensed Terrestrial Fixed Wireless",
    72: "Licensed-by-Rule Terrestrial Fixed Wireless",
}

#: BEAD "reliable broadband service" technologies (NTIA BEAD NOFO, I.C(bb)).
RELIABLE_TECHNOLOGIES: frozenset[int] = frozenset({10, 40, 50, 71, 72})

SERVED = (100.0, 20.0)
UNDERSERVED = (25.0, 3.0)
_CLASSES = np.array(["unserved", "underserved", "served"])
_REQUIRED = (
    "location_id",
    "technology",
    "max_advertised_download_speed",
    "max_advertised_upload_speed",
    "low_latency",
    "block_geoid",
)

#: A BDC availability file: one row per provider, technology and location (no key of its own),
#: located by its 15-digit census block; advertised speeds never negative.
SCHEMA = Schema(
    kind="fcc_bdc",
    title="an FCC BDC availability file",
    required=tuple((c,) for c in _REQUIRED),
    optional=tuple((c,) for c in BDC_COLUMNS if c not in _REQUIRED),
    codes=(("block_geoid", 15),),
    numeric=(r"(?i)max_advertised.*|technology|low_latency",),
    counts=(r"(?i)max_advertised.*",),
    signature=(("LOCATION ID", "TECHNOLOGY"),),
    aliases=("fcc", "bdc"),
)


def read_fcc_bdc(path: PathLike, *, residential: bool | None = True) -> pd.DataFrame:
    """Read an FCC BDC fixed availability CSV and classify each location (BEAD definitions).

    Parameters
    ----------
    path
        A BDC availability CSV (one row per provider, technology and location).
    residential
        ``True``: residential offers (``business_residential_code`` ``R`` or ``X``);
        ``False``: business offers (``B`` or ``X``); ``None``: all offers. Locations with no
        offer of the chosen kind are dropped (counted in ``attrs["n_locations_dropped"]``).

    Returns
    -------
    pandas.DataFrame
        One row per ``location_id``: ``block_geoid`` (15 digits), ``county_GEOID``,
        ``tract_GEOID``, ``blockgroup_GEOID``, ``h3_res8_id``, ``state_usps``,
        ``max_download_mbps``, ``max_upload_mbps`` (best reliable offer, NaN when none),
        ``n_providers`` (distinct providers with a reliable offer), ``n_offers`` (all offers),
        ``service_class`` (``served``/``underserved``/``unserved``).

    Raises
    ------
    SchemaError
        Missing columns (:data:`SCHEMA`), non-numeric or negative speeds, unknown technology
        codes.

    Examples
    --------
    >>> locs = read_fcc_bdc("bdc_51_FiberToThePremises_fixed_broadband_J23.csv")  # doctest: +SKIP
    >>> summarise_fcc_bdc(locs, by="county").columns[:3].tolist()  # doctest: +SKIP
    ['GEOID', 'n_locations', 'n_served']
    """
    p = check_file(path)
    raw = SCHEMA.canonical(read_csv_text(p))
    SCHEMA.require(raw, path=p)
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    down, up, tech, latency = _numbers(raw, path=p)
    keep = _offered(raw, residential)
    offers = _offers(raw, down, up, tech, latency, keep, path=p)
    out = _locations(offers, path=p)
    dropped = out["n_offers"] == 0
    if dropped.any():
        kind = "residential" if residential else "business"
        logger.info("%s: %d location(s) without a %s offer dropped", p, int(dropped.sum()), kind)
        out = out.loc[~dropped]
    out = _with_area_ids(out)
    logger.info(
        "read_fcc_bdc %s: %d offers, %d locations (%s)",
        p,
        len(raw),
        len(out),
        out["service_class"].value_counts().to_dict(),
    )
    return set_provenance(
        out,
        source="fcc_bdc",
        title="FCC Broadband Data Collection, fixed availability",
        publisher="Federal Communications Commission",
        vintage=vintage_from_name(p),
        licence="Public domain (US federal government work)",
        attribution="FCC National Broadband Map (Broadband Data Collection)",
        path=p,
        residential=residential,
        n_locations_dropped=int(dropped.sum()),
        reliable_technologies=sorted(RELIABLE_TECHNOLOGIES),
    )


def _numbers(raw: pd.DataFrame, *, path: Path) -> tuple[pd.Series, ...]:
    """Download and upload speeds, technology codes and the low-latency flag, checked."""
    problems: list[str] = []

    def number(col: str) -> pd.Series:
        try:
            return to_number(raw[col], path=path, column=col)
        except SchemaError as exc:
            problems.extend(exc.problems)
            return pd.Series(np.nan, index=raw.index)

    down, up, tech, latency = (
        number(c)
        for c in (
            "max_advertised_download_speed",
            "max_advertised_upload_speed",
            "technology",
            "low_latency",
        )
    )
    if problems:
        raise SchemaError(problems, source=str(path))
    speeds = pd.DataFrame(
        {"max_advertised_download_speed": down, "max_advertised_upload_speed": up}
    )
    check_nonnegative(speeds, [c for c in speeds.columns if SCHEMA.is_count(c)], path=path)
    unknown = ~tech.isin(list(TECHNOLOGY_NAMES))
    if unknown.any():
        msg = (
            f"column 'technology' has {int(unknown.sum())} unknown FCC code(s), "
            f"e.g. {raw.loc[unknown, 'technology'].iloc[0]!r} "
            f"(known: {', '.join(map(str, TECHNOLOGY_NAMES))})"
        )
        raise SchemaError([msg], source=str(path))
    return down, up, tech, latency


def _offered(raw: pd.DataFrame, residential: bool | None) -> np.ndarray:
    """Mask of the offers of the chosen kind (residential, business or all)."""
    if "business_residential_code" in raw.columns and residential is not None:
        code = raw["business_residential_code"].astype("string").str.strip().str.upper()
        return code.isin(["R", "X"] if residential else ["B", "X"]).fillna(False).to_numpy()
    return np.ones(len(raw), dtype=bool)


def _text(raw: pd.DataFrame, col: str) -> pd.Series | object:
    """A text column stripped, or NA when the file lacks it."""
    return raw[col].astype("string").str.strip() if col in raw.columns else pd.NA


def _offers(
    raw: pd.DataFrame,
    down: pd.Series,
    up: pd.Series,
    tech: pd.Series,
    latency: pd.Series,
    keep: np.ndarray,
    *,
    path: Path,
) -> pd.DataFrame:
    """One row per offer: its location, block, level (2 served ... 0 unserved, -1 not reliable),
    and the speeds and provider of reliable offers."""
    block = clean_geoid(
        raw["block_geoid"], width=SCHEMA.width_of("block_geoid"), path=path, column="block_geoid"
    )
    location = raw["location_id"].astype("string").str.strip().str.replace(r"\.0+$", "", regex=True)
    reliable = tech.isin(list(RELIABLE_TECHNOLOGIES)).to_numpy() & (latency == 1).to_numpy() & keep
    level = np.where(
        (down >= SERVED[0]) & (up >= SERVED[1]),
        2,
        np.where((down >= UNDERSERVED[0]) & (up >= UNDERSERVED[1]), 1, 0),
    )
    level = np.where(reliable, level, -1)
    provider = (
        raw["provider_id"].astype("string").str.strip()
        if "provider_id" in raw.columns
        else raw.get("frn", pd.Series(pd.NA, index=raw.index)).astype("string")
    )
    return pd.DataFrame(
        {
            "location_id": location,
            "block_geoid": block,
            "h3_res8_id": _text(raw, "h3_res8_id"),
            "state_usps": _text(raw, "state_usps"),
            "level": level,
            "down": down.where(reliable),
            "up": up.where(reliable),
            "provider": provider.where(reliable),
            "kept": keep,
        }
    )


def _locations(offers: pd.DataFrame, *, path: Path) -> pd.DataFrame:
    """One row per location (index ``location_id``): best reliable offer, providers, class."""
    blocks = offers.groupby("location_id", sort=True)["block_geoid"].nunique()
    if (blocks > 1).any():
        ex = blocks.index[(blocks > 1).to_numpy()][0]
        msg = f"location_id {ex!r} appears in more than one block_geoid"
        raise SchemaError([msg], source=str(path))
    g = offers.groupby("location_id", sort=True)
    out = pd.DataFrame(
        {
            "block_geoid": g["block_geoid"].first(),
            "h3_res8_id": g["h3_res8_id"].first(),
            "state_usps": g["state_usps"].first(),
            "max_download_mbps": g["down"].max(),
            "max_upload_mbps": g["up"].max(),
            "n_providers": g["provider"].nunique().astype("int64"),
            "n_offers": g["kept"].sum().astype("int64"),
            "best": g["level"].max(),
        }
    )
    out["service_class"] = _CLASSES[np.clip(out.pop("best").to_numpy(), 0, 2)]
    return out


def _with_area_ids(out: pd.DataFrame) -> pd.DataFrame:
    """``location_id`` as a column, the county, tract and block-group GEOIDs of each block."""
    out = out.reset_index()
    out["location_id"] = out["location_id"].astype("str")
    b = out["block_geoid"].astype("str")
    out.insert(2, "county_GEOID", b.str.slice(0, 5))
    out.insert(3, "tract_GEOID", b.str.slice(0, 11))
    out.insert(4, "blockgroup_GEOID", b.str.slice(0, 12))
    for c in ("block_geoid", "h3_res8_id", "state_usps", "service_class"):
        out[c] = out[c].astype("str")
    return out


_BY = {
    "county": "county_GEOID",
    "tract": "tract_GEOID",
    "blockgroup": "blockgroup_GEOID",
    "block": "block_geoid",
    "h3": "h3_res8_id",
    "state": "state_usps",
}


def summarise_fcc_bdc(locations: pd.DataFrame, *, by: str = "county") -> pd.DataFrame:
    """Count served, underserved and unserved locations per area.

    Parameters
    ----------
    locations
        Output of :func:`read_fcc_bdc`.
    by
        ``county``, ``tract``, ``blockgroup``, ``block``, ``h3`` (resolution 8) or ``state``.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` (the area id), ``n_locations``, ``n_served``, ``n_underserved``,
        ``n_unserved`` (float counts) and ``share_served``, ``share_underserved``,
        ``share_unserved`` (proportions in [0, 1]).

    Raises
    ------
    ChoiceError
        Unknown `by` (the message lists the valid ones).
    SchemaError
        `locations` lacks the column `by` needs or ``service_class``.
    """
    key = _BY[check_choice("by", by, _BY)]
    missing = [c for c in (key, "service_class") if c not in locations.columns]
    if missing:
        msg = f"locations lack column(s) {', '.join(missing)} (use read_fcc_bdc output)"
        raise SchemaError([msg], source=locations.attrs.get("path"))
    counts = (
        pd.crosstab(locations[key], locations["service_class"])
        .reindex(columns=list(_CLASSES[::-1]), fill_value=0)
        .astype("float64")
    )
    out = pd.DataFrame(index=counts.index)
    out["n_locations"] = counts.sum(axis=1)
    for c in _CLASSES[::-1]:
        out[f"n_{c}"] = counts[c]
    for c in _CLASSES[::-1]:
        out[f"share_{c}"] = out[f"n_{c}"] / out["n_locations"]
    out = out.rename_axis("GEOID").reset_index()
    out["GEOID"] = out["GEOID"].astype("str")
    out.columns.name = None
    out.attrs = {**locations.attrs, "summarised_by": by}
    return out


_F477_COLUMNS = {
    "resproviders": "n_providers",
    "bb253_num": "n_providers_25_3",
    "bb253_per": "pct_providers_25_3",
    "bbmin_dl": "min_download_mbps",
    "bbmax_dl": "max_download_mbps",
    "bbmin_up": "min_upload_mbps",
    "bbmax_up": "max_upload_mbps",
    "avgmaxaddown": "mean_max_download_mbps",
    "avgmaxadup": "mean_max_upload_mbps",
}


def read_fcc_477_summary(path: PathLike) -> pd.DataFrame:
    """Read the UVA Equity Center's FCC Form 477 summaries (block, block group or tract CSV).

    Parameters
    ----------
    path
        ``fcc_broadband_<region>_{block,blkgr,tract}.csv`` with ``BlockCode``/``Blkgr``/
        ``tract`` ids and ``resproviders, bb253_num, bb253_per, bbmin_dl, bbmax_dl, bbmin_up,
        bbmax_up, avgMaxAdDown, avgMaxAdUp``.

    Returns
    -------
    pandas.DataFrame
        ``GEOID`` (the finest id: 15-digit block, 12-digit block group or 11-digit tract,
        **2010** geography), ``tract_GEOID`` and ``blockgroup_GEOID`` where finer,
        ``n_providers``, ``n_providers_25_3``, ``pct_providers_25_3`` (0-100),
        ``min/max_download_mbps``, ``min/max_upload_mbps``, ``mean_max_download_mbps``,
        ``mean_max_upload_mbps``. At block level the counts are provider x technology
        records; at block-group/tract level distinct providers (not a share of locations).
        ``attrs["level"]``.

    Raises
    ------
    SchemaError
        No id column, non-numeric values, duplicate ids.
    """
    p = check_file(path)
    raw = read_csv_text(p)
    require_rows(raw, path=p)
    raw = drop_duplicate_rows(raw, path=p)
    lower = {c.lower(): c for c in raw.columns}
    ids = [("blockcode", "block", 15), ("blkgr", "blockgroup", 12), ("tract", "tract", 11)]
    present = [(lower[k], lvl, w) for k, lvl, w in ids if k in lower]
    if not present:
        found = ", ".join(raw.columns)
        msg = f"not an FCC Form 477 summary: no BlockCode, Blkgr or tract column (found: {found})"
        raise SchemaError([msg], source=str(p))
    col, level, width = present[0]
    out = pd.DataFrame({"GEOID": clean_geoid(raw[col], width=width, path=p, column=col)})
    if level in ("block", "blockgroup"):
        out["tract_GEOID"] = out["GEOID"].str.slice(0, 11)
    if level == "block":
        out["blockgroup_GEOID"] = out["GEOID"].str.slice(0, 12)
    problems: list[str] = []
    for source, target in _F477_COLUMNS.items():
        if source in lower:
            try:
                out[target] = to_number(raw[lower[source]], path=p, column=lower[source])
            except SchemaError as exc:
                problems.extend(exc.problems)
    if problems:
        raise SchemaError(problems, source=str(p))
    check_nonnegative(out, [c for c in _F477_COLUMNS.values() if c in out.columns], path=p)
    check_unique(out, "GEOID", path=p)
    logger.info("read_fcc_477_summary %s: %d %s rows", p, len(out), level)
    return set_provenance(
        out,
        source="fcc_477_uva",
        title="FCC Form 477 fixed broadband deployment, summarised by the UVA Equity Center",
        publisher="FCC; summaries by the UVA Equity Center",
        vintage=vintage_from_name(p),
        licence="FCC data public domain; summaries: no licence stated",
        attribution="FCC Form 477, summarised by the UVA Equity Center",
        path=p,
        level=level,
        geography_vintage="2010",
    )
