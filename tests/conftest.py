"""Shared fixtures.

``shared_data``: the real public files in ``../shared/data``. Outside CI a missing folder skips
the test with a reason; in CI (``CI`` set) it fails, because those tests are the project's
contact with reality.

``sample_paths``: the bundled sample region, generated once per session into a temporary cache.

Every test runs with ``equity.settings.cache_folder`` in a session-wide temporary folder, so the
sample region and the table cache (``equity.cache``) never land in the user's real cache.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get(
        "EQUITY_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="session", autouse=True)
def _temporary_cache_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ``settings.cache_folder`` at a temporary folder for the whole session."""
    from equity import settings

    folder = tmp_path_factory.mktemp("equity-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(settings, "cache_folder", folder)
        yield folder


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of the real public files, ``../shared/data`` beside the project."""
    if not (SHARED_DATA / "SOURCES.md").is_file():
        msg = f"real test data not found at {SHARED_DATA} (set EQUITY_SHARED_DATA)"
        if _in_ci():
            pytest.fail(msg + "; CI must have ../shared/data beside the project")
        pytest.skip(msg)
    return SHARED_DATA


@pytest.fixture(scope="session")
def sample_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Paths of the sample region's files, generated once for the session."""
    from equity import sample

    out = tmp_path_factory.mktemp("sample")
    return sample.write_sample(out)
