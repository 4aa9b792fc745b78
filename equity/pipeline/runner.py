"""The whole job, :func:`run`: load, levels, placement, then tables, METHODS.md and maps."""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd

from equity import _io, placement
from equity import export as export_
from equity import maps as maps_
from equity.cache import TableCache
from equity.config import Config
from equity.errors import ConfigError
from equity.pipeline.dataset import Dataset, load_dataset
from equity.pipeline.levels import build_levels, check_conservation
from equity.pipeline.progress import Progress
from equity.placement.organisations import partner_methods, write_partner_files
from equity.runwarnings import RunWarnings, run_warnings

__all__ = ["RunResult", "run"]

#: Entries of a level's index record (``attrs["index"]``) that METHODS.md reports.
_INDEX_RECORD = (
    "preset",
    "normalisation",
    "reference",
    "aggregation",
    "pillar_weights",
    "missing_pillars",
    "redistributed_weight",
    "missing_indicators",
    "n_draws",
    "seed",
)


@dataclass
class RunResult:
    """What :func:`run` produced."""

    levels: dict[str, gpd.GeoDataFrame]
    candidates: gpd.GeoDataFrame
    files: list[Path]
    conservation: dict[str, float]
    seconds: float
    summary: str = ""
    warnings: list[str] = field(default_factory=list)
    #: One record per data source read (``Dataset.provenance``), as METHODS.md lists them.
    provenance: list[dict[str, Any]] = field(default_factory=list)


def run(
    cfg: Config,
    *,
    out: str | Path = ".",
    quiet: bool = False,
    command: str | None = None,
    write_maps: bool = True,
    cache: TableCache | None = None,
) -> RunResult:
    """Run the whole job: load, levels, index, placement, maps, exports.

    Parameters
    ----------
    cfg
        Run configuration (``equity.config.load_config()`` runs the bundled national county
        snapshot, ``load_config(sample=True)`` the fictional sample region).
    out
        Output folder; created if needed. Files are written atomically: on failure the
        folder is left as it was.
    quiet
        Suppress progress lines.
    command
        The command line recorded in METHODS.md (defaults to ``equity run`` with `out`).
    write_maps
        Write the HTML maps (and PNGs) under ``out/maps``.
    cache
        Table cache of the inputs (see :func:`load_dataset`); by default from `cfg`.

    Returns
    -------
    RunResult
        Level tables, candidates, written files, conserved household totals, wall time and
        a one-line summary of what was written where (the CLI prints it).
    """
    _refuse_state_selection(cfg)
    progress = Progress(quiet=quiet)
    out = _io.check_output_folder(out)  # before any work: a file, read-only, name too long
    warnings = RunWarnings()
    with warnings.capture():
        ds = _load(cfg, cache, progress)
        levels, extras = build_levels(ds, cfg, progress=progress)
        conservation = check_conservation(levels)
        cands = _place_fellows(ds, cfg, levels, extras, progress)
    n_shown = _collect_warnings(warnings, ds, levels, extras, progress)
    extras["warnings"] = warnings
    command = command or _default_command(cfg, out)
    # replaced as a set (old extras removed by the manifest)
    with warnings.capture(), _io.atomic_dir(out, manifest=True) as tmp:
        with progress.step("writing tables, candidates and METHODS.md"):
            written = _write_tables(tmp, ds, cfg, levels, cands, extras, command)
        if write_maps:
            with progress.step("writing maps"):
                written += maps_.run_maps(
                    levels,
                    cands,
                    tmp / "maps",
                    provenance=ds.provenance,
                    title=cfg.title,
                    warnings=_shown(warnings.lines(), cfg),
                    # the local engine's processes (Dask workers are other machines' cores)
                    processes=cfg.workers if cfg.engine == "local" else 1,
                )
        files = [out / Path(p).relative_to(tmp) for p in written]
    if len(warnings) > n_shown:  # logged while writing
        _print_warnings(warnings, progress, shown=n_shown)
    seconds = progress.elapsed()
    summary = _summary(levels, cands, files, out, seconds)
    return RunResult(
        levels,
        cands,
        files,
        conservation,
        seconds,
        summary,
        warnings=warnings.lines(),
        provenance=ds.provenance,
    )


