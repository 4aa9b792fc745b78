"""Benchmark of the default run: `equity run` on the bundled national county snapshot.

Target (issue #14): `equity run` with no arguments, offline, in under a minute on the
project's 2-core machine. Each measurement runs the console command in a child process with
a fresh cache folder (as a new user would) and reports its wall time, its CPU time (user +
system: what the run itself costs, whatever else the machine is doing), its peak resident set
and the time of each step from the progress lines. The reference is what the bundle saves a
user: rebuilding the snapshot from the public files (`equity snapshot build`, needs
../shared/data), measured in the same run.

Run: ``python benchmarks/bench_default_run.py [--repeat 2] [--no-build]``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
TARGET_S = 60.0
_STEP = re.compile(r"^\[\s*[\d.]+s\]\s+(?P<step>.+): (?P<seconds>[\d.]+)s$")


def _command() -> list[str]:
    exe = Path(sys.executable).with_name("equity")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "equity"]


def _measure(args: list[str], env: dict[str, str]) -> dict[str, object]:
    """Wall, CPU and peak resident set of one child process (``os.wait4``: its own rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([*_command(), *args], env=env, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        log = err.read()
    if proc.returncode != 0:
        raise SystemExit(f"equity {' '.join(args)} failed:\n{log[-2000:]}")
    steps = {
        m["step"]: float(m["seconds"])
        for line in log.splitlines()
        if (m := _STEP.match(line.strip()))
    }
    cpu = usage.ru_utime + usage.ru_stime
    return {"wall": wall, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024, "steps": steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="runs of each command")
    parser.add_argument("--no-build", action="store_true", help="skip the snapshot build")
    opts = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="equity-bench-default-") as tmp:
        for i in range(opts.repeat):
            env = {**os.environ, "EQUITY_CACHE": str(Path(tmp) / f"cache{i}")}
            for label, extra in (("equity run", []), ("equity run --no-maps", ["--no-maps"])):
                out = Path(tmp) / f"out{i}{len(extra)}"
                rows.append((label, _measure(["run", "--out", str(out), *extra], env)))
        if not opts.no_build and (SHARED / "SOURCES.md").is_file():
            env = dict(os.environ)
            args = ["snapshot", "build", "--from", str(SHARED), "--out", str(Path(tmp) / "data")]
            rows.append(("reference: equity snapshot build", _measure(args, env)))
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.1f} at the end")
    print(f"{'command':36s} {'wall s':>8s} {'CPU s':>8s} {'peak MB':>8s}  target < {TARGET_S:g} s")
    for label, r in rows:
        verdict = ""
        if label.startswith("equity run"):
            verdict = "met" if float(r["wall"]) < TARGET_S else "MISSED"  # type: ignore[arg-type]
        print(f"{label:36s} {r['wall']:8.1f} {r['cpu']:8.1f} {r['peak_mb']:8.0f}  {verdict}")
    print("\nsteps of the first `equity run` (s):")
    for step, seconds in rows[0][1]["steps"].items():  # type: ignore[union-attr]
        print(f"  {step:60s} {seconds:6.1f}")


if __name__ == "__main__":
    main()
