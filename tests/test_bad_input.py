"""Bad input, as a new user gives it: one clear error line or a stated warning, never a
traceback and never a silent wrong answer (#19).

Every case of :data:`CASES` runs the ``equity`` command in-process and asserts: exit status
2, exactly one ``equity <command>: error: ...`` line (the last one on stderr), no traceback,
the file, column and value named in that line, and the ``--out`` folder exactly as it was
(its files, their bytes, no staging folder left behind). The stated warnings are tested
through :func:`equity.checks.check_dataset` (the step a run takes before computing) and, in
the slow tests, end to end. ``equity validate --config`` is held to the same answers.
"""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from equity import settings
from equity.cli import main
from equity.errors import DataError, EquityWarning

# -- the region and its variants ----------------------------------------------------------------------

#: ``[data]`` keys of the base configuration and the sample files they name.
BASE = {
    "states": "state",
    "counties": "county",
    "tracts": "tract",
    "blockgroups": "blockgroup",
    "acs": "acs",
    "ookla": "ookla",
    "usage": "usage",
    "business": "business",
    "libraries": "libraries",
}
RUN_OPTIONS = """
[run]
levels = ["blockgroup", "tract", "county"]
[placement]
level = "county"
"""


def _toml(value: object) -> str:
    return '"' + str(value).replace("\\", "/") + '"'


@dataclass
class Ctx:
    """One case's folder, the sample files, the pre-filled ``--out`` and the table cache."""

    folder: Path
    sample: dict[str, Path]
    out: Path
    cache: Path
    request: pytest.FixtureRequest

    def shared(self) -> Path:
        return Path(self.request.getfixturevalue("shared_data"))

    def acs(self) -> pd.DataFrame:
        return pd.read_csv(self.sample["acs"], dtype=str, keep_default_na=False)

    def blockgroups(self) -> gpd.GeoDataFrame:
        return gpd.read_file(f"/vsizip/{self.sample['blockgroup']}")

    def write_acs(self, df: pd.DataFrame, name: str = "acs_variant.csv") -> Path:
        path = self.folder / name
        df.to_csv(path, index=False)
        return path

    def write_bg(self, gdf: gpd.GeoDataFrame, name: str = "cb_2021_90_bg_variant.gpkg") -> Path:
        path = self.folder / name
        gdf.to_file(path)
        return path

    def config(
        self, data: dict[str, object] | None = None, *, text: str = RUN_OPTIONS, drop=()
    ) -> Path:
        files: dict[str, object] = {k: self.sample[v] for k, v in BASE.items() if k not in drop}
        files.update(data or {})
        lines = ["[data]", *(f"{k} = {_toml(v)}" for k, v in files.items())]
        lines += [text, "[cache]", f"folder = {_toml(self.cache)}"]
        path = self.folder / "run.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def run(self, cfg: Path, *extra: str) -> list[str]:
        return ["run", "--config", str(cfg), "--out", str(self.out), "--no-maps", "-q", *extra]

    def run_with(self, **data: object) -> list[str]:
        return self.run(self.config(data))


@pytest.fixture(scope="module")
def table_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tables")


@pytest.fixture
def ctx(
    tmp_path: Path,
    sample_paths: dict[str, Path],
    table_cache: Path,
    request: pytest.FixtureRequest,
) -> Ctx:
    out = tmp_path / "out"
    (out / "maps").mkdir(parents=True)
    (out / "candidates.csv").write_text("rank,GEOID\n1,51001\n")  # a previous run's output
    (out / "maps" / "county.html").write_text("<html>previous</html>")
    folder = tmp_path / "inputs"
    folder.mkdir()
    return Ctx(folder, sample_paths, out, table_cache, request)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() if p.is_file() else b"<dir>"
        for p in sorted(folder.rglob("*"))
    }


# -- the matrix ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bad:
    """A bad input: how to build the command, and what its one error line must name."""

    build: Callable[[Ctx], list[str]]
    needles: tuple[str, ...]


def _acs_edit(column: str, value: str, row: int = 3) -> Callable[[Ctx], list[str]]:
    def build(c: Ctx) -> list[str]:
        df = c.acs()
        df.loc[row, column] = value
        return c.run_with(acs=c.write_acs(df))

    return build


def _bg_edit(
    edit: Callable[[gpd.GeoDataFrame], None], ext: str = "gpkg"
) -> Callable[[Ctx], list[str]]:
    def build(c: Ctx) -> list[str]:
        gdf = c.blockgroups()
        edit(gdf)
        return c.run_with(blockgroups=c.write_bg(gdf, f"cb_2021_90_bg_variant.{ext}"))

    return build


def _box_of(gdf: gpd.GeoDataFrame, row: int = 2) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = gdf.geometry.iloc[row].bounds
    return float(x0), float(y0), float(x1), float(y1)


def _set_geometry(gdf: gpd.GeoDataFrame, geom: object, row: int = 2) -> None:
    gdf.loc[row, "geometry"] = geom


