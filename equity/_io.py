"""Atomic file output: nothing half-written is ever left behind.

Every writer in the toolkit writes to a temporary file in the destination folder and
renames it into place (``os.replace`` is atomic on one file system), so a crash or an
error leaves either the old file or no file, never a truncated one.

A folder of outputs (:func:`atomic_dir`, what ``equity run --out DIR`` writes) is built
whole in a staging folder inside the destination (``DIR/.equity-<random>``), then replaced
as a set: every file the run wrote goes in, and the files they replace are set aside until
all are in; if any move fails, everything is put back as it was. With ``manifest=True`` the
folder also keeps ``.equity_manifest.json``, the list of files the last run wrote: a later
run removes those it did not write again (old maps after ``--no-maps``), never anything
else. Staging folders left by killed runs are removed by the next run into that folder.

:func:`check_output_folder` and :func:`check_output_file` say before any computation
whether an output path can be written (a file where a folder is needed, a folder under a
file, no permission or a read-only file system, a name too long), without creating it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from equity.errors import ConfigError, OutputError

__all__ = [
    "MANIFEST",
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_folder",
    "check_output_file",
    "check_output_folder",
    "display_path",
    "remove_stale_staging",
]

#: The file in an output folder listing what the last run wrote (relative paths).
MANIFEST = ".equity_manifest.json"
#: Prefix of staging folders (and of the old files set aside while a set is replaced).
_STAGING = ".equity-"
#: Who owns a staging folder: ``<pid> <host>``; a folder whose process is gone is stale.
_OWNER = ".owner"
#: A staging folder without an owner file (written by an older version) is stale after this.
_UNOWNED_STALE_S = 3600.0
#: A staging folder of another host (a shared file system) is stale after this.
_FOREIGN_STALE_S = 86400.0


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; move it onto `path` only if the block succeeds.

    Parameters
    ----------
    path
        Final destination.
    suffix
        Suffix of the temporary file (some writers choose the format from it); defaults to
        the destination's suffix.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{dest.name}.",
        suffix=suffix if suffix is not None else dest.suffix,
        dir=dest.parent,
    )
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()  # writers that refuse to overwrite (GDAL) get a free name
    try:
        yield tmp
        os.replace(tmp, dest)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write `data` to `path` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write `text` to `path` atomically (``\\n`` line ends) and return the path."""
    return atomic_write_bytes(path, text.encode(encoding))


# -- output folders as a set ----------------------------------------------------------------------


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str], *, manifest: bool = False) -> Iterator[Path]:
    """Yield a fresh staging folder inside `path`; on success its files replace those in `path`.

    Nothing reaches `path` until the block has succeeded; then the files are moved in as a
    set: the files they replace are set aside first and put back if any move fails, so
    `path` holds either the previous outputs or the new ones, never a mix.

    Parameters
    ----------
    path
        The output folder (created if needed; checked first with :func:`check_output_folder`).
    manifest
        Keep ``.equity_manifest.json`` in `path` listing the files written, and remove the
        files an earlier run listed there that this one did not write (e.g. maps after a run
        without maps). Files the toolkit did not write are never touched.

    Raises
    ------
    OutputError
        `path` cannot be a folder or cannot be written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_dir(out, manifest=True) as tmp:
    ...     _ = (tmp / "a.csv").write_text("x")
    >>> sorted(p.name for p in out.iterdir())
    ['.equity_manifest.json', 'a.csv']
    """
    dest = Path(path)
    check_output_folder(dest)
    dest.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(dest)
    tmp = _new_staging(dest)
    try:
        yield tmp
        _replace_set(tmp, dest, manifest=manifest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _new_staging(dest: Path, prefix: str = _STAGING) -> Path:
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=dest))
    (tmp / _OWNER).write_text(f"{os.getpid()} {socket.gethostname()}\n", encoding="utf-8")
    return tmp


