"""Benchmark of equity.maps: file sizes and load times in headless Chromium.

Measures, in one run:

- a 50,000-polygon layer written by :func:`equity.maps.choropleth` (one JavaScript style
  function reading feature properties, canvas renderer) against the reference, folium's own
  ``GeoJson`` with a per-feature ``style_function`` (which folium turns into a JavaScript
  switch over every feature) and its default SVG renderer;
- the real-data maps of the issue: US counties (Microsoft broadband usage, budget 2.5 MB)
  and Virginia tracts (share of households without internet, budget 1.5 MB);
- PNG writing time.

Run: ``python benchmarks/bench_maps.py [--n 50000] [--skip-reference]``. Needs Chromium at
/usr/bin/chromium (or ``EQUITY_CHROMIUM``) and ../shared/data for the real maps.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import folium  # noqa: E402
from _browser import launch, open_page  # noqa: E402
from test_maps import level_table, read_us_usage, read_va_tracts  # noqa: E402

from equity import maps  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"


def _load(path: Path, browser, ready: str | None = None) -> tuple[float, dict, int]:
    kw = {} if ready is None else {"ready": ready}
    with open_page(path, browser=browser, timeout_ms=120_000, **kw) as view:
        rendered = view.rendered()
        errors = len(view.console_errors) + len(view.page_errors) + len(view.external_requests)
        return view.load_seconds, rendered, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=50_000, help="polygons in the big layer")
    parser.add_argument(
        "--skip-reference", action="store_true", help="skip folium's style_function map"
    )
    args = parser.parse_args()
    out = Path(tempfile.mkdtemp(prefix="bench-maps-"))
    rows: list[tuple[str, int, float, str]] = []
    with launch() as browser:
        grid = level_table(args.n, "street", step=0.002)
        t = time.perf_counter()
        m = maps.choropleth(grid, "equity_index", reliability_column="reliability")
        path = maps.save_map(m, out / "big.html")
        build = time.perf_counter() - t
        secs, rendered, errors = _load(path, browser)
        rows.append(
            (
                f"equity {args.n:,} polygons (build {build:.1f} s)",
                path.stat().st_size,
                secs,
                f"rendered {rendered}, problems {errors}",
            )
        )

        if not args.skip_reference:
            # Reference: folium GeoJson + per-feature style_function, folium's CDN page (network
            # blocked, so Leaflet is inlined here to measure the layer, not the failed CDN).
            ref = folium.Map(tiles=None, location=[38.2, -76.8], zoom_start=10)
            colors = maps._palette_colors(None, 5)
            classes, _ = maps._classify(grid["equity_index"], scheme="quantiles", k=5)
            ref_grid = grid[["NAME", "equity_index", "geometry"]].assign(_c=classes)
            folium.GeoJson(
                ref_grid,
                style_function=lambda f: {
                    "fillColor": colors[f["properties"]["_c"]],
                    "weight": 0.2,
                    "fillOpacity": 0.8,
                },
                tooltip=folium.GeoJsonTooltip(["NAME", "equity_index"]),
            ).add_to(ref)
            t = time.perf_counter()
            text = ref.get_root().render()
            from equity.maps.runtime import leaflet_js

            text = text.replace(
                '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>',
                f"<script>{leaflet_js()}</script>",
            )
            ref_path = out / "reference.html"
            ref_path.write_text(text, encoding="utf-8")
            build = time.perf_counter() - t
            ready = "() => document.querySelectorAll('path.leaflet-interactive').length > 0"
            secs, rendered, errors = _load(ref_path, browser, ready=ready)
            rows.append(
                (
                    f"folium style_function {args.n:,} (build {build:.1f} s)",
                    ref_path.stat().st_size,
                    secs,
                    f"paths {rendered}, problems {errors} (jQuery etc. blocked)",
                )
            )

        if (SHARED / "SOURCES.md").is_file():
            counties = read_us_usage(SHARED)
            m = maps.choropleth(
                counties,
                "broadband_usage",
                palette="PuBu",
                title="US broadband usage",
                attribution=["Microsoft (O-UDA v1.0)"],
            )
            path = maps.save_map(m, out / "us_county_usage.html")
            secs, rendered, errors = _load(path, browser)
            rows.append(
                (
                    "US counties, broadband usage (budget 2.5 MB)",
                    path.stat().st_size,
                    secs,
                    f"rendered {rendered}, problems {errors}",
                )
            )
            tracts = read_va_tracts(SHARED)
            m = maps.choropleth(
                tracts,
                "share_no_internet",
                reliability_column="reliability",
                title="VA no internet",
            )
            path = maps.save_map(m, out / "va_tract_no_internet.html")
            secs, rendered, errors = _load(path, browser)
            rows.append(
                (
                    "Virginia tracts, no internet (budget 1.5 MB)",
                    path.stat().st_size,
                    secs,
                    f"rendered {rendered}, problems {errors}",
                )
            )
            t = time.perf_counter()
            maps.write_png(
                tracts,
                "share_no_internet",
                out / "va.png",
                reliability_column="reliability",
                title="VA",
            )
            rows.append(
                (
                    "PNG, Virginia tracts",
                    (out / "va.png").stat().st_size,
                    time.perf_counter() - t,
                    "write time",
                )
            )
        t = time.perf_counter()
        maps.write_png(grid, "equity_index", out / "big.png", reliability_column="reliability")
        rows.append(
            (
                f"PNG, {args.n:,} polygons",
                (out / "big.png").stat().st_size,
                time.perf_counter() - t,
                "write time",
            )
        )

    print(f"{'map':<58} {'bytes':>11} {'seconds':>8}  notes")
    for name, size, secs, note in rows:
        print(f"{name:<58} {size:>11,} {secs:>8.2f}  {note}")
    print(f"files in {out}")


if __name__ == "__main__":
    main()


# --------------------------------------------------------------------------- references for run.py

#: Leaflet's CDN script in folium's pages: inlined for the measurements (the network is
#: blocked, so a CDN page would measure a failed download instead of the layer).
_LEAFLET_CDN = '<script src="https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"></script>'
#: Ready when the SVG layer has drawn its paths (folium and geopandas.explore pages).
PATHS_READY = "() => document.querySelectorAll('path.leaflet-interactive').length > 0"


def _inline_leaflet(m: folium.Map, path: Path) -> Path:
    from equity.maps.runtime import leaflet_js

    text = m.get_root().render().replace(_LEAFLET_CDN, f"<script>{leaflet_js()}</script>")
    path.write_text(text, encoding="utf-8")
    return path


def ours_file(grid, path: Path) -> Path:
    """``equity.maps.choropleth`` + ``save_map`` of `grid`'s ``equity_index``."""
    m = maps.choropleth(grid, "equity_index", reliability_column="reliability")
    return maps.save_map(m, path)


