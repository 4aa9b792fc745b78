"""A fetch cache of generated states, in the publishers' layouts, for tests and benchmarks.

:func:`synthetic_nation` builds a nation with :mod:`equity.synthetic` (the 48 contiguous
states and DC on a lattice, plus Alaska and Hawaii from two smaller nations of their own: 51
states with their real FIPS codes, fictional places) and Ookla-like tiles;
:func:`write_synthetic_cache` writes it as ``equity fetch --states`` leaves a cache: per state
the Census cartographic boundary files (block groups, tracts, county subdivisions), the ACS
block-group CSV and the Ookla tiles clipped to the state, national files shared by every
state (state and county boundaries, Microsoft county usage, County Business Patterns, IMLS
library outlets, NCES EDGE school geocodes), and ``states/<USPS>/manifest.json`` naming them
(:mod:`equity.national.manifest`). Inputs the fetch would also get but that are not generated
here (places, blocks, FCC, colleges, nonprofits) are listed under ``missing``.

Every file goes through the real readers of :mod:`equity.sources`; nothing here is real data
(names are "County 001", "Library 3 of 0100100", ...).

Examples
--------
>>> import tempfile
>>> nation = synthetic_nation(n_counties=8, tracts_per_county=2, bgs_per_tract=2,
...                           n_tiles=400, n_states=3, seed=1)
>>> sorted(nation.states)
['AL', 'AR', 'AZ']
>>> manifests = write_synthetic_cache(tempfile.mkdtemp(), nation)
>>> sorted(manifests)
['AL', 'AR', 'AZ']
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pyogrio
import shapely

from equity import settings
from equity import synthetic as synth
from equity._io import atomic_dir, atomic_write_text
from equity.errors import ConfigError
from equity.sources._states import lookup_state
from equity.tiles import quadkey_to_bounds

__all__ = [
    "CENSUS_2020",
    "SyntheticNation",
    "census_nation",
    "synthetic_nation",
    "write_synthetic_cache",
]

#: Inputs a real fetch gets that the synthetic cache does not generate, with the reason listed.
NOT_GENERATED = ("places", "blocks", "fcc", "colleges", "nonprofits")
_LEVEL_TOKENS = {"blockgroup": "bg", "tract": "tract", "cousub": "cousub"}
_CBP_SIZES = ("n<5", "n5_9", "n10_19", "n20_49", "n50_99", "n100_249", "n250_499", "n500_999")
_CBP_PROBS = np.array([0.56, 0.19, 0.12, 0.08, 0.03, 0.014, 0.004, 0.002])
_CBP_MIDPOINTS = np.array([2.2, 6.8, 13.5, 31.0, 69.0, 152.0, 340.0, 690.0])
# Alaska and Hawaii: extents (lon/lat) and shares of the nation's counties and tracts
_OUTLYING = {"02": ((-165.0, 55.0, -141.0, 70.0), 0.009, 0.002), "15": ((-160.3, 18.9, -154.8, 22.3), 0.002, 0.004)}  # fmt: skip


@dataclass(frozen=True)
class SyntheticNation:
    """Level tables of a generated nation and its tiles.

    Attributes
    ----------
    tables
        ``state``, ``county``, ``tract``, ``blockgroup`` GeoDataFrames of
        :func:`equity.synthetic.national_tables` (counts, MOEs, usage, geometry).
    tiles
        Ookla-like tiles without geometry: ``quadkey``, ``download_mbps``, ``upload_mbps``,
        ``latency_ms``, ``tests``, ``devices``.
    seed
        Seed they were generated from.
    """

    tables: dict[str, gpd.GeoDataFrame]
    tiles: pd.DataFrame
    seed: int

    @property
    def states(self) -> dict[str, str]:
        """USPS code to FIPS code of every state of the nation."""
        return {lookup_state(f).usps: f for f in self.tables["state"]["GEOID"]}


def _recode(tables: dict[str, gpd.GeoDataFrame], fips: str) -> dict[str, gpd.GeoDataFrame]:
    """A one-state nation's tables with its state code replaced by `fips`."""
    out = {}
    for level, table in tables.items():
        t = table.copy()
        for col in ("GEOID", "state_GEOID", "county_GEOID", "tract_GEOID"):
            if col in t:
                t[col] = fips + t[col].str[2:]
        if level == "state":
            t["NAME"] = "State " + fips
        out[level] = t
    return out


