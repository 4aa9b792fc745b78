"""Progress lines of a run on stderr: one per stage, with its time when it took over a second."""

from __future__ import annotations

import sys
import time
from typing import Any

__all__ = ["Progress"]


class Progress:
    """Progress lines on stderr: one per stage, with its time when it took over a second."""

    def __init__(self, *, quiet: bool = False, stream: Any = None) -> None:
        self.quiet = quiet
        self.stream = stream if stream is not None else sys.stderr
        self.t0 = time.perf_counter()

    def step(self, label: str) -> _Step:
        """Context manager timing one stage."""
        return _Step(self, label)

    def elapsed(self) -> float:
        """Seconds since the run started."""
        return time.perf_counter() - self.t0

    def write(self, text: str) -> None:
        """Write one line unless quiet."""
        if not self.quiet:
            print(text, file=self.stream, flush=True)


class _Step:
    def __init__(self, progress: Progress, label: str) -> None:
        self.progress, self.label = progress, label

    def __enter__(self) -> _Step:
        self.start = time.perf_counter()
        self.progress.write(f"[{self.progress.elapsed():6.1f}s] {self.label} ...")
        return self

    def __exit__(self, *exc: object) -> None:
        took = time.perf_counter() - self.start
        if exc[0] is None and took >= 1.0:
            self.progress.write(f"[{self.progress.elapsed():6.1f}s]   {self.label}: {took:.1f}s")
