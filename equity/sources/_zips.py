"""Decompression limits for downloaded zips: refuse zip bombs before anything is written.

A zip's central directory declares each entry's compressed and uncompressed size. Before a
downloaded zip is cached (or extracted), :func:`check_zip` refuses it when

- its entries declare more than :attr:`ZipLimits.max_bytes` uncompressed in total (absolute
  limit, default 8 GiB: the largest real input, a state's FCC availability CSV or TIGER block
  file, is well under 2 GiB), or
- an entry (larger than 1 MiB uncompressed) expands more than :attr:`ZipLimits.max_ratio` times
  its compressed size (default 200: real Census shapefiles and CSVs compress 3-30 times, a bomb
  1,000 times or more).

Python's :mod:`zipfile` never yields more bytes than an entry declares (an entry that lies about
its size fails its CRC check), so the declared sizes bound what is extracted;
:func:`copy_member` counts the bytes it writes all the same.

Examples
--------
>>> import io, zipfile
>>> buf = io.BytesIO()
>>> with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
...     zf.writestr("zeros.txt", bytes(4_000_000))
>>> check_zip(buf, limits=ZipLimits(max_ratio=100), name="zeros.zip")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
equity.errors.DataError: zeros.zip: refusing a zip bomb: entry 'zeros.txt' expands ... times (... B -> 4,000,000 B; limit 100 times)
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO

from equity._io import atomic_dir
from equity.errors import DataError

__all__ = ["DEFAULT_LIMITS", "ZipLimits", "check_zip", "copy_member", "safe_extract"]

_CHUNK = 1 << 16
# small entries (a .prj, a .cpg) may compress by any factor without being a threat
_RATIO_FLOOR_BYTES = 1 << 20


@dataclass(frozen=True)
class ZipLimits:
    """Limits on what a zip may expand to.

    Attributes
    ----------
    max_bytes
        Total uncompressed size of all entries, in bytes.
    max_ratio
        Largest uncompressed / compressed ratio of one entry (entries under 1 MiB exempt).
    """

    max_bytes: int = 8 << 30
    max_ratio: float = 200.0


#: The limits used unless a caller passes others.
DEFAULT_LIMITS = ZipLimits()


def _human(n: int) -> str:
    return f"{n:,} B"


def check_zip(
    source: str | os.PathLike[str] | IO[bytes],
    *,
    limits: ZipLimits = DEFAULT_LIMITS,
    name: str | None = None,
) -> list[zipfile.ZipInfo]:
    """Check a zip's declared sizes against `limits`; return its entries.

    Parameters
    ----------
    source
        Path or binary file object of the zip.
    limits
        Absolute and ratio limits.
    name
        How to name the zip in messages (defaults to the path).

    Returns
    -------
    list of zipfile.ZipInfo
        The entries (files and folders).

    Raises
    ------
    DataError
        Not a zip, or over a limit (the message names the entry and the sizes).
    """
    label = name or (str(source) if isinstance(source, str | os.PathLike) else "zip")
    try:
        with zipfile.ZipFile(source) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        msg = f"{label}: not a valid zip ({exc})"
        raise DataError(msg) from None
    total = sum(i.file_size for i in infos)
    if total > limits.max_bytes:
        msg = (
            f"{label}: refusing a zip bomb: its entries expand to {_human(total)}, over the "
            f"limit of {_human(limits.max_bytes)}"
        )
        raise DataError(msg)
    for info in infos:
        if info.file_size <= _RATIO_FLOOR_BYTES:
            continue
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            msg = (
                f"{label}: refusing a zip bomb: entry {info.filename!r} expands {ratio:.0f} times "
                f"({_human(info.compress_size)} -> {_human(info.file_size)}; limit "
                f"{limits.max_ratio:g} times)"
            )
            raise DataError(msg)
    return infos


def copy_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    out: IO[bytes],
    *,
    limits: ZipLimits = DEFAULT_LIMITS,
    name: str | Path = "zip",
) -> int:
    """Copy one entry to `out` in chunks, stopping at the absolute limit; the bytes written.

    Raises
    ------
    DataError
        The entry cannot be read (corrupt, CRC error) or exceeds ``limits.max_bytes``.
    """
    written = 0
    try:
        with archive.open(info) as src:
            while chunk := src.read(_CHUNK):
                written += len(chunk)
                if written > limits.max_bytes:
                    msg = (
                        f"{name}: refusing a zip bomb: entry {info.filename!r} expands past "
                        f"{_human(limits.max_bytes)}"
                    )
                    raise DataError(msg)
                out.write(chunk)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        msg = f"{name}: entry {info.filename!r} cannot be read ({exc})"
        raise DataError(msg) from None
    return written


def _entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry is unsafe to extract, or None."""
    name = info.filename.replace("\\", "/")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return f"{info.filename!r} is a symbolic link"
    if name.startswith("/") or (len(name) > 1 and name[1] == ":" and name[0].isalpha()):
        return f"{info.filename!r} is an absolute path"
    if ".." in PurePosixPath(name).parts:
        return f"{info.filename!r} points outside the destination (path traversal)"
    if "\x00" in name:
        return f"{info.filename!r} contains a NUL character"
    return None


