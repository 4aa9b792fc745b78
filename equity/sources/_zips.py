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
>>> check_zip(buf, limits=ZipLimits(max_ratio=100), name="zeros.zip")
Traceback (most recent call last):
...
equity.errors.DataError: zeros.zip: refusing a zip bomb: entry 'zeros.txt' expands 1001 times (3,996 B -> 4,000,000 B; limit 100 times)
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from equity.errors import DataError

__all__ = ["DEFAULT_LIMITS", "ZipLimits", "check_zip", "copy_member"]

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
