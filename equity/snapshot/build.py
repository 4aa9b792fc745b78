"""``equity snapshot build``: the bundled national county snapshot from the public files.

:func:`build_snapshot` reads the inputs of :data:`equity.snapshot.inputs.INPUTS` (checked
against their published SHA-256) with the project's readers and writes, atomically:

``counties.csv``
    The 3,142 counties of the 50 states and DC (Census 2018, 1:20,000,000), their names as
    the Census writes them ("Apache County, Arizona"), state, land and water area, and the
    polygon as WKT (longitude/latitude, EPSG:4326) snapped to a 0.00001-degree grid (about
    1 m; the 1:20m generalisation already simplified them).
``states.csv``
    The 50 states and DC, likewise.
``county_counts.csv``
    The project's count columns and their 90% margins of error from CDC/ATSDR SVI 2022
    (ACS 2018-2022), with Alaska's split undone and Connecticut from SVI 2018
    (:mod:`equity.snapshot.counts`); ``counts_source`` says which.
``county_income_acs2018.csv``
    Median household income (ACS 2014-2018, B19013_001) and its MOE, when the optional
    input is given (reading it needs ``pyreadr``).
``imls_pls_fy19_outlets.csv``
    The IMLS outlet file's rows in the 50 states and DC and the columns a run reads, in the
    published layout (``equity.sources.read_libraries`` reads it).
``microsoft_broadband_data_2020October.csv``, ``microsoft_O-UDA_LICENSE.txt``
    Byte copies of Microsoft's county file and its licence.
``snapshot.json``, ``README.md``
    The manifest (inputs with their SHA-256, files with theirs, notes) and its rendering.

The same inputs give the same bytes: rows sorted by GEOID (libraries in published order),
fixed number formats, ``\\n`` line ends, no dates or absolute paths.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from equity import _io
from equity.errors import DataError
from equity.snapshot.counts import SOURCE_CODES, county_counts
from equity.snapshot.inputs import INPUTS, resolve_inputs, sha256_of
from equity.snapshot.readme import FILES, notes_for, render_readme
from equity.sources import read_boundaries, read_svi
from equity.sources._common import read_csv_text
from equity.sources._states import STATES

__all__ = ["GRID_DEGREES", "build_snapshot"]

log = logging.getLogger("equity.snapshot")

#: Coordinates are snapped to this grid (degrees; about 1.1 m of latitude).
GRID_DEGREES = 1e-5
#: The 50 states and DC (Puerto Rico and the territories are left out).
_STATES = {s.fips: s for s in STATES if s.fips != "72"}
#: Columns of the IMLS outlet file the snapshot keeps (those `read_libraries` reads).
_LIBRARY_COLUMNS = (
    "STABR",
    "FSCSKEY",
    "FSCS_SEQ",
    "LIBNAME",
    "CITY",
    "ZIP",
    "C_OUT_TY",
    "LONGITUD",
    "LATITUDE",
    "INCITSST",
    "INCITSCO",
)


def build_snapshot(source: str | Path, out: str | Path, *, with_income: bool = True) -> list[Path]:
    """Build the national county snapshot from the public files in `source` into `out`.

    Parameters
    ----------
    source
        A folder in the layout of ``../shared/data`` holding the files of
        :data:`equity.snapshot.inputs.INPUTS`.
    out
        Output folder (``data/`` of the project); its snapshot files are replaced
        atomically, other files in it are left alone.
    with_income
        Add median household income from the ACS 2014-2018 county file (needs ``pyreadr``).

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    DataError
        A missing or altered input, a county without counts, or ``pyreadr`` missing when
        `with_income` is set.

    Examples
    --------
    >>> build_snapshot("../shared/data", "data")  # doctest: +SKIP
    """
    src, dest = Path(source), Path(out)
    paths = resolve_inputs(src, with_income=with_income)
    states = _states(paths["states"])
    svi2022, svi2018 = read_svi(paths["svi2022"]), read_svi(paths["svi2018"])
    counties = _counties(paths["counties"], svi2022, svi2018)
    counts = county_counts(svi2022, svi2018, counties["GEOID"])
    tables: dict[str, pd.DataFrame] = {
        "counties.csv": _with_wkt(counties),
        "states.csv": _with_wkt(states),
        "county_counts.csv": counts,
        "imls_pls_fy19_outlets.csv": _libraries(paths["libraries"]),
    }
    if "income" in paths:
        tables["county_income_acs2018.csv"] = _income(paths["income"], counties["GEOID"])
    copies = {
        "microsoft_broadband_data_2020October.csv": paths["usage"],
        "microsoft_O-UDA_LICENSE.txt": paths["ouda_licence"],
    }
    with _io.atomic_dir(dest) as tmp:
        written = [_write_csv(table, tmp / name) for name, table in tables.items()]
        for name, path in copies.items():
            shutil.copyfile(path, tmp / name)
            written.append(tmp / name)
        manifest = _manifest(paths, tmp, tables, _income_missing(tables, counties))
        (tmp / "snapshot.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8",
        )
        (tmp / "README.md").write_text(render_readme(manifest), encoding="utf-8")
        names = sorted(p.name for p in [*written, tmp / "snapshot.json", tmp / "README.md"])
    files = [dest / n for n in names]
    log.info("build_snapshot: %d files in %s", len(files), dest)
    return files


# -- the tables ----------------------------------------------------------------------------------


def _states(path: Path) -> gpd.GeoDataFrame:
    """The 50 states and DC: GEOID, NAME, state_abbr, geometry."""
    gdf = read_boundaries(path, level="state")
    gdf = gdf[gdf["GEOID"].isin(_STATES)].sort_values("GEOID").reset_index(drop=True)
    if len(gdf) != len(_STATES):
        missing = sorted(set(_STATES) - set(gdf["GEOID"]))
        msg = f"{path}: states missing: {missing}"
        raise DataError(msg)
    gdf["state_abbr"] = gdf["GEOID"].map(lambda c: _STATES[c].usps)
    return gdf[["GEOID", "NAME", "state_abbr", "geometry"]]


def _counties(path: Path, svi2022: pd.DataFrame, svi2018: pd.DataFrame) -> gpd.GeoDataFrame:
    """The counties of the 50 states and DC with their full Census names.

    The name is the SVI's ``LOCATION`` ("Apache County, Arizona"): SVI 2022's, or SVI
    2018's for the counties SVI 2022 no longer has (Connecticut's, Valdez-Cordova); each is
    checked to begin with the boundary file's own ``NAME``.
    """
    gdf = read_boundaries(path, level="county")
    gdf = gdf[gdf["GEOID"].str[:2].isin(_STATES)].sort_values("GEOID").reset_index(drop=True)
    names = pd.concat(
        [svi2022.set_index("GEOID")["LOCATION"], svi2018.set_index("GEOID")["LOCATION"]]
    )
    names = names[~names.index.duplicated()]
    location = gdf["GEOID"].map(names)
    bad = location.isna() | ~pd.Series(
        [str(loc).startswith(str(n)) for loc, n in zip(location, gdf["NAME"], strict=True)]
    )
    if bad.any():
        ex = gdf.loc[bad, ["GEOID", "NAME"]].iloc[0].tolist()
        msg = f"{path}: {int(bad.sum())} counties without a matching SVI name, e.g. {ex}"
        raise DataError(msg)
    out = gpd.GeoDataFrame(
        {
            "GEOID": gdf["GEOID"],
            "NAME": location.astype(str),
            "state_GEOID": gdf["GEOID"].str[:2],
            "state_abbr": gdf["GEOID"].str[:2].map(lambda c: _STATES[c].usps),
            "state_name": gdf["GEOID"].str[:2].map(lambda c: _STATES[c].name),
            "ALAND": gdf["ALAND"].round().astype("int64"),
            "AWATER": gdf["AWATER"].round().astype("int64"),
        },
        geometry=gdf.geometry.values,
        crs="EPSG:4326",
    )
    return out


def _with_wkt(gdf: gpd.GeoDataFrame) -> pd.DataFrame:
    """`gdf` with its geometry snapped to :data:`GRID_DEGREES` and written as WKT."""
    snapped = shapely.set_precision(gdf.geometry.values, GRID_DEGREES)
    if not shapely.is_valid(snapped).all() or shapely.is_empty(snapped).any():
        msg = "snapshot: a polygon became invalid or empty on the coordinate grid"
        raise DataError(msg)
    digits = round(-np.log10(GRID_DEGREES))
    wkt = shapely.to_wkt(snapped, rounding_precision=digits, trim=True)
    return pd.DataFrame(gdf.drop(columns="geometry")).assign(geometry=wkt)


def _libraries(path: Path) -> pd.DataFrame:
    """The outlets of the 50 states and DC, the columns a run reads, in the published order."""
    raw = read_csv_text(path)
    missing = [c for c in _LIBRARY_COLUMNS if c not in raw.columns]
    if missing:
        msg = f"{path}: columns {missing} missing (an IMLS outlet file has them)"
        raise DataError(msg)
    usps = {s.usps for s in _STATES.values()}
    keep = raw["STABR"].astype("string").str.strip().isin(usps)
    return raw.loc[keep.fillna(False).to_numpy(), list(_LIBRARY_COLUMNS)].reset_index(drop=True)


def _income(path: Path, counties: pd.Series) -> pd.DataFrame:
    """Median household income (B19013_001, ACS 2014-2018) and its MOE by county."""
    try:
        import pyreadr
    except ImportError:
        msg = (
            f"{path}: reading the R data file needs pyreadr (pip install pyreadr), or build "
            "without median income (--no-income)"
        )
        raise DataError(msg) from None
    frames = pyreadr.read_r(str(path))
    raw = frames.get("co_acs_raw")
    if raw is None or not {"stco_code", "B19013_001E", "B19013_001M"} <= set(raw.columns):
        msg = f"{path}: no object co_acs_raw with stco_code, B19013_001E and B19013_001M"
        raise DataError(msg)
    table = pd.DataFrame(
        {
            "GEOID": raw["stco_code"].astype(str).str.zfill(5),
            "median_household_income": pd.to_numeric(raw["B19013_001E"], errors="coerce"),
            "moe_median_household_income": pd.to_numeric(raw["B19013_001M"], errors="coerce"),
        }
    )
    table = table.set_index("GEOID").reindex(pd.Index(sorted(counties), name="GEOID"))
    return table.reset_index()


# -- writing -------------------------------------------------------------------------------------


def _write_csv(table: pd.DataFrame, path: Path) -> Path:
    """A CSV with ``\\n`` line ends and numbers as the shortest text that round-trips."""
    out = table.copy()
    for col in out.columns:
        if pd.api.types.is_float_dtype(out[col]):
            out[col] = _number_text(out[col])
    out.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
    return path


def _number_text(values: pd.Series) -> pd.Series:
    """Whole numbers without ``.0``, others as Python's shortest repr; NaN as blank."""
    v = values.to_numpy(dtype=float)
    text = [
        "" if np.isnan(x) else (str(int(x)) if float(x).is_integer() else repr(float(x))) for x in v
    ]
    return pd.Series(text, index=values.index, dtype=object)


