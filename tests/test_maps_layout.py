"""Maps people can read and reach: panels off the selected sites, popups on screen, a keyboard
table linked to the map, basemap tiles only when online, names offline, attributions in view.

Browser tests run headless Chromium (tests/_browser.py). Bounding boxes are measured by the
browser and compared here, independently of the page's own layout code. The synthetic maps
of tests/test_maps.py are quick; the sample region's and the national default's maps come from
real runs (slow).
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest
from _browser import open_page, require_chromium
from test_maps import browser, candidate_table, level_table, run_dir  # noqa: F401 (fixtures)

from equity import maps
from equity.maps.png import _fit_title, _new_figure

TILE_HOST = re.compile(r"^https://[a-d]\.basemaps\.cartocdn\.com/")
# a 1x1 PNG standing in for a tile server's answer
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module", autouse=True)
def _chromium() -> None:
    require_chromium()


# --------------------------------------------------------------------------- helpers


def _intersects(a: dict, b: dict, gap: float = 0.0) -> bool:
    return (
        a["x"] < b["x"] + b["width"] + gap
        and b["x"] < a["x"] + a["width"] + gap
        and a["y"] < b["y"] + b["height"] + gap
        and b["y"] < a["y"] + a["height"] + gap
    )


def _visible_boxes(page, selector: str) -> list[dict]:
    boxes = []
    for loc in page.locator(selector).all():
        if loc.is_visible() and (box := loc.bounding_box()) and box["width"] and box["height"]:
            boxes.append(box)
    return boxes


def assert_no_panel_covers_a_selected_site(view, viewport: tuple[int, int]) -> int:
    """Every visible control (title, legend, layers, sources, zoom, scale, attribution) against
    every selected site's marker; returns the number of sites checked."""
    page = view.page
    panels = _visible_boxes(page, ".leaflet-control")
    sites = _visible_boxes(page, ".leaflet-marker-icon:has(.equity-selected)")
    assert panels and sites
    for s in sites:
        assert s["x"] >= 0 and s["x"] + s["width"] <= viewport[0], s
        assert s["y"] >= 0 and s["y"] + s["height"] <= viewport[1], s
        for p in panels:
            assert not _intersects(s, p), (s, p)
    return len(sites)


def assert_popups_fit(view, viewport: tuple[int, int]) -> None:
    """Open every selected site's popup; it lies inside the window and above every panel."""
    page = view.page
    n = view.evaluate(
        "() => { let n = 0; window.equity.sites.forEach(r => r.layer.eachLayer(() => n++)); return n; }"
    )
    assert n > 0
    for i in range(n):
        view.evaluate(
            """(i) => { const ms = []; window.equity.sites.forEach(r => r.layer.eachLayer(m => ms.push(m)));
                         ms[i].openPopup(); }""",
            i,
        )
        page.wait_for_timeout(400)  # auto-pan
        box = page.locator(".leaflet-popup").first.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["y"] >= 0, (i, box)
        assert box["x"] + box["width"] <= viewport[0] and box["y"] + box["height"] <= viewport[1], (
            i,
            box,
        )
        # what is at the popup's centre is the popup itself, not a panel
        hit = view.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y).closest('.leaflet-popup')",
            [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
        )
        assert hit, i
        view.evaluate("() => { window.equity.maps[0].closePopup(); }")


# --------------------------------------------------------------------------- synthetic maps


@pytest.mark.parametrize("level", ["street", "tract", "town", "county"])
@pytest.mark.parametrize("viewport", [(1200, 800), (760, 560)])
def test_panels_never_cover_selected_sites(run_dir, browser, level, viewport):  # noqa: F811
    with open_page(run_dir / f"{level}.html", browser=browser, viewport=viewport) as view:
        view.page.wait_for_timeout(100)
        assert assert_no_panel_covers_a_selected_site(view, viewport) == 1
        assert view.page_errors == [] and view.console_errors == []


def test_selected_sites_and_popups_sit_above_the_panels(run_dir, browser):  # noqa: F811
    with open_page(run_dir / "tract.html", browser=browser) as view:
        page = view.page
        # move the map so that the selected site lies under the title panel
        title = page.locator(".equity-title").bounding_box()
        target = [title["x"] + 40, title["y"] + title["height"] / 2]
        view.evaluate(
            """([x, y]) => { const map = window.equity.maps[0];
                let m; window.equity.sites[0].layer.eachLayer(l => m = l);
                const p = map.latLngToContainerPoint(m.getLatLng());
                const r = map.getContainer().getBoundingClientRect();
                map.panBy([p.x + r.left - x, p.y + r.top - y], {animate: false}); }""",
            target,
        )
        page.wait_for_timeout(100)
        site = page.locator(".leaflet-marker-icon:has(.equity-selected)").bounding_box()
        assert _intersects(site, title)  # the panel is over the site's place ...
        centre = [site["x"] + site["width"] / 2, site["y"] + site["height"] / 2]
        on_top = view.evaluate(
            "([x, y]) => !!document.elementFromPoint(x, y).closest('.leaflet-marker-icon')", centre
        )
        assert on_top  # ... yet the site is drawn above it
        page.mouse.click(*centre)
        page.locator(".leaflet-popup").wait_for(state="visible")
        assert "#1" in page.locator(".leaflet-popup-content").inner_text()


