"""Downloads (`equity.sources.fetch`, `equity.sources._http`) against a local HTTP server.

The server listens on 127.0.0.1 only and serves the real files of ``../shared/data`` at URL
paths shaped like the real ones (zips are built on the fly from the shared shapefile parts);
the internet is never touched. Failure modes are served on purpose: HTTP 500, 404, a body cut
half-way, a slow answer, a refused connection.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import socket
import string
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from _httpserver import LocalServer, Reply, unused_port
from hypothesis import given
from hypothesis import settings as settings_hypothesis
from hypothesis import strategies as st

from equity import settings
from equity.errors import ConfigError, DataError, DownloadError
from equity.sources import _http, fetch
from equity.sources._http import cache_path, download, public_url, safe_extract
from equity.sources._states import STATES, lookup_state, state_fips, state_usps

KEY = "SeCrEtKeY0123456789"
ACS_FILE = "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv"
MS_COMMIT = fetch.MICROSOFT_USAGE_COMMIT
MS_COUNTY = (
    f"/microsoft/USBroadbandUsagePercentages/{MS_COMMIT}/dataset/broadband_data_2020October.csv"
)
MS_ZIP = f"/microsoft/USBroadbandUsagePercentages/{MS_COMMIT}/dataset/broadband_data_zipcode.csv"
GENZ = "/geo/tiger/GENZ{y}/shp/cb_{y}_{area}_{level}_{res}.zip"
OOKLA = (
    "/parquet/performance/type=fixed/year=2021/quarter=1/2021-01-01_performance_fixed_tiles.parquet"
)
# hand-made County Business Patterns county file in the published layout (the kit has no CBP
# county file): two Virginia counties, all-industry totals and one sector
CBP21CO = (
    '"fipstate","fipscty","naics","emp_nf","emp","qp1_nf","qp1","ap_nf","ap","est",'
    '"n<5","n5_9","n10_19","n20_49","n50_99","n100_249","n250_499","n500_999","n1000",'
    '"n1000_1","n1000_2","n1000_3","n1000_4"\n'
    '"51","001","------","G",100,"G",900,"G",4000,30,20,5,3,2,0,0,0,0,0,0,0,0,0\n'
    '"51","001","44----","G",40,"G",300,"G",1200,10,7,2,1,0,0,0,0,0,0,0,0,0,0\n'
    '"51","003","------","H",250,"H",2500,"H",10000,60,40,10,6,3,1,0,0,0,0,0,0,0,0\n'
)


# --------------------------------------------------------------------------------------
# fixtures: the files the server serves (built once) and the server itself (per test)
# --------------------------------------------------------------------------------------


def _zip_parts(parts: list[Path], *, stem: str | None = None) -> bytes:
    """Zip shapefile parts as Census does (flat entries); `stem` renames them."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for part in parts:
            name = f"{stem}{part.suffix}" if stem else part.name
            zf.write(part, name)
    return buf.getvalue()


@pytest.fixture(scope="session")
def served(shared_data: Path) -> dict[str, bytes]:
    """URL path -> body of every static file the local server serves."""
    bnd = shared_data / "boundaries"
    us_county = sorted((bnd / "us").glob("cb_2018_us_county_20m.*"))
    files = {
        GENZ.format(y=2018, area="us", level="county", res="20m"): _zip_parts(us_county),
        GENZ.format(y=2018, area="us", level="state", res="20m"): _zip_parts(
            sorted((bnd / "us").glob("cb_2018_us_state_20m.*"))
        ),
        GENZ.format(y=2020, area="51", level="bg", res="500k"): _zip_parts(
            sorted((bnd / "va").glob("cb_2020_51_bg_500k.*"))
        ),
        GENZ.format(y=2020, area="51", level="tract", res="500k"): _zip_parts(
            sorted((bnd / "va").glob("cb_2020_51_tract_500k.*"))
        ),
        # stand-in: the kit has no 2020 national county file, so the 2018 one is served
        GENZ.format(y=2020, area="us", level="county", res="20m"): _zip_parts(
            us_county, stem="cb_2020_us_county_20m"
        ),
        MS_COUNTY: (
            shared_data / "broadband/microsoft_broadband_data_2020October.csv"
        ).read_bytes(),
        MS_ZIP: (shared_data / "broadband/microsoft_broadband_data_zipcode.csv").read_bytes(),
    }
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.write(shared_data / "business/census_zbp18totals.txt", "zbp18totals.txt")
    files["/programs-surveys/cbp/datasets/2018/zbp18totals.zip"] = buf.getvalue()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("cbp21co.txt", CBP21CO)
    files["/programs-surveys/cbp/datasets/2021/cbp21co.zip"] = buf.getvalue()
    return files


