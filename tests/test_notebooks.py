"""The tutorial notebooks: stored clean, executed with nbmake, real-data notebook skipped by rule.

``pytest --nbmake notebooks/`` runs them directly; the tests below run each one the same way
(nbmake's runner) as part of the test suite, check how they are stored, and check the rule of
``notebooks/conftest.py`` that skips ``05_real_data_virginia`` outside CI when
``../shared/data`` is missing (and lets it fail in CI).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))
REAL_DATA = "05_real_data_virginia.ipynb"


def _notebook_conftest():
    spec = importlib.util.spec_from_file_location(
        "equity_notebooks_conftest", NOTEBOOK_DIR / "conftest.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_five_tutorials_exist():
    names = [p.name for p in NOTEBOOKS]
    assert names == [
        "01_explore_the_nation.ipynb",
        "02_build_your_index.ipynb",
        "03_fellow_placement.ipynb",
        "04_street_level.ipynb",
        "05_real_data_virginia.ipynb",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "a notebook without code"
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code)
    assert nb["cells"][0]["cell_type"] == "markdown"


@pytest.mark.parametrize(
    ("env", "skipped"),
    [
        ({}, True),
        ({"CI": "false"}, True),
        ({"CI": "0"}, True),
        ({"CI": "true"}, False),
        ({"CI": "1"}, False),
    ],
)
def test_real_data_skip_rule_when_folder_missing(tmp_path, env, skipped):
    rules = _notebook_conftest()
    environ = {"EQUITY_SHARED_DATA": str(tmp_path / "missing"), **env}
    reason = rules.real_data_skip_reason(environ)
    if skipped:
        assert reason is not None and str(tmp_path / "missing") in reason
    else:
        assert reason is None


def test_real_data_notebook_runs_when_folder_present(tmp_path):
    rules = _notebook_conftest()
    (tmp_path / "SOURCES.md").write_text("# sources\n", encoding="utf-8")
    assert rules.real_data_skip_reason({"EQUITY_SHARED_DATA": str(tmp_path)}) is None
    assert REAL_DATA in rules.REAL_DATA_NOTEBOOKS


def _run_nbmake(notebook: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in ("CI", "EQUITY_SHARED_DATA")}
    full_env.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--nbmake",
            f"notebooks/{notebook}",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_nbmake_skips_real_data_notebook_outside_ci(tmp_path):
    pytest.importorskip("nbmake")
    run = _run_nbmake(REAL_DATA, {"EQUITY_SHARED_DATA": str(tmp_path / "missing")})
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 skipped" in run.stdout
    assert "real data not found" in run.stdout


@pytest.mark.slow
def test_nbmake_fails_real_data_notebook_in_ci(tmp_path):
    pytest.importorskip("nbmake")
    run = _run_nbmake(REAL_DATA, {"EQUITY_SHARED_DATA": str(tmp_path / "missing"), "CI": "true"})
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed" in run.stdout
    assert "FileNotFoundError" in run.stdout


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, request):
    """Execute the notebook as ``pytest --nbmake`` does (fresh kernel, cwd = notebooks/)."""
    nb_run = pytest.importorskip("nbmake.nb_run")
    if path.name == REAL_DATA:
        request.getfixturevalue("shared_data")  # skips outside CI, fails in CI, when missing
    result = nb_run.NotebookRun(path, 120).execute()
    assert result.error is None, result.error.trace if result.error else ""
