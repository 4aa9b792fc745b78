"""Tests of equity.maps: self-contained HTML, rendering in Chromium, safety, size budgets.

Browser tests open the written files in headless Chromium with every non-local request
aborted (see tests/_browser.py).
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _browser import launch, open_page, require_chromium

from equity import maps
from equity.errors import ChoiceError, ConfigError, DataError, EquityError, SchemaError
from equity.maps.encoding import encode_polygons, safe_json

XSS = "<img src=x onerror=alert(1)>"
WARNINGS = [
    "No data for the Education pillar (tract level): its weight is shared among the others.",
    f"Broadband availability is from 2019: stale {XSS}.",
]
US_BUDGET = 2_500_000
STATE_TRACT_BUDGET = 1_500_000

needs_browser = pytest.mark.usefixtures("chromium")


@pytest.fixture(scope="session")
def chromium() -> None:
    require_chromium()


# --------------------------------------------------------------------------- fixtures


def level_table(n: int, level: str, *, seed: int = 0, step: float = 0.01) -> gpd.GeoDataFrame:
    """A square grid of `n` cells with the level-table columns of docs/contracts.md."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    i = np.arange(n)
    # Integer grid scaled once: neighbours share exact edges, so the grid is a coverage.
    xs = -77 + np.array([i % side, i % side + 1]) * step
    ys = 38 + np.array([i // side, i // side + 1]) * step
    geom = shapely.box(xs[0], ys[0], xs[1], ys[1])
    idx = rng.uniform(0, 100, n)
    table = gpd.GeoDataFrame(
        {
            "GEOID": [f"51001{k:06d}" for k in i],
            "NAME": [f"Place {k}" for k in i],
            "level": level,
            "state_GEOID": "51",
            "county_GEOID": "51001",
            "households": rng.integers(10, 1000, n),
            "equity_index": idx,
            "equity_index_lo": idx - 5,
            "equity_index_hi": idx + 5,
            "rank": pd.Series(idx).rank(ascending=False, method="first").astype(int).to_numpy(),
            "driving_pillar": "access",
            "reliability": rng.choice(["high", "medium", "low"], n),
            "hotspot": rng.choice(
                ["High-High", "Low-Low", "not significant", "not significant"], n
            ),
        },
        geometry=geom,
        crs=4326,
    )
    for p in maps.PILLARS:
        table[f"score_{p}"] = rng.uniform(0, 100, n)
    table["score_education"] = np.nan  # a pillar without data gets no layer
    table.loc[0, "NAME"] = XSS
    return table


def candidate_table(level: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    cand = level.nsmallest(3, "rank").copy()
    cand["rank"] = [1, 2, 3]
    cand["state_name"] = "Virginia"
    for col in ("need_score", "readiness_score", "reach_score", "combined_score"):
        cand[col] = [90.0, 80.0, 70.0]
    cand["rank_lo"], cand["rank_hi"] = [1, 1, 2], [3, 4, 6]
    cand["why"] = ["High need <script>alert(2)</script>", "Libraries & colleges", "Reach"]
    cand["intervention"] = "device lending"
    cand["selected"] = [True, False, False]
    return cand


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with launch() as b:
        yield b


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("maps")
    levels = {
        "street": level_table(2500, "street", seed=1, step=0.002),
        "tract": level_table(300, "tract", seed=2),
        "town": level_table(60, "town", seed=3, step=0.03),
        "county": level_table(12, "county", seed=4, step=0.1),
    }
    provenance = [
        {
            "source": "ookla",
            "attribution": "Speedtest by Ookla",
            "licence": "CC BY-NC-SA 4.0",
            "vintage": "2021-Q1",
        },
        {"source": "microsoft", "vintage": "2020-10"},
        {
            "source": "acs",
            "attribution": "US Census Bureau, ACS <5-year>",
            "licence": "public domain",
            "vintage": "2021",
        },
    ]
    maps.run_maps(
        levels,
        candidate_table(levels["tract"]),
        out,
        provenance=provenance,
        title=f"Sample {XSS}",
        data_date="2021",
        warnings=WARNINGS,
    )
    return out


# --------------------------------------------------------------------------- pure functions


def test_classify_quantiles_and_missing():
    values = pd.Series([1.0, 2.0, np.nan, 3.0, 4.0, 5.0, 6.0])
    classes, bins = maps._classify(values, scheme="quantiles", k=3)
    assert classes.tolist()[2] == -1
    assert sorted(set(classes.tolist()) - {-1}) == [0, 1, 2]
    assert bins == sorted(bins) and bins[-1] == 6.0
    # non-decreasing classes for increasing values
    ok = classes >= 0
    assert np.all(np.diff(classes[ok]) >= 0)


def test_classify_unknown_scheme_lists_choices():
    with pytest.raises(ValueError, match="quantiles"):
        maps._classify(pd.Series([1.0, 2.0]), scheme="nope", k=2)


def test_unknown_scheme_and_palette_are_choice_errors():
    with pytest.raises(ChoiceError, match=r"unknown scheme 'Nope'; valid: quantiles, "):
        maps._classify(pd.Series([1.0, 2.0]), scheme="Nope", k=2)
    # the scheme's spelling is forgiving: case and underscores do not matter
    assert maps._classify(pd.Series([1.0, 2.0, 3.0]), scheme="Fisher_Jenks", k=2)[1]
    with pytest.raises(ChoiceError, match=r"unknown palette 'nope'.*YlOrRd.*list of colours"):
        maps._palette_colors("nope", 3)
    with pytest.raises(ConfigError, match="2 colours but 3 classes"):
        maps._palette_colors(["#000000", "#ffffff"], 3)


def test_bad_input_raises_equity_errors():
    grid = level_table(4, "tract")
    with pytest.raises(DataError, match="expected a GeoDataFrame"):
        maps.choropleth(pd.DataFrame(grid), "equity_index")
    with pytest.raises(SchemaError, match="reliability column 'nope'"):
        maps.choropleth(grid, "equity_index", reliability_column="nope")
    with pytest.raises(SchemaError, match="nope"):
        maps.write_png(grid, "nope", "unused.png")


def test_runtime_and_templates_are_package_files(tmp_path):
    from equity.maps import runtime

    js, css = runtime.runtime_js(), runtime.runtime_css()
    assert js.startswith("(function () {") and "E.decode = function" in js
    assert ".equity-legend" in css
    m = maps.choropleth(level_table(4, "tract"), "equity_index", k=2, title="T & U")
    text = maps.save_map(m, tmp_path / "m.html").read_text(encoding="utf-8")
    assert text.startswith('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n')
    assert "<title>T &amp; U</title>" in text and text.endswith("</body>\n</html>\n")
    assert f"<script>\n{js}</script>" in text and f"<style>\n{css}</style>" in text


def test_classify_ties_drop_empty_classes():
    classes, bins = maps._classify(pd.Series([1.0] * 8 + [2.0, 3.0]), scheme="quantiles", k=5)
    assert len(bins) == len(set(classes.tolist()))


def test_safe_json_cannot_close_script():
    text = safe_json({"n": "</script><script>alert(1)</script>&"})
    assert "</" not in text and "<" not in text and "&" not in text


def test_encode_polygons_round_trips_with_holes_and_multiparts():
    shell = shapely.box(0, 0, 1, 1)
    holed = shapely.Polygon(
        shell.exterior.coords, [shapely.box(0.2, 0.2, 0.4, 0.4).exterior.coords]
    )
    multi = shapely.MultiPolygon([shapely.box(2, 2, 3, 3), shapely.box(4, 4, 5.123456, 5)])
    enc = encode_polygons(np.array([holed, multi]), decimals=5)
    q = np.cumsum(np.asarray(enc["q"]).reshape(-1, 2), axis=0) / enc["s"]
    assert enc["n"] == 2 and enc["gl"] == [1, 2] and enc["pl"] == [2, 1, 1]
    # rings without their closing point: 4 points each
    assert enc["rl"] == [4, 4, 4, 4]
    ro = np.concatenate([[0], np.cumsum(enc["rl"])])
    last = shapely.get_coordinates(multi.geoms[1].exterior)[:-1]
    np.testing.assert_allclose(q[ro[3] : ro[4]], np.round(last, 5), atol=1e-12)
    hole = shapely.get_coordinates(holed.interiors[0])[:-1]
    np.testing.assert_allclose(q[ro[1] : ro[2]], hole, atol=1e-12)


def test_formatting_by_column_kind():
    s = pd.Series([0.1234, np.nan])
    assert maps._format(s, "share") == ["12.3%", None]
    out = maps._format_interval(
        pd.Series([45.25, 3.0]), pd.Series([40.0, np.nan]), pd.Series([50.0, 4.0]), "score"
    )
    assert out == ["45.2 [40.0\u201350.0]", "3.0"]


def test_antimeridian_unwrap_keeps_western_layer_together():
    west = shapely.box(-170, 50, -160, 55)
    aleut = shapely.box(178, 51, 179.5, 52)
    out = maps._unwrap_antimeridian(np.array([west, west, aleut]))
    assert shapely.bounds(out[2])[0] == pytest.approx(-182)
    assert shapely.equals(out[0], west)


def test_choropleth_does_not_mutate_and_reprojects():
    grid = level_table(16, "tract").to_crs(3857)
    before = grid.copy()
    m = maps.choropleth(grid, "equity_index", k=4)
    assert isinstance(m, folium.Map)
    pd.testing.assert_frame_equal(
        pd.DataFrame(grid.drop(columns="geometry")), pd.DataFrame(before.drop(columns="geometry"))
    )
    assert grid.crs.to_epsg() == 3857


def test_choropleth_bad_column_and_crs():
    grid = level_table(4, "tract")
    with pytest.raises(SchemaError, match="nope"):
        maps.choropleth(grid, "nope")
    with pytest.raises(EquityError, match="CRS"):
        maps.choropleth(grid.set_crs(None, allow_override=True), "equity_index")


def test_save_map_is_self_contained(tmp_path):
    m = maps.choropleth(
        level_table(9, "tract"), "equity_index", k=3, title="T", attribution="A (CC0)"
    )
    path = maps.save_map(m, tmp_path / "m.html")
    text = path.read_text(encoding="utf-8")
    # no tag loads a remote resource, no CSS pulls one (a plain <a href> link is not a request)
    remote_tag = (
        r"""<(script|link|img|iframe|source|embed)\b[^>]*\b(src|href)\s*=\s*["']?(https?:)?//"""
    )
    assert not re.search(remote_tag, text, re.I)
    assert not re.search(r"""url\(\s*["']?(https?:)?//|@import""", text, re.I)
    assert "cdn.jsdelivr" not in text and "code.jquery" not in text
    assert "L.version" in text or 't.version="1.9.3"' in text  # Leaflet inlined
    assert "sourceMappingURL" not in text
    # folium's own rendering still works afterwards (the header was restored)
    assert "cdn.jsdelivr.net/npm/leaflet" in m.get_root().render()


def test_save_map_refuses_plugin_without_local_copy(tmp_path):
    from folium.plugins import Fullscreen

    m = maps.choropleth(level_table(4, "tract"), "equity_index", k=2)
    Fullscreen().add_to(m)
    with pytest.raises(EquityError, match="self-contained"):
        maps.save_map(m, tmp_path / "m.html")
    assert not (tmp_path / "m.html").exists()
    assert maps.save_map(m, tmp_path / "m.html", self_contained=False).is_file()


def test_user_text_is_escaped_in_html(run_dir):
    text = (run_dir / "tract.html").read_text(encoding="utf-8")
    assert XSS not in text
    assert "<script>alert(2)" not in text
    table = (run_dir / "candidates.html").read_text(encoding="utf-8")
    assert XSS not in table and "<script>alert(2)" not in table
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in table


def test_run_maps_writes_every_level_png_and_table(run_dir):
    names = sorted(p.name for p in run_dir.iterdir())
    for level in ("street", "tract", "town", "county"):
        assert f"{level}.html" in names and f"{level}.png" in names
        assert (run_dir / f"{level}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "candidates.html" in names
    text = (run_dir / "county.html").read_text(encoding="utf-8")
    # attribution for every source with its licence, ookla and microsoft included
    assert "CC BY-NC-SA 4.0" in text and "O-UDA v1.0" in text and "public domain" in text


def test_attribution_lines_defaults():
    lines = maps.attribution_lines(
        [
            {"source": "ookla"},
            {"source": "microsoft_usage"},
            {"source": "acs", "attribution": "ACS", "licence": "public domain"},
        ]
    )
    assert any("Ookla" in x and "CC BY-NC-SA 4.0" in x for x in lines)
    assert any("Microsoft" in x and "O-UDA v1.0" in x for x in lines)
    assert "ACS (public domain)" in lines


def test_candidates_table_is_accessible(run_dir):
    text = (run_dir / "candidates.html").read_text(encoding="utf-8")
    assert "<caption>" in text
    assert text.count('scope="col"') >= 5
    assert 'aria-sort="ascending"' in text
    assert not re.search(r"""<[^>]*\b(src|href)\s*=""", text)  # no external asset at all
    assert '<html lang="en">' in text


def test_png_is_fast(tmp_path):
    grid = level_table(5000, "street", step=0.002)
    start = time.perf_counter()
    maps.write_png(
        grid, "equity_index", tmp_path / "s.png", title="Street", reliability_column="reliability"
    )
    assert time.perf_counter() - start < 4.0  # budget 2 s; margin for a shared machine
    assert (tmp_path / "s.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- browser


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("level", ["street", "tract", "town", "county"])
def test_run_map_renders_every_layer(run_dir, browser, level):
    with open_page(run_dir / f"{level}.html", browser=browser) as view:
        features = view.feature_counts()
        assert "Equity index" in features and "Pillar: Internet access" in features
        assert "Pillar: Education" not in features  # no data, no layer
        assert {"Hot and cold spots", "Selected sites", "Other candidates"} <= set(features)
        # Index layer and the selected site are shown on opening, other candidates are not.
        shown = view.rendered()
        assert shown["Equity index"] == features["Equity index"] > 0
        assert shown["Selected sites"] == features["Selected sites"] == 1
        assert shown["Other candidates"] == 0 and features["Other candidates"] == 2
        assert view.page.locator(".equity-legend h2").first.inner_text().startswith("Equity index")
        for name in features:
            view.show_layer(name)
            assert view.rendered()[name] == features[name], name
        assert view.console_errors == [] and view.page_errors == []
        assert view.external_requests == []
        assert all(u.startswith(("file:", "data:")) for u in view.requests)


@pytest.mark.browser
@needs_browser
def test_tooltip_legend_and_xss(run_dir, browser):
    with open_page(run_dir / "tract.html", browser=browser) as view:
        text = view.hover_feature("Equity index", 0)
        assert XSS in text  # the literal string, shown as text
        assert "Equity index [90% interval]" in text and "Reliability" in text
        assert (
            view.evaluate("() => document.querySelectorAll('img[src=x], img[src=\"x\"]').length")
            == 0
        )
        # no script element beyond those written in the file
        n_scripts = (run_dir / "tract.html").read_text(encoding="utf-8").count("<script")
        assert view.evaluate("() => document.querySelectorAll('script').length") == n_scripts
        legend = view.page.locator(".equity-legend")
        assert legend.is_visible()
        assert "Units: index 0-100, higher = more need" in legend.inner_text()
        assert len(view.page.locator(".equity-legend li").all()) >= 5
        # the title shows the literal string too; sources keep their markup-like text as text
        assert XSS in view.page.locator(".equity-title h1").inner_text()
        sources = view.page.locator(".equity-sources")
        assert sources.get_attribute("open") is not None  # three sources: shown open
        assert "US Census Bureau, ACS <5-year> (public domain)" in sources.inner_text()
        # candidate popup: rank, scores and the explanation, as text
        view.page.locator(".equity-marker", has_text="1").first.click()
        popup = view.page.locator(".leaflet-popup-content")
        popup.wait_for(state="visible")
        content = popup.inner_text()
        assert "#1" in content and "Combined score" in content
        assert "High need <script>alert(2)</script>" in content
        view.page.wait_for_timeout(100)
        assert view.dialogs == []
        assert view.console_errors == [] and view.page_errors == []


@pytest.mark.browser
@needs_browser
def test_candidates_table_sorts(run_dir, browser):
    with open_page(run_dir / "candidates.html", browser=browser, ready=None) as view:
        page = view.page
        first = lambda: page.locator("tbody tr").first.locator("td").first.inner_text()  # noqa: E731
        assert first() == "1"
        page.get_by_role("button", name="Rank").click()
        assert page.locator("th", has_text="Rank").get_attribute("aria-sort") == "descending"
        assert first() == "3"
        assert "descending" in page.locator("#sort-status").inner_text()
        assert view.console_errors == [] and view.external_requests == []


@pytest.mark.browser
@pytest.mark.slow
@needs_browser
def test_fifty_thousand_polygons_render(tmp_path, browser):
    grid = level_table(50_000, "street", step=0.002)
    m = maps.choropleth(grid, "equity_index", reliability_column="reliability")
    path = maps.save_map(m, tmp_path / "big.html")
    with open_page(path, browser=browser) as view:
        assert view.rendered() == view.feature_counts() == {"equity_index": 50_000}
        assert view.console_errors == [] and view.external_requests == []


# --------------------------------------------------------------------------- real data


def read_us_usage(shared: Path) -> gpd.GeoDataFrame:
    usage = pd.read_csv(
        shared / "broadband" / "microsoft_broadband_data_2020October.csv",
        dtype=str,
        na_values=[" -   ", "-"],
    )
    usage.columns = usage.columns.str.strip()
    usage["GEOID"] = usage["COUNTY ID"].str.strip().str.zfill(5)
    usage["broadband_usage"] = pd.to_numeric(usage["BROADBAND USAGE"].str.strip(), errors="coerce")
    counties = gpd.read_file(shared / "boundaries" / "us" / "cb_2018_us_county_20m.shp").to_crs(
        4326
    )
    out = counties.merge(usage[["GEOID", "broadband_usage"]], on="GEOID", how="left")
    out["NAME"] = out["NAME"] + " (" + out["GEOID"] + ")"
    return out


def read_va_tracts(shared: Path) -> gpd.GeoDataFrame:
    acs = pd.read_csv(
        shared / "acs" / "acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv", dtype={"GEOID": str}
    )
    cols = ["B28002_001E", "B28002_001M", "B28002_013E", "B28002_013M"]
    acs[cols] = acs[cols].where(acs[cols] >= 0)
    acs["tract"] = acs["GEOID"].str[:11]
    sq = acs[["B28002_001M", "B28002_013M"]] ** 2
    sq["tract"] = acs["tract"]
    sums = acs.groupby("tract")[["B28002_001E", "B28002_013E"]].sum()
    moes = np.sqrt(sq.groupby("tract").sum())
    t = pd.DataFrame(
        {
            "hh_internet_universe": sums["B28002_001E"],
            "hh_no_internet": sums["B28002_013E"],
            "moe_hh_internet_universe": moes["B28002_001M"],
            "moe_hh_no_internet": moes["B28002_013M"],
        }
    )
    p = t["hh_no_internet"] / t["hh_internet_universe"].where(t["hh_internet_universe"] > 0)
    # Census proportion MOE (falls back to the ratio formula when the radicand is negative)
    rad = t["moe_hh_no_internet"] ** 2 - p**2 * t["moe_hh_internet_universe"] ** 2
    rad = rad.where(
        rad >= 0, t["moe_hh_no_internet"] ** 2 + p**2 * t["moe_hh_internet_universe"] ** 2
    )
    t["share_no_internet"] = p
    t["moe_share_no_internet"] = np.sqrt(rad) / t["hh_internet_universe"]
    cv = (t["moe_share_no_internet"] / 1.645) / p
    t["reliability"] = np.select([cv <= 0.15, cv <= 0.30], ["high", "medium"], "low")
    t.loc[p.isna(), "reliability"] = "low"
    t["share_no_internet_lo"] = (p - t["moe_share_no_internet"]).clip(lower=0)
    t["share_no_internet_hi"] = (p + t["moe_share_no_internet"]).clip(upper=1)
    tracts = gpd.read_file(shared / "boundaries" / "va" / "cb_2020_51_tract_500k.shp").to_crs(4326)
    out = tracts.merge(t, left_on="GEOID", right_index=True, how="left")
    out["NAME"] = out["NAMELSAD"] + ", " + out["NAMELSADCO"]
    return out


@pytest.mark.shared_data
@pytest.mark.browser
@needs_browser
def test_us_county_broadband_usage_map(shared_data, tmp_path, browser):
    counties = read_us_usage(shared_data)
    assert len(counties) == 3220
    m = maps.choropleth(
        counties,
        "broadband_usage",
        palette="PuBu",
        legend_title="Broadband usage (Microsoft, Oct 2020)",
        attribution=[
            "Microsoft USBroadbandUsagePercentages (O-UDA v1.0)",
            "US Census Bureau cartographic boundaries (public domain)",
        ],
        title="Share of people using the internet at broadband speed",
        data_date="October 2020",
    )
    path = maps.save_map(m, tmp_path / "us_county_usage.html")
    size = path.stat().st_size
    assert size <= US_BUDGET, size
    with open_page(path, browser=browser) as view:
        counts = view.feature_counts()
        assert counts == {"Broadband usage (Microsoft, Oct 2020)": 3220}
        assert view.rendered() == counts
        assert view.console_errors == [] and view.external_requests == []
        sources = view.page.locator(".equity-sources")
        assert sources.is_visible() and "O-UDA v1.0" in sources.inner_text()


@pytest.mark.shared_data
@pytest.mark.browser
@needs_browser
def test_virginia_tract_no_internet_map(shared_data, tmp_path, browser):
    tracts = read_va_tracts(shared_data)
    assert len(tracts) == 2186
    m = maps.choropleth(
        tracts,
        "share_no_internet",
        legend_title="Households without internet",
        reliability_column="reliability",
        tooltip_columns=["hh_no_internet", "hh_internet_universe"],
        attribution=["US Census Bureau, ACS 2017-2021 5-year B28002 (public domain)"],
        title="Virginia: households without internet access, by tract",
        data_date="ACS 2017-2021",
    )
    path = maps.save_map(m, tmp_path / "va_tract_no_internet.html")
    size = path.stat().st_size
    assert size <= STATE_TRACT_BUDGET, size
    with open_page(path, browser=browser) as view:
        counts = view.feature_counts()
        assert counts == {"Households without internet": 2186}
        assert view.rendered() == counts
        text = view.hover_feature("Households without internet", 0)
        assert "Households without internet [90% interval]" in text and "Census Tract" in text
        assert view.console_errors == [] and view.external_requests == []


def test_run_maps_caps_huge_levels_to_greatest_need(tmp_path):
    table = level_table(400, "street", step=0.002)
    table.loc[5, "households"] = 0  # nobody lives there: not drawn when capping
    paths = maps.run_maps(
        {"street": table}, None, tmp_path, provenance=[], title="t", png=False, max_features=100
    )
    text = paths[0].read_text(encoding="utf-8")
    assert "showing the 100 of 400 places of greatest need" in text
    kept = maps._cap_features(table, 100)
    assert len(kept) == 100 and 5 not in kept.index
    assert kept["rank"].max() < table.loc[table["households"] > 0, "rank"].nsmallest(101).iloc[-1]
