"""The suggested partner and readiness from partners: invariants checked against brute force.

- the suggested partner lies within the service radius, at the distance reported;
- it has the highest host score (kind weight x capacity x decay x listed bonus), the runner-up
  the second highest, and the two differ;
- readiness counts each organisation once (the same list read twice changes nothing), with the
  stated distance decay;
- end to end: a run with a planner's list geocoded through a local stand-in writes the partner
  files, the new columns, METHODS.md's partner section and the popups.
"""

from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from _census_geocoder import PATH, FakeCensusGeocoder
from _httpserver import LocalServer
from shapely.geometry import box

from equity.distance import haversine_km
from equity.placement import ANCHOR_WEIGHTS, PlacementOptions, rank_candidates
from equity.placement.organisations import build_partners
from equity.placement.partner import CAPACITY, distance_decay
from equity.sources import read_nonprofits, read_partner_list

RADIUS = 25.0

NONPROFITS = (
    "EIN,NAME,STREET,CITY,STATE,ZIP,SUBSECTION,FOUNDATION,NTEE_CD,INCOME_CD,ASSET_CD\n"
    "010000001,ABINGDON YOUTH CLUB,1 A ST,ABINGDON,VA,24210-0001,03,15,O20,6,6\n"
    "010000002,TINY TECH CIRCLE,2 B ST,ABINGDON,VA,24210-0002,03,15,U41,0,0\n"
    "010000003,BRISTOL WORKS,3 C ST,BRISTOL,VA,24201-0003,03,15,J22,4,5\n"
    "010000004,GLADE SPRING COMMUNITY CENTER,4 D ST,GLADE SPRING,VA,24340-0004,03,15,P28,3,2\n"
    "010000005,MARION ADULT LEARNING,5 E ST,MARION,VA,24354-0005,03,15,B60,,\n"
)
LIST = (
    "Organization,Type,Lat,Lon\n"
    "Washington County Public Library,library,36.7106,-81.9754\n"
    "Bristol Public Library,library,36.5960,-82.1880\n"
    "Virginia Highlands Community College,college,36.6890,-82.0170\n"
    "Abingdon Elementary School,school,36.7120,-81.9690\n"
    "Marion Connect,nonprofit,36.8340,-81.5150\n"
)
CENTROIDS = pd.DataFrame(
    {
        "zip": ["24210", "24201", "24340", "24354"],
        "longitude": [-81.95, -82.16, -81.77, -81.52],
        "latitude": [36.72, 36.61, 36.76, 36.83],
    }
)


@pytest.fixture(scope="module")
def partners(tmp_path_factory: pytest.TempPathFactory) -> gpd.GeoDataFrame:
    folder = tmp_path_factory.mktemp("partners")
    (folder / "eo_va.csv").write_text(NONPROFITS)
    (folder / "list.csv").write_text(LIST)
    layer = build_partners(
        nonprofits=read_nonprofits(folder / "eo_va.csv"),
        lists=read_partner_list(folder / "list.csv"),
        zip_centroids=CENTROIDS,
    )
    return layer.partners


@pytest.fixture(scope="module")
def places() -> gpd.GeoDataFrame:
    """Squares of about 10 km around Abingdon, Bristol, Marion, Glade Spring and far away."""
    centres = [(-81.97, 36.71), (-82.17, 36.60), (-81.52, 36.83), (-81.77, 36.77), (-80.0, 38.5)]
    return gpd.GeoDataFrame(
        {
            "GEOID": [f"5119{i}" for i in range(len(centres))],
            "NAME": ["Abingdon", "Bristol", "Marion", "Glade Spring", "Far away"],
            "state_GEOID": ["51"] * len(centres),
            "population": [8000.0, 17000.0, 6000.0, 1500.0, 3000.0],
            "equity_index": [60.0, 55.0, 70.0, 40.0, 80.0],
        },
        geometry=[box(x - 0.06, y - 0.045, x + 0.06, y + 0.045) for x, y in centres],
        crs=4326,
    )


def _brute_force(cands: pd.DataFrame, partners: gpd.GeoDataFrame, opts: PlacementOptions):  # type: ignore[no-untyped-def]
    px, py = partners.geometry.x.to_numpy(), partners.geometry.y.to_numpy()
    d = haversine_km(
        cands["longitude"].to_numpy()[:, None], cands["latitude"].to_numpy()[:, None], px, py
    )
    within = d <= opts.radius_km
    kind_w = np.array([opts.anchor_weight(k) for k in partners["kind"]])
    size = pd.to_numeric(partners["size_class"], errors="coerce")
    cap = size.map(CAPACITY).fillna(1.0).to_numpy()
    bonus = np.where(partners["listed"].to_numpy(bool), opts.listed_bonus, 1.0)
    decay = distance_decay(d, opts.radius_km, opts.decay)
    host = np.where(within, kind_w * cap * bonus * decay, -np.inf)
    return d, within, kind_w, decay, host


