"""Tests of equity.sources.validate: every real file passes (or shows its documented problem),
broken files list all their problems at once."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest
from shapely.geometry import box

from equity.sources import validate
from equity.sources.validate import detect_kind

REAL = {
    "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv": "acs",
    "acs/uva_equitycenter_acs_tract_cville.csv": "table",
    "broadband/microsoft_broadband_data_2020October.csv": "broadband_usage",
    "broadband/microsoft_broadband_data_zipcode.csv": "broadband_usage",
    "broadband/uva_equitycenter_fcc_broadband_cville_block.csv": "table",
    "business/census_zbp18totals.txt": "business_patterns",
    "anchors/imls_pls_fy19_outlet_pud19i.csv": "libraries",
    "svi/cdc_svi2018_us_county.csv": "svi",
    "ookla/ookla_fixed_tiles_hawaii_2021Q1.geojson": "ookla",
    "ookla/uva_sdad_va_hdcttr_2019_2021_ookla_fixed_speed_measurements.csv": "ookla_aggregates",
    "boundaries/va/cb_2020_51_bg_500k.shp": "boundaries",
    "boundaries/va/gz_2010_51_140_00_500k.shp": "boundaries",
}


@pytest.mark.parametrize("name", list(REAL))
def test_real_files_are_clean(shared_data: Path, name: str) -> None:
    assert validate(shared_data / name) == []


def test_real_kinds_detected(shared_data: Path) -> None:
    import pandas as pd

    for name, kind in REAL.items():
        path = shared_data / name
        if path.suffix in (".csv", ".txt"):
            cols = pd.read_csv(path, nrows=0, encoding="latin-1").columns.tolist()
            assert detect_kind(cols) == kind, name


def test_real_zcta_duplicates_reported(shared_data: Path) -> None:
    assert validate(shared_data / "boundaries/us/census_centroids_zctas_2018.csv") == [
        "103 exact duplicate row(s)"
    ]


def test_every_problem_in_one_go(tmp_path: Path) -> None:
    path = tmp_path / "index_input.csv"
    path.write_text(
        "GEOID,NAME,population,share_no_internet,pct_poverty,households\n"
        "51001,A,100,0.2,12,40\n"
        "51001,B,200,1.4,15,50\n"
        "51003.0,C,-5,0.1,140,x\n"
    )
    problems = validate(path)
    text = "\n".join(problems)
    assert "column 'GEOID': 2 rows share an id, e.g. '51001'" in text
    assert "written as numbers with decimals, e.g. '51003.0'" in text
    assert "column 'population': 1 negative count(s), e.g. '-5'" in text
    assert "column 'share_no_internet': 1 share(s) outside [0, 1], e.g. '1.4'" in text
    assert "column 'pct_poverty': 1 share(s) outside [0, 100], e.g. '140'" in text
    assert "column 'households': 1 non-numeric value(s), e.g. 'x'" in text
    assert len(problems) == 6


def test_kind_specific_problems(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(
        "ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\n"
        "VA,51001,A,0.5,1.2\nVA,51001,A,0.5,1.2\nVA,51003,B,abc,0.3\n"
    )
    problems = validate(path)
    assert "1 exact duplicate row(s)" in problems
    assert any("'BROADBAND USAGE': 2 share(s) outside [0, 1], e.g. '1.2'" in p for p in problems)
    assert any(
        "'BROADBAND AVAILABILITY PER FCC': 1 non-numeric value(s), e.g. 'abc'" in p
        for p in problems
    )
    svi = tmp_path / "svi.csv"
    svi.write_text("FIPS,E_TOTPOP,EP_POV,RPL_THEMES\n51001,-999,12,0.5\n51003,-4,120,1.5\n")
    problems = validate(svi)
    assert problems == [
        "column 'E_TOTPOP': 1 negative count(s), e.g. '-4'",
        "column 'EP_POV': 1 share(s) outside [0, 100], e.g. '120'",
        "column 'RPL_THEMES': 1 share(s) outside [0, 1], e.g. '1.5'",
    ]


def test_missing_columns_and_reader_errors(tmp_path: Path) -> None:
    path = tmp_path / "tiles.csv"
    path.write_text("quadkey,avg_d_kbps,tests\n0222111113233011,100,1\n")
    problems = validate(path)
    assert problems[0] == "missing column(s) for a ookla file: avg_u_kbps, avg_lat_ms, devices"
    path.write_text("GEOID,B01003_001E,B01003_001M\n5100A,1,2\n")
    assert validate(path) == ["column 'GEOID': 1 id(s) are not digit codes, e.g. '5100A'"]
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,1,2\n")
    assert validate(path, kind="svi") == ["missing column(s) for a svi file: FIPS"]


def test_unreadable_inputs(tmp_path: Path) -> None:
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    assert validate(empty) == [f"{empty}: file is empty (0 bytes)"]
    header = tmp_path / "h.csv"
    header.write_text("GEOID,B01003_001E\n")
    assert validate(header) == ["header only: no data rows"]
    cut = tmp_path / "c.csv"
    cut.write_text("GEOID,B01003_001E,B01003_001M\n51001,1,2\n51003,4")
    assert "truncated" in validate(cut)[0]
    semi = tmp_path / "s.csv"
    semi.write_text("GEOID B01003_001E B01003_001M\n51001 1 2\n")
    assert "wrong delimiter" in validate(semi)[0]
    assert "not found" in validate(tmp_path / "missing.csv")[0]
    with pytest.raises(ValueError, match="valid: acs"):
        validate(semi, kind="nope")


def test_geo_without_crs_and_not_census(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"parcel": ["a", "b"]}, geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)])
    path = tmp_path / "parcels.shp"
    with pytest.warns(UserWarning, match="crs"):
        gdf.to_file(path)
    problems = validate(path)
    assert problems[0].startswith("unknown CRS")
    gdf.set_crs(4326).to_file(tmp_path / "p2.shp")
    problems = validate(tmp_path / "p2.shp")
    assert len(problems) == 1 and "no Census id column" in problems[0] and "parcel" in problems[0]


def test_kind_aliases_and_level_tables(tmp_path: Path) -> None:
    path = tmp_path / "u.csv"
    path.write_text(
        "ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE\nVA,51001,A,0.5,0.2\n"
    )
    assert validate(path, kind="usage") == []
    table = gpd.GeoDataFrame(
        {
            "GEOID": ["51001", "51003"],
            "share_no_internet": [0.2, 1.3],
            "equity_index": [50.0, 70.0],
        },
        geometry=[box(0, 0, 1, 1), box(1, 1, 2, 2)],
        crs=4326,
    )
    out = tmp_path / "index_county.parquet"
    table.to_parquet(out)
    assert validate(out) == ["column 'share_no_internet': 1 share(s) outside [0, 1], e.g. 1.3"]
