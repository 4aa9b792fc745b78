"""Tests of equity.maps.streetmap: zoom bands in Chromium, hover names, coarse band counts."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from _browser import launch, open_page, require_chromium

from equity import maps
from equity.geographies.street import street_level
from equity.maps.streetmap import coarse_band


@pytest.fixture(scope="module")
def street_table() -> gpd.GeoDataFrame:
    """A street level over four 0.06-degree block groups (two counties), with an index."""
    rng = np.random.default_rng(4)
    ids = ["510010001001", "510010001002", "510030002001", "510030002002"]
    geoms = [
        shapely.box(
            -77 + 0.06 * (i % 2),
            38 + 0.06 * (i // 2),
            -76.94 + 0.06 * (i % 2),
            38.06 + 0.06 * (i // 2),
        )
        for i in range(4)
    ]
    bg = gpd.GeoDataFrame(
        {
            "GEOID": ids,
            "households": [4000.0, 300.0, 2500.0, 60.0],
            "hh_no_internet": [400.0, 90.0, 200.0, 20.0],
        },
        geometry=geoms,
        crs=4326,
    )
    units, _ = street_level(bg, counts=["households", "hh_no_internet"], min_households=5)
    ranked = units["ranked"].to_numpy()
    units["equity_index"] = np.where(ranked, rng.uniform(0, 100, len(units)), np.nan)
    units["rank"] = pd.Series(units["equity_index"]).rank(ascending=False)
    county = np.where(units["county_GEOID"] == "51001", "Accomack County", "Albemarle County")
    units["NAME"] = [f"Town {i % 7}, {c}" for i, c in enumerate(county)]
    return units


def test_coarse_band_moves_households_as_counts(street_table) -> None:
    for res in (6, 7):
        band = coarse_band(street_table, res)
        assert band["households"].sum() == pytest.approx(street_table["households"].sum())
        assert band["GEOID"].is_unique
        top = band["households_top_need"].sum()
        ranked = street_table[street_table["ranked"]]
        cut = np.quantile(ranked["equity_index"], 0.8)
        assert top == pytest.approx(ranked.loc[ranked["equity_index"] >= cut, "households"].sum())
        assert band["share_households_top_need"].dropna().between(0, 1).all()


@pytest.fixture(scope="module")
def browser():
    require_chromium()
    with launch() as b:
        yield b


@pytest.mark.slow
def test_street_map_bands_by_zoom_and_hover_names_county(street_table, tmp_path, browser) -> None:
    files = maps.run_maps(
        {"street": street_table}, None, tmp_path, provenance=[], title="Street test"
    )
    page = tmp_path / "street.html"
    assert page in files and (tmp_path / "street.png") in files
    with open_page(page, browser=browser) as view:
        assert view.console_errors == [] and view.page_errors == [] and view.external_requests == []
        names = {
            "coarse": "Highest-need households (H3 resolution 6)",
            "mid": "Highest-need households (H3 resolution 7)",
            "fine": "Equity index (street cells)",
        }
        # state zoom (this small region opens closer in: a state opens at zoom 6-8)
        view.evaluate("equity.maps[0].setZoom(8, {animate: false})")
        view.page.wait_for_timeout(200)
        drawn = view.rendered()
        shown = view.evaluate("equity.streetBands.current()")
        assert shown == names["coarse"]
        assert drawn[shown] > 0 and drawn.get(names["fine"], 0) == 0
        # zoom in on a ranked cell: the street cells are drawn, the coarse band is gone
        view.evaluate(
            """() => { const m = equity.maps[0], d = equity.streetBands.bands[2].data;
                const f = d.fc.features.find(f => f.properties.c.v >= 0);
                const r = f.geometry.coordinates[0][0];
                let x = 0, y = 0; r.forEach(p => { x += p[0]; y += p[1]; });
                m.setView([y / r.length, x / r.length], 14, {animate: false}); }"""
        )
        view.page.wait_for_timeout(200)
        assert view.evaluate("equity.streetBands.current()") == names["fine"]
        drawn = view.rendered()
        assert drawn[names["fine"]] > 0 and drawn.get(names["coarse"], 0) == 0
        legend = view.page.locator(".equity-legend").inner_text()
        assert "Equity index (street cells)" in legend
        text = view.hover_feature(names["fine"], _on_screen(view, names["fine"]))
        assert "County" in text and "Equity index" in text
        assert not any(
            len(w) == 15 and all(c in "0123456789abcdef" for c in w) for w in text.split()
        )
        # back out to state zoom: the coarse band again
        view.evaluate("equity.maps[0].setZoom(7, {animate: false})")
        view.page.wait_for_timeout(200)
        assert view.evaluate("equity.streetBands.current()") == names["coarse"]
        assert view.rendered()[names["coarse"]] > 0


def _on_screen(view, layer: str) -> int:
    return view.evaluate(
        """(name) => { const rec = equity.layers[name], b = rec.map.getBounds();
            const ls = rec.layer.getLayers();
            for (let i = 0; i < ls.length; i++) {
                if (ls[i].feature.properties.c.v >= 0 && b.contains(ls[i].getCenter())) return i; }
            return 0; }""",
        layer,
    )
