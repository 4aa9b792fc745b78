"""Reading the bundled snapshot: :func:`read_snapshot` for analysts, :func:`snapshot_dataset`
for ``equity run``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from equity import settings
from equity.errors import DataError
from equity.sources import read_broadband_usage, read_libraries

if TYPE_CHECKING:
    from equity.cache import TableCache
    from equity.pipeline.dataset import Dataset

__all__ = ["Snapshot", "read_snapshot", "snapshot_dataset"]

log = logging.getLogger("equity.snapshot")

_TEXT = ("GEOID", "NAME", "state_GEOID", "state_abbr", "state_name", "counts_source")

#: Provenance of each source a snapshot run uses: input key -> (source id, attribution,
#: vintage). The vintages are short (the maps' subtitle joins them); data/README.md and the
#: notes give the long story.
_PROVENANCE = {
    "svi2022": (
        "svi",
        "CDC/ATSDR Social Vulnerability Index 2022 (Connecticut: 2018)",
        "ACS 2018-2022 (CT 2014-2018)",
    ),
    "counties": ("census_boundaries", "US Census Bureau, cartographic boundaries 2018", "2018"),
    "usage": (
        "microsoft_usage",
        "Broadband usage: Microsoft Airband Initiative (O-UDA-1.0)",
        "Oct 2020; availability 2019 (stale)",
    ),
    "libraries": (
        "imls",
        "Institute of Museum and Library Services, Public Libraries Survey",
        "FY2019",
    ),
    "income": (
        "acs",
        "US Census Bureau, ACS 2014-2018 5-year (median household income)",
        "2014-2018",
    ),
}


@dataclass
class Snapshot:
    """The bundled national county snapshot, as :func:`read_snapshot` returns it.

    Attributes
    ----------
    counties
        One row per county of the 50 states and DC (EPSG:4326): ``GEOID``, ``NAME``,
        ``state_GEOID``, ``state_abbr``, ``state_name``, ``ALAND``, ``AWATER``,
        ``counts_source``, the count columns with ``moe_*`` and, when bundled,
        ``median_household_income`` with its MOE.
    states
        The 50 states and DC: ``GEOID``, ``NAME``, ``state_abbr``, geometry.
    usage
        Microsoft county broadband usage and availability (``read_broadband_usage``).
    libraries
        IMLS library outlets as points (``read_libraries``).
    provenance
        One dict per source (``source``, ``title``, ``publisher``, ``vintage``, ``licence``,
        ``attribution``, ``path``), for METHODS.md and the map attribution.
    notes
        The caveats of the snapshot (Alaska, Connecticut, stale availability, ...).
    manifest
        The parsed ``snapshot.json``.
    folder
        Where the files were read from.
    """

    counties: gpd.GeoDataFrame
    states: gpd.GeoDataFrame
    usage: pd.DataFrame
    libraries: gpd.GeoDataFrame
    provenance: list[dict[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    folder: Path = Path()


def read_snapshot(folder: str | Path | None = None) -> Snapshot:
    """Read the bundled national county snapshot.

    Parameters
    ----------
    folder
        Folder written by ``equity snapshot build``; default :data:`equity.settings.data_folder`
        (the project's ``data/``).

    Returns
    -------
    Snapshot
        Counties with their counts, states, Microsoft usage, library outlets, provenance and
        notes.

    Raises
    ------
    DataError
        The folder or a file is missing, or a table lacks a column (naming file and column).

    Examples
    --------
    >>> snap = read_snapshot()
    >>> snap.counties.loc[snap.counties["GEOID"] == "04001", "NAME"].item()
    'Apache County, Arizona'
    >>> int(snap.counties["state_GEOID"].nunique())
    51
    """
    base = Path(folder) if folder is not None else settings.data_folder
    manifest = _manifest(base)
    counties = _geo_csv(base / "counties.csv", ("GEOID", "NAME", "state_GEOID", "geometry"))
    counts = _csv(base / "county_counts.csv", ("GEOID", "counts_source", "households"))
    table = counties.merge(counts, on="GEOID", how="left", validate="1:1")
    income_path = base / "county_income_acs2018.csv"
    if income_path.is_file():
        income = _csv(income_path, ("GEOID", "median_household_income"))
        table = table.merge(income, on="GEOID", how="left", validate="1:1")
    if table["counts_source"].isna().any():
        ex = table.loc[table["counts_source"].isna(), "GEOID"].iloc[0]
        msg = f"{base / 'county_counts.csv'}: no counts for county {ex}"
        raise DataError(msg)
    usage = read_broadband_usage(base / "microsoft_broadband_data_2020October.csv")
    libraries = read_libraries(base / "imls_pls_fy19_outlets.csv")
    snap = Snapshot(
        counties=gpd.GeoDataFrame(table, geometry="geometry", crs="EPSG:4326"),
        states=_geo_csv(base / "states.csv", ("GEOID", "NAME", "geometry")),
        usage=usage,
        libraries=libraries,
        provenance=_provenance(base, manifest),
        notes=[str(n) for n in manifest.get("notes", [])],
        manifest=manifest,
        folder=base,
    )
    log.info("read_snapshot %s: %d counties, %d libraries", base, len(table), len(libraries))
    return snap


def snapshot_dataset(
    *, folder: str | Path | None = None, cache: TableCache | None = None
) -> Dataset:
    """The snapshot as the :class:`~equity.pipeline.Dataset` of a county-level run.

    The counties are the base level (``Dataset.base_level = "county"``) and their count
    columns come ready (``Dataset.counts``); the library outlets are the anchors.
    """
    from equity.pipeline.dataset import Dataset

    snap = read_snapshot(folder)
    counties = snap.counties
    geo = ("NAME", "geometry", "state_abbr", "state_name", "ALAND", "AWATER", "state_GEOID")
    counts = pd.DataFrame(counties.drop(columns=[c for c in geo if c in counties.columns]))
    counts.attrs["path"] = str(snap.folder / "county_counts.csv")  # for the input checks' messages
    libs = snap.libraries
    anchors = gpd.GeoDataFrame(
        {
            "anchor_id": libs["library_id"],
            "name": libs["name"],
            "kind": "library",
            "geometry": libs.geometry,
        },
        geometry="geometry",
        crs="EPSG:4326",
    )
    return Dataset(
        boundaries={
            "county": counties[["GEOID", "NAME", "geometry"]],
            "state": snap.states[["GEOID", "NAME", "geometry"]],
        },
        acs=pd.DataFrame({"GEOID": pd.Series([], dtype="str")}),
        usage=snap.usage,
        anchors=anchors,
        provenance=snap.provenance,
        cache=cache,
        base_level="county",
        counts=counts,
        notes=snap.notes,
    )


# -- files ----------------------------------------------------------------------------------------


def _manifest(base: Path) -> dict[str, Any]:
    path = base / "snapshot.json"
    if not path.is_file():
        msg = (
            f"{path}: the bundled national snapshot is missing; run from a source checkout "
            "(pip install -e .), set EQUITY_DATA to a folder written by `equity snapshot build`, "
            "or run the fictional sample with `equity run --sample`"
        )
        raise DataError(msg)
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        msg = f"{path}: not valid JSON ({exc})"
        raise DataError(msg) from None
    return data


def _csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    """A snapshot CSV: text columns as str, the others as float64."""
    if not path.is_file():
        msg = f"{path}: file not found (rebuild with `equity snapshot build`)"
        raise DataError(msg)
    df = pd.read_csv(path, dtype={c: "str" for c in _TEXT}, keep_default_na=False, na_values=[""])
    missing = [c for c in required if c not in df.columns]
    if missing:
        msg = f"{path}: column {missing[0]!r} missing (columns: {list(df.columns)[:8]})"
        raise DataError(msg)
    for col in df.columns:
        if col not in _TEXT and col != "geometry":
            values = pd.to_numeric(df[col], errors="coerce")
            bad = values.isna() & df[col].notna()
            if bad.any():
                msg = f"{path}: column {col!r} is not numeric, e.g. {df.loc[bad, col].iloc[0]!r}"
                raise DataError(msg)
            df[col] = values.astype("float64")
    return df


def _geo_csv(path: Path, required: tuple[str, ...]) -> gpd.GeoDataFrame:
    """A snapshot CSV with a WKT ``geometry`` column, as a GeoDataFrame in EPSG:4326."""
    df = _csv(path, required)
    try:
        geoms = shapely.from_wkt(df["geometry"].to_numpy(dtype=object))
    except shapely.errors.GEOSException as exc:
        msg = f"{path}: column 'geometry' holds invalid WKT ({exc})"
        raise DataError(msg) from None
    if np.any(shapely.is_missing(geoms)):
        msg = f"{path}: column 'geometry' has empty values"
        raise DataError(msg)
    for col in ("ALAND", "AWATER"):
        if col in df:
            df[col] = df[col].astype("int64")
    return gpd.GeoDataFrame(df.drop(columns="geometry"), geometry=geoms, crs="EPSG:4326")


def _provenance(base: Path, manifest: dict[str, Any]) -> list[dict[str, str]]:
    """One provenance record per source a snapshot run uses (from the manifest's inputs)."""
    inputs = {i["key"]: i for i in manifest.get("inputs", [])}
    records = []
    for key, (source, attribution, vintage) in _PROVENANCE.items():
        spec = inputs.get(key)
        if spec is None:
            continue
        records.append(
            {
                "source": source,
                "title": str(spec["title"]),
                "publisher": str(spec["publisher"]),
                "vintage": vintage,
                "licence": str(spec["licence"]),
                "attribution": attribution,
                "path": str(base / _FILE_OF[key]),
            }
        )
    return records


#: The bundled file of each input a run reads.
_FILE_OF = {
    "svi2022": "county_counts.csv",
    "counties": "counties.csv",
    "usage": "microsoft_broadband_data_2020October.csv",
    "libraries": "imls_pls_fy19_outlets.csv",
    "income": "county_income_acs2018.csv",
}
