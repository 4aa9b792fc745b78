"""Tests of equity.sources.geocode: the Census batch geocoder against a local stand-in.

The stand-in (tests/_census_geocoder.py) parses the multipart upload and answers in the published
CSV layout; the tests check the statuses, the per-address cache (a rerun sends only what is not
cached), resumption after a failed batch, and that no failure mode (an HTML page, a partial
answer, an unknown status or id, bad coordinates, HTTP errors, no server) is ever cached.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _census_geocoder import PATH, FakeCensusGeocoder
from _httpserver import LocalServer, Reply, unused_port

from equity.errors import DownloadError, SchemaError
from equity.sources.geocode import geocode_addresses, geocode_cache_path

STREETS = {
    "4600 Silver Hill Rd": (-76.92744, 38.845985),
    "200 Oak Hill St NE": (-81.978, 36.709),
    "1 Main St": (-72.32, 43.65),
}


def _addresses(*streets: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "street": list(streets),
            "city": ["Town"] * len(streets),
            "state": ["VA"] * len(streets),
            "zip": ["24210-1234"] * len(streets),
        },
        index=[f"r{i}" for i in range(len(streets))],
    )


def _cached_rows(url: str, folder: Path) -> int:
    path = geocode_cache_path(url=url, cache_folder=folder)
    if not path.exists():
        return 0
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COUNT(*) FROM answers").fetchone()[0])


def _run(server: LocalServer, frame: pd.DataFrame, folder: Path, **kw: object) -> pd.DataFrame:
    return geocode_addresses(frame, url=server.url + PATH, cache_folder=folder, backoff=0.0, **kw)


def test_matches_ties_and_no_match_in_the_published_layout(tmp_path: Path) -> None:
    fake = FakeCensusGeocoder(matches=dict(STREETS), ties={"9 Elm St"})
    frame = _addresses("4600 Silver Hill Rd", "9 Elm St", "13 Nowhere Ln", "PO Box 12", "")
    with LocalServer({PATH: fake}) as server:
        out = _run(server, frame, tmp_path)
    assert out.index.tolist() == frame.index.tolist()
    assert out["geocode_status"].tolist() == ["match", "tie", "no_match", "po_box", "no_address"]
    assert out.loc["r0", ["longitude", "latitude"]].tolist() == list(STREETS["4600 Silver Hill Rd"])
    assert out.loc["r0", "match_type"] == "exact" and out.loc["r0", "tiger_line_id"] == "613199520"
    assert out.loc[["r1", "r2", "r3", "r4"], "longitude"].isna().all()
    # one upload, in the documented layout: id,street,city,state,zip with a 5-digit ZIP
    assert len(fake.batches) == 1 and fake.benchmarks == ["Public_AR_Current"]
    assert [r[1:] for r in fake.batches[0]] == [
        ["4600 Silver Hill Rd", "Town", "VA", "24210"],
        ["9 Elm St", "Town", "VA", "24210"],
        ["13 Nowhere Ln", "Town", "VA", "24210"],
    ]  # the PO box and the blank street are never sent
    assert out.attrs["n_sent"] == 3 and out.attrs["n_match"] == 1 and out.attrs["n_tie"] == 1


def test_cache_per_address_a_rerun_sends_nothing(tmp_path: Path) -> None:
    fake = FakeCensusGeocoder(matches=dict(STREETS))
    frame = _addresses("4600 Silver Hill Rd", "13 Nowhere Ln", "4600  silver hill rd")
    with LocalServer({PATH: fake}) as server:
        first = _run(server, frame, tmp_path)
        # the same address written twice (case, spaces) is sent once
        assert len(fake.batches[0]) == 2
        second = _run(server, frame, tmp_path)
        assert len(fake.batches) == 1  # nothing sent again, No_Match included
        more = _run(server, _addresses("200 Oak Hill St NE", "13 Nowhere Ln"), tmp_path)
    assert [r[1] for r in fake.batches[1]] == ["200 Oak Hill St NE"]
    pd.testing.assert_frame_equal(
        first.drop(columns="from_cache"), second.drop(columns="from_cache"), check_dtype=False
    )
    assert not first["from_cache"].any() and second["from_cache"].all()
    assert more["geocode_status"].tolist() == ["match", "no_match"]
    assert more["from_cache"].tolist() == [False, True]
    assert _cached_rows(server.url + PATH, tmp_path) == 3


def test_failed_batch_resumes_where_it_stopped(tmp_path: Path) -> None:
    fake = FakeCensusGeocoder(matches=dict(STREETS))
    streets = [f"{n} Main St" for n in range(1, 6)]
    state = {"calls": 0, "broken": True}

    def flaky(path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        state["calls"] += 1
        if state["broken"] and state["calls"] > 2:
            return Reply(500, b"Internal error")
        return fake(path, query, body)

    with LocalServer({PATH: flaky}) as server:
        with pytest.raises(DownloadError, match="failed after 2 attempt"):
            _run(server, _addresses(*streets), tmp_path, batch_size=2, retries=1)
        assert _cached_rows(server.url + PATH, tmp_path) == 4  # two batches of two kept
        state["broken"] = False
        out = _run(server, _addresses(*streets), tmp_path, batch_size=2)
    assert len(fake.batches) == 3
    assert [r[1] for r in fake.batches[-1]] == ["5 Main St"]  # only what was not cached
    assert out["geocode_status"].tolist() == ["match"] + ["no_match"] * 4
    assert out["from_cache"].tolist() == [True, True, True, True, False]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<!DOCTYPE html><html><body>Service Unavailable</body></html>", "HTML page"),
        (b'{"errors": ["bad request"]}', "JSON"),
        (b"", "empty body"),
        (b'"0","1 Main St, Town, VA, 24210","Matched"\n', "status 'Matched'"),
        (b'"7","1 Main St, Town, VA, 24210","No_Match"\n', "id '7' was not sent"),
        (b'"0","1 Main St","Match","Exact","1 MAIN ST","east,north","1","L"\n', "not 'lon,lat'"),
        (b'"0","1 Main St","Match","Exact","1 MAIN ST","-200.0,38.0","1","L"\n', "out of range"),
    ],
)
def test_an_answer_not_in_the_layout_is_refused_and_never_cached(
    tmp_path: Path, body: bytes, why: str
) -> None:
    with LocalServer({PATH: Reply(200, body, {"Content-Type": "text/html"})}) as server:
        with pytest.raises(DownloadError, match=why) as info:
            _run(server, _addresses("1 Main St"), tmp_path, retries=2)
        assert server.count(PATH) == 3  # retried like a failed connection
    assert "Nothing of this batch was cached" in str(info.value)
    assert _cached_rows(server.url + PATH, tmp_path) == 0


def test_partial_answer_leaves_the_rest_not_answered_and_uncached(tmp_path: Path) -> None:
    fake = FakeCensusGeocoder(matches=dict(STREETS), omit={"1 Main St"})
    frame = _addresses("4600 Silver Hill Rd", "1 Main St")
    with LocalServer({PATH: fake}) as server:
        out = _run(server, frame, tmp_path)
        assert out["geocode_status"].tolist() == ["match", "not_answered"]
        assert out.attrs["n_not_answered"] == 1
        fake.omit.clear()
        again = _run(server, frame, tmp_path)
    assert [r[1] for r in fake.batches[-1]] == ["1 Main St"]
    assert again["geocode_status"].tolist() == ["match", "match"]


def test_http_errors_retries_and_offline(tmp_path: Path) -> None:
    fake = FakeCensusGeocoder(matches=dict(STREETS))
    replies = iter([Reply(503, b"busy"), Reply(429, b"slow down")])

    def busy_then_fine(path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        return next(replies, None) or fake(path, query, body)

    with LocalServer({PATH: busy_then_fine}) as server:
        out = _run(server, _addresses("1 Main St"), tmp_path, retries=2)
    assert out["geocode_status"].tolist() == ["match"] and server.count(PATH) == 3
    with LocalServer({PATH: Reply(400, b"benchmark is not valid")}) as server:
        with pytest.raises(DownloadError, match="HTTP 400.*benchmark is not valid"):
            _run(server, _addresses("9 Oak St"), tmp_path, retries=3)
        assert server.count(PATH) == 1  # a client error is not retried
    t0 = time.perf_counter()
    with pytest.raises(DownloadError, match="offline"):
        geocode_addresses(
            _addresses("9 Oak St"),
            url=f"http://127.0.0.1:{unused_port()}{PATH}",
            cache_folder=tmp_path,
            retries=3,
            backoff=5.0,
        )
    assert time.perf_counter() - t0 < 3.0  # no retries when nothing listens


def test_bad_input(tmp_path: Path) -> None:
    with pytest.raises(SchemaError, match="zip"):
        geocode_addresses(pd.DataFrame({"street": ["1 Main St"], "city": ["X"], "state": ["VA"]}))
    with pytest.raises(ValueError, match="batch_size"):
        geocode_addresses(_addresses("1 Main St"), batch_size=10_001, cache_folder=tmp_path)
    empty = geocode_addresses(_addresses(), cache_folder=tmp_path)
    assert empty.empty and empty.attrs["n_sent"] == 0
    assert np.isnan(geocode_addresses(_addresses(""), cache_folder=tmp_path)["longitude"]).all()
