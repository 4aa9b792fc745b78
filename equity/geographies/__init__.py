"""Levels, the GEOID hierarchy, the street grid (H3), towns, interpolation and aggregation.

Every move of counts between geographies is expressed as a **crosswalk**: a table with
``source_GEOID``, ``target_GEOID`` and ``weight`` (the share of the source that goes to the
target; the weights of a source sum to one), applied by one function, :func:`apply_crosswalk`:

* the hierarchy (block group -> tract -> county -> state, :func:`aggregate`) has weights 1;
* the street grid (:func:`street_grid`) spreads block groups onto H3 cells dasymetrically;
* towns receive counts by overlay: Census places and county subdivisions with the balance of
  each county (:func:`census_towns`), a user's polygons with the rest of each county
  (:func:`complete_towns`), any polygons (:func:`allocate_to_polygons` via
  :func:`polygon_crosswalk`), or regions of block groups (:func:`build_towns`);
* tract vintages (:func:`interpolate_vintage`) move by area-weighted interpolation (tobler).

Every crosswalk conserves each source's total exactly (weights sum to one), which the
tests check to a relative error of 1e-9 at every level.

Counts (extensive variables, e.g. ``households``) are moved and their 90% margins of error
``moe_<count>`` follow the Census Bureau's approximation formulas (see :mod:`equity._moe`,
re-exported here: :func:`moe_sum`, :func:`moe_proportion`, :func:`moe_ratio`,
:func:`moe_product`, :func:`moe_weighted_mean`). Rates are recomputed from the moved counts
(``equity.indicators``), never averaged. Medians are intensive: they are moved as weighted
means of the parts' medians (see :func:`apply_crosswalk`).

Ookla tiles become place summaries with :func:`ookla_to_polygons` and :func:`ookla_to_grid`;
points (anchor institutions) are counted with :func:`count_points`; street lines are cut by
the grid and coloured from it with :func:`street_segments`.

The geometry engine computes exact intersection areas pair by pair (STRtree candidates;
containment short-cuts for the common case of a cell inside one block group; vectorised
rectangle clipping for Ookla tiles, which stay axis-aligned rectangles in EPSG:6933; GEOS
for the rest), with no Python loop over features except the calls into H3, which has no
batch polygon fill.

All areas are computed in the equal-area CRS EPSG:6933; every GeoDataFrame returned is in
EPSG:4326.

The modules, in the order the data flows through them:

========================  ==================================================================
``hierarchy``             levels, GEOID widths, :func:`parent_geoid`, :func:`aggregate`
``crosswalk``             :func:`apply_crosswalk`: counts, MOEs and medians along weights
``overlay``               exact pairwise intersection areas, ancillary mass per piece
``h3cells``               H3 cells covering polygons, their hexagons, :func:`h3_strings`
``h3grid``                the street grid: :func:`street_grid` = pieces + combine
``blockweights``          2020 blocks on the grid (:func:`block_mass`), speeds by block
``h3floor``               the household floor: :func:`pool_cells`, :func:`cell_parents`
``street``                the street level of a run: :func:`street_level` (blocks, tiles or
                          area weights; county by county; floor; per-unit uncertainty)
``ookla``                 Ookla tiles onto polygons and onto the grid (pieces + combine)
``allocation``            :func:`polygon_crosswalk`, :func:`allocate_to_polygons`,
                          :func:`count_points`
``vintages``              :func:`interpolate_vintage`
``names``                 Census LSAD descriptions, county and state names on every row
``towns``                 :func:`census_towns`, :func:`complete_towns`: towns that cover
                          every household, named as the Census names them
``regions``               :func:`build_towns` when no town polygons exist
``segments``              :func:`street_segments`
``_checks``, ``_crs``     shared input checks; the two CRSs and the fast projection
========================  ==================================================================
"""

from __future__ import annotations

