"""Cold start as Lambda runs it: the function package, unpacked, imported by a fresh interpreter, next to a bare
Chalice + boto3 + PynamoDB app packaged the same way, measured in the same run; then the same interpreter's first
requests, so that a module loaded late is still paid for.

The bench packages the app as `make package` does (into a temporary directory: `chalicelib.infra.package`, then
`chalice package`, then `chalicelib.infra.deployment_zip`) and keeps Chalice's own zip from before the last step,
which is how the package shipped before it carried bytecode and left awscrt to a layer. Each zip is unpacked into
its own directory; each sample is a fresh interpreter with that directory and the standard library only on its
path (`-S -I`: no site-packages), the standard library's bytecode cached as on Lambda, writing no bytecode (`-B`,
as the read-only code directory allows none), timing in CPU time (which a busy machine disturbs far less than wall
time; interpreter start-up is not counted):

- import: the module the function's handler names (the packaged template's Handler: the API's entry module, the
  build worker's), against the floor's `import boto3, chalice, pynamodb.models` and a bare app;
- first requests (the API): then the handler called as Lambda calls it, with API Gateway's proxy events, for
  GET /healthz and GET one deployment (a deployed one, with an API key) of the embedded stack's DynamoDB (moto,
  started here); the floor's app answers the same two paths, the second with one PynamoDB GetItem of the
  same deployment.

The floor imports from the same directory, so it has exactly the app's bytecode and dependencies (in the layered
package: no awscrt, as a bare app's requirements would not have it). The samples alternate and the medians of
ROUNDS are compared.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.infra.function_resources import API_HANDLER

ROOT = Path(__file__).resolve().parents[1]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "11"))
STAGE = "dev"
API_MODULE, _, API_APP = API_HANDLER.rpartition(".")
BUILD_WORKER_MODULE = "chalicelib.functions.build_worker"
# Run by each sample: `imports` timed, then each of `requests` (API Gateway events) through `handler`, timed too.
TIMED = """
import json, sys, time
sys.path.insert(0, {root!r})
clock = lambda: (time.perf_counter(), time.process_time())
begun = clock()
{imports}
marks = [clock()]
requests = json.loads({requests!r})
for event in requests:
    response = {handler}(event, Context())
    assert response["statusCode"] == 200, response
    marks.append(clock())
print(json.dumps([[w - begun[0], c - begun[1]] for w, c in marks] + ['awscrt' in sys.modules]))
"""
CONTEXT = """
class Context:
    function_name = "bench"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench"
    memory_limit_in_mb = 1024
    aws_request_id = "bench-request"
    log_group_name = "/aws/lambda/bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis():
        return 30000
"""
FLOOR_IMPORTS = "import boto3, chalice, pynamodb.models" + CONTEXT
FLOOR_APP = """
from pynamodb.attributes import NumberAttribute, UnicodeAttribute


class Deployment(pynamodb.models.Model):
    class Meta:
        table_name = {table!r}
        region = "us-east-1"

    id = NumberAttribute(hash_key=True)
    status = UnicodeAttribute()


app = chalice.Chalice(app_name="bare")


@app.route("/healthz")
def healthz():
    return {{"status": "ok"}}


@app.route("/deployments/{{deployment_id}}")
def deployment(deployment_id):
    found = Deployment.get(int(deployment_id))
    return {{"data": {{"id": found.id, "status": found.status}}}}
