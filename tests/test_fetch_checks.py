"""Downloads checked before caching: every failure is one line naming the URL, caches nothing,
leaves the other states' files intact, and the next fetch after the server recovers gets the
good file. Plus the checks, zip limits, splits and URL patterns as units.
"""

from __future__ import annotations

import io
import json
import logging
import re
import time
import zipfile
from pathlib import Path

import pytest
from _httpserver import LocalServer, Reply, unused_port
from _mirror import (
    CBP,
    FCC_TOKEN,
    FCC_USER,
    GENZ,
    IMLS,
    KEY,
    OOKLA,
    TABBLOCK,
    USAGE,
    build_mirror,
    zip_bytes,
)

from equity import cli
from equity.errors import ConfigError, DataError, DownloadError
from equity.sources import _http, urls
from equity.sources._http import cache_path, download, remote_size
from equity.sources._states import lookup_state
from equity.sources._zips import ZipLimits, check_zip
from equity.sources.fetch import (
    ZipLimits as ExportedLimits,
)
from equity.sources.fetch import (
    fetch_states,
    parse_states,
    source_names,
    state_manifest,
)
from equity.sources.fetch.checks import Expect, check_body
from equity.sources.fetch.split import split_csv

STATES = ("DC", "HI", "VT")
HTML = (
    b"<!DOCTYPE html>\n<html><head><title>Service Unavailable</title></head>"
    b"<body>We'll be back soon.</body></html>"
)


@pytest.fixture(scope="session")
def mirror(shared_data):
    return build_mirror(shared_data, states=tuple(lookup_state(s) for s in STATES))


@pytest.fixture
def served(mirror, monkeypatch):
    with LocalServer(mirror.routes(), lifetime_s=120, max_requests=3000) as server:
        for name in _http.base_urls:
            monkeypatch.setitem(_http.base_urls, name, server.url)
        yield server


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def fetch(cache: Path, **kw):
    options = {
        "year": 2021,
        "census_key": KEY,
        "fcc_username": FCC_USER,
        "fcc_token": FCC_TOKEN,
        "cache_folder": cache,
        "fcc_interval_s": 0,
        "backoff": 0,
        "retries": 1,
        "timeout": 5,
    }
    return fetch_states(",".join(STATES), **{**options, **kw})


def _bomb(size: int) -> bytes:
    """A zip whose outlet CSV expands about 1,000 times."""
    body = b"STABR,FSCSKEY,LIBNAME,LONGITUD,LATITUDE\n" + b"0" * size
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zf.writestr("PLS_FY2021 PUD_CSV/pls_fy21_outlet_pud21i.csv", body)
    return buf.getvalue()


