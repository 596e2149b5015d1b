"""README's walkthrough (scripts/walkthrough.sh) works as written against a running stack."""

from __future__ import annotations

import os
import subprocess

from tests.e2e.conftest import ADMIN_TOKEN, ROOT, RunningStack


def test_readme_walkthrough_deploys_switches_and_rolls_back(stack: RunningStack) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "walkthrough.sh")],
        env={**os.environ, "API": stack.api, "ADMIN": ADMIN_TOKEN},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr + result.stdout
    lines = result.stdout.splitlines()
    served = [line for line in lines if line.startswith("production")]
    assert served[0].endswith("<h1>Hello from v1</h1>")
    assert served[1] == "production: <h1>Hello from v2</h1>"
    assert served[2] == "production: <h1>Hello from v1</h1>"
    assert "==> Running build command: mkdir -p dist && cp index.html dist/" in result.stdout
