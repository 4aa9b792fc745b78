"""Tests of equity.sources.partners: a planner's own list with the headers people write."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from equity.config import load_config
from equity.errors import ConfigError, DataError, SchemaError
from equity.sources import read_partner_list
from equity.sources.partners import FIELDS, normalise_kind
from equity.sources.validate import validate

MISSPELLED = (
    "Orginization,Type,Adress,Town,ST,Zip code,Lattitude,Longtitude,Notes\n"
    "Washington County Public Library,Public Library,205 Oak Hill St NE,Abingdon,VA,24210,36.7106,-81.9754,main branch\n"
    "Southwest Virginia Community College,Community College,724 Community College Rd,Cedar Bluff,VA,24609,,,\n"
    "People Incorporated of Virginia,Non-profit,1173 W Main St,Abingdon,Virginia,24210,,,\n"
    "Vermont Tech,college,124 Admin Dr,Randolph Center,vt.,5061,,,lost its zero\n"
    "Nowhere Group,,,,,,,,no location at all\n"
)


def test_misspelled_headers_by_explicit_aliases(tmp_path: Path) -> None:
    path = tmp_path / "partners.csv"
    path.write_text(MISSPELLED)
    df = read_partner_list(path)
    assert df.attrs["column_map"] == [
        ["name", "Orginization", "alias"],
        ["kind", "Type", "alias"],
        ["address", "Adress", "alias"],
        ["city", "Town", "alias"],
        ["state", "ST", "alias"],
        ["zip", "Zip code", "alias"],
        ["latitude", "Lattitude", "alias"],
        ["longitude", "Longtitude", "alias"],
    ]
    assert df["kind"].tolist() == ["library", "college", "nonprofit", "college", "other"]
    assert df["state"].tolist()[:4] == ["VA", "VA", "VA", "VT"]  # "Virginia" and "vt." too
    assert df["zip"].tolist()[3] == "05061"  # a ZIP that lost its leading zero
    assert df["partner_id"].tolist() == ["row 2", "row 3", "row 4", "row 5", "row 6"]
    assert np.isfinite(df["latitude"]).tolist() == [True, False, False, False, False]
    assert df.attrs["n_without_location"] == 1
    assert df.attrs["source"] == "partner_list"


def test_each_alias_spelling_is_one_field_only() -> None:
    from equity.sources._schema import norm_name

    seen: dict[str, str] = {}
    for field, spellings in FIELDS.items():
        for s in spellings:
            assert seen.setdefault(norm_name(s), field) == field, s
    assert FIELDS["name"][0] == "name" and all(v[0] == k for k, v in FIELDS.items())


def test_config_columns_and_reported_fuzzy_guess(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        "Partner (legal name),Organisation Nmae,Y coord,X coord,Zipp code\n"
        "Abingdon Library Foundation,Abingdon Library,36.71,-81.97,24210\n"
    )
    columns = {"name": "Partner (legal name)", "latitude": "Y coord", "longitude": "X coord"}
    with caplog.at_level(logging.WARNING, logger="equity.sources"):
        df = read_partner_list(path, columns=columns)
    assert df["name"].tolist() == ["Abingdon Library Foundation"]
    assert df[["latitude", "longitude"]].to_numpy().tolist() == [[36.71, -81.97]]
    how = {f: (h, w) for f, h, w in df.attrs["column_map"]}
    assert how["name"] == ("Partner (legal name)", "config")
    assert how["zip"] == ("Zipp code", "fuzzy")  # a close spelling: used, and said so
    assert "'Zipp code' read as the partner zip" in caplog.text
    # without the configuration the misspelt name column is the fuzzy guess, reported too
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="equity.sources"):
        guessed = read_partner_list(path, columns={"latitude": "Y coord", "longitude": "X coord"})
    assert guessed["name"].tolist() == ["Abingdon Library"]
    assert "'Organisation Nmae' read as the partner name" in caplog.text
    with pytest.raises(ConfigError, match="unknown field.*'title'"):
        read_partner_list(path, columns={"title": "Partner (legal name)"})
    with pytest.raises(SchemaError, match="'Legal name': no such column.*found: Partner"):
        read_partner_list(path, columns={"name": "Legal name"})


def test_short_headers_are_never_guessed(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("Nm,Lt,Ln\nA,36.7,-81.9\n")
    with pytest.raises(SchemaError, match="no name column.*found: Nm, Lt, Ln"):
        read_partner_list(path)
    path.write_text("Name,Lt,Ln\nA,36.7,-81.9\n")
    with pytest.raises(SchemaError, match="no column locates the organisations"):
        read_partner_list(path)


def test_whole_addresses_are_split(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(
        'Name,Address\nA,"205 Oak Hill St NE, Abingdon, VA 24210"\n'
        'B,"1173 W Main St, Abingdon, Va."\nC,"somewhere near the river"\n'
    )
    df = read_partner_list(path)
    assert df["address"].tolist() == [
        "205 Oak Hill St NE",
        "1173 W Main St",
        "somewhere near the river",
    ]
    assert df["city"].tolist()[:2] == ["Abingdon", "Abingdon"]
    assert df["state"].tolist()[:2] == ["VA", "VA"] and df["zip"].tolist()[0] == "24210"
    assert df.attrs["n_split_addresses"] == 2


def test_xlsx_with_title_rows(tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["Our partners, spring 2027"])
    ws.append([])
    ws.append(["Org name", "Category", "Street", "City", "State", "Postal code", "Lat", "Long"])
    ws.append(
        [
            "Abingdon Library",
            "library",
            "205 Oak Hill St NE",
            "Abingdon",
            "VA",
            24210,
            36.7106,
            -81.9754,
        ]
    )
    ws.append(["Food Bank", "Nonprofit", "1 Main St", "Abingdon", "VA", "02134", None, None])
    path = tmp_path / "partners.xlsx"
    wb.save(path)
    df = read_partner_list(path)
    assert df["name"].tolist() == ["Abingdon Library", "Food Bank"]
    assert df["zip"].tolist() == ["24210", "02134"]
    assert df["latitude"].tolist()[0] == pytest.approx(36.7106)
    assert [m[1] for m in df.attrs["column_map"]] == [
        "Org name",
        "Category",
        "Street",
        "City",
        "State",
        "Postal code",
        "Lat",
        "Long",
    ]
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(DataError, match="Excel workbook"):
        read_partner_list(broken)


def test_bad_coordinates_name_the_column_and_value(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("Name,Lat,Lon\nA,36.7N,-81.9\n")
    with pytest.raises(SchemaError, match="'Lat'.*'36.7N'"):
        read_partner_list(path)
    path.write_text("Name,Lat,Lon\nA,36.7,-81.9\nB,36.7,-181.0\n")
    with pytest.raises(SchemaError, match="'Lon'.*outside -180..180"):
        read_partner_list(path)
    path.write_text("Name,Lat,Lon\nA,0,0\n")
    assert np.isnan(read_partner_list(path)["latitude"]).all()  # 0, 0 is no location


def test_validate_a_list(tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text(MISSPELLED)
    assert validate(path, kind="partners") == []
    path.write_text("Name,Lat,Lon\nA,95,-81.9\n")
    problems = validate(path, kind="partners")
    assert problems and "Lat" in problems[0]


def test_kinds() -> None:
    import pandas as pd

    got = normalise_kind(pd.Series(["Library Branch", "YMCA", "K-12", "NGO", None, "Church"]))
    assert got.tolist() == ["library", "community_center", "school", "nonprofit", "other", "church"]


def test_partners_config_section(tmp_path: Path) -> None:
    centroids = tmp_path / "zcta.csv"
    centroids.write_text("geoid,latitude,longitude\n24210,36.71,-81.97\n")
    toml = tmp_path / "run.toml"
    toml.write_text(
        "[partners]\n"
        'decay = "gaussian"\nlisted_bonus = 2.0\ngeocode = "all"\nzip_centroids = "zcta.csv"\n'
        'subsections = ["03", "04"]\n'
        "[partners.weights]\nlibrary = 5.0\nworkforce_center = 2.0\n"
        '[partners.columns]\nname = "Partner (legal name)"\n'
        '[partners.ntee]\nP20 = "nonprofit"\nB94 = true\n'
    )
    cfg = load_config(toml)
    assert cfg.zip_centroids == str(centroids.resolve())
    assert cfg.nonprofit_subsections == ("03", "04")
    opts = cfg.placement_options()
    assert opts.decay == "gaussian" and opts.listed_bonus == 2.0
    assert opts.anchor_weight("library") == 5.0 and opts.anchor_weight("workforce_center") == 2.0
    assert load_config().placement_options().anchor_weight("library") == 3.0  # the default
    toml.write_text(
        '[partners]\ndecay = "cubic"\ngeocode = "everyone"\nzip_centroids = "missing.csv"\n'
        '[partners.columns]\ntitle = "X"\n[partners.ntee]\nB7X = "library"\n'
        "[partners.weights]\nlibrary = -1\n"
    )
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    text = str(info.value)
    for expected in (
        "unknown distance decay 'cubic'",
        "unknown geocode 'everyone'",
        "file not found",
        "unknown field 'title'",
        "'B7X'",
        "partners.weights.library = -1",
    ):
        assert expected in text
