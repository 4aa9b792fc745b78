"""Names people recognise: Census LSAD descriptions, county and state names on every row.

A Census boundary file gives a place's bare ``NAME`` ("Fairfax") and its legal/statistical
area description code ``LSAD`` ("25"); the description turns the two into the name people use
("Fairfax city", as opposed to "Fairfax County", code "06"). :data:`LSAD` is the one table of
those codes; :func:`describe` applies it; :func:`county_names` and :func:`state_names` gather
names from whatever boundary files a run has; :func:`add_names` gives every row of every level
table its ``place_name``, ``county_name`` and ``state_name``.

Source of the codes: U.S. Census Bureau, "Legal/Statistical Area Description Codes and
Definitions" (https://www.census.gov/library/reference/code-lists/legal-status-codes.html),
restricted to the codes of states, counties, county subdivisions, places and consolidated
cities (tribal, legislative, statistical-area and economic-census codes are left out).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

__all__ = [
    "LSAD",
    "NAME_COLUMNS",
    "add_names",
    "county_names",
    "describe",
    "name_levels",
    "state_names",
]

log = logging.getLogger(__name__)

#: Census LSAD code -> (description, where it goes: ``"suffix"``, ``"prefix"`` or ``""`` for
#: none). Capitalisation as the Census writes it: upper case for county equivalents ("Fairfax
#: County"), lower case for places and county subdivisions ("Fairfax city", "Bristol town").
LSAD: dict[str, tuple[str, str]] = {
    "00": ("", ""),  # no description: "District of Columbia", "Carson City"
    "03": ("City and Borough", "suffix"),
    "04": ("Borough", "suffix"),
    "05": ("Census Area", "suffix"),
    "06": ("County", "suffix"),
    "07": ("District", "suffix"),
    "10": ("Island", "suffix"),
    "12": ("Municipality", "suffix"),
    "13": ("Municipio", "suffix"),
    "15": ("Parish", "suffix"),
    "20": ("barrio", "suffix"),
    "21": ("borough", "suffix"),
    "22": ("CCD", "suffix"),  # census county division
    "23": ("census subarea", "suffix"),
    "24": ("census subdistrict", "suffix"),
    "25": ("city", "suffix"),
    "26": ("county", "suffix"),
    "27": ("district", "suffix"),
    "28": ("District", "prefix"),
    "29": ("precinct", "suffix"),
    "30": ("Precinct", "prefix"),
    "31": ("gore", "suffix"),
    "32": ("grant", "suffix"),
    "36": ("location", "suffix"),
    "37": ("municipality", "suffix"),
    "39": ("plantation", "suffix"),
    "41": ("barrio-pueblo", "suffix"),
    "42": ("purchase", "suffix"),
    "43": ("town", "suffix"),
    "44": ("township", "suffix"),
    "45": ("Township", "prefix"),
    "46": ("UT", "suffix"),  # unorganized territory
    "47": ("village", "suffix"),
    "49": ("charter township", "suffix"),
    "51": ("subbarrio", "suffix"),
    "53": ("city and borough", "suffix"),
    "55": ("comunidad", "suffix"),
    "57": ("CDP", "suffix"),  # census designated place
    "62": ("zona urbana", "suffix"),
    "86": ("Reservation", "suffix"),  # a reservation serving as a county subdivision
    "BL": ("(balance)", "suffix"),
    "CB": ("consolidated government (balance)", "suffix"),
    "CG": ("consolidated government", "suffix"),
    "CN": ("corporation", "suffix"),
    "MB": ("metropolitan government (balance)", "suffix"),
    "MG": ("metropolitan government", "suffix"),
    "MT": ("metro government", "suffix"),
    "UB": ("unified government (balance)", "suffix"),
    "UC": ("urban county", "suffix"),
    "UG": ("unified government", "suffix"),
}

#: The name columns every level table and candidate list carries.
NAME_COLUMNS = ("place_name", "county_name", "state_name")


def describe(names: pd.Series, lsad: pd.Series) -> pd.Series:
    """Names with their LSAD description: ``("Fairfax", "25")`` -> ``"Fairfax city"``.

    Parameters
    ----------
    names
        Bare names (Census ``NAME``).
    lsad
        LSAD codes (text, e.g. ``"06"``; numbers are zero-padded to two digits). Missing or
        unknown codes leave the name as it is, as does a name that already carries its
        description (``"Milford city (balance)"``).

    Returns
    -------
    pandas.Series
        The described names, on the index of `names`.

    Examples
    --------
    >>> import pandas as pd
    >>> describe(pd.Series(["Fairfax", "Fairfax", "Bristol", "1"]),
    ...          pd.Series(["06", "25", "43", "28"])).tolist()
    ['Fairfax County', 'Fairfax city', 'Bristol town', 'District 1']
    """
    name = names.astype("string").str.strip()
    code = lsad.astype("string").str.strip()
    code = code.where(~code.str.fullmatch(r"\d").fillna(False), "0" + code)
    text = code.map(lambda c: LSAD.get(str(c), ("", ""))[0] if pd.notna(c) else "")
    where = code.map(lambda c: LSAD.get(str(c), ("", ""))[1] if pd.notna(c) else "")
    text = pd.Series(text.to_numpy(dtype=object), index=name.index).fillna("")
    where = pd.Series(where.to_numpy(dtype=object), index=name.index).fillna("")
    low, tlow = name.str.lower(), text.str.lower()
    has = [
        bool(t) and isinstance(n, str) and (n.endswith(" " + t) or n.startswith(t + " "))
        for n, t in zip(low.fillna(""), tlow, strict=True)
    ]
    out = name.copy()
    suffix = (where == "suffix") & ~np.asarray(has)
    prefix = (where == "prefix") & ~np.asarray(has)
    out[suffix] = name[suffix] + " " + text[suffix]
    out[prefix] = text[prefix] + " " + name[prefix]
    return out


def _described(frame: pd.DataFrame) -> pd.Series:
    """A boundary table's names with their description: ``NAMELSAD`` when the file has it,
    else ``NAME`` + ``LSAD``, else ``NAME``."""
    if "NAMELSAD" in frame.columns and frame["NAMELSAD"].notna().all():
        return frame["NAMELSAD"].astype("string")
    if "LSAD" in frame.columns:
        return describe(frame["NAME"], frame["LSAD"])
    return frame["NAME"].astype("string")


def county_names(*frames: pd.DataFrame | None) -> pd.Series:
    """County GEOID -> county name with its description ("Fairfax County", "Fairfax city").

    Parameters
    ----------
    *frames
        Boundary tables as :func:`equity.sources.read_boundaries` returns them, in order of
        preference: county tables (``level == "county"``) give ``NAMELSAD`` or ``NAME`` +
        ``LSAD``; tract, block-group and county-subdivision tables give the ``county_name``
        column of 2020+ files (``NAMELSADCO``) under their GEOID's first five digits.
        ``None`` entries are skipped.

    Returns
    -------
    pandas.Series
        Names indexed by county GEOID (the first table naming a county wins).

    Examples
    --------
    >>> import pandas as pd
    >>> c = pd.DataFrame({"GEOID": ["51059", "51600"], "NAME": ["Fairfax", "Fairfax"],
    ...                   "LSAD": ["06", "25"], "level": "county"})
    >>> county_names(c).to_dict()
    {'51059': 'Fairfax County', '51600': 'Fairfax city'}
    """
    parts: list[pd.Series] = []
    for f in frames:
        if f is None or len(f) == 0 or "GEOID" not in f.columns:
            continue
        geoid = f["GEOID"].astype("string")
        if _is_county_table(f):
            parts.append(pd.Series(_described(f).to_numpy(), index=geoid.to_numpy()))
        elif "county_name" in f.columns and geoid.str.len().ge(10).all():
            parts.append(
                pd.Series(f["county_name"].astype("string").to_numpy(), index=geoid.str[:5])
            )
    return _first_named(parts)


def _is_county_table(f: pd.DataFrame) -> bool:
    if "level" in f.columns:
        return bool((f["level"] == "county").all())
    return bool(f["GEOID"].astype("string").str.len().eq(5).all())


def state_names(*frames: pd.DataFrame | None) -> pd.Series:
    """State GEOID -> state name, from state tables, ``state_name`` columns (2020+ Census files'
    ``STATE_NAME``), then the built-in table of the 50 states, DC and Puerto Rico and the
    fictional sample states.

    Examples
    --------
    >>> state_names()["51"]
    'Virginia'
    """
    from equity.sources._states import STATES

    parts: list[pd.Series] = []
    for f in frames:
        if f is None or len(f) == 0 or "GEOID" not in f.columns:
            continue
        geoid = f["GEOID"].astype("string")
        if "level" in f.columns and (f["level"] == "state").all():
            parts.append(pd.Series(f["NAME"].astype("string").to_numpy(), index=geoid.to_numpy()))
        elif "state_name" in f.columns:
            parts.append(
                pd.Series(f["state_name"].astype("string").to_numpy(), index=geoid.str[:2])
            )
    parts.append(pd.Series({s.fips: s.name for s in STATES}, dtype="string"))
    try:
        from equity.sample import SAMPLE_STATES
    except ImportError:  # pragma: no cover - the sample module ships with the package
        SAMPLE_STATES = {}
    parts.append(pd.Series({k: v[0] for k, v in SAMPLE_STATES.items()}, dtype="string"))
    return _first_named(parts)


def _first_named(parts: list[pd.Series]) -> pd.Series:
    if not parts:
        return pd.Series(dtype="string")
    allp = pd.concat([p.dropna() for p in parts])
    allp = allp[allp.astype("string").str.strip().ne("")]
    out = allp[~allp.index.duplicated(keep="first")].astype("string")
    out.index = out.index.astype("str")
    return out


def add_names(
    tables: Mapping[str, pd.DataFrame],
    *,
    counties: pd.Series,
    states: pd.Series,
    town_crosswalk: pd.DataFrame | None = None,
    town_names: pd.Series | None = None,
    cell_town: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """Every level table with ``place_name``, ``county_name`` and ``state_name``.

    Parameters
    ----------
    tables
        Level name -> level table with ``GEOID`` and (below the state) ``county_GEOID`` and
        ``state_GEOID``; ``street`` cells also ``blockgroup_GEOID``. The ``blockgroup``
        table's ``households`` weigh the towns of a tract.
    counties, states
        GEOID -> name (:func:`county_names`, :func:`state_names`); a county without a name
        is called ``"County <GEOID>"``.
    town_crosswalk
        Block group -> town crosswalk (``source_GEOID``, ``target_GEOID``, ``weight``), as
        the town builders return it in ``attrs["crosswalk"]``; ``None``: no town level, so
        ``place_name`` is missing below the county level.
    town_names
        Town GEOID -> town name (the town table's ``NAME``).
    cell_town
        Street-cell GEOID -> GEOID of the town holding the cell's centre.

    Returns
    -------
    dict
        New tables (the inputs are not changed). ``place_name``: for a town its own name,
        for a block group the town receiving most of its households, for a tract the town
        receiving most of its block groups' households, for a street cell the town holding
        its centre (else the town of its block group), for a county its county name and for
        a state its state name.
        ``county_name``: the (dominant) county's name; missing for states. ``state_name``:
        the state's name.

    Notes
    -----
    Names carry the Census LSAD description ("Fairfax city" vs "Fairfax County"), so two
    counties or towns of a state with the same bare name stay apart in the outputs.

    Examples
    --------
    >>> import pandas as pd
    >>> bg = pd.DataFrame({"GEOID": ["510594001001"], "county_GEOID": ["51059"],
    ...                    "state_GEOID": ["51"], "households": [400.0]})
    >>> xw = pd.DataFrame({"source_GEOID": ["510594001001"], "target_GEOID": ["5126496"],
    ...                    "weight": [1.0]})
    >>> out = add_names({"blockgroup": bg}, counties=pd.Series({"51059": "Fairfax County"}),
    ...                 states=state_names(), town_crosswalk=xw,
    ...                 town_names=pd.Series({"5126496": "Fairfax city"}))
    >>> out["blockgroup"][["place_name", "county_name", "state_name"]].iloc[0].tolist()
    ['Fairfax city', 'Fairfax County', 'Virginia']
    """
    bg_households = None
    if "blockgroup" in tables and "households" in tables["blockgroup"].columns:
        bgt = tables["blockgroup"]
        bg_households = pd.Series(
            bgt["households"].to_numpy(dtype=float), index=bgt["GEOID"].astype("str")
        )
    towns = _TownOf(town_crosswalk, town_names, bg_households)
    out: dict[str, pd.DataFrame] = {}
    for level, table in tables.items():
        t = table.copy()
        geoid = t["GEOID"].astype("str")
        state = t["state_GEOID"].astype("str") if "state_GEOID" in t else geoid.str[:2]
        county = _county_ids(t, level, geoid)
        cname = (
            None
            if county is None
            else county.map(counties).astype("string").fillna("County " + county)
        )
        t["state_name"] = pd.array(state.map(states).fillna("State " + state), dtype="string")
        t["county_name"] = pd.array(
            pd.Series(pd.NA, index=t.index) if cname is None else cname, dtype="string"
        )
        place = _place_names(t, level, geoid, towns, cname)
        if level == "street" and cell_town is not None and town_names is not None:
            own = geoid.map(cell_town).map(pd.Series(town_names.to_numpy(), index=town_names.index))
            place = pd.Series(own.to_numpy(), index=t.index).fillna(place)
        t["place_name"] = pd.array(place, dtype="string")
        out[level] = t
    return out


def name_levels(
    tables: Mapping[str, pd.DataFrame],
    boundaries: Mapping[str, pd.DataFrame | None],
    *,
    town_crosswalk: pd.DataFrame | None = None,
    cell_town: pd.Series | None = None,
) -> dict[str, pd.DataFrame]:
    """A run's level tables named from its boundary files (:func:`add_names`).

    County names come from the ``county`` boundaries (``NAMELSAD`` or ``NAME`` + ``LSAD``),
    else the ``county_name`` of tract, block-group, county-subdivision or town files; state
    names from the ``state`` boundaries, those files' ``state_name``, else the built-in
    table. The county table's ``NAME`` becomes the county's described name ("Fairfax
    County", "Fairfax city"), so maps and lists never show two counties under one name.

    Parameters
    ----------
    tables
        Level name -> level table.
    boundaries
        Level name (``state``, ``county``, ``tract``, ``blockgroup``, ``cousub``, ``town``) ->
        boundary table as :func:`equity.sources.read_boundaries` returns it.
    town_crosswalk
        Block group -> town crosswalk of the town level, if one was built.
    cell_town
        Street-cell GEOID -> town GEOID (the town holding each cell's centre), if known.
    """
    frames = [boundaries.get(k) for k in ("county", "tract", "blockgroup", "cousub", "town")]
    counties = county_names(*frames)
    states = state_names(boundaries.get("state"), *frames)
    town = tables.get("town")
    town_names = (
        pd.Series(town["NAME"].to_numpy(), index=town["GEOID"].astype("str"))
        if town is not None
        else None
    )
    out = add_names(
        tables,
        counties=counties,
        states=states,
        town_crosswalk=town_crosswalk,
        town_names=town_names,
        cell_town=cell_town,
    )
    if "county" in out:
        out["county"]["NAME"] = out["county"]["county_name"]
    return out


def _county_ids(t: pd.DataFrame, level: str, geoid: pd.Series) -> pd.Series | None:
    if level == "state":
        return None
    if level == "county":
        return geoid
    if "county_GEOID" in t.columns:
        return t["county_GEOID"].astype("str")
    return geoid.str[:5]


class _TownOf:
    """The town name of block groups and tracts, from the block group -> town crosswalk."""

    def __init__(
        self,
        crosswalk: pd.DataFrame | None,
        names: pd.Series | None,
        households: pd.Series | None,
    ) -> None:
        self.pairs: pd.DataFrame | None = None
        if crosswalk is None or names is None or crosswalk.empty:
            return
        name_of = pd.Series(names.to_numpy(), index=names.index.astype("str"))
        pairs = pd.DataFrame(
            {
                "bg": crosswalk["source_GEOID"].astype("str").to_numpy(),
                "town": crosswalk["target_GEOID"].astype("str").map(name_of).to_numpy(),
                "weight": crosswalk["weight"].to_numpy(dtype=float),
            }
        )
        hh = pairs["bg"].map(households) if households is not None else None
        # a block group without households still has a town: the largest share of it
        pairs["mass"] = pairs["weight"] * (1.0 if hh is None else hh.fillna(0.0) + 1e-9)
        self.pairs = pairs.dropna(subset=["town"])

    def of(self, key: pd.Series) -> pd.Series:
        """Town name with most mass per key (block group GEOIDs or their prefixes)."""
        assert self.pairs is not None
        p = self.pairs.assign(key=key.to_numpy())
        by = p.groupby(["key", "town"], as_index=False)["mass"].sum()
        best = by.sort_values(["key", "mass", "town"], ascending=[True, False, True])
        return best.drop_duplicates("key").set_index("key")["town"]

    def blockgroups(self) -> pd.Series:
        assert self.pairs is not None
        return self.of(self.pairs["bg"])

    def tracts(self) -> pd.Series:
        assert self.pairs is not None
        return self.of(self.pairs["bg"].str[:11])


def _place_names(
    t: pd.DataFrame,
    level: str,
    geoid: pd.Series,
    towns: _TownOf,
    cname: pd.Series | None,
) -> pd.Series:
    if level == "town":
        return t["NAME"].astype("string")
    if level == "county" and cname is not None:
        return cname
    if level == "state":
        return t["state_name"]
    if towns.pairs is None:
        return pd.Series(pd.NA, index=t.index, dtype="string")
    if level == "blockgroup":
        return geoid.map(towns.blockgroups())
    if level == "street" and "blockgroup_GEOID" in t.columns:
        return t["blockgroup_GEOID"].astype("str").map(towns.blockgroups())
    if level == "tract":
        return geoid.map(towns.tracts())
    return pd.Series(pd.NA, index=t.index, dtype="string")
