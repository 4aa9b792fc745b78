"""The ``equity`` command.

Subcommands mirror the library's modules::

    equity run       the whole job (bundled national county snapshot when no --config,
                     the fictional sample region with --sample): maps, candidates, tables;
                     --states all|VA,MD: each state from the fetch cache, then national outputs
    equity sample    write the bundled sample region's files
    equity snapshot  build the bundled national county snapshot (data/) from public files
    equity index     compute an index (techspark, ddi, svi) from a table
    equity rank      rank candidate communities for fellow placement
    equity map       write a self-contained HTML map of a level table
    equity fetch     download every public input of the states into the cache
    equity validate  check a file's schema and report every problem
    equity cache     report or clear the cached tables (or one fetched source)

Exit status: 0 on success, 2 on bad input or a failed step (with a one-line reason on
stderr naming the file, column and value; the traceback only with ``-v``), 1 when
``validate`` found problems or on an internal error (a bug), 130 when interrupted; see
:mod:`equity._console`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from equity import __version__

__all__ = ["build_parser", "main"]

if TYPE_CHECKING:
    from equity.config import Config

    _Subparsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

_DESCRIPTION = """\
equity: where digital need is greatest, street by street and town by town, and where to
place a local fellow. Run `equity run` to process the bundled national county snapshot
offline (one fellow's county in each of the 50 states and DC), `equity run --sample` for the
fictional sample region at every level down to the street."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``equity`` command (documented in README.md)."""
    parser = argparse.ArgumentParser(
        prog="equity",
        description=_DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"equity {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log details (one line per public call)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add, _ in _COMMANDS.values():
        add(sub)
    for p in sub.choices.values():  # `equity run ... -v` as well as `equity -v run ...`
        p.add_argument(
            "-v",
            "--verbose",
            action="store_true",
            default=argparse.SUPPRESS,
            help="log details, and the traceback of an error",
        )
    return parser


def _add_engine_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--engine",
        choices=("local", "dask"),
        default=None,
        help="where the street level (county by county) and Ookla summaries are computed (default: the config's "
        '[run] engine, else local; dask needs `pip install "equity[scale]"`, see docs/scale.md)',
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="Dask scheduler address, e.g. tcp://10.0.0.5:8786 (implies --engine dask; "
        "default: start a local cluster)",
    )


def _engine_overrides(args: argparse.Namespace) -> dict[str, str | None]:
    """``engine``/``scheduler`` overrides of the configuration from --engine/--scheduler."""
    engine = args.engine or ("dask" if args.scheduler else None)
    return {"engine": engine, "scheduler": args.scheduler}


def _add_run(sub: _Subparsers) -> None:
    """Add ``equity run``: the whole job."""
    p = sub.add_parser(
        "run",
        help="run the whole job: index, ranked candidates, maps (bundled national county snapshot by default)",
        description="Load the inputs (without --config: the bundled national county snapshot, real "
        "counties of the 50 states and DC; with --sample: the fictional sample region), compute the "
        "digital-equity index (county level for the snapshot; street (H3), block-group, tract, town "
        "and county level otherwise), rank candidates for one fellow per state, and write "
        "maps/*.html, candidates.csv/.xlsx/.geojson, index_<level>.parquet and METHODS.md under --out.",
    )
    p.add_argument(
        "--config", type=Path, help="TOML run configuration (see README: configuration reference)"
    )
    _add_sample_option(p)
    p.add_argument(
        "--out", type=Path, default=Path("."), help="output folder (default: current folder)"
    )
    p.add_argument("--no-maps", action="store_true", help="skip the HTML maps")
    p.add_argument(
        "--states",
        metavar="all|LIST",
        default=None,
        help="run these states one at a time from the fetch cache (`equity fetch --states`): "
        "'all' (50 states and DC) or USPS/FIPS codes such as VA,MD; writes OUT/<state>/ and "
        "national outputs; with --engine dask the states are tasks on the cluster",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="with --states: recompute states whose outputs are complete and up to date "
        "(a rerun resumes them otherwise)",
    )
    p.add_argument(
        "--force-size",
        action="store_true",
        help="build the street grid even when its estimated size exceeds the available memory "
        "(same as [grid] max_cells = 0)",
    )
    _add_engine_options(p)
    p.add_argument(
        "--no-cache",
        action="store_true",
        help="read every input afresh and write no table cache (see `equity cache`)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress lines, only the final summary"
    )


def _add_sample_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--sample",
        action="store_true",
        default=None,
        help="run the fictional sample region (every level down to the street) instead of the "
        "bundled national county snapshot",
    )


