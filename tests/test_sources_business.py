"""Tests of equity.sources.business: real ZIP totals, CBP county files of old and new vintages."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from equity.errors import SchemaError
from equity.sources import read_business_patterns

ZBP = "business/census_zbp18totals.txt"


def test_real_zip_totals(shared_data: Path) -> None:
    df = read_business_patterns(shared_data / ZBP)
    assert len(df) == 35244
    assert df["GEOID"].is_unique and (df["GEOID"].str.len() == 5).all()
    assert df["GEOID"].iloc[0] == "01001"
    for c in ("establishments", "employment", "payroll_annual_k", "payroll_q1_k"):
        assert df[c].dtype == "float64" and (df[c] >= 0).all()
    assert (df["employment"] == 0).sum() == 5
    assert set(df["employment_noise"]) <= {"G", "H", "J"}
    assert (df["employment_flag"] == "").all()
    assert df.attrs["geography"] == "zip" and df.attrs["vintage"] == "2018"
    assert "DOÑA ANA" in set(df["county_name"])  # latin-1 decoded
    zcta = pd.read_csv(shared_data / "boundaries/us/census_centroids_zctas_2018.csv", dtype=str)
    assert len(set(df["GEOID"]) & set(zcta["geoid"])) == 30577


CBP_NEW = (
    "fipstate,fipscty,naics,emp_nf,emp,qp1_nf,qp1,ap_nf,ap,est,n<5,n5_9,n10_19,n20_49,n50_99,"
    "n100_249,n250_499,n500_999,n1000,n1000_1,n1000_2,n1000_3,n1000_4,censtate,cntyfips\n"
    "01,001,------,G,10000,G,100000,G,400000,900,500,200,100,50,30,10,5,3,2,1,1,0,0,63,1\n"
    "01,001,44----,H,2000,H,10000,H,40000,150,80,40,20,5,3,2,0,0,0,0,0,0,0,63,1\n"
    "1,3,------,D,0,D,0,D,0,12,N,N,N,N,N,N,N,N,N,N,N,N,N,63,3\n"
)


def test_cbp_county_new_vintage(tmp_path: Path) -> None:
    path = tmp_path / "cbp21co.txt"
    path.write_text(CBP_NEW)
    df = read_business_patterns(path)
    assert df["GEOID"].tolist() == ["01001", "01001", "01003"]
    assert df.attrs["geography"] == "county" and df.attrs["vintage"] == "2021"
    assert df["establishments"].tolist() == [900.0, 150.0, 12.0]
    assert df["est_lt5"].iloc[0] == 500 and df["est_5000_plus"].iloc[0] == 0
    # withheld values are missing, not zero
    assert pd.isna(df["employment"].iloc[2]) and df["employment_flag"].iloc[2] == "withheld"
    assert pd.isna(df["payroll_annual_k"].iloc[2]) and df["payroll_flag"].iloc[2] == "withheld"
    assert df["est_lt5"].isna().iloc[2]
    totals = read_business_patterns(path, naics="------")
    assert totals["GEOID"].tolist() == ["01001", "01003"]


def test_cbp_county_old_vintage_empflag(tmp_path: Path) -> None:
    text = (
        "FIPSTATE,FIPSCTY,NAICS,EMPFLAG,EMP_NF,EMP,QP1_NF,QP1,AP_NF,AP,EST,N1_4,N5_9\n"
        "51,001,------,,G,8000,G,50000,G,200000,700,400,150\n"
        "51,003,------,C,D,0,D,0,D,0,30,20,5\n"
        "51,005,------,S,S,0,S,0,S,0,3,3,0\n"
    )
    path = tmp_path / "cbp12co.txt"
    path.write_text(text)
    df = read_business_patterns(path)
    assert df["employment_flag"].tolist() == ["", "withheld", "low_quality"]
    assert df["employment"].isna().tolist() == [False, True, True]
    assert df["est_lt5"].tolist() == [400.0, 20.0, 3.0]


def test_cbp_errors(tmp_path: Path) -> None:
    path = tmp_path / "cbp21co.txt"
    path.write_text(CBP_NEW.replace("900,500", "-900,500"))
    with pytest.raises(SchemaError, match=r"'establishments'.*negative"):
        read_business_patterns(path)
    path.write_text(CBP_NEW.replace("900,500", "9o0,500"))
    with pytest.raises(SchemaError, match="'est'.*'9o0'"):
        read_business_patterns(path)
    path.write_text("state,county,firms\n51,001,3\n")
    with pytest.raises(SchemaError, match="fipstate"):
        read_business_patterns(path)
    path.write_text(CBP_NEW + CBP_NEW.splitlines()[1].replace("10000", "99") + "\n")
    with pytest.raises(SchemaError, match="01001"):
        read_business_patterns(path)