def _nan_polygon(gdf: gpd.GeoDataFrame) -> None:
    x0, y0, x1, y1 = _box_of(gdf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ring = np.array([[x0, y0], [np.nan, y1], [x1, y1], [x0, y0]])
        _set_geometry(gdf, shapely.polygons(ring))


def _collapsed_polygon(gdf: gpd.GeoDataFrame) -> None:
    x0, y0, x1, y1 = _box_of(gdf)  # a polygon of collinear points: no area to repair into
    _set_geometry(gdf, shapely.Polygon([(x0, y0), (x1, y0), ((x0 + x1) / 2, y0)]))


def _acs_other_state(c: Ctx) -> list[str]:
    df = c.acs()
    df["GEOID"] = "5" + df["GEOID"].str[1:]  # 90, 91, 92 -> 50, 51, 52
    return c.run_with(acs=c.write_acs(df, "acs_other_state.csv"))


def _acs_tracts(c: Ctx) -> list[str]:
    df = c.acs()
    df["GEOID"] = df["GEOID"].str[:11]
    return c.run_with(acs=c.write_acs(df.drop_duplicates("GEOID"), "acs_tracts.csv"))


def _acs_partial(c: Ctx) -> list[str]:
    df = c.acs()
    return c.run_with(acs=c.write_acs(df.iloc[::4], "acs_partial.csv"))  # a quarter of each state


def _acs_households_sentinel(c: Ctx) -> list[str]:
    return _acs_edit("B11001_001E", "-555555555")(c)


def _acs_duplicate(c: Ctx) -> list[str]:
    df = c.acs()
    twin = df.iloc[[5]].copy()
    twin["B01003_001E"] = "1"
    return c.run_with(acs=c.write_acs(pd.concat([df, twin]), "acs_dup.csv"))


def _acs_excel(c: Ctx) -> list[str]:
    path = c.folder / "acs.csv"  # a workbook saved under a .csv name, as happens
    c.acs().head(20).to_excel(c.folder / "acs.xlsx", index=False)
    shutil.copy(c.folder / "acs.xlsx", path)
    return c.run_with(acs=path)


def _write(c: Ctx, name: str, text: str) -> Path:
    path = c.folder / name
    path.write_text(text)
    return path


def _bg_no_crs(c: Ctx) -> list[str]:
    gdf = c.blockgroups().set_crs(None, allow_override=True)
    return c.run_with(blockgroups=c.write_bg(gdf, "cb_2021_90_bg_nocrs.gpkg"))


def _bg_projected(c: Ctx) -> list[str]:
    gdf = c.blockgroups().to_crs(3857).set_crs(4326, allow_override=True)
    return c.run_with(blockgroups=c.write_bg(gdf, "cb_2021_90_bg_projected.gpkg"))


def _usage_other_region(c: Ctx) -> list[str]:
    text = (
        "ST,COUNTY ID,COUNTY NAME, BROADBAND AVAILABILITY PER FCC , BROADBAND USAGE \n"
        "VA,51001,Accomack County,0.72,0.21\nVA,51003,Albemarle County,0.84,0.52\n"
    )
    return c.run_with(usage=_write(c, "usage_virginia.csv", text))


def _usage_out_of_range(c: Ctx) -> list[str]:
    lines = Path(c.sample["usage"]).read_text().splitlines()
    parts = lines[1].split(",")
    parts[-1] = "1.7"
    lines[1] = ",".join(parts)
    return c.run_with(usage=_write(c, "usage_range.csv", "\n".join(lines) + "\n"))


def _libraries(c: Ctx, edit: Callable[[pd.DataFrame], None], name: str) -> list[str]:
    df = pd.read_csv(c.sample["libraries"], dtype=str, keep_default_na=False)
    edit(df)
    path = c.folder / name
    df.to_csv(path, index=False)
    return c.run_with(libraries=path)


def _swap(df: pd.DataFrame) -> None:
    df["LONGITUD"], df["LATITUDE"] = df["LATITUDE"].copy(), df["LONGITUD"].copy()


def _metres(df: pd.DataFrame) -> None:
    df["LONGITUD"] = (pd.to_numeric(df["LONGITUD"]) * 111_000).round(1).astype(str)


def _config_text(c: Ctx, text: str) -> list[str]:
    return c.run(c.config(text=RUN_OPTIONS + text))


def _street_config(c: Ctx, grid: str) -> list[str]:
    text = '[run]\nlevels = ["street", "blockgroup", "tract", "county"]\n[placement]\nlevel = "county"\n'
    return c.run(c.config(text=text + grid))


def _out(c: Ctx, out: Path) -> list[str]:
    return ["run", "--config", str(c.config()), "--out", str(out), "--no-maps", "-q"]


def _read_only(c: Ctx) -> list[str]:
    if os.geteuid() == 0:  # root writes anywhere a mode allows: use a file system that refuses
        return _out(c, Path("/sys/equity-out"))
    locked = c.folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    return _out(c, locked / "out")


def _cache_is_file(c: Ctx) -> list[str]:
    cache = _write(c, "cachefile", "not a folder")
    c.request.getfixturevalue("monkeypatch").setenv("EQUITY_CACHE", str(cache))
    c.request.getfixturevalue("monkeypatch").setattr(settings, "cache_folder", cache)
    return ["run", "--sample", "--out", str(c.out), "-q"]


def _index_input(c: Ctx) -> Path:
    return _write(c, "places.csv", "GEOID,share_no_internet\n01001,0.1\n01003,0.3\n02013,0.2\n")


def _memory(c: Ctx) -> list[str]:
    def huge(*args: object, **kwargs: object) -> None:
        np.ones(10**16)  # numpy refuses at once, naming the size

    c.request.getfixturevalue("monkeypatch").setattr("equity.index.files.compute_index", huge)
    return ["index", str(_index_input(c)), "--out", str(c.out / "index.csv")]


def _level_table(c: Ctx) -> Path:
    gdf = c.blockgroups().head(12)[["GEOID", "NAME", "geometry"]]
    gdf["equity_index"] = np.linspace(0, 100, len(gdf))
    path = c.folder / "index_blockgroup.parquet"
    gdf.to_parquet(path)
    return path


def _map(c: Ctx, *args: str, table: Path | None = None) -> list[str]:
    return ["map", str(table or _level_table(c)), *args, "--out", str(c.out / "map.html")]


# -- inputs keyed by 2020 block, partner lists and the snapshot ------------------------------------


def _bdc(c: Ctx, block: str | list[str], name: str) -> Path:
    """An FCC BDC availability file with one location in each block of `block`."""
    header = (
        "frn,provider_id,brand_name,location_id,technology,max_advertised_download_speed,"
        "max_advertised_upload_speed,low_latency,business_residential_code,state_usps,"
        "block_geoid,h3_res8_id\n"
    )
    blocks = [block] if isinstance(block, str) else block
    row = "".join(
        f"0012345678,130001,Fibre Co,{1001 + i},50,1000,1000,1,R,VA,{b},882a100d2bfffff\n"
        for i, b in enumerate(blocks)
    )
    return _write(c, name, header + row)


def _block_speeds(c: Ctx, block: str, name: str) -> Path:
    """Ookla tiles joined to 2020 blocks (UVA's layout), two rows of one tile."""
    rows = [f"{block[:-1]}{i},95.5,20.1,12,4,18,2021,1" for i in range(2)]
    return _write(
        c,
        name,
        "GEOID20,avg_d_mbps,avg_u_mbps,tests,devices,avg_lat_ms,year,q\n" + "\n".join(rows) + "\n",
    )


def _sample_blocks(
    c: Ctx, name: str, housing: str = "5", *, states: tuple[str, ...] = ("90", "91", "92")
) -> Path:
    """Address counts (the Census pipe-delimited layout) for one block of each block group of `states`."""
    bg = c.blockgroups()["GEOID"]
    bg = bg[bg.str[:2].isin(states)]
    lines = [f"{g}000|{housing if i == 0 else '5'}|0" for i, g in enumerate(bg)]
    return _write(
        c, name, "BLOCK_GEOID|TOTAL HOUSING UNITS|TOTAL GROUP QUARTERS\n" + "\n".join(lines) + "\n"
    )


def _partner_list(c: Ctx, *, swap: bool) -> list[str]:
    lat, lon = ("-43.5", "38.5") if swap else ("38.5", "-43.5")  # the sample lies near 38.5, -43.5
    text = f"name,latitude,longitude\nHarbour Library,{lat},{lon}\nMain Street Lab,{lat},{lon}\n"
    return c.run_with(partners=_write(c, "partners_swapped.csv", text))


def _snapshot_with(c: Ctx, column: str, value: str) -> list[str]:
    """`equity run` on a copy of the bundled snapshot with one county's count changed."""
    source = settings.data_folder
    folder = c.folder / "snapshot"
    folder.mkdir()
    for f in source.iterdir():
        if f.name != "county_counts.csv":
            (folder / f.name).symlink_to(f)
    counts = pd.read_csv(source / "county_counts.csv", dtype=str, keep_default_na=False)
    counts.loc[0, column] = value
    counts.to_csv(folder / "county_counts.csv", index=False)
    c.request.getfixturevalue("monkeypatch").setattr(settings, "data_folder", folder)
    return ["run", "--out", str(c.out), "--no-maps", "-q"]


CASES: dict[str, Bad] = {
    # -- inputs that do not fit together, or are not what their key needs --
    "acs_of_another_state": Bad(
        _acs_other_state, ("acs_other_state.csv", "'GEOID'", "'500010001001'", "another state")
    ),
    "acs_of_tracts": Bad(_acs_tracts, ("acs_tracts.csv", "'GEOID'", "'90001000100'", "tracts")),
    "tract_file_as_blockgroups": Bad(
        lambda c: c.run_with(blockgroups=c.sample["tract"]),
        ("cb_2021_sample_tract_500k.zip", "'GEOID'", "'90001000100'", "block-group file"),
    ),
    "acs_partial": Bad(_acs_partial, ("acs_partial.csv", "'GEOID'", "at least 50%")),
    "acs_negative_count": Bad(
        _acs_edit("B28002_013E", "-50"), ("acs_variant.csv", "'B28002_013E'", "-50")
    ),
    "acs_infinite_households": Bad(
        _acs_edit("B11001_001E", "inf"), ("acs_variant.csv", "'B11001_001E'", "inf")
    ),
    "acs_share_above_one": Bad(
        _acs_edit("B28002_013E", "920874"), ("acs_variant.csv", "B28002_013E", "841.75")
    ),
    "acs_households_sentinel": Bad(
        _acs_households_sentinel, ("acs_variant.csv", "B11001_001E", "GEOID '")
    ),
    "acs_unknown_sentinel": Bad(
        _acs_edit("B28002_013E", "-777777777"), ("acs_variant.csv", "'B28002_013E'", "-777777777")
    ),
    "acs_text_in_numbers": Bad(
        _acs_edit("B28002_013E", "many"), ("acs_variant.csv", "'B28002_013E'", "'many'")
    ),
    "acs_duplicate_geoids": Bad(_acs_duplicate, ("acs_dup.csv", "GEOID", "'900010002")),
    "acs_empty_file": Bad(
        lambda c: c.run_with(acs=_write(c, "acs_empty.csv", "")), ("acs_empty.csv", "empty")
    ),
    "acs_header_only": Bad(
        lambda c: c.run_with(acs=_write(c, "acs_header.csv", "GEOID,B28002_013E\n")),
        ("acs_header.csv", "header only", "B28002_013E"),
    ),
    "acs_excel_workbook": Bad(_acs_excel, ("acs.csv", "Excel workbook", "CSV")),
    "acs_missing_file": Bad(
        lambda c: c.run_with(acs=c.folder / "nope.csv"), ("data.acs", "file not found", "nope.csv")
    ),
    "bg_null_geometry": Bad(
        _bg_edit(lambda g: _set_geometry(g, None)),
        ("cb_2021_90_bg_variant.gpkg", "'geometry'", "'900010002011'"),
    ),
    "bg_empty_geometry": Bad(
        _bg_edit(lambda g: _set_geometry(g, shapely.Polygon()), "geojson"),
        ("cb_2021_90_bg_variant.geojson", "'geometry'", "'900010002011'"),
    ),
    "bg_nan_coordinates": Bad(
        _bg_edit(_nan_polygon), ("cb_2021_90_bg_variant.gpkg", "'geometry'", "NaN", "900010002011")
    ),
    "bg_points_not_polygons": Bad(
        _bg_edit(lambda g: g.__setitem__("geometry", g.geometry.representative_point())),
        ("cb_2021_90_bg_variant.gpkg", "'geometry'", "Point", "'900010001001'"),
    ),
    "bg_unrepairable_polygon": Bad(
        _bg_edit(_collapsed_polygon),
        ("cb_2021_90_bg_variant.gpkg", "'geometry'", "cannot be repaired", "'900010002011'"),
    ),
    "bg_projected_labelled_degrees": Bad(
        _bg_projected, ("cb_2021_90_bg_projected.gpkg", "'geometry'", "x=-", "EPSG:4326")
    ),
    "bg_without_crs": Bad(_bg_no_crs, ("cb_2021_90_bg_nocrs.gpkg", "no CRS", "EPSG:4269")),
    "csv_as_counties": Bad(
        lambda c: c.run_with(counties=c.sample["acs"]),
        ("acs2021_5yr_sample_blockgroup.csv", "without geometry", "GEOID"),
    ),
    "usage_zip_file": Bad(
        lambda c: c.run_with(usage=c.shared() / "broadband/microsoft_broadband_data_zipcode.csv"),
        ("microsoft_broadband_data_zipcode.csv", "'GEOID'", "ZIP codes", "county file"),
    ),
    "usage_of_another_region": Bad(
        _usage_other_region, ("usage_virginia.csv", "'GEOID'", "'51001'", "'90001'")
    ),
    "usage_out_of_range": Bad(_usage_out_of_range, ("usage_range.csv", "BROADBAND USAGE", "1.7")),
    "business_zip_totals": Bad(
        lambda c: c.run_with(business=c.shared() / "business/census_zbp18totals.txt"),
        ("census_zbp18totals.txt", "'GEOID'", "ZIP codes", "by county"),
    ),
    "ookla_of_another_region": Bad(
        lambda c: c.run_with(ookla=c.shared() / "ookla/ookla_fixed_tiles_hawaii_2021Q1.geojson"),
        ("ookla_fixed_tiles_hawaii_2021Q1.geojson", "'quadkey'", "longitude -159"),
    ),
    "ookla_uva_block_file": Bad(
        lambda c: c.run_with(
            ookla=c.shared()
            / "ookla/uva_sdad_va_hdcttr_2019_2021_ookla_fixed_speed_measurements.csv"
        ),
        ("uva_sdad_va_hdcttr", "quadkey", "found: geoid"),
    ),
    "libraries_latitude_longitude_swapped": Bad(
        lambda c: _libraries(c, _swap, "libraries_swapped.csv"),
        ("libraries_swapped.csv", "swapped", "longitude 38."),
    ),
    "libraries_in_metres": Bad(
        lambda c: _libraries(c, _metres, "libraries_metres.csv"),
        ("libraries_metres.csv", "'LONGITUD'", "-4,8"),
    ),
    # -- inputs keyed by 2020 block, partner lists, the snapshot --
    "blocks_of_another_state": Bad(
        lambda c: c.run_with(
            blocks=c.shared() / "blocks/dc_bl_abc_2021_address_block_counts.csv.xz"
        ),
        (
            "dc_bl_abc_2021_address_block_counts.csv.xz",
            "'GEOID'",
            "'110010001011000'",
            "another state",
        ),
    ),
    "blocks_infinite_housing": Bad(
        lambda c: c.run_with(blocks=_sample_blocks(c, "blocks_inf.txt", "inf")),
        ("blocks_inf.txt", "'housing_units'", "inf", "'900010001001000'"),
    ),
    "block_speeds_of_another_state": Bad(
        lambda c: c.run_with(ookla=_block_speeds(c, "510010901001000", "51001.csv")),
        ("51001.csv", "'block_GEOID'", "'510010901001000'", "another state"),
    ),
    "block_speeds_negative_tests": Bad(
        lambda c: c.run_with(
            ookla=_write(
                c,
                "90001.csv",
                "GEOID20,avg_d_mbps,avg_u_mbps,tests,devices,avg_lat_ms,year,q\n"
                "900010001001000,95.5,20.1,-12,4,18,2021,1\n",
            )
        ),
        ("90001.csv", "'tests'", "-12", "'900010001001000'"),
    ),
    "fcc_of_another_state": Bad(
        lambda c: c.run_with(fcc=_bdc(c, "510010901001000", "bdc_51_fixed.csv")),
        ("bdc_51_fixed.csv", "'block_geoid'", "'510010901001000'", "another state"),
    ),
    "fcc_negative_speed": Bad(
        lambda c: c.run_with(
            fcc=_write(
                c,
                "bdc_neg.csv",
                _bdc(c, "900010001001000", "x.csv")
                .read_text()
                .replace(",1000,1000,", ",-1000,1000,"),
            )
        ),
        ("bdc_neg.csv", "'max_advertised_download_speed'", "-1000"),
    ),
    "partner_list_latitude_longitude_swapped": Bad(
        lambda c: _partner_list(c, swap=True), ("partners_swapped.csv", "swapped", "longitude 38.5")
    ),
    "snapshot_infinite_households": Bad(
        lambda c: _snapshot_with(c, "households", "inf"),
        ("county_counts.csv", "'households'", "inf", "'01001'"),
    ),
    "snapshot_part_above_universe": Bad(
        lambda c: _snapshot_with(c, "hh_no_internet_subscription", "9999999"),
        ("county_counts.csv", "hh_no_internet_subscription", "'01001'", "a share of"),
    ),
    # -- configuration --
    "states_not_a_list": Bad(
        lambda c: _config_text(c, "states = 5\n"), ("run.toml", "placement.states", "5")
    ),
    "weights_not_a_table": Bad(
        lambda c: _config_text(c, "[index]\nweights = 3\n"), ("run.toml", "index.weights", "3")
    ),
    "seed_negative": Bad(
        lambda c: c.run(c.config(text=RUN_OPTIONS.replace("[run]", "[run]\nseed = -1"))),
        ("run.toml", "run.seed", "-1"),
    ),
    "config_is_a_folder": Bad(
        lambda c: ["run", "--config", str(c.folder), "--out", str(c.out)], ("inputs", "a folder")
    ),
    "config_not_toml": Bad(
        lambda c: [
            "run",
            "--config",
            str(_write(c, "bad.toml", "[run\nseed=")),
            "--out",
            str(c.out),
        ],
        ("bad.toml", "not valid TOML", "line 1"),
    ),
    "config_unknown_key": Bad(
        lambda c: _config_text(c, "[maps]\ncolour = 'red'\n"), ("run.toml", "'colour'", "title")
    ),
    "grid_resolution_13": Bad(
        lambda c: _street_config(c, "[grid]\nresolution = 13\n"),
        ("grid.resolution = 13", "cells", "GB", "--force-size"),
    ),
    "grid_over_max_cells": Bad(
        lambda c: _street_config(c, "[grid]\nmax_cells = 1000\n"),
        ("grid.resolution = 9", "max_cells = 1,000", "cells"),
    ),
    "grid_resolution_16": Bad(
        lambda c: _street_config(c, "[grid]\nresolution = 16\n"),
        ("run.toml", "grid.resolution = 16", "0-15"),
    ),
    # -- output folder and environment --
    "out_is_a_file": Bad(
        lambda c: _out(c, _write(c, "out.txt", "x")), ("output folder", "out.txt", "a file")
    ),
    "out_under_a_file": Bad(
        lambda c: _out(c, _write(c, "out.txt", "x") / "sub"), ("out.txt", "is a file", "sub")
    ),
    "out_read_only": Bad(_read_only, ("output folder", "equity-out", "cannot write there")),
    "out_name_too_long": Bad(
        lambda c: _out(c, c.folder / ("x" * 300)), ("output folder", "300 bytes", "at most")
    ),
    "cache_folder_is_a_file": Bad(_cache_is_file, ("EQUITY_CACHE", "cachefile", "not a folder")),
    # -- the other commands --
    "index_empty_file": Bad(
        lambda c: ["index", str(_write(c, "e.csv", "")), "--out", str(c.out / "i.csv")],
        ("e.csv", "empty"),
    ),
    "index_excel_file": Bad(
        lambda c: (
            c.acs().head(5).to_excel(c.folder / "t.xlsx", index=False),
            ["index", str(c.folder / "t.xlsx"), "--out", str(c.out / "i.csv")],
        )[1],
        ("t.xlsx", "Excel workbook", "CSV"),
    ),
    "index_out_is_a_folder": Bad(
        lambda c: ["index", str(_index_input(c)), "--out", str(c.out / "maps")],
        ("output file", "maps", "a folder"),
    ),
    "index_no_id_column": Bad(
        lambda c: ["index", str(_write(c, "n.csv", "x,y\n1,2\n")), "--out", str(c.out / "i.csv")],
        ("n.csv", "no id column", "GEOID"),
    ),
    "map_k_zero": Bad(lambda c: _map(c, "--k", "0"), ("--k 0", "number of classes")),
    "map_input_folder": Bad(
        lambda c: ["map", str(c.folder), "--out", str(c.out / "m.html")], ("inputs", "a folder")
    ),
    "map_missing_column": Bad(
        lambda c: _map(c, "--column", "share_nope"), ("index_blockgroup.parquet", "'share_nope'")
    ),
    "map_text_column": Bad(
        lambda c: _map(c, "--column", "NAME"), ("index_blockgroup.parquet", "'NAME'", "numeric")
    ),
    "validate_folder": Bad(lambda c: ["validate", str(c.folder)], ("inputs", "a folder")),
    "sample_seed_negative": Bad(
        lambda c: ["sample", "--seed", "-1", "--out", str(c.out / "s")], ("--seed -1", ">= 0")
    ),
    "out_of_memory": Bad(_memory, ("out of memory", "Unable to allocate", "PiB")),
}


def test_the_matrix_is_large() -> None:
    assert len(CASES) >= 40


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_is_one_line_exit_2_out_untouched(
    name: str, ctx: Ctx, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    argv = case.build(ctx)
    before = _snapshot(ctx.out)
    capsys.readouterr()
    status = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    errors = [line for line in lines if ": error: " in line]
    assert status == 2, err
    assert len(errors) == 1 and lines[-1] == errors[0], err
    assert errors[0].startswith(f"equity {argv[0]}: error: ")
    assert "Traceback" not in err
    for needle in case.needles:
        assert needle in errors[0], (needle, errors[0])
    assert _snapshot(ctx.out) == before, "the output folder changed"


def test_verbose_shows_the_traceback(ctx: Ctx, capsys: pytest.CaptureFixture[str]) -> None:
    argv = CASES["acs_negative_count"].build(ctx)
    assert main([*argv, "-v"]) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "SchemaError" in err
    assert err.strip().splitlines()[-1].startswith("equity run: error: ")


def test_a_bug_is_one_line_exit_1(
    ctx: Ctx, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr("equity.index.files.compute_index", broken)
    status = main(["index", str(_index_input(ctx)), "--out", str(ctx.out / "i.csv")])
    err = capsys.readouterr().err
    assert status == 1 and "Traceback" not in err
    assert err.strip() == (
        "equity index: internal error: ZeroDivisionError: division by zero; rerun with -v "
        "for the traceback and please report it"
    )


# -- stated warnings, before any computation ----------------------------------------------------------


def _checked(cfg_path: Path) -> tuple[object, list[str]]:
    """``check_dataset`` on a configuration's inputs, and the warnings it stated."""
    from equity.checks import check_dataset
    from equity.config import load_config
    from equity.pipeline import load_dataset

    cfg = load_config(cfg_path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = check_dataset(load_dataset(cfg), cfg)
    stated = [str(w.message) for w in caught if issubclass(w.category, EquityWarning)]
    return ds, stated


def test_truncated_acs_losing_a_state_is_a_stated_warning(ctx: Ctx) -> None:
    df = ctx.acs()
    cfg = ctx.config({"acs": ctx.write_acs(df[~df["GEOID"].str.startswith("92")], "acs_cut.csv")})
    ds, stated = _checked(cfg)
    (message,) = [m for m in stated if "have no row" in m]
    n92 = int(ctx.blockgroups()["GEOID"].str.startswith("92").sum())
    assert f"{n92:,} of the 498 block groups" in message
    assert f"all {n92:,} of state(s) '92'" in message and "acs_cut.csv" in message
    assert message in ds.notes  # METHODS.md repeats it


def _lost_zeros(ctx: Ctx) -> tuple[gpd.GeoDataFrame, pd.DataFrame]:
    """Block groups of states 01-03, and their ACS rows with GEOIDs saved as numbers."""
    bg = ctx.blockgroups()
    state = {"90": "01", "91": "02", "92": "03"}
    bg["GEOID"] = bg["GEOID"].str[:2].map(state) + bg["GEOID"].str[2:]
    acs = ctx.acs()
    acs["GEOID"] = (acs["GEOID"].str[:2].map(state) + acs["GEOID"].str[2:]).astype(int).astype(str)
    assert acs["GEOID"].str.len().eq(11).all()
    return bg, acs


def test_lost_leading_zeros_are_padded_with_a_warning(ctx: Ctx) -> None:
    bg, acs = _lost_zeros(ctx)
    cfg = ctx.config(
        {"blockgroups": ctx.write_bg(bg), "acs": ctx.write_acs(acs)},
        drop=("states", "counties", "tracts", "usage", "business", "libraries", "ookla"),
    )
    ds, stated = _checked(cfg)
    first = acs["GEOID"].iloc[0]
    assert any(
        "lost their leading zero" in m and f"'{first}'" in m and f"'0{first}'" in m for m in stated
    ), stated
    assert set(ds.acs["GEOID"]) == set(bg["GEOID"])  # type: ignore[attr-defined]


def test_repaired_polygon_is_stated_every_run(ctx: Ctx) -> None:
    bg = ctx.blockgroups()
    x0, y0, x1, y1 = _box_of(bg)
    bg.loc[2, "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])  # a bow tie
    cfg = ctx.config({"blockgroups": ctx.write_bg(bg, "cb_2021_90_bg_bowtie.gpkg")})
    for _ in range(2):  # the second time from the table cache: still stated
        ds, stated = _checked(cfg)
        assert any("invalid polygon" in m and "'900010002011'" in m for m in stated), stated
    polygons = ds.boundaries["blockgroup"]  # type: ignore[attr-defined]
    assert polygons.geometry.is_valid.all()
    assert polygons.geometry.iloc[2].area == pytest.approx((x1 - x0) * (y1 - y0) / 2, rel=1e-9)


def test_partial_usage_coverage_is_a_stated_warning(ctx: Ctx) -> None:
    lines = Path(ctx.sample["usage"]).read_text().splitlines()
    cfg = ctx.config({"usage": _write(ctx, "usage_cut.csv", "\n".join(lines[:-2]) + "\n")})
    _, stated = _checked(cfg)
    assert any("2 of the region's 12 counties have no row" in m for m in stated), stated


def test_partners_far_from_the_region_are_a_stated_warning(ctx: Ctx) -> None:
    def move(df: pd.DataFrame) -> None:
        df["LONGITUD"] = (pd.to_numeric(df["LONGITUD"]) - 40).astype(str)  # the Pacific

    argv = _libraries(ctx, move, "libraries_far.csv")
    _, stated = _checked(Path(argv[2]))
    assert any("libraries" in m and "none lies within 25 km" in m for m in stated), stated


def test_blocks_missing_a_state_are_a_stated_warning(ctx: Ctx) -> None:
    cfg = ctx.config({"blocks": _sample_blocks(ctx, "blocks_cut.txt", states=("90", "91"))})
    ds, stated = _checked(cfg)
    (message,) = [m for m in stated if "blocks_cut.txt" in m]
    assert "column 'GEOID': no blocks in 1 of the region's 3 states ('92')" in message
    assert message in ds.notes  # type: ignore[attr-defined]


def test_fcc_and_blocks_of_the_region_pass_silently(ctx: Ctx) -> None:
    data = {
        "blocks": _sample_blocks(ctx, "blocks.txt"),
        "fcc": _bdc(ctx, [f"{st}0010001001000" for st in ("90", "91", "92")], "bdc_90_fixed.csv"),
    }
    _, stated = _checked(ctx.config(data))
    assert not [m for m in stated if "states" in m and ("bdc_90" in m or "blocks.txt" in m)]


def test_the_snapshot_passes_silently() -> None:
    from equity.checks import check_dataset
    from equity.config import load_config
    from equity.pipeline import load_dataset

    cfg = load_config()
    ds = load_dataset(cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("error", EquityWarning)
        assert check_dataset(ds, cfg) is ds


def test_inputs_that_fit_pass_silently(ctx: Ctx) -> None:
    ds, stated = _checked(ctx.config())
    assert stated == [] and ds.notes == []  # type: ignore[attr-defined]


# -- validate agrees with run ---------------------------------------------------------------------------

AGREE = (
    "acs_of_another_state",
    "tract_file_as_blockgroups",
    "usage_zip_file",
    "business_zip_totals",
    "ookla_uva_block_file",
    "ookla_of_another_region",
    "acs_negative_count",
    "bg_null_geometry",
    "libraries_latitude_longitude_swapped",
    "blocks_of_another_state",
    "blocks_infinite_housing",
    "block_speeds_of_another_state",
    "fcc_of_another_state",
    "partner_list_latitude_longitude_swapped",
)


@pytest.mark.slow
@pytest.mark.parametrize("name", AGREE)
def test_validate_config_refuses_what_run_refuses(
    name: str, ctx: Ctx, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = CASES[name].build(ctx)
    config = argv[argv.index("--config") + 1]
    assert main(argv) == 2
    reason = capsys.readouterr().err.strip().splitlines()[-1].split(": error: ", 1)[1]
    assert main(["validate", "--config", config]) == 1
    report = " ".join(capsys.readouterr().out.split())
    # the same file and column; checks across files give the run's reason word for word
    assert all(n in report for n in CASES[name].needles[:2]), (reason, report)
    if "[data]" in reason or "none of its" in reason:
        assert reason in report, (reason, report)


@pytest.mark.parametrize(
    ("key", "path", "needle"),
    [
        ("usage", "broadband/microsoft_broadband_data_zipcode.csv", "ZIP codes"),
        ("business", "business/census_zbp18totals.txt", "ZIP codes"),
        (
            "ookla",
            "ookla/uva_sdad_va_hdcttr_2019_2021_ookla_fixed_speed_measurements.csv",
            "quadkey",
        ),
        ("usage", "broadband/microsoft_broadband_data_2020October.csv", None),
        ("blocks", "blocks/dc_bl_abc_2021_address_block_counts.csv.xz", None),
        ("blockgroups", "blocks/dc_bl_abc_2021_address_block_counts.csv.xz", "xz-compressed"),
    ],
)
def test_validate_as_a_key(
    key: str, path: str, needle: str | None, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["validate", str(shared_data / path), "--as", key])
    out = capsys.readouterr().out
    if needle is None:
        assert status == 0 and "no problems found" in out
    else:
        assert status == 1 and needle in out


def test_validate_and_the_reader_agree_on_null_tile_geometry(ctx: Ctx) -> None:
    from equity.sources import read_ookla, validate

    tiles = pd.read_parquet(ctx.sample["ookla"])
    gdf = gpd.GeoDataFrame(
        tiles.drop(columns="tile"), geometry=gpd.GeoSeries.from_wkt(tiles["tile"]), crs=4326
    )
    gdf.loc[:4, "geometry"] = None
    path = ctx.folder / "tiles_null.geojson"
    gdf.to_file(path)
    read = read_ookla(path)  # rebuilt from the quadkeys
    assert read.geometry.notna().all() and len(read) == len(gdf)
    assert validate(path) == [] and validate(path, kind="ookla") == []


# -- end to end (slow) ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_run_states_its_warnings_and_methods_repeats_them(
    ctx: Ctx, capsys: pytest.CaptureFixture[str]
) -> None:
    df = ctx.acs()
    cut = ctx.write_acs(df[~df["GEOID"].str.startswith("92")], "acs_cut.csv")
    assert main(ctx.run(ctx.config({"acs": cut}))) == 0
    err = capsys.readouterr().err
    warned = [line for line in err.splitlines() if line.startswith("equity run: warning: ")]
    assert any("have no row in" in w and "'92'" in w for w in warned), err
    methods = (ctx.out / "METHODS.md").read_text()
    assert "have no row in" in methods and "'92'" in methods
    cands = pd.read_csv(ctx.out / "candidates.csv", dtype={"state_GEOID": str})
    assert sorted(cands["state_GEOID"].unique()) == ["90", "91"]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["lost_zeros", "null_tiles"])
def test_validate_and_run_both_pass(
    variant: str, ctx: Ctx, capsys: pytest.CaptureFixture[str]
) -> None:
    if variant == "lost_zeros":
        bg, acs = _lost_zeros(ctx)
        data = {"blockgroups": ctx.write_bg(bg), "acs": ctx.write_acs(acs)}
        drop: tuple[str, ...] = ("states", "counties", "tracts", "usage", "business", "libraries")
    else:
        tiles = pd.read_parquet(ctx.sample["ookla"])
        gdf = gpd.GeoDataFrame(
            tiles.drop(columns="tile"), geometry=gpd.GeoSeries.from_wkt(tiles["tile"]), crs=4326
        )
        gdf.loc[:9, "geometry"] = None
        gdf.to_file(ctx.folder / "tiles.geojson")
        data, drop = {"ookla": ctx.folder / "tiles.geojson"}, ()
    cfg = ctx.config(data, drop=drop)
    assert main(["validate", "--config", str(cfg)]) == 0
    assert main(ctx.run(cfg)) == 0
    assert (ctx.out / "candidates.csv").is_file()


def test_read_boundaries_of_a_csv_is_a_data_error(sample_paths: dict[str, Path]) -> None:
    from equity.sources import read_boundaries

    with pytest.raises(DataError, match="without geometry"):
        read_boundaries(sample_paths["acs"])