# Constants and private helpers are re-exported too ("X as X"): ``equity.engine`` checks
# inputs with them before sending work to a cluster, and tests reach them here.
from equity._moe import (
    moe_from_se,
    moe_product,
    moe_proportion,
    moe_ratio,
    moe_sum,
    moe_weighted_mean,
    se_from_moe,
)
from equity.geographies._crs import AREA_CRS as AREA_CRS
from equity.geographies._crs import OUT_CRS as OUT_CRS
from equity.geographies._crs import _area_geoms as _area_geoms
from equity.geographies._crs import _rectangles as _rectangles
from equity.geographies.allocation import allocate_to_polygons, count_points, polygon_crosswalk
from equity.geographies.blockweights import block_mass, block_speeds, has_block_geometry
from equity.geographies.crosswalk import WEIGHT_TOL as WEIGHT_TOL
from equity.geographies.crosswalk import apply_crosswalk
from equity.geographies.h3cells import _cell_polygons as _cell_polygons
from equity.geographies.h3cells import _cells_covering as _cells_covering
from equity.geographies.h3cells import _cells_near as _cells_near
from equity.geographies.h3cells import _hexagons as _hexagons
from equity.geographies.h3cells import _hexagons_of as _hexagons_of
from equity.geographies.h3cells import h3_strings as h3_strings
from equity.geographies.h3floor import cell_parents, pool_cells
from equity.geographies.h3grid import PIECE_COLUMNS as PIECE_COLUMNS
from equity.geographies.h3grid import _check_street_grid as _check_street_grid
from equity.geographies.h3grid import combine_street_grid, street_grid, street_grid_pieces
from equity.geographies.hierarchy import GEOID_WIDTH, LEVELS, aggregate, parent_geoid
from equity.geographies.names import (
    LSAD,
    add_names,
    county_names,
    describe,
    name_levels,
    state_names,
)
from equity.geographies.ookla import OOKLA_COLUMNS as OOKLA_COLUMNS
from equity.geographies.ookla import _check_ookla_polygons as _check_ookla_polygons
from equity.geographies.ookla import _tile_table as _tile_table
from equity.geographies.ookla import (
    combine_ookla_grid,
    combine_ookla_polygons,
    ookla_grid_pieces,
    ookla_polygon_pieces,
    ookla_to_grid,
    ookla_to_polygons,
)
from equity.geographies.overlay import OVERLAY_METHODS as OVERLAY_METHODS
from equity.geographies.overlay import _ancillary_mass as _ancillary_mass
from equity.geographies.overlay import _overlay as _overlay
from equity.geographies.overlay import _rect_clip_area as _rect_clip_area
from equity.geographies.regions import build_towns
from equity.geographies.segments import street_segments
from equity.geographies.street import street_level, street_pieces
from equity.geographies.towns import (
    STRONG_MCD_STATES,
    census_towns,
    complete_towns,
    make_towns,
    towns_note,
)
from equity.geographies.vintages import interpolate_vintage

__all__ = [
    "GEOID_WIDTH",
    "LEVELS",
    "LSAD",
    "STRONG_MCD_STATES",
    "add_names",
    "aggregate",
    "allocate_to_polygons",
    "apply_crosswalk",
    "build_towns",
    "census_towns",
    "combine_ookla_grid",
    "combine_ookla_polygons",
    "block_mass",
    "block_speeds",
    "cell_parents",
    "combine_street_grid",
    "complete_towns",
    "count_points",
    "county_names",
    "describe",
    "has_block_geometry",
    "interpolate_vintage",
    "make_towns",
    "moe_from_se",
    "moe_product",
    "moe_proportion",
    "moe_ratio",
    "moe_sum",
    "moe_weighted_mean",
    "name_levels",
    "ookla_grid_pieces",
    "ookla_polygon_pieces",
    "ookla_to_grid",
    "ookla_to_polygons",
    "parent_geoid",
    "pool_cells",
    "polygon_crosswalk",
    "se_from_moe",
    "state_names",
    "street_grid",
    "street_grid_pieces",
    "street_level",
    "street_pieces",
    "street_segments",
    "towns_note",
]
