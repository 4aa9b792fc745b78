"""Tests of equity.processes and the local engine's processes: same results, in order, errors
named, memory respected; a run with two processes writes the same files as with one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from equity import geographies, pipeline
from equity.engine import LocalEngine, get_engine
from equity.errors import ConfigError, DataError, EquityError, SchemaError
from equity.processes import map_in_processes


def _square_sum(n: int) -> tuple[int, int]:
    return int((np.arange(n) ** 2).sum()), os.getpid()


def _fail(kind: str) -> int:
    if kind == "schema":
        raise SchemaError(["column 'x' is missing"], source="part.csv")
    if kind == "value":
        return int("twelve")
    if kind == "die":
        os._exit(3)  # a worker killed mid-part (as by the out-of-memory killer)
    return 1


def _interval(seconds: float) -> tuple[float, float]:
    start = time.time()
    time.sleep(seconds)
    return start, time.time()


def test_results_come_back_in_order_from_other_processes() -> None:
    sizes = [5, 200_000, 3, 70_000, 1, 12]
    got = map_in_processes(_square_sum, [(n,) for n in sizes], processes=2)
    assert [g[0] for g in got] == [_square_sum(n)[0] for n in sizes]
    pids = {g[1] for g in got}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert map_in_processes(_square_sum, [], processes=2) == []
    with pytest.raises(ValueError, match="at least 1"):
        map_in_processes(_square_sum, [(1,)], processes=0)


def test_errors_name_the_part_and_keep_their_class() -> None:
    names = ["county 51001", "county 51003", "county 51005"]
    with pytest.raises(SchemaError) as err:
        map_in_processes(_fail, [("ok",), ("schema",), ("ok",)], processes=2, names=names)
    assert str(err.value).startswith("county 51003: ")
    assert err.value.problems == ["column 'x' is missing"]
    with pytest.raises(ValueError, match="invalid literal") as other:
        map_in_processes(_fail, [("ok",), ("value",)], processes=2, names=names[:2])
    assert "in county 51003, in a worker process of the local engine" in other.value.__notes__
    with pytest.raises(EquityError, match="^county 51003: its worker process died"):
        map_in_processes(_fail, [("ok",), ("die",)], processes=2, names=names[:2])


def test_parts_too_large_together_run_one_at_a_time() -> None:
    args = [(0.4,), (0.4,), (0.4,)]
    # each part's estimate is 40% of the memory available: two would pass the 60% share
    alone = map_in_processes(_interval, args, processes=2, memory=[4.0] * 3, available=10.0)
    starts, ends = zip(*sorted(alone), strict=True)
    assert all(s >= e for s, e in zip(starts[1:], ends[:-1], strict=True))
    # small estimates: two at a time
    together = map_in_processes(_interval, args, processes=2, memory=[1.0] * 3, available=10.0)
    first, second = sorted(together)[:2]
    assert second[0] < first[1]


def test_local_engine_uses_processes_only_when_it_pays() -> None:
    with pytest.raises(ConfigError, match="run.workers must be at least 1"):
        LocalEngine(processes=0)
    eng = get_engine("local", workers=2)
    assert isinstance(eng, LocalEngine) and eng.processes == 2
    assert eng.describe() == "local, 2 processes"
    small = [(np.arange(10),), (np.arange(20),)]  # 30 rows < min_rows: this process
    assert {pid for _, pid in eng.map_partitions(_len_pid, small)} == {os.getpid()}
    big = [(np.arange(eng.min_rows),), (np.arange(5),)]
    got = eng.map_partitions(_len_pid, big)
    assert [n for n, _ in got] == [eng.min_rows, 5]
    assert os.getpid() not in {pid for _, pid in got}
    assert {pid for _, pid in LocalEngine(processes=1).map_partitions(_len_pid, big)} == {
        os.getpid()
    }


def _len_pid(a: np.ndarray) -> tuple[int, int]:
    return len(a), os.getpid()


def test_street_level_in_processes_equals_in_turn(sample_paths, monkeypatch) -> None:
    """The sample's street level (every county, with its Ookla tiles) built by two processes:
    units and crosswalk exactly equal to the counties in turn."""
    from equity import indicators
    from equity.config import load_config

    ds = pipeline.load_dataset(load_config(sample=True))
    counts = indicators.counts_from_acs(ds.acs)
    bg = ds.boundaries["blockgroup"][["GEOID", "geometry"]].merge(counts, on="GEOID")
    cols = [c for c in counts.columns if c != "GEOID" and not c.startswith("moe_")]
    cols = [c for c in cols if c not in pipeline.MEDIANS]
    kw = {"counts": cols, "medians": pipeline.MEDIANS, "resolution": 8, "tiles": ds.tiles}
    want = geographies.street_level(bg, **kw)
    eng = LocalEngine(processes=2)
    monkeypatch.setattr(LocalEngine, "min_rows", 0)
    calls = []
    real = map_in_processes

    def spy(*a, **k):
        calls.append(k.get("memory"))
        return real(*a, **k)

    monkeypatch.setattr("equity.processes.map_in_processes", spy)
    got = geographies.street_level(bg, **kw, map_partitions=eng.map_partitions)
    assert len(calls) == 1 and len(calls[0]) == bg["GEOID"].str[:5].nunique() > 1
    assert all(m > 0 for m in calls[0])  # each county's memory estimate
    for a, b in zip(want, got, strict=True):
        pd.testing.assert_frame_equal(
            pd.DataFrame(a).drop(columns="geometry", errors="ignore"),
            pd.DataFrame(b).drop(columns="geometry", errors="ignore"),
            check_exact=True,
        )
    assert (want[0].geometry.to_wkb() == got[0].geometry.to_wkb()).all()


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_a_run_with_two_processes_writes_the_same_files(tmp_path: Path, monkeypatch) -> None:
    """The sample run (street level and maps in two processes, thresholds lowered so the
    small sample uses them) writes byte-identical files; METHODS.md differs only in the
    recorded setting."""
    from equity.config import load_config
    from equity.maps import runmaps

    cfg = load_config(sample=True).replace(grid_resolution=8)
    # each run with a table cache of its own: the second computes its street level too
    one = pipeline.run(
        cfg.replace(workers=1, cache_folder=str(tmp_path / "c1")),
        out=tmp_path / "one",
        quiet=True,
        command="equity run",
    )
    monkeypatch.setattr(LocalEngine, "min_rows", 0)
    monkeypatch.setattr(runmaps, "PARALLEL_MIN_PLACES", 0)
    used = []
    real = map_in_processes

    def spy(function, *a, **k):
        used.append(function.__name__)
        return real(function, *a, **k)

    monkeypatch.setattr("equity.processes.map_in_processes", spy)
    two = pipeline.run(
        cfg.replace(workers=2, cache_folder=str(tmp_path / "c2")),
        out=tmp_path / "two",
        quiet=True,
        command="equity run",
    )
    assert used == ["_pieces_of_part", "_map_files"]
    a, b = _files(tmp_path / "one"), _files(tmp_path / "two")
    assert sorted(a) == sorted(b) and any(k.endswith(".html") for k in a)
    differ = [k for k in a if a[k] != b[k]]
    assert differ == ["METHODS.md"], differ  # its settings table: run.workers, cache.folder
    lines = set(a["METHODS.md"].decode().splitlines()) ^ set(b["METHODS.md"].decode().splitlines())
    assert {ln.split("|")[1].strip() for ln in lines} == {"run.workers", "cache.folder"}
    for level, table in one.levels.items():
        pd.testing.assert_frame_equal(
            pd.DataFrame(table).drop(columns="geometry"),
            pd.DataFrame(two.levels[level]).drop(columns="geometry"),
            check_exact=True,
        )


def test_data_errors_of_a_part_keep_their_class() -> None:
    with pytest.raises(DataError, match="^part 1: bad"):
        map_in_processes(_data_error, [(0,), (1,)], processes=2)


def _data_error(i: int) -> int:
    if i:
        raise DataError("bad")
    return i
