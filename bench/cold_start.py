"""Cold start: the app's import time next to a bare Chalice + boto3 + PynamoDB app, measured in the same run.

Each sample is a fresh interpreter timing its own import (CPU time, which a busy machine disturbs far
less than wall time; interpreter start-up is not counted). The two imports alternate and the medians of
ROUNDS samples are compared, in two settings, both the same for the two apps:

- bytecode cached: every module's .pyc is ready (in a private cache, so the repository is not written);
- from source: no .pyc anywhere, every module compiled on import. This is Lambda's case for a Chalice
  package: it ships no .pyc for its dependencies, and the function's code directory is read-only.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "11"))
BASELINE = "import boto3, chalice, pynamodb.models; app = chalice.Chalice(app_name='bare')"
DEPLOYD = "import app"
TIMED = (
    "import time, json; w, c = time.perf_counter(), time.process_time()\n"
    "{code}\n"
    "print(json.dumps([time.perf_counter() - w, time.process_time() - c]))"
)


def sample(code: str, env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of `code` in a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", TIMED.format(code=code)], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout
    wall, cpu = json.loads(out.splitlines()[-1])
    return wall, cpu


def compare(label: str, env: dict[str, str]) -> None:
    for code in (BASELINE, DEPLOYD):  # fills the bytecode cache where there is one; warms the file system
        sample(code, env)
    samples: dict[str, list[tuple[float, float]]] = {BASELINE: [], DEPLOYD: []}
    for _ in range(ROUNDS):
        for code, taken in samples.items():
            taken.append(sample(code, env))
    (bare_wall, bare_cpu), (app_wall, app_cpu) = (medians(samples[code]) for code in (BASELINE, DEPLOYD))
    print(f"{label}, median of {ROUNDS} fresh interpreters each: CPU (wall)")
    print(f"  bare chalice+boto3+pynamodb  {bare_cpu:7.1f} ms ({bare_wall:.1f} ms)")
    print(f"  deployd app                  {app_cpu:7.1f} ms ({app_wall:.1f} ms)")
    print(f"  deployd / bare               {app_cpu / bare_cpu:7.2f}x  ({app_wall / bare_wall:.2f}x)")


def medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    """Median wall and CPU milliseconds."""
    return statistics.median(w for w, _ in samples) * 1000, statistics.median(c for _, c in samples) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="deployd-bench-") as cache:
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        compare("import time, bytecode cached", {**base, "PYTHONPYCACHEPREFIX": cache})
        no_bytecode = {**base, "PYTHONPYCACHEPREFIX": str(Path(cache) / "empty"), "PYTHONDONTWRITEBYTECODE": "1"}
        compare("import time, compiled from source (Lambda)", no_bytecode)


if __name__ == "__main__":
    main()