@pytest.mark.parametrize("decay", ["linear", "gaussian", "none"])
def test_suggested_partner_is_the_best_host_within_the_radius(
    partners: gpd.GeoDataFrame, places: gpd.GeoDataFrame, decay: str
) -> None:
    opts = PlacementOptions(radius_km=RADIUS, decay=decay, k=1)
    out = rank_candidates(places, anchors=partners, options=opts)
    d, within, kind_w, weights, host = _brute_force(out, partners, opts)
    ids = partners["partner_id"].to_numpy()
    for r, row in out.reset_index(drop=True).iterrows():
        if not within[r].any():
            assert pd.isna(row["partner_name"]) and pd.isna(row["runner_up_name"])
            assert row["partner_summary"] == f"no partner organisation within {RADIUS:g} km"
            continue
        order = sorted(np.flatnonzero(within[r]), key=lambda j: (-host[r, j], d[r, j], ids[j]))
        best = order[0]
        assert row["partner_id"] == ids[best]
        assert row["partner_km"] <= RADIUS
        assert row["partner_km"] == pytest.approx(d[r, best], abs=0.006)
        assert row["partner_score"] == pytest.approx(host[r, best], abs=1e-4)
        if len(order) > 1:
            assert row["runner_up_id"] == ids[order[1]] != row["partner_id"]
            assert row["runner_up_score"] <= row["partner_score"]
            assert row["runner_up_km"] <= RADIUS
        else:
            assert pd.isna(row["runner_up_id"])
        # readiness: each organisation within the radius once, kind-weighted, decayed
        assert row["n_anchors"] == within[r].sum()
        weighted = (kind_w * weights[r] * within[r]).sum()
        assert row["anchors_per_10k"] == pytest.approx(
            weighted / max(row["population_within_radius"], 1.0) * 1e4
        )
    assert out.loc[out["NAME"] == "Far away", "n_anchors"].item() == 0


def test_plain_words(partners: gpd.GeoDataFrame, places: gpd.GeoDataFrame) -> None:
    out = rank_candidates(places, anchors=partners, radius_km=RADIUS).set_index("NAME")
    text = out.loc["Abingdon", "partner_summary"]
    assert text.startswith("Washington County Public Library, 0.") and text.endswith(
        "library (on your list)"
    )
    assert re.fullmatch(r"[^,]+, \d+(\.\d)? km: .+", out.loc["Abingdon", "runner_up_summary"])
    assert (
        "suggested partner: Washington County Public Library, library, 0."
        in out.loc["Abingdon", "why"]
    )
    # nonprofits in words: mission from the NTEE code, size from the IRS class, located by ZIP
    opts = PlacementOptions(
        radius_km=RADIUS, anchor_weights={"library": 0, "college": 0, "school": 0}
    )
    only = rank_candidates(places, anchors=partners, options=opts).set_index("NAME")
    assert only.loc["Abingdon", "partner_summary"] == (
        "Abingdon Youth Club, 2.1 km: youth development nonprofit with income $1-5 million "
        "(located by ZIP code)"
    )
    summaries = (
        " | ".join(only["runner_up_summary"].dropna()) + " | " + " | ".join(only["partner_summary"])
    )
    assert (
        "Glade Spring Community Center" in summaries
        and "nonprofit neighbourhood centre" in summaries
    )
    assert "with assets $500,000-999,999" not in summaries  # income class 4 is reported
    assert (
        "Bristol Works" in summaries
        and "job training and employment nonprofit with income $100,000-499,999" in summaries
    )


def test_each_organisation_counted_once(
    partners: gpd.GeoDataFrame, places: gpd.GeoDataFrame, tmp_path: Path
) -> None:
    (tmp_path / "list.csv").write_text(LIST)
    (tmp_path / "again.csv").write_text(LIST.replace("Organization", "Org name"))
    (tmp_path / "eo_va.csv").write_text(NONPROFITS)
    twice = build_partners(
        nonprofits=read_nonprofits(tmp_path / "eo_va.csv"),
        lists=[read_partner_list(tmp_path / "list.csv"), read_partner_list(tmp_path / "again.csv")],
        zip_centroids=CENTROIDS,
    )
    assert len(twice.partners) == len(partners) and len(twice.merged) == 5
    a = rank_candidates(places, anchors=partners, radius_km=RADIUS)
    b = rank_candidates(places, anchors=twice.partners, radius_km=RADIUS)
    for col in (
        "n_anchors",
        "anchors_per_10k",
        "readiness_score",
        "partner_name",
        "runner_up_name",
    ):
        pd.testing.assert_series_equal(a[col], b[col])


