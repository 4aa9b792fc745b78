"""A local mirror of the publishers' files, in their URL paths and layouts, for fetch tests.

Real excerpts from ``../shared/data`` where they exist, generated files otherwise:

- real: national state and county boundaries (the 2018 20m files, served under the year's
  500k names), Virginia block groups and tracts (2020 parts, renamed), the Virginia ACS values
  of B19013/B28001/B28002 (the Census API JSON shape is built from the CSV), Microsoft county
  usage, the IMLS FY2019 outlet file (served as the year's release), Ookla tiles of Hawaii and
  Bozeman (turned into Ookla's Parquet layout), IRS extracts of AK, DE, HI, VT and WV;
- generated (small, deterministic): block groups, tracts, places and county subdivisions of the
  other states (boxes around each state's representative point), TIGER 2020 tabulation blocks
  with ``HOUSING20``/``POP20``, the other ACS values, a CBP county file, an NCES EDGE zip (a
  workbook and a shapefile, as published), an IPEDS HD zip, the other IRS extracts, FCC BDC
  listings and zipped CSVs (two technologies per state, behind the FCC's header check), and
  Ookla tiles at each other state's representative point.

:func:`build_mirror` returns a :class:`Mirror` whose :meth:`Mirror.routes` feed
:class:`_httpserver.LocalServer`.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _httpserver import Reply

from equity.sources._states import STATES, State

YEAR = 2021
KEY = "SeCrEtKeY0123456789"
FCC_USER = "analyst@example.org"
FCC_TOKEN = "fccTOKEN-0123456789abcdef"
FCC_DATE = "2023-06-30"
MS_COMMIT = "c115330729a90e2728fb4435598616fb657aa281"
REAL_EO = ("ak", "de", "hi", "vt", "wv")
ALL_STATES = tuple(s for s in STATES if s.usps != "PR")

GENZ = "/geo/tiger/GENZ{y}/shp/cb_{y}_{area}_{level}_500k.zip"
TABBLOCK = "/geo/tiger/TIGER2020/TABBLOCK20/tl_2020_{fips}_tabblock20.zip"
USAGE = f"/microsoft/USBroadbandUsagePercentages/{MS_COMMIT}/dataset/broadband_data_2020October.csv"
OOKLA = (
    "/parquet/performance/type=fixed/year={y}/quarter=4/{y}-10-01_performance_fixed_tiles.parquet"
)
CBP = "/programs-surveys/cbp/datasets/{y}/cbp{yy}co.zip"
IMLS = "/sites/default/files/2023-06/pls_fy2021_csv.zip"
EDGE = "/programs/edge/data/EDGE_GEOCODE_PUBLICSCH_2122.zip"
IPEDS = "/ipeds/datacenter/data/HD{y}.zip"
IRS = "/pub/irs-soi/eo_{st}.csv"
ACS = "/data/{y}/acs/acs5"
FCC = "/api/public/map"

CBP_HEADER = (
    '"fipstate","fipscty","naics","emp_nf","emp","qp1_nf","qp1","ap_nf","ap","est",'
    '"n<5","n5_9","n10_19","n20_49","n50_99","n100_249","n250_499","n500_999","n1000",'
    '"n1000_1","n1000_2","n1000_3","n1000_4"\n'
)
EO_HEADER = (
    "EIN,NAME,ICO,STREET,CITY,STATE,ZIP,GROUP,SUBSECTION,AFFILIATION,CLASSIFICATION,RULING,"
    "DEDUCTIBILITY,FOUNDATION,ACTIVITY,ORGANIZATION,STATUS,TAX_PERIOD,ASSET_CD,INCOME_CD,"
    "FILING_REQ_CD,PF_FILING_REQ_CD,ACCT_PD,ASSET_AMT,INCOME_AMT,REVENUE_AMT,NTEE_CD,SORT_NAME\n"
)
BDC_HEADER = (
    "frn,provider_id,brand_name,location_id,technology,max_advertised_download_speed,"
    "max_advertised_upload_speed,low_latency,business_residential_code,state_usps,block_geoid,"
    "h3_res8_id\n"
)


def _n(*parts: object, mod: int = 1000) -> int:
    """A deterministic number from `parts`."""
    return zlib.crc32("|".join(map(str, parts)).encode()) % mod


def zip_bytes(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def shapefile_zip(gdf, stem: str, *, folder: str = "") -> dict[str, bytes]:
    """Zip entries of `gdf` written as the shapefile `stem` (NAD83, as Census publishes)."""
    import pyogrio

    with tempfile.TemporaryDirectory() as tmp:
        pyogrio.write_dataframe(
            gdf.to_crs("EPSG:4269"), Path(tmp) / f"{stem}.shp", encoding="UTF-8"
        )
        return {f"{folder}{p.name}": p.read_bytes() for p in sorted(Path(tmp).iterdir())}


@dataclass
class Layout:
    """The generated geography of one state."""

    st: State
    county: str  # 3 digits
    x0: float
    y0: float
    tracts: list[str] = field(default_factory=list)
    blockgroups: list[str] = field(default_factory=list)
    blocks: list[str] = field(default_factory=list)


@dataclass
class Mirror:
    """Static files by URL path, plus the Census and FCC APIs."""

    year: int
    files: dict[str, bytes]
    layouts: dict[str, Layout]
    acs_geoids: dict[str, list[str]]  # fips -> block-group GEOIDs the API serves
    real_acs: dict[str, dict[str, str]]  # VA GEOID -> real values
    fcc_files: dict[str, tuple[str, bytes]]  # file id -> (file name, zip bytes)
    fcc_listing: list[dict[str, object]]

    def routes(self) -> dict[str, object]:
        routes: dict[str, object] = {
            path: Reply(200, body, _type(path)) for path, body in self.files.items()
        }
        routes[ACS.format(y=self.year)] = self.census_api
        routes[f"{FCC}/listAsOfDates"] = self._fcc(self._dates)
        routes[f"{FCC}/downloads/listAvailabilityData/{FCC_DATE}"] = self._fcc(self._listing)
        for file_id, (_, body) in self.fcc_files.items():
            path = f"{FCC}/downloads/downloadFile/availability/{file_id}"
            routes[path] = self._fcc(
                lambda body=body: Reply(200, body, {"Content-Type": "application/zip"})
            )
        return routes

    # -- Census Data API ------------------------------------------------------------------

    def census_api(self, path: str, query: dict[str, list[str]]) -> Reply:
        if query.get("key", [KEY]) != [KEY]:
            page = b"<html><head><title>Invalid Key</title></head><body>Invalid Key</body></html>"
            return Reply(200, page, {"Content-Type": "text/html"})
        names = query.get("get", [""])[0].split(",")
        if any(n != "NAME" and not _is_variable(n) for n in names):
            bad = next(n for n in names if n != "NAME" and not _is_variable(n))
            return Reply(400, f"error: unknown variable '{bad}'".encode())
        level = query.get("for", [""])[0].split(":")[0]
        state = next((i.split(":")[1] for i in query.get("in", []) if i.startswith("state:")), "")
        geoids = self.acs_geoids.get(state)
        if level not in ("block group", "tract") or geoids is None:
            return Reply(400, b"error: unsupported geography")
        if level == "tract":
            geoids = sorted({g[:11] for g in geoids})
        table = [
            [
                *names,
                "state",
                "county",
                "tract",
                *(["block group"] if level == "block group" else []),
            ]
        ]
        for g in geoids:
            values = [self._value(g, n) for n in names]
            geo = [g[:2], g[2:5], g[5:11], *([g[11]] if level == "block group" else [])]
            table.append([*values, *geo])
        return Reply(
            200, json.dumps(table).encode(), {"Content-Type": "application/json;charset=utf-8"}
        )

    def _value(self, geoid: str, name: str) -> str:
        if name == "NAME":
            return f"Block Group {geoid[11:]}, Census Tract {int(geoid[5:11]) / 100:g}"
        real = self.real_acs.get(geoid)
        if real is not None and name in real:
            return real[name]
        if name == "B19013_001E" and _n(geoid, "sentinel", mod=17) == 0:
            return "-666666666"
        return str(_n(geoid, name, mod=900) + (0 if name.endswith("M") else 20))

    # -- FCC public data API --------------------------------------------------------------

    def _fcc(self, make: Callable[[], Reply]) -> Callable[..., Reply]:
        def answer(path: str, query: dict[str, list[str]], headers: dict[str, str]) -> Reply:
            if headers.get("username") != FCC_USER or headers.get("hash_value") != FCC_TOKEN:
                body = json.dumps({"status": "fail", "status_code": 401, "message": "Unauthorized"})
                return Reply(401, body.encode(), {"Content-Type": "application/json"})
            return make()

        return answer

    def _dates(self) -> Reply:
        data = [
            {"data_type": "availability", "as_of_date": "2022-12-31"},
            {"data_type": "availability", "as_of_date": FCC_DATE},
            {"data_type": "challenge", "as_of_date": "2024-01-01"},
        ]
        body = {"status_code": 200, "message": "success", "status": "successful", "data": data}
        return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    def _listing(self) -> Reply:
        body = {"status_code": 200, "status": "successful", "data": self.fcc_listing}
        return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})


def _type(path: str) -> dict[str, str]:
    suffix = path.rsplit(".", 1)[-1]
    kinds = {"zip": "application/zip", "csv": "text/csv", "parquet": "binary/octet-stream"}
    return {"Content-Type": kinds.get(suffix, "application/octet-stream")}


def _is_variable(name: str) -> bool:
    import re

    return re.fullmatch(r"[BC]\d{5}_\d{3}[EM]", name) is not None


# --------------------------------------------------------------------------------------
# building
# --------------------------------------------------------------------------------------


def _layouts(shared: Path, states: tuple[State, ...]) -> tuple[dict[str, Layout], object, object]:
    import geopandas as gpd

    us = shared / "boundaries/us"
    state_gdf = gpd.read_file(us / "cb_2018_us_state_20m.shp")
    county_gdf = gpd.read_file(us / "cb_2018_us_county_20m.shp")
    layouts = {}
    for st in states:
        poly = state_gdf.loc[state_gdf["STATEFP"] == st.fips, "geometry"].iloc[0]
        point = poly.representative_point()
        county = sorted(county_gdf.loc[county_gdf["STATEFP"] == st.fips, "COUNTYFP"])[0]
        lay = Layout(st, county, round(point.x, 4), round(point.y, 4))
        for t in (1, 2):
            tract = f"{st.fips}{county}{t:04d}00"
            lay.tracts.append(tract)
            for b in (1, 2):
                lay.blockgroups.append(f"{tract}{b}")
                lay.blocks += [f"{tract}{b}{k:03d}" for k in (1, 2)]
        layouts[st.fips] = lay
    return layouts, state_gdf, county_gdf


def _boxes(lay: Layout, ids: list[str], width: float = 0.04):
    """Side-by-side boxes around the state's point, one per id."""
    import shapely

    step = width / len(ids)
    x = lay.x0 - width / 2
    return [
        shapely.box(x + i * step, lay.y0 - 0.01, x + (i + 1) * step, lay.y0 + 0.01)
        for i in range(len(ids))
    ]


