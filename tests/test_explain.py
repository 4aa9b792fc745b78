"""Explanations in plain words: top indicators, focus areas, close calls and odd picks.

Every claim a sentence makes is checked against the numbers it summarises (a brute-force
median, a re-ranking, the draws themselves), and no code name reaches the text a person reads.
"""

from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box
from test_placement import make_places

from equity import placement
from equity.glossary import FOCUS_AREAS, describe, glossary, indicator_label
from equity.indicators import REGISTRY
from equity.placement import rank_candidates
from equity.placement.focus import focus_areas, weak_pillars

#: Words that must never reach a reader: column names of indicators, pillars, scores.
_CODE = re.compile(
    r"\b(share_\w+|km_to_\w+|median_household_income|devices_skills|broadband_usage|"
    r"broadband_availability|download_mbps|\w+_per_1?0?k|norm_\w+|score_\w+)\b"
)


@pytest.fixture
def places() -> gpd.GeoDataFrame:
    p = make_places()
    # raw values beside the normalised ones, as a level table has them
    rng = np.random.default_rng(3)
    for name in ("share_no_internet", "share_no_computer", "share_below_poverty", "share_65_plus"):
        p[name] = rng.uniform(0.02, 0.4, len(p))
    return p


@pytest.fixture
def anchors() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {"kind": ["library", "school", "college", "library", "nonprofit"]},
        geometry=[
            Point(-79.9, 37.1),
            Point(-79.5, 37.5),
            Point(-82.4, 37.2),
            Point(-82.0, 37.6),
            Point(-81.9, 37.3),
        ],
        crs=4326,
    )


def test_top_indicators_are_the_three_highest_in_words_with_state_medians(places):
    out = rank_candidates(places, radius_km=30).set_index("GEOID")
    norms = places.set_index("GEOID").filter(like="norm_")
    for geoid in ["51000", "54005"]:
        parts = out.loc[geoid, "top_indicators"].split("; ")
        expected = norms.loc[geoid].sort_values(ascending=False).index[:3].str.removeprefix("norm_")
        assert [p.split(":")[0] for p in parts] == [indicator_label(n) for n in expected]
        state = geoid[:2]
        for part, name in zip(parts, expected, strict=True):
            value = places.set_index("GEOID").loc[geoid, name]
            in_state = places.loc[places["state_GEOID"] == state, name]
            assert part == describe(name, value, in_state.median(), national=places[name].median())
            assert re.fullmatch(
                r"[a-z ,0-9-]+: \d+% \(state median \d+%, national median \d+%\)", part
            )


def test_indicator_weights_from_attrs_reorder_top_indicators(places):
    p = places.copy()
    p["norm_share_65_plus"] = 1.0  # lowest value ...
    p.attrs["index"] = {"indicator_weights": {"share_65_plus": 1000.0}}  # ... but dominant weight
    out = rank_candidates(p, radius_km=30)
    assert out["top_indicators"].str.startswith("people aged 65 and over: ").all()


def test_why_and_sensitivity_are_true_statements(places, anchors):
    out = rank_candidates(places, anchors=anchors, radius_km=30, k=1)
    first = out[(out["state_GEOID"] == "51") & (out["rank"] == 1)].iloc[0]
    assert first["why"].startswith("Selected: ranked 1 of 12 places in Virginia (top mode).")
    assert f"Focus area: {first['intervention']}, because " in first["why"]
    assert f"Need {first['need_score']:.0f}/100" in first["why"]
    assert f"Runner-up: {first['runner_up_place']}" in first["why"]
    others = out[~out["selected"]]
    assert others["why"].str.startswith("Not selected: ranked ").all()
    assert not others["why"].str.contains("Runner-up").any()
    # check every claim "halving the <score> weight moves it from a to b" by re-ranking
    pattern = re.compile(r"halving the (need|readiness|reach) weight moves it from (\d+) to (\d+)")
    checked = 0
    for score in ("need", "readiness", "reach"):
        halved = dict(placement.DEFAULT_WEIGHTS, **{score: placement.DEFAULT_WEIGHTS[score] / 2})
        again = rank_candidates(places, anchors=anchors, radius_km=30, weights=halved).set_index(
            "GEOID"
        )
        for _, row in out.iterrows():
            m = pattern.fullmatch(row["sensitivity"])
            if m and m.group(1) == score:
                assert int(m.group(2)) == row["rank"]
                assert again.loc[row["GEOID"], "rank"] == int(m.group(3))
                checked += 1
    assert checked > 0


def test_no_code_names_in_what_people_read(places, anchors):
    out = rank_candidates(places, anchors=anchors, radius_km=30, k=1)
    for col in ("why", "top_indicators", "focus_reason", "intervention", "note", "sensitivity"):
        text = " ".join(out[col].dropna().astype(str))
        assert not _CODE.search(text), (col, _CODE.search(text))
    assert set(out["intervention"].dropna()) <= {name for name, _ in FOCUS_AREAS.values()}
    assert set(out["focus_area"].dropna()) <= set(FOCUS_AREAS)


