"""The `equity` command: help, errors as one line with a non-zero status, README commands."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from equity.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_help_lists_every_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ("run", "sample", "index", "rank", "map", "fetch", "validate"):
        assert re.search(rf"^\s+{name}\s+\S", out, flags=re.M), name


def test_each_subcommand_has_help() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        assert p.description, name
        assert p.format_help()


def test_bad_config_is_one_line_and_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[placement]\nk = 0\nmode = "best"\n')
    status = main(["run", "--config", str(bad), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "equity run: error:" in err and "bad.toml" in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_readme_gives_the_two_commands_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    script = (ROOT / ".ci" / "run").read_text()
    for name in ("run", "test"):
        marker = f"<!-- ci: {name} -->"
        assert marker in readme
        block = readme.split(marker, 1)[1]
        command = next(line for line in block.splitlines() if line and not line.startswith("`"))
        assert command.startswith(
            "python3 -m venv .venv && . .venv/bin/activate && pip install -e "
        )
        extracted = subprocess.run(
            [
                "awk",
                "-v",
                f"m={marker}",
                "found && /^[^`[:space:]]/ {print; exit} $0 ~ m {found=1}",
                "README.md",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert extracted == command
    assert "readme_command run" in script and "readme_command test" in script
    assert "equity run" in readme.split("<!-- ci: run -->", 1)[1].splitlines()[2]


def test_sample_command_regenerates_byte_identically(
    tmp_path: Path, sample_paths: dict[str, Path]
) -> None:
    out = tmp_path / "again"
    assert main(["sample", "--out", str(out)]) == 0
    fresh = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    first = {
        p.name: p.read_bytes()
        for p in next(iter(sample_paths.values())).parent.iterdir()
        if p.is_file()
    }
    assert fresh.keys() == first.keys()
    assert all(fresh[name] == first[name] for name in fresh)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["rank", "--k", "99"], "larger than the"),
        (["rank", "--radius-km", "-1"], "radius_km"),
        (["validate", "README.md", "--kind", "nope"], "unknown kind 'nope'"),
    ],
)
def test_bad_input_is_one_line_status_2_and_nothing_written(
    argv: list[str], needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    extra = ["--out", str(out), "-q"] if argv[0] == "rank" else []
    status = main([*argv, *extra])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and needle in err
    assert not out.exists() or not any(out.iterdir())


def test_choices_are_the_vocabularies_of_their_owners() -> None:
    """The parser restates a few vocabularies (so `equity --help` imports no stage module):
    they must stay those of the modules that own them."""
    from equity import engine, index, placement
    from equity.placement import LEVELS as PLACEMENT_LEVELS

    sub = next(a for a in build_parser()._actions if a.dest == "command")

    def choices(command: str, dest: str) -> tuple[str, ...]:
        action = next(a for a in sub.choices[command]._actions if a.dest == dest)
        return tuple(action.choices or ())

    assert choices("index", "preset") == tuple(index.PRESETS)
    assert choices("index", "reference") == tuple(index.REFERENCES)
    assert choices("rank", "mode") == tuple(placement.MODES)
    assert choices("rank", "level") == PLACEMENT_LEVELS
    assert choices("run", "engine") == choices("rank", "engine") == tuple(engine.ENGINES)
