"""Plain-language notes on an index's method and data, for the methods card (METHODS.md).

:func:`index_notes` turns the record of :func:`equity.index.compute_index`
(``attrs["index"]``) into sentences: how the uncertainty was drawn and normalised, what was
done with coded medians and unknown margins of error, what ``reliability`` means, and how a
preset departs from the index it follows (:data:`PRESET_DIFFERENCES`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["PRESET_DIFFERENCES", "index_notes"]

#: How a preset departs from the published index it follows, one sentence each.
PRESET_DIFFERENCES: dict[str, tuple[str, ...]] = {
    "ddi": (
        "ddi follows the variables and groups of the Purdue Center for Regional Development's "
        "Digital Divide Index as published on PCRD's DDI pages (Gallardo et al.): INFA = no "
        "25/3 fixed broadband available, no computing device, no internet access, download "
        "speed, upload speed; SE = age 65 and over, no high-school diploma (25 and over), "
        "individual poverty, disability. Remaining differences:",
        "weights: Purdue standardises each variable (z-scores) and combines them into INFA and "
        "SE with weights of its own (the published pages do not list them in a form we could "
        "verify); here every variable weighs the same within its score and INFA and SE weigh "
        "the same in the DDI;",
        "scaling: Purdue rescales the summed z-scores to 0-100; here each variable is min-max "
        "scaled (a variable's weight then varies as 1 / its range instead of 1 / its standard "
        "deviation), and the scores are weighted means, 0-100;",
        "speeds: Purdue uses the FCC's average maximum advertised download and upload speeds; "
        "here the measured Ookla mean speeds (advertised speeds are not in the inputs);",
        "availability: the FCC's 25/3 Mbps coverage as carried by the Microsoft county file "
        "(the share with access, need decreasing; Purdue's earlier releases use the share "
        "without 25/3 access from FCC Form 477, the same measure turned around, at their own "
        "vintage); Purdue's 2022 release, as reported, measures it with Ookla tests below "
        "100/20 Mbps and adds an internet-income ratio to SE, neither of which is used here;",
        "sources of this list: PCRD's published DDI variable descriptions; Purdue's exact "
        "weights could not be checked, so treat ddi scores as an approximation of the "
        "published DDI, not a reproduction.",
    ),
}


def index_notes(record: Mapping[str, Any]) -> list[str]:
    """Sentences for METHODS.md from an index record (``attrs["index"]``)."""
    notes: list[str] = []
    n_draws = int(record.get("n_draws", 0) or 0)
    if n_draws > 0:
        notes.append(
            f"Uncertainty: {n_draws} Monte Carlo draws of every indicator with a margin of "
            "error (SE = MOE / 1.645); each ACS share is drawn with the standard error of the "
            "Census proportion formula and clipped to [0, 1], each amount clipped at 0 "
            "(clipping moves no quantile inside the range). Each draw is normalised against a "
            "fixed reference: the point estimates of its reference region adjusted for their "
            "sampling error (each estimate's distance from the mean scaled by "
            "sqrt(tau^2 / (tau^2 + SE^2)), tau^2 the variance of the true values, so the "
            "reference spreads like the true values and extreme places are not pulled to the "
            "middle). The 90% intervals come from the draws' 5th and 95th percentiles; rank "
            "intervals are the ranks of the interval's ends among the other places."
        )
        ext = int(record.get("n_interval_extended", 0) or 0)
        if ext:
            notes.append(
                f"{ext} intervals did not contain their own point estimate and were widened to "
                "it: the point estimate ranks a place among noisy estimates, whose spread is "
                "wider than the true values', while the interval is calibrated to the truth."
            )
    for name, counts in (record.get("n_coded") or {}).items():
        notes.append(
            f"{name}: {counts.get('top', 0)} top-coded and {counts.get('bottom', 0)} "
            "bottom-coded medians (ACS 250,000+ and 2,500-, no MOE published) keep their code "
            "as the estimate and are drawn only beyond it, with the median relative MOE of the "
            "other places."
        )
    for name, count in (record.get("n_unknown_moe") or {}).items():
        notes.append(
            f"{name}: {count} places have a value but no margin of error (e.g. a median "
            "aggregated from a coded one); they get the median MOE of the other places "
            "(relative to the value for amounts) instead of being treated as exact."
        )
    low, high = record.get("reliability_cv", (0.15, 0.30))
    notes.append(
        "reliability: the index's standard error (half the 90% interval / 1.645) over 50, the "
        f"middle of the scale, classed by the Census Bureau's CV thresholds: below {low:g} "
        f"high, below {high:g} medium, else low (intervals narrower than "
        f"+-{1.645 * 50 * low:.1f}, +-{1.645 * 50 * high:.1f} points); it describes the "
        "place's own uncertainty, not its level of need."
    )
    notes.extend(PRESET_DIFFERENCES.get(str(record.get("preset")), ()))
    if record.get("reference") == "state":
        notes.append(
            "reference = state: indicators are ranked within each state; rank is the rank "
            "within the state and rank_national the rank of the within-state index over all "
            "places."
        )
    return notes