# (route, bad reply, sources to fetch, reason) - the reason must appear in the failure line
CASES = {
    "html page with 200": (
        USAGE,
        Reply(200, HTML, {"Content-Type": "text/html"}),
        "usage",
        r"HTML page \('Service Unavailable'\) with status 200",
    ),
    "html page labelled csv": (
        USAGE,
        Reply(200, HTML, {"Content-Type": "text/csv"}),
        "usage",
        r"HTML page \('Service Unavailable'\)",
    ),
    "empty body": (
        "/pub/irs-soi/eo_vt.csv",
        Reply(200, b""),
        "nonprofits",
        r"empty body \(0 bytes\)",
    ),
    "truncated body": (IMLS, "truncate", "libraries", r"truncated response: got \d+ of \d+ bytes"),
    "http 404": (
        TABBLOCK.format(fips="15"),
        Reply(404, b"Not Found"),
        "blocks",
        r"failed with HTTP 404",
    ),
    "http 500 twice": (
        TABBLOCK.format(fips="15"),
        Reply(500, b"oops"),
        "blocks",
        r"failed after 2 attempts: HTTP 500",
    ),
    "wrong content type": (
        CBP.format(y=2021, yy="21"),
        Reply(200, b'{"error": "rate limited"}', {"Content-Type": "application/json"}),
        "business",
        r"labelled the body 'application/json' \(Content-Type\), not County Business Patterns",
    ),
    "not a zip": (
        GENZ.format(y=2021, area="15", level="bg"),
        Reply(200, b"GEOID,NAME\n150010001001,x\n"),
        "boundaries",
        r"not a zip \(the Census HI bg boundaries",
    ),
    "csv with another header": (
        "/pub/irs-soi/eo_vt.csv",
        Reply(200, b"foo,bar\n1,2\n", {"Content-Type": "text/csv"}),
        "nonprofits",
        r"header lacks \['EIN', 'NAME', 'STATE'\]",
    ),
    "broken parquet": (
        OOKLA.format(y=2021),
        Reply(200, b"PAR1 not really parquet PAR1"),
        "ookla",
        r"Parquet file cannot be read",
    ),
    "zip bomb (ratio)": (
        IMLS,
        Reply(200, _bomb(20_000_000), {"Content-Type": "application/zip"}),
        "libraries",
        r"refusing a zip bomb: entry '.*outlet.*' expands \d+ times",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_download_is_one_line_caches_nothing_and_the_next_fetch_recovers(
    served, mirror, cache, case
):
    path, bad, source, reason = CASES[case]
    good = mirror.files[path]
    if bad == "truncate":
        bad = Reply(200, good, truncate_at=len(good) // 2)
    served.routes[path] = bad
    report = fetch(cache, sources=f"{source},acs")
    assert not report.ok
    lines = report.failure_lines()
    assert len(lines) == 1, lines
    url = f"{served.url}{path}"
    assert url in lines[0] and re.search(reason, lines[0]), lines[0]
    # nothing cached from the bad body; the other states and keys are fine
    folder = cache / "downloads" / source
    assert not cache_path(url, cache_folder=folder).exists()
    assert not [p for p in cache.rglob(".*") if p.name != ".fetch.lock"]
    failed = {o.state for o in report.outcomes if o.status == "failed"}
    for usps in STATES:
        manifest = state_manifest(usps, cache_folder=cache)
        assert "acs" in manifest["data"]
        if usps in failed:
            key = next(o.key for o in report.outcomes if o.status == "failed" and o.state == usps)
            assert (
                manifest["missing"][key].startswith("failed: ") and url in manifest["missing"][key]
            )
    # the server recovers: the next fetch gets the good file, and only the missing ones
    served.routes[path] = Reply(200, good, {"Content-Type": "application/octet-stream"})
    before = len(served.requests)
    again = fetch(cache, sources=f"{source},acs")
    assert again.ok, again.failure_lines()
    assert cache_path(url, cache_folder=folder).read_bytes() == good
    assert all(r.split("?")[0] != "/data/2021/acs/acs5" for r in served.requests[before:])


def test_cli_exit_2_with_one_line_per_failure_and_no_traceback(served, cache, capsys, monkeypatch):
    served.routes[USAGE] = Reply(200, HTML, {"Content-Type": "text/html"})
    monkeypatch.setenv("CENSUS_API_KEY", KEY)
    code = cli.main(
        [
            "fetch",
            "--states",
            "DC,HI",
            "--year",
            "2021",
            "--sources",
            "usage,nonprofits",
            "--cache-folder",
            str(cache),
        ]
    )
    out, err = capsys.readouterr()
    assert code == 2
    errors = [line for line in err.splitlines() if "error" in line]
    assert errors == [
        f"equity fetch: error: usage (DC, HI): {served.url}{USAGE}: rejected: the server sent an "
        "HTML page ('Service Unavailable') with status 200 instead of Microsoft's county broadband "
        "usage (CSV); nothing was cached."
    ]
    assert "Traceback" not in err + out
    assert out.strip().endswith("2 failed in " + out.strip().rsplit("failed in ", 1)[1])
    assert state_manifest("HI", cache_folder=cache)["data"]["nonprofits"] == "states/HI/eo_hi.csv"


def test_500_then_200_is_retried_and_succeeds(served, mirror, cache):
    path = TABBLOCK.format(fips="15")
    served.routes[path] = [Reply(500, b"busy"), Reply(200, mirror.files[path])]
    report = fetch(cache, sources="blocks")
    assert report.ok and served.count(path) == 2


def test_refused_connection_says_offline_per_url(served, cache, monkeypatch):
    monkeypatch.setitem(_http.base_urls, "irs", f"http://127.0.0.1:{unused_port()}")
    report = fetch(cache, sources="nonprofits", retries=0)
    lines = report.failure_lines()
    assert len(lines) == 3 and all("seems to be offline" in line for line in lines)
    assert all("/pub/irs-soi/eo_" in line for line in lines)


def test_slow_drip_stops_at_the_deadline(served, mirror, cache):
    path = "/pub/irs-soi/eo_vt.csv"
    served.routes[path] = Reply(200, mirror.files[path][:400], drip_bps=4)
    started = time.monotonic()
    report = fetch(cache, sources="nonprofits", deadline=1.5, retries=3)
    took = time.monotonic() - started
    (line,) = report.failure_lines()
    assert "did not finish within its deadline of 1.5 s" in line and path in line
    assert took < 4, f"the drip ran {took:.1f} s past a 1.5 s deadline"
    assert not (cache / "downloads/nonprofits").exists() or not any(
        p.name.startswith("eo") for p in (cache / "downloads/nonprofits").iterdir()
    )


def test_zip_over_the_absolute_limit_is_refused_and_nothing_is_written(served, cache):
    report = fetch(cache, sources="libraries", zip_limits=ZipLimits(max_bytes=2_000_000))
    (line,) = report.failure_lines()
    assert (
        "refusing a zip bomb: its entries expand to" in line
        and "over the limit of 2,000,000 B" in line
    )
    assert not (cache / "downloads/libraries").exists() or not any(
        (cache / "downloads/libraries").iterdir()
    )
    assert not list(cache.glob("states/*/pls_*"))
    assert ExportedLimits is ZipLimits


def test_failed_forced_refresh_keeps_every_cached_file(served, mirror, cache):
    assert fetch(cache, sources="usage,nonprofits").ok
    snapshot = {p: p.read_bytes() for p in cache.rglob("*") if p.is_file() and p.suffix != ".json"}
    served.routes[USAGE] = Reply(200, HTML, {"Content-Type": "text/html"})
    report = fetch(cache, sources="usage,nonprofits", force=True)
    assert report.count("failed") == 3 and report.count("fetched") == 3
    assert {p: p.read_bytes() for p in snapshot} == snapshot  # old copies intact
    for usps in STATES:
        assert "usage" in state_manifest(usps, cache_folder=cache)["data"]


def test_bad_fcc_token_is_refused_with_a_hint_and_never_shown(served, cache):
    report = fetch(cache, sources="fcc", fcc_token="wrong-token-42")
    (line,) = report.failure_lines()
    assert "HTTP 401" in line and "Check FCC_USERNAME" in line
    assert "wrong-token-42" not in line and FCC_TOKEN not in line


def test_keys_and_tokens_never_in_file_names_manifests_or_logs(served, mirror, cache, caplog):
    # an error page echoing the request: the key must not come back in the message
    def echo(path, query):
        return Reply(
            400, f"error: key {query.get('key')} cannot ask for {json.dumps(query)}".encode()
        )

    served.routes["/data/2021/acs/acs5"] = echo
    with caplog.at_level(logging.DEBUG, "equity"):
        report = fetch(cache)
    assert report.count("failed") == 3  # the ACS of each state
    text = "\n".join(report.failure_lines()) + "\n".join(r.getMessage() for r in caplog.records)
    assert "***" in text and KEY not in text and FCC_TOKEN not in text
    served.routes["/data/2021/acs/acs5"] = mirror.census_api
    assert fetch(cache).ok
    assert any(f"key={KEY}" in r for r in served.requests)  # sent, never kept
    for p in cache.rglob("*"):
        assert KEY not in str(p) and FCC_TOKEN not in str(p) and FCC_USER not in str(p)
        if p.name == "manifest.json":
            text = p.read_text()
            assert KEY not in text and FCC_TOKEN not in text and FCC_USER not in text


def test_a_second_fetch_on_the_same_cache_is_refused(served, cache):
    import fcntl

    cache.mkdir(parents=True)
    with open(cache / ".fetch.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="another `equity fetch` is using the cache"):
            fetch(cache, sources="nonprofits")


# --------------------------------------------------------------------------------------
# the HTTP layer alone
# --------------------------------------------------------------------------------------


def test_download_drip_is_cut_at_the_deadline(tmp_path):
    with LocalServer({"/x.csv": Reply(200, b"a,b\n" * 50, drip_bps=5)}, lifetime_s=20) as server:
        started = time.monotonic()
        with pytest.raises(DownloadError, match=r"deadline of 1 s \(\d+ of 200 bytes received\)"):
            download(
                server.url + "/x.csv", cache_folder=tmp_path, deadline=1, timeout=10, retries=2
            )
        assert time.monotonic() - started < 2.5
    assert not any(tmp_path.iterdir())


def test_download_rejects_html_and_empty_bodies_without_a_check(tmp_path):
    routes = {"/a.csv": Reply(200, HTML), "/b.csv": Reply(200, b"")}
    with LocalServer(routes, lifetime_s=20) as server:
        with pytest.raises(
            DataError,
            match=r"/a.csv: rejected: the server sent an HTML page \('Service Unavailable'\)",
        ):
            download(server.url + "/a.csv", cache_folder=tmp_path)
        with pytest.raises(DownloadError, match=r"/b.csv: rejected: the server sent an empty body"):
            download(server.url + "/b.csv", cache_folder=tmp_path)
        assert server.count("/a.csv") == server.count("/b.csv") == 1  # not retried
    assert not any(tmp_path.iterdir())


def test_remote_size_from_head(tmp_path):
    routes = {"/a.zip": Reply(200, b"x" * 1234), "/b.zip": Reply(200, b"x" * 10, no_length=True)}
    with LocalServer(routes, lifetime_s=20) as server:
        assert remote_size(server.url + "/a.zip") == (1234, "")
        assert remote_size(server.url + "/b.zip") == (None, "size unknown")
        size, note = remote_size(server.url + "/missing.zip")
        assert size is None and "HTTP 404" in note
        assert server.requests == [] and len(server.heads) == 3


def test_secret_header_echoed_by_the_server_is_redacted(tmp_path):
    def echo(path, query, headers):
        return Reply(403, f"forbidden for {headers.get('hash_value')}".encode())

    with LocalServer({"/f": echo}, lifetime_s=20) as server, pytest.raises(DownloadError) as err:
        download(server.url + "/f", headers={"hash_value": "TOPSECRET99"}, cache_folder=tmp_path)
    assert "TOPSECRET99" not in str(err.value) and "***" in str(err.value)


# --------------------------------------------------------------------------------------
# checks, limits, splits, URLs
# --------------------------------------------------------------------------------------

ZIP = Expect("zip", "a zipped shapefile", members=(r"\.shp$",))
CSV = Expect("csv", "the EO extract", header=("EIN", "NAME"))
PARQUET = Expect("parquet", "Ookla tiles", columns=("quadkey", "tests"))
CENSUS = Expect("census_json", "an ACS table", variables=("B01003_001E",))


def _parquet(columns: dict[str, list]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("body", "ctype", "expect", "error"),
    [
        (zip_bytes({"a.shp": b"x", "a.dbf": b"y"}), "application/zip", ZIP, None),
        (zip_bytes({"a.shp": b"x"}), "application/x-zip-compressed", ZIP, None),
        (zip_bytes({"a.shp": b"x"}), "text/html", ZIP, "labelled the body 'text/html'"),
        (zip_bytes({"a.dbf": b"x"}), None, ZIP, r"lacks an entry matching '\\\\.shp\$'"),
        (b"PK\x05\x06" + bytes(18), None, ZIP, "empty zip"),
        (b"<html><title>Oops</title></html>", "application/zip", ZIP, r"HTML page \('Oops'\)"),
        (b"  \n<!doctype html><p>no title", None, ZIP, "HTML page with status 200"),
        (zip_bytes({"a.shp": b"x"})[:-30], None, ZIP, "not a valid zip"),
        (b"EIN,NAME,STATE\n012345678,A,VT\n", "text/plain", CSV, None),
        (b'"EIN","NAME"\r\n"012345678","A"\r\n', "application/octet-stream", CSV, None),
        (b"EIN,NAME\n", "text/csv", CSV, "header but no rows"),
        (b"EIN,NAME\n1,a\n", "application/json", CSV, "labelled the body 'application/json'"),
        (b"\x00\x01\x02binary", None, CSV, "binary data"),
        (_parquet({"quadkey": ["0"], "tests": [1]}), "binary/octet-stream", PARQUET, None),
        (_parquet({"quadkey": ["0"]}), None, PARQUET, r"lacks the columns \['tests'\]"),
        (b"PAR1", None, PARQUET, "not a Parquet file"),
        (b'[["NAME","B01003_001E","state"],["x","1","50"]]', "application/json", CENSUS, None),
        (b'[["NAME","state"],["x","50"]]', None, CENSUS, r"lacks \['B01003_001E'\]"),
        (b'[["NAME","state"]]', None, CENSUS, "header row and data rows"),
        (b"error: unknown variable", "text/plain", CENSUS, "not JSON"),
    ],
)
def test_check_body(tmp_path, body, ctype, expect, error):
    path = tmp_path / "body"
    path.write_bytes(body)
    if error is None:
        check_body(path, ctype, expect=expect)
    else:
        with pytest.raises(DataError, match=error):
            check_body(path, ctype, expect=expect)


def test_zip_limits_ratio_and_absolute(tmp_path):
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_bytes({"zeros.bin": bytes(5_000_000), "small.txt": b"ok"}))
    with pytest.raises(DataError, match=r"entry 'zeros.bin' expands \d+ times"):
        check_zip(bomb)
    assert [i.filename for i in check_zip(bomb, limits=ZipLimits(max_ratio=10_000))] == [
        "zeros.bin",
        "small.txt",
    ]
    with pytest.raises(DataError, match="over the limit of 1,000,000 B"):
        check_zip(bomb, limits=ZipLimits(max_bytes=1_000_000, max_ratio=10_000))
    from equity.sources._http import safe_extract

    with pytest.raises(DataError, match="zip bomb"):
        safe_extract(bomb, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_split_csv_keeps_bytes_quotes_multiline_records_and_line_ends(tmp_path):
    text = (
        b'"ST","COUNTY ID","NOTE"\r\n'
        b'"VT","50001","caf\xe9"\r\n'
        b'"HI","15001","two\r\nlines"\r\n'
        b'"VT","50003",""\r\n'
        b'"PR","72001","x"\r\n'
    )
    outputs = {"VT": tmp_path / "vt.csv", "HI": tmp_path / "hi.csv", "DC": tmp_path / "dc.csv"}
    counts = split_csv(io.BytesIO(text), column="st", outputs=outputs, label="usage")
    assert counts == {"VT": 2, "HI": 1, "DC": 0}
    assert (
        outputs["VT"].read_bytes()
        == b'"ST","COUNTY ID","NOTE"\r\n"VT","50001","caf\xe9"\r\n"VT","50003",""\r\n'
    )
    assert (
        outputs["HI"].read_bytes() == b'"ST","COUNTY ID","NOTE"\r\n"HI","15001","two\r\nlines"\r\n'
    )
    assert not outputs["DC"].exists() and not list(tmp_path.glob(".*"))
    with pytest.raises(DataError, match="no column STABR"):
        split_csv(io.BytesIO(text), column="STABR", outputs=outputs, label="usage")


@pytest.mark.parametrize("form", ["pipe-delimited text", "workbook only"])
def test_edge_school_zip_forms(tmp_path, form):
    import openpyxl

    from equity.sources.fetch.schools import splitter

    rows = [
        ["NCESSCH", "NAME", "STATE", "LAT", "LON"],
        ["010000500870", "Albertville", "AL", "34.26", "-86.2"],
        ["500001000001", "Barre", "VT", "44.2", "-72.5"],
    ]
    if form == "pipe-delimited text":
        entries = {
            "EDGE_GEOCODE_PUBLICSCH_2324/EDGE_GEOCODE_PUBLICSCH_2324.TXT": "\n".join(
                "|".join(r) for r in rows
            ).encode()
            + b"\n"
        }
    else:
        book = openpyxl.Workbook()
        for r in rows:
            book.active.append(r)
        buf = io.BytesIO()
        book.save(buf)
        entries = {"EDGE_GEOCODE_PUBLICSCH_2324/EDGE_GEOCODE_PUBLICSCH_2324.xlsx": buf.getvalue()}
    path = tmp_path / "edge.zip"
    path.write_bytes(zip_bytes(entries))
    states = [lookup_state("VT"), lookup_state("AL")]
    member, name, split = splitter(path, ZipLimits(), states)
    assert member.startswith("EDGE_GEOCODE_PUBLICSCH_2324/")
    outputs = {s.fips: tmp_path / name.format(fips=s.fips) for s in states}
    assert split(outputs) == {"50": 1, "01": 1}
    from equity.sources import read_anchors

    al = read_anchors(outputs["01"])
    assert al["anchor_id"].tolist() == ["010000500870"] and al["kind"].tolist() == ["school"]


def test_state_and_source_names():
    assert [s.usps for s in parse_states("all")][:3] == ["AL", "AK", "AZ"]
    assert "PR" not in {s.usps for s in parse_states("all")} and parse_states("pr")[0].fips == "72"
    assert [s.usps for s in parse_states(["51", "md", "Virginia"])] == ["MD", "VA"]
    with pytest.raises(ConfigError, match="unknown state"):
        parse_states("VA,XX")
    with pytest.raises(ConfigError, match="no states"):
        parse_states(" , ")
    assert source_names("microsoft,cbp,irs,ipeds,nces,imls,tiger") == (
        "blocks",
        "usage",
        "business",
        "libraries",
        "schools",
        "colleges",
        "nonprofits",
    )
    with pytest.raises(ConfigError, match=r"unknown source 'weather'; valid: acs, boundaries"):
        source_names("acs,weather")


def test_published_url_patterns():
    assert (
        urls.blocks_url("VA")
        == "https://www2.census.gov/geo/tiger/TIGER2020/TABBLOCK20/tl_2020_51_tabblock20.zip"
    )
    assert (
        urls.imls_url(year=2023)
        == "https://www.imls.gov/sites/default/files/2025-08/pls_fy2023_csv.zip"
    )
    assert (
        urls.nces_edge_url(year=2023)
        == "https://nces.ed.gov/programs/edge/data/EDGE_GEOCODE_PUBLICSCH_2324.zip"
    )
    assert (
        urls.nces_edge_url(year=2099)
        == "https://nces.ed.gov/programs/edge/data/EDGE_GEOCODE_PUBLICSCH_9900.zip"
    )
    assert urls.ipeds_url(year=2022) == "https://nces.ed.gov/ipeds/datacenter/data/HD2022.zip"
    assert urls.irs_eo_url("DC") == "https://www.irs.gov/pub/irs-soi/eo_dc.csv"
    assert urls.fcc_api_url("downloads/downloadFile/availability", "123") == (
        "https://broadbandmap.fcc.gov/api/public/map/downloads/downloadFile/availability/123"
    )
    with pytest.raises(
        ConfigError, match=r"no known IMLS Public Libraries Survey release for FY2031"
    ):
        urls.imls_url(year=2031)


def test_unknown_vintage_fails_that_source_only(served, cache):
    report = fetch(cache, sources="libraries,nonprofits", year=2031)
    (line,) = report.failure_lines()
    assert line.startswith(
        "libraries (DC, HI, VT): no known IMLS Public Libraries Survey release for FY2031"
    )
    assert report.count("fetched") == 3
    missing = state_manifest("HI", cache_folder=cache)["missing"]["libraries"]
    assert missing.startswith("failed: no known IMLS Public Libraries Survey release for FY2031")


def test_state_manifest_reports_deleted_files_and_unfetched_states(served, cache):
    assert fetch(cache, sources="nonprofits").ok
    (cache / "states/VT/eo_vt.csv").unlink()
    manifest = state_manifest("VT", cache_folder=cache)
    assert "nonprofits" not in manifest["data"] and not manifest["complete"]
    assert manifest["missing"]["nonprofits"] == "file missing from the cache: states/VT/eo_vt.csv"
    with pytest.raises(
        DataError, match=r"no fetched data for VA \(Virginia\).*equity fetch --states VA"
    ):
        state_manifest("VA", cache_folder=cache)
    again = fetch(cache, sources="nonprofits")
    assert again.count("fetched") == 1 and again.count("cached") == 2


def test_interrupt_stops_downloads_in_flight_and_records_no_failure(served, mirror, cache):
    from equity.sources.fetch import Progress

    class Interrupting(Progress):
        def state_done(self, usps, **kw):
            raise KeyboardInterrupt

    path = "/pub/irs-soi/eo_vt.csv"
    served.routes[path] = Reply(200, mirror.files[path][:2000], drip_bps=4)  # 500 s
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        fetch(cache, sources="nonprofits", progress=Interrupting(io.StringIO()), jobs=3)
    assert time.monotonic() - started < 10
    assert not [p for p in cache.rglob(".*") if p.name != ".fetch.lock"]  # no partial file
    vt = (
        json.loads((cache / "states/VT/manifest.json").read_text())
        if (cache / "states/VT/manifest.json").exists()
        else {"missing": {}}
    )
    assert "nonprofits" not in vt["missing"]  # interrupted, not failed
