"""Duplicates: which rows of the partner sources are one organisation.

:func:`duplicate_edges` finds the pairs that need no coordinates (the same listed id, EIN, name
and ZIP code, or street address and ZIP code with similar names) and :func:`nearby_edges` the
pairs of equal names close to each other once located; :func:`components` joins the pairs into
organisations. Each pair carries the rule (:data:`MERGE_RULES`) that found it, for the report.

Two rows of the same official source are never paired (two EINs, two outlet ids are two
organisations), and a supporters' group ("Friends of ...", a foundation, boosters, alumni, a
parent-teacher association) is never paired with the organisation it supports.

Examples
--------
>>> name_key(pd.Series(["The Seldovia Public Lib., Inc.", "SELDOVIA PUBLIC LIBRARY"])).tolist()
['SELDOVIA PUBLIC LIBRARY', 'SELDOVIA PUBLIC LIBRARY']
>>> street_key(pd.Series(["34020 North Fork Road, Suite 2", "34020 N FORK RD"])).tolist()
['34020 N FORK RD', '34020 N FORK RD']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from equity.distance import haversine_km

__all__ = [
    "MERGE_RULES",
    "Edges",
    "components",
    "duplicate_edges",
    "name_key",
    "nearby_edges",
    "street_key",
    "supporters",
]

#: The rules that merge two rows into one organisation (see the module notes).
MERGE_RULES: tuple[str, ...] = (
    "same id",
    "same EIN",
    "same name and ZIP",
    "same address and ZIP",
    "same name within {km:g} km",
)

_NAME_DROP = frozenset({"THE", "INC", "INCORPORATED", "CORP", "CORPORATION", "LLC", "LTD"})
_NAME_ABBREVIATIONS = {
    "ASSN": "ASSOCIATION",
    "ASSOC": "ASSOCIATION",
    "CTR": "CENTER",
    "CENTRE": "CENTER",
    "LIB": "LIBRARY",
    "LIBR": "LIBRARY",
    "CNTY": "COUNTY",
    "UNIV": "UNIVERSITY",
    "DEPT": "DEPARTMENT",
    "NEIGHBOURHOOD": "NEIGHBORHOOD",
    "MT": "MOUNT",
}
_SUPPORTERS = frozenset(
    {"FRIENDS", "FOUNDATION", "AUXILIARY", "BOOSTER", "BOOSTERS", "ALUMNI", "PTA", "PTO", "PTSA"}
)
_STREET_ABBREVIATIONS = {
    "STREET": "ST",
    "AVENUE": "AVE",
    "ROAD": "RD",
    "DRIVE": "DR",
    "BOULEVARD": "BLVD",
    "LANE": "LN",
    "HIGHWAY": "HWY",
    "PLACE": "PL",
    "COURT": "CT",
    "PARKWAY": "PKWY",
    "CIRCLE": "CIR",
    "TERRACE": "TER",
    "SQUARE": "SQ",
    "ROUTE": "RT",
    "NORTH": "N",
    "SOUTH": "S",
    "EAST": "E",
    "WEST": "W",
}
_UNIT = r"\b(?:SUITE|STE|APT|UNIT|ROOM|RM|FL|FLOOR)\b.*$|#.*$"
_MAX_NAME_GROUP = 50  # names shared by more places are too common to merge by distance


# --------------------------------------------------------------------------------------------
# keys
# --------------------------------------------------------------------------------------------


def _words(values: pd.Series, table: dict[str, str]) -> pd.Series:
    """Upper-case words (``&`` as ``AND``, punctuation as spaces), abbreviations expanded."""
    s = values.astype("string").fillna("").str.upper().str.replace("&", " AND ", regex=False)
    s = s.str.replace(r"['’.]", "", regex=True).str.replace(r"[^A-Z0-9]+", " ", regex=True)
    pattern = r"\b(" + "|".join(table) + r")\b"
    return s.str.replace(pattern, lambda m: table[m.group(1)], regex=True).str.strip()


def name_key(names: pd.Series) -> pd.Series:
    """Names as compared: upper case, no punctuation, ``The``/``Inc``/``LLC`` dropped,
    common abbreviations expanded (NA when nothing is left)."""
    words = _words(names, _NAME_ABBREVIATIONS).str.split()
    key = words.map(lambda ws: " ".join(w for w in ws if w not in _NAME_DROP), na_action="ignore")
    key = key.astype("string")
    return key.where(key != "", pd.NA)


def street_key(streets: pd.Series) -> pd.Series:
    """Street addresses as compared: upper case, suffixes abbreviated (``Road`` -> ``RD``),
    units (``Suite 2``, ``# 4``) dropped (NA when blank)."""
    s = streets.astype("string").fillna("").str.upper().str.replace(_UNIT, "", regex=True)
    key = _words(s, _STREET_ABBREVIATIONS).str.replace(r"\s+", " ", regex=True).str.strip()
    return key.where(key != "", pd.NA).astype("string")


# --------------------------------------------------------------------------------------------
# duplicates
# --------------------------------------------------------------------------------------------


@dataclass
class Edges:
    """Pairs of rows found to be one organisation, and the rule that found each."""

    i: list[np.ndarray] = field(default_factory=list)
    j: list[np.ndarray] = field(default_factory=list)
    rule: list[np.ndarray] = field(default_factory=list)

    def add(self, i: np.ndarray, j: np.ndarray, rule: str) -> None:
        keep = i != j
        if keep.any():
            self.i.append(i[keep])
            self.j.append(j[keep])
            self.rule.append(np.full(int(keep.sum()), rule, dtype=object))

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.i:
            empty = np.zeros(0, dtype=np.intp)
            return empty, empty, np.zeros(0, dtype=object)
        return np.concatenate(self.i), np.concatenate(self.j), np.concatenate(self.rule)


def supporters(words: pd.Series) -> pd.Series:
    """Whether each name is a supporters' group (Friends of, foundation, boosters, PTA ...)."""
    return words.map(
        lambda ws: bool(_SUPPORTERS.intersection(ws)) if isinstance(ws, list) else False
    ).astype(bool)


def _key_edges(rows: pd.DataFrame, key: pd.Series, rule: str, edges: Edges) -> None:
    """Connect rows sharing `key`: the first row of each source, and every listed row, to the
    first such row of the key (two rows of one official source stay two organisations)."""
    ok = key.notna().to_numpy()
    if ok.sum() < 2:
        return
    df = pd.DataFrame({"key": key[ok].to_numpy(), "source": rows["source"].to_numpy()[ok]})
    df["row"] = np.flatnonzero(ok)
    df["support"] = rows["supporter"].to_numpy()[ok]
    eligible = (df.groupby(["key", "source", "support"]).cumcount() == 0) | (df["source"] == "list")
    df = df.loc[eligible.to_numpy()]
    first = df.groupby(["key", "support"])["row"].transform("first")
    edges.add(df["row"].to_numpy(), first.to_numpy(), rule)


def _similar(a: list[str], b: list[str]) -> bool:
    sa, sb = set(a), set(b)
    return bool(sa and sb) and len(sa & sb) / len(sa | sb) >= 0.5


def _address_edges(rows: pd.DataFrame, edges: Edges) -> None:
    """Same street and ZIP, names sharing at least half their words."""
    key = (rows["street_key"] + "|" + rows["zip"]).where(rows["zip"].notna())
    before = len(edges.i)
    _key_edges(rows, key, "same address and ZIP", edges)
    if len(edges.i) == before:
        return
    i, j, rule = edges.i.pop(), edges.j.pop(), edges.rule.pop()
    words = rows["words"].to_numpy()
    similar = np.array([_similar(words[a], words[b]) for a, b in zip(i, j, strict=True)], bool)
    edges.add(i[similar], j[similar], str(rule[0]) if len(rule) else "same address and ZIP")


def duplicate_edges(rows: pd.DataFrame) -> Edges:
    """Duplicates found without coordinates: ids, EINs, names and addresses with ZIP codes."""
    edges = Edges()
    listed = rows["source"] == "list"
    list_id = ("list|" + rows["source_id"]).where(listed)
    _key_edges(rows, list_id, "same id", edges)
    _key_edges(
        rows,
        rows["ein"].where(rows["ein"].str.fullmatch(r"\d{9}").fillna(False)),
        "same EIN",
        edges,
    )
    _key_edges(rows, (rows["name_key"] + "|" + rows["zip"]), "same name and ZIP", edges)
    _address_edges(rows, edges)
    return edges


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Connected component of each of `n` rows given the edges ``(i, j)``."""
    graph = coo_matrix((np.ones(len(i)), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def nearby_edges(
    rows: pd.DataFrame, comp: np.ndarray, lon: np.ndarray, lat: np.ndarray, km: float
) -> Edges:
    """Equal names at most `km` apart (per organisation located), across sources."""
    edges = Edges()
    df = pd.DataFrame({"key": rows["name_key"].to_numpy(), "comp": comp})
    df["source"] = rows["source"].to_numpy()
    df["row"] = np.arange(len(rows))
    df = df.loc[df["key"].notna() & np.isfinite(lon[comp])]
    df = df.drop_duplicates(["key", "comp"])
    size = df.groupby("key")["comp"].transform("size")
    df = df.loc[(size > 1) & (size <= _MAX_NAME_GROUP)]
    pairs = df.merge(df, on="key", suffixes=("_a", "_b"))
    pairs = pairs.loc[pairs["comp_a"] < pairs["comp_b"]]
    cross = (pairs["source_a"] != pairs["source_b"]) | (pairs["source_a"] == "list")
    pairs = pairs.loc[cross]
    if pairs.empty:
        return edges
    a, b = pairs["comp_a"].to_numpy(), pairs["comp_b"].to_numpy()
    d = haversine_km(lon[a], lat[a], lon[b], lat[b])
    near = d <= km
    edges.add(
        pairs["row_a"].to_numpy()[near],
        pairs["row_b"].to_numpy()[near],
        MERGE_RULES[-1].format(km=km),
    )
    return edges
