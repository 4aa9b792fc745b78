"""Global defaults of `equity`, as typed, documented module attributes.

Change them at run time (``equity.settings.cache_folder = Path("/tmp/cache")``) or through
environment variables read once at import:

``EQUITY_CACHE`` sets :data:`cache_folder`; ``EQUITY_CENSUS_KEY`` sets :data:`census_api_key`;
``EQUITY_DATA`` sets :data:`data_folder`.

Attributes
----------
cache_folder
    Where downloads and the generated sample region are cached. Default
    ``~/.cache/equity`` (or ``$XDG_CACHE_HOME/equity``).
data_folder
    The bundled national county snapshot that ``equity run`` runs on by default
    (``equity.snapshot``). Default: the ``data/`` folder of the source checkout.
census_api_key
    Optional Census API key; the API works without one at a lower rate limit.
h3_resolution
    H3 resolution of the street-level grid (9: cells of about 0.105 km2, 174 m edge).
seed
    Seed of every random step (sample generation, Monte Carlo draws, sensitivity).
n_draws
    Monte Carlo draws used to turn margins of error into intervals.
moe_z
    z-value of a published ACS margin of error (90% confidence): SE = MOE / 1.645.
radius_km
    Service radius of a fellow, used for readiness and reach in placement.
min_ookla_tests
    Minimum Ookla tests for a cell's or place's measured speed to be reported.
http_timeout_s, http_retries
    Timeout (seconds) and number of retries (with exponential backoff) of downloads.
"""

from __future__ import annotations

import os
from pathlib import Path


def _default_cache() -> Path:
    env = os.environ.get("EQUITY_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "equity"


def _default_data() -> Path:
    env = os.environ.get("EQUITY_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


cache_folder: Path = _default_cache()
data_folder: Path = _default_data()
census_api_key: str | None = os.environ.get("EQUITY_CENSUS_KEY") or None
h3_resolution: int = 9
seed: int = 20261122
n_draws: int = 200
moe_z: float = 1.645
radius_km: float = 25.0
min_ookla_tests: int = 5
http_timeout_s: float = 30.0
http_retries: int = 3
