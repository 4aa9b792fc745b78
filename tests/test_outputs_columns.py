"""The columns main gained (suggested partner, rank range, reliability) and the street level's
warnings reach every place a person reads: the why paragraph, the workbook, METHODS.md, the
map popups and candidates.html (#18)."""

from __future__ import annotations

import html
import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point
from test_export import INDEX, PROVENANCE, make_places

from equity import maps
from equity.export import write_candidates, write_methods
from equity.glossary import rank_range_text
from equity.maps.layers import _candidate_spec
from equity.placement import rank_candidates
from equity.workbook import RunInfo

STREET_WARNING = (
    "Street level fell back to area weights for 3 of 40 block groups (no 2020 blocks given): "
    "within such a block group every cell shows the block group's rates."
)


@pytest.fixture(scope="module")
def candidates() -> gpd.GeoDataFrame:
    places = make_places()
    places["reliability"] = np.where(np.arange(len(places)) % 3 == 0, "low", "high")
    anchors = gpd.GeoDataFrame(
        {"kind": ["library", "school"], "name": ["Town Library", "Town School"]},
        geometry=[Point(-79.9, 37.1), Point(-84.5, 37.1)],
        crs=4326,
    )
    return rank_candidates(places, anchors=anchors, k=1, radius_km=20, mode="top", seed=1)


def test_rank_range_text():
    assert rank_range_text(1, 4) == "1-4"
    assert rank_range_text(2, 2) == "2"
    assert rank_range_text(float("nan"), 2) == ""


def test_why_says_reliability_rank_range_and_partner(candidates):
    assert {"reliability", "rank_best", "rank_worst", "partner_name"} <= set(candidates.columns)
    for row in candidates.to_dict("records"):
        why = row["why"]
        assert f"reliability {row['reliability']})" in why
        ranks = rank_range_text(row["rank_best"], row["rank_worst"])
        assert ranks and f"ranks {ranks}" in why
        assert row["rank_best"] <= row["rank"] <= row["rank_worst"]
        if isinstance(row["partner_name"], str) and row["partner_name"]:
            assert f"suggested partner: {row['partner_name']}" in why


def test_workbook_summary_and_state_sheets_show_the_new_columns(candidates, tmp_path):
    info = RunInfo("T", "equity run", PROVENANCE, [STREET_WARNING], INDEX, "2026-12-02")
    (path,) = write_candidates(candidates, tmp_path, formats=("xlsx",), info=info)
    summary = pd.read_excel(path, sheet_name="Summary")
    for heading in (
        "Reliability",
        "Best rank, other weightings",
        "Worst rank, other weightings",
        "Suggested partner",
    ):
        assert heading in summary.columns, heading
    chosen = candidates[candidates["selected"]].sort_values("state_GEOID")
    assert summary["Reliability"].tolist() == chosen["reliability"].tolist()
    assert summary["Best rank, other weightings"].tolist() == chosen["rank_best"].tolist()
    state = pd.read_excel(path, sheet_name="Virginia")
    assert {"Reliability", "Best rank, other weightings", "Suggested partner"} <= set(state)
    readme = pd.read_excel(path, sheet_name="Read me", header=None)
    cells = set(readme.stack().astype(str))
    assert STREET_WARNING in cells  # the street level's fallback, where people look first
    assert {"rank_best", "reliability"} <= cells


def test_methods_selection_table_has_reliability_rank_range_and_partner(candidates, tmp_path):
    index = {**INDEX, "notes": ["reliability: the index's standard error over 50."]}
    street = {
        "resolution": 9,
        "blockgroups": 40,
        "blockgroups_by_weight": {"blocks": 30, "ancillary": 7, "area": 3},
        "min_households": 5,
        "units": 900,
        "pooled": 40,
        "ranked": 850,
        "households_unranked": 120,
    }
    text = write_methods(
        tmp_path,
        provenance=PROVENANCE,
        parameters={"index": index},
        command="equity run",
        warnings=[STREET_WARNING],
        index=index,
        candidates=candidates,
        run_date="2026-12-02",
        street=street,
    ).read_text()
    first = text.split("# Technical appendix")[0]
    assert f"- **Warning:** {STREET_WARNING}" in first.split("## Who was selected")[0]
    header = next(line for line in first.splitlines() if line.startswith("| state |"))
    assert "reliability" in header and "rank under other weightings" in header
    assert "suggested partner" in header
    for row in candidates[candidates["selected"]].to_dict("records"):
        line = next(x for x in first.splitlines() if x.startswith(f"| {row['state_name']} |"))
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[4] == row["reliability"]
        assert cells[6] == rank_range_text(row["rank_best"], row["rank_worst"])
        assert cells[8] == (row["partner_name"] or "")
    appendix = text.split("# Technical appendix")[1]
    assert "### Notes on the method" in appendix
    assert "- reliability: the index's standard error over 50." in appendix
    assert "Block groups by weight: blocks 30, ancillary 7, area 3" in appendix