@pytest.mark.parametrize("viewport", [(1200, 800), (520, 420)])
def test_popups_fit_the_window(run_dir, browser, viewport):  # noqa: F811
    with open_page(run_dir / "county.html", browser=browser, viewport=viewport) as view:
        assert_popups_fit(view, viewport)


def test_keyboard_reaches_the_table_and_the_map_follows(run_dir, browser):  # noqa: F811
    with open_page(run_dir / "tract.html", browser=browser) as view:
        page = view.page
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.textContent") == (
            "Skip to the table of places"
        )
        page.keyboard.press("Enter")
        table = page.locator("#equity-places table")
        assert table.is_visible()
        # a real table: caption, column headers, a row header per place
        assert table.locator("caption").inner_text().startswith("Table of places")
        assert table.locator("thead th[scope=col]").count() >= 4
        seen = set()
        for step in range(3):
            focused = page.evaluate(
                "() => [document.activeElement.className, +document.activeElement.getAttribute('data-i'), document.activeElement.textContent]"
            )
            assert focused[0] == "equity-place"
            i, name = focused[1], focused[2]
            inside = view.evaluate(
                """(i) => { const map = window.equity.maps[0];
                    const b = L.geoJSON(window.equity.layers["Equity index"].layer.getLayers()[i].feature).getBounds();
                    return map.getBounds().contains(b) && b.contains(map.getCenter()); }""",
                i,
            )
            assert inside, (step, name)  # the map shows the focused place, centred on it
            assert page.locator("#equity-live").inner_text().startswith(f"Map shows {name}")
            seen.add(i)
            page.keyboard.press("ArrowDown")
        assert len(seen) == 3
        # rows come greatest need first: the first is the need rank 1
        first = page.locator("#equity-places tbody tr").first.locator("td").all_inner_texts()
        assert "1" in first
        # the title panel's button closes and opens it again
        page.locator(".equity-open-table").click()
        assert not table.is_visible()


def test_basemap_tiles_only_when_online(run_dir, browser):  # noqa: F811
    page_path = run_dir / "county.html"
    # offline: no tile is asked for, every data layer is drawn
    with open_page(page_path, browser=browser) as view:
        assert view.external_requests == []
        assert view.rendered()["Equity index"] == view.feature_counts()["Equity index"] > 0
    # online, the tile host unreachable: tiles are asked for and fail; the data still draw
    with open_page(page_path, browser=browser, offline=False) as view:
        view.page.wait_for_timeout(300)
        assert view.external_requests and all(TILE_HOST.match(u) for u in view.external_requests)
        assert view.rendered()["Equity index"] == view.feature_counts()["Equity index"]
        assert view.page_errors == []
    # online, a stand-in tile server: tiles load under the data, with their attribution
    served: list[str] = []

    def tile(route) -> None:
        served.append(route.request.url)
        route.fulfill(status=200, content_type="image/png", body=PNG)

    with open_page(
        page_path,
        browser=browser,
        offline=False,
        routes={"https://*.basemaps.cartocdn.com/**": tile},
    ) as view:
        view.page.wait_for_function(
            "() => document.querySelectorAll('img.leaflet-tile-loaded').length > 0", timeout=10_000
        )
        assert served and all(TILE_HOST.match(u) for u in served)
        assert view.external_requests == []  # everything else stays blocked; nothing else asked
        attribution = view.page.locator(".leaflet-control-attribution").inner_text()
        assert "OpenStreetMap" in attribution and "CARTO" in attribution
        # the basemap is an overlay a reader can switch off
        view.hide_layer("Basemap (online)")
        assert view.page.locator("img.leaflet-tile").count() == 0


def test_required_attribution_and_warnings_are_in_view(run_dir, browser):  # noqa: F811
    with open_page(run_dir / "town.html", browser=browser, viewport=(900, 600)) as view:
        page = view.page
        attribution = page.locator(".leaflet-control-attribution")
        assert attribution.is_visible()
        box = attribution.bounding_box()
        assert box["y"] + box["height"] <= 600 and box["x"] >= 0
        assert "Ookla" in attribution.inner_text() and "CC BY-NC-SA 4.0" in attribution.inner_text()
        warnings = page.locator(".equity-warnings summary")
        assert warnings.is_visible()
        assert "2 data warnings" in warnings.inner_text()
        warnings.click()
        text = page.locator(".equity-warnings").inner_text()
        assert "No data for the Education pillar" in text and "stale" in text
        # panels fold to their button and unfold again
        legend = page.locator(".equity-legend")
        legend.locator(".equity-fold").click()
        assert not legend.locator("h2").first.is_visible()
        legend.locator(".equity-fold").click()
        assert legend.locator("h2").first.is_visible()