def safe_extract(
    zip_path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    members: Iterable[str] | None = None,
    limits: ZipLimits = DEFAULT_LIMITS,
) -> list[Path]:
    """Extract a zip file into `dest`, refusing unsafe entries and zip bombs, atomically.

    (Also importable from :mod:`equity.sources._http`.)

    Every entry is checked before anything is written: absolute paths, ``..`` components
    (path traversal, "zip slip") and symbolic links are refused, all problems listed in one
    error, and the declared sizes must keep within `limits` (see :mod:`equity.sources._zips`).
    Files are extracted into a temporary folder inside `dest` and moved into place only when
    all of them are complete.

    Parameters
    ----------
    zip_path
        The zip file.
    dest
        Destination folder (created when missing).
    members
        Names of the entries to extract; all entries by default.
    limits
        Decompression limits (absolute size, ratio).

    Returns
    -------
    list of Path
        Paths of the extracted files, in archive order.

    Raises
    ------
    DataError
        When the file is not a valid zip, an entry is unsafe or over a limit, or a named member
        is missing.

    Examples
    --------
    >>> files = safe_extract("cb_2021_51_tract_500k.zip", "tracts")  # doctest: +SKIP
    """
    zip_path = Path(zip_path)
    dest = Path(dest)
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as exc:
        msg = f"{zip_path} is not a readable zip file ({exc})."
        raise DataError(msg) from None
    with archive:
        check_zip(zip_path, limits=limits)
        infos = archive.infolist()
        if members is not None:
            wanted = set(members)
            missing = sorted(wanted - {i.filename for i in infos})
            if missing:
                msg = f"{zip_path} has no entry {missing[0]!r} (entries: {archive.namelist()[:10]})"
                raise DataError(msg)
            infos = [i for i in infos if i.filename in wanted]
        problems = [p for p in map(_entry_problem, infos) if p]
        if problems:
            listed = "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
            msg = f"refusing to extract {zip_path}: {len(problems)} unsafe entries: {listed}."
            raise DataError(msg)
        files = [i for i in infos if not i.is_dir()]
        extracted: list[Path] = []
        with atomic_dir(dest) as tmp:
            root = tmp.resolve()
            for info in files:
                rel = PurePosixPath(info.filename.replace("\\", "/"))
                target = tmp.joinpath(*rel.parts)
                # belt and braces: the checks above already exclude anything outside
                if not target.resolve().is_relative_to(root):
                    msg = f"refusing to extract {zip_path}: {info.filename!r} leaves {dest}."
                    raise DataError(msg)
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "wb") as out:
                    copy_member(archive, info, out, limits=limits, name=zip_path)
                extracted.append(dest.joinpath(*rel.parts))
    return extracted
