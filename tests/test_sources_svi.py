"""Tests of equity.sources.svi on the real 2018 county file and small tract files."""

from __future__ import annotations

from pathlib import Path

import pytest

from equity.errors import SchemaError
from equity.sources import read_boundaries, read_svi


def test_real_county_file(shared_data: Path) -> None:
    svi = read_svi(shared_data / "svi/cdc_svi2018_us_county.csv")
    assert svi.shape == (3142, 124)
    assert svi.columns[0] == "GEOID" and svi["GEOID"].is_unique
    assert (svi["GEOID"].str.len() == 5).all() and (svi["FIPS"] == svi["GEOID"]).all()
    assert svi.attrs["level"] == "county" and svi.attrs["vintage"] == "2018"
    numeric = svi.select_dtypes("number")
    assert not (numeric == -999).any().any()
    assert svi["RPL_THEMES"].isna().sum() == 1
    assert svi["RPL_THEMES"].dropna().between(0, 1).all()
    assert svi["E_TOTPOP"].dtype == "float64" and svi["ST_ABBR"].dtype == "str"
    counties = read_boundaries(shared_data / "boundaries/us/cb_2018_us_county_20m.shp")
    assert svi["GEOID"].isin(counties["GEOID"]).sum() == 3142


def test_tract_file_and_integer_fips(tmp_path: Path) -> None:
    path = tmp_path / "SVI2020_US.csv"
    path.write_text(
        "ST,STATE,ST_ABBR,STCNTY,COUNTY,FIPS,LOCATION,E_TOTPOP,EP_POV150,RPL_THEMES\n"
        "1,Alabama,AL,1001,Autauga,1001020100,Census Tract 201,1900,-999,0.3\n"
        "51,Virginia,VA,51001,Accomack,51001090100.0,Census Tract 901,3000,12.5,-999\n"
    )
    svi = read_svi(path)
    assert svi["GEOID"].tolist() == ["01001020100", "51001090100"]
    assert svi.attrs["level"] == "tract"
    assert svi["EP_POV150"].isna().tolist() == [True, False]
    assert svi["RPL_THEMES"].isna().tolist() == [False, True]


def test_errors(tmp_path: Path) -> None:
    path = tmp_path / "svi.csv"
    path.write_text("ST,COUNTY,E_TOTPOP\n1,A,3\n")
    with pytest.raises(SchemaError, match="FIPS"):
        read_svi(path)
    path.write_text("FIPS,E_TOTPOP,E_HU\n01001,3x,1\n01003,4,y\n")
    with pytest.raises(SchemaError, match=r"2 problems") as info:
        read_svi(path)
    assert "'3x'" in str(info.value) and "'y'" in str(info.value)
