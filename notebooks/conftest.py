"""Pytest hooks for the tutorial notebooks, run with ``pytest --nbmake notebooks/``.

``05_real_data_virginia`` reads the real public files in ``../shared/data`` beside the project
(or the folder named by ``EQUITY_SHARED_DATA``). Outside CI a missing folder skips that notebook
with the reason; in CI (``CI`` set and not ``0``/``false``/``no``) it runs anyway and fails
loudly, as the real-data tests do (``tests/conftest.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent

#: Notebooks that read ``../shared/data``.
REAL_DATA_NOTEBOOKS: tuple[str, ...] = ("05_real_data_virginia.ipynb",)


def shared_data_folder(environ: Mapping[str, str] | None = None) -> Path:
    """Folder of the real public files: ``EQUITY_SHARED_DATA`` or ``../shared/data``."""
    env = os.environ if environ is None else environ
    return Path(env.get("EQUITY_SHARED_DATA") or NOTEBOOKS.parent.parent / "shared" / "data")


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when the ``CI`` variable is set to anything but empty, ``0``, ``false`` or ``no``."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def real_data_skip_reason(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the real-data notebooks are skipped, or None when they must run."""
    folder = shared_data_folder(environ)
    if (folder / "SOURCES.md").is_file() or in_ci(environ):
        return None
    return f"real data not found at {folder} (set EQUITY_SHARED_DATA); this notebook runs in CI"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the real-data notebooks outside CI when ``../shared/data`` is missing."""
    reason = real_data_skip_reason()
    if reason is None:
        return
    for item in items:
        if Path(str(item.path)).name in REAL_DATA_NOTEBOOKS:
            item.add_marker(pytest.mark.skip(reason=reason))