def _state_boundaries(lay: Layout, year: int) -> dict[str, bytes]:
    """Block groups, tracts, places and county subdivisions of one state (generated)."""
    import geopandas as gpd

    st, c = lay.st, lay.county
    common = {
        "STATEFP": st.fips,
        "STUSPS": st.usps,
        "STATE_NAME": st.name,
        "ALAND": 1_000_000,
        "AWATER": 0,
    }
    out = {}
    bg = gpd.GeoDataFrame(
        [
            {
                **common,
                "COUNTYFP": c,
                "TRACTCE": g[5:11],
                "BLKGRPCE": g[11],
                "AFFGEOID": f"1500000US{g}",
                "GEOID": g,
                "NAME": g[11],
                "NAMELSAD": f"Block Group {g[11]}",
                "NAMELSADCO": "County",
                "LSAD": "BG",
            }
            for g in lay.blockgroups
        ],
        geometry=_boxes(lay, lay.blockgroups),
        crs="EPSG:4326",
    )
    tract = gpd.GeoDataFrame(
        [
            {
                **common,
                "COUNTYFP": c,
                "TRACTCE": g[5:],
                "AFFGEOID": f"1400000US{g}",
                "GEOID": g,
                "NAME": str(int(g[5:]) / 100),
                "NAMELSAD": f"Census Tract {int(g[5:]) / 100:g}",
                "NAMELSADCO": "County",
                "LSAD": "CT",
            }
            for g in lay.tracts
        ],
        geometry=_boxes(lay, lay.tracts),
        crs="EPSG:4326",
    )
    place_id = f"{st.fips}{10000 + int(st.fips):05d}"
    place = gpd.GeoDataFrame(
        [
            {
                **common,
                "PLACEFP": place_id[2:],
                "PLACENS": "02390000",
                "AFFGEOID": f"1600000US{place_id}",
                "GEOID": place_id,
                "NAME": f"Springfield {st.usps}",
                "NAMELSAD": f"Springfield {st.usps} city",
                "LSAD": "25",
            }
        ],
        geometry=_boxes(lay, ["p"], width=0.02),
        crs="EPSG:4326",
    )
    cousub_ids = [f"{st.fips}{c}{90000 + i:05d}" for i in (1, 2)]
    cousub = gpd.GeoDataFrame(
        [
            {
                **common,
                "COUNTYFP": c,
                "COUSUBFP": g[5:],
                "COUSUBNS": "01927000",
                "AFFGEOID": f"0600000US{g}",
                "GEOID": g,
                "NAME": f"District {g[-1]}",
                "NAMELSAD": f"District {g[-1]}",
                "NAMELSADCO": "County",
                "LSAD": "22",
            }
            for g in cousub_ids
        ],
        geometry=_boxes(lay, cousub_ids),
        crs="EPSG:4326",
    )
    for level, gdf in (("bg", bg), ("tract", tract), ("place", place), ("cousub", cousub)):
        stem = f"cb_{year}_{st.fips}_{level}_500k"
        out[GENZ.format(y=year, area=st.fips, level=level)] = zip_bytes(shapefile_zip(gdf, stem))
    return out