def folium_file(grid, path: Path) -> Path:
    """folium's own ``GeoJson`` with a per-feature ``style_function`` and a tooltip."""
    colors = maps._palette_colors(None, 5)
    classes, _ = maps._classify(grid["equity_index"], scheme="quantiles", k=5)
    table = grid[["NAME", "equity_index", "geometry"]].assign(_c=classes)
    x0, y0, x1, y1 = grid.total_bounds
    m = folium.Map(tiles=None, location=[(y0 + y1) / 2, (x0 + x1) / 2], zoom_start=10)
    folium.GeoJson(
        table,
        style_function=lambda f: {
            "fillColor": colors[f["properties"]["_c"]],
            "weight": 0.2,
            "fillOpacity": 0.8,
        },
        tooltip=folium.GeoJsonTooltip(["NAME", "equity_index"]),
    ).add_to(m)
    return _inline_leaflet(m, path)


def explore_file(grid, path: Path) -> Path:
    """``GeoDataFrame.explore`` (quantile classes, tooltip), as a geopandas user writes it."""
    m = grid[["NAME", "equity_index", "geometry"]].explore(
        column="equity_index", scheme="quantiles", k=5, tiles=None, tooltip=["NAME", "equity_index"]
    )
    return _inline_leaflet(m, path)


def load_in_chromium(path: Path, *, ready: str | None = None) -> float:
    """Seconds from navigation to the first paint of the layer in headless Chromium."""
    with launch() as browser:
        secs, _, _ = _load(path, browser, ready=ready)
    return secs
