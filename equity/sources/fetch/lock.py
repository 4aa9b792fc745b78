"""One fetch at a time per cache folder, and the leftovers of a killed fetch removed.

:func:`locked` holds ``<cache>/.fetch.lock`` (an exclusive ``flock``) for a fetch or a
``cache clear --source``; a second fetch on the same cache is refused with a clear message
instead of racing the first. While the lock is held no other fetch writes, so every temporary
file or folder (names starting with ``.``) under ``downloads/`` and ``states/`` is a leftover
of a killed run and is removed.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from equity.errors import ConfigError

__all__ = ["clean_leftovers", "locked"]


@contextlib.contextmanager
def locked(root: Path) -> Iterator[None]:
    """Hold ``<root>/.fetch.lock`` for the run (a second fetch on the same cache is refused)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / ".fetch.lock"
    with open(path, "a+") as fh:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock, no cleanup of leftovers
            yield
            return
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            msg = f"another `equity fetch` is using the cache {root} ({path} is locked); wait for it to finish"
            raise ConfigError(msg) from None
        try:
            clean_leftovers(root)
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def clean_leftovers(root: Path) -> None:
    """Remove temporary files and folders (``.name...``) a killed run left behind."""
    for top in (root / "downloads", root / "states"):
        if not top.is_dir():
            continue
        for path in sorted(top.rglob(".*"), key=lambda p: len(p.parts), reverse=True):
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
