"""The local engine's scheduling: states at once, largest first, a death fails only its state.

The task here is a stand-in for :func:`equity.national.state.run_state` (it sleeps, logs when
it starts and returns a small result), so the scheduling is tested without running states;
``tests/test_national_run.py`` runs real states on two workers against one.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from equity.config import load_config
from equity.national import engines
from equity.national.state import RunOptions, StateResult
from equity.sources._states import lookup_state

#: input bytes per state (their own folder in the fetch cache)
SIZES = {"AL": 100, "AZ": 3_000, "AR": 2_000, "CA": 9_000}


def _stand_in(usps: str, cache_folder: str, options: RunOptions) -> StateResult:
    """Log the start; AZ's process kills itself when the folder says so; CA, the largest,
    ends only after AL, the smallest, has (it runs while the others do)."""
    folder = Path(cache_folder)
    with (folder / "starts.log").open("a") as log:
        log.write(f"{usps}\n")
    if usps == "AZ" and (folder / "kill-AZ").exists():
        os.kill(os.getpid(), signal.SIGKILL)
    if usps == "CA":
        limit = time.monotonic() + 60
        while not (folder / "done-AL").exists() and time.monotonic() < limit:
            time.sleep(0.02)
        time.sleep(0.5)
    (folder / f"done-{usps}").touch()
    st = lookup_state(usps)
    return StateResult(st.usps, st.fips, st.name, "done", f"pid {os.getpid()}")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    for usps, size in SIZES.items():
        own = tmp_path / "states" / usps
        own.mkdir(parents=True)
        (own / "inputs.csv").write_bytes(b"x" * size)
    return tmp_path


def _run(cache: Path, workers: int) -> tuple[list[StateResult], list[str], list[str]]:
    reported: list[StateResult] = []
    options = RunOptions(config=load_config(), out=str(cache / "out"))
    results = engines.run_local(
        list(SIZES), cache, options, report=reported.append, workers=workers, task=_stand_in
    )
    starts = (cache / "starts.log").read_text().split()
    return results, [r.usps for r in reported], starts


@pytest.mark.slow  # the fork server's start (its preloads) alone takes seconds
def test_two_at_once_largest_first_results_in_the_given_order(cache):
    results, finished, starts = _run(cache, workers=2)
    assert [r.usps for r in results] == list(SIZES)  # the given order, not the finish order
    assert all(r.status == "done" for r in results)
    # by input size: CA and AZ first (which process logs first is a race), then AR, then AL
    assert sorted(starts[:2]) == ["AZ", "CA"] and starts[2:] == ["AR", "AL"]
    # CA overlapped the three small states on the other worker: it finished last
    assert finished == ["AZ", "AR", "AL", "CA"]
    assert len({r.message for r in results}) == 4  # a fresh process per state


@pytest.mark.slow
def test_one_worker_runs_one_after_the_other_in_the_given_order(cache):
    results, finished, starts = _run(cache, workers=1)
    assert starts == finished == [r.usps for r in results] == list(SIZES)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_a_killed_process_fails_only_its_state(cache, workers):
    (cache / "kill-AZ").touch()
    results, finished, _ = _run(cache, workers=workers)
    assert [r.usps for r in results] == list(SIZES)
    status = {r.usps: r.status for r in results}
    assert status == {"AL": "done", "AZ": "failed", "AR": "done", "CA": "done"}
    assert "died without a result" in results[1].message
    assert sorted(finished) == sorted(SIZES)


def test_workers_must_be_positive(cache):
    with pytest.raises(ValueError, match="at least 1"):
        _run(cache, workers=0)


def test_a_states_size_counts_the_files_its_manifest_names(tmp_path: Path) -> None:
    """Files outside the cache (a folder of county files, an absolute path) and relative
    paths under the cache count; without a manifest, the state's own folder does."""
    import json

    outside = tmp_path / "elsewhere"
    (outside / "speeds").mkdir(parents=True)
    (outside / "speeds" / "51001.csv.xz").write_bytes(b"x" * 700)
    (outside / "speeds" / "51003.csv.xz").write_bytes(b"x" * 300)
    (outside / "bg.shp").write_bytes(b"x" * 5_000)
    cache = tmp_path / "cache"
    va = cache / "states" / "VA"
    va.mkdir(parents=True)
    (va / "acs.csv").write_bytes(b"x" * 40)
    data = {"blockgroups": str(outside / "bg.shp"), "ookla": str(outside / "speeds"),
            "acs": "states/VA/acs.csv"}  # fmt: skip
    (va / "manifest.json").write_text(json.dumps({"format": 1, "data": data}))
    assert engines._own_size(cache, "VA") == 5_000 + 1_000 + 40
    md = cache / "states" / "MD"
    md.mkdir(parents=True)
    (md / "inputs.csv").write_bytes(b"x" * 77)
    assert engines._own_size(cache, "MD") == 77
    assert engines._own_size(cache, "DE") == 0  # not in the cache at all