@pytest.fixture(scope="session")
def ookla_parquet(shared_data: Path) -> bytes:
    """The Hawaii 2021 Q1 Ookla tiles re-encoded in the layout of Ookla's Parquet files."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import shapely

    doc = json.loads((shared_data / "ookla/ookla_fixed_tiles_hawaii_2021Q1.geojson").read_text())
    props = [f["properties"] for f in doc["features"]]
    tiles = shapely.to_wkt(
        shapely.from_geojson([json.dumps(f["geometry"]) for f in doc["features"]])
    )
    table = pa.table(
        {
            "quadkey": [p["quadkey"] for p in props],
            "tile": list(tiles),
            "avg_d_kbps": pa.array([p["avg_d_kbps"] for p in props], pa.int64()),
            "avg_u_kbps": pa.array([p["avg_u_kbps"] for p in props], pa.int64()),
            "avg_lat_ms": pa.array([p["avg_lat_ms"] for p in props], pa.int64()),
            "tests": pa.array([p["tests"] for p in props], pa.int64()),
            "devices": pa.array([p["devices"] for p in props], pa.int64()),
        }
    )
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.fixture(scope="session")
def acs_rows(shared_data: Path) -> list[dict[str, str]]:
    with open(shared_data / ACS_FILE, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _census_api(acs_rows: list[dict[str, str]]):
    """A Census Data API stand-in answering ACS 5-year block-group queries for Virginia."""
    columns = set(acs_rows[0])

    def answer(path: str, query: dict[str, list[str]]) -> Reply:
        if query.get("key", [KEY]) != [KEY]:
            # what api.census.gov does with a bad key: an HTML page, status 200
            return Reply(
                200, b"<html><body>Invalid Key</body></html>", {"Content-Type": "text/html"}
            )
        names = query.get("get", [""])[0].split(",")
        unknown = [n for n in names if n != "NAME" and n not in columns]
        if unknown:
            return Reply(400, f"error: unknown variable '{unknown[0]}'".encode())
        if query.get("for") != ["block group:*"] or "state:51" not in query.get("in", []):
            return Reply(400, b"error: this stand-in serves Virginia block groups only")
        header = [*names, "state", "county", "tract", "block group"]
        table = [header]
        for row in acs_rows:
            g = row["GEOID"]
            name = f"Block Group {g[11]}, Census Tract {int(g[5:11]) / 100:g}, Virginia"
            values = [name if n == "NAME" else row[n] for n in names]
            table.append([*values, g[:2], g[2:5], g[5:11], g[11]])
        return Reply(200, json.dumps(table).encode(), {"Content-Type": "application/json"})

    return answer


@pytest.fixture
def mirror(served, ookla_parquet, acs_rows, tmp_path, monkeypatch):
    """A local server holding the public files; every source and the cache point at it."""
    routes = {path: Reply(200, body) for path, body in served.items()}
    routes[OOKLA] = Reply(200, ookla_parquet)
    routes["/data/2021/acs/acs5"] = _census_api(acs_rows)
    with LocalServer(routes, lifetime_s=60, max_requests=200) as server:
        for name in _http.base_urls:
            monkeypatch.setitem(_http.base_urls, name, server.url)
        monkeypatch.setattr(settings, "cache_folder", tmp_path / "cache")
        monkeypatch.setattr(settings, "census_api_key", None)
        monkeypatch.setattr(settings, "http_timeout_s", 5.0)
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _reader(module: str, name: str):
    """A reader of `equity.sources` when it can be imported (it is written separately)."""
    import importlib

    for where in ("equity.sources", f"equity.sources.{module}"):
        try:
            found = getattr(importlib.import_module(where), name, None)
        except Exception:  # a module mid-edit must not break the download tests
            found = None
        if found is not None:
            return found
    return None


def _cached_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# --------------------------------------------------------------------------------------
# download: cache, atomicity, retries, errors
# --------------------------------------------------------------------------------------


def test_download_caches_by_url_and_second_call_makes_no_request(mirror, shared_data, cache):
    url = mirror.url + MS_COUNTY
    path = download(url, backoff=0)
    assert path == cache_path(url)
    assert path.parent == cache
    assert path.name.endswith(".csv") and len(path.stem) == 40
    assert (
        path.read_bytes()
        == (shared_data / "broadband/microsoft_broadband_data_2020October.csv").read_bytes()
    )
    assert mirror.count(MS_COUNTY) == 1
    assert download(url) == path
    assert mirror.count(MS_COUNTY) == 1  # served from the cache
    assert download(url, force=True) == path
    assert mirror.count(MS_COUNTY) == 2
    assert _cached_files(cache) == [path]  # no temporary file left behind


def test_download_writes_to_cache_folder_argument(mirror, tmp_path):
    other = tmp_path / "elsewhere"
    path = download(mirror.url + MS_ZIP, cache_folder=other)
    assert path.parent == other and path.stat().st_size == 1_491_827


def test_truncated_body_is_retried_then_fails_and_nothing_is_cached(cache, shared_data):
    body = (shared_data / "broadband/microsoft_broadband_data_2020October.csv").read_bytes()
    routes = {MS_COUNTY: Reply(200, body, truncate_at=len(body) // 2)}
    with LocalServer(routes, lifetime_s=20) as server:
        url = server.url + MS_COUNTY
        with pytest.raises(DownloadError, match="truncated") as err:
            download(url, cache_folder=cache, retries=2, backoff=0, timeout=5)
        assert server.count(MS_COUNTY) == 3
    assert url in str(err.value)
    assert str(cache_path(url, cache_folder=cache)) in str(err.value)
    assert _cached_files(cache) == []


def test_truncated_body_then_complete_body_succeeds(cache, shared_data):
    body = (shared_data / "broadband/microsoft_broadband_data_2020October.csv").read_bytes()
    routes = {MS_COUNTY: [Reply(200, body, truncate_at=1000), Reply(200, body)]}
    with LocalServer(routes, lifetime_s=20) as server:
        path = download(server.url + MS_COUNTY, cache_folder=cache, retries=2, backoff=0)
        assert server.count(MS_COUNTY) == 2
    assert path.read_bytes() == body
    assert _cached_files(cache) == [path]


def test_http_500_is_retried_then_fails_without_cache_file(cache):
    with LocalServer({"/x.csv": Reply(500, b"oops")}, lifetime_s=20) as server:
        with pytest.raises(DownloadError, match=r"HTTP 500.*") as err:
            download(server.url + "/x.csv", cache_folder=cache, retries=3, backoff=0)
        assert server.count("/x.csv") == 4
    assert "after 4 attempts" in str(err.value)
    assert _cached_files(cache) == []


def test_http_500_once_then_200_succeeds(cache, caplog):
    routes = {"/x.csv": [Reply(500, b"oops"), Reply(200, b"a,b\n1,2\n")]}
    with LocalServer(routes, lifetime_s=20) as server, caplog.at_level(logging.INFO, "equity"):
        path = download(server.url + "/x.csv", cache_folder=cache, retries=1, backoff=0)
        assert server.count("/x.csv") == 2
    assert path.read_text() == "a,b\n1,2\n"
    assert any("retry 1 of 1" in r.getMessage() for r in caplog.records)
    assert any("Downloaded" in r.getMessage() for r in caplog.records)


def test_429_honours_retry_after_and_is_retried(cache):
    routes = {"/x.csv": [Reply(429, b"slow down", {"Retry-After": "0"}), Reply(200, b"ok")]}
    with LocalServer(routes, lifetime_s=20) as server:
        path = download(server.url + "/x.csv", cache_folder=cache, retries=1, backoff=0)
        assert server.count("/x.csv") == 2
    assert path.read_bytes() == b"ok"


def test_http_404_fails_at_once_naming_the_url(cache):
    with LocalServer({}, lifetime_s=20) as server:
        url = server.url + "/geo/tiger/GENZ2031/shp/cb_2031_us_county_500k.zip"
        with pytest.raises(DownloadError, match="HTTP 404") as err:
            download(url, cache_folder=cache, retries=3, backoff=5)  # a retry would take 5 s
        assert len(server.requests) == 1
    assert url in str(err.value)
    assert _cached_files(cache) == []


def test_connection_refused_says_offline_and_where_to_put_the_file(cache):
    url = f"http://127.0.0.1:{unused_port()}/dataset/broadband_data_2020October.csv"
    with pytest.raises(DownloadError) as err:
        download(url, cache_folder=cache, retries=1, backoff=0, timeout=2)
    message = str(err.value)
    assert "seems to be offline" in message
    assert url in message
    assert str(cache_path(url, cache_folder=cache)) in message
    assert _cached_files(cache) == []


def test_dns_failure_says_offline(cache, monkeypatch):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)  # no lookup ever leaves the machine
    url = "https://www2.census.gov/geo/tiger/GENZ2021/shp/cb_2021_us_state_20m.zip"
    with pytest.raises(DownloadError, match="www2.census.gov: this machine seems to be offline"):
        download(url, cache_folder=cache, retries=0)


def test_slow_server_times_out(cache):
    with LocalServer({"/slow.csv": Reply(200, b"late", delay_s=10)}, lifetime_s=20) as server:
        with pytest.raises(DownloadError, match="timed out") as err:
            download(
                server.url + "/slow.csv", cache_folder=cache, retries=1, backoff=0, timeout=0.3
            )
        assert server.count("/slow.csv") == 2
    assert "seems to be offline" not in str(err.value)
    assert _cached_files(cache) == []


def test_failed_forced_refresh_keeps_the_previous_copy(cache):
    routes = {"/x.csv": [Reply(200, b"v1"), Reply(500, b"down")]}
    with LocalServer(routes, lifetime_s=20) as server:
        path = download(server.url + "/x.csv", cache_folder=cache)
        with pytest.raises(DownloadError):
            download(server.url + "/x.csv", cache_folder=cache, force=True, retries=0)
    assert path.read_bytes() == b"v1"
    assert _cached_files(cache) == [path]


def test_rejected_body_is_not_cached(cache):
    def not_a_zip(path: Path) -> None:
        if not zipfile.is_zipfile(path):
            raise DataError("not a zip")

    with LocalServer({"/a.zip": Reply(200, b"<html>maintenance</html>")}, lifetime_s=20) as server:
        with pytest.raises(DataError, match="not a zip"):
            download(server.url + "/a.zip", cache_folder=cache, validate=not_a_zip)
        assert server.count("/a.zip") == 1  # a bad body is not retried
    assert _cached_files(cache) == []


def test_only_http_urls(cache):
    with pytest.raises(DownloadError, match="only http and https"):
        download("file:///etc/passwd", cache_folder=cache)


# --------------------------------------------------------------------------------------
# API key: sent, but never hashed, logged or shown
# --------------------------------------------------------------------------------------


def test_api_key_is_sent_but_not_in_cache_name_logs_or_errors(mirror, cache, caplog):
    base = mirror.url + "/data/2021/acs/acs5"
    query = {"get": "NAME,B28002_013E", "for": "block group:*", "in": "state:51"}
    with caplog.at_level(logging.DEBUG, "equity"):
        path = download(base, params={**query, "key": KEY}, suffix=".json")
    assert any(f"key={KEY}" in r for r in mirror.requests)
    assert path == cache_path(base, params=query, suffix=".json")
    assert KEY not in str(path)
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert public_url(base, params={**query, "key": KEY}) == public_url(base, params=query)
    assert "block%20group:*" in public_url(base, params=query)
    # an error echoing the key: the message does not show it
    with pytest.raises(DownloadError) as err:
        download(mirror.url + "/data/2021/acs/missing", params={"key": KEY}, retries=0)
    assert KEY not in str(err.value)


def test_api_key_hidden_in_retry_logs_and_final_error(cache, caplog):
    with LocalServer({"/data/2021/acs/acs5": Reply(503, b"busy")}, lifetime_s=20) as server:
        with caplog.at_level(logging.DEBUG, "equity"), pytest.raises(DownloadError) as err:
            download(
                server.url + "/data/2021/acs/acs5",
                params={"key": KEY},
                retries=2,
                backoff=0,
                cache_folder=cache,
            )
        assert all(f"key={KEY}" in r for r in server.requests)
    assert len(caplog.records) == 2
    assert all(KEY not in r.getMessage() for r in caplog.records)
    assert KEY not in str(err.value) and "HTTP 503" in str(err.value)


@settings_hypothesis(max_examples=50, deadline=None)
@given(key=st.text(alphabet=string.ascii_letters + string.digits + "-_.~", min_size=1, max_size=40))
def test_cache_name_does_not_depend_on_the_key(key, tmp_path_factory):
    folder = tmp_path_factory.getbasetemp() / "unused-cache"
    url = "https://api.census.gov/data/2021/acs/acs5"
    query = [("get", "NAME,B28002_013E"), ("for", "block group:*"), ("in", "state:51")]
    keyed = [*query, ("key", key)]
    assert cache_path(url, params=keyed, cache_folder=folder) == cache_path(
        url, params=query, cache_folder=folder
    )
    assert "key=" not in public_url(url, params=keyed)
    assert public_url(f"{url}?key={key}", params=query) == public_url(url, params=query)


def test_bad_api_key_page_is_rejected_not_cached_and_key_hidden(mirror, cache):
    with pytest.raises(DataError, match="invalid API key") as err:
        fetch.fetch_acs(["B28002_013"], year=2021, state="VA", key="wrong-key-987")
    assert "wrong-key-987" not in str(err.value)
    assert _cached_files(cache) == []


def test_census_api_error_body_is_shown(mirror):
    with pytest.raises(DownloadError, match="unknown variable 'B99999_001E'"):
        fetch.fetch_acs(["B99999_001"], year=2021, state="VA", key=KEY)


# --------------------------------------------------------------------------------------
# safe zip extraction
# --------------------------------------------------------------------------------------


def _zip_with(tmp_path: Path, entries: dict[str, bytes], *, symlink: str | None = None) -> Path:
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        if symlink:
            info = zipfile.ZipInfo(symlink)
            info.external_attr = (0o120777 << 16) | 0  # S_IFLNK
            zf.writestr(info, "/etc/passwd")
    return path


@pytest.mark.parametrize(
    "evil",
    ["../evil.txt", "sub/../../evil.txt", "/tmp/evil_abs.txt", "..\\evil.txt", "C:/evil.txt"],
)
def test_safe_extract_refuses_traversal_and_absolute_paths(tmp_path, evil):
    archive = _zip_with(tmp_path, {"good.txt": b"fine", evil: b"pwned"})
    dest = tmp_path / "out" / "dest"
    with pytest.raises(DataError, match="unsafe") as err:
        safe_extract(archive, dest)
    assert repr(evil) in str(err.value)
    assert not dest.exists()  # nothing extracted, not even the good entry
    assert not (tmp_path / "out" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert not Path("/tmp/evil_abs.txt").exists()


def test_safe_extract_refuses_symlinks(tmp_path):
    archive = _zip_with(tmp_path, {"good.txt": b"fine"}, symlink="link")
    with pytest.raises(DataError, match="symbolic link"):
        safe_extract(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_safe_extract_extracts_nested_files_and_members(tmp_path):
    archive = _zip_with(tmp_path, {"a.txt": b"A", "dir/b.txt": b"B", "dir/": b""})
    files = safe_extract(archive, tmp_path / "dest")
    assert files == [tmp_path / "dest/a.txt", tmp_path / "dest/dir/b.txt"]
    assert [f.read_bytes() for f in files] == [b"A", b"B"]
    assert sorted(p.name for p in (tmp_path / "dest").iterdir()) == ["a.txt", "dir"]
    only = safe_extract(archive, tmp_path / "only", members=["dir/b.txt"])
    assert only == [tmp_path / "only/dir/b.txt"]
    with pytest.raises(DataError, match="no entry"):
        safe_extract(archive, tmp_path / "none", members=["missing.txt"])


def test_safe_extract_rejects_non_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataError, match="not a readable zip"):
        safe_extract(bad, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


# --------------------------------------------------------------------------------------
# URLs and states
# --------------------------------------------------------------------------------------


def test_urls_are_the_published_ones():
    assert fetch.census_api_url(["B28002_013"], year=2021, state="VA") == (
        "https://api.census.gov/data/2021/acs/acs5?get=NAME,B28002_013E,B28002_013M"
        "&for=block%20group:*&in=state:51&in=county:*&in=tract:*"
    )
    assert fetch.census_api_url(["B19013_001E"], year=2019, state=None, level="county") == (
        "https://api.census.gov/data/2019/acs/acs5?get=NAME,B19013_001E&for=county:*"
    )
    assert fetch.boundaries_url("town", year=2021, state="51") == (
        "https://www2.census.gov/geo/tiger/GENZ2021/shp/cb_2021_51_cousub_500k.zip"
    )
    assert fetch.boundaries_url("state", year=2020, state="VA", resolution="5m") == (
        "https://www2.census.gov/geo/tiger/GENZ2020/shp/cb_2020_us_state_5m.zip"
    )
    assert fetch.ookla_url(year=2020, quarter=4, service="mobile", format="shapefile") == (
        "https://ookla-open-data.s3.amazonaws.com/shapefiles/performance/type=mobile/year=2020"
        "/quarter=4/2020-10-01_performance_mobile_tiles.zip"
    )
    assert fetch.broadband_usage_url("zip", ref="master") == (
        "https://raw.githubusercontent.com/microsoft/USBroadbandUsagePercentages/master"
        "/dataset/broadband_data_zipcode.csv"
    )
    assert fetch.business_patterns_url(year=2018, level="zip") == (
        "https://www2.census.gov/programs-surveys/cbp/datasets/2018/zbp18totals.zip"
    )


def test_bad_options_are_refused_with_the_valid_choices():
    with pytest.raises(ConfigError, match="per state"):
        fetch.boundaries_url("tract", year=2021)
    with pytest.raises(ConfigError, match="only at 500k"):
        fetch.boundaries_url("bg", year=2021, state="VA", resolution="20m")
    with pytest.raises(ConfigError, match=r"unknown boundary level 'trakt'; valid: blockgroup,"):
        fetch.boundaries_url("trakt", year=2021, state="VA")
    assert fetch.boundaries_url("cd118", year=2023).endswith("/cb_2023_us_cd118_500k.zip")
    with pytest.raises(ConfigError, match="service.*quarter"):
        fetch.ookla_url(year=2021, quarter=5, service="satellite")
    with pytest.raises(ConfigError, match="needs a state"):
        fetch.census_api_url(["B28002_013"], year=2021, state=None)
    with pytest.raises(ConfigError, match="not ACS variable names"):
        fetch.census_api_url(["households"], year=2021, state="VA")
    with pytest.raises(ConfigError, match=r"valid: county, zip$"):
        fetch.fetch_broadband_usage("tract")
    with pytest.raises(ConfigError, match="limit"):
        fetch.census_api_url(fetch.ACS_BLOCKGROUP_VARIABLES, year=2021, state="VA")


def test_state_table():
    assert len(STATES) == 52
    assert len({s.fips for s in STATES}) == len({s.usps for s in STATES}) == 52
    assert state_fips("VA") == state_fips("51") == state_fips(51) == state_fips("virginia") == "51"
    assert state_usps("6") == "CA" and state_usps("72") == "PR" and state_usps("DC") == "DC"
    with pytest.raises(ConfigError, match="VA"):
        lookup_state("XN")
    with pytest.raises(ConfigError):
        lookup_state(True)


# --------------------------------------------------------------------------------------
# fetch_* against the local mirror
# --------------------------------------------------------------------------------------


def test_fetch_acs_json_and_csv_match_the_published_values(mirror, acs_rows, tmp_path):
    variables = ["B19013_001", "B28002_001", "B28002_013"]
    path = fetch.fetch_acs(variables, year=2021, state="VA", key=KEY)
    table = json.loads(path.read_text())
    assert table[0] == [
        "NAME",
        *("B19013_001E", "B19013_001M", "B28002_001E", "B28002_001M"),
        *("B28002_013E", "B28002_013M", "state", "county", "tract", "block group"),
    ]
    assert len(table) - 1 == len(acs_rows) == 5963
    out = fetch.acs_json_to_csv(path, tmp_path / "acs.csv")
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["GEOID"] for r in rows] == [r["GEOID"] for r in acs_rows]
    for col in ("B19013_001E", "B19013_001M", "B28002_013E"):
        assert [r[col] for r in rows] == [r[col] for r in acs_rows]
    assert sum(r["B19013_001E"] == "-666666666" for r in rows) == 314  # sentinels untouched
    assert fetch.fetch_acs(variables, year=2021, state="51", key=KEY) == path
    assert mirror.count("/data/2021/acs/acs5") == 1


def test_fetch_acs_splits_long_variable_lists_and_joins_them(mirror, monkeypatch, acs_rows):
    variables = ["B19013_001", "B28001_001", "B28001_002", "B28002_001", "B28002_004"]
    single = json.loads(fetch.fetch_acs(variables, year=2021, state="VA", key=KEY).read_text())
    monkeypatch.setattr(fetch.files, "_MAX_GET", 4)  # NAME + 3 variables per request
    joined_path = fetch.fetch_acs(variables, year=2021, state="VA", key=KEY)
    assert mirror.count("/data/2021/acs/acs5") == 1 + 4  # 10 names in 4 requests
    assert json.loads(joined_path.read_text()) == single
    assert fetch.fetch_acs(variables, year=2021, state="VA", key=KEY) == joined_path
    assert mirror.count("/data/2021/acs/acs5") == 5


def test_fetch_boundaries_zip_is_readable(mirror, shared_data):
    import pyogrio

    path = fetch.fetch_boundaries("county", year=2018, resolution="20m")
    assert path.suffix == ".zip"
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(
            p.name for p in (shared_data / "boundaries/us").glob("cb_2018_us_county_20m.*")
        )
    info = pyogrio.read_info(path)
    assert info["features"] == 3220
    assert fetch.fetch_boundaries("county", year=2018, resolution="20m") == path
    assert mirror.count(GENZ.format(y=2018, area="us", level="county", res="20m")) == 1


def test_fetch_boundaries_rejects_a_non_zip_body(mirror, cache):
    mirror.routes[GENZ.format(y=2019, area="us", level="state", res="20m")] = Reply(
        200, b"<html>We're down for maintenance</html>"
    )
    with pytest.raises(DataError, match="not a valid zip"):
        fetch.fetch_boundaries("state", year=2019, resolution="20m")
    assert _cached_files(cache) == []


def test_fetch_ookla_parquet(mirror):
    import pyarrow.parquet as pq

    path = fetch.fetch_ookla(year=2021, quarter=1)
    assert path.suffix == ".parquet"
    table = pq.read_table(path)
    assert table.num_rows == 4292
    assert {"quadkey", "tile", "avg_d_kbps", "tests", "devices"} <= set(table.column_names)
    read_ookla = _reader("ookla", "read_ookla")
    if read_ookla is not None:
        tiles = read_ookla(path)
        assert len(tiles) == 4292 and tiles["download_mbps"].gt(0).all()


def test_fetch_broadband_usage_both_files(mirror, shared_data):
    county = fetch.fetch_broadband_usage("county")
    zips = fetch.fetch_broadband_usage("zip")
    assert (
        county.read_bytes()
        == (shared_data / "broadband/microsoft_broadband_data_2020October.csv").read_bytes()
    )
    assert (
        zips.read_bytes()
        == (shared_data / "broadband/microsoft_broadband_data_zipcode.csv").read_bytes()
    )


def test_fetch_business_patterns_extracts_the_text_file(mirror, shared_data):
    path = fetch.fetch_business_patterns(year=2018, level="zip")
    assert path.name == "zbp18totals.txt"
    assert path.read_bytes() == (shared_data / "business/census_zbp18totals.txt").read_bytes()
    assert fetch.fetch_business_patterns(year=2018, level="zip") == path
    assert mirror.count("/programs-surveys/cbp/datasets/2018/zbp18totals.zip") == 1
    read_business_patterns = _reader("business", "read_business_patterns")
    if read_business_patterns is not None:
        zbp = read_business_patterns(path)
        assert len(zbp) == 35244 and zbp["GEOID"].str.len().eq(5).all()


# --------------------------------------------------------------------------------------
# fetch_state end to end
# --------------------------------------------------------------------------------------


def test_fetch_state_end_to_end(mirror, acs_rows, shared_data, tmp_path, caplog, capsys):
    variables = [
        "B19013_001",
        "B28001_001",
        "B28001_002",
        "B28002_001",
        "B28002_004",
        "B28002_007",
        "B28002_013",
    ]
    with caplog.at_level(logging.INFO, "equity"):
        paths = fetch.fetch_state(
            "VA",
            year=2021,
            boundary_year=2020,
            resolution="20m",
            levels=("blockgroup", "tract", "county"),
            variables=variables,
            tract_variables=(),
            key=KEY,
            out=tmp_path / "out",
        )
    assert capsys.readouterr().out == ""  # logs, never prints
    assert sorted(paths) == ["acs", "blockgroup", "business", "county", "tract", "usage"]
    assert {p.name for p in paths.values()} == {
        "acs_2021_51_blockgroup.csv",
        "cb_2020_51_bg_500k.zip",
        "cb_2020_51_tract_500k.zip",
        "cb_2020_us_county_20m.zip",
        "broadband_data_2020October.csv",
        "cbp21co.txt",
    }
    assert all(p.parent == tmp_path / "out" and p.is_file() for p in paths.values())
    assert sum(r.getMessage().startswith(tuple(paths)) for r in caplog.records) == len(paths)
    assert paths["business"].read_text() == CBP21CO

    with open(paths["acs"], newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["GEOID"] for r in rows] == [r["GEOID"] for r in acs_rows]
    assert all(
        r[f"{v}E"] == a[f"{v}E"] and r[f"{v}M"] == a[f"{v}M"]
        for r, a in zip(rows, acs_rows, strict=True)
        for v in variables
    )

    read_boundaries = _reader("boundaries", "read_boundaries")
    if read_boundaries is not None:
        bg = read_boundaries(paths["blockgroup"])
        assert len(bg) == 5951 and bg["GEOID"].str.len().eq(12).all()
    else:
        import pyogrio

        assert pyogrio.read_info(paths["blockgroup"])["features"] == 5951
    import pyogrio

    assert pyogrio.read_info(paths["tract"])["features"] == 2186
    assert pyogrio.read_info(paths["county"])["features"] == 3220
    read_acs = _reader("acs", "read_acs")
    if read_acs is not None:
        acs = read_acs(paths["acs"])
        assert len(acs) == 5963 and acs["B19013_001E"].isna().sum() >= 314
    read_usage = _reader("broadband", "read_broadband_usage")
    if read_usage is not None:
        assert len(read_usage(paths["usage"])) == 3142

    # a second run is served from the cache: no new request
    before = len(mirror.requests)
    again = fetch.fetch_state(
        51,
        year=2021,
        boundary_year=2020,
        resolution="20m",
        levels=("blockgroup", "tract", "county"),
        variables=variables,
        tract_variables=(),
        key=KEY,
    )
    assert len(mirror.requests) == before
    assert all(p.is_file() and settings.cache_folder in p.parents for p in again.values())
    if read_boundaries is not None:  # cache files are named by hash: readers still cope
        assert read_boundaries(again["tract"])["level"].eq("tract").all()
    if read_acs is not None:
        assert len(read_acs(again["acs"])) == 5963


def test_fetch_state_stops_on_a_missing_file_naming_it(mirror):
    # the kit has no county subdivision (town) file: the mirror answers 404
    with pytest.raises(DownloadError, match=quote("cb_2020_51_cousub_500k.zip")):
        fetch.fetch_state(
            "VA",
            year=2021,
            boundary_year=2020,
            levels=("town",),
            variables=["B28002_013"],
            tract_variables=(),
            key=KEY,
        )
