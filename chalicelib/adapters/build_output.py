"""A CodeBuild build's output: the one upload target the build gets, and the promotion of what it staged.

A build runs users' commands, and anything in its container can fetch the CodeBuild role's credentials, so
that role may write nothing of the platform. Its only way to publish is a presigned POST the build worker
(which runs no user code) signs for that build alone: keys under `staging/{deployment id}/{nonce}/`, each
file at most max_output_bytes, valid until the pipeline stops waiting for the build. The nonce is drawn
when the worker claims the deployment and stored with that conditional write, so only the prefix the
worker signed for is ever promoted. After a successful build the build-events handler checks the staged
files against the build's manifest and the limits, copies them server-side into the deployment's artifact
prefix with their Content-Type, and deletes the staging prefix (a lifecycle rule expires anything left).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from chalicelib.adapters import sites
from chalicelib.aws import client, s3_signer
from chalicelib.infra.build_upload import FILES, MANIFEST
from chalicelib.infra.resources import SITES_BUCKET, STAGING_PREFIX
from chalicelib.settings import get_settings

# Copies run in parallel: a Lambda copies a 20,000-file site in about a minute instead of ten.
PARALLEL_COPIES = 16
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class OutputRefused(Exception):
    """The staged output cannot be published; the message is the deployment's error_message."""


class UploadTarget(NamedTuple):
    """A presigned POST: the form's URL and the signed fields every upload must send with its key and file."""

    url: str
    fields: dict[str, str]
    prefix: str


def new_nonce() -> str:
    return secrets.token_hex(16)


def staging_prefix(deployment_id: int, nonce: str) -> str:
    return f"{STAGING_PREFIX}{deployment_id}/{nonce}/"


def _bucket() -> str:
    return get_settings().resource_name(SITES_BUCKET.logical)


def upload_target(prefix: str, expires_in_seconds: int) -> UploadTarget:
    """Sign a POST that can put files under `prefix` only, each at most max_output_bytes, for the given time.

    It is authorized by the signer's own permission (the build worker: PutObject under staging/ only).
    """
    post = s3_signer().generate_presigned_post(
        Bucket=_bucket(),
        Key=prefix + "${filename}",  # a key ending in ${filename} signs ["starts-with", "$key", prefix]
        Conditions=[["content-length-range", 0, get_settings().max_output_bytes]],
        ExpiresIn=expires_in_seconds,
    )
    fields = {name: str(value) for name, value in post["fields"].items() if name != "key"}
    return UploadTarget(str(post["url"]), fields, prefix)


class _Entry(NamedTuple):
    path: str
    size: int
    sha256: str


def _staged(prefix: str, max_files: int) -> dict[str, int]:
    """Key -> size of what is staged under the prefix; stops listing once there are more than the limit allows."""
    found: dict[str, int] = {}
    for page in client("s3").get_paginator("list_objects_v2").paginate(Bucket=_bucket(), Prefix=prefix):
        for item in page.get("Contents", []):
            found[str(item["Key"])] = int(item["Size"])
        if len(found) > max_files + 1:  # the files and the manifest
            break
    return found


def _too_much(files: int, total: int) -> str | None:
    """The refusal of an output of this many files and bytes, in the words a local build's refusal uses."""
    settings = get_settings()
    return sites.output_over_limits(files, total, settings.max_output_files, settings.max_output_bytes)


def _valid_path(path: Any) -> bool:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        return False
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return False
    return all(part not in ("", ".", "..") for part in path.split("/"))


def _read_manifest(prefix: str, staged: dict[str, int]) -> dict[str, Any]:
    key = prefix + MANIFEST
    if key not in staged:
        raise OutputRefused("the build's output manifest is missing: its upload did not finish")
    # A manifest lists at most max_output_files entries of a key (at most 1,024 bytes) and two numbers each.
    if staged[key] > 64 * 1024 + 2048 * get_settings().max_output_files:
        raise OutputRefused("the build's output manifest is too large")
    body = client("s3").get_object(Bucket=_bucket(), Key=key)["Body"].read()
    try:
        manifest = json.loads(body)
    except ValueError:
        manifest = None
    if (
        not isinstance(manifest, dict)
        or not isinstance(manifest.get("file_count"), int)
        or not isinstance(manifest.get("total_bytes"), int)
        or not isinstance(manifest.get("files"), list)
    ):
        raise OutputRefused("the build's output manifest is not readable")
    return manifest


