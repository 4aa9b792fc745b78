"""FCC Broadband Data Collection (BDC) availability through the FCC's public data API.

The FCC publishes fixed availability per state and technology as zipped CSVs (one row per
provider x technology x location; columns in :data:`equity.sources.fcc.BDC_COLUMNS`) behind
its public data API (``https://broadbandmap.fcc.gov/api/public/map``), which needs a free
account:

1. Sign in (or register) at https://broadbandmap.fcc.gov, open your account menu, choose
   *Manage API Access* and generate an API token.
2. Set ``FCC_USERNAME`` to the account's e-mail and ``FCC_API_TOKEN`` to the token.

Every call sends them as the headers ``username`` and ``hash_value`` (kept out of logs, file
names and messages). The fetch then calls

- ``GET /listAsOfDates``: the release dates (``data_type == "availability"``); ``latest``
  picks the newest;
- ``GET /downloads/listAvailabilityData/{as_of_date}?category=State&subcategory=Location
  Coverage&technology_type=Fixed Broadband``: the files, each with ``file_id``,
  ``file_name``, ``state_fips``, ``technology_code``, ``record_count``;
- ``GET /downloads/downloadFile/availability/{file_id}``: one zipped CSV.

The API allows about 10 calls a minute: calls are spaced by :data:`MIN_INTERVAL_S` seconds
(the listings are fetched once per run and shared by every state).
"""

from __future__ import annotations

import json
import os
import re
from typing import TYPE_CHECKING, Any

from equity.errors import DataError, DownloadError
from equity.sources._http import public_url
from equity.sources.fetch.checks import Expect
from equity.sources.urls import fcc_api_url

if TYPE_CHECKING:
    from equity.sources._states import State
    from equity.sources.fetch.catalog import Download, FetchContext

__all__ = ["HELP", "MIN_INTERVAL_S", "credentials", "explain", "state_files"]

#: How to get the FCC's API token (said once when it is missing).
HELP = (
    "FCC BDC availability needs the FCC's free API token: sign in at "
    "https://broadbandmap.fcc.gov, choose Manage API Access in your account menu, generate a "
    "token, then set FCC_USERNAME (the account's e-mail) and FCC_API_TOKEN"
)
#: Seconds between two calls to the FCC API (its limit is about 10 calls a minute).
MIN_INTERVAL_S = 6.0

_LISTING = Expect("json", "the FCC BDC API's listing (JSON with a data list)", header=("data",))
_FILE = Expect(
    "zip",
    "an FCC BDC availability file (zipped CSV)",
    text_member=r"\.csv$",
    header=("location_id", "technology", "max_advertised_download_speed", "block_geoid"),
)


def credentials(username: str | None = None, token: str | None = None) -> tuple[str, str] | None:
    """The FCC account e-mail and API token: the arguments, else ``FCC_USERNAME`` and
    ``FCC_API_TOKEN`` from the environment; None when either is missing."""
    user = username or os.environ.get("FCC_USERNAME") or None
    secret = token or os.environ.get("FCC_API_TOKEN") or None
    return (user, secret) if user and secret else None


def _headers(ctx: FetchContext) -> tuple[tuple[str, str], ...]:
    creds = ctx.opts.fcc_credentials
    if creds is None:  # the runner skips FCC items without credentials
        raise DataError(HELP)
    return (("username", creds[0]), ("hash_value", creds[1]), ("Accept", "application/json"))


def _listing(ctx: FetchContext, url: str) -> dict[str, Any]:
    from equity.sources.fetch.catalog import Download

    fetched = ctx.get(
        Download("fcc", url, _LISTING, suffix=".json", headers=_headers(ctx), fresh=True)
    )
    return dict(json.loads(fetched.path.read_text(encoding="utf-8")))


def as_of_date(ctx: FetchContext) -> str:
    """The availability release to fetch: ``ctx.opts.fcc_date``, or the newest one listed."""
    wanted = ctx.opts.fcc_date
    if wanted != "latest":
        return wanted
    doc = ctx.once(("fcc-dates",), lambda: _listing(ctx, fcc_api_url("listAsOfDates")))
    dates = sorted(
        str(d.get("as_of_date", ""))[:10]
        for d in doc["data"]
        if isinstance(d, dict) and d.get("data_type", "availability") == "availability"
    )
    if not dates:
        msg = f"{fcc_api_url('listAsOfDates')} lists no availability release"
        raise DataError(msg)
    return dates[-1]


def state_files(ctx: FetchContext, st: State) -> tuple[str, list[tuple[Download, str]]]:
    """The release date and the fixed availability files of `st`: (download, file name)."""
    from equity.sources.fetch.catalog import Download

    date = as_of_date(ctx)
    url = public_url(
        fcc_api_url("downloads/listAvailabilityData", date),
        params=[
            ("category", "State"),
            ("subcategory", "Location Coverage"),
            ("technology_type", "Fixed Broadband"),
        ],
    )
    doc = ctx.once(("fcc-files", date), lambda: _listing(ctx, url))
    files = []
    for entry in doc["data"]:
        if not isinstance(entry, dict) or str(entry.get("state_fips", "")).zfill(2) != st.fips:
            continue
        if "fixed" not in str(entry.get("technology_type", "fixed")).lower():
            continue
        if str(entry.get("subcategory", "Location Coverage")) != "Location Coverage":
            continue
        name = re.sub(r"[^\w.-]", "_", str(entry.get("file_name") or entry["file_id"]))
        download_url = fcc_api_url("downloads/downloadFile/availability", str(entry["file_id"]))
        download = Download("fcc", download_url, _FILE, suffix=".zip", headers=_headers(ctx))
        files.append((download, name if name.endswith(".zip") else f"{name}.zip"))
    return date, files


def explain(exc: DownloadError) -> str:
    """The message of a failed FCC call, with a hint when the account was refused."""
    text = str(exc)
    if re.search(r"HTTP 40[13]\b", text):
        text += " Check FCC_USERNAME (the account's e-mail) and FCC_API_TOKEN."
    return text