def _cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity import pipeline
    from equity.config import load_config

    _check_cache_folder()
    cfg = load_config(
        args.config, run_states=args.states, sample=args.sample, **_engine_overrides(args)
    )
    if args.no_cache:
        cfg = cfg.replace(cache=False)
    if args.force_size:
        cfg = cfg.replace(grid_max_cells=0)
    command = "equity " + " ".join(shlex.quote(a) for a in argv)
    if cfg.run_states:
        return _run_states(cfg, args, command)
    result = pipeline.run(
        cfg, out=args.out, quiet=args.quiet, command=command, write_maps=not args.no_maps
    )
    print(result.summary)
    return 0


def _run_states(cfg: Config, args: argparse.Namespace, command: str) -> int:
    """``equity run --states``: the states one at a time, then the national outputs."""
    from equity import national
    from equity.errors import EquityError

    result = national.run_states(
        cfg,
        out=args.out,
        force=args.force,
        quiet=args.quiet,
        command=command,
        write_maps=not args.no_maps,
    )
    print(result.summary)
    failed = result.failed
    if failed:
        reasons = "; ".join(f"{r.usps}: {r.message}" for r in failed[:3])
        more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
        msg = (
            f"{len(failed)} of {len(result.results)} states failed ({reasons}{more}); the others "
            f"finished; see {args.out / 'states.csv'}"
        )
        raise EquityError(msg)
    return 0


def _check_cache_folder() -> None:
    """``EQUITY_CACHE`` (or the default cache folder) must be a folder, or creatable."""
    import os

    from equity import _io, settings

    what = "EQUITY_CACHE" if os.environ.get("EQUITY_CACHE") else "cache folder"
    _io.check_folder(settings.cache_folder, what=what)


def _add_sample(sub: _Subparsers) -> None:
    """Add ``equity sample``: the bundled sample region's files."""
    p = sub.add_parser(
        "sample",
        help="write the bundled sample region (fictional states, real file formats)",
        description="Write the sample region's files (Census-format boundaries and ACS tables, Ookla tiles, "
        "Microsoft usage, business patterns, libraries and anchors) to --out. The same seed gives "
        "byte-identical files.",
    )
    p.add_argument(
        "--out", type=Path, default=Path("data/sample"), help="output folder (default: data/sample)"
    )
    p.add_argument(
        "--seed", type=int, default=None, help="random seed (default: equity.settings.seed)"
    )