def _collect_warnings(
    warnings: RunWarnings,
    ds: Dataset,
    levels: dict[str, gpd.GeoDataFrame],
    extras: dict[str, Any],
    progress: Progress,
) -> int:
    """The run's warnings (equity.runwarnings), each printed once on stderr, even when quiet."""
    found = run_warnings(
        levels,
        index_meta=extras.get("index_meta", {}),
        provenance=ds.provenance,
        towns=extras.get("towns"),
    )
    warnings.extend(found)
    built = [
        f"{line[:1].upper()}{line[1:]}{'' if line.endswith('.') else '.'}"
        for line in extras.get("warnings", [])
    ]
    for line in warnings.absorb(built):  # the levels' own words replace the derived ones
        warnings.add("fallback", line)
    extras["notes"] = warnings.absorb(ds.notes)  # a note saying what a warning says is it
    return _print_warnings(warnings, progress, shown=0)


def _print_warnings(warnings: RunWarnings, progress: Progress, *, shown: int) -> int:
    """Print the warnings after the first `shown` on stderr (even when quiet); how many now."""
    for line in warnings.lines()[shown:]:
        print(f"warning: {line}", file=progress.stream, flush=True)
    return len(warnings)


def _refuse_state_selection(cfg: Config) -> None:
    """A configuration selecting states runs through ``equity.national``, not as one run."""
    if getattr(cfg, "run_states", ()):
        msg = (
            f"the configuration selects states ({', '.join(cfg.run_states)}): run them one at "
            "a time with equity.national.run_states(cfg, out=...) or `equity run --states`"
        )
        raise ConfigError(msg)


def _load(cfg: Config, cache: TableCache | None, progress: Progress) -> Dataset:
    """The inputs, with a line saying how many came from the table cache."""
    what = (
        " (bundled sample region)"
        if cfg.uses_sample
        else " (bundled national county snapshot)"
        if cfg.uses_snapshot
        else ""
    )
    with progress.step("loading inputs" + what):
        ds = load_dataset(cfg, cache=cache)
    if ds.cache is not None and ds.cache.enabled and ds.cache.hits + ds.cache.misses:
        progress.write(
            f"[{progress.elapsed():6.1f}s]   inputs: {ds.cache.hits} from the table cache, "
            f"{ds.cache.misses} read ({ds.cache.folder})"
        )
    if ds.partners is not None:
        progress.write(f"[{progress.elapsed():6.1f}s]   {ds.partners.summary()}")
    return ds


def _county_business(extras: dict[str, Any]) -> pd.DataFrame | None:
    """County establishments and population (readiness's business base), when known."""
    context = extras.get("county_context")
    if context is None or "county_establishments" not in context:
        return None
    business = context.rename(
        columns={
            "county_GEOID": "GEOID",
            "county_establishments": "establishments",
            "county_population": "population",
        }
    )
    return business[[c for c in ("GEOID", "establishments", "population") if c in business]].dropna(
        subset=["establishments"]
    )


def _place_fellows(
    ds: Dataset,
    cfg: Config,
    levels: dict[str, gpd.GeoDataFrame],
    extras: dict[str, Any],
    progress: Progress,
) -> gpd.GeoDataFrame:
    """Candidates of the placement level, ranked and selected (``equity.placement``)."""
    business = _county_business(extras)
    with progress.step(
        f"fellow placement ({cfg.mode}, k={cfg.k} per state, {cfg.placement_level} level)"
    ):
        return placement.rank_candidates(
            levels[cfg.placement_level],
            options=cfg.placement_options(),
            anchors=ds.anchors,
            demand=levels.get("blockgroup"),
            business=business,
            draws=extras.get("draws"),
        )


def _default_command(cfg: Config, out: Path) -> str:
    return (
        "equity run"
        + (f" --config {shlex.quote(cfg.source)}" if cfg.source else "")
        + f" --out {shlex.quote(str(out))}"
    )


