"""Cold start as Lambda runs it: the function package, unpacked, imported by a fresh interpreter, next to a bare
Chalice + boto3 + PynamoDB app packaged the same way, measured in the same run.

The bench packages the app as `make package` does (into a temporary directory: `chalicelib.infra.package`, then
`chalice package`, then `chalicelib.infra.deployment_zip`) and keeps Chalice's own zip from before the last step,
which is how the package shipped before it carried bytecode and left awscrt to a layer. Each zip is unpacked into
its own directory; each sample is a fresh interpreter with that directory and the standard library only on its
path (`-S -I`: no site-packages), the standard library's bytecode cached as on Lambda, writing no bytecode (`-B`,
as the read-only code directory allows none), timing its own import in CPU time (which a busy machine disturbs far
less than wall time; interpreter start-up is not counted). The floor imports chalice, boto3 and PynamoDB from the
same directory, so it has exactly the app's bytecode and dependencies (in the layered package: no awscrt, as a bare
app's requirements would not have it). The imports alternate and the medians of ROUNDS samples are compared.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "11"))
STAGE = "dev"
FLOOR = "import boto3, chalice, pynamodb.models; app = chalice.Chalice(app_name='bare')"
DEPLOYD = "import app"
TIMED = (
    "import sys, time, json; sys.path.insert(0, {root!r}); w, c = time.perf_counter(), time.process_time()\n"
    "{code}\n"
    "print(json.dumps([time.perf_counter() - w, time.process_time() - c, 'awscrt' in sys.modules]))"
)


def package(out: Path) -> tuple[Path, Path]:
    """`make package`'s steps into `out`: Chalice's zip as it writes it, and the finished one."""
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    bin_dir = Path(sys.executable).parent
    steps = [
        [sys.executable, "-m", "chalicelib.infra.package", STAGE, str(out)],
        [str(bin_dir / "chalice"), "package", "--stage", STAGE, "--merge-template", str(out / "merge-template.json")]
        + [str(out)],
    ]
    for step in steps:
        subprocess.run(step, cwd=ROOT, env=env, check=True, capture_output=True)
    chalices = out / "chalice-deployment.zip"
    shutil.copy(out / "deployment.zip", chalices)
    subprocess.run(
        [sys.executable, "-m", "chalicelib.infra.deployment_zip", str(out)], cwd=ROOT, check=True, capture_output=True
    )
    return chalices, out / "deployment.zip"


def unpack(package_zip: Path, where: Path) -> Path:
    with zipfile.ZipFile(package_zip) as unpacked:
        unpacked.extractall(where)
    return where


def sample(code: str, root: Path) -> tuple[float, float, bool]:
    """Wall and CPU seconds of `code` in a fresh interpreter importing from `root`; whether awscrt came in."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "AWS_DEFAULT_REGION": "us-east-1",
        "DEPLOYD_STAGE": STAGE,
        "DEPLOYD_RESOURCE_PREFIX": f"deployd-{STAGE}",
    }
    out = subprocess.run(
        [sys.executable, "-S", "-I", "-B", "-c", TIMED.format(root=str(root), code=code)],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    wall, cpu, awscrt = json.loads(out.splitlines()[-1])
    return wall, cpu, awscrt


def measure(root: Path) -> dict[str, tuple[float, float, bool]]:
    """Median CPU and wall milliseconds of the floor and the app imported from `root`."""
    for code in (FLOOR, DEPLOYD):  # warms the file system
        sample(code, root)
    samples: dict[str, list[tuple[float, float, bool]]] = {FLOOR: [], DEPLOYD: []}
    for _ in range(ROUNDS):
        for code, taken in samples.items():
            taken.append(sample(code, root))
    return {
        code: (
            statistics.median(c for _, c, _ in taken) * 1000,
            statistics.median(w for w, _, _ in taken) * 1000,
            any(a for _, _, a in taken),
        )
        for code, taken in samples.items()
    }


def report(label: str, measured: dict[str, tuple[float, float, bool]]) -> None:
    (floor_cpu, floor_wall, floor_crt), (app_cpu, app_wall, app_crt) = measured[FLOOR], measured[DEPLOYD]
    print(f"{label}, median of {ROUNDS} fresh interpreters each: CPU (wall)")
    print(f"  floor: chalice+boto3+pynamodb  {floor_cpu:7.1f} ms ({floor_wall:.1f} ms){' awscrt' if floor_crt else ''}")
    print(f"  deployd app                    {app_cpu:7.1f} ms ({app_wall:.1f} ms){' awscrt' if app_crt else ''}")
    print(f"  deployd / floor                {app_cpu / floor_cpu:7.2f}x  ({app_wall / floor_wall:.2f}x)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="deployd-bench-") as scratch:
        chalices, finished = package(Path(scratch) / "out")
        before = measure(unpack(chalices, Path(scratch) / "chalice"))
        after = measure(unpack(finished, Path(scratch) / "finished"))
    print(f"Cold start of the API function's package (stage {STAGE}), unpacked; standard library bytecode cached")
    report("as Chalice packages it (sources only, awscrt included)", before)
    report("as make package ships it (bytecode, awscrt in a layer the API does not get)", after)
    ratio = after[DEPLOYD][0] / before[DEPLOYD][0]
    print(f"deployd app, shipped / as Chalice packages it: {ratio:.2f}x (goal <= 0.45x; deployd / floor <= 1.10x)")


if __name__ == "__main__":
    main()
