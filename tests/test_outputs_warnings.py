"""One home for a run's warnings: derived from what the run had, logged by its stages, each said
once, and shown where people look (console, top of METHODS.md, top of every map)."""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from equity.runwarnings import RunWarnings, run_warnings

META = {
    "county": {
        "missing_pillars": ["transformation"],
        "weights": {
            "access": {"share_no_internet": 0.5, "broadband_availability": 0.5},
            "education": {"km_to_library": 1.0},
        },
        "n_missing_index": 0,
    },
    "town": {
        "missing_pillars": ["transformation"],
        "weights": {"access": {"share_no_internet": 1.0}, "education": {"km_to_school": 1.0}},
        "n_missing_index": 3,
    },
}


def test_each_warning_once_grouped_by_kind():
    w = RunWarnings()
    w.add("stale", "B is old.")
    w.add("missing", "A is missing.")
    w.add("stale", "B  is\nold.")  # the same words
    w.add("nonsense-kind", "C was logged.")
    assert w.lines() == ["A is missing.", "B is old.", "C was logged."]
    assert [i.kind for i in w.items()] == ["missing", "stale", "logged"]


def test_capture_records_the_stages_logged_warnings_only_while_running():
    w = RunWarnings()
    log = logging.getLogger("equity.some_stage")
    with w.capture():
        log.warning("business rates per person skipped: %s", "no population")
        log.info("not a warning")
        log.warning("business rates per person skipped: %s", "no population")
    log.warning("after the run")
    assert w.lines() == ["business rates per person skipped: no population"]


def test_missing_pillars_weak_proxies_partial_index_and_stale_data():
    prov = [
        {
            "source": "microsoft_usage",
            "title": "Microsoft usage",
            "vintage": "Oct 2020; availability 2019 (stale)",
        },
        {"source": "old_thing", "title": "An old file", "vintage": "2009 (stale)"},
    ]
    lines = RunWarnings(run_warnings({}, index_meta=META, provenance=prov)).lines()
    assert lines[0] == (
        "No data for the Business and nonprofit transformation pillar (county, town level): its "
        "weight is shared among the other pillars, so need here leaves it out."
    )
    assert "3 town places have no index" in lines[1]
    # one warning per pillar resting on weak proxies, whichever level said it first
    proxy = [x for x in lines if "weak proxy" in x]
    assert proxy == [
        "The Education pillar rests on distance to the nearest public library alone, a weak proxy: "
        "it counts in the index but cannot decide a place's focus area."
    ]
    stale = [x for x in lines if "out of date" in x]
    assert stale[0].startswith(
        "Broadband availability is the FCC's 25/3 Mbps figure as of the end of 2019"
    )
    # Microsoft's record is covered by the indicator's warning; another stale source is not
    assert stale[1:] == ["An old file: out of date (2009 (stale))."]
    assert len(lines) == len(set(lines))


def test_no_availability_no_stale_warning():
    meta = {"county": {"weights": {"access": {"share_no_internet": 1.0}}}}
    assert run_warnings({}, index_meta=meta) == []


def test_street_fallback_and_generated_towns_counted():
    street = pd.DataFrame(
        {
            "weight_method": ["ancillary", "area", "area", "ancillary"],
            "households": [10.0, 5.0, 0.0, 35.0],
        }
    )
    towns = pd.DataFrame({"town_type": ["region", "region", "place"]})
    found = run_warnings(
        {"street": street, "town": towns},
        index_meta={},
        towns={"weight_methods": {"area": 1, "ancillary": 9}},
    )
    text = [w.text for w in found]
    assert text[0].startswith("Street level: 2 of 4 cells (10.0% of households) received their")
    assert text[1] == (
        "Town level: 1 block-group piece was shared among towns by area, for want of household weights."
    )
    assert text[2].startswith("2 towns are generated regions")
    assert {w.kind for w in found} == {"fallback", "generated"}


@pytest.mark.slow
def test_sample_run_says_its_warnings_on_the_console_in_methods_and_on_every_map(tmp_path, capsys):
    from equity.cli import main

    assert main(["run", "--sample", "--out", str(tmp_path), "-q"]) == 0
    err = capsys.readouterr().err
    printed = [
        line.removeprefix("warning: ") for line in err.splitlines() if line.startswith("warning: ")
    ]
    assert printed and len(printed) == len(set(printed))  # each once, even with -q
    methods = (tmp_path / "METHODS.md").read_text()
    top = methods.split("## Who was selected", 1)[0]
    assert [f"- **Warning:** {line}" for line in printed] == [
        x for x in top.splitlines() if x.startswith("- ")
    ]
    # the street level's own words on its area fallback, said once
    assert sum("Street level fell back to area weights" in line for line in printed) == 1
    assert not any(line.startswith("Street level: ") for line in printed)
    table = (tmp_path / "maps" / "candidates.html").read_text()
    assert all(html.escape(line) in table for line in printed)
    for page in (tmp_path / "maps").glob("*.html"):
        if page.name == "candidates.html":
            continue
        spec = re.search(r"equity\.chrome\(map_\w+, (\{.*?\})\);\n", page.read_text()).group(1)
        assert json.loads(spec)["warnings"] == printed, page.name
    readme = pd.read_excel(tmp_path / "candidates.xlsx", sheet_name="Read me", header=None)
    assert set(printed) <= set(readme[1].dropna())


@pytest.mark.slow
def test_default_run_warns_of_its_gaps(tmp_path, capsys):
    from equity import pipeline
    from equity.config import load_config

    result = pipeline.run(load_config(), out=tmp_path, quiet=True, write_maps=False)
    printed = capsys.readouterr().err
    for needle in (  # the snapshot's own notes on the same subjects, with what they mean
        "Transformation pillar: no business or nonprofit data is bundled",
        "Need (county level) leaves out Business and nonprofit transformation.",
        "a weak proxy for access to education",
        "It counts in the index but cannot decide a place's focus area.",
        "FCC's 25/3 Mbps figure as of the end of 2019",
    ):
        assert any(needle in w for w in result.warnings), needle
        assert printed.count(needle) == 1
    assert Path(tmp_path / "METHODS.md").read_text().index("## Warnings") < 400


def test_a_note_saying_what_a_warning_says_joins_it():
    w = RunWarnings(run_warnings({}, index_meta=META))
    notes = [
        "Transformation pillar: no County Business Patterns file, so this pillar is missing.",
        "Education pillar: only the distance to a library, a weak proxy for education.",
        "Alaska: two census areas summed.",
    ]
    assert w.absorb(notes) == ["Alaska: two census areas summed."]
    lines = w.lines()
    assert (
        lines[0]
        == notes[0] + " Need (county, town level) leaves out Business and nonprofit transformation."
    )
    assert notes[1] + " It counts in the index but cannot decide a place's focus area." in lines
    assert len(lines) == len(RunWarnings(run_warnings({}, index_meta=META)))
