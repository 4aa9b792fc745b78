"""Tests of equity.export: candidate files read back equal, determinism, atomicity, METHODS.md."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from openpyxl import load_workbook
from shapely.geometry import Point, box

from equity import export
from equity.errors import ChoiceError, ConfigError, DataError, SchemaError
from equity.export import (
    COLUMNS,
    read_candidates,
    write_candidates,
    write_level_tables,
    write_methods,
)
from equity.placement import rank_candidates


def make_places() -> gpd.GeoDataFrame:
    rng = np.random.default_rng(5)
    rows = []
    for st, name, x0 in (("51", "Virginia", -80.0), ("90", "Northvale", -85.0)):
        for i in range(6):
            idx = float(rng.uniform(5, 95))
            rows.append(
                {
                    "GEOID": f"{st}0{i:02d}",  # leading zeros after the state code
                    "NAME": f"Town {i}, {name}",
                    "state_GEOID": st,
                    "state_name": name,
                    "county_GEOID": f"{st}001",
                    "population": float(rng.integers(500, 5000)),
                    "households": float(rng.integers(200, 2000)),
                    "equity_index": idx,
                    "equity_index_lo": max(idx - 10, 0),
                    "equity_index_hi": min(idx + 10, 100),
                    "norm_share_no_internet": float(rng.uniform(0, 100)),
                    "score_access": float(rng.uniform(0, 100)),
                    "score_affordability": float(rng.uniform(0, 100)),
                    "geometry": box(x0 + i * 0.2, 37, x0 + i * 0.2 + 0.15, 37.15),
                }
            )
    return gpd.GeoDataFrame(rows, crs=4326)


@pytest.fixture(scope="module")
def candidates() -> gpd.GeoDataFrame:
    anchors = gpd.GeoDataFrame(
        {"kind": ["library", "school"]}, geometry=[Point(-79.9, 37.1), Point(-84.5, 37.1)], crs=4326
    )
    return rank_candidates(make_places(), anchors=anchors, k=2, radius_km=20, mode="robust", seed=1)


ALL = ["csv", "xlsx", "geojson", "gpkg", "parquet"]


def test_writes_every_format(candidates, tmp_path):
    paths = write_candidates(candidates, tmp_path, formats=ALL)
    assert [p.name for p in paths] == [
        "candidates.csv",
        "candidates.xlsx",
        "candidates.geojson",
        "candidates.gpkg",
        "candidates.parquet",
    ]
    assert all(p.is_file() and p.stat().st_size > 0 for p in paths)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        p.name for p in paths
    )  # no temp files left


def _expected(candidates: gpd.GeoDataFrame, *, rounded: bool) -> pd.DataFrame:
    df = export._ordered(candidates)
    return export._attribute_table(df) if rounded else df


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_tables_read_back_equal(candidates, tmp_path, fmt):
    (path,) = write_candidates(candidates, tmp_path, formats=[fmt])
    back = read_candidates(path)
    expected = _expected(candidates, rounded=True)
    assert list(back.columns) == list(expected.columns)
    assert back["GEOID"].tolist() == expected["GEOID"].tolist()
    assert back["GEOID"].str.len().eq(5).all()  # zero-padded codes stay text
    for col in expected.columns:
        if pd.api.types.is_numeric_dtype(expected[col]) and not pd.api.types.is_bool_dtype(
            expected[col]
        ):
            np.testing.assert_allclose(
                back[col].to_numpy(dtype=float), expected[col].to_numpy(dtype=float), err_msg=col
            )
        else:
            assert back[col].astype(str).tolist() == expected[col].astype(str).tolist(), col


@pytest.mark.parametrize("fmt", ["geojson", "gpkg", "parquet"])
def test_geodata_reads_back_equal(candidates, tmp_path, fmt):
    (path,) = write_candidates(candidates, tmp_path, formats=[fmt])
    back = read_candidates(path)
    expected = _expected(candidates, rounded=False)
    assert list(back.columns) == list(expected.columns)
    assert back["GEOID"].tolist() == expected["GEOID"].tolist()
    assert back["selected"].tolist() == expected["selected"].tolist()
    expected = gpd.GeoDataFrame(export._geo_table(expected), geometry="geometry", crs=4326)
    assert_geodataframe_equal(
        back, expected, check_dtype=False, check_less_precise=fmt == "geojson", normalize=True
    )


def test_xlsx_is_byte_identical_and_honours_source_date_epoch(candidates, tmp_path, monkeypatch):
    import time
    import zipfile

    (a,) = write_candidates(candidates, tmp_path / "a", formats=["xlsx"])
    time.sleep(1.1)  # openpyxl stamps the second of saving
    (b,) = write_candidates(candidates, tmp_path / "b", formats=["xlsx"])
    assert a.read_bytes() == b.read_bytes()
    back = read_candidates(a)
    assert back["GEOID"].tolist() == _expected(candidates, rounded=False)["GEOID"].tolist()
    with zipfile.ZipFile(a) as z:
        assert z.testzip() is None
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert core.count("1980-01-01T00:00:00Z") == 2  # created and modified
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "99999999999")  # past 2107: the last ZIP date
    (d,) = write_candidates(candidates, tmp_path / "d", formats=["xlsx"])
    with zipfile.ZipFile(d) as z:
        assert z.infolist()[0].date_time == (2107, 12, 31, 23, 59, 58)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # 2023-11-14T22:13:20Z
    (c,) = write_candidates(candidates, tmp_path / "c", formats=["xlsx"])
    with zipfile.ZipFile(c) as z:
        assert z.infolist()[0].date_time == (2023, 11, 14, 22, 13, 20)
        assert "2023-11-14T22:13:20Z" in z.read("docProps/core.xml").decode()


def test_csv_is_deterministic_and_sorted(candidates, tmp_path):
    (a,) = write_candidates(candidates, tmp_path / "a", formats=["csv"])
    shuffled = candidates.sample(frac=1, random_state=3)
    (b,) = write_candidates(shuffled, tmp_path / "b", formats=["csv"])
    assert a.read_bytes() == b.read_bytes()
    df = read_candidates(a)
    assert list(df.columns[: len(export._CONTRACT_ORDER)]) == export._CONTRACT_ORDER
    assert df[["state_GEOID", "rank"]].apply(tuple, axis=1).is_monotonic_increasing
    # four decimals at most
    assert df["combined_score"].astype(str).str.split(".").str[1].str.len().max() <= 4


def test_xlsx_layout(candidates, tmp_path):
    (path,) = write_candidates(candidates, tmp_path, formats=["xlsx"])
    wb = load_workbook(path)
    assert wb.sheetnames == ["All", "Virginia", "Northvale"]
    for ws in wb.worksheets:
        assert ws.freeze_panes == "A2"
        assert ws["A1"].font.bold and ws["A1"].fill.fgColor.rgb.endswith("1F4E79")
        assert ws.column_dimensions["B"].width >= len("GEOID")
    assert wb["Virginia"].max_row == 1 + 6
    geoid_col = [c.value for c in wb["All"][1]].index("GEOID") + 1
    cell = wb["All"].cell(row=2, column=geoid_col)
    assert isinstance(cell.value, str) and cell.number_format == "@"
    by_sheet = read_candidates(path, sheet="Northvale")
    assert set(by_sheet["state_GEOID"]) == {"90"}


def test_every_column_is_documented(candidates):
    for col in candidates.columns:
        if col == "geometry":
            continue
        key = "n_<kind>" if col.startswith("n_") and col != "n_anchors" else col
        assert key in COLUMNS, col
        description, unit = COLUMNS[key]
        assert description and unit


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"formats": ["pdf"]}, ChoiceError, "unknown output format 'pdf'; valid: csv, xlsx"),
        ({"formats": []}, ConfigError, "no output format"),
        ({"stem": "../x"}, ConfigError, "stem"),
    ],
)
def test_bad_options(candidates, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_candidates(candidates, tmp_path, **kwargs)
    assert not any(tmp_path.iterdir())


def test_bad_tables(candidates, tmp_path):
    with pytest.raises(DataError, match="empty"):
        write_candidates(candidates.iloc[:0], tmp_path)
    with pytest.raises(SchemaError, match="GEOID"):
        write_candidates(candidates.drop(columns="GEOID"), tmp_path)
    with pytest.raises(DataError, match="GeoDataFrame"):
        write_candidates(
            pd.DataFrame(candidates.drop(columns="geometry")), tmp_path, formats=["csv", "geojson"]
        )
    assert not any(tmp_path.iterdir())


def test_failure_half_way_leaves_nothing(candidates, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "candidates.csv").write_text("old\n")

    def boom(table, path):
        raise OSError("disk full")

    monkeypatch.setattr(export, "_write_xlsx", boom)
    with pytest.raises(OSError, match="disk full"):
        write_candidates(candidates, out, formats=["csv", "xlsx", "geojson"])
    assert [p.name for p in out.iterdir()] == ["candidates.csv"]
    assert (out / "candidates.csv").read_text() == "old\n"  # the old file is untouched


def test_level_tables_round_trip(tmp_path):
    places = make_places()
    places.attrs["index"] = {"weights": {"access": 1.0}, "array": np.arange(3)}
    levels = {"town": places, "county": places.iloc[:2]}
    paths = write_level_tables(levels, tmp_path)
    assert [p.name for p in paths] == ["index_town.parquet", "index_county.parquet"]
    back = gpd.read_parquet(paths[0])
    assert_geodataframe_equal(back, places, check_dtype=False)
    assert back["GEOID"].tolist() == places["GEOID"].tolist()
    assert places.attrs["index"]["array"].tolist() == [0, 1, 2]  # input attrs untouched


def test_level_tables_bad_input(tmp_path):
    with pytest.raises(DataError):
        write_level_tables({}, tmp_path)
    with pytest.raises(SchemaError, match="not a GeoDataFrame"):
        write_level_tables({"town": pd.DataFrame({"GEOID": ["1"]})}, tmp_path)
    with pytest.raises(SchemaError, match="level name"):
        write_level_tables({"../x": make_places()}, tmp_path)
    assert not any(tmp_path.iterdir())


def test_methods_card(candidates, tmp_path):
    provenance = [
        {
            "source": "acs",
            "title": "ACS 5-year 2017-2021",
            "publisher": "US Census Bureau",
            "vintage": "2021",
            "licence": "public domain",
            "attribution": "US Census Bureau, ACS",
            "path": "acs.csv",
        },
        {
            "source": "ookla",
            "title": "Speedtest fixed tiles | 2021 Q1",
            "publisher": "Ookla",
            "vintage": "2021Q1",
            "licence": "CC BY-NC-SA 4.0",
            "attribution": "Speedtest® by Ookla®",
            "path": "tiles.parquet",
        },
    ]
    command = "equity rank --mode robust --k 2 --radius-km 20 --out results"
    path = write_methods(
        tmp_path,
        provenance=provenance,
        parameters={"placement": candidates.attrs["placement"]},
        command=command,
        weights={"access": 2.0, "affordability": 1.0},
        notes=["sample data only"],
    )
    text = path.read_text()
    assert path.name == "METHODS.md"
    assert f"```sh\n{command}\n```" in text
    assert "| acs | ACS 5-year 2017-2021 | US Census Bureau | 2021 | public domain |" in text
    assert "Speedtest fixed tiles \\| 2021 Q1" in text  # pipes escaped in tables
    assert "CC BY-NC-SA 4.0" in text and "O-UDA" in text
    assert "Speedtest® by Ookla® Global Fixed and Mobile Network Performance Maps" in text
    assert "| access | 2 |" in text
    assert "| placement.mode | robust |" in text and "| placement.radius_km | 20 |" in text
    assert "| placement.weights.need | 0.5 |" in text
    assert "- sample data only" in text
    # same inputs, same bytes
    again = write_methods(
        tmp_path / "again",
        provenance=provenance,
        parameters={"placement": candidates.attrs["placement"]},
        command=command,
        weights={"access": 2.0, "affordability": 1.0},
        notes=["sample data only"],
    )
    assert again.read_bytes() == path.read_bytes()


@pytest.mark.parametrize("full", [False, True])
def test_methods_card_layout(tmp_path, full):
    """Headings stand between blank lines, tables are unbroken, the file ends in one newline."""
    kwargs = {
        "provenance": [{"source": "ookla", "vintage": None}] if full else [],
        "parameters": {"index": {"preset": "techspark"}} if full else {},
        "weights": {"access": 1.0} if full else None,
        "notes": ["a note"] if full else None,
    }
    text = write_methods(tmp_path, command="equity run", **kwargs).read_text(encoding="utf-8")
    lines = text.split("\n")
    assert text.endswith("\n") and not text.endswith("\n\n") and "\n\n\n" not in text
    headings = [i for i, line in enumerate(lines) if line.startswith("#")]
    assert [lines[i] for i in headings][:3] == [
        "# Methods",
        "## Reproduce this run",
        "## Data sources",
    ]
    assert all(lines[i + 1] == "" and (i == 0 or lines[i - 1] == "") for i in headings)
    assert ("## Notes" in lines) == full and ("- a note" in lines) == full
    for header in ("| source |", "| pillar | weight |", "| parameter | value |"):
        rows = [i for i, line in enumerate(lines) if line.startswith("|")]
        starts = [i for i in rows if lines[i].startswith(header)]
        if full:
            assert len(starts) == 1  # the table is there, its rows follow without a gap
            assert lines[starts[0] + 1].startswith("|---|") and lines[starts[0] + 2].startswith(
                "| "
            )
        else:
            assert not starts
    if full:
        assert "| ookla |  |  | not stated (no year in the file or its name) |  |  |  |" in lines
        assert "| index.preset | techspark |" in lines and "| access | 1 |" in lines
    else:
        assert "No data source recorded its provenance." in lines and "(none recorded)" in lines


def test_methods_bad_input(tmp_path):
    with pytest.raises(ConfigError, match="command"):
        write_methods(tmp_path, provenance=[], parameters={}, command=" ")
    with pytest.raises(ConfigError, match="provenance"):
        write_methods(tmp_path, provenance=["acs"], parameters={}, command="equity run")
    assert not any(tmp_path.iterdir())


def test_readme_documents_every_candidates_column() -> None:
    """README.md's column table is export.COLUMNS, so the documentation cannot drift."""
    from pathlib import Path

    from equity import export

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    table = readme.split("<!-- columns:start -->", 1)[1].split("<!-- columns:end -->", 1)[0]
    documented = [line.split("|")[1].strip().strip("`") for line in table.strip().splitlines()[2:]]
    assert documented == list(export.COLUMNS)
