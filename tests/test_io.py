"""Output folders replaced as a set, a manifest of what a run wrote, stale staging folders
removed, output paths checked before any work, paths shown relative (``equity._io``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from equity import _io, settings
from equity.errors import ConfigError, OutputError


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _write_set(out: Path, files: dict[str, str], *, manifest: bool = True) -> None:
    with _io.atomic_dir(out, manifest=manifest) as tmp:
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)


def test_a_set_replaces_the_previous_set_and_keeps_other_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("the user's own file")
    _write_set(out, {"a.csv": "1", "maps/x.html": "old map", "maps/y.png": "old png"})
    _write_set(out, {"a.csv": "2", "b.csv": "new"})  # a run without maps
    tree = _tree(out)
    assert tree.pop(_io.MANIFEST)
    assert tree == {"a.csv": b"2", "b.csv": b"new", "notes.txt": b"the user's own file"}
    assert not (out / "maps").exists()  # the old maps and their emptied folder are gone
    assert not [p for p in out.iterdir() if p.name.startswith(".equity-") and p.is_dir()]


def test_a_failed_block_leaves_the_folder_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write_set(out, {"a.csv": "1", "b.csv": "1"})
    before = _tree(out)
    with pytest.raises(RuntimeError), _io.atomic_dir(out, manifest=True) as tmp:
        (tmp / "a.csv").write_text("2")
        raise RuntimeError("the run failed")
    assert _tree(out) == before
    assert sorted(p.name for p in out.iterdir()) == [_io.MANIFEST, "a.csv", "b.csv"]


def test_a_failure_during_the_move_puts_everything_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    _write_set(out, {"METHODS.md": "old", "candidates.csv": "old", "index_x.parquet": "old"})
    before = _tree(out)
    real = os.replace
    calls = {"n": 0}

    def flaky(src: object, dst: object) -> None:
        calls["n"] += 1
        if calls["n"] == 5:  # after the old files were set aside and two new ones moved in
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)  # type: ignore[arg-type]

    with pytest.raises(OSError), _io.atomic_dir(out, manifest=True) as tmp:
        for name in ("METHODS.md", "candidates.csv", "index_x.parquet"):
            (tmp / name).write_text("new")
        monkeypatch.setattr(os, "replace", flaky)
    monkeypatch.undo()
    assert _tree(out) == before  # old METHODS.md, old candidates, old tables: never a mix
    assert not [p for p in out.iterdir() if p.is_dir()]


def test_a_folder_where_a_file_goes_is_refused_before_anything_moves(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _write_set(out, {"a.csv": "1"})
    (out / "b.csv").mkdir()
    before = _tree(out)
    with pytest.raises(OutputError, match="a folder is where the run writes a file"):
        _write_set(out, {"a.csv": "2", "b.csv": "2"})
    assert _tree(out) == before


def test_stale_staging_folders_of_killed_runs_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    host = __import__("socket").gethostname()
    killed = out / ".equity-killed"
    (killed / "maps").mkdir(parents=True)
    (killed / ".owner").write_text(f"{dead.stdout.strip()} {host}\n")
    (killed / "index_street.parquet").write_bytes(b"x" * 1000)
    running = out / ".equity-running"
    running.mkdir()
    (running / ".owner").write_text(f"{os.getpid()} {host}\n")
    old = out / ".equity-oldversion"  # no owner file: stale after an hour
    old.mkdir()
    os.utime(old, (1e9, 1e9))
    recent = out / ".equity-recent"
    recent.mkdir()
    _write_set(out, {"a.csv": "1"})
    left = sorted(p.name for p in out.iterdir() if p.name.startswith(".equity-") and p.is_dir())
    assert left == [".equity-recent", ".equity-running"]


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda t: t / "f.txt", "a file, not a folder"),
        (lambda t: t / "f.txt" / "sub", "is a file, so no folder can be made under it"),
        (lambda t: t / ("x" * 300), "300 bytes long"),
    ],
)
def test_output_folder_checked_without_creating_it(tmp_path: Path, make, needle: str) -> None:
    (tmp_path / "f.txt").write_text("x")
    before = sorted(tmp_path.iterdir())
    with pytest.raises(OutputError, match=needle):
        _io.check_output_folder(make(tmp_path))
    assert sorted(tmp_path.iterdir()) == before


def test_unwritable_folder_is_refused(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        target = Path("/sys/equity-out")  # root may write any mode; /sys refuses anyone
    else:
        locked = tmp_path / "locked"
        locked.mkdir()
        locked.chmod(0o555)
        target = locked / "out"
    with pytest.raises(OutputError, match="cannot write there"):
        _io.check_output_folder(target)
    with pytest.raises(OutputError, match="cannot write there"):
        _io.check_output_file(target / "x.csv")


def test_a_fresh_folder_passes_and_is_not_created(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert _io.check_output_folder(target) == target
    assert not (tmp_path / "a").exists() and list(tmp_path.iterdir()) == []


def test_cache_folder_that_is_a_file(tmp_path: Path) -> None:
    f = tmp_path / "cache"
    f.write_text("x")
    with pytest.raises(ConfigError, match="a file, not a folder"):
        _io.check_folder(f, what="EQUITY_CACHE")
    with pytest.raises(ConfigError, match="is a file"):
        _io.check_folder(f / "sub", what="EQUITY_CACHE")
    from equity.cache import TableCache

    with pytest.raises(ConfigError, match="table cache folder"):
        TableCache(f)


def test_display_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(settings, "cache_folder", tmp_path / "cache")
    base = tmp_path / "project"
    assert _io.display_path(base / "data" / "acs.csv", base=base) == "data/acs.csv"
    assert _io.display_path(tmp_path / "elsewhere" / "x.zip", base=base) == "../elsewhere/x.zip"
    assert (
        _io.display_path(tmp_path / "cache" / "sample" / "a.csv", base=base)
        == "<cache>/sample/a.csv"
    )
    assert _io.display_path("relative/x.csv", base=base) == "relative/x.csv"
    assert _io.display_path("https://example.org/x.csv", base=base) == "https://example.org/x.csv"
