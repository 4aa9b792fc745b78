"""Run configuration: defaults, TOML reading, every problem reported at once."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from equity.config import OPTIONS, Config, load_config
from equity.errors import ConfigError


def test_sample_switch_gives_the_sample_defaults() -> None:
    cfg = load_config(sample=True)
    assert cfg.uses_sample and not cfg.uses_snapshot
    assert cfg.preset == "techspark" and cfg.k == 1 and cfg.placement_level == "town"


def test_toml_values_and_relative_paths(tmp_path: Path) -> None:
    (tmp_path / "bg.zip").write_bytes(b"")
    (tmp_path / "acs.csv").write_text("GEOID\n")
    toml = tmp_path / "equity.toml"
    toml.write_text(
        '[data]\nblockgroups = "bg.zip"\nacs = "acs.csv"\n'
        '[index]\npreset = "ddi"\nreference = "state"\n[index.weights]\naccess = 2.0\n'
        "[placement]\nk = 2\nradius_km = 10\n"
    )
    cfg = load_config(toml)
    assert not cfg.uses_sample
    assert Path(cfg.data["blockgroups"]) == (tmp_path / "bg.zip").resolve()
    assert (cfg.preset, cfg.reference, cfg.k, cfg.radius_km) == ("ddi", "state", 2, 10)
    assert cfg.pillar_weights == {"access": 2.0}


def test_every_problem_reported_at_once(tmp_path: Path) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text('[index]\npreset = "nope"\n[placement]\nk = 0\nradius_km = -1\nmode = "best"\n')
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    text = str(info.value)
    for needle in ("bad.toml", "'nope'", "techspark", "k = 0", "radius_km = -1", "'best'"):
        assert needle in text


def test_unknown_section_key_and_missing_file(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('[grid]\nresolutoin = 8\n[data]\nacs = "missing.csv"\n')
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    text = str(info.value)
    assert "resolutoin" in text and "missing.csv" in text and "blockgroups" in text


def test_not_toml_and_absent_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.toml"
    bad.write_text("[index\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.toml")


def test_overrides_are_validated() -> None:
    assert load_config(k=3).k == 3
    with pytest.raises(ConfigError, match="radius_km"):
        load_config(radius_km=0.0)
    with pytest.raises(ConfigError, match="placement.level"):
        Config().replace(placement_level="street")


def test_wrong_types_are_problems_not_tracebacks(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('[placement]\nk = "2"\nradius_km = true\n[grid]\nresolution = 8.5\n')
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    text = str(info.value)
    assert "placement.k = '2' must be a whole number" in text
    assert "placement.radius_km = True must be a number" in text
    assert "grid.resolution = 8.5 must be a whole number" in text


def test_every_field_is_an_option_whose_default_passes_its_check() -> None:
    fields = {f.name for f in dataclasses.fields(Config)} - {"source"}
    assert fields == set(OPTIONS)
    cfg = Config()
    for attr, option in OPTIONS.items():
        assert option.check(getattr(cfg, attr)) == [], attr
        assert option.attr == attr


def test_choices_come_from_the_modules_that_own_them() -> None:
    from equity import engine, geographies, index, placement

    owned = {
        "preset": index.PRESETS,
        "normalisation": index.NORMALISATIONS,
        "reference": index.REFERENCES,
        "engine": engine.ENGINES,
        "mode": placement.MODES,
    }
    for attr, valid in owned.items():
        (problem,) = OPTIONS[attr].check("nope")
        assert problem.endswith("'nope'; valid: " + ", ".join(valid)), problem
    (problem,) = OPTIONS["levels"].check(("street", "nope"))
    assert problem.endswith("valid: " + ", ".join(geographies.LEVELS))
    (problem,) = OPTIONS["score_weights"].check({"luck": 1.0})
    assert problem.endswith("valid: " + ", ".join(placement.DEFAULT_WEIGHTS))
    assert Config().score_weights == placement.DEFAULT_WEIGHTS


def test_type_and_choice_problems_are_reported_together(tmp_path: Path) -> None:
    toml = tmp_path / "t.toml"
    toml.write_text('[placement]\nk = "2"\nmode = "best"\n[run]\nengine = "spark"\n')
    with pytest.raises(ConfigError) as info:
        load_config(toml)
    text = str(info.value)
    assert "3 problems" in text and "'2'" in text and "'best'" in text and "'spark'" in text


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('[run]\nlevels = "town"\n', "run.levels = 'town' must be a list"),
        ("[index]\nweights = 3\n", "index.weights = 3 must be a table"),
        ("[placement]\nweights = 3\n", "placement.weights = 3 must be a table"),
        ('[placement]\nstates = "VA"\n', "placement.states = 'VA' must be a list"),
        ("run = 5\n", "[run] must be a table"),
        ("[data]\nacs = 1\nzzz = 2\n", "data: unknown key 'zzz'; valid: states"),
    ],
)
def test_malformed_values_are_problems_not_tracebacks(
    tmp_path: Path, toml: str, needle: str
) -> None:
    path = tmp_path / "m.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=re.escape(needle)):
        load_config(path)
