"""Cold start: the app's import time next to a bare Chalice + boto3 + PynamoDB app, measured in the same run.

Each sample is a fresh interpreter (`python -c "import ..."`), as on a Lambda cold start.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = 7
BASELINE = "import boto3, chalice, pynamodb.models; app = chalice.Chalice(app_name='bare')"
DEPLOYD = "import app"


def sample(code: str) -> float:
    samples = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> None:
    empty = sample("pass")
    baseline = sample(BASELINE) - empty
    deployd = sample(DEPLOYD) - empty
    print(f"interpreter start            {empty * 1000:7.1f} ms (subtracted below)")
    print(f"bare chalice+boto3+pynamodb  {baseline * 1000:7.1f} ms")
    print(f"deployd app                  {deployd * 1000:7.1f} ms")
    print(f"deployd / bare:              {deployd / baseline:7.2f}x")


if __name__ == "__main__":
    main()