def _cmd_sample(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity import sample, settings
    from equity.errors import ConfigError

    if args.seed is not None and args.seed < 0:
        msg = f"--seed {args.seed}: a seed is a whole number >= 0"
        raise ConfigError(msg)
    files = sample.write_sample(
        args.out, seed=args.seed if args.seed is not None else settings.seed
    )
    print(f"equity sample: wrote {len(files)} files to {args.out}")
    return 0


def _add_snapshot(sub: _Subparsers) -> None:
    """Add ``equity snapshot build``: the bundled national county snapshot."""
    p = sub.add_parser(
        "snapshot",
        help="build the bundled national county snapshot (data/) from the public files",
        description="Build the national county snapshot `equity run` runs on by default from the public "
        "files in --from (the layout of ../shared/data: CDC/ATSDR SVI 2022 and 2018 county files, Census "
        "2018 county and state boundaries, Microsoft county usage with its O-UDA licence, IMLS library "
        "outlets, ACS 2014-2018 county income), each checked against its published SHA-256. The same "
        "inputs give the same bytes. Writes the CSV files, snapshot.json and README.md to --out.",
    )
    p.add_argument("action", choices=("build",), help="build: write the snapshot")
    p.add_argument(
        "--from",
        dest="source",
        type=Path,
        required=True,
        help="folder of the public files (e.g. ../shared/data)",
    )
    p.add_argument("--out", type=Path, default=Path("data"), help="output folder (default: data)")
    p.add_argument(
        "--no-income",
        action="store_true",
        help="leave out median household income (ACS 2014-2018; reading it needs pyreadr)",
    )


def _cmd_snapshot(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity.snapshot import build_snapshot

    files = build_snapshot(args.source, args.out, with_income=not args.no_income)
    size = sum(f.stat().st_size for f in files)
    print(f"equity snapshot: wrote {len(files)} files ({size / 1e6:.1f} MB) to {args.out}")
    return 0


def _add_index(sub: _Subparsers) -> None:
    """Add ``equity index``: an index from a table."""
    p = sub.add_parser(
        "index",
        help="compute an index from a CSV table (techspark, ddi or the CDC/ATSDR SVI)",
        description="Compute an index from INPUT (a CSV keyed by GEOID/FIPS). With --preset svi on a CDC/ATSDR "
        "SVI file, EPL_*, SPL_THEME*, RPL_THEME*, SPL_THEMES, RPL_THEMES and F_* are computed from the EP_* inputs.",
    )
    p.add_argument("input", type=Path, help="input CSV")
    p.add_argument("--preset", choices=("techspark", "ddi", "svi"), default="techspark")
    p.add_argument(
        "--reference",
        choices=("nation", "state"),
        default="nation",
        help="percentile reference region",
    )
    p.add_argument("--id-column", help="name of the id column when it is not GEOID/FIPS/GEO_ID")
    p.add_argument("--out", type=Path, required=True, help="output CSV")


def _cmd_index(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity import _io, index

    _io.check_output_file(args.out)
    options = index.IndexOptions(preset=args.preset, reference=args.reference)
    out = index.run_index_file(args.input, options=options, id_column=args.id_column, out=args.out)
    print(f"equity index: wrote {out}")
    return 0


def _add_rank(sub: _Subparsers) -> None:
    """Add ``equity rank``: candidates for fellow placement."""
    p = sub.add_parser(
        "rank",
        help="rank candidate communities for fellow placement (top, coverage or robust)",
        description="Compute the index (the bundled national county snapshot unless --config or --sample) and rank candidates: top k per state, "
        "maximal coverage of need-weighted population within --radius-km, or robust over the index's "
        "uncertainty. Writes candidates.csv/.xlsx/.geojson and METHODS.md under --out.",
    )
    p.add_argument("--config", type=Path)
    _add_sample_option(p)
    p.add_argument("--mode", choices=("top", "coverage", "robust"), default=None)
    p.add_argument("--k", type=int, default=None, help="fellows per state (default 1)")
    p.add_argument("--radius-km", type=float, default=None, help="service radius in km")
    p.add_argument("--level", choices=("town", "tract", "county", "blockgroup"), default=None)
    p.add_argument("--out", type=Path, default=Path("."))
    _add_engine_options(p)
    p.add_argument("-q", "--quiet", action="store_true")


def _cmd_rank(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity import pipeline
    from equity.config import load_config

    _check_cache_folder()
    cfg = load_config(
        args.config,
        sample=args.sample,
        mode=args.mode,
        k=args.k,
        radius_km=args.radius_km,
        **_engine_overrides(args),
    )
    # ranking needs the placement level (and the block groups for reach), not the street grid;
    # the national snapshot has counties only
    level = args.level or cfg.placement_level
    finest = () if cfg.uses_snapshot else ("blockgroup",)
    cfg = cfg.replace(placement_level=level, levels=tuple(dict.fromkeys((*finest, level))))
    command = "equity " + " ".join(shlex.quote(a) for a in argv)
    result = pipeline.run(cfg, out=args.out, quiet=args.quiet, command=command, write_maps=False)
    print(result.summary.replace("equity run:", "equity rank:", 1))
    return 0


def _add_map(sub: _Subparsers) -> None:
    """Add ``equity map``: an HTML map of a level table."""
    p = sub.add_parser(
        "map",
        help="write a self-contained HTML choropleth of a level table (GeoParquet/GeoJSON/GeoPackage)",
        description="Write a self-contained HTML map (Leaflet inlined; opens with no network) of COLUMN in INPUT.",
    )
    p.add_argument("input", type=Path, help="e.g. index_tract.parquet from `equity run`")
    p.add_argument("--column", default="equity_index")
    p.add_argument(
        "--scheme",
        default="quantiles",
        help="mapclassify scheme (quantiles, fisherjenks, equalinterval, ...)",
    )
    p.add_argument("--k", type=int, default=5, help="number of classes")
    p.add_argument("--title", default=None)
    p.add_argument("--out", type=Path, required=True, help="output HTML file")


def _cmd_map(args: argparse.Namespace, argv: Sequence[str]) -> int:
    import geopandas as gpd
    import pandas as pd

    from equity import _io, maps
    from equity.errors import ConfigError, DataError, EquityError

    _io.check_output_file(args.out)
    if args.k < 1:
        msg = f"--k {args.k}: the number of classes must be a whole number >= 1 (e.g. 5)"
        raise ConfigError(msg)
    path = args.input
    if path.is_dir():
        msg = f"{path}: a folder; give a level table (e.g. {path / 'index_county.parquet'})"
        raise DataError(msg)
    try:
        gdf = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    except Exception as exc:
        msg = f"{path}: cannot read as a GeoParquet/GeoJSON/GeoPackage file: {exc}"
        raise DataError(msg) from None
    if args.column not in gdf.columns:
        names = [str(c) for c in gdf.columns if c != "geometry"]
        more = f" and {len(names) - 25} more" if len(names) > 25 else ""
        msg = f"{path}: no column {args.column!r}; columns are {', '.join(names[:25])}{more}"
        raise DataError(msg)
    if not pd.api.types.is_numeric_dtype(gdf[args.column]):
        msg = f"{path}: column {args.column!r} is not numeric (dtype {gdf[args.column].dtype}); map a number"
        raise DataError(msg)
    try:
        m = maps.choropleth(gdf, args.column, scheme=args.scheme, k=args.k, title=args.title)
    except EquityError:
        raise
    except ValueError as exc:  # bad --scheme / --k: the library's message lists the valid choices
        raise ConfigError(f"{path}: {exc}") from None
    out = maps.save_map(m, args.out)
    print(f"equity map: wrote {out}")
    return 0


def _add_fetch(sub: _Subparsers) -> None:
    """Add ``equity fetch``: every input of the states into the cache."""
    from equity.sources.fetch import command

    p = sub.add_parser(
        "fetch",
        help="download every public input of the states (ACS, boundaries, blocks, Ookla, FCC, ...) into the cache",
        description="Download, check and cache every input the index reads for each state (--states all: "
        "the 50 states and DC), resumably and in parallel, and write <cache>/states/<USPS>/manifest.json, "
        "which `equity run --states` reads. Needs network access to the public sources (or EQUITY_MIRROR). "
        "Environment: CENSUS_API_KEY (optional), FCC_USERNAME and FCC_API_TOKEN (FCC data), EQUITY_CACHE.",
    )
    command.add_arguments(p)


def _cmd_fetch(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity.sources.fetch import command

    _check_cache_folder()
    return command.run(args)


def _add_validate(sub: _Subparsers) -> None:
    """Add ``equity validate``: a file's schema."""
    p = sub.add_parser(
        "validate",
        help="check a file's schema and report every problem in one go",
        description="Report every schema problem of PATH (missing columns, duplicate GEOIDs, non-numeric values, "
        "shares outside 0-1 or 0-100, negative counts, unknown CRS). Exit 1 when problems were found.",
    )
    p.add_argument("path", type=Path, nargs="?", help="the file (omit with --config)")
    p.add_argument(
        "--kind", default=None, help="force the file kind (acs, boundaries, usage, ookla, ...)"
    )
    p.add_argument(
        "--as",
        dest="role",
        metavar="KEY",
        default=None,
        help="check the file for a [data] key of a run (blockgroups, acs, usage, business, ...): "
        "its kind and the geography that key needs (the county usage file, not the ZIP one)",
    )
    p.add_argument(
        "--config",
        type=Path,
        default=None,
        help="check every input of a run configuration, alone and together, as `equity run` "
        "would (same errors and warnings), without computing anything",
    )


def _cmd_validate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity.errors import ConfigError, EquityError
    from equity.sources import validate
    from equity.sources.validate_run import validate_config, validate_role

    if args.config is not None:
        problems = validate_config(args.config)
        what = str(args.config)
    elif args.path is None:
        msg = "give a file to check, or --config FILE to check a run's inputs"
        raise ConfigError(msg)
    else:
        try:
            if args.role is not None:
                problems = validate_role(args.path, args.role)
            else:
                problems = validate(args.path, kind=args.kind)
        except EquityError:
            raise
        except ValueError as exc:  # unknown --kind: the message lists the valid kinds
            raise ConfigError(str(exc)) from None
        what = str(args.path)
    if not problems:
        print(f"{what}: no problems found")
        return 0
    print(f"{what}: {len(problems)} problem(s)")
    for p in problems:
        print(f"  - {p}")
    return 1


def _add_cache(sub: _Subparsers) -> None:
    """Add ``equity cache``: the cached tables."""
    p = sub.add_parser(
        "cache",
        help="report or clear the cached tables (Parquet, keyed by their inputs)",
        description="`equity run` stores each input table it reads as Parquet/GeoParquet, keyed by the "
        "file's path, size, mtime and content, the reader's arguments and the code version, and the "
        "street grid and Ookla summaries keyed by the content of their input tables, so a second "
        "run with unchanged inputs skips that work. `info` reports the entries and their size, "
        "`clear` removes them.",
    )
    p.add_argument("action", choices=("info", "clear"), help="info: report; clear: remove entries")
    p.add_argument(
        "--folder",
        type=Path,
        default=None,
        help="cache folder (default: the [cache] folder of --config, else "
        "equity.settings.cache_folder/tables; with --source: the fetch cache folder, default "
        "equity.settings.cache_folder)",
    )
    p.add_argument("--config", type=Path, help="TOML run configuration naming [cache] folder")
    p.add_argument(
        "--source",
        default=None,
        help="with clear: remove one fetched source instead (acs, boundaries, blocks, usage, ookla, "
        "fcc, business, libraries, schools, colleges, nonprofits): its downloads and state files",
    )


def _cmd_cache(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from equity.cache import cache_size, clear_cache, clear_downloads
    from equity.config import load_config

    _check_cache_folder()

    if args.source is not None:
        return clear_downloads(args.source, action=args.action, folder=args.folder)
    folder = args.folder
    if folder is None and args.config is not None:
        folder = load_config(args.config).cache_folder
    if args.action == "clear":
        removed = clear_cache(folder)
        print(f"equity cache: removed {removed.entries} tables from {removed.folder}")
    else:
        print(cache_size(folder))
    return 0


#: Each subcommand: the function adding its parser, and the one running it.
_COMMANDS: dict[
    str, tuple[Callable[[_Subparsers], None], Callable[[argparse.Namespace, Sequence[str]], int]]
] = {
    "run": (_add_run, _cmd_run),
    "sample": (_add_sample, _cmd_sample),
    "snapshot": (_add_snapshot, _cmd_snapshot),
    "index": (_add_index, _cmd_index),
    "rank": (_add_rank, _cmd_rank),
    "map": (_add_map, _cmd_map),
    "fetch": (_add_fetch, _cmd_fetch),
    "validate": (_add_validate, _cmd_validate),
    "cache": (_add_cache, _cmd_cache),
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``equity`` console command; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    verbose = bool(args.verbose)
    if args.command is None:
        parser.print_help()
        return 0
    from equity._console import configure_logging, report_errors

    configure_logging(args.command, verbose=verbose)
    return report_errors(args.command, _COMMANDS[args.command][1], args, argv, verbose=verbose)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
