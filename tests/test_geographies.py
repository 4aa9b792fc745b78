"""Tests of equity.geographies: the package's names, MOE helpers, hierarchy and crosswalks.

Hand-made fixtures (squares with known answers) check exactness; the street grid, Ookla,
polygon and vintage tests live in ``test_geographies_<module>.py``.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _geographies import (
    COUNTS,
    MEDIANS,
    REL,
    make_blockgroups,
    rel_err,
    table_of,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from equity import geographies as geo
from equity.errors import ChoiceError, DataError, SchemaError

# ---------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture
def blockgroups() -> gpd.GeoDataFrame:
    return make_blockgroups()


# ---------------------------------------------------------------------------------------------
# the package


# Names other modules, tests, benchmarks and notebooks import from ``equity.geographies``
# (private helpers included): the package keeps every one of them.
IMPORTED = (
    "_ancillary_mass",
    "_cells_covering",
    "_cells_near",
    "_check_ookla_polygons",
    "_check_street_grid",
    "_hexagons",
    "_hexagons_of",
    "_overlay",
    "_rect_clip_area",
    "_rectangles",
    "_tile_table",
    "AREA_CRS",
    "OOKLA_COLUMNS",
    "OUT_CRS",
    "PIECE_COLUMNS",
    "WEIGHT_TOL",
    "h3_strings",
)


def test_the_package_keeps_every_name_imported_from_it() -> None:
    for name in (*geo.__all__, *IMPORTED):
        value = getattr(geo, name)  # fails for a name the package lost
        if callable(value):  # defined in one of its modules (or _moe), not restated
            assert value.__module__.startswith(("equity.geographies.", "equity._moe")), name
    assert set(geo.__all__) >= {"street_grid", "apply_crosswalk", "build_towns", "LEVELS"}


# ---------------------------------------------------------------------------------------------
# MOE helpers (re-exported from equity._moe)


def test_moe_sum_bounds_and_zero_rule() -> None:
    assert geo.moe_sum([3.0, 4.0]) == 5.0
    parts = np.array([[3.0, 2.0], [4.0, 2.0], [12.0, 2.0]])
    out = geo.moe_sum(parts)
    assert np.allclose(out, [13.0, np.sqrt(12.0)])
    assert (out >= parts.max(axis=0)).all() and (out <= parts.sum(axis=0)).all()
    # Handbook rule: of several zero estimates only the largest MOE counts
    zero_rule = geo.moe_sum([5.0, 7.0, 3.0], estimates=[0.0, 0.0, 10.0])
    assert zero_rule == pytest.approx(np.sqrt(7.0**2 + 3.0**2))
    assert np.isnan(geo.moe_sum([np.nan, 1.0], estimates=[1.0, 0.0]))


def test_moe_proportion_falls_back_to_ratio_formula() -> None:
    # regular case: sqrt(5^2 - 0.2^2 * 10^2) / 100
    assert geo.moe_proportion(20.0, 100.0, 5.0, 10.0) == pytest.approx(np.sqrt(25 - 4) / 100)
    # negative under the root -> ratio formula
    p = 90.0 / 100.0
    assert geo.moe_proportion(90.0, 100.0, 5.0, 30.0) == pytest.approx(
        np.sqrt(25 + p**2 * 900) / 100
    )
    out = geo.moe_proportion(np.array([20.0, 1.0]), np.array([100.0, 0.0]), 5.0, 10.0)
    assert np.isfinite(out[0]) and np.isnan(out[1])
    assert geo.moe_ratio(20.0, 100.0, 5.0, 10.0) == pytest.approx(np.sqrt(25 + 4) / 100)
    assert geo.moe_product(10.0, 0.5, 2.0, 0.1) == pytest.approx(np.sqrt(100 * 0.01 + 0.25 * 4))
    assert geo.moe_weighted_mean([1.0, 3.0], [4.0, 4.0]) == pytest.approx(np.sqrt(1 + 9) * 4 / 4)
    assert geo.se_from_moe(1.645) == pytest.approx(1.0)
    assert geo.moe_from_se(1.0) == pytest.approx(1.645)


@given(
    st.lists(st.floats(0, 1e6), min_size=1, max_size=20),
    st.lists(st.floats(0, 1e4), min_size=1, max_size=20),
)
@settings(max_examples=50, deadline=None)
def test_moe_proportion_is_finite_and_nonnegative(nums: list[float], moes: list[float]) -> None:
    n = min(len(nums), len(moes))
    num = np.asarray(nums[:n])
    den = num + 1.0 + np.asarray(moes[:n])
    out = geo.moe_proportion(num, den, np.asarray(moes[:n]), np.asarray(moes[:n])[::-1])
    assert np.all(np.isfinite(out)) and np.all(out >= 0)


# ---------------------------------------------------------------------------------------------
# hierarchy


def test_parent_geoid_by_prefix_and_errors() -> None:
    s = pd.Series(["510010001001", "020130001002"], index=[7, 9])
    assert geo.parent_geoid(s, "tract").tolist() == ["51001000100", "02013000100"]
    assert geo.parent_geoid(s, "state").index.tolist() == [7, 9]
    assert geo.parent_geoid(s, "county").name == "county_GEOID"
    with pytest.raises(SchemaError, match="numbers"):
        geo.parent_geoid(pd.Series([510010001001]), "tract")
    with pytest.raises(SchemaError, match="coarser"):
        geo.parent_geoid(pd.Series(["51001"]), "tract")
    with pytest.raises(
        ChoiceError, match="unknown level 'zip'; valid: state, county, tract, blockgroup"
    ):
        geo.parent_geoid(s, "zip")
    with pytest.raises(SchemaError, match="digit"):
        geo.parent_geoid(pd.Series(["51001X"]), "county")


def test_aggregate_conserves_and_moe_bounds(blockgroups: gpd.GeoDataFrame) -> None:
    table = table_of(blockgroups)
    for level in ("tract", "county", "state"):
        out = geo.aggregate(table, to=level, counts=COUNTS, medians=MEDIANS)
        for c in COUNTS:
            assert rel_err(out[c].sum(), table[c].sum()) < REL
        parents = geo.parent_geoid(table["GEOID"], level)
        for c in COUNTS:
            m = table[f"moe_{c}"].groupby(parents.to_numpy())
            got = out.set_index("GEOID")[f"moe_{c}"]
            assert (got >= m.max() - 1e-12).all()
            assert (got <= m.sum() + 1e-12).all()
    county = geo.aggregate(table, to="county", counts=COUNTS)
    assert county["GEOID"].tolist() == ["51001", "51003"]
    assert county["state_GEOID"].tolist() == ["51", "51"]
    assert county["households"].tolist() == [515.0, 485.0]
    assert county.loc[0, "moe_households"] == pytest.approx(np.sqrt(30**2 + 12**2 + 60**2 + 20**2))
    # households-weighted mean of medians, missing medians left out
    assert county.loc[0, "median_household_income"] if "median_household_income" in county else True
    med = geo.aggregate(table, to="county", counts=COUNTS, medians=MEDIANS).set_index("GEOID")
    expect = (120 * 50000 + 340 * 70000 + 55 * 40000) / (120 + 340 + 55)
    assert med.loc["51001", "median_household_income"] == pytest.approx(expect)
    expect_moe = np.sqrt((120 * 5000) ** 2 + (340 * 9000) ** 2 + (55 * 7000) ** 2) / 515
    assert med.loc["51001", "moe_median_household_income"] == pytest.approx(expect_moe)


def test_aggregate_twice_equals_once(blockgroups: gpd.GeoDataFrame) -> None:
    table = table_of(blockgroups).assign(
        median_household_income=lambda d: d["median_household_income"].fillna(1.0)
    )
    table["moe_median_household_income"] = table["moe_median_household_income"].fillna(1.0)
    once = geo.aggregate(table, to="county", counts=COUNTS, medians=MEDIANS)
    tracts = geo.aggregate(table, to="tract", counts=COUNTS, medians=MEDIANS)
    twice = geo.aggregate(tracts, to="county", counts=COUNTS, medians=MEDIANS)
    cols = [
        *COUNTS,
        *[f"moe_{c}" for c in COUNTS],
        "median_household_income",
        "moe_median_household_income",
    ]
    pd.testing.assert_frame_equal(once[cols], twice[cols], rtol=1e-12)


@given(
    st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 3),
            st.floats(0, 1e5, allow_subnormal=False),
            st.one_of(st.just(0.0), st.floats(1e-6, 1e3)),  # squares of MOEs below 1e-154 underflow
        ),
        min_size=1,
        max_size=40,
    )
)
@settings(max_examples=40, deadline=None)
def test_aggregate_invariants_property(rows: list[tuple[int, int, float, float]]) -> None:
    table = pd.DataFrame(
        {
            "GEOID": [f"51{c:03d}{t:06d}{i % 10}" for i, (c, t, _, _) in enumerate(rows)],
            "households": [r[2] for r in rows],
            "moe_households": [r[3] for r in rows],
        }
    ).drop_duplicates("GEOID")
    once = geo.aggregate(table, to="county", counts=["households"])
    twice = geo.aggregate(
        geo.aggregate(table, to="tract", counts=["households"]), to="county", counts=["households"]
    )
    assert np.allclose(once["households"], twice["households"], rtol=1e-12)
    assert np.allclose(once["moe_households"], twice["moe_households"], rtol=1e-12)
    assert once["households"].sum() == pytest.approx(table["households"].sum(), rel=1e-12)
    grp = table.groupby(table["GEOID"].str[:5])["moe_households"]
    got = once.set_index("GEOID")["moe_households"]
    assert (got >= grp.max() * (1 - 1e-12)).all() and (got <= grp.sum() * (1 + 1e-12) + 1e-12).all()


def test_aggregate_refuses_mixed_levels_and_missing_columns(blockgroups: gpd.GeoDataFrame) -> None:
    table = table_of(blockgroups)
    mixed = pd.concat([table, pd.DataFrame({"GEOID": ["51001000100"], "households": [1.0]})])
    with pytest.raises(SchemaError, match="mixes GEOIDs"):
        geo.aggregate(mixed, to="county", counts=["households"])
    with pytest.raises(SchemaError, match="population"):
        geo.aggregate(table, to="county", counts=["population"])


def test_aggregate_missing_counts_propagate_unless_skipna(blockgroups: gpd.GeoDataFrame) -> None:
    table = table_of(blockgroups)
    table.loc[0, "households"] = np.nan
    out = geo.aggregate(table, to="county", counts=["households"]).set_index("GEOID")
    assert np.isnan(out.loc["51001", "households"]) and out.loc["51003", "households"] == 485.0
    out = geo.aggregate(table, to="county", counts=["households"], skipna=True).set_index("GEOID")
    assert out.loc["51001", "households"] == 395.0


# ---------------------------------------------------------------------------------------------
# crosswalks


def test_apply_crosswalk_splits_and_checks() -> None:
    t = pd.DataFrame(
        {"GEOID": ["a", "b"], "households": [100.0, 10.0], "moe_households": [20.0, 4.0]}
    )
    xw = pd.DataFrame(
        {
            "source_GEOID": ["a", "a", "b"],
            "target_GEOID": ["x", "y", "y"],
            "weight": [0.25, 0.75, 1.0],
        }
    )
    out = geo.apply_crosswalk(t, xw, counts=["households"]).set_index("GEOID")
    assert out.loc["x", "households"] == 25.0 and out.loc["y", "households"] == 85.0
    assert out.loc["y", "moe_households"] == pytest.approx(np.sqrt(15.0**2 + 4.0**2))
    bad = xw.assign(weight=[0.25, 0.5, 1.0])
    with pytest.raises(DataError, match="'a'"):
        geo.apply_crosswalk(t, bad, counts=["households"])
    assert (
        geo.apply_crosswalk(t, bad, counts=["households"], check=False)["households"].sum() == 85.0
    )
    with pytest.raises(DataError, match="finite"):
        geo.apply_crosswalk(t, xw.assign(weight=[-0.1, 1.1, 1.0]), counts=["households"])
    with pytest.raises(DataError, match="'b'"):  # b missing from the crosswalk loses its counts
        geo.apply_crosswalk(t, xw.iloc[:2], counts=["households"])
    with pytest.raises(SchemaError, match="duplicate"):
        geo.apply_crosswalk(pd.concat([t, t]), xw, counts=["households"])
    # two rows a -> y are one piece: MOE 0.75 * 20, not sqrt(2) * 0.375 * 20
    split = pd.DataFrame(
        {
            "source_GEOID": ["a", "a", "a", "b"],
            "target_GEOID": ["x", "y", "y", "y"],
            "weight": [0.25, 0.375, 0.375, 1.0],
        }
    )
    again = geo.apply_crosswalk(t, split, counts=["households"]).set_index("GEOID")
    pd.testing.assert_frame_equal(again, out)
