"""Tests of equity.sources.acs: real ACS block groups, API JSON, data.census.gov CSV, sentinels."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equity.errors import DataError, SchemaError
from equity.sources import read_acs, read_boundaries

ACS_BG = "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"
VARS = [
    "B19013_001",
    "B28001_001",
    "B28001_002",
    "B28002_001",
    "B28002_004",
    "B28002_007",
    "B28002_013",
]


@pytest.fixture(scope="module")
def acs_bg(shared_data: Path) -> pd.DataFrame:
    return read_acs(shared_data / ACS_BG)


def test_real_blockgroups_shape_and_types(acs_bg: pd.DataFrame) -> None:
    assert len(acs_bg) == 5963
    assert acs_bg["GEOID"].is_unique
    assert (acs_bg["GEOID"].str.len() == 12).all()
    assert acs_bg["GEOID"].str.startswith("51").all()
    assert acs_bg.attrs["level"] == "blockgroup"
    assert acs_bg.attrs["source"] == "acs" and acs_bg.attrs["vintage"] == "2021"
    for key in ("source", "title", "publisher", "vintage", "licence", "attribution", "path"):
        assert key in acs_bg.attrs
    for v in VARS:
        assert acs_bg[f"{v}E"].dtype == "float64"
        assert acs_bg[f"{v}M"].dtype == "float64"
        assert acs_bg[f"{v}_flag"].dtype == "str"


def test_real_sentinels_become_nan_and_flags(acs_bg: pd.DataFrame) -> None:
    numbers = acs_bg[[f"{v}{k}" for v in VARS for k in "EM"]]
    assert (numbers.fillna(0) >= 0).all().all(), "no sentinel survives as a number"
    flag = acs_bg["B19013_001_flag"]
    assert (flag == "insufficient_sample").sum() == 314
    assert (flag == "median_top_coded").sum() == 93
    assert (flag == "median_bottom_coded").sum() == 2
    assert acs_bg.loc[flag == "insufficient_sample", "B19013_001E"].isna().all()
    # open-ended medians keep their boundary value, their MOE is missing
    assert (acs_bg.loc[flag == "median_top_coded", "B19013_001E"] == 250001).all()
    assert (acs_bg.loc[flag == "median_bottom_coded", "B19013_001E"] == 2499).all()
    assert acs_bg.loc[flag.str.startswith("median"), "B19013_001M"].isna().all()
    # counts are never flagged in this file
    assert (acs_bg["B28002_013_flag"] == "").all()
    assert (acs_bg["B28002_001E"] == 0).sum() == 69


def test_real_join_to_2020_blockgroups_and_tracts(shared_data: Path, acs_bg: pd.DataFrame) -> None:
    bg = read_boundaries(shared_data / "boundaries/va/cb_2020_51_bg_500k.shp")
    tracts = read_boundaries(shared_data / "boundaries/va/cb_2020_51_tract_500k.shp")
    matched = acs_bg["GEOID"].isin(bg["GEOID"])
    assert matched.sum() == 5951
    assert acs_bg.loc[~matched, "GEOID"].str.slice(5, 7).eq("99").all()  # water-only
    acs_tracts = set(acs_bg["GEOID"].str.slice(0, 11))
    assert len(acs_tracts) == 2198
    assert len(acs_tracts & set(tracts["GEOID"])) == 2186


def test_variables_option(shared_data: Path) -> None:
    df = read_acs(shared_data / ACS_BG, variables=["B28002_013", "B28002_001E"])
    assert list(df.columns) == [
        "GEOID",
        "B28002_013E",
        "B28002_013M",
        "B28002_013_flag",
        "B28002_001E",
        "B28002_001M",
        "B28002_001_flag",
    ]
    with pytest.raises(SchemaError, match="B99999_001"):
        read_acs(shared_data / ACS_BG, variables=["B99999_001"])


def test_equity_center_tidycensus_files_load(shared_data: Path) -> None:
    tracts2010 = read_boundaries(shared_data / "boundaries/va/gz_2010_51_140_00_500k.shp")
    for name, n in (
        ("uva_equitycenter_acs_tract_cville.csv", 50),
        ("uva_equitycenter_acs_eastern_tract.csv", 16),
    ):
        df = read_acs(shared_data / "acs" / name)
        assert len(df) == n
        assert df["GEOID"].dtype == "str" and (df["GEOID"].str.len() == 11).all()
        assert df.attrs["level"] == "tract"
        assert df["totalpopE"].dtype == "float64"
        assert df["GEOID"].isin(tracts2010["GEOID"]).all()


def test_api_json_with_all_sentinels(tmp_path: Path) -> None:
    rows = [
        [
            "NAME",
            "B28002_013E",
            "B28002_013M",
            "B19013_001E",
            "B19013_001M",
            "state",
            "county",
            "tract",
            "block group",
        ],
        ["BG 1", "82", "74", "60026", "8699", "51", "001", "090101", "1"],
        [
            "BG 2",
            "-666666666",
            "-222222222",
            "-666666666",
            "-222222222",
            "51",
            "001",
            "090101",
            "2",
        ],
        ["BG 3", "0", "-555555555", "250001", "-333333333", "51", "001", "090102", "1"],
        ["BG 4", "-888888888", "-888888888", "2499", "-333333333", "51", "001", "090102", "2"],
        ["BG 5", "-999999999", "-999999999", "45000", "-999999999", "51", "003", "010100", "1"],
    ]
    path = tmp_path / "acs_api.json"
    path.write_text(json.dumps(rows))
    df = read_acs(path)
    assert df["GEOID"].tolist() == [
        "510010901011",
        "510010901012",
        "510010901021",
        "510010901022",
        "510030101001",
    ]
    assert df.attrs["level"] == "blockgroup"
    assert df["NAME"].iloc[0] == "BG 1"
    assert df["B28002_013_flag"].tolist() == [
        "",
        "insufficient_sample",
        "controlled_moe_zero",
        "not_applicable",
        "insufficient_sample",
    ]
    assert df["B28002_013M"].iloc[2] == 0.0
    assert np.isnan(df["B28002_013E"].iloc[[1, 3, 4]]).all()
    assert df["B19013_001_flag"].tolist() == [
        "",
        "insufficient_sample",
        "median_top_coded",
        "median_bottom_coded",
        "moe_not_computable",
    ]
    assert df["B19013_001E"].iloc[2] == 250001.0


def test_api_json_county_level_and_integers(tmp_path: Path) -> None:
    rows = [["NAME", "B01003_001E", "B01003_001M", "state", "county"], ["A", 100, 5, "1", "1"]]
    path = tmp_path / "c.json"
    path.write_text(json.dumps(rows))
    df = read_acs(path)
    assert df["GEOID"].tolist() == ["01001"]
    assert df.attrs["level"] == "county"
    assert df["B01003_001E"].iloc[0] == 100.0


def test_data_census_gov_export(tmp_path: Path) -> None:
    text = (
        '"GEO_ID","NAME","B19013_001E","B19013_001M","B28002_013E","B28002_013M",\n'
        '"Geography","Geographic Area Name","Estimate!!Median household income",'
        '"Margin of Error!!Median household income","Estimate!!Total:!!No Internet access",'
        '"Margin of Error!!Total:!!No Internet access",\n'
        '"1500000US510010901011","Block Group 1","60026","8699","82","74",\n'
        '"1500000US510010901012","Block Group 2","250,000+","***","-","**",\n'
        '"1500000US510010901021","Block Group 1","-","**","0","*****",\n'
    )
    path = tmp_path / "ACSDT5Y2021.B19013-Data.csv"
    path.write_text(text)
    df = read_acs(path)
    assert len(df) == 3
    assert df["GEOID"].tolist() == ["510010901011", "510010901012", "510010901021"]
    assert df.attrs["level"] == "blockgroup"
    assert df["B19013_001E"].iloc[1] == 250000.0
    assert df["B19013_001_flag"].tolist() == ["", "median_top_coded", "insufficient_sample"]
    assert df["B28002_013_flag"].tolist() == ["", "insufficient_sample", "controlled_moe_zero"]
    assert df["B28002_013M"].iloc[2] == 0.0
    assert df.attrs["vintage"] == "2021"


def test_float_and_integer_geoids_repaired(tmp_path: Path) -> None:
    path = tmp_path / "acs_tract.csv"
    path.write_text("GEOID,B01003_001E,B01003_001M\n1001020100.0,10,2\n51001090100,20,3\n")
    df = read_acs(path, level="tract")
    assert df["GEOID"].tolist() == ["01001020100", "51001090100"]


def test_no_geoid_or_variables_is_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("id,value\n1,2\n")
    with pytest.raises(SchemaError, match="no GEOID"):
        read_acs(path)
    path.write_text("GEOID,value\n51001,2\n")
    with pytest.raises(SchemaError, match="no ACS estimate columns"):
        read_acs(path)


def test_non_numeric_estimate_names_column_and_value(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,12a,3\n")
    with pytest.raises(SchemaError, match=r"B01003_001E.*'12a'"):
        read_acs(path)


def test_duplicate_geoids(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,1,3\n51001,1,3\n")
    with pytest.warns(UserWarning, match="1 exact duplicate"):
        df = read_acs(path)
    assert len(df) == 1
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,1,3\n51001,2,3\n")
    with pytest.raises(SchemaError, match="51001"):
        read_acs(path)


def test_truncated_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('[["NAME","B01003_001E","state"],["A","1","51"')
    with pytest.raises(DataError, match="not valid JSON"):
        read_acs(path)


def test_api_csv_and_validate(tmp_path: Path) -> None:
    from equity.sources import validate

    path = tmp_path / "acs_api_tract.csv"
    path.write_text(
        "NAME,B28002_013E,B28002_013M,state,county,tract\n"
        '"Census Tract 901, Accomack County, Virginia",120,40,51,001,090100\n'
        '"Census Tract 201, Autauga County, Alabama",80,30,1,1,20100\n'
    )
    df = read_acs(path)
    assert df["GEOID"].tolist() == ["51001090100", "01001020100"]
    assert df.attrs["level"] == "tract"
    assert validate(path) == []
    export = tmp_path / "ACSDT5Y2021.B28002-Data.csv"
    export.write_text(
        '"GEO_ID","NAME","B28002_013E","B28002_013M",\n'
        '"Geography","Geographic Area Name","Estimate!!Total:!!No Internet access","Margin of Error!!Total:!!No Internet access",\n'
        '"0500000US51001","Accomack County, Virginia","2,530","±310",\n'
    )
    assert validate(export) == []
    df = read_acs(export)
    assert df["GEOID"].tolist() == ["51001"] and df.attrs["level"] == "county"
    assert (df["B28002_013E"].iloc[0], df["B28002_013M"].iloc[0]) == (2530.0, 310.0)


# --------------------------------------------------------------------------- fast reader
# read_acs parses plain CSVs with Arrow, numbers as numbers and the sentinels of the whole
# numeric block at once; the text reader it replaced (every column as text, one variable at a
# time) stays as the fallback for irregular files. These tests hold them to the same output.


def _text_path(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> pd.DataFrame:
    """read_acs through the all-text reader (Arrow's typed reader switched off)."""
    from equity.sources import acs

    with monkeypatch.context() as m:
        m.setattr(acs, "read_csv_typed", lambda *a, **k: None)
        return read_acs(path, **kw)


def _assert_same(path: Path, monkeypatch: pytest.MonkeyPatch, **kw: object) -> pd.DataFrame:
    fast = read_acs(path, **kw)
    slow = _text_path(path, monkeypatch, **kw)
    pd.testing.assert_frame_equal(fast, slow, check_exact=True)
    assert fast.attrs == slow.attrs
    return fast


def _same_parse_inf_refused(path: Path, monkeypatch: pytest.MonkeyPatch) -> pd.DataFrame:
    """Both readers refuse the infinite MOE (#19: counts are finite), and parse alike."""
    from equity.sources import acs

    for read in (read_acs, lambda p: _text_path(p, monkeypatch)):
        with pytest.raises(
            SchemaError, match=r"'B19013_001M': 1 value\(s\) not finite, e\.g\. inf"
        ):
            read(path)
    monkeypatch.setattr(acs, "check_counts", lambda *a, **k: None)  # the parse itself
    return _assert_same(path, monkeypatch)


def _raw_dtypes(path: Path) -> pd.Series:
    from equity.sources import acs

    return acs._read_raw(path).dtypes.map(
        lambda d: "float64" if pd.api.types.is_float_dtype(d) else str(d)
    )


def test_fast_reader_equals_text_reader_on_real_virginia(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = shared_data / ACS_BG
    assert (_raw_dtypes(path).drop(["GEOID", "B19013_001MA"]) == "float64").all()
    df = _assert_same(path, monkeypatch)
    assert (df["B19013_001_flag"] != "").sum() == 314 + 93 + 2
    _assert_same(path, monkeypatch, variables=["B19013_001", "B28002_013E"], level="blockgroup")


def test_fast_reader_equals_text_reader_on_sample(
    sample_paths: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    _assert_same(sample_paths["acs"], monkeypatch)


def test_fast_reader_equals_text_reader_on_tidycensus_files(
    shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("uva_equitycenter_acs_tract_cville.csv", "uva_equitycenter_acs_eastern_tract.csv"):
        _assert_same(shared_data / "acs" / name, monkeypatch)


SENTINEL_ROWS = [
    # GEOID, B19013 median E/M, B25071 (no known codes) E/M, B28002_013 E/M, C16002_001E (no M)
    ("510010901011", "60026", "8699", "30.5", "2.1", "82", "74", "10"),
    ("510010901012", "-666666666", "-222222222", "-666666666", "-222222222", "-666666666", "-222222222", "-999999999"),
    ("510010901021", "250001", "-333333333", "50.1", "-333333333", "0", "-555555555", ""),
    ("510010901022", "2499", "-333333333", "10.0", "-333333333", "-888888888", "-888888888", "-888888888"),
    ("510030101001", "45000", "-999999999", "-999999999", "-999999999", "-999999999", "-999999999", "-222222222"),
    ("510030101002", "", "", "", "", "", "", "-333333333"),
    ("510030101003", "-555555555", "-555555555", "20.0", "-555555555", "12", "", "-555555555"),
    ("510030101004", "nan", "inf", "+4", " 5", "1e3", "0.5", "7"),
    ("510030101005", "52000", "1200", "31.0", "-333333333", "3", "4", "-666666666"),
]  # fmt: skip


def test_fast_reader_equals_text_reader_with_every_sentinel_and_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    header = (
        "GEOID,B19013_001E,B19013_001M,B25071_001E,B25071_001M,B28002_013E,B28002_013M,C16002_001E"
    )
    path = tmp_path / "acs2021_5yr_sentinels_blockgroup.csv"
    path.write_text(header + "\n" + "\n".join(",".join(r) for r in SENTINEL_ROWS) + "\n")
    assert (_raw_dtypes(path).drop("GEOID") == "float64").all()  # the numeric block path
    df = _same_parse_inf_refused(path, monkeypatch)
    assert df["B19013_001_flag"].tolist() == [
        "", "insufficient_sample", "median_top_coded", "median_bottom_coded",
        "moe_not_computable", "missing", "not_applicable", "missing", "",
    ]  # fmt: skip
    # an unknown table's open-ended values split at the median of its estimates
    assert df["B25071_001_flag"].tolist() == [
        "", "insufficient_sample", "median_top_coded", "median_bottom_coded",
        "insufficient_sample", "missing", "controlled_moe_zero", "", "median_top_coded",
    ]  # fmt: skip
    assert df["B28002_013_flag"].tolist() == [
        "", "insufficient_sample", "controlled_moe_zero", "not_applicable",
        "insufficient_sample", "missing", "", "", "",
    ]  # fmt: skip
    assert df["C16002_001_flag"].tolist() == [
        "", "insufficient_sample", "missing", "not_applicable", "not_applicable",
        "not_applicable", "not_applicable", "", "insufficient_sample",
    ]  # fmt: skip
    assert df["B28002_013M"].iloc[2] == 0.0 and df["C16002_001M"].isna().all()
    assert np.isinf(df["B19013_001M"].iloc[7]) and df["B25071_001M"].iloc[7] == 5.0


def test_fast_reader_keeps_text_columns_for_the_careful_parser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A column with annotations stays text (parsed one by one); the others are numbers."""
    rows = [",".join(r[:5]) for r in SENTINEL_ROWS]
    rows[0] = rows[0].replace("60026", '"60,026"')
    rows[3] = rows[3].replace("10.0", "(X)")
    path = tmp_path / "acs_mixed.csv"
    path.write_text("GEOID,B19013_001E,B19013_001M,B25071_001E,B25071_001M\n" + "\n".join(rows))
    dtypes = _raw_dtypes(path)
    assert dtypes["B19013_001M"] == "float64" and dtypes["B19013_001E"] == "str"
    df = _same_parse_inf_refused(path, monkeypatch)
    assert df["B19013_001E"].iloc[0] == 60026.0
    assert df["B25071_001_flag"].iloc[3] == "not_applicable"


@pytest.mark.parametrize(
    ("text", "declined"),
    [
        ("GEOID,B01003_001E,B01003_001M\n51001,1,2\n51003,3\n", True),  # ragged row
        ("GEOID,B01003_001E,B01003_001E\n51001,1,2\n", True),  # repeated name
        ("GEOID,B01003_001E,B01003_001M,\n51001,1,2,\n", True),  # blank name
        ("\nGEOID,B01003_001E,B01003_001M\n51001,1,2\n", True),  # blank first line
        ("GEOID;B01003_001E;B01003_001M\n51001;1;2\n51003;;4\n", False),
        ('GEOID,NAME,B01003_001E,B01003_001M\n51001,"A, B",1,2\n51003,,3,4\n', False),
    ],
)
def test_fast_reader_falls_back_on_irregular_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, declined: bool
) -> None:
    from equity.sources._common import read_csv_typed

    path = tmp_path / "acs_county.csv"
    path.write_text(text)
    got = read_csv_typed(path, numeric=lambda names: {n for n in names if n[-1] in "EM"})
    assert (got is None) == declined
    try:
        fast = read_acs(path)
    except Exception as exc:  # the same error either way
        with pytest.raises(type(exc), match=re.escape(str(exc).split(":")[-1].strip())):
            _text_path(path, monkeypatch)
        return
    pd.testing.assert_frame_equal(fast, _text_path(path, monkeypatch), check_exact=True)


def test_fast_reader_unknown_sentinel_names_column_and_value(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("GEOID,B01003_001E,B01003_001M\n51001,12,3\n51003,14,-777777777\n")
    with pytest.raises(SchemaError, match=r"B01003_001M.*'-777777777'"):
        read_acs(path)


def test_fast_reader_on_a_synthetic_national_slice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The benchmark's file layout (119 columns, equity.synthetic) read both ways."""
    from equity import synthetic

    bg = synthetic.national_tables(n_counties=40, seed=7, geometry=False)["blockgroup"]
    path = tmp_path / "acs2021_5yr_synthetic_blockgroup.csv"
    synthetic.acs_table(bg).to_csv(path, index=False)
    df = _assert_same(path, monkeypatch)
    assert len(df) == len(bg) and df["GEOID"].tolist() == bg["GEOID"].tolist()
