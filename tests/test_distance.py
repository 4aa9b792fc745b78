"""Tests of equity.distance: haversine, chords and the k-d tree queries on the sphere."""

from __future__ import annotations

import geopandas as gpd
import numpy as np

from equity.distance import (
    EARTH_RADIUS_KM,
    chord_to_km,
    haversine_km,
    km_to_chord,
    nearest_km,
    pairs_within_km,
)


def test_chord_and_km_are_inverse():
    km = np.array([0.0, 1e-6, 1.0, 25.0, 5000.0, np.pi * EARTH_RADIUS_KM])
    np.testing.assert_allclose(chord_to_km(km_to_chord(km)), km, rtol=1e-12, atol=1e-9)
    assert km_to_chord(1e9) == 2.0 and km_to_chord(-5.0) == 0.0


def test_pairs_within_km_equal_the_haversine_and_are_sorted():
    rng = np.random.default_rng(0)
    o = np.column_stack([rng.uniform(-80, -76, 200), rng.uniform(36, 39, 200)])
    t = np.column_stack([rng.uniform(-80, -76, 300), rng.uniform(36, 39, 300)])
    d = haversine_km(o[:, None, 0], o[:, None, 1], t[None, :, 0], t[None, :, 1])
    for r in (0.0, 30.0, float(d[4, 7]), float(d.max())):
        i, j = pairs_within_km(o, t, r)
        expected = np.nonzero(d <= r)  # row-major: sorted by i, then j
        np.testing.assert_array_equal(i, expected[0])
        np.testing.assert_array_equal(j, expected[1])


def test_pairs_within_km_edge_cases():
    o = np.array([[10.0, 20.0], [np.nan, 0.0], [-170.0, -20.0]])
    t = np.array([[10.0, 20.0], [-170.0, -20.0], [370.0, 20.0]])  # same, antipode, same again
    half = float(haversine_km(10.0, 20.0, -170.0, -20.0))
    i, j = pairs_within_km(o, t, 0.0)
    assert list(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 0), (2, 1)] + (
        [(0, 2)] if haversine_km(10.0, 20.0, 370.0, 20.0) <= 0 else []
    )
    i, j = pairs_within_km(o, t, half)  # the antipode is exactly at the radius
    assert (0, 1) in set(zip(i.tolist(), j.tolist(), strict=True))
    assert 1 not in i  # a point without coordinates is in no pair
    for r in (-1.0, float("nan")):
        assert len(pairs_within_km(o, t, r)[0]) == 0
    assert len(pairs_within_km(np.zeros((0, 2)), t, 10.0)[0]) == 0


def test_nearest_km_is_the_smallest_haversine():
    rng = np.random.default_rng(1)
    a = gpd.GeoSeries(gpd.points_from_xy(rng.uniform(-80, -76, 50), rng.uniform(36, 39, 50)))
    b = gpd.GeoSeries(gpd.points_from_xy(rng.uniform(-80, -76, 70), rng.uniform(36, 39, 70)))
    d = haversine_km(
        a.x.to_numpy()[:, None], a.y.to_numpy()[:, None], b.x.to_numpy(), b.y.to_numpy()
    )
    np.testing.assert_allclose(nearest_km(a, b), d.min(axis=1), rtol=1e-9)
    assert np.isnan(nearest_km(a, b.iloc[:0])).all()
