"""One schema per reader: the reader and validate accept and refuse the same files.

For every kind :func:`equity.sources.validate` knows, a small file the reader accepts passes
validate, and the same file without a required column fails both, naming that column.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from equity.errors import EquityError, SchemaError
from equity.sources import validate
from equity.sources._schema import Layout, Schema
from equity.sources.fcc import BDC_COLUMNS
from equity.sources.validate import _READERS, SCHEMAS

# kind: (file name, text, the required column to drop)
TABLES: dict[str, tuple[str, str, str]] = {
    "acs": (
        "acs.csv",
        "GEOID,NAME,B28002_013E,B28002_013M\n"
        "510010901011,A,82,74\n510010901012,B,-666666666,-222222222\n",
        "GEOID",
    ),
    "broadband_usage": (
        "usage.csv",
        "ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\n"
        "VA,51001,Accomack County,0.7,0.2\nAL,1001,Autauga County,0.8, -   \n",
        "BROADBAND USAGE",
    ),
    "ookla": (
        "tiles.csv",
        "quadkey,avg_d_kbps,avg_u_kbps,avg_lat_ms,tests,devices\n"
        "0222111113233011,126482,19756,13,9,1\n",
        "devices",
    ),
    "ookla_aggregates": (
        "aggregates.csv",
        "geoid,region_type,region_name,year,measure,value\n"
        "51001090100,tract,T1,2020,devices,3\n51001090100,tract,T1,2020,tests,9\n",
        "region_name",
    ),
    "fcc_bdc": (
        "bdc.csv",
        ",".join(BDC_COLUMNS) + "\n"
        "1,130001,b,1001,50,1000,1000,1,R,VA,510010901001000,882a100d2bfffff\n"
        "1,130002,c,1002,60,100,20,0,X,VA,510010901001001,882a100d2bfffff\n",
        "low_latency",
    ),
    "business_patterns": (
        "cbp.txt",
        "fipstate,fipscty,naics,emp,emp_nf,qp1,ap,est,n<5\n"
        "51,001,------,10,G,2,8,3,2\n51,3,------,0,D,0,0,N,1\n",
        "est",
    ),
    "libraries": (
        "pls_fy19_outlet.csv",
        "STABR,FSCSKEY,FSCS_SEQ,LIBNAME,LONGITUD,LATITUDE,INCITSST,INCITSCO\n"
        "VA,VA0001,002,LIB,-78.5,38.0,51,003\n",
        "LIBNAME",
    ),
    "anchors": (
        "anchors.csv",
        "anchor_id,name,kind,county_fips,latitude,longitude\na1,Hub,nonprofit,51003,38.0,-78.5\n",
        "latitude",
    ),
    "colleges": (
        "hd2022.csv",
        "UNITID,INSTNM,CITY,STABBR,SECTOR,INSTSIZE,LONGITUD,LATITUDE\n"
        "233718,Southwest Virginia Community College,Cedar Bluff,VA,4,2,-81.93,37.08\n",
        "INSTNM",
    ),
    "nonprofits": (
        "eo_va.csv",
        "EIN,NAME,STREET,CITY,STATE,ZIP,SUBSECTION,NTEE_CD,INCOME_CD,ASSET_CD,INCOME_AMT\n"
        "010549451,TOWN LIBRARY,1 MAIN ST,TOWN,VA,24210-1234,03,B70,4,3,120000\n",
        "NTEE_CD",
    ),
    "partners": (
        "my_partners.csv",
        "name,Type,Lat,Lon\nAbingdon Library,library,36.71,-81.97\n",
        "name",
    ),
    "zip_centroids": (
        "zctas.csv",
        "geoid,latitude,longitude\n24210,36.71,-81.97\n05001,43.65,-72.32\n",
        "latitude",
    ),
    "svi": (
        "SVI2018_US_COUNTY.csv",
        "FIPS,ST_ABBR,E_TOTPOP,EP_POV,RPL_THEMES\n51001,VA,100,12.5,0.5\n51003,VA,200,-999,0.7\n",
        "FIPS",
    ),
}


def _write_table(path: Path, text: str, drop: str | None) -> Path:
    if drop is None:
        path.write_text(text)
    else:
        frame = pd.read_csv(io.StringIO(text), dtype="str", keep_default_na=False)
        frame.drop(columns=drop).to_csv(path, index=False)
    return path


def _write_boundaries(path: Path, drop: str | None) -> Path:
    gdf = gpd.GeoDataFrame(
        {"GEOID": ["51001", "51003"], "NAME": ["Accomack", "Albemarle"], "ALAND": [1.0, 2.0]},
        geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)],
        crs=4326,
    )
    if drop is not None:
        gdf = gdf.drop(columns=drop)
    gdf.to_file(path)
    return path


def _file(kind: str, folder: Path, *, drop: bool) -> tuple[Path, str]:
    """A file of `kind` the reader accepts (or without its required column) and that column."""
    if kind == "boundaries":
        return _write_boundaries(folder / "parcels.gpkg", "GEOID" if drop else None), "GEOID"
    name, text, column = TABLES[kind]
    return _write_table(folder / name, text, column if drop else None), column


def _reader(kind: str) -> Callable[[Path], pd.DataFrame]:
    return _READERS[kind]


def test_every_kind_has_a_reader_and_a_case() -> None:
    assert set(_READERS) == set(SCHEMAS) - {"table"}
    assert set(TABLES) | {"boundaries"} == set(_READERS)


@pytest.mark.parametrize("kind", sorted(_READERS))
def test_a_file_the_reader_accepts_passes_validate(tmp_path: Path, kind: str) -> None:
    path, _ = _file(kind, tmp_path, drop=False)
    assert len(_reader(kind)(path)) > 0
    assert validate(path, kind=kind) == []
    assert validate(path) == []  # the kind is detected too


@pytest.mark.parametrize("kind", sorted(_READERS))
def test_a_missing_required_column_fails_both_naming_it(tmp_path: Path, kind: str) -> None:
    path, column = _file(kind, tmp_path, drop=True)
    with pytest.raises(SchemaError) as info:
        _reader(kind)(path)
    assert column in str(info.value)
    problems = validate(path, kind=kind)
    assert problems and column in problems[0]


def test_schema_columns_keys_and_layouts() -> None:
    schema = Schema(
        kind="demo",
        title="a demo file",
        required=(("value",),),
        layouts=(Layout("zip", (("zip", "ZIP CODE"),)), Layout("county", (("st",), ("co",)))),
        keys=(("zip",), ("st", "co")),
        codes=(("zip", 5),),
    )
    assert schema.missing(["Value", "st"]) == ["zip (zip file) or co (county file)"]
    assert schema.layout(["value", "zip_code"]) == "zip"
    assert schema.key(["value", "ST", "Co"]) == ["ST", "Co"]
    assert schema.columns([" Zip Code ", "VALUE"]) == {"value": "VALUE", "zip": " Zip Code "}
    frame = pd.DataFrame(columns=["ZIP CODE", "VALUE", "other"])
    assert list(schema.canonical(frame).columns) == ["zip", "value", "other"]
    with pytest.raises(SchemaError, match=r"not a demo file: missing value, zip \(zip file\)"):
        schema.require(pd.DataFrame(columns=["other"]), path="demo.csv")


def test_validate_refuses_an_unknown_kind_listing_the_valid_ones(tmp_path: Path) -> None:
    path, _ = _file("acs", tmp_path, drop=False)
    with pytest.raises(EquityError, match=r"unknown kind 'nope'; valid: acs, boundaries"):
        validate(path, kind="nope")
