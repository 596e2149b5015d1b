"""The buildspec's upload step, run for real: the very post_build command CodeBuild runs (bash, the script
piped into python3) against moto's S3 server, through a presigned POST signed as the build worker signs it,
and then promoted by the code the build-events handler runs.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from chalicelib.adapters import build_output, sites
from chalicelib.adapters.build_output import OutputRefused
from chalicelib.aws import client, reset_clients
from chalicelib.infra.build_upload import FILES, MANIFEST
from chalicelib.infra.buildspec import BUILDSPEC_DOCUMENT, UPLOAD_COMMAND, WORKDIR
from chalicelib.infra.resources import SITES_BUCKET
from chalicelib.settings import get_settings

DEPLOYMENT_ID = 7
OUTPUT = {
    "index.html": b"<h1>hello</h1>\n",
    "assets/app.js": b"console.log('hi')\n",
    "a file with spaces.txt": b"spaces\n",
    "\u00fcmlaut \u2603.css": b"body{}\n",
    'quote"and;semi,colon=@file.txt': b"curl -F would have read this name as options\n",
    "deep/er/nested/page.html": b"<p>deep</p>\n",
}


@pytest.fixture
def s3_server(settings_env: Callable[..., None]) -> Iterator[str]:
    """moto's S3 as a real HTTP server on loopback, with the sites bucket; every client of the code points at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    settings_env(
        AWS_ENDPOINT_URL=endpoint,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_SESSION_TOKEN=None,
        AWS_DEFAULT_REGION="us-east-1",
        DEPLOYD_RESOURCE_PREFIX="deployd-upload-test",
    )
    reset_clients()
    client("s3").create_bucket(Bucket=get_settings().resource_name(SITES_BUCKET.logical))
    try:
        yield endpoint
    finally:
        requests.post(f"{endpoint}/moto-api/reset", timeout=10)
        server.stop()
        reset_clients()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A checkout whose build produced `dist/`, with what must never be published beside the output."""
    dist = tmp_path / "dist"
    for path, body in OUTPUT.items():
        (dist / path).parent.mkdir(parents=True, exist_ok=True)
        (dist / path).write_bytes(body)
    (dist / ".git").mkdir()
    (dist / ".git" / "config").write_text("[core]\n")
    (dist / "link.html").symlink_to(dist / "index.html")  # a symbolic link: not followed
    (dist / "linked-dir").symlink_to(tmp_path)  # nor a linked directory, which would reach the whole checkout
    return tmp_path


def _post_build(workdir: Path, target: build_output.UploadTarget) -> subprocess.CompletedProcess[str]:
    """Run the buildspec's upload command as CodeBuild does, with the variables StartBuild passes."""
    command = BUILDSPEC_DOCUMENT["phases"]["post_build"]["commands"][-1]
    assert UPLOAD_COMMAND in command
    settings = get_settings()
    env = {
        **BUILDSPEC_DOCUMENT["env"]["variables"],  # CodeBuild sets the buildspec's own variables too
        "PATH": os.environ["PATH"],
        "HOME": str(workdir),
        "DEPLOYD_OUTPUT_DIR": "dist",
        "DEPLOYD_UPLOAD_URL": target.url,
        "DEPLOYD_UPLOAD_FIELDS": json.dumps(target.fields),
        "DEPLOYD_UPLOAD_PREFIX": target.prefix,
        "DEPLOYD_MAX_OUTPUT_FILES": str(settings.max_output_files),
        "DEPLOYD_MAX_OUTPUT_BYTES": str(settings.max_output_bytes),
    }
    return subprocess.run(
        ["bash", "-c", command.replace(WORKDIR, str(workdir))],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _keys(prefix: str) -> dict[str, bytes]:
    s3 = client("s3")
    bucket = get_settings().resource_name(SITES_BUCKET.logical)
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return {o["Key"][len(prefix) :]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listed}


def test_the_buildspecs_upload_stages_every_output_file_and_its_manifest_and_promotion_publishes_them(
    s3_server: str, workdir: Path
) -> None:
    # Given a build's upload target, signed as the build worker signs it
    prefix = build_output.staging_prefix(DEPLOYMENT_ID, build_output.new_nonce())
    target = build_output.upload_target(prefix, 600)

    # When the buildspec's upload step runs in the checkout
    ran = _post_build(workdir, target)

    # Then it succeeded, staging every file (names with spaces, quotes, non-ASCII) and the manifest, nothing else
    assert ran.returncode == 0, ran.stderr
    assert "==> Uploaded 6 files" in ran.stdout
    staged = _keys(prefix)
    assert {k[len(FILES) :]: v for k, v in staged.items() if k.startswith(FILES)} == OUTPUT
    manifest = json.loads(staged[MANIFEST])
    assert manifest["file_count"] == 6 and manifest["total_bytes"] == sum(len(b) for b in OUTPUT.values())
    assert set(staged) == {FILES + p for p in OUTPUT} | {MANIFEST}

    # When the build-events handler promotes it
    published = build_output.promote(DEPLOYMENT_ID, prefix)

    # Then the deployment's prefix holds exactly the output, each file with the type the site serves it with
    assert published == 6
    assert _keys(sites.artifact_prefix(DEPLOYMENT_ID)) == OUTPUT
    s3, bucket = client("s3"), get_settings().resource_name(SITES_BUCKET.logical)
    page = s3.head_object(Bucket=bucket, Key=f"{sites.artifact_prefix(DEPLOYMENT_ID)}deep/er/nested/page.html")
    assert page["ContentType"] == "text/html; charset=utf-8"
    style = s3.head_object(Bucket=bucket, Key=f"{sites.artifact_prefix(DEPLOYMENT_ID)}\u00fcmlaut \u2603.css")
    assert style["ContentType"] == "text/css; charset=utf-8"


def test_an_output_over_the_limits_uploads_only_its_manifest_and_promotion_fails_naming_the_limit(
    s3_server: str, workdir: Path, settings_env: Callable[..., None]
) -> None:
    # Given outputs limited to 5 files
    settings_env(DEPLOYD_MAX_OUTPUT_FILES="5")
    prefix = build_output.staging_prefix(DEPLOYMENT_ID, build_output.new_nonce())

    # When the buildspec's upload step runs on an output of 6 files
    ran = _post_build(workdir, build_output.upload_target(prefix, 600))

    # Then it says so and uploads nothing but the manifest
    assert ran.returncode == 0, ran.stderr
    assert "over deployd's limits of 5 files" in ran.stdout
    assert set(_keys(prefix)) == {MANIFEST}
    # And promotion refuses it, naming the limit, and publishes nothing
    refusal = r"^build output has more than 5 files; the limit is 5 files \(DEPLOYD_MAX_OUTPUT_FILES\)$"
    with pytest.raises(OutputRefused, match=refusal):
        build_output.promote(DEPLOYMENT_ID, prefix)
    assert _keys(sites.artifact_prefix(DEPLOYMENT_ID)) == {}


def test_an_upload_s3_refuses_fails_the_step_with_s3s_answer(s3_server: str, workdir: Path) -> None:
    # Given an upload target whose bucket does not exist (as a refused policy or an expired POST, S3 says no)
    prefix = build_output.staging_prefix(DEPLOYMENT_ID, build_output.new_nonce())
    target = build_output.upload_target(prefix, 600)
    gone = build_output.UploadTarget(
        target.url.replace("deployd-upload-test-sites", "no-such-bucket"), target.fields, prefix
    )

    # When the buildspec's upload step runs
    ran = _post_build(workdir, gone)

    # Then the step fails (the build fails in POST_BUILD), saying what S3 answered
    assert ran.returncode != 0
    assert "==> Upload failed: S3 refused" in ran.stderr and "NoSuchBucket" in ran.stderr