"""


@dataclass(frozen=True)
class Sample:
    imported: tuple[float, float]  # CPU, wall seconds
    answered: tuple[float, float]  # the same, until the last request was answered
    awscrt: bool


@dataclass(frozen=True)
class Subject:
    """What one kind of sample imports, and the requests it then answers (none: import only)."""

    label: str
    imports: str
    handler: str = ""
    requests: tuple[dict[str, Any], ...] = ()


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
    handlers = {
        resource["Properties"]["Handler"]
        for resource in json.loads((out / "sam.json").read_text())["Resources"].values()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert {API_HANDLER, f"{BUILD_WORKER_MODULE}.build_worker"} <= handlers, handlers
    return chalices, out / "deployment.zip"


def unpack(package_zip: Path, where: Path) -> Path:
    with zipfile.ZipFile(package_zip) as unpacked:
        unpacked.extractall(where)
    return where


def gateway_event(path: str, resource: str, parameters: dict[str, str], headers: dict[str, str]) -> dict[str, Any]:
    """An API Gateway REST proxy event, as Lambda hands it to the API's handler."""
    return {
        "resource": resource,
        "path": path,
        "httpMethod": "GET",
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": parameters or None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "GET",
            "path": f"/api{path}",
            "stage": "api",
            "requestId": str(uuid.uuid4()),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


def route_event(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The event of GET `path` for the app's route that takes it."""
    from chalice.local import RouteMatcher

    from app import app

    matched = RouteMatcher(list(app.routes)).match_route(path)
    return gateway_event(path, matched.route, matched.captured, headers)


def deployed_deployment(workdir: Path) -> tuple[str, dict[str, str], int]:
    """A deployed deployment of a fresh organization in the running embedded stack: its native path, the headers
    of an API key allowed to read it, and its id."""
    from chalice.test import Client

    from app import app
    from chalicelib.models.deployment import DeploymentRepository
    from chalicelib.services import organizations, projects
    from chalicelib.services.inputs import ProjectCreate

    slug = f"cold-{uuid.uuid4().hex[:8]}"
    organizations.create(slug, None, "enterprise")
    token = organizations.create_key(slug, "bench", None).token
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    repo = workdir / "repo"
    repo.mkdir()
    (repo / "index.html").write_text("<h1>cold start</h1>\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "."],
        ["-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit", "-q", "-m", "first"],
    ):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    project = projects.create(slug, ProjectCreate(name="cold", repo_url=str(repo), build_command="true")).project
    path = f"/api/v1/public/projects/{project.id}/deployments"
    with Client(app) as api:
        created = api.http.post(path, headers=headers, body=b'{"branch": "main"}')
    assert created.status_code == 201, created.body
    deployment_id = int(created.json_body["data"]["id"])
    deadline = time.monotonic() + 120
    while DeploymentRepository.get(deployment_id).status != "deployed":
        assert time.monotonic() < deadline, f"deployment {deployment_id} did not deploy"
        time.sleep(0.05)
    return f"{path}/{deployment_id}", {"Authorization": headers["Authorization"]}, deployment_id


def sample(subject: Subject, root: Path) -> Sample:
    """One fresh interpreter importing (and answering) `subject` from `root`."""
    variables = ("PATH", "AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")
    env = {name: os.environ[name] for name in variables if name in os.environ}
    env.update({k: v for k, v in os.environ.items() if k.startswith("DEPLOYD_")})
    env["AWS_DEFAULT_REGION"] = "us-east-1"  # the embedded stack's resource names and endpoint are kept
    code = TIMED.format(
        root=str(root),
        imports=subject.imports,
        requests=json.dumps(list(subject.requests)),
        handler=subject.handler or "None",
    )
    done = subprocess.run(
        [sys.executable, "-S", "-I", "-B", "-c", code], cwd=root, env=env, check=False, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{subject.label} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    *marks, awscrt = json.loads(done.stdout.splitlines()[-1])
    (import_wall, import_cpu), (last_wall, last_cpu) = marks[0], marks[-1]
    return Sample((import_cpu, import_wall), (last_cpu, last_wall), awscrt)


def measure(subjects: list[Subject], root: Path) -> dict[str, Sample]:
    """Per subject, the median CPU and wall seconds of ROUNDS samples, taken in turn."""
    for subject in subjects:  # warms the file system
        sample(subject, root)
    taken: dict[str, list[Sample]] = {s.label: [] for s in subjects}
    for _ in range(ROUNDS):
        for subject in subjects:
            taken[subject.label].append(sample(subject, root))
    medians = {}
    for label, samples in taken.items():
        medians[label] = Sample(
            (statistics.median(s.imported[0] for s in samples), statistics.median(s.imported[1] for s in samples)),
            (statistics.median(s.answered[0] for s in samples), statistics.median(s.answered[1] for s in samples)),
            any(s.awscrt for s in samples),
        )
    return medians


def ms(pair: tuple[float, float]) -> str:
    return f"{pair[0] * 1000:7.1f} ms ({pair[1] * 1000:.1f} ms)"


def ratio(a: tuple[float, float], b: tuple[float, float]) -> str:
    return f"{a[0] / b[0]:7.2f}x  ({a[1] / b[1]:.2f}x)"


def subjects(deployment_path: str, headers: dict[str, str], deployment_id: int, table: str) -> list[Subject]:
    healthz = route_event("/healthz", {})
    floor_requests = (
        gateway_event("/healthz", "/healthz", {}, {}),
        gateway_event(
            f"/deployments/{deployment_id}", "/deployments/{deployment_id}", {"deployment_id": str(deployment_id)}, {}
        ),
    )
    return [
        Subject("floor", FLOOR_IMPORTS + FLOOR_APP.format(table=table), "app", floor_requests),
        Subject(
            "api",
            f"import {API_MODULE}" + CONTEXT,
            f"{API_MODULE}.{API_APP}",
            (healthz, route_event(deployment_path, headers)),
        ),
        Subject("build worker", f"import {BUILD_WORKER_MODULE}"),
    ]


def report(label: str, measured: dict[str, Sample]) -> None:
    floor, api, worker = measured["floor"], measured["api"], measured["build worker"]
    crt = {name: " awscrt" if sample.awscrt else "" for name, sample in measured.items()}
    print(f"{label}, median of {ROUNDS} fresh interpreters each: CPU (wall)")
    rows = [
        ("import: floor (chalice, boto3, pynamodb, a bare app)", ms(floor.imported) + crt["floor"]),
        (f"import: API handler ({API_MODULE})", ms(api.imported) + crt["api"]),
        ("  API / floor", ratio(api.imported, floor.imported)),
        (f"import: build worker ({BUILD_WORKER_MODULE})", ms(worker.imported) + crt["build worker"]),
        ("  build worker / floor", ratio(worker.imported, floor.imported)),
        ("import + GET /healthz + GET deployment: floor", ms(floor.answered)),
        ("import + GET /healthz + GET deployment: API", ms(api.answered)),
        ("  API / floor", ratio(api.answered, floor.answered)),
    ]
    for name, value in rows:
        print(f"  {name:<56} {value}")


def main() -> None:
    from chalicelib.infra.resources import DEPLOYMENTS
    from chalicelib.local.stack import EmbeddedStack, StackConfig, free_port
    from chalicelib.settings import get_settings

    with tempfile.TemporaryDirectory(prefix="deployd-bench-") as scratch:
        chalices, finished = package(Path(scratch) / "out")
        before_root = unpack(chalices, Path(scratch) / "chalice")
        after_root = unpack(finished, Path(scratch) / "finished")
        stack = EmbeddedStack(StackConfig(api_port=free_port(), sites_port=free_port(), build_workers=1))
        stack.start()
        try:
            path, headers, deployment_id = deployed_deployment(Path(scratch))
            table = get_settings().resource_name(DEPLOYMENTS.logical)
            measured = subjects(path, headers, deployment_id, table)
            before = measure(measured, before_root)
            after = measure(measured, after_root)
        finally:
            stack.stop()
    print(f"Cold start of the functions' package (stage {STAGE}), unpacked; standard library bytecode cached")
    report("as Chalice packages it (sources only, awscrt included)", before)
    report("as make package ships it (bytecode, awscrt in a layer the API does not get)", after)
    shipped = after["api"].imported[0] / before["api"].imported[0]
    goal = after["api"].imported[0] / after["floor"].imported[0]
    print(
        f"API import, shipped / as Chalice packages it: {shipped:.2f}x (goal <= 0.45x); "
        f"shipped / floor: {goal:.2f}x (goal <= 1.10x)"
    )


if __name__ == "__main__":
    main()