def test_place_names_offline_never_overlap(run_dir, browser):  # noqa: F811
    with open_page(run_dir / "town.html", browser=browser) as view:
        labels = _visible_boxes(view.page, ".equity-label")
        assert len(labels) >= 10
        others = _visible_boxes(view.page, ".leaflet-control") + _visible_boxes(
            view.page, ".leaflet-marker-icon:has(.equity-selected)"
        )
        for i, a in enumerate(labels):
            assert not any(_intersects(a, b) for b in labels[i + 1 :])
            assert not any(_intersects(a, b) for b in others)
        names = view.page.locator(".equity-label").all_inner_texts()
        assert set(names) <= set(level_table(60, "town", seed=3, step=0.03)["NAME"])
        view.hide_layer("Place names")
        assert view.page.locator(".equity-label").count() == 0


# --------------------------------------------------------------------------- candidates page


def test_candidates_page_shows_selected_runner_up_chance_and_reliability(tmp_path):
    level = level_table(60, "town", seed=3, step=0.03)
    cand = candidate_table(level)
    cand["p_top1"] = [0.42, 0.3, 0.1]
    cand["runner_up_place"] = ["Place 9", None, None]
    cand["close_call"] = [True, False, False]
    path = maps.write_candidates_table(cand, tmp_path / "c.html", title="T")
    text = path.read_text(encoding="utf-8")
    for heading in (
        "Selected",
        "Runner-up",
        "Chance of ranking first",
        "Reliability",
        "Close call",
    ):
        assert f'<button type="button">{heading}</button>' in text
    rows = re.findall(r"<tr( class=\"selected\")?>(.*?)</tr>", text, flags=re.S)
    body = [r for r in rows if "<td" in r[1]]
    assert [bool(r[0]) for r in body] == [True, False, False]
    assert ">42%<" in body[0][1] and ">Place 9<" in body[0][1] and ">yes<" in body[0][1]
    # "close call" is a question for selected sites only: blank elsewhere
    assert body[1][1].count('data-value="">') >= 2


# --------------------------------------------------------------------------- PNG


@pytest.mark.parametrize("chars", [20, 140, 400])
def test_png_title_fits_the_figure(chars):
    fig, ax = _new_figure(110)
    title = ("Digital equity index, US counties \u2014 Data: " + "svi ACS 2018-2022, " * 30)[:chars]
    _fit_title(fig, ax, title, note="\u26a0 3 data warnings: see METHODS.md")
    renderer = fig.canvas.get_renderer()
    (text,) = fig.texts
    box = text.get_window_extent(renderer)
    assert box.x0 >= 0 and box.x1 <= fig.bbox.width and box.y1 <= fig.bbox.height
    assert ax.get_window_extent(renderer).y1 <= box.y0  # the map starts below the title


# --------------------------------------------------------------------------- real runs


@pytest.fixture(scope="module")
def sample_maps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from equity import pipeline
    from equity.config import load_config

    out = tmp_path_factory.mktemp("sample-run")
    pipeline.run(load_config(sample=True), out=out, quiet=True)
    return out / "maps"


@pytest.fixture(scope="module")
def national_maps(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from equity import pipeline
    from equity.config import load_config

    out = tmp_path_factory.mktemp("national-run")
    pipeline.run(load_config(), out=out, quiet=True)
    return out / "maps"


@pytest.mark.slow
@pytest.mark.parametrize("level", ["street", "blockgroup", "tract", "town", "county"])
def test_sample_maps_keep_panels_off_selected_sites(sample_maps, browser, level):  # noqa: F811
    with open_page(sample_maps / f"{level}.html", browser=browser) as view:
        view.page.wait_for_timeout(100)
        assert assert_no_panel_covers_a_selected_site(view, (1200, 800)) == 3
        assert_popups_fit(view, (1200, 800))
        assert view.page_errors == [] and view.console_errors == []


@pytest.mark.slow
@pytest.mark.parametrize("viewport", [(1200, 800), (1440, 900)])
def test_national_map_keeps_panels_off_selected_sites(national_maps, browser, viewport):  # noqa: F811
    with open_page(national_maps / "county.html", browser=browser, viewport=viewport) as view:
        view.page.wait_for_timeout(100)
        assert assert_no_panel_covers_a_selected_site(view, viewport) == 51
        assert_popups_fit(view, viewport)
        assert view.page.locator(".equity-warnings summary").is_visible()
        assert view.page_errors == [] and view.console_errors == []