def synthetic_nation(
    *,
    n_counties: int = 3200,
    tracts_per_county: float = 85_000 / 3200,
    bgs_per_tract: float = 240_000 / 85_000,
    n_tiles: int = 2_000_000,
    n_states: int = 51,
    seed: int = settings.seed,
) -> SyntheticNation:
    """A generated nation of `n_states` states (51: the 50 states and DC) and its tiles.

    Parameters
    ----------
    n_counties, tracts_per_county, bgs_per_tract
        Sizes, as :func:`equity.synthetic.national_tables` (defaults: 3,200 counties, 85,000
        tracts, 240,000 block groups).
    n_tiles
        Ookla tiles over the nation (clustered around cities).
    n_states
        1 to 49 states on the contiguous lattice, or 51 (adds Alaska and Hawaii, each
        generated over its own extent with a small share of the counties).
    seed
        Seed of every random step.

    Returns
    -------
    SyntheticNation
    """
    if not (1 <= n_states <= 49 or n_states == 51):
        msg = f"n_states must be 1 to 49, or 51 (with Alaska and Hawaii), got {n_states}"
        raise ConfigError(msg)
    extra = _OUTLYING if n_states == 51 else {}
    main_counties = n_counties - sum(max(1, round(n_counties * c)) for _, c, _ in extra.values())
    parts = [
        synth.national_tables(
            n_counties=main_counties,
            tracts_per_county=tracts_per_county,
            bgs_per_tract=bgs_per_tract,
            n_states=min(n_states, 49),
            seed=seed,
        )
    ]
    tiles = [synth.synthetic_tiles(n_tiles, seed=seed, geometry=False)]
    for i, (fips, (bounds, c_share, t_share)) in enumerate(extra.items(), start=1):
        n_c = max(1, round(n_counties * c_share))
        per_county = max(1.0, tracts_per_county * n_counties * t_share / n_c)
        one = synth.national_tables(
            n_counties=n_c,
            tracts_per_county=per_county,
            bgs_per_tract=bgs_per_tract,
            n_states=1,
            seed=seed + i,
            bounds=bounds,
        )
        parts.append(_recode(one, fips))
        n_t = max(100, round(n_tiles * t_share))
        tiles.append(
            synth.synthetic_tiles(n_t, bounds=bounds, seed=seed + i, n_cities=20, geometry=False)
        )
    tables = {
        level: gpd.GeoDataFrame(pd.concat([p[level] for p in parts], ignore_index=True), crs=4326)
        for level in ("state", "county", "tract", "blockgroup")
    }
    all_tiles = pd.concat(tiles, ignore_index=True).drop_duplicates("quadkey", ignore_index=True)
    return SyntheticNation(tables, all_tiles, seed)


