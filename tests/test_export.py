"""Tests of equity.export: candidate files read back equal, determinism, atomicity, METHODS.md."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from geopandas.testing import assert_geodataframe_equal
from openpyxl import load_workbook
from openpyxl.utils import get_column_letter
from shapely.geometry import Point, box

from equity import export, workbook
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


def test_csv_reads_back_equal(candidates, tmp_path):
    (path,) = write_candidates(candidates, tmp_path, formats=["csv"])
    _assert_reads_back(read_candidates(path), _expected(candidates, rounded=True))


def _assert_reads_back(back: pd.DataFrame, expected: pd.DataFrame) -> None:
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


def test_xlsx_state_sheets_read_back_equal_on_their_columns(candidates, tmp_path):
    """The workbook carries the columns a person reads, under plain headings; read back, they
    are the CSV's values under their code names (close calls only for selected sites)."""
    (path,) = write_candidates(candidates, tmp_path, formats=["xlsx"])
    back = read_candidates(path)
    expected = _expected(candidates, rounded=True)
    shown = [c for c in workbook.HEADERS if c in back.columns]
    assert shown == list(back.columns)
    assert {"selected", "rank", "NAME", "need_score", "why", "p_top1", "GEOID"} <= set(shown)
    expected = expected[shown].assign(
        close_call=expected["close_call"].where(expected["selected"], pd.NA)
    )
    _assert_reads_back(back, expected)


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


def test_xlsx_is_made_for_people(candidates, tmp_path):
    info = export.RunInfo(
        title="Digital equity index",
        command="equity run --out x",
        provenance=[{"source": "imls", "title": "IMLS PLS", "vintage": "FY2019", "licence": "PD"}],
        warnings=["No data for the transformation pillar."],
        index={
            "weights": {"access": {"share_no_internet": 1.0}, "education": {"km_to_library": 1.0}}
        },
        run_date="2026-12-02",
    )
    (path,) = write_candidates(candidates, tmp_path, formats=["xlsx"], info=info)
    wb = load_workbook(path)
    assert wb.sheetnames == ["Read me", "Summary", "Virginia", "Northvale"]
    readme = [
        [c for c in row if c is not None] for row in wb["Read me"].iter_rows(values_only=True)
    ]
    flat = [str(v) for row in readme for v in row]
    assert flat[0] == "Digital equity index: candidate sites for a fellow"
    assert ["Run date", "2026-12-02"] in readme and ["Command", "equity run --out x"] in readme
    assert "No data for the transformation pillar." in flat
    # every column of the state sheets is explained with its code name and unit
    for code, (heading, _) in workbook.HEADERS.items():
        if code in candidates.columns and code != "state_name":
            row = next(r for r in readme if r[:2] == [heading, code])
            assert row[2] == export.COLUMNS[code][0]
    # the glossary maps labels to code names, sources and vintages
    assert next(r for r in readme if "km_to_library" in r)[:3] == [
        "distance to the nearest public library",
        "km_to_library",
        "Education",
    ]
    assert any("IMLS PLS" in r and "FY2019" in r for r in readme)

    ws = wb["Virginia"]
    head = [c.value for c in ws[1]]
    assert head[:3] == ["Selected", "Rank in state", "Place"]
    assert ws.freeze_panes == "D2"  # the place name stays in view
    assert ws.auto_filter.ref == f"A1:{get_column_letter(len(head))}{ws.max_row}"
    assert ws["A1"].font.bold and ws["A1"].fill.fgColor.rgb.endswith("1F4E79")
    col = {h: i + 1 for i, h in enumerate(head)}
    rows = list(ws.iter_rows(min_row=2))
    assert len(rows) == 6
    for row in rows:
        selected = row[col["Selected"] - 1].value
        fill = row[col["Place"] - 1].fill.fgColor.rgb
        assert fill.endswith("FFF2CC") == bool(selected)  # selected rows highlighted
        assert row[col["Need (0-100)"] - 1].number_format == "0.0"
        assert row[col["Households"] - 1].number_format == "#,##0"  # whole households
        assert row[col["Chance of ranking first"] - 1].number_format == "0%"
        assert row[col["Why"] - 1].alignment.wrap_text
        assert row[col["GEOID"] - 1].number_format == "@"
        assert isinstance(row[col["GEOID"] - 1].value, str)
    assert ws.column_dimensions[get_column_letter(col["Why"])].width >= 60
    summary = wb["Summary"]
    assert [c.value for c in summary[1]][:4] == ["State", "Selected place", "County", "Focus area"]
    assert summary.max_row == 1 + int(candidates["selected"].sum())
    assert summary.freeze_panes == "C2" and summary.auto_filter.ref
    by_sheet = read_candidates(path, sheet="Northvale")
    assert len(by_sheet) == 6 and by_sheet["GEOID"].str.startswith("90").all()


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

    def boom(table, path, **kwargs):
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


