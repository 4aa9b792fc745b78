"""Readers of the public data sources, each returning a tidy (Geo)DataFrame keyed by GEOID.

Every reader takes a path (plus keyword-only options), repairs the documented quirks of the
published files (leading zeros, sentinels, encodings, description lines) and raises an
:mod:`equity.errors` exception naming the file, column and an example value otherwise. Each
result carries its provenance in ``.attrs`` (``source``, ``title``, ``publisher``, ``vintage``,
``licence``, ``attribution``, ``path``).

Each reader module declares the schema of the files it reads once (``SCHEMA``, an
:class:`equity.sources._schema.Schema`); the reader checks its input against it and
:func:`validate` reports against the same schemas.

Downloads (``fetch_acs``, ``fetch_boundaries``, ``fetch_ookla``, ...) live in
:mod:`equity.sources.fetch`, the URLs they download in :mod:`equity.sources.urls`, and the
Census batch geocoder in :mod:`equity.sources.geocode`; they are not imported here so that
reading needs no network code.
"""

from __future__ import annotations

from equity.sources.acs import read_acs
from equity.sources.anchors import read_anchors, read_libraries
from equity.sources.blocks import merge_blocks, read_block_speeds, read_blocks
from equity.sources.boundaries import read_boundaries
from equity.sources.broadband import read_broadband_usage
from equity.sources.business import read_business_patterns
from equity.sources.colleges import read_colleges
from equity.sources.fcc import read_fcc_bdc, summarise_fcc_bdc
from equity.sources.nonprofits import read_nonprofits
from equity.sources.ookla import quadkey_to_bounds, read_ookla, read_ookla_aggregates
from equity.sources.partners import read_partner_list
from equity.sources.svi import counts_from_svi, read_svi
from equity.sources.validate import validate
from equity.sources.zipcodes import read_zip_centroids

# fetch functions live in equity.sources.fetch (import it explicitly)

__all__ = [
    "counts_from_svi",
    "merge_blocks",
    "quadkey_to_bounds",
    "read_acs",
    "read_anchors",
    "read_block_speeds",
    "read_blocks",
    "read_boundaries",
    "read_broadband_usage",
    "read_business_patterns",
    "read_colleges",
    "read_fcc_bdc",
    "read_libraries",
    "read_nonprofits",
    "read_ookla",
    "read_ookla_aggregates",
    "read_partner_list",
    "read_svi",
    "read_zip_centroids",
    "summarise_fcc_bdc",
    "validate",
]