#: 2020 Census: resident population (thousands) and counties (county equivalents) of each
#: state, the sizes :func:`census_nation` gives its generated states.
CENSUS_2020: dict[str, tuple[int, int]] = {
    "AL": (5025, 67), "AK": (733, 30), "AZ": (7152, 15), "AR": (3012, 75), "CA": (39538, 58),
    "CO": (5774, 64), "CT": (3606, 8), "DE": (990, 3), "DC": (690, 1), "FL": (21538, 67),
    "GA": (10712, 159), "HI": (1455, 5), "ID": (1839, 44), "IL": (12813, 102), "IN": (6786, 92),
    "IA": (3190, 99), "KS": (2938, 105), "KY": (4506, 120), "LA": (4658, 64), "ME": (1362, 16),
    "MD": (6177, 24), "MA": (7030, 14), "MI": (10077, 83), "MN": (5706, 87), "MS": (2961, 82),
    "MO": (6155, 115), "MT": (1084, 56), "NE": (1962, 93), "NV": (3105, 17), "NH": (1378, 10),
    "NJ": (9289, 21), "NM": (2118, 33), "NY": (20201, 62), "NC": (10439, 100), "ND": (779, 53),
    "OH": (11799, 88), "OK": (3959, 77), "OR": (4237, 36), "PA": (13003, 67), "RI": (1097, 5),
    "SC": (5118, 46), "SD": (887, 66), "TN": (6911, 95), "TX": (29146, 254), "UT": (3272, 29),
    "VT": (643, 14), "VA": (8631, 133), "WA": (7705, 39), "WV": (1794, 55), "WI": (5894, 72),
    "WY": (577, 23),
}  # fmt: skip


def census_nation(
    *,
    n_blockgroups: int = 240_000,
    n_tracts: int = 85_000,
    n_tiles: int = 2_000_000,
    seed: int = settings.seed,
) -> SyntheticNation:
    """51 generated states sized as the real ones: California the largest, Wyoming small.

    Each state has its real number of counties (:data:`CENSUS_2020`) and a share of the
    block groups, tracts and tiles equal to its share of the 2020 population (California:
    about 28,700 of 240,000 block groups, as the real 25,600 of 242,300). The 48 contiguous
    states and DC lie on a lattice over the contiguous US, Alaska and Hawaii over their own
    extents; each is :func:`equity.synthetic.national_tables` of one state, its tiles
    :func:`equity.synthetic.synthetic_tiles` over its extent.

    Parameters
    ----------
    n_blockgroups, n_tracts, n_tiles
        National totals.
    seed
        Seed of every random step (each state draws from ``seed + its FIPS code``).

    Returns
    -------
    SyntheticNation
    """
    lattice = synth.national_tables(n_counties=49, tracts_per_county=1, bgs_per_tract=1, seed=seed)
    rects = dict(
        zip(lattice["state"]["GEOID"], lattice["state"].geometry.bounds.to_numpy(), strict=True)
    )
    total = sum(p for p, _ in CENSUS_2020.values())
    parts, tiles = [], []
    for usps, (pop, n_counties) in CENSUS_2020.items():
        fips = lookup_state(usps).fips
        box = _OUTLYING[fips][0] if fips in _OUTLYING else rects[fips]
        bounds = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))
        share = pop / total
        tracts = max(n_counties, round(n_tracts * share))
        bgs = max(tracts, round(n_blockgroups * share))
        one = synth.national_tables(
            n_counties=n_counties,
            tracts_per_county=tracts / n_counties,
            bgs_per_tract=bgs / tracts,
            n_states=1,
            seed=seed + int(fips),
            bounds=bounds,
        )
        parts.append(_recode(one, fips))
        n_t = max(100, round(n_tiles * share))
        cities = max(3, round(400 * share))
        tiles.append(
            synth.synthetic_tiles(
                n_t, bounds=bounds, seed=seed + int(fips), n_cities=cities, geometry=False
            )
        )
    tables = {
        level: gpd.GeoDataFrame(pd.concat([p[level] for p in parts], ignore_index=True), crs=4326)
        for level in ("state", "county", "tract", "blockgroup")
    }
    all_tiles = pd.concat(tiles, ignore_index=True).drop_duplicates("quadkey", ignore_index=True)
    return SyntheticNation(tables, all_tiles, seed)


# -- writers, one per publisher's layout ------------------------------------------------------


def _write_zipped_shapefile(gdf: gpd.GeoDataFrame, path: Path) -> None:
    """A Census-style zipped shapefile (NAD83), its parts named after the zip."""
    stem = path.name.removesuffix(".zip")
    with tempfile.TemporaryDirectory(prefix="equity-shp-") as tmp:
        shp = Path(tmp) / f"{stem}.shp"
        pyogrio.write_dataframe(
            gdf.to_crs("EPSG:4269"), shp, driver="ESRI Shapefile", encoding="UTF-8"
        )
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for part in sorted(Path(tmp).iterdir()):
                zf.write(part, part.name)


