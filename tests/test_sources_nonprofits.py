"""Tests of equity.sources.nonprofits on the real IRS EO BMF extracts of five states.

The expected values are computed here from the raw files with the csv module (no pandas), and
the NTEE selection is re-implemented naively, row by row, as a reference.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from equity.errors import ConfigError, SchemaError
from equity.sources import read_nonprofits, validate
from equity.sources.nonprofits import NTEE_SELECTION, classify_ntee, ntee_rules, split_zip

STATES = ("ak", "de", "hi", "vt", "wv")
#: Rows per file, as SOURCES.md lists them.
ROWS = {"ak": 5802, "de": 10231, "hi": 9632, "vt": 6535, "wv": 11650}


def _raw(shared_data: Path, state: str) -> list[dict[str, str]]:
    with open(shared_data / f"business/irs_eo/eo_{state}.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _reference_kind(code: str) -> str | None:
    """The selection, naively: the longest rule prefix of the code (a typed O read as 0)."""
    code = code.strip().upper()
    code = code[:1] + code[1:].replace("O", "0")
    rules = {r.prefix: r.kind for r in NTEE_SELECTION}
    for n in (3, 2, 1):
        if code[:n] in rules:
            return rules[code[:n]]
    return None


@pytest.fixture(scope="module", params=STATES)
def state(request: pytest.FixtureRequest, shared_data: Path) -> tuple[str, list, pd.DataFrame]:
    code = request.param
    return (
        code,
        _raw(shared_data, code),
        read_nonprofits(shared_data / f"business/irs_eo/eo_{code}.csv", select=False),
    )


def test_every_row_read_with_eins_as_text(state: tuple[str, list, pd.DataFrame]) -> None:
    code, raw, df = state
    assert len(df) == len(raw) == ROWS[code] == df.attrs["n_rows"]
    assert df["ein"].tolist() == [r["EIN"] for r in raw]  # leading zeros kept, order kept
    assert df["ein"].str.fullmatch(r"\d{9}").all()
    assert (df["ein"].str[0] == "0").sum() == sum(r["EIN"].startswith("0") for r in raw) > 0
    assert df["subsection"].tolist() == [r["SUBSECTION"] for r in raw]  # "03" stays "03"
    assert df["income_class"].tolist() == [int(r["INCOME_CD"]) for r in raw]
    assert df["state_abbr"].eq(code.upper()).all()


def test_zip_plus_four_split(state: tuple[str, list, pd.DataFrame]) -> None:
    _, raw, df = state
    assert df["zip"].str.fullmatch(r"\d{5}").all() and df["zip4"].str.fullmatch(r"\d{4}").all()
    assert (df["zip"] + "-" + df["zip4"]).tolist() == [r["ZIP"] for r in raw]
    assert df.attrs["n_bad_zip"] == 0


def test_ntee_blanks_and_the_selection(state: tuple[str, list, pd.DataFrame]) -> None:
    _, raw, df = state
    blank = [not r["NTEE_CD"].strip() for r in raw]
    assert df["ntee_code"].isna().tolist() == blank
    assert df.attrs["n_blank_ntee"] == sum(blank)
    assert df.loc[df["ntee_code"].isna(), "kind"].isna().all()
    expected = [
        None if b else _reference_kind(r["NTEE_CD"]) for b, r in zip(blank, raw, strict=True)
    ]
    assert df["kind"].astype(object).where(df["kind"].notna(), None).tolist() == expected
    # the rows the selection keeps, and every row accounted for once
    keep = [
        k is not None and r["SUBSECTION"] == "03" and r["FOUNDATION"] != "04"
        for k, r in zip(expected, raw, strict=True)
    ]
    a = df.attrs
    assert a["n_selected"] == sum(keep)
    assert (
        a["n_selected"]
        + a["n_blank_ntee"]
        + a["n_other_subsection"]
        + a["n_private_foundation"]
        + a["n_not_selected_ntee"]
        == a["n_rows"]
    )


@pytest.mark.slow
def test_selected_partners(shared_data: Path) -> None:
    counts = {}
    for code in STATES:
        sel = read_nonprofits(shared_data / f"business/irs_eo/eo_{code}.csv")
        counts[code] = len(sel)
        assert sel["subsection"].eq("03").all() and sel["foundation"].ne("04").all()
        assert sel["ntee_code"].notna().all() and sel["kind"].notna().all()
        assert not sel["ntee_code"].str.match(r"B8[234]|B94|J40|S4[67]").any()
        assert set(sel["kind"]) <= {"nonprofit", "library", "college", "community_center"}
        assert sel.loc[sel["ntee_code"].str.startswith("B7"), "kind"].eq("library").all()
        assert sel["mission"].notna().all()
        assert sel.attrs["source"] == "irs_eo_bmf" and sel.attrs["n_selected"] == len(sel)
    # selected per state (a fifth to a tenth of each file)
    assert counts == {"ak": 624, "de": 1227, "hi": 1203, "vt": 796, "wv": 1647}


def test_changed_selection(shared_data: Path) -> None:
    path = shared_data / "business/irs_eo/eo_wv.csv"
    base = read_nonprofits(path)
    more = read_nonprofits(path, ntee={"B94": True, "S": False})
    pta = more["ntee_code"].str.startswith("B94")
    assert pta.any() and more.loc[pta, "kind"].eq("nonprofit").all()
    assert not more["ntee_code"].str.startswith("S").any()
    assert len(more) == len(base) + int(pta.sum()) - int(
        base["ntee_code"].str.startswith("S").sum()
    )
    everyone = read_nonprofits(path, subsections=(), private_foundations=True)
    assert len(everyone) > len(base) and set(everyone["subsection"]) > {"03"}


@pytest.mark.slow
def test_real_files_validate(shared_data: Path) -> None:
    for code in STATES:
        assert validate(shared_data / f"business/irs_eo/eo_{code}.csv") == []


def test_codes_typos_and_zip_forms() -> None:
    out = classify_ntee(pd.Series(["J4O", "b70 ", "O5O", "P28Z", "U41", "X20", ""]))
    assert out["ntee_code"].tolist()[:3] == ["J40", "B70", "O50"]
    assert out["kind"].tolist() == [
        pd.NA,
        "library",
        "nonprofit",
        "community_center",
        "nonprofit",
        pd.NA,
        pd.NA,
    ]
    assert out["mission"].tolist()[3:6] == [
        "neighbourhood centre",
        "computer science and technology",
        "religion-related",
    ]
    z, plus4 = split_zip(pd.Series(["05001-1234", "5001", "050011234", "ABCDE", None]))
    assert z.tolist() == ["05001", "05001", "05001", pd.NA, pd.NA]
    assert plus4.tolist() == ["1234", pd.NA, "1234", pd.NA, pd.NA]
    with pytest.raises(ConfigError, match="'B7X'"):
        ntee_rules({"B7X": "library"})
    with pytest.raises(ConfigError, match="must be a kind or false"):
        ntee_rules({"B70": 3})


def test_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "eo_xx.csv"
    path.write_text("EIN,NAME,STREET,CITY,STATE,ZIP\n010549451,A,1 ST,X,VT,05001\n")
    with pytest.raises(SchemaError, match="NTEE_CD"):
        read_nonprofits(path)
    path.write_text("EIN,NAME,STREET,CITY,STATE,ZIP,NTEE_CD\n01-0549451,A,1 ST,X,VT,05001,B70\n")
    with pytest.raises(SchemaError, match="'EIN'.*'01-0549451'"):
        read_nonprofits(path)
    path.write_text(
        "EIN,NAME,STREET,CITY,STATE,ZIP,NTEE_CD\n"
        "010549451,A,1 ST,X,VT,05001,B70\n010549451,B,2 ST,X,VT,05001,B70\n"
    )
    with pytest.raises(SchemaError, match="repeats"):
        read_nonprofits(path)