def _blocks(lay: Layout) -> bytes:
    import geopandas as gpd

    st = lay.st
    rows = []
    for g in lay.blocks:
        housing = _n(g, "housing", mod=60)
        rows.append(
            {
                "STATEFP20": st.fips,
                "COUNTYFP20": g[2:5],
                "TRACTCE20": g[5:11],
                "BLOCKCE20": g[11:],
                "GEOID20": g,
                "NAME20": f"Block {g[11:]}",
                "MTFCC20": "G5040",
                "UR20": "R",
                "UACE20": "",
                "UATYPE20": "",
                "FUNCSTAT20": "S",
                "ALAND20": 250_000,
                "AWATER20": 0,
                "INTPTLAT20": f"+{lay.y0:.7f}",
                "INTPTLON20": f"{lay.x0:+.7f}",
                "HOUSING20": housing,
                "POP20": housing * 2 + _n(g, "pop", mod=5),
            }
        )
    gdf = gpd.GeoDataFrame(rows, geometry=_boxes(lay, lay.blocks), crs="EPSG:4326")
    return zip_bytes(shapefile_zip(gdf, f"tl_2020_{st.fips}_tabblock20"))


def _ookla(shared: Path, layouts: dict[str, Layout]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    from equity.tiles import quadkey_to_bounds, quadkeys_from_xy, tile_xy

    rows: list[dict[str, object]] = []
    for name in (
        "ookla_fixed_tiles_hawaii_2021Q1.geojson",
        "bozeman_mt/bozeman-mt_ookla_2021Q4.geojson",
    ):
        doc = json.loads((shared / "ookla" / name).read_text())
        rows += [f["properties"] for f in doc["features"]]
    for fips, lay in layouts.items():
        if fips in ("15", "30"):  # Hawaii and Montana: real tiles
            continue
        tx, ty = tile_xy(lay.x0, lay.y0)
        for dx in (0, 1, 2):
            qk = str(quadkeys_from_xy([tx + dx], [ty])[0])
            rows.append(
                {
                    "quadkey": qk,
                    "avg_d_kbps": 20000 + _n(qk, mod=90000),
                    "avg_u_kbps": 5000 + _n(qk, "u", mod=20000),
                    "avg_lat_ms": 10 + _n(qk, "l", mod=40),
                    "tests": 1 + _n(qk, "t", mod=30),
                    "devices": 1 + _n(qk, "d", mod=10),
                }
            )
    keys = [str(r["quadkey"]) for r in rows]
    b = quadkey_to_bounds(keys)
    tiles = shapely.to_wkt(shapely.box(b[:, 0], b[:, 1], b[:, 2], b[:, 3]))
    table = pa.table(
        {
            "quadkey": keys,
            "tile": list(tiles),
            **{
                c: pa.array([int(r[c]) for r in rows], pa.int64())
                for c in ("avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices")
            },
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink, row_group_size=1000)
    return sink.getvalue()


def _cbp(county_gdf, year: int) -> bytes:
    lines = [CBP_HEADER]
    for _, row in county_gdf.sort_values("GEOID").iterrows():
        s, c = row["STATEFP"], row["COUNTYFP"]
        est = 10 + _n(s, c, mod=500)
        lines.append(
            f'"{s}","{c}","------","G",{est * 9},"G",{est * 80},"G",{est * 350},{est},{est // 2},{est // 4},0,0,0,0,0,0,0,0,0,0,0\n'
        )
        lines.append(
            f'"{s}","{c}","44----","G",{est * 3},"G",{est * 20},"G",{est * 90},{est // 5},{est // 8},0,0,0,0,0,0,0,0,0,0,0,0\n'
        )
    return zip_bytes({f"cbp{year % 100:02d}co.txt": "".join(lines).encode()})


def _edge(layouts: dict[str, Layout]) -> bytes:
    import geopandas as gpd
    import openpyxl
    import shapely

    cols = [
        "NCESSCH",
        "LEAID",
        "NAME",
        "STREET",
        "CITY",
        "STATE",
        "ZIP",
        "STFIP",
        "CNTY",
        "NMCNTY",
        "LOCALE",
        "LAT",
        "LON",
        "SCHOOLYEAR",
    ]
    rows = []
    for fips, lay in layouts.items():
        for i in (1, 2):
            rows.append(
                [
                    f"{fips}{i:05d}00{i:03d}"[:12].ljust(12, "0"),
                    f"{fips}{i:05d}",
                    f"{lay.st.name} School {i}",
                    f"{i} Main St",
                    "Springfield",
                    lay.st.usps,
                    f"{10000 + int(fips) * 10 + i:05d}",
                    fips,
                    f"{fips}{lay.county}",
                    "County",
                    "41",
                    f"{lay.y0 + i * 0.001:.6f}",
                    f"{lay.x0:.6f}",
                    "2021-2022",
                ]
            )
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(cols)
    for r in rows:
        sheet.append(r)
    buf = io.BytesIO()
    book.save(buf)
    gdf = gpd.GeoDataFrame(
        [dict(zip(cols, r, strict=True)) for r in rows],
        geometry=[shapely.Point(float(r[12]), float(r[11])) for r in rows],
        crs="EPSG:4326",
    )
    folder = "EDGE_GEOCODE_PUBLICSCH_2122/"
    entries = {f"{folder}EDGE_GEOCODE_PUBLICSCH_2122.xlsx": buf.getvalue()}
    entries |= shapefile_zip(gdf, "EDGE_GEOCODE_PUBLICSCH_2122", folder=f"{folder}Shapefile_SCH/")
    return zip_bytes(entries)


def _ipeds(layouts: dict[str, Layout], year: int) -> bytes:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(
        [
            "UNITID",
            "INSTNM",
            "ADDR",
            "CITY",
            "STABBR",
            "ZIP",
            "FIPS",
            "COUNTYCD",
            "COUNTYNM",
            "LONGITUD",
            "LATITUDE",
        ]
    )
    for fips, lay in layouts.items():
        for i, name in (
            (1, f"{lay.st.name} State University"),
            (2, f"Collège Saint-{lay.st.usps}"),
        ):
            w.writerow(
                [
                    f"{100000 + int(fips) * 10 + i}",
                    name,
                    f"{i} College Ave",
                    "Springfield",
                    lay.st.usps,
                    f"{10000 + int(fips):05d}",
                    str(int(fips)),
                    f"{int(fips)}{lay.county}",
                    "County",
                    f"{lay.x0 + 0.002 * i:.6f}",
                    f"{lay.y0:.6f}",
                ]
            )
    return zip_bytes({f"hd{year}.csv": out.getvalue().encode("cp1252")})


def _eo(shared: Path, lay: Layout) -> bytes:
    usps = lay.st.usps.lower()
    real = shared / f"business/irs_eo/eo_{usps}.csv"
    if real.is_file():
        return real.read_bytes()
    lines = [EO_HEADER]
    for i in (1, 2, 3):
        ein = f"{int(lay.st.fips) * 1000 + i:09d}"
        lines.append(
            f"{ein},{lay.st.name.upper()} COMMUNITY FUND {i},,{i} MAIN ST,SPRINGFIELD,{lay.st.usps},"
            f"{10000 + i:05d}-0001,0000,03,3,1000,200001,1,15,000000000,1,01,202312,1,1,01,0,12,100,100,100,S20,\n"
        )
    return "".join(lines).encode()


def _fcc(
    layouts: dict[str, Layout],
) -> tuple[dict[str, tuple[str, bytes]], list[dict[str, object]]]:
    files: dict[str, tuple[str, bytes]] = {}
    listing: list[dict[str, object]] = []
    n = 0
    for fips, lay in layouts.items():
        for code, tech in ((40, "Cable"), (50, "FibertothePremises")):
            n += 1
            file_id = str(1_000_000 + n)
            name = f"bdc_{fips}_{tech}_fixed_broadband_J23_10jun2024"
            rows = [BDC_HEADER]
            for k, block in enumerate(lay.blocks):
                rows.append(
                    f"{3000000 + n:07d},{130000 + code},Provider {tech},{int(fips) * 10**6 + k},{code},"
                    f"{100 * (code // 10)},{20 if code == 40 else 100},1,R,{lay.st.usps},{block},88{fips}a1fffffffff\n"
                )
            files[file_id] = (name, zip_bytes({f"{name}.csv": "".join(rows).encode()}))
            listing.append(
                {
                    "file_id": file_id,
                    "category": "State",
                    "subcategory": "Location Coverage",
                    "technology_type": "Fixed Broadband",
                    "technology_code": str(code),
                    "technology_code_desc": tech,
                    "speed_tier": None,
                    "state_fips": fips,
                    "state_name": lay.st.name,
                    "provider_id": None,
                    "provider_name": None,
                    "file_type": "csv",
                    "file_name": name,
                    "record_count": str(len(rows) - 1),
                }
            )
        listing.append(
            {
                "file_id": str(9_000_000 + int(fips)),
                "category": "State",
                "subcategory": "Location Coverage",
                "technology_type": "Mobile Broadband",
                "technology_code": "300",
                "state_fips": fips,
                "file_type": "csv",
                "file_name": f"bdc_{fips}_mobile",
                "record_count": "1",
            }
        )
    return files, listing


def _real_acs(shared: Path) -> dict[str, dict[str, str]]:
    with open(shared / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv", newline="") as fh:
        return {row["GEOID"]: row for row in csv.DictReader(fh)}


def build_mirror(
    shared: Path, *, year: int = YEAR, states: tuple[State, ...] = ALL_STATES
) -> Mirror:
    """The publishers' files for `states` (real where ``../shared/data`` has them)."""
    layouts, state_gdf, county_gdf = _layouts(shared, states)
    us = shared / "boundaries/us"
    files = {
        GENZ.format(y=year, area="us", level="state"): zip_bytes(
            {
                f"cb_{year}_us_state_500k{p.suffix}": p.read_bytes()
                for p in sorted(us.glob("cb_2018_us_state_20m.*"))
            }
        ),
        GENZ.format(y=year, area="us", level="county"): zip_bytes(
            {
                f"cb_{year}_us_county_500k{p.suffix}": p.read_bytes()
                for p in sorted(us.glob("cb_2018_us_county_20m.*"))
            }
        ),
        USAGE: (shared / "broadband/microsoft_broadband_data_2020October.csv").read_bytes(),
        OOKLA.format(y=year): _ookla(shared, layouts),
        CBP.format(y=year, yy=f"{year % 100:02d}"): _cbp(county_gdf, year),
        IMLS: zip_bytes(
            {
                "PLS_FY2021 PUD_CSV/pls_fy21_outlet_pud21i.csv": (
                    shared / "anchors/imls_pls_fy19_outlet_pud19i.csv"
                ).read_bytes(),
                "PLS_FY2021 PUD_CSV/PLS_FY21_AE_pud21i.csv": b"STABR,FSCSKEY,LIBID,LIBNAME\nVA,VA0001,VA0001,SAMPLE\n",
            }
        ),
        EDGE: _edge(layouts),
        IPEDS.format(y=year): _ipeds(layouts, year),
    }
    acs_geoids = {fips: lay.blockgroups for fips, lay in layouts.items()}
    real_acs: dict[str, dict[str, str]] = {}
    for fips, lay in layouts.items():
        files |= _state_boundaries(lay, year)
        files[TABBLOCK.format(fips=fips)] = _blocks(lay)
        files[IRS.format(st=lay.st.usps.lower())] = _eo(shared, lay)
    if "51" in layouts:  # Virginia: real block groups, tracts and ACS values
        va = shared / "boundaries/va"
        for level in ("bg", "tract"):
            parts = sorted(va.glob(f"cb_2020_51_{level}_500k.*"))
            files[GENZ.format(y=year, area="51", level=level)] = zip_bytes(
                {f"cb_{year}_51_{level}_500k{p.suffix}": p.read_bytes() for p in parts}
            )
        real_acs = _real_acs(shared)
        acs_geoids["51"] = list(real_acs)
    fcc_files, listing = _fcc(layouts)
    return Mirror(year, files, layouts, acs_geoids, real_acs, fcc_files, listing)