def _aland(geoms: gpd.GeoSeries) -> np.ndarray:
    return np.rint(geoms.to_crs("EPSG:6933").area.to_numpy()).astype(np.int64)


def _boundary_frame(level: str, t: gpd.GeoDataFrame, names: pd.Series) -> gpd.GeoDataFrame:
    """Census cartographic boundary columns of `level` for the rows of `t`."""
    g = t["GEOID"]
    sfp = g.str[:2]
    cols: dict[str, object] = {"STATEFP": sfp}
    if level != "state":
        cols["COUNTYFP"] = g.str[2:5]
    prefix = {"state": "0400000US", "county": "0500000US", "tract": "1400000US"}
    prefix |= {"blockgroup": "1500000US", "cousub": "0600000US"}
    if level in ("tract", "blockgroup"):
        cols["TRACTCE"] = g.str[5:11]
    if level == "blockgroup":
        cols["BLKGRPCE"] = g.str[11:12]
    if level == "cousub":
        cols["COUSUBFP"] = g.str[5:10]
    cols["AFFGEOID"] = prefix[level] + g
    cols["GEOID"] = g
    if level == "state":
        cols["STUSPS"] = sfp.map(lambda f: lookup_state(f).usps)
    cols["NAME"] = names
    cols["NAMELSAD"] = {
        "state": names,
        "county": names + " County",
        "tract": "Census Tract " + names,
        "blockgroup": "Block Group " + names,
        "cousub": names + " town",
    }[level]
    cols["LSAD"] = {"state": "00", "county": "06", "tract": "CT", "blockgroup": "BG"}.get(
        level, "43"
    )
    cols["ALAND"] = _aland(t.geometry)
    cols["AWATER"] = 0
    frame = pd.DataFrame(cols).reset_index(drop=True)
    return gpd.GeoDataFrame(frame, geometry=t.geometry.to_numpy(), crs=t.crs)


def _names(level: str, t: pd.DataFrame) -> pd.Series:
    if level == "state":
        return t["GEOID"].map(lambda f: lookup_state(f).name)
    if level == "county":
        return "County " + t["GEOID"].str[2:5]
    if level == "tract":
        return t["GEOID"].str[5:11].astype(int).div(100).map("{:g}".format)
    if level == "blockgroup":
        return t["GEOID"].str[11:12]
    return "Township " + t["GEOID"].str[5:10]


def _cousubs(tracts: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """County subdivisions: each county's tracts in runs of four, unioned (they tile it)."""
    key = tracts["GEOID"].str[:5].to_numpy(dtype=object)
    rank = tracts.groupby(key).cumcount().to_numpy() // 4
    geoid = pd.Series(key + np.char.zfill((rank + 1).astype(str), 5).astype(object))
    parts = gpd.GeoDataFrame(
        {"GEOID": geoid.to_numpy()}, geometry=tracts.geometry.to_numpy(), crs=tracts.crs
    )
    # lattice neighbours need not share vertices: not a coverage, so a plain union
    out = parts.dissolve(by="GEOID", as_index=False)
    return out.sort_values("GEOID", ignore_index=True)


def _ookla_parquet(tiles: pd.DataFrame, path: Path) -> None:
    """Ookla open-data fixed tiles: ``quadkey``, ``tile`` (WKT) and the integer measures."""
    b = quadkey_to_bounds(tiles["quadkey"].to_numpy(dtype=object))
    wkt = shapely.to_wkt(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]), rounding_precision=-1)
    cols = {
        "quadkey": pa.array(tiles["quadkey"].astype(str).to_numpy(dtype=object), pa.string()),
        "tile": pa.array(wkt, pa.string()),
        "avg_d_kbps": np.rint(tiles["download_mbps"].to_numpy() * 1000).astype(np.int64),
        "avg_u_kbps": np.rint(tiles["upload_mbps"].to_numpy() * 1000).astype(np.int64),
        "avg_lat_ms": tiles["latency_ms"].to_numpy().astype(np.int64),
        "tests": tiles["tests"].to_numpy().astype(np.int64),
        "devices": tiles["devices"].to_numpy().astype(np.int64),
    }
    pq.write_table(pa.table(cols), path, compression="snappy")