# --------------------------------------------------------------------------------------------
# focus areas
# --------------------------------------------------------------------------------------------


def test_weak_proxy_pillar_cannot_drive_the_focus():
    cand = pd.DataFrame(
        {
            "score_access": [40.0, 30.0],
            "score_education": [95.0, 90.0],
            "score_devices_skills": [20.0, 60.0],
            "norm_share_no_internet": [0.4, 0.3],
            "norm_km_to_library": [0.95, 0.9],
            "norm_share_no_computer": [0.2, 0.6],
            "norm_share_65_plus": [0.1, 0.2],
            "share_no_internet": [0.3, 0.2],
        }
    )
    meta = {
        "weights": {
            "access": {"share_no_internet": 1.0},
            "education": {"km_to_library": 1.0},
            "devices_skills": {"share_no_computer": 0.5, "share_65_plus": 0.5},
        }
    }
    focus = focus_areas(cand, meta)
    # education scores highest in both, but rests on library distance alone
    assert focus.pillar == ["access", "devices_skills"]
    # devices and skills whose strongest indicator is "no computer" is a device need: access
    assert focus.key == ["digital_access", "digital_access"]
    assert all(
        "distance to the nearest public library alone, a weak proxy" in r for r in focus.reason
    )
    assert "households without internet: 30%" in focus.reason[0]
    # a real education pillar (a non-proxy indicator beside the distance) drives it
    meta["weights"]["education"] = {"km_to_library": 0.5, "share_no_hs_diploma": 0.5}
    assert focus_areas(cand, meta).key[0] == "cs_education"


def test_weak_pillars_and_no_pillar_with_data():
    assert weak_pillars({"education": ["km_to_school", "km_to_library"]}) == {
        "education": "rests on distance to the nearest public school and distance to the "
        "nearest public library alone, weak proxies"
    }
    assert weak_pillars({"access": ["share_no_internet", "km_to_library"]}) == {}
    focus = focus_areas(
        pd.DataFrame({"score_education": [80.0], "norm_km_to_library": [0.8]}), None
    )
    assert focus.key == [None]
    assert "weak proxy" in focus.reason[0]


def test_run_level_table_education_by_library_distance_alone_is_never_the_focus(places):
    p = places.copy()
    p["score_education"] = 99.0  # the highest pillar everywhere
    p["norm_km_to_library"] = 0.99
    p["km_to_library"] = 12.0
    out = rank_candidates(p, radius_km=30)
    assert "computer-science education" not in set(out["intervention"])
    assert out["focus_reason"].str.contains("Education scores 99/100 but rests on").all()


# --------------------------------------------------------------------------------------------
# close calls, P(top 1), runner-up, odd picks
# --------------------------------------------------------------------------------------------


def _two_states(index_a: float, index_b: float, half_width: float) -> gpd.GeoDataFrame:
    """Two places per state, far apart (no shared reach), equal population."""
    rows = []
    for st, x in (("51", -80.0), ("54", -70.0)):
        for j, idx in enumerate((index_a, index_b)):
            rows.append(
                {
                    "GEOID": f"{st}00{j}",
                    "NAME": f"Place {st}-{j}",
                    "state_GEOID": st,
                    "population": 1000.0,
                    "equity_index": idx,
                    "equity_index_lo": idx - half_width,
                    "equity_index_hi": idx + half_width,
                    "geometry": box(x + 2 * j, 40, x + 2 * j + 0.1, 40.1),
                }
            )
    return gpd.GeoDataFrame(rows, crs=4326)


def test_close_call_when_intervals_overlap_and_p_top1_from_the_draws():
    near = _two_states(60.0, 59.5, 5.0)
    out = rank_candidates(near, k=1, radius_km=10, weights={"need": 1.0})
    sel = out[out["selected"]]
    assert sel["close_call"].all()
    assert (sel["runner_up_place"] == ["Place 51-1", "Place 54-1"]).all()
    assert np.allclose(sel["lead"], 0.5)
    assert sel["note"].str.startswith("close call: ").all()
    assert sel["why"].str.contains("Runner-up: Place 5\\d-1, 0.5 points behind").all()
    # P(top 1) equals the share of the draws in which the place's need is the state's highest
    draws = np.random.default_rng(1).normal(60, 3, size=(4, 400))
    out = rank_candidates(near, k=1, radius_km=10, weights={"need": 1.0}, draws=draws)
    by_geoid = out.set_index("GEOID")
    first_a = (draws[0] > draws[1]).mean()
    assert by_geoid.loc["51000", "p_top1"] == pytest.approx(first_a)
    assert by_geoid.loc["51001", "p_top1"] == pytest.approx(1 - first_a)
    lo, hi = np.percentile(draws, [5, 95], axis=1)
    assert by_geoid.loc["54000", "combined_lo"] == pytest.approx(lo[2])
    assert by_geoid.loc["54000", "combined_hi"] == pytest.approx(hi[2])


