"""Benchmark of the partner layer, readiness with its suggested partner, and the geocoder cache.

1. The partner layer on real files: every IMLS outlet of the nation (FY2019) and the IRS
   nonprofits of five states, placed at ZIP centres, duplicates merged.
2. Readiness and the suggested partner for the 3,142 real county centroids: the sparse
   radius pairs (k-d tree, what ``rank_candidates`` does) against the straightforward dense
   haversine matrix of every county x every partner (the reference), same answers.
3. The geocoder against a local stand-in of the Census batch service: 20,000 addresses in two
   batches of 10,000, then the rerun from the per-address cache.

Run (the real files beside the project, ``../shared/data``)::

    python benchmarks/bench_partners.py
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from equity.distance import haversine_km
from equity.placement import PlacementOptions
from equity.placement.organisations import build_partners
from equity.placement.partner import PartnerPairs, distance_decay, host_scores
from equity.sources import read_boundaries, read_libraries, read_nonprofits, read_zip_centroids
from equity.sources.geocode import geocode_addresses

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def _timed(label: str, func, *args, memory: bool = True, **kwargs):  # type: ignore[no-untyped-def]
    """Time one call; with `memory`, call again under tracemalloc for the peak (it slows)."""
    t0 = time.perf_counter()
    out = func(*args, **kwargs)
    seconds = time.perf_counter() - t0
    peak = ""
    if memory:
        tracemalloc.start()
        func(*args, **kwargs)
        peak = f", peak {tracemalloc.get_traced_memory()[1] / 2**20:.0f} MiB (Python allocations)"
        tracemalloc.stop()
    print(f"{label}: {seconds:.2f} s{peak}")
    return out, seconds


def layer(data: Path):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        zips = read_zip_centroids(data / "boundaries/us/census_centroids_zctas_2018.csv")
    libs = read_libraries(data / "anchors/imls_pls_fy19_outlet_pud19i.csv")
    npo = [
        read_nonprofits(data / f"business/irs_eo/eo_{s}.csv")
        for s in ("ak", "de", "hi", "vt", "wv")
    ]
    built, _ = _timed(
        f"partner layer ({len(libs):,} outlets + {sum(map(len, npo)):,} nonprofits)",
        build_partners,
        libraries=libs,
        nonprofits=npo,
        zip_centroids=zips,
    )
    print("  " + built.summary())
    return built


def readiness(data: Path, partners) -> None:  # type: ignore[no-untyped-def]
    counties = read_boundaries(data / "boundaries/us/cb_2018_us_county_20m.shp")
    cent = counties.to_crs(6933).centroid.to_crs(4326)
    xy = np.column_stack([cent.x, cent.y])
    pts = np.column_stack([partners.geometry.x, partners.geometry.y])
    opts = PlacementOptions(radius_km=25.0)
    table = pd.DataFrame(partners.drop(columns="geometry"))
    kind_w = np.array([opts.anchor_weight(k) for k in table["kind"]])

    def sparse() -> tuple[np.ndarray, np.ndarray]:
        from equity.distance import pairs_within_km

        i, j = pairs_within_km(xy, pts, opts.radius_km)
        km = haversine_km(xy[i, 0], xy[i, 1], pts[j, 0], pts[j, 1])
        weighted = np.zeros(len(xy))
        np.add.at(weighted, i, kind_w[j] * distance_decay(km, opts.radius_km, opts.decay))
        pairs = PartnerPairs(i, j, km)
        score = host_scores(
            table,
            pairs,
            radius_km=opts.radius_km,
            decay=opts.decay,
            kind_weight=opts.anchor_weight,
            listed_bonus=opts.listed_bonus,
        )
        best = np.full(len(xy), -np.inf)
        np.maximum.at(best, i, score)
        return weighted, best

    def dense() -> tuple[np.ndarray, np.ndarray]:
        d = haversine_km(xy[:, None, 0], xy[:, None, 1], pts[None, :, 0], pts[None, :, 1])
        within = d <= opts.radius_km
        w = np.where(within, kind_w * distance_decay(d, opts.radius_km, opts.decay), 0.0)
        pairs = PartnerPairs(*np.nonzero(within), d[within])
        score = host_scores(
            table,
            pairs,
            radius_km=opts.radius_km,
            decay=opts.decay,
            kind_weight=opts.anchor_weight,
            listed_bonus=opts.listed_bonus,
        )
        best = np.full(len(xy), -np.inf)
        np.maximum.at(best, pairs.i, score)
        return w.sum(axis=1), best

    label = f"{len(xy):,} counties x {len(pts):,} partners"
    (a, sa), ts = _timed(f"readiness + best host, sparse pairs ({label})", sparse)
    (b, sb), td = _timed(f"readiness + best host, dense matrix ({label})", dense)
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(sa, sb)
    print(f"  same answers; dense / sparse time: {td / ts:.1f}x")


def geocoder(n: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from _census_geocoder import PATH, FakeCensusGeocoder
    from _httpserver import LocalServer

    rng = np.random.default_rng(1)
    streets = [f"{k} Main St" for k in range(n)]
    fake = FakeCensusGeocoder(
        matches={
            s: (float(x), float(y))
            for s, x, y in zip(
                streets[: n * 9 // 10],
                rng.uniform(-100, -80, n),
                rng.uniform(30, 45, n),
                strict=False,
            )
        }
    )
    frame = pd.DataFrame({"street": streets, "city": "Town", "state": "VA", "zip": "24210"})
    with (
        tempfile.TemporaryDirectory() as folder,
        LocalServer({PATH: fake}, max_requests=50) as server,
    ):
        first, t1 = _timed(
            f"geocoder, {n:,} addresses in batches of 10,000 (local stand-in)",
            geocode_addresses,
            frame,
            url=server.url + PATH,
            cache_folder=folder,
            memory=False,
        )
        again, t2 = _timed(
            "geocoder rerun from the cache",
            geocode_addresses,
            frame,
            url=server.url + PATH,
            cache_folder=folder,
            memory=False,
        )
        size = sum(p.stat().st_size for p in Path(folder).rglob("*.sqlite")) / 2**20
    print(
        f"  {first.attrs['n_match']:,} matched, {first.attrs['n_no_match']:,} no match; "
        f"rerun sent {again.attrs['n_sent']} ({t1 / t2:.0f}x faster); cache {size:.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--addresses", type=int, default=20_000)
    args = parser.parse_args()
    built = layer(args.data)
    readiness(args.data, built.partners)
    geocoder(args.addresses)


if __name__ == "__main__":
    main()