def _write_tables(
    tmp: Path,
    ds: Dataset,
    cfg: Config,
    levels: dict[str, gpd.GeoDataFrame],
    cands: gpd.GeoDataFrame,
    extras: dict[str, Any],
    command: str,
) -> list[Any]:
    """Level tables, candidates (CSV, XLSX, GeoJSON) and METHODS.md in `tmp`."""
    written: list[Any] = []
    meta = extras.get("index_meta", {}).get(cfg.placement_level, {})
    warnings = _shown(extras["warnings"].lines(), cfg) if "warnings" in extras else []
    info = export_.RunInfo(cfg.title, command, ds.provenance, warnings, meta)
    written += export_.write_level_tables(levels, tmp)
    written += export_.write_candidates(cands, tmp, formats=("csv", "xlsx", "geojson"), info=info)
    if ds.partners is not None:
        written += write_partner_files(ds.partners, tmp)
    params = _relative_parameters(cfg)
    params["index"] = {k: meta[k] for k in _INDEX_RECORD if k in meta}
    params["placement"] = cands.attrs.get("placement", {})
    # the index's own notes go in through index=meta; the input checks' warnings are repeated
    notes = _shown([*extras.get("notes", ds.notes), *extras.get("input_notes", [])], cfg)
    if "note" in extras.get("towns", {}):
        notes.append(extras["towns"]["note"])
    written.append(
        export_.write_methods(
            tmp,
            provenance=_relative_paths(ds.provenance, cfg),
            parameters=params,
            command=command,
            weights=meta.get("pillar_weights"),
            notes=notes,
            warnings=warnings,
            index=meta,
            candidates=cands,
            run_date=info.date,
            partners=None if ds.partners is None else partner_methods(ds.partners, cfg),
            street=extras.get("street"),
        )
    )
    return written


def _base(cfg: Config) -> Path | None:
    return Path(cfg.source).resolve().parent if cfg.source else None


def _shown(lines: list[str], cfg: Config) -> list[str]:
    """Warnings and notes as the outputs show them: paths under the configuration file's
    folder relative to it (the same bytes wherever the project folder lies)."""
    base = _base(cfg)
    if base is None:
        return list(lines)
    prefix = f"{base}{os.sep}"
    return [line.replace(prefix, "") for line in lines]


def _relative_paths(provenance: list[dict[str, Any]], cfg: Config) -> list[dict[str, Any]]:
    """Input paths as METHODS.md shows them: relative to the configuration file's folder."""
    return [{**p, "path": _io.display_path(p.get("path"), base=_base(cfg))} for p in provenance]


def _relative_parameters(cfg: Config) -> dict[str, Any]:
    """The configuration for METHODS.md, its paths relative to the configuration file's
    folder (the same bytes wherever the project folder lies)."""
    params = cfg.as_dict()
    base = _base(cfg)

    def show(value: Any) -> Any:
        if isinstance(value, list):
            return [show(v) for v in value]
        return _io.display_path(value, base=base) if value else value

    params["data"] = {k: show(v) for k, v in params["data"].items()}
    for key in ("source", "cache_folder", "zip_centroids"):
        if isinstance(params.get(key), str):
            params[key] = show(params[key])
    return params


def _summary(
    levels: dict[str, gpd.GeoDataFrame],
    cands: gpd.GeoDataFrame,
    files: list[Path],
    out: Path,
    seconds: float,
) -> str:
    """The one line the CLI prints: what was written where."""
    selected = cands[cands["selected"]] if "selected" in cands else cands
    n_maps = sum(1 for f in files if f.suffix == ".html")
    return (
        f"equity run: {len(levels)} levels ("
        + ", ".join(f"{lv} {len(t):,}" for lv, t in levels.items())
        + f"), {len(selected)} selected candidates -> {out / 'candidates.csv'}; "
        + (f"{n_maps} maps in {out / 'maps'}; " if n_maps else "no maps; ")
        + f"METHODS.md; {seconds:.1f}s"
    )
