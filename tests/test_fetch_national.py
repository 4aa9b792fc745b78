"""The national fetch (`equity fetch --states`) against a local mirror of the publishers' files.

The mirror (``_mirror.py``) serves real excerpts of ``../shared/data`` and generated files in
the publishers' URL paths and layouts on 127.0.0.1; the internet is never touched.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _httpserver import LocalServer, Reply
from _mirror import (
    ALL_STATES,
    FCC_TOKEN,
    FCC_USER,
    IMLS,
    KEY,
    OOKLA,
    TABBLOCK,
    USAGE,
    build_mirror,
)

from equity import cli, sources
from equity.sources import _http
from equity.sources._states import lookup_state
from equity.sources.fetch import (
    FETCH_KEYS,
    Progress,
    fetch_states,
    manifest_path,
    resolve_paths,
    state_manifest,
)

SMALL = ("DC", "HI", "VT")  # Hawaii: real Ookla tiles and IRS file; Vermont: real IRS file
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def small_mirror(shared_data):
    return build_mirror(shared_data, states=tuple(lookup_state(s) for s in SMALL))


@pytest.fixture(scope="session")
def virginia_mirror(shared_data):
    """Virginia's real block groups, tracts and ACS values, with Montana's real Ookla tiles."""
    return build_mirror(shared_data, states=(lookup_state("VA"), lookup_state("MT")))


@pytest.fixture(scope="session")
def national_mirror(shared_data):
    return build_mirror(shared_data)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def _serve(mirror, monkeypatch, **kw):
    server = LocalServer(mirror.routes(), lifetime_s=kw.pop("lifetime_s", 120), max_requests=5000)
    for name in _http.base_urls:
        monkeypatch.setitem(_http.base_urls, name, server.url)
    return server


@pytest.fixture
def served(small_mirror, monkeypatch):
    with _serve(small_mirror, monkeypatch) as server:
        yield server


def fetch(cache: Path, states=SMALL, **kw):
    options = {
        "year": 2021,
        "census_key": KEY,
        "fcc_username": FCC_USER,
        "fcc_token": FCC_TOKEN,
        "cache_folder": cache,
        "fcc_interval_s": 0,
        "backoff": 0,
        "jobs": 4,
    }
    return fetch_states(
        ",".join(states) if not isinstance(states, str) else states, **{**options, **kw}
    )


def _files(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file under `folder`."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".fetch.lock"
    }


# --------------------------------------------------------------------------------------
# all 51 states
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_all_51_states_fetch_complete_manifests_and_a_second_run_makes_no_request(
    national_mirror, shared_data, cache, monkeypatch
):
    with _serve(national_mirror, monkeypatch, lifetime_s=300) as server:
        started = time.monotonic()
        report = fetch(cache, "all", jobs=8)
        took = time.monotonic() - started
        assert report.ok, report.failure_lines()
        assert len(report.states) == 51 and report.count("fetched") == 51 * len(FETCH_KEYS)
        requests = len(server.requests)
        # per state: 3 ACS calls, 4 boundary zips, blocks, IRS, 2 FCC files; 10 national files
        assert requests == 51 * 11 + 10
        again = fetch(cache, "all", jobs=8)
        assert len(server.requests) == requests  # everything cached and checked: no request
        assert again.count("cached") == 51 * len(FETCH_KEYS) and again.downloaded_bytes == 0
    assert took < 60, f"51 states took {took:.1f} s"
    usage_rows = 0
    for st in ALL_STATES:
        manifest = state_manifest(st.usps, cache_folder=cache)
        assert manifest["complete"] and not manifest["missing"]
        assert (manifest["state"], manifest["fips"], manifest["year"]) == (st.usps, st.fips, 2021)
        assert list(manifest["data"]) == list(FETCH_KEYS)
        for key, entry in manifest["sources"].items():
            for e in entry if isinstance(entry, list) else [entry]:
                assert set(e) >= {"url", "bytes", "sha256", "fetched"}, key
                assert e["url"].startswith(server.url) and "key=" not in e["url"]
        for rel, info in manifest["files"].items():
            data = (cache / rel).read_bytes()
            assert len(data) == info["bytes"] and hashlib.sha256(data).hexdigest() == info["sha256"]
        with open(cache / manifest["data"]["usage"], newline="") as fh:
            usage_rows += sum(1 for _ in csv.reader(fh)) - 1
    # the national Microsoft file is conserved: every county row lands in exactly one state
    with open(shared_data / "broadband/microsoft_broadband_data_2020October.csv", newline="") as fh:
        assert usage_rows == sum(1 for _ in csv.reader(fh)) - 1 == 3142


# --------------------------------------------------------------------------------------
# what each state gets, read by the project's readers
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_state_files_are_the_published_layouts_and_the_readers_read_them(
    virginia_mirror, shared_data, cache, monkeypatch
):
    with _serve(virginia_mirror, monkeypatch):
        report = fetch(cache, states=("VA", "MT"))
    assert report.ok, report.failure_lines()
    va = resolve_paths(state_manifest("VA", cache_folder=cache), cache_folder=cache)
    assert set(va) == set(FETCH_KEYS)
    # per-state files as published: byte-identical to what the server sent
    assert va["nonprofits"].name == "eo_va.csv"
    assert (
        va["blockgroups"].name == "cb_2021_51_bg_500k.zip"
        and va["blocks"].name == "tl_2020_51_tabblock20.zip"
    )
    assert len(sources.read_boundaries(va["blockgroups"])) == 5951  # the real Virginia file
    blocks = sources.read_boundaries(va["blocks"])
    assert blocks["level"].eq("block").all() and blocks["GEOID"].str.len().eq(15).all()
    import pyogrio

    fields = pyogrio.read_info(va["blocks"])["fields"]
    assert {"HOUSING20", "POP20"} <= set(fields)
    counties = sources.read_boundaries(va["counties"])
    assert len(counties) == 133 and counties["GEOID"].str.startswith("51").all()
    assert sources.read_boundaries(va["states"])["GEOID"].tolist() == ["51"]
    # ACS: block groups with every registry variable, the real values where the kit has them
    bg_csv, tract_csv = va["acs"]
    acs = sources.read_acs(bg_csv)
    assert len(acs) == 5963 and acs["GEOID"].str.len().eq(12).all()
    with open(
        shared_data / "acs/acs2021_5yr_va_blockgroup_b19013_b28001_b28002.csv", newline=""
    ) as fh:
        real = {r["GEOID"]: r for r in csv.DictReader(fh)}
    with open(bg_csv, newline="") as fh:
        got = {r["GEOID"]: r for r in csv.DictReader(fh)}
    for col in ("B19013_001E", "B19013_001M", "B28002_013E", "B28001_011E"):
        if col in next(iter(real.values())):
            assert all(got[g][col] == real[g][col] for g in real), col
    tract = sources.read_acs(tract_csv)
    assert tract["GEOID"].str.len().eq(11).all() and "B18101_001E" in tract
    # national files split per state: every reader reads its state's part
    assert sources.read_broadband_usage(va["usage"])["GEOID"].str.startswith("51").all()
    business = sources.read_business_patterns(va["business"])
    assert business["GEOID"].str.startswith("51").all()
    libraries = sources.read_libraries(va["libraries"])
    assert len(libraries) == 383 and libraries["state_abbr"].eq("VA").all()
    schools = sources.read_anchors(va["schools"])
    colleges = sources.read_anchors(va["colleges"])
    assert len(schools) == 2 and schools["kind"].eq("school").all()
    assert len(colleges) == 2 and colleges["kind"].eq("college").all()
    assert "Collège Saint-VA" in set(colleges["name"])  # Windows-1252 bytes kept as published
    fcc = [sources.read_fcc_bdc(p) for p in va["fcc"]]
    assert [len(f) for f in fcc] == [8, 8]
    mt = resolve_paths(state_manifest("MT", cache_folder=cache), cache_folder=cache)
    assert len(sources.read_ookla(mt["ookla"])) > 600  # the real Bozeman tiles


def test_ookla_clip_equals_a_brute_force_intersection(served, shared_data, cache, small_mirror):
    import geopandas as gpd
    import pyarrow.parquet as pq
    import shapely

    report = fetch(cache, sources="ookla")
    assert report.ok, report.failure_lines()
    table = pq.read_table(io.BytesIO(small_mirror.files[OOKLA.format(y=2021)])).to_pandas()
    tiles = gpd.GeoDataFrame(table, geometry=shapely.from_wkt(table["tile"]), crs="EPSG:4326")
    states = gpd.read_file(shared_data / "boundaries/us/cb_2018_us_state_20m.shp").to_crs(
        "EPSG:4326"
    )
    for usps in SMALL:
        st = lookup_state(usps)
        polygon = states.loc[states["STATEFP"] == st.fips, "geometry"].iloc[0]
        expected = set(tiles.loc[tiles.intersects(polygon), "quadkey"])
        path = resolve_paths(state_manifest(usps, cache_folder=cache), cache_folder=cache)["ookla"]
        clipped = pq.read_table(path)
        assert clipped.schema.equals(
            pq.read_schema(io.BytesIO(small_mirror.files[OOKLA.format(y=2021)]))
        )
        assert set(clipped.column("quadkey").to_pylist()) == expected and len(expected) > 0, usps
        assert clipped.num_rows == len(expected)  # no duplicates


def test_split_files_conserve_the_national_rows(served, shared_data, cache):
    assert fetch(cache, sources="libraries,business").ok
    with open(
        shared_data / "anchors/imls_pls_fy19_outlet_pud19i.csv", newline="", encoding="latin-1"
    ) as fh:
        national = list(csv.DictReader(fh))
    header = (
        (shared_data / "anchors/imls_pls_fy19_outlet_pud19i.csv").read_bytes().split(b"\n", 1)[0]
    )
    for usps in SMALL:
        path = resolve_paths(state_manifest(usps, cache_folder=cache), cache_folder=cache)[
            "libraries"
        ]
        data = path.read_bytes()
        assert data.split(b"\n", 1)[0] == header
        with open(path, newline="", encoding="latin-1") as fh:
            rows = list(csv.DictReader(fh))
        assert rows == [r for r in national if r["STABR"] == usps]


# --------------------------------------------------------------------------------------
# resume, parallelism, dry run, progress and summary
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_rerun_after_a_kill_fetches_only_what_is_missing(small_mirror, cache, monkeypatch):
    routes = small_mirror.routes()
    # slow per-state files, so the run is still going when it is killed
    for usps in SMALL:
        path = TABBLOCK.format(fips=lookup_state(usps).fips)
        routes[path] = Reply(200, small_mirror.files[path], delay_s=0.6)
    with LocalServer(routes, lifetime_s=120, max_requests=3000) as server:
        for name in _http.base_urls:
            monkeypatch.setitem(_http.base_urls, name, server.url)
        env = dict(
            os.environ,
            EQUITY_MIRROR=server.url,
            EQUITY_CACHE=str(cache),
            CENSUS_API_KEY=KEY,
            PYTHONPATH=str(REPO),
        )
        env.pop("FCC_USERNAME", None)
        args = [
            "--states",
            ",".join(SMALL),
            "--year",
            "2021",
            "--jobs",
            "1",
            "--sources",
            "acs,boundaries,blocks,usage,nonprofits",
        ]
        proc = subprocess.Popen(
            [sys.executable, "-m", "equity", "fetch", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                done = [p for p in cache.glob("states/*/manifest.json")]
                if (
                    sum(len(json.loads(p.read_text())["data"]) for p in done if p.stat().st_size)
                    >= 12
                ):
                    break
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=10)
        before = {
            p.parent.name: json.loads(p.read_text()) for p in cache.glob("states/*/manifest.json")
        }
        recorded = {
            e["url"]
            for m in before.values()
            for entry in m["sources"].values()
            for e in (entry if isinstance(entry, list) else [entry])
        }
        assert recorded, "the fetch was killed before it recorded anything"
        first_run = len(server.requests)
        report = fetch(cache, sources="acs,boundaries,blocks,usage,nonprofits")
        rerun = server.requests[first_run:]
    assert report.ok, report.failure_lines()
    assert report.count("cached") >= 12 and report.count("fetched") > 0
    asked = {_http.public_url(f"{server.url}{r}") for r in rerun}
    assert rerun and not (asked & recorded), "a file recorded before the kill was fetched again"
    assert not [p for p in cache.rglob(".*") if p.name != ".fetch.lock"], "temporary files left"
    for usps in SMALL:
        manifest = state_manifest(usps, cache_folder=cache)
        assert set(manifest["data"]) == {*sources_keys("acs,boundaries,blocks,usage,nonprofits")}


def sources_keys(spec: str) -> set[str]:
    from equity.sources.fetch import SOURCES, source_names

    return {k for name in source_names(spec) for k in SOURCES[name]}


def test_jobs_bound_the_downloads_in_flight(small_mirror, cache, monkeypatch):
    routes = small_mirror.routes()
    slow = [
        p for p in small_mirror.files if p.startswith(("/pub/irs-soi/", "/geo/tiger/TIGER2020/"))
    ]
    for path in slow:
        routes[path] = Reply(200, small_mirror.files[path], delay_s=0.3)
    for jobs in (1, 3):
        with LocalServer(routes, lifetime_s=120, max_requests=3000) as server:
            for name in _http.base_urls:
                monkeypatch.setitem(_http.base_urls, name, server.url)
            report = fetch(cache / str(jobs), sources="blocks,nonprofits", jobs=jobs)
            assert report.ok
            assert len(server.requests) == 2 * len(SMALL)
            assert server.max_in_flight == jobs  # bounded, and used to the full


def test_dry_run_lists_sizes_writes_nothing(served, small_mirror, cache):
    # a server that sends no Content-Length: the size is unknown
    served.routes[USAGE] = Reply(200, small_mirror.files[USAGE], no_length=True)
    report = fetch(cache, dry_run=True)
    assert not cache.exists() or not any(cache.rglob("*"))
    assert [r for r in served.requests if "downloadFile" in r or "/geo/" in r] == []  # only HEADs
    by_url = {r.url.removeprefix(served.url): r for r in report.planned}
    for path in (IMLS, TABBLOCK.format(fips="15"), "/pub/irs-soi/eo_vt.csv"):
        assert by_url[path].size == len(small_mirror.files[path])
    assert by_url[USAGE].size is None and by_url[USAGE].note == "size unknown"
    assert all(r.size is None for u, r in by_url.items() if u.startswith("/data/2021/acs/acs5"))
    national = by_url[OOKLA.format(y=2021)]
    assert sorted(national.states) == sorted(SMALL)  # one national file, listed once
    fcc_files = [r for r in report.planned if r.source == "fcc"]
    assert len(fcc_files) == 2 * len(SMALL)
    assert all(r.size is not None and r.size > 0 for r in fcc_files)  # HEAD with the FCC headers
    assert re.fullmatch(
        r"equity fetch --dry-run: 3 states, \d+ files to fetch \([\d.]+ [kMG]?B known, \d+ of unknown size\), 0 up to date, 0 skipped, 0 failed",
        report.summary(),
    )


def test_cli_prints_progress_lines_and_one_summary(served, cache, capsys, monkeypatch):
    monkeypatch.setenv("CENSUS_API_KEY", KEY)
    monkeypatch.delenv("FCC_USERNAME", raising=False)
    monkeypatch.delenv("FCC_API_TOKEN", raising=False)
    code = cli.main(["fetch", "--states", "HI,DC", "--year", "2021", "--cache-folder", str(cache)])
    out, err = capsys.readouterr()
    assert code == 0
    assert re.search(r"^equity fetch: DC done \(15 files, 15 new, [\d.]+ kB\)$", err, re.M)
    assert re.search(r"^equity fetch: HI done \(15 files, 15 new, [\d.]+ MB\)$", err, re.M)
    assert err.count("FCC BDC availability skipped") == 1 and "FCC_API_TOKEN" in err
    summary = out.strip().splitlines()
    assert len(summary) == 1
    assert re.fullmatch(
        r"equity fetch: 2 states, 30 files \(30 fetched, 0 up to date\), [\d.]+ MB downloaded, 2 skipped, 0 failed in [\d.]+ s",
        summary[0],
    )
    manifest = state_manifest("DC", cache_folder=cache)
    assert manifest["missing"] == {
        "fcc": "skipped: no FCC API token (set FCC_USERNAME and FCC_API_TOKEN)"
    }
    assert manifest["complete"]  # a stated gap, not a failure


def test_progress_bar_on_a_terminal():
    stream = io.StringIO()
    bar = Progress(stream, tty=True)
    bar.start(states=2, files=4)
    bar.add_bytes(1_500_000)
    bar.file_done()
    bar.state_done("VA", files=2, new=2, size=1_500_000, failed=0)
    bar.close()
    text = stream.getvalue()
    assert "\r[##########----------] 1/2 states  1/4 files  1.5 MB" in text
    assert text.endswith("\n") and "VA done" not in text


def test_single_state_lists_its_files_and_old_state_option_works(
    served, cache, capsys, monkeypatch
):
    monkeypatch.setenv("CENSUS_API_KEY", KEY)
    code = cli.main(
        [
            "fetch",
            "--state",
            "50",
            "--year",
            "2021",
            "--sources",
            "acs,nonprofits",
            "--cache-folder",
            str(cache),
            "--out",
            str(cache.parent / "copy"),
        ]
    )
    out, _ = capsys.readouterr()
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[:3] == [
        f"acs\t{cache}/states/VT/acs_2021_50_blockgroup.csv",
        f"acs\t{cache}/states/VT/acs_2021_50_tract.csv",
        f"nonprofits\t{cache}/states/VT/eo_vt.csv",
    ]
    assert manifest_path("VT", cache_folder=cache).is_file()
    copied = sorted(p.name for p in (cache.parent / "copy/VT").iterdir())
    assert copied == [
        "acs_2021_50_blockgroup.csv",
        "acs_2021_50_tract.csv",
        "eo_vt.csv",
        "manifest.json",
    ]


def test_force_fetches_again_and_cache_clear_source_removes_one_source(served, cache, capsys):
    assert fetch(cache, states=("HI", "DC")).ok
    n = len(served.requests)
    forced = fetch(cache, states=("HI", "DC"), force=True, sources="nonprofits,ookla")
    # two IRS files, the Ookla quarter and the state boundaries it is clipped with
    assert forced.count("fetched") == 4 and len(served.requests) == n + 4
    before = _files(cache)
    code = cli.main(["cache", "clear", "--source", "ookla", "--folder", str(cache)])
    assert code == 0 and "of source ookla; 2 state manifests updated" in capsys.readouterr().out
    after = _files(cache)
    assert {p for p in before if p not in after} == {
        *(p for p in before if p.startswith("downloads/ookla/")),
        "states/DC/2021-10-01_performance_fixed_tiles_11.parquet",
        "states/HI/2021-10-01_performance_fixed_tiles_15.parquet",
    }
    assert {p for p in after if after[p] != before[p]} == {
        "states/DC/manifest.json",
        "states/HI/manifest.json",
    }
    manifest = state_manifest("HI", cache_folder=cache)
    assert "ookla" not in manifest["data"] and not manifest["complete"]
    assert manifest["missing"]["ookla"].startswith("cleared by `equity cache clear --source ookla`")
    n = len(served.requests)
    report = fetch(cache, states=("HI", "DC"))
    assert report.count("fetched") == 2 and served.requests[n:] == [OOKLA.format(y=2021)]
    assert state_manifest("HI", cache_folder=cache)["complete"]
