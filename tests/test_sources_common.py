"""Bad inputs every reader meets the same way (equity.sources._common), and provenance."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from equity import sources
from equity.errors import DataError, SchemaError
from equity.sources._common import clean_geoid, level_from_geoids, read_csv_text, to_number
from equity.sources.fcc import BDC_COLUMNS

HEADERS: dict[str, tuple[Callable[..., pd.DataFrame], str, str]] = {
    # reader, header, one good data row
    "acs": (sources.read_acs, "GEOID,B28002_013E,B28002_013M", "510010901011,82,74"),
    "usage": (
        sources.read_broadband_usage,
        "ST,COUNTY ID,COUNTY NAME,BROADBAND AVAILABILITY PER FCC,BROADBAND USAGE",
        "VA,51001,Accomack County,0.7,0.2",
    ),
    "business": (
        sources.read_business_patterns,
        "fipstate,fipscty,naics,emp,qp1,ap,est",
        "51,001,------,10,2,8,3",
    ),
    "svi": (sources.read_svi, "FIPS,E_TOTPOP,RPL_THEMES", "51001,100,0.5"),
    "libraries": (
        sources.read_libraries,
        "STABR,FSCSKEY,FSCS_SEQ,LIBNAME,LONGITUD,LATITUDE,INCITSST,INCITSCO",
        "VA,VA0001,002,LIB,-78.5,38.0,51,003",
    ),
    "anchors": (
        sources.read_anchors,
        "anchor_id,name,kind,address,city,state_abbr,county_fips,latitude,longitude",
        "a1,Hub,nonprofit,1 St,Town,VA,51003,38.0,-78.5",
    ),
    "ookla": (
        sources.read_ookla,
        "quadkey,avg_d_kbps,avg_u_kbps,avg_lat_ms,tests,devices",
        "0222111113233011,126482,19756,13,9,1",
    ),
    "fcc": (
        sources.read_fcc_bdc,
        ",".join(BDC_COLUMNS),
        "1,130001,b,1001,50,1000,1000,1,R,VA,510010901001000,882a100d2bfffff",
    ),
}


@pytest.mark.parametrize("kind", list(HEADERS))
def test_empty_file(tmp_path: Path, kind: str) -> None:
    reader, _, _ = HEADERS[kind]
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.csv: file is empty"):
        reader(path)


@pytest.mark.parametrize("kind", list(HEADERS))
def test_header_only(tmp_path: Path, kind: str) -> None:
    reader, header, _ = HEADERS[kind]
    path = tmp_path / "header.csv"
    path.write_text(header + "\n")
    with pytest.raises(DataError, match="header only"):
        reader(path)


@pytest.mark.parametrize("kind", list(HEADERS))
def test_truncated_last_line(tmp_path: Path, kind: str) -> None:
    reader, header, row = HEADERS[kind]
    path = tmp_path / "cut.csv"
    cut = row[: row.index(",", len(row) // 2)]
    path.write_text(f"{header}\n{row}\n{cut}")
    with pytest.raises(DataError, match=r"cut\.csv: file looks truncated"):
        reader(path)


@pytest.mark.parametrize("kind", list(HEADERS))
def test_good_row_reads_with_provenance(tmp_path: Path, kind: str) -> None:
    reader, header, row = HEADERS[kind]
    path = tmp_path / "good.csv"
    path.write_text(f"{header}\n{row}\n")
    df = reader(path)
    assert len(df) == 1
    for key in ("source", "title", "publisher", "vintage", "licence", "attribution", "path"):
        assert key in df.attrs, key
    assert df.attrs["path"] == str(path)


@pytest.mark.parametrize("kind", ["acs", "usage", "business", "svi"])
@pytest.mark.parametrize("sep", [";", "|", "\t"])
def test_other_delimiters_are_sniffed(tmp_path: Path, kind: str, sep: str) -> None:
    reader, header, row = HEADERS[kind]
    path = tmp_path / "semi.csv"
    path.write_text(f"{header.replace(',', sep)}\n{row.replace(',', sep)}\n")
    assert len(reader(path)) == 1


def test_wrong_delimiter_in_data_rows(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text("GEOID,B28002_013E,B28002_013M\n510010901011;82;74\n")
    with pytest.raises(SchemaError, match=r"GEOID.*'510010901011;82;74'"):
        sources.read_acs(path)


def test_encodings(tmp_path: Path) -> None:
    text = "FIPS,LOCATION,E_TOTPOP\n35013,Doña Ana County,100\n"
    for enc in ("utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"):
        path = tmp_path / f"svi_{enc}.csv"
        path.write_bytes(text.encode(enc))
        df = sources.read_svi(path)
        assert df["LOCATION"].iloc[0] == "Doña Ana County", enc
        assert df["GEOID"].iloc[0] == "35013"
    path = tmp_path / "binary.csv"
    path.write_bytes(b"\x00\x01\x02" * 100)
    with pytest.raises(DataError, match="not a text file"):
        sources.read_svi(path)


def test_zip_holding_a_text_file(tmp_path: Path) -> None:
    path = tmp_path / "cbp21co.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("cbp21co.txt", "fipstate,fipscty,naics,emp,qp1,ap,est\n51,1,------,10,2,8,3\n")
    df = sources.read_business_patterns(path)
    assert df["GEOID"].tolist() == ["51001"] and df.attrs["vintage"] == "2021"


def test_clean_geoid_repairs_and_errors() -> None:
    s = pd.Series(["51001.0", " 1001 ", "1001", "06037.00"])
    assert clean_geoid(s, width=5, path="f.csv", column="FIPS").tolist() == [
        "51001",
        "01001",
        "01001",
        "06037",
    ]
    with pytest.raises(
        SchemaError,
        match=r"f\.csv: column 'FIPS' has 1 id\(s\) that are not digit codes, e\.g\. '5100A'",
    ):
        clean_geoid(pd.Series(["5100A"]), width=5, path="f.csv", column="FIPS")
    with pytest.raises(SchemaError, match="longer than 5 digits, e.g. '510011'"):
        clean_geoid(pd.Series(["510011"]), width=5, path="f.csv", column="FIPS")
    with pytest.raises(SchemaError, match="1 empty id"):
        clean_geoid(pd.Series(["51001", None]), width=5, path="f.csv", column="FIPS")
    assert clean_geoid(
        pd.Series(["51001", None]), width=5, path="f", column="x", allow_missing=True
    ).isna().tolist() == [
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("codes", "level"),
    [
        (["51", "1"], "state"),
        (["51001", "1001"], "county"),
        (["1001"], "county"),
        (["51001090100"], "tract"),
        (["1001020100"], "cousub"),  # ambiguous: pass level= for integer tracts
        (["510010901011", "10010201001"], "blockgroup"),
        (["5101234"], "place"),
    ],
)
def test_level_from_geoids(codes: list[str], level: str) -> None:
    assert level_from_geoids(pd.Series(codes), path="f") == level


def test_to_number() -> None:
    s = pd.Series(["1,234", " -   ", "", "N/A", "5%", "7"])
    out = to_number(s, path="f", column="c", percent=True)
    assert (
        out.iloc[0] == 1234
        and out.iloc[1:4].isna().all()
        and out.iloc[4] == 0.05
        and out.iloc[5] == 7
    )
    with pytest.raises(SchemaError, match="column 'c' has 1 non-numeric value"):
        to_number(pd.Series(["1", "two"]), path="f", column="c")


@pytest.mark.parametrize("dtype", ["str", "object"])
def test_to_number_fast_paths_agree_with_the_careful_one(dtype: str) -> None:
    plain = pd.Series(["1781", "0.1", None, "-666666666", "2.5e3", "007"], dtype=dtype)
    out = to_number(plain, path="f", column="c")
    expected = [1781.0, 0.1, float("nan"), -666666666.0, 2500.0, 7.0]
    pd.testing.assert_series_equal(out, pd.Series(expected, dtype="float64"))
    # text the fast paths refuse takes the careful path: separators, padding, words
    mixed = pd.Series(["1,234", " 12 ", "-", None], dtype=dtype)
    assert to_number(mixed, path="f", column="c").tolist()[:2] == [1234.0, 12.0]
    assert to_number(
        pd.Series(["1", "NaN"], dtype=dtype), path="f", column="c"
    ).isna().tolist() == [
        False,
        True,
    ]  # "NaN" is a missing-value word, as in the careful path
    with pytest.raises(SchemaError, match="'c' has 1 non-numeric value.*'x1'"):
        to_number(pd.Series(["1", "x1"], dtype=dtype), path="f", column="c")


def test_header_with_description_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("Notes: blah, blah\nMore notes\n\nGEOID,VALUE\n51001,2\n")
    df = read_csv_text(path, header_tokens=("GEOID", "VALUE"))
    assert list(df.columns) == ["GEOID", "VALUE"] and len(df) == 1