def _entries(manifest: dict[str, Any]) -> list[_Entry]:
    entries = []
    for item in manifest["files"]:
        if not isinstance(item, dict):
            raise OutputRefused("the build's output manifest is not readable")
        path, size, sha256 = item.get("path"), item.get("size"), item.get("sha256")
        if not _valid_path(path) or not isinstance(size, int) or size < 0 or not _SHA256.match(str(sha256)):
            raise OutputRefused(f"the build's output manifest lists an invalid entry: {str(path)[:200]!r}")
        entries.append(_Entry(str(path), size, str(sha256)))
    if len({e.path for e in entries}) != len(entries):
        raise OutputRefused("the build's output manifest lists a file twice")
    if len(entries) != manifest["file_count"] or sum(e.size for e in entries) != manifest["total_bytes"]:
        raise OutputRefused("the build's output manifest does not add up: its upload did not finish")
    return entries


def _mismatch(entries: list[_Entry], files: dict[str, int]) -> str | None:
    listed = {e.path: e.size for e in entries}
    missing = sorted(set(listed) - set(files))
    extra = sorted(set(files) - set(listed))
    resized = sorted(p for p in set(listed) & set(files) if listed[p] != files[p])
    for what, paths in (("missing", missing), ("not in the manifest", extra), ("of another size", resized)):
        if paths:
            shown = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
            return f"the uploaded output does not match the build's manifest: {what}: {shown}"
    return None


def promote(deployment_id: int, prefix: str) -> int:
    """Publish what the build staged under `prefix` as the deployment's artifacts; returns the number of files.

    Raises OutputRefused (nothing published) when the manifest is missing or does not match what is staged,
    when the output is over a limit, or when a copied file's sha256 is not the manifest's.
    """
    settings = get_settings()
    staged = _staged(prefix, settings.max_output_files)
    files = {key[len(prefix + FILES) :]: size for key, size in staged.items() if key.startswith(prefix + FILES)}
    over = _too_much(len(files), sum(files.values()))
    if over:
        raise OutputRefused(over)
    manifest = _read_manifest(prefix, staged)
    declared = _too_much(manifest["file_count"], manifest["total_bytes"])  # the build stopped short of uploading
    if declared:
        raise OutputRefused(declared)
    entries = _entries(manifest)
    mismatch = _mismatch(entries, files)
    if mismatch:
        raise OutputRefused(mismatch)
    if len(staged) != len(files) + 1:
        raise OutputRefused("the uploaded output does not match the build's manifest: files outside its directory")
    destination = sites.artifact_prefix(deployment_id)
    with ThreadPoolExecutor(PARALLEL_COPIES) as pool:
        copied = list(pool.map(lambda e: _copy(prefix, destination, e), entries))
    wrong = [e.path for e, ok in zip(entries, copied, strict=True) if not ok]
    if wrong:
        sites.delete_artifacts(destination)
        raise OutputRefused(f"the uploaded output does not match the build's manifest: sha256 of {wrong[0]} differs")
    return len(entries)


def _copy(prefix: str, destination: str, entry: _Entry) -> bool:
    """Server-side copy with the served Content-Type; True when S3's sha256 of the copy is the manifest's."""
    bucket = _bucket()
    result = client("s3").copy_object(
        Bucket=bucket,
        Key=destination + entry.path,
        CopySource={"Bucket": bucket, "Key": prefix + FILES + entry.path},
        MetadataDirective="REPLACE",
        ContentType=sites.content_type(entry.path),
        Metadata=sites.artifact_metadata(destination),
        ChecksumAlgorithm="SHA256",
    )
    checksum = result.get("CopyObjectResult", {}).get("ChecksumSHA256")
    return bool(checksum == base64.b64encode(bytes.fromhex(entry.sha256)).decode())


def discard(prefix: str) -> None:
    """Delete everything staged under the prefix (the lifecycle rule catches what this misses)."""
    s3 = client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=_bucket(), Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=_bucket(), Delete={"Objects": keys, "Quiet": True})