def test_listed_bonus_and_weights_move_the_choice(
    partners: gpd.GeoDataFrame, places: gpd.GeoDataFrame
) -> None:
    base = rank_candidates(places, anchors=partners, radius_km=RADIUS).set_index("NAME")
    assert base.loc["Marion", "partner_name"] == "Marion Connect"  # listed nonprofit 1.5 vs 0.25
    no_bonus = PlacementOptions(radius_km=RADIUS, listed_bonus=1.0, anchor_weights={"nonprofit": 1})
    flat = rank_candidates(places, anchors=partners, options=no_bonus).set_index("NAME")
    assert flat.loc["Marion", "partner_kind"] in ("nonprofit", "library", "college")
    heavy = PlacementOptions(radius_km=RADIUS, anchor_weights={"school": 100.0})
    out = rank_candidates(places, anchors=partners, options=heavy).set_index("NAME")
    assert out.loc["Abingdon", "partner_name"] == "Abingdon Elementary School"
    assert ANCHOR_WEIGHTS["library"] == 3.0 and out.attrs["placement"]["decay"] == "linear"


@pytest.mark.slow
def test_run_with_a_planner_list(sample_paths: dict[str, Path], tmp_path: Path) -> None:
    from equity import pipeline
    from equity.config import load_config
    from equity.pipeline.dataset import SAMPLE_KEYS
    from equity.sources import read_anchors

    anchors = read_anchors(sample_paths["anchors"])
    first = anchors.iloc[0]  # a sample anchor, listed again by the planner: counted once
    towns = gpd.read_file(sample_paths["town"]).to_crs(4326)
    spot = towns.geometry.iloc[3].representative_point()
    (tmp_path / "list.csv").write_text(
        "Orginization,Type,Adress,Town,ST,Zip code,Lattitude,Longtitude\n"
        f"{first['name']},{first['kind']},,,,,{first.geometry.y},{first.geometry.x}\n"
        "Sample Digital Hub,nonprofit,12 Market St,Sampleton,XN,00001,,\n"
        "Lost Partner,nonprofit,99 Nowhere Rd,Sampleton,XN,,,\n"
    )
    fake = FakeCensusGeocoder(matches={"12 Market St": (spot.x, spot.y)})
    data = {SAMPLE_KEYS[k]: str(v) for k, v in sample_paths.items() if k in SAMPLE_KEYS}
    data["partners"] = str(tmp_path / "list.csv")
    with LocalServer({PATH: fake}) as server:
        lines = [f'{k} = "{v}"' for k, v in data.items()]
        (tmp_path / "run.toml").write_text(
            "[data]\n" + "\n".join(lines) + "\n[partners]\nlisted_bonus = 100.0\n"
            f'geocoder_url = "{server.url}{PATH}"\n'
            f'[cache]\nfolder = "{tmp_path / "tables"}"\n'
        )
        cfg = load_config(tmp_path / "run.toml")
        result = pipeline.run(cfg, out=tmp_path / "out", quiet=True)
    out = tmp_path / "out"
    table = pd.read_csv(out / "partners.csv", dtype=str)
    hub = table.set_index("name").loc["Sample Digital Hub"]
    assert hub["located"] == "address" and hub["listed"] == "True"
    assert (table["name"] == first["name"]).sum() == 1  # listed and in the anchors: once
    unlocated = pd.read_csv(out / "partners_unlocated.csv", dtype=str)
    assert unlocated["name"].tolist() == ["Lost Partner"]
    assert unlocated["reason"].item() == "the geocoder found no match; no ZIP code"
    cands = pd.read_csv(out / "candidates.csv", dtype={"GEOID": str, "partner_id": str})
    assert {"partner_name", "partner_summary", "runner_up_summary"} <= set(cands.columns)
    assert (cands["partner_km"].dropna() <= cfg.radius_km).all()
    town = cands.loc[cands["GEOID"] == towns["GEOID"].iloc[3]].iloc[0]
    assert town["partner_name"] == "Sample Digital Hub"  # the listed bonus of the config
    assert "(on your list)" in town["partner_summary"]
    methods = (out / "METHODS.md").read_text()
    assert "## Partners" in methods and "| list.csv | name | Orginization | alias |" in methods
    assert "same name and ZIP" in methods and "listed bonus (100" in methods
    html = next((out / "maps").glob("*town*.html")).read_text()
    assert "Suggested partner" in html and "Sample Digital Hub" in html
    table = (out / "maps" / "candidates.html").read_text()
    assert "Suggested partner</" in table and "Sample Digital Hub" in table
    assert result.candidates["partner_summary"].notna().all()
