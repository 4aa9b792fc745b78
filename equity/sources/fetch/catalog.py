"""What the national fetch downloads for each state, and how each state's files are made.

Sources (``equity fetch --sources``; ``equity cache clear --source``) and the ``[data]`` keys
they fill:

==============  ====================================================  =============================================
source          keys                                                  made from
==============  ====================================================  =============================================
``acs``         ``acs``                                               Census API JSON, joined and written as CSV
``boundaries``  ``states``, ``counties``, ``tracts``, ``blockgroups``,  per-state zips as published; national state
                ``places``, ``cousubs``                               and county zips split per state
``blocks``      ``blocks``                                            TIGER 2020 tabulation blocks, as published
``usage``       ``usage``                                             Microsoft county CSV, split per state
``ookla``       ``ookla``                                             the quarter's worldwide Parquet, clipped
``fcc``         ``fcc``                                               FCC BDC zips (one per technology), as published
``business``    ``business``                                          CBP county file, split per state
``libraries``   ``libraries``                                         IMLS outlet CSV, split per state
``schools``     ``schools``                                           NCES EDGE geocodes, split per state
``colleges``    ``colleges``                                          IPEDS HD CSV, split per state
``nonprofits``  ``nonprofits``                                        IRS ``eo_<st>.csv``, as published
==============  ====================================================  =============================================

Each (state, key) is an :class:`Item`: the downloads it needs (known in advance, except the
FCC's, which its API lists) and a ``build`` function writing the state's files under
``states/<USPS>/`` and returning a :class:`Product`. Files published per state are hard-linked
from the download cache (copied where links are not possible); national files are split once
for every state that needs them.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Protocol, TypeVar

from equity.errors import DataError
from equity.sources import urls
from equity.sources._http import Fetched
from equity.sources._states import State
from equity.sources._zips import DEFAULT_LIMITS, ZipLimits
from equity.sources.fetch import files
from equity.sources.fetch.checks import Expect, find_member
from equity.sources.fetch.manifest import source_entries

__all__ = [
    "ALIASES",
    "SOURCES",
    "Download",
    "FetchContext",
    "FetchOptions",
    "Item",
    "Product",
    "Skip",
    "plan_state",
    "source_names",
]

T = TypeVar("T")

#: Source name -> the ``[data]`` keys it fills.
SOURCES: dict[str, tuple[str, ...]] = {
    "acs": ("acs",),
    "boundaries": ("states", "counties", "tracts", "blockgroups", "places", "cousubs"),
    "blocks": ("blocks",),
    "usage": ("usage",),
    "ookla": ("ookla",),
    "fcc": ("fcc",),
    "business": ("business",),
    "libraries": ("libraries",),
    "schools": ("schools",),
    "colleges": ("colleges",),
    "nonprofits": ("nonprofits",),
}
#: Other names accepted for a source (publishers, programmes).
ALIASES: dict[str, str] = {
    "census": "acs",
    "tiger": "blocks",
    "microsoft": "usage",
    "cbp": "business",
    "imls": "libraries",
    "nces": "schools",
    "edge": "schools",
    "ipeds": "colleges",
    "irs": "nonprofits",
    "bdc": "fcc",
}


def source_names(spec: str | Sequence[str] | None) -> tuple[str, ...]:
    """Source names from ``"acs,boundaries"`` (or a list, or None for all), in table order.

    Raises
    ------
    ChoiceError
        An unknown name (the message lists the valid ones).

    Examples
    --------
    >>> source_names("ookla, ACS,imls")
    ('acs', 'ookla', 'libraries')
    """
    from equity.errors import check_choice

    if spec is None:
        return tuple(SOURCES)
    raw = spec.split(",") if isinstance(spec, str) else list(spec)
    names = {ALIASES.get(n.strip().lower(), n.strip().lower()) for n in raw if n.strip()}
    if "all" in names:
        return tuple(SOURCES)
    for name in sorted(names):
        check_choice("source", name, [*SOURCES, "all"])
    return tuple(n for n in SOURCES if n in names)


@dataclass(frozen=True)
class FetchOptions:
    """Vintages, credentials and limits of one fetch run (see :func:`~equity.sources.fetch.fetch_states`)."""

    year: int = 2022
    ookla_year: int = 2022
    ookla_quarter: int = 4
    fcc_date: str = "latest"
    census_key: str | None = None
    fcc_credentials: tuple[str, str] | None = None
    force: bool = False
    timeout: float | None = None
    deadline: float | None = None
    retries: int | None = None
    backoff: float = 1.0
    zip_limits: ZipLimits = DEFAULT_LIMITS
    fcc_interval_s: float = 6.0


@dataclass(frozen=True)
class Download:
    """One file to download.

    Attributes
    ----------
    source
        The source it belongs to (its cache folder is ``downloads/<source>``).
    url
        Public URL (no secret in it).
    expect
        What the body must be (checked before caching).
    suffix
        Suffix of the cached file (default: the URL's).
    params, headers
        Secret query parameters and request headers (an API key, the FCC token).
    national
        One file for every state (listed once in a dry run).
    fresh
        Download again once per run even when cached (API listings that change).
    """

    source: str
    url: str
    expect: Expect
    suffix: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    national: bool = False
    fresh: bool = False


@dataclass(frozen=True)
class Product:
    """The files an item wrote for its state and the manifest ``sources`` entries."""

    paths: list[Path]
    sources: list[dict[str, Any]]
    as_list: bool = False
    hashes: dict[Path, str] = field(default_factory=dict)


class Skip(Exception):
    """An item that cannot be made for a good reason (no rows for the state, no token)."""


class FetchContext(Protocol):
    """What a build function may use (implemented by the runner)."""

    root: Path
    opts: FetchOptions
    pending: dict[str, list[State]]

    def get(self, download: Download) -> Fetched: ...

    def once(self, key: tuple[Any, ...], make: Callable[[], T]) -> T: ...

    def state_dir(self, st: State) -> Path: ...


@dataclass(frozen=True)
class Item:
    """One ``[data]`` key of one state: what to download and how to make the state's files."""

    state: State
    key: str
    source: str
    downloads: tuple[Download, ...]
    build: Callable[[FetchContext, Item], Product]
    urls_known: bool = True


# --------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------


def link(src: Path, dest: Path) -> None:
    """Hard-link `src` to `dest` atomically (a copy where links are not possible)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists() and os.path.samefile(src, dest):
        return
    tmp = dest.parent / f".{dest.name}.link"
    tmp.unlink(missing_ok=True)
    try:
        os.link(src, tmp)
    except OSError:  # another file system, or links not supported
        shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _as_published(ctx: FetchContext, item: Item, *, name: str) -> Product:
    """The state's file exactly as published, linked under a readable name."""
    fetched = ctx.get(item.downloads[0])
    dest = ctx.state_dir(item.state) / name
    link(fetched.path, dest)
    entries = source_entries([fetched])
    return Product([dest], entries, hashes={dest: entries[0]["sha256"]})


def _named(template: str, st: State) -> str:
    return template.format(fips=st.fips, usps=st.usps.lower())


def _split_once(
    ctx: FetchContext,
    item: Item,
    fetched: Fetched,
    *,
    name: str,
    split: Callable[[dict[str, Path]], dict[str, int]],
    what: str,
    also: Sequence[Fetched] = (),
) -> Product:
    """Split a national file for every pending state (once), then return this state's part.

    `split` gets ``{state code: destination}`` for the states needing `item.key` and returns
    the rows written per code; `name` is a template with ``{fips}`` and ``{usps}``; the
    sources recorded are `fetched` and `also` (other files the split used).
    """
    by_code = {s.fips: s for s in ctx.pending[item.key]}
    outputs = {code: ctx.state_dir(s) / _named(name, s) for code, s in by_code.items()}
    try:
        counts = ctx.once(("split", item.key, fetched.url), lambda: split(outputs))
    except DataError as exc:  # name the URL the file came from, as every failure does
        if fetched.url in str(exc):
            raise
        msg = f"{fetched.url}: {exc}"
        raise DataError(msg) from None
    st = item.state
    if not counts.get(st.fips):
        msg = f"{fetched.url} has no {what} of {st.usps} ({st.name})"
        raise Skip(msg)
    dest = outputs[st.fips]
    return Product([dest], source_entries([fetched], rows=counts[st.fips]) + source_entries(also))


def _csv_split(column: str | tuple[str, ...], use_usps: bool) -> Callable[..., dict[str, int]]:
    """A splitter of delimited text by a state column holding USPS codes or FIPS codes."""

    def split(
        stream: Any, outputs: dict[str, Path], label: str, states: list[State]
    ) -> dict[str, int]:
        from equity.sources.fetch.split import split_csv

        code = {s.fips: (s.usps if use_usps else s.fips) for s in states}
        counts = split_csv(
            stream,
            column=column,
            outputs={code[f]: p for f, p in outputs.items()},
            label=label,
        )
        back = {v: k for k, v in code.items()}
        return {back[v]: n for v, n in counts.items()}

    return split


def _member_split(
    ctx: FetchContext,
    item: Item,
    *,
    pattern: str,
    column: str | tuple[str, ...],
    use_usps: bool,
    what: str,
) -> Product:
    """Split the delimited text member matching `pattern` of a national zip."""
    from equity.sources.fetch.split import open_member

    fetched = ctx.get(item.downloads[0])
    with zipfile.ZipFile(fetched.path) as archive:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
    revised = find_member(names, pattern.replace(r"\.csv$", r"_rv\.csv$"))
    member = revised or find_member(names, pattern)
    if member is None:
        msg = f"{fetched.url}: no entry matching {pattern!r} (entries: {names[:8]})"
        raise DataError(msg)
    stem, dot, ext = Path(member).name.rpartition(".")
    splitter = _csv_split(column, use_usps)

    def split(outputs: dict[str, Path]) -> dict[str, int]:
        archive, stream = open_member(fetched.path, member, limits=ctx.opts.zip_limits)
        with archive, stream:
            return splitter(stream, outputs, f"{fetched.url}!{member}", ctx.pending[item.key])

    return _split_once(
        ctx, item, fetched, name=f"{stem}_{{fips}}{dot}{ext}", split=split, what=what
    )


# --------------------------------------------------------------------------------------
# items per source
# --------------------------------------------------------------------------------------

_SHAPEFILE = (r"\.shp$", r"\.shx$", r"\.dbf$")


def _acs_downloads(
    variables: Sequence[str], level: str, st: State, o: FetchOptions
) -> list[Download]:
    names = urls._expand_variables(variables)
    per = urls._MAX_GET - 1
    secret = (("key", o.census_key),) if o.census_key else ()
    out = []
    for i in range(0, len(names), per):
        chunk = names[i : i + per]
        url = urls.census_api_url(chunk, year=o.year, state=st.fips, level=level)
        what = f"the Census API's ACS {o.year} 5-year table of {st.usps} {level}s"
        expect = Expect("census_json", what, variables=tuple(chunk))
        out.append(Download("acs", url, expect, suffix=".json", params=secret))
    return out


def _build_acs(ctx: FetchContext, item: Item, *, n_blockgroup: int) -> Product:
    fetched = [ctx.get(d) for d in item.downloads]
    st, year = item.state, ctx.opts.year
    paths = []
    for part, level in ((fetched[:n_blockgroup], "blockgroup"), (fetched[n_blockgroup:], "tract")):
        if part:
            table = files.merge_census_tables([f.path for f in part])
            dest = ctx.state_dir(st) / f"acs_{year}_{st.fips}_{level}.csv"
            paths.append(files.write_acs_csv(table, dest, label=part[0].url))
    return Product(paths, source_entries(fetched), as_list=True)


def _acs_items(st: State, o: FetchOptions) -> list[Item]:
    bg = _acs_downloads(files.ACS_BLOCKGROUP_VARIABLES, "block group", st, o)
    tract = (
        _acs_downloads(files.ACS_TRACT_VARIABLES, "tract", st, o)
        if files.ACS_TRACT_VARIABLES
        else []
    )
    build = partial(_build_acs, n_blockgroup=len(bg))
    return [Item(st, "acs", "acs", (*bg, *tract), build)]


def _boundary_download(level: str, o: FetchOptions, st: State | None) -> Download:
    url = urls.boundaries_url(level, year=o.year, state=st.fips if st else None)
    where = f"{st.usps} " if st else "national "
    expect = Expect(
        "zip", f"the Census {where}{level} boundaries (zipped shapefile)", members=_SHAPEFILE
    )
    return Download("boundaries", url, expect, national=st is None)


def _build_split_boundaries(ctx: FetchContext, item: Item, *, name: str) -> Product:
    from equity.sources.fetch.split import split_boundaries

    fetched = ctx.get(item.downloads[0])
    return _split_once(
        ctx,
        item,
        fetched,
        name=name,
        split=lambda outputs: split_boundaries(fetched.path, outputs=outputs),
        what="features",
    )


def _boundary_items(st: State, o: FetchOptions) -> list[Item]:
    items = []
    for key, level in (("states", "state"), ("counties", "county")):
        build = partial(_build_split_boundaries, name=f"cb_{o.year}_us_{level}_500k_{{fips}}.zip")
        items.append(Item(st, key, "boundaries", (_boundary_download(level, o, None),), build))
    for key, level in (
        ("tracts", "tract"),
        ("blockgroups", "bg"),
        ("places", "place"),
        ("cousubs", "cousub"),
    ):
        download = _boundary_download(level, o, st)
        build = partial(_as_published, name=download.url.rsplit("/", 1)[-1])
        items.append(Item(st, key, "boundaries", (download,), build))
    return items


def _blocks_items(st: State, o: FetchOptions) -> list[Item]:
    url = urls.blocks_url(st.fips)
    expect = Expect(
        "zip", f"the TIGER/Line 2020 tabulation blocks of {st.usps}", members=_SHAPEFILE
    )
    download = Download("blocks", url, expect)
    return [
        Item(
            st, "blocks", "blocks", (download,), partial(_as_published, name=url.rsplit("/", 1)[-1])
        )
    ]


def _build_ookla(ctx: FetchContext, item: Item) -> Product:
    from equity.sources.fetch.clip import clip_tiles

    tiles, states = (ctx.get(d) for d in item.downloads)
    y, q = ctx.opts.ookla_year, ctx.opts.ookla_quarter
    return _split_once(
        ctx,
        item,
        tiles,
        name=f"{y}-{3 * q - 2:02d}-01_performance_fixed_tiles_{{fips}}.parquet",
        split=lambda outputs: clip_tiles(tiles.path, states.path, outputs=outputs),
        what="Ookla tiles touching the state",
        also=[states],
    )


def _ookla_items(st: State, o: FetchOptions) -> list[Item]:
    url = urls.ookla_url(year=o.ookla_year, quarter=o.ookla_quarter)
    columns = ("quadkey", "tile", "avg_d_kbps", "avg_u_kbps", "avg_lat_ms", "tests", "devices")
    what = f"Ookla's fixed tiles of {o.ookla_year} Q{o.ookla_quarter} (Parquet)"
    tiles = Download("ookla", url, Expect("parquet", what, columns=columns), national=True)
    return [Item(st, "ookla", "ookla", (tiles, _boundary_download("state", o, None)), _build_ookla)]


def _build_usage(ctx: FetchContext, item: Item) -> Product:
    fetched = ctx.get(item.downloads[0])
    splitter = _csv_split("ST", use_usps=True)

    def split(outputs: dict[str, Path]) -> dict[str, int]:
        with open(fetched.path, "rb") as stream:
            return splitter(stream, outputs, fetched.url, ctx.pending[item.key])

    name = "broadband_data_2020October_{fips}.csv"
    return _split_once(ctx, item, fetched, name=name, split=split, what="counties")


def _usage_items(st: State, o: FetchOptions) -> list[Item]:
    expect = Expect(
        "csv",
        "Microsoft's county broadband usage (CSV)",
        header=("ST", "COUNTY ID", "BROADBAND USAGE"),
    )
    download = Download("usage", urls.broadband_usage_url("county"), expect, national=True)
    return [Item(st, "usage", "usage", (download,), _build_usage)]


def _business_items(st: State, o: FetchOptions) -> list[Item]:
    what = f"County Business Patterns {o.year} (zipped county file)"
    expect = Expect(
        "zip", what, text_member=r"cbp\d\dco\.txt$", header=("fipstate", "fipscty", "naics", "est")
    )
    download = Download("business", urls.business_patterns_url(year=o.year), expect, national=True)
    build = partial(
        _member_split, pattern=r"cbp\d\dco\.txt$", column="fipstate", use_usps=False, what="rows"
    )
    return [Item(st, "business", "business", (download,), build)]


def _libraries_items(st: State, o: FetchOptions) -> list[Item]:
    pattern = r"outlet[^/]*\.csv$"
    header = ("STABR", "FSCSKEY", "LIBNAME", "LONGITUD", "LATITUDE")
    expect = Expect(
        "zip",
        f"the IMLS Public Libraries Survey FY{o.year} (zipped CSV files)",
        text_member=pattern,
        header=header,
    )
    download = Download("libraries", urls.imls_url(year=o.year), expect, national=True)
    build = partial(
        _member_split, pattern=pattern, column="STABR", use_usps=True, what="library outlets"
    )
    return [Item(st, "libraries", "libraries", (download,), build)]


def _colleges_items(st: State, o: FetchOptions) -> list[Item]:
    pattern = r"hd\d{4}\.csv$"
    header = ("UNITID", "INSTNM", "STABBR", "LATITUDE", "LONGITUD")
    expect = Expect(
        "zip",
        f"the IPEDS {o.year} institutional directory (zipped CSV)",
        text_member=pattern,
        header=header,
    )
    download = Download("colleges", urls.ipeds_url(year=o.year), expect, national=True)
    build = partial(
        _member_split, pattern=pattern, column="STABBR", use_usps=True, what="institutions"
    )
    return [Item(st, "colleges", "colleges", (download,), build)]


def _build_schools(ctx: FetchContext, item: Item) -> Product:
    from equity.sources.fetch import schools

    fetched = ctx.get(item.downloads[0])
    member, name, split = schools.splitter(fetched.path, ctx.opts.zip_limits, ctx.pending[item.key])
    return _split_once(ctx, item, fetched, name=name, split=split, what=f"schools (in {member})")


def _schools_items(st: State, o: FetchOptions) -> list[Item]:
    expect = Expect(
        "zip",
        f"the NCES EDGE public-school geocodes {o.year}-{(o.year + 1) % 100:02d} (zip)",
        members=(r"EDGE_GEOCODE_PUBLICSCH[^/]*\.(txt|csv|xlsx|dbf)$",),
    )
    download = Download("schools", urls.nces_edge_url(year=o.year), expect, national=True)
    return [Item(st, "schools", "schools", (download,), _build_schools)]


def _nonprofits_items(st: State, o: FetchOptions) -> list[Item]:
    url = urls.irs_eo_url(st.usps)
    expect = Expect(
        "csv",
        f"the IRS exempt organizations extract of {st.usps} (CSV)",
        header=("EIN", "NAME", "STATE"),
    )
    build = partial(_as_published, name=url.rsplit("/", 1)[-1])
    return [Item(st, "nonprofits", "nonprofits", (Download("nonprofits", url, expect),), build)]


def _build_fcc(ctx: FetchContext, item: Item) -> Product:
    from equity.sources.fetch import fcc

    date, listed = fcc.state_files(ctx, item.state)
    if not listed:
        st = item.state
        msg = f"the FCC lists no fixed availability files of {st.usps} ({st.name}) as of {date}"
        raise Skip(msg)
    paths, fetched, hashes = [], [], {}
    for download, name in listed:
        got = ctx.get(download)
        dest = ctx.state_dir(item.state) / "fcc" / name
        link(got.path, dest)
        paths.append(dest)
        fetched.append(got)
    entries = source_entries(fetched, as_of_date=date)
    hashes = {p: e["sha256"] for p, e in zip(paths, entries, strict=True)}
    return Product(paths, entries, as_list=True, hashes=hashes)


def _fcc_items(st: State, o: FetchOptions) -> list[Item]:
    return [Item(st, "fcc", "fcc", (), _build_fcc, urls_known=False)]


_ITEMS: dict[str, Callable[[State, FetchOptions], list[Item]]] = {
    "acs": _acs_items,
    "boundaries": _boundary_items,
    "blocks": _blocks_items,
    "usage": _usage_items,
    "ookla": _ookla_items,
    "fcc": _fcc_items,
    "business": _business_items,
    "libraries": _libraries_items,
    "schools": _schools_items,
    "colleges": _colleges_items,
    "nonprofits": _nonprofits_items,
}


def plan_state(st: State, source: str, o: FetchOptions) -> list[Item]:
    """The items of `source` for state `st` (raises ConfigError on an unpublished vintage)."""
    return _ITEMS[source](st, o)