def _tiles_in(tiles: pd.DataFrame, bounds: np.ndarray, tile_bounds: np.ndarray) -> pd.DataFrame:
    """Tiles whose square meets the rectangle `bounds` (the fetch clips tiles to a state)."""
    x0, y0, x1, y1 = bounds
    keep = (
        (tile_bounds[:, 2] > x0)
        & (tile_bounds[:, 0] < x1)
        & (tile_bounds[:, 3] > y0)
        & (tile_bounds[:, 1] < y1)
    )
    return tiles.loc[keep]


def _usage_csv(county: pd.DataFrame) -> str:
    """Microsoft's county usage file (October 2020 variant: county ids as integers)."""
    usps = county["GEOID"].str[:2].map(lambda f: lookup_state(f).usps)
    lines = ["ST,COUNTY ID,COUNTY NAME, BROADBAND AVAILABILITY PER FCC , BROADBAND USAGE "]
    lines += [
        f"{s},{int(g)},County {g[2:]},{a:.4g},{u:.3g}"
        for s, g, a, u in zip(
            usps,
            county["GEOID"],
            county["broadband_availability"],
            county["broadband_usage"],
            strict=True,
        )
    ]
    return "\r\n".join(lines) + "\r\n"


def _cbp_text(county: pd.DataFrame, rng: np.random.Generator) -> str:
    """County Business Patterns: an all-industries row and a membership-organisations row."""
    pop = county["population"].to_numpy(dtype=float)
    est = rng.poisson(pop * 0.022)
    sizes = rng.multinomial(est, _CBP_PROBS)
    emp = np.maximum(np.rint(sizes @ _CBP_MIDPOINTS), est).astype(np.int64)
    est813 = rng.binomial(est, 0.035)
    sizes813 = rng.multinomial(est813, _CBP_PROBS)
    emp813 = np.minimum(np.rint(sizes813 @ _CBP_MIDPOINTS).astype(np.int64), emp)
    header = ["fipstate", "fipscty", "naics", "emp_nf", "emp", "qp1_nf", "qp1", "ap_nf", "ap"]
    header += ["est", *_CBP_SIZES, "censtate", "cencty"]
    out = [",".join(f'"{h}"' for h in header)]
    for i, g in enumerate(county["GEOID"]):
        for naics, e, n, sz in (("------", emp[i], est[i], sizes[i]), ("813///", emp813[i], est813[i], sizes813[i])):  # fmt: skip
            if n == 0:
                continue
            ap = int(e) * 48
            row = [f'"{g[:2]}"', f'"{g[2:]}"', f'"{naics}"', '"G"', str(e), '"G"', str(ap // 4)]
            row += ['"G"', str(ap), str(n), *(str(v) for v in sz), f'"{g[:2]}"', f'"{g[2:]}"']
            out.append(",".join(row))
    return "\r\n".join(out) + "\r\n"


def _points_in(rng: np.random.Generator, bg: pd.DataFrame, per_person: float) -> pd.DataFrame:
    """Points placed uniformly in block groups, about one per `per_person` people."""
    n = rng.poisson(bg["population"].to_numpy(dtype=float) / per_person)
    rows = np.repeat(np.arange(len(bg)), n)
    b = np.asarray(shapely.bounds(bg.geometry.to_numpy()))[rows]
    u, v = rng.random(len(rows)), rng.random(len(rows))
    return pd.DataFrame(
        {
            "GEOID": bg["GEOID"].to_numpy()[rows],
            "lon": b[:, 0] + u * (b[:, 2] - b[:, 0]),
            "lat": b[:, 1] + v * (b[:, 3] - b[:, 1]),
        }
    )


def _imls_csv(bg: pd.DataFrame, rng: np.random.Generator) -> str:
    """IMLS Public Libraries Survey outlets: about one per 18,000 people, one system a county."""
    pts = _points_in(rng, bg, 18_000.0)
    county = pts["GEOID"].str[:5]
    seq = pts.groupby(county).cumcount() + 1
    usps = county.str[:2].map(lambda f: lookup_state(f).usps)
    key = usps + county.str[2:5].str.zfill(4)
    df = pd.DataFrame(
        {
            "STABR": usps,
            "FSCSKEY": key,
            "FSCS_SEQ": seq.map("{:03d}".format),
            "LIBID": key + "-" + seq.map("{:03d}".format),
            "LIBNAME": "LIBRARY " + seq.astype(str) + " OF " + county,
            "ADDRESS": "1 MAIN STREET",
            "CITY": "TOWN " + pts["GEOID"].str[5:11],
            "ZIP": "00000",
            "CNTY": "COUNTY " + county.str[2:],
            "C_OUT_TY": np.where(seq == 1, "CE", "BR"),
            "LONGITUD": pts["lon"].map("{:.5f}".format),
            "LATITUDE": pts["lat"].map("{:.5f}".format),
            "INCITSST": county.str[:2],
            "INCITSCO": county.str[2:],
        }
    )
    return df.to_csv(index=False, lineterminator="\n")


def _edge_csv(bg: pd.DataFrame, rng: np.random.Generator) -> str:
    """NCES EDGE public-school geocodes: about one school per 3,300 people."""
    pts = _points_in(rng, bg, 3_300.0)
    county = pts["GEOID"].str[:5]
    leaid = county.str[:2] + county.str[2:5] + "00"
    seq = pts.groupby(leaid).cumcount() + 1
    usps = county.str[:2].map(lambda f: lookup_state(f).usps)
    df = pd.DataFrame(
        {
            "NCESSCH": leaid + seq.map("{:05d}".format),
            "LEAID": leaid,
            "NAME": "School " + seq.astype(str) + " of " + county,
            "OPSTFIPS": county.str[:2],
            "STREET": "1 SCHOOL ROAD",
            "CITY": "Town " + pts["GEOID"].str[5:11],
            "STATE": usps,
            "ZIP": "00000",
            "STFIP": county.str[:2],
            "CNTY": county,
            "NMCNTY": "County " + county.str[2:],
            "LOCALE": "41",
            "LAT": pts["lat"].map("{:.6f}".format),
            "LON": pts["lon"].map("{:.6f}".format),
        }
    )
    return df.to_csv(index=False, lineterminator="\n")


def _write_national(nation: SyntheticNation, folder: Path, year: int) -> dict[str, str]:
    """Files every state shares; their ``[data]`` keys and paths relative to the cache."""
    rng = np.random.default_rng(nation.seed + 7)
    t = nation.tables
    yy = f"{year % 100:02d}"
    names = {
        "states": f"cb_{year}_us_state_500k.zip",
        "counties": f"cb_{year}_us_county_500k.zip",
        "usage": "broadband_data_2020October.csv",
        "business": f"cbp{yy}co.txt",
        "libraries": f"pls_fy{yy}_outlet_pud{yy}i.csv",
        "schools": f"EDGE_GEOCODE_PUBLICSCH_{yy}{int(yy) + 1:02d}.csv",
    }
    for key, level in (("states", "state"), ("counties", "county")):
        frame = _boundary_frame(level, t[level], _names(level, t[level]))
        _write_zipped_shapefile(frame, folder / names[key])
    (folder / names["usage"]).write_text(_usage_csv(t["county"]), encoding="utf-8")
    (folder / names["business"]).write_text(_cbp_text(t["county"], rng), encoding="latin-1")
    (folder / names["libraries"]).write_text(_imls_csv(t["blockgroup"], rng), encoding="utf-8")
    (folder / names["schools"]).write_text(_edge_csv(t["blockgroup"], rng), encoding="utf-8")
    return {k: f"national/{v}" for k, v in names.items()}


def _write_state(
    nation: SyntheticNation, usps: str, fips: str, folder: Path, year: int, tile_bounds: np.ndarray
) -> dict[str, str]:
    """One state's own files; their ``[data]`` keys and paths relative to the cache."""
    t = nation.tables
    rel = f"states/{usps}"
    out: dict[str, str] = {}
    tracts = t["tract"][t["tract"]["state_GEOID"] == fips]
    bgs = t["blockgroup"][t["blockgroup"]["state_GEOID"] == fips]
    for key, level, table in (
        ("blockgroups", "blockgroup", bgs),
        ("tracts", "tract", tracts),
        ("cousubs", "cousub", _cousubs(tracts)),
    ):
        name = f"cb_{year}_{fips}_{_LEVEL_TOKENS[level]}_500k.zip"
        _write_zipped_shapefile(_boundary_frame(level, table, _names(level, table)), folder / name)
        out[key] = f"{rel}/{name}"
    acs = f"acs_{year}_{fips}_blockgroup.csv"
    synth.acs_table(bgs).to_csv(folder / acs, index=False, lineterminator="\n")
    out["acs"] = f"{rel}/{acs}"
    state_bounds = t["state"].geometry[t["state"]["GEOID"] == fips].total_bounds
    tiles = _tiles_in(nation.tiles, state_bounds, tile_bounds)
    if len(tiles):
        ookla = f"{year}-04-01_performance_fixed_tiles_{fips}.parquet"
        _ookla_parquet(tiles, folder / ookla)
        out["ookla"] = f"{rel}/{ookla}"
    return out


def _manifest(
    usps: str, fips: str, year: int, data: dict[str, str], missing: dict[str, str]
) -> str:
    doc = {
        "format": 1,
        "state": usps,
        "fips": fips,
        "year": year,
        "complete": not missing,
        "data": dict(sorted(data.items())),
        "missing": missing,
        "sources": {"generator": "equity.national.synthetic (fictional places, real layouts)"},
    }
    return json.dumps(doc, indent=2) + "\n"


def write_synthetic_cache(
    cache_folder: str | os.PathLike[str],
    nation: SyntheticNation,
    *,
    year: int = 2022,
    states: Iterable[str] | None = None,
) -> dict[str, Path]:
    """Write `nation` into `cache_folder` as the national fetch leaves it; return the manifests.

    Parameters
    ----------
    cache_folder
        The fetch cache to write (``national/`` and ``states/<USPS>/`` inside it).
    nation
        From :func:`synthetic_nation`.
    year
        Vintage in the file names and manifests.
    states
        USPS codes to write (default: every state of the nation).

    Returns
    -------
    dict
        USPS code to the path of its ``manifest.json``.
    """
    base = Path(cache_folder)
    usps_fips = nation.states
    wanted = list(usps_fips) if states is None else [lookup_state(s).usps for s in states]
    b = quadkey_to_bounds(nation.tiles["quadkey"].to_numpy(dtype=object))
    with atomic_dir(base / "national") as tmp:
        shared = _write_national(nation, tmp, year)
    missing = {k: "not generated by equity.national.synthetic" for k in NOT_GENERATED}
    manifests = {}
    for usps in wanted:
        fips = usps_fips[usps]
        with atomic_dir(base / "states" / usps) as tmp:
            own = _write_state(nation, usps, fips, tmp, year, b)
        path = base / "states" / usps / "manifest.json"
        atomic_write_text(path, _manifest(usps, fips, year, {**shared, **own}, missing))
        manifests[usps] = path
    return manifests