PROVENANCE = [
    {
        "source": "acs",
        "title": "ACS 5-year 2017-2021",
        "publisher": "US Census Bureau",
        "vintage": "2021",
        "licence": "Public domain (US federal government work)",
        "attribution": "US Census Bureau, ACS",
        "path": "acs.csv",
    },
    {
        "source": "boundaries",
        "title": "Census cartographic boundary file",
        "publisher": "US Census Bureau",
        "vintage": "2021",
        "licence": "Public domain (US federal government work)",
        "attribution": "US Census Bureau, boundaries",
        "path": "tract.zip",
    },
    {
        "source": "boundaries",
        "title": "Census cartographic boundary file",
        "publisher": "US Census Bureau",
        "vintage": "2021",
        "licence": "Public domain (US federal government work)",
        "attribution": "US Census Bureau, boundaries",
        "path": "county.zip",
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
INDEX = {
    "preset": "techspark",
    "normalisation": "percentile",
    "pillar_weights": {"access": 2.0, "affordability": 1.0},
    "weights": {
        "access": {"share_no_internet": 0.5, "download_mbps": 0.5},
        "affordability": {"share_below_poverty": 1.0},
    },
    "missing_pillars": ["transformation"],
}


def _methods(candidates, out, **kw):
    params = {
        "normalisation": None,  # the configuration's "preset default" ...
        "pillar_weights": None,
        "mode": "robust",
        "index": INDEX,  # ... and what the index used
        "placement": candidates.attrs["placement"],
    }
    return write_methods(
        out,
        provenance=PROVENANCE,
        parameters=params,
        command="equity rank --mode robust --k 2 --radius-km 20 --out results",
        weights=INDEX["pillar_weights"],
        notes=["sample data only"],
        warnings=["No data for the Business and nonprofit transformation pillar."],
        index=INDEX,
        candidates=candidates,
        run_date="2026-12-02",
        **kw,
    )


def test_methods_card_for_a_reader_first(candidates, tmp_path):
    text = _methods(candidates, tmp_path).read_text()
    lines = text.split("\n")
    headings = [line for line in lines if line.startswith("#")]
    assert headings[:7] == [
        "# Methods",
        "## Warnings",
        "## Who was selected, and why",
        "### In each state",
        "## Which data",
        "## What is missing, and what it means",
        "## Reproduce this run",
    ]
    assert headings.index("# Technical appendix") > headings.index("## Reproduce this run")
    assert "on 2026-12-02" in lines[2]
    assert "- **Warning:** No data for the Business and nonprofit transformation pillar." in lines
    # who was selected in each state, and why: one table row and one paragraph per site
    chosen = candidates[candidates["selected"]]
    for _, row in chosen.iterrows():
        assert any(line.startswith(f"| {row['state_name']} | {row['NAME']} | ") for line in lines)
        assert f"- **{row['state_name']}: {row['NAME']}.** {row['why']}" in lines
    assert f"{len(chosen)} sites were selected in 2 states (robust mode" in text
    # which data: each source once, however many files
    assert sum(line.startswith("- Census cartographic boundary file") for line in lines) == 1
    assert "- sample data only" in lines
    assert "```sh\nequity rank --mode robust --k 2 --radius-km 20 --out results\n```" in text


def test_methods_card_appendix_has_no_contradictions_and_no_json(candidates, tmp_path):
    text = _methods(candidates, tmp_path).read_text()
    lines = text.split("\n")
    section = text.split("## Parameters", 1)[1].split("## Data sources", 1)[0].split("\n")
    params = [line for line in section if line.startswith("| ")][1:]
    names = [line.split(" | ")[0][2:] for line in params]
    # one row per parameter, with the value used: no "normalisation None" beside "percentile"
    assert "| index.normalisation | percentile | default: the preset's |" in lines
    assert not any(
        n.endswith("normalisation") and "none" in line
        for n, line in zip(names, params, strict=True)
    )
    assert "| index.weights | access 2, affordability 1 | pillar (or indicator) weights |" in lines
    assert "| placement.mode | robust | top \\| coverage \\| robust |" in lines
    assert "| placement.weights | need 0.5, readiness 0.25, reach 0.25 |" in text
    assert len(set(names)) == len(names)
    assert "{" not in "\n".join(params)  # no raw JSON
    # weights actually used, the missing pillar with its weight 0
    assert "| Internet access | 0.67 |  |" in lines and "| Affordability | 0.33 |  |" in lines
    assert (
        "| Business and nonprofit transformation | 0 | no data: its weight went to the others |"
        in lines
    )
    # indicators by pillar, with sources and vintages
    assert (
        "| Internet access | households without internet | `share_no_internet` | 0.50 | "
        "ACS 5-year 2017-2021 | 2021 |  |"
    ) in lines
    assert "Speedtest fixed tiles \\| 2021 Q1 | 2021Q1 |" in text  # pipes escaped in tables
    # each licence once; the attribution Ookla's licence requires
    assert (
        sum(
            "Public domain (US federal government work)" in line
            for line in lines
            if line.startswith("| Public")
        )
        == 1
    )
    assert "| CC BY-NC-SA 4.0 | Speedtest® by Ookla® |" in lines
    assert "Speedtest® by Ookla® Global Fixed and Mobile Network Performance Maps" in text
    assert "Open Use of Data Agreement (O-UDA) v1.0. Not used in this run." in text
    assert "(non-commercial, share-alike, attribution required). Used in this run." in text
    assert "spopt library and the CBC solver" in text  # no unexplained "spopt MCLP, CBC"
    # same inputs, same bytes
    assert _methods(candidates, tmp_path / "again").read_bytes() == text.encode()


def test_methods_card_coverage_results_are_a_table(candidates, tmp_path):
    cov = rank_candidates(make_places(), k=2, radius_km=20, mode="coverage")
    text = write_methods(
        tmp_path,
        provenance=[],
        parameters={"placement": cov.attrs["placement"]},
        command="equity run",
        candidates=cov,
    ).read_text()
    assert "### Coverage" in text
    assert "| Virginia | 2 |" in text and "| Northvale | 2 |" in text
    assert "covered_need_population" not in text and "{" not in text


@pytest.mark.parametrize("full", [False, True])
def test_methods_card_layout(tmp_path, full):
    """Headings stand between blank lines, tables are unbroken, the file ends in one newline."""
    kwargs = {
        "provenance": [{"source": "ookla", "vintage": None}] if full else [],
        "parameters": {"index": {"preset": "techspark"}} if full else {},
        "weights": {"access": 1.0} if full else None,
        "notes": ["a note"] if full else None,
        "warnings": ["a warning"] if full else None,
    }
    text = write_methods(tmp_path, command="equity run", **kwargs).read_text(encoding="utf-8")
    lines = text.split("\n")
    assert text.endswith("\n") and not text.endswith("\n\n") and "\n\n\n" not in text
    headings = [i for i, line in enumerate(lines) if line.startswith("#")]
    assert lines[headings[0]] == "# Methods"
    assert all(lines[i + 1] == "" and (i == 0 or lines[i - 1] == "") for i in headings)
    assert ("## Warnings" in lines) == full and ("- a note" in lines) == full
    for header in ("| source |", "| pillar | weight | note |", "| parameter | value | meaning |"):
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
        assert "| index.preset | techspark | index definition |" in lines
        assert "| Internet access | 1.00 |  |" in lines
    else:
        assert "No data source recorded its provenance." in lines and "(none recorded)" in lines
        assert "No site was selected." in lines


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
