"""Shared fixtures.

``shared_data``: the real public files in ``../shared/data``. Outside CI a missing folder skips
the test with a reason; in CI (``CI`` set) it fails, because those tests are the project's
contact with reality.

``sample_paths``: the bundled sample region, generated once per session into a temporary cache.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED_DATA = Path(
    os.environ.get(
        "EQUITY_SHARED_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"
    )
)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


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