def test_popups_and_candidates_page_show_rank_range_and_warnings(candidates, tmp_path):
    spec = _candidate_spec(candidates, "Candidates")
    frame = candidates.sort_index()
    for item, row in zip(spec["items"], frame.to_dict("records"), strict=True):
        fields = dict(item["fields"])
        assert fields["Rank under other weightings"] == rank_range_text(
            row["rank_best"], row["rank_worst"]
        )
        assert fields["Reliability"] == row["reliability"]
    page = maps.write_candidates_table(
        candidates, tmp_path / "c.html", title="T", warnings=[STREET_WARNING, "a <b> warning"]
    ).read_text()
    for heading in ("Best rank, other weightings", "Worst rank, other weightings", "Reliability"):
        assert f'<button type="button">{heading}</button>' in page
    section = page.split('<section id="warnings"', 1)[1].split("</section>", 1)[0]
    assert html.escape(STREET_WARNING) in section and "a &lt;b&gt; warning" in section
    assert page.index('id="warnings"') < page.index("<table")


def test_street_map_has_the_warnings_basemap_and_required_attribution():
    from equity.maps.streetmap import street_map

    cells = gpd.GeoDataFrame(
        {
            "GEOID": ["892a1008003ffff", "892a1008007ffff"],
            "NAME": ["A", "B"],
            "equity_index": [40.0, 60.0],
            "households": [10.0, 20.0],
            "ranked": [True, True],
        },
        geometry=[Point(-77.0, 38.9).buffer(0.002), Point(-77.01, 38.9).buffer(0.002)],
        crs=4326,
    )
    m, _ = street_map(
        cells,
        title="T",
        subtitle=None,
        attribution=["Ookla"],
        warnings=[STREET_WARNING],
        required=["Speedtest by Ookla"],
        basemap="carto",
    )
    page = m.get_root().render()
    spec = json.loads(re.search(r"equity\.chrome\(map_\w+, (\{.*?\})\);\n", page).group(1))
    assert spec["warnings"] == [STREET_WARNING]
    assert spec["required"] == ["Speedtest by Ookla"]
    assert "Basemap (online)" in page


@pytest.mark.slow
@pytest.mark.parametrize(("sample", "n_selected"), [(False, 51), (True, 3)])
def test_default_and_sample_runs_write_the_new_workbook_and_maps(tmp_path, sample, n_selected):
    """`equity run` (national county snapshot) and `equity run --sample` write the workbook,
    METHODS.md, the maps and candidates.html with the new columns and the run's warnings."""
    from equity import pipeline
    from equity.config import load_config

    res = pipeline.run(load_config(sample=sample), out=tmp_path, quiet=True)
    assert res.warnings
    summary = pd.read_excel(tmp_path / "candidates.xlsx", sheet_name="Summary")
    assert len(summary) == n_selected
    for heading in ("Reliability", "Best rank, other weightings", "Suggested partner", "Why"):
        assert summary[heading].notna().all(), heading
    sheets = pd.ExcelFile(tmp_path / "candidates.xlsx").sheet_names
    assert sheets[:2] == ["Read me", "Summary"] and len(sheets) == 2 + n_selected
    methods = (tmp_path / "METHODS.md").read_text()
    rows = [x for x in methods.split("### In each state")[0].splitlines() if x.startswith("|")]
    assert len(rows) == 2 + n_selected  # header, rule, one row per state
    page = (tmp_path / "maps" / "candidates.html").read_text()
    assert "Best rank, other weightings" in page and 'id="warnings"' in page
    levels = ["county"] if not sample else ["street", "blockgroup", "tract", "town", "county"]
    for level in levels:
        text = (tmp_path / "maps" / f"{level}.html").read_text()
        spec = json.loads(re.search(r"equity\.chrome\(map_\w+, (\{.*?\})\);\n", text).group(1))
        assert spec["warnings"] == res.warnings, level
        assert "Rank under other weightings" in text, level
        assert (tmp_path / "maps" / f"{level}.png").stat().st_size > 10_000