def test_clear_winner_is_no_close_call():
    clear = _two_states(80.0, 40.0, 2.0)
    out = rank_candidates(clear, k=1, radius_km=10, weights={"need": 1.0})
    sel = out[out["selected"]]
    assert not sel["close_call"].any()
    assert (sel["p_top1"] == 1.0).all()
    assert sel["note"].isna().all()
    assert out.loc[~out["selected"], "runner_up_place"].isna().all()


def test_p_top1_below_half_is_a_close_call_even_without_overlap():
    # a pick by readiness while the other place wins most draws of need
    p = _two_states(50.0, 70.0, 1.0)
    anchors = gpd.GeoDataFrame(
        {"kind": ["library"] * 4},
        geometry=[
            Point(-79.95, 40.05),
            Point(-79.94, 40.05),
            Point(-69.95, 40.05),
            Point(-69.9, 40.05),
        ],
        crs=4326,
    )
    out = rank_candidates(
        p, anchors=anchors, k=1, radius_km=10, weights={"need": 0.5, "readiness": 0.5}
    )
    sel = out[out["selected"]].set_index("GEOID")
    assert list(sel.index) == ["51000", "54000"]
    assert (sel["p_top1"] > 0.5).all()  # the scores are what was chosen on
    draws = np.tile(np.array([[5.0], [100.0], [5.0], [100.0]]), (1, 50))
    out = rank_candidates(
        p, anchors=anchors, k=1, radius_km=10, weights={"need": 0.5, "readiness": 0.5}, draws=draws
    )
    sel = out[out["selected"]]
    assert (sel["p_top1"] == 0.0).all()
    assert sel["close_call"].all()
    assert sel["note"].str.contains("comes first in only 0% of the uncertainty draws").all()


def test_coverage_pick_below_the_state_median_says_why(places, anchors):
    out = rank_candidates(places, anchors=anchors, mode="coverage", k=2, radius_km=30)
    sel = out[out["selected"]]
    median = places.groupby("state_GEOID")["equity_index"].median()
    below = sel["need_score"] < sel["state_GEOID"].map(median)
    assert below.any()  # this fixture has such a pick
    assert (sel["below_median_need"] == below).all()
    for _, row in sel[below].iterrows():
        assert f"below the state median of {median[row['state_GEOID']]:.0f}" in row["note"]
        assert f"reaches {row['reach_need_population']:,.0f} people in need" in row["note"]
        assert (
            row["note"] in row["why"][0].lower() + row["why"][1:] or row["note"][1:] in row["why"]
        )
    # coverage picks are not close calls by score
    assert not sel["close_call"].any()


def test_results_do_not_depend_on_row_order(places, anchors):
    a = rank_candidates(places, anchors=anchors, radius_km=30)
    b = rank_candidates(places.iloc[::-1], anchors=anchors, radius_km=30)
    cols = ["GEOID", "p_top1", "combined_lo", "close_call", "runner_up_place", "why"]
    pd.testing.assert_frame_equal(pd.DataFrame(a[cols]), pd.DataFrame(b[cols]))


# --------------------------------------------------------------------------------------------
# glossary
# --------------------------------------------------------------------------------------------


def test_every_builtin_indicator_has_a_plain_label():
    labels = {name: ind.label for name, ind in REGISTRY.items() if not name.endswith("_demo")}
    assert all(labels.values())
    assert not any(_CODE.search(label) for label in labels.values())


def test_glossary_maps_labels_to_code_names_sources_and_vintages():
    prov = [
        {"source": "imls_pls", "title": "IMLS Public Libraries Survey", "vintage": "FY2019"},
        {"source": "microsoft_usage", "title": "Microsoft usage", "vintage": "2020"},
    ]
    weights = {"education": {"km_to_library": 1.0}, "access": {"broadband_availability": 1.0}}
    g = glossary(["km_to_library", "broadband_availability"], prov, weights=weights)
    assert g["column"].tolist() == ["broadband_availability", "km_to_library"]  # pillar order
    row = g.set_index("column").loc["km_to_library"]
    assert row["label"] == "distance to the nearest public library"
    assert (row["source"], row["vintage"], row["pillar"]) == (
        "IMLS Public Libraries Survey",
        "FY2019",
        "Education",
    )
    assert "weak proxy" in row["note"]
    assert "2019" in g.set_index("column").loc["broadband_availability", "note"]