def _files_of(folder: Path) -> list[str]:
    """Files under `folder` as sorted POSIX relative paths (its owner file left out)."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.relative_to(folder).as_posix() != _OWNER
    )


def _read_manifest(dest: Path) -> list[str]:
    """Files the last run listed (only plain relative paths inside `dest`)."""
    try:
        data = json.loads((dest / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    files = data.get("files", []) if isinstance(data, dict) else []
    return [
        f
        for f in files
        if isinstance(f, str) and f and not Path(f).is_absolute() and ".." not in Path(f).parts
    ]


class _SetMove:
    """The moves of one set replacement, so that a failure can undo them."""

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self.backup = _new_staging(dest, prefix=f"{_STAGING}old-")
        self.set_aside: list[tuple[Path, Path]] = []  # (original place, backup copy)
        self.placed: list[tuple[Path, Path]] = []  # (new file's place, its staging place)
        self.made: list[Path] = []  # folders created in dest

    def _mkdirs(self, folder: Path) -> None:
        missing = []
        while not folder.exists():
            missing.append(folder)
            folder = folder.parent
        for f in reversed(missing):
            f.mkdir()
            self.made.append(f)

    def set_aside_file(self, rel: str) -> None:
        target = self.dest / rel
        if not (target.exists() or target.is_symlink()):
            return
        if target.is_dir() and not target.is_symlink():
            msg = f"{target}: a folder is where the run writes a file; move it away and run again"
            raise OutputError(msg)
        keep = self.backup / rel
        keep.parent.mkdir(parents=True, exist_ok=True)
        os.replace(target, keep)
        self.set_aside.append((target, keep))

    def place(self, staged: Path, rel: str) -> None:
        target = self.dest / rel
        self._mkdirs(target.parent)
        os.replace(staged, target)
        self.placed.append((target, staged))

    def undo(self) -> bool:
        """Put everything back; True when it all went back."""
        ok = True
        for target, staged in reversed(self.placed):
            try:
                staged.parent.mkdir(parents=True, exist_ok=True)
                os.replace(target, staged)
            except OSError:
                ok = False
        for target, keep in reversed(self.set_aside):
            try:
                os.replace(keep, target)
            except OSError:
                ok = False
        for folder in reversed(self.made):
            with contextlib.suppress(OSError):
                folder.rmdir()
        return ok


def _replace_set(tmp: Path, dest: Path, *, manifest: bool) -> None:
    """Move the files of `tmp` into `dest` as a set (see :func:`atomic_dir`)."""
    new = _files_of(tmp)
    old = [f for f in _read_manifest(dest) if f not in set(new)] if manifest else []
    move = _SetMove(dest)
    done = False
    try:
        for rel in new:
            move.set_aside_file(rel)
        for rel in old:  # last run's outputs this run did not write
            move.set_aside_file(rel)
        for rel in new:
            move.place(tmp / rel, rel)
        if manifest:
            body = json.dumps({"files": new}, indent=1) + "\n"
            atomic_write_text(dest / MANIFEST, body)
        done = True
    finally:
        if done or move.undo():
            shutil.rmtree(move.backup, ignore_errors=True)
            if done:
                _remove_empty_folders(dest, [Path(rel).parent for rel in old])
        else:  # pragma: no cover - the file system failed twice
            msg = (
                f"{dest}: the previous outputs could not all be put back; they are in {move.backup}"
            )
            raise OutputError(msg)


def _remove_empty_folders(dest: Path, folders: list[Path]) -> None:
    """Remove sub-folders of `dest` (and their parents below it) left empty."""
    for rel in sorted({f for f in folders if f != Path(".")}, key=lambda f: -len(f.parts)):
        folder = dest / rel
        while folder != dest and dest in folder.parents:
            try:
                folder.rmdir()
            except OSError:
                break
            folder = folder.parent


def remove_stale_staging(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the staging folders (``.equity-*``) that killed runs left in `folder`.

    A staging folder is stale when the process that made it (its owner file says which, on
    which host) no longer runs; without an owner file (older versions), when it is over an
    hour old; on another host, when it is over a day old. Returns the folders removed.
    """
    root = Path(folder)
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.startswith(_STAGING) or entry.name == MANIFEST or not entry.is_dir():
            continue
        if _is_stale(entry):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _is_stale(staging: Path) -> bool:
    try:
        age = time.time() - staging.stat().st_mtime
        owner = (staging / _OWNER).read_text(encoding="utf-8").split()
    except FileNotFoundError:
        return age > _UNOWNED_STALE_S
    except OSError:
        return False
    if len(owner) != 2 or not owner[0].isdigit():
        return age > _UNOWNED_STALE_S
    pid, host = int(owner[0]), owner[1]
    if host != socket.gethostname():
        return age > _FOREIGN_STALE_S
    return not _alive(pid)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


# -- checks before any computation -----------------------------------------------------------------


def _limits(existing: Path) -> tuple[int, int]:
    """Longest file name and path the file system of `existing` takes (bytes)."""
    try:
        name_max = os.pathconf(existing, "PC_NAME_MAX")
        path_max = os.pathconf(existing, "PC_PATH_MAX")
    except (OSError, ValueError, AttributeError):  # pragma: no cover - Windows
        name_max, path_max = 255, 4096
    return int(name_max), int(path_max)


def _exists(path: Path) -> bool:
    try:
        os.lstat(path)
    except OSError:  # missing, or a name too long to look up
        return False
    return True


def _nearest_existing(path: Path, what: str) -> Path:
    """The nearest part of `path` that exists; an error when that part is a file."""
    current = path
    while not _exists(current):
        if current.parent == current:
            break
        current = current.parent
    if current != path and not current.is_dir():
        msg = f"{what} {path}: {current} is a file, so no folder can be made under it"
        raise OutputError(msg)
    return current


