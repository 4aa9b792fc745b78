"""The CDC/ATSDR Social Vulnerability Index, computed exactly as CDC does (preset ``svi``).

From the ``EP_*`` estimates of a CDC/ATSDR SVI table (2018 variable set, or 2020 and later),
:func:`svi` computes the percentile ranks ``EPL_*``, theme sums and ranks (``SPL_THEME*``,
``RPL_THEME*``), the overall ``SPL_THEMES``/``RPL_THEMES`` and the flags ``F_*``, with CDC's
PERCENTRANK.INC and its decimal rounding (:func:`equity.ranking.percent_rank_inc`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from equity.errors import SchemaError
from equity.ranking import group_codes, percent_rank_rows

__all__ = ["SVI_THEMES", "svi"]

logger = logging.getLogger(__name__)

#: CDC/ATSDR SVI themes by variable set: theme -> EP_* variables (without the prefix).
SVI_THEMES: dict[str, dict[int, tuple[str, ...]]] = {
    "2018": {
        1: ("POV", "UNEMP", "PCI", "NOHSDP"),
        2: ("AGE65", "AGE17", "DISABL", "SNGPNT"),
        3: ("MINRTY", "LIMENG"),
        4: ("MUNIT", "MOBILE", "CROWD", "NOVEH", "GROUPQ"),
    },
    "2020": {
        1: ("POV150", "UNEMP", "HBURD", "NOHSDP", "UNINSUR"),
        2: ("AGE65", "AGE17", "DISABL", "SNGPNT", "LIMENG"),
        3: ("MINRTY",),
        4: ("MUNIT", "MOBILE", "CROWD", "NOVEH", "GROUPQ"),
    },
}
_SVI_REVERSED = {"PCI"}

_SVI_OUTPUT = re.compile(r"^(EPL_|SPL_|RPL_|F_)")


def _svi_version(columns: Iterable[str]) -> str:
    cols = set(columns)
    if {"EP_POV150", "EP_HBURD"} <= cols:
        return "2020"
    if {"EP_POV", "EP_PCI"} <= cols:
        return "2018"
    msg = (
        "cannot tell the SVI variable set: 2018 needs EP_POV and EP_PCI, 2020 and later "
        f"EP_POV150 and EP_HBURD; EP_ columns present: {sorted(c for c in cols if c.startswith('EP_'))}"
    )
    raise SchemaError(msg)


def svi(table: pd.DataFrame, *, groups: Any = None) -> pd.DataFrame:
    """CDC/ATSDR Social Vulnerability Index from the ``EP_*`` estimates, as CDC computes it.

    Parameters
    ----------
    table
        A CDC/ATSDR SVI table (or any table with the ``EP_*`` columns of one variable set);
        -999 and NaN are missing. The 2018 set (15 variables, ``EP_POV`` ... ``EP_PCI``) or
        the 2020 and later set (16 variables, ``EP_POV150``, ``EP_HBURD``, ``EP_UNINSUR`` ...)
        is detected from the columns.
    groups
        Optional group label per row (e.g. the state): every percentile rank (``EPL_*`` and
        ``RPL_*``) is then computed within each group, as CDC's state-level SVI files rank
        places within their state. By default all rows are ranked together (the national
        files).

    Returns
    -------
    pandas.DataFrame
        A copy of `table` without any input ``EPL_*``, ``SPL_*``, ``RPL_*``, ``F_*`` columns,
        then, computed: ``EPL_<var>``, ``SPL_THEME1..4``, ``RPL_THEME1..4``, ``SPL_THEMES``,
        ``RPL_THEMES``, ``F_<var>``, ``F_THEME1..4``, ``F_TOTAL``. Missing is NaN (CDC: -999).
        ``attrs["svi"]`` names the variable set.

    Notes
    -----
    :math:`EPL = PERCENTRANK.INC` over places with a valid value, rounded to 4 decimals
    (:func:`equity.ranking.percent_rank_inc`); 2018 per-capita income is reversed,
    :math:`1 - PR`. A theme's SPL is the sum of its (rounded) EPLs, computed exactly in units of :math:`10^{-4}` so
    equal sums tie as they do in CDC's decimal arithmetic; RPL is the percentile rank of the
    SPL. A place missing any variable of a theme has no SPL/RPL for that theme nor overall.
    Flags: ``F_<var> = 1`` if :math:`EPL \\geq 0.90`; ``F_THEMEn`` counts them per theme,
    ``F_TOTAL`` overall. Themes (CDC/ATSDR SVI documentation 2018, 2020): see :data:`SVI_THEMES`.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({f"EP_{v}": [1.0, 2.0, 3.0] for th in SVI_THEMES["2018"].values() for v in th})
    >>> svi(t)["RPL_THEMES"].tolist()
    [0.0, 0.5, 1.0]
    """
    version = _svi_version(table.columns)
    themes = SVI_THEMES[version]
    needed = [f"EP_{v}" for th in themes.values() for v in th]
    missing = [c for c in needed if c not in table]
    if missing:
        raise SchemaError(f"SVI {version} table lacks {missing}", source="svi")
    base = table.drop(columns=[c for c in table.columns if _SVI_OUTPUT.match(str(c))])
    n = len(base)
    codes = group_codes(None if groups is None else np.asarray(groups, dtype=object), n)
    new: dict[str, Any] = {}
    units: dict[str, np.ndarray] = {}  # EPL in 1e-4 units (float with NaN)
    for th in themes.values():
        for v in th:
            x = pd.to_numeric(base[f"EP_{v}"], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
            x = np.where(x == -999, np.nan, x)
            pr = np.round(percent_rank_rows(x.reshape(1, -1), codes)[0] * 10_000)
            if v in _SVI_REVERSED:
                pr = 10_000 - pr
            units[v] = pr
            new[f"EPL_{v}"] = pr / 10_000
    spl_units = {}
    for t, th in themes.items():
        s = np.sum([units[v] for v in th], axis=0)  # NaN if any variable missing
        spl_units[t] = s
        new[f"SPL_THEME{t}"] = s / 10_000
        new[f"RPL_THEME{t}"] = percent_rank_rows(s.reshape(1, -1), codes)[0]
    total = np.sum(list(spl_units.values()), axis=0)
    new["SPL_THEMES"] = total / 10_000
    new["RPL_THEMES"] = percent_rank_rows(total.reshape(1, -1), codes)[0]
    flag_total = None
    for t, th in themes.items():
        theme_flags = None
        for v in th:
            e = units[v]
            f = np.where(np.isnan(e), np.nan, (e >= 9_000).astype(float))
            new[f"F_{v}"] = pd.array(f, dtype="Int64")
            theme_flags = f if theme_flags is None else theme_flags + f
        new[f"F_THEME{t}"] = pd.array(theme_flags, dtype="Int64")
        flag_total = theme_flags if flag_total is None else flag_total + theme_flags
    new["F_TOTAL"] = pd.array(flag_total, dtype="Int64")
    out = pd.concat([base, pd.DataFrame(new, index=base.index)], axis=1)
    out.attrs = dict(table.attrs)
    out.attrs["svi"] = {
        "version": version,
        "within_groups": groups is not None,
        "variables": needed,
        "n_places": n,
        "n_missing_overall": int(np.isnan(total).sum()),
    }
    logger.info("svi: %s variable set, %d places", version, n)
    return out