def _income_missing(tables: Mapping[str, pd.DataFrame], counties: pd.DataFrame) -> list[str] | None:
    """Counties without a median income ("Name (GEOID)"); None when built without income."""
    income = tables.get("county_income_acs2018.csv")
    if income is None:
        return None
    gaps = income.loc[income["median_household_income"].isna(), "GEOID"]
    names = counties.set_index("GEOID")["NAME"]
    return [f"{names[g]} ({g})" for g in gaps]


def _manifest(
    paths: Mapping[str, Path],
    tmp: Path,
    tables: Mapping[str, pd.DataFrame],
    income_missing: list[str] | None,
) -> dict[str, Any]:
    """What was read (with SHA-256), what was written (with SHA-256 and rows), and the notes."""
    inputs = []
    for key, path in paths.items():
        spec = INPUTS[key]
        inputs.append(
            {
                "key": key,
                "path": spec.path,
                "sha256": sha256_of(path),
                "bytes": path.stat().st_size,
                "title": spec.title,
                "publisher": spec.publisher,
                "repository": spec.repository,
                "commit": spec.commit,
                "source_path": spec.source_path,
                "vintage": spec.vintage,
                "licence": spec.licence,
            }
        )
    files = []
    for name, described in FILES.items():
        path = tmp / name
        if not path.is_file():
            continue
        files.append(
            {
                "name": name,
                "sha256": sha256_of(path),
                "bytes": path.stat().st_size,
                "rows": int(len(tables[name])) if name in tables else None,
                **described,
            }
        )
    counts = tables["county_counts.csv"]
    by_source = counts["counts_source"].value_counts().sort_index()
    return {
        "snapshot": "equity national county snapshot",
        "counties": int(len(counts)),
        "states": int(counts["GEOID"].str[:2].nunique()),
        "counts_source": {
            code: {"counties": int(by_source.get(code, 0)), "meaning": SOURCE_CODES[code]}
            for code in SOURCE_CODES
        },
        "inputs": inputs,
        "files": files,
        "notes": list(notes_for(income_missing=income_missing)),
    }
