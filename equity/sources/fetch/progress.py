"""Progress of a fetch on stderr: a bar with bytes and states on a terminal, plain lines otherwise.

On a terminal the bar is redrawn in place at most ten times a second::

    [##########----------]  26/51 states  412/816 files  1.3 GB  4.1 MB/s

When stderr is not a terminal (a log file, CI), one plain line is written per finished state
(``equity fetch: VA done (16 files, 16 new, 12.4 MB)``) so logs stay readable. The object is thread
safe: download threads report bytes as they arrive.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

__all__ = ["Progress", "human_bytes"]


def human_bytes(n: float) -> str:
    """``1536`` -> ``'1.5 kB'`` (decimal units, as download tools show them).

    Examples
    --------
    >>> human_bytes(0), human_bytes(1536), human_bytes(2_500_000_000)
    ('0 B', '1.5 kB', '2.5 GB')
    """
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


class Progress:
    """Counts of a fetch, drawn on `stream`.

    Parameters
    ----------
    stream
        Where to draw (default ``sys.stderr``).
    tty
        Draw a bar redrawn in place (default: whether `stream` is a terminal).
    width
        Width of the bar in characters.
    """

    def __init__(
        self, stream: TextIO | None = None, *, tty: bool | None = None, width: int = 20
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(self.stream.isatty()) if tty is None else tty
        self.width = width
        self.states_total = 0
        self.states_done = 0
        self.files_total = 0
        self.files_done = 0
        self.bytes = 0
        self._start = time.monotonic()
        self._drawn = 0.0
        self._lock = threading.Lock()
        self._state_bytes: dict[str, int] = {}

    def start(self, *, states: int, files: int) -> None:
        """Set the totals (states and files to fetch)."""
        with self._lock:
            self.states_total, self.files_total = states, files
            self._start = time.monotonic()
        self._draw(force=True)

    def add_bytes(self, n: int) -> None:
        """Count `n` bytes received."""
        with self._lock:
            self.bytes += n
        self._draw()

    def file_done(self) -> None:
        """Count one file finished (fetched, cached, skipped or failed)."""
        with self._lock:
            self.files_done += 1
        self._draw()

    def state_done(self, usps: str, *, files: int, new: int, size: int, failed: int) -> None:
        """Count one state finished; on a plain stream, write a line for it.

        `files` are the state's files (new and up to date), `new` those written now, `size`
        their bytes, `failed` the keys that failed.
        """
        with self._lock:
            self.states_done += 1
        if self.tty:
            self._draw(force=True)
            return
        tail = f", {failed} failed" if failed else ""
        self._write(
            f"equity fetch: {usps} done ({files} files, {new} new, {human_bytes(size)}{tail})\n"
        )

    def close(self) -> None:
        """Finish the bar's line (terminal only)."""
        if self.tty:
            self._draw(force=True)
            self._write("\n")

    def line(self) -> str:
        """The bar's text."""
        done = self.states_done / self.states_total if self.states_total else 1.0
        filled = int(round(done * self.width))
        rate = self.bytes / max(time.monotonic() - self._start, 1e-3)
        return (
            f"[{'#' * filled}{'-' * (self.width - filled)}] "
            f"{self.states_done}/{self.states_total} states  "
            f"{self.files_done}/{self.files_total} files  "
            f"{human_bytes(self.bytes)}  {human_bytes(rate)}/s"
        )

    def _draw(self, *, force: bool = False) -> None:
        if not self.tty:
            return
        now = time.monotonic()
        with self._lock:
            if not force and now - self._drawn < 0.1:
                return
            self._drawn = now
            text = self.line()
        self._write(f"\r{text}\x1b[K")

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text)
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stream must not stop the fetch
            pass