def _check_names(path: Path, existing: Path, what: str) -> None:
    name_max, path_max = _limits(existing if existing.is_dir() else existing.parent)
    for part in path.parts:
        size = len(os.fsencode(part))
        if size > name_max:
            msg = (
                f"{what} {str(path)[:80]}...: the name {part[:40]!r}... is {size} bytes long; "
                f"the file system takes at most {name_max}"
            )
            raise OutputError(msg)
    size = len(os.fsencode(str(path.absolute())))
    if size > path_max:
        msg = f"{what} {str(path)[:80]}...: the path is {size} bytes long; the limit is {path_max}"
        raise OutputError(msg)


def _check_writable(folder: Path, path: Path, what: str) -> None:
    """Create (and remove) a probe folder in `folder`: the only check root and read-only
    mounts answer truthfully."""
    try:
        probe = tempfile.mkdtemp(prefix=f"{_STAGING}probe-", dir=folder)
    except OSError as exc:
        reason = {
            errno.EACCES: "permission denied",
            errno.EPERM: "not permitted",
            errno.EROFS: "read-only file system",
            errno.ENOSPC: "no space left on the device",
            errno.EDQUOT: "disk quota exceeded",
        }.get(exc.errno or 0, exc.strerror or str(exc))
        where = "" if folder == path else f" ({folder})"
        msg = f"{what} {path}: cannot write there{where}: {reason}"
        raise OutputError(msg) from None
    os.rmdir(probe)


def check_output_folder(path: str | os.PathLike[str], *, what: str = "output folder") -> Path:
    """Raise :class:`OutputError` unless `path` can be (or is) a writable folder.

    Checked without creating anything: `path` is not a file, no part of it is a file, no name
    in it is longer than the file system allows, and the folder (or the nearest existing
    folder above it) can be written. Call it before the work whose results go there.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "file"
    >>> _ = f.write_text("x")
    >>> check_output_folder(f)
    Traceback (most recent call last):
    ...
    equity.errors.OutputError: output folder ...: a file, not a folder
    """
    dest = Path(path).expanduser()
    existing = _nearest_existing(dest, what)
    _check_names(dest, existing, what)
    if existing == dest and not dest.is_dir():
        msg = f"{what} {dest}: a file, not a folder"
        raise OutputError(msg)
    _check_writable(existing, dest, what)
    return dest


def check_output_file(path: str | os.PathLike[str], *, what: str = "output file") -> Path:
    """Raise :class:`OutputError` unless a file can be written at `path` (see
    :func:`check_output_folder`); `path` itself must not be a folder."""
    dest = Path(path).expanduser()
    existing = _nearest_existing(dest.parent, what)
    _check_names(dest, existing, what)
    if dest.is_dir():
        msg = f"{what} {dest}: a folder, not a file (give a file name, e.g. {dest / 'out.csv'})"
        raise OutputError(msg)
    _check_writable(existing, dest, what)
    return dest


def check_folder(path: str | os.PathLike[str], *, what: str) -> Path:
    """Raise :class:`ConfigError` when a configured folder (the cache, ``EQUITY_CACHE``) is
    a file or lies under one; the folder need not exist yet."""
    folder = Path(path).expanduser()
    try:
        _nearest_existing(folder, what)
    except OutputError as exc:
        raise ConfigError(str(exc)) from None
    if _exists(folder) and not folder.is_dir():
        msg = f"{what} {folder}: a file, not a folder"
        raise ConfigError(msg)
    return folder


def display_path(path: Any, *, base: str | os.PathLike[str] | None = None) -> str:
    """A path as outputs show it: files of the cache or the bundled data as ``<cache>/...``
    or ``<data>/...``, others relative to `base` (the configuration file's folder).

    METHODS.md shows input paths this way, so it has the same bytes wherever the project
    folder sits. Without `base`, other absolute paths stay as they are.

    Examples
    --------
    >>> display_path("/home/ana/project/acs.csv", base="/home/ana/project")
    'acs.csv'
    >>> display_path("/home/ana/data/acs.csv", base="/home/ana/project")
    '../data/acs.csv'
    """
    from equity import settings

    text = "" if path is None else str(path)
    if not text or "://" in text:
        return text
    p = Path(text)
    if not p.is_absolute():
        return p.as_posix()
    for root, label in ((settings.cache_folder, "<cache>/"), (settings.data_folder, "<data>/")):
        for candidate in (Path(root), Path(root).resolve()):
            with contextlib.suppress(ValueError):
                return label + p.relative_to(candidate).as_posix()
    if base is not None:
        with contextlib.suppress(ValueError):  # another drive (Windows)
            return Path(os.path.relpath(p, Path(base))).as_posix()
    return p.as_posix()
