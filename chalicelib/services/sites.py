"""Where built sites live and how they are addressed.

Artifacts of a deployment sit under an immutable prefix; a host label names what a URL serves:
`{project}--{org}` is the production site, `d{id}--{project}--{org}` one deployment forever.
Slugs never contain "--", so labels cannot collide. The URL shape comes from settings: on AWS
`https://{label}.<sites domain>/`, in the embedded stack `http://127.0.0.1:<port>/{label}/`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from botocore.exceptions import ClientError

from chalicelib.aws import client
from chalicelib.infra.resources import SITES_BUCKET
from chalicelib.settings import get_settings

if TYPE_CHECKING:
    from botocore.response import StreamingBody


def production_label(project_slug: str, org_slug: str) -> str:
    return f"{project_slug}--{org_slug}"


def deployment_label(deployment_id: int, project_slug: str, org_slug: str) -> str:
    return f"d{deployment_id}--{project_slug}--{org_slug}"


PREVIEW_PREFIX = "preview/"


def preview_environment(branch: str) -> str:
    """The environment a branch's previews deploy to."""
    return f"{PREVIEW_PREFIX}{branch}"


def preview_label(project_slug: str, org_slug: str, branch: str) -> str:
    """`{project}--{org}--git--{branch}`: four parts, so it never collides with the two- and three-part
    labels. A branch name that is not already a clean slug gets a short hash, so two branches never share one."""
    slug = re.sub(r"[^a-z0-9]+", "-", branch.lower()).strip("-")[:40].strip("-") or "branch"
    if slug != branch:
        slug = f"{slug}-{hashlib.sha256(branch.encode()).hexdigest()[:6]}"
    return f"{project_slug}--{org_slug}--git--{slug}"


def environment_label(project_slug: str, org_slug: str, environment: str) -> str | None:
    """The host label an environment's URL serves, or None for environments without a URL of their own."""
    if environment == "production":
        return production_label(project_slug, org_slug)
    if environment.startswith(PREVIEW_PREFIX):
        return preview_label(project_slug, org_slug, environment[len(PREVIEW_PREFIX) :])
    return None


def url_for(label: str) -> str:
    return get_settings().site_url(label)


def artifact_prefix(deployment_id: int) -> str:
    return f"deployments/{deployment_id}/"


_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".wasm": "application/wasm",
    ".xml": "application/xml",
    ".woff2": "font/woff2",
}


def content_type(path: str) -> str:
    return _CONTENT_TYPES.get(Path(path).suffix.lower(), "application/octet-stream")


def upload_directory(directory: Path, prefix: str) -> int:
    """Upload every file under `directory` (except .git) below `prefix`; returns the number of files."""
    s3 = client("s3")
    bucket = get_settings().resource_name(SITES_BUCKET.logical)
    count = 0
    for path in sorted(p for p in directory.rglob("*") if p.is_file() and not p.is_symlink()):
        relative = path.relative_to(directory)
        if ".git" in relative.parts:  # the checkout's repository metadata is never published
            continue
        key = prefix + relative.as_posix()
        with path.open("rb") as body:
            s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type(key))
        count += 1
    return count


STREAM_CHUNK_BYTES = 64 * 1024


@dataclass
class StoredObject:
    """An object of the sites bucket opened for reading. Its body comes from S3 chunk by chunk, so serving a
    large file holds one chunk in memory, not the file."""

    content_type: str
    content_length: int
    body: StreamingBody

    def chunks(self) -> Iterator[bytes]:
        return cast(Iterator[bytes], self.body.iter_chunks(STREAM_CHUNK_BYTES))

    def close(self) -> None:
        self.body.close()


def open_object(key: str) -> StoredObject | None:
    """The object at `key`, opened (the caller closes it), or None when there is none."""
    s3 = client("s3")
    bucket = get_settings().resource_name(SITES_BUCKET.logical)
    try:
        obj = s3.get_object(Bucket=bucket, Key=key)
    except s3.exceptions.NoSuchKey:
        return None
    except ClientError as exc:  # a key S3 cannot even look up answers a bare 404
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 404:
            return None
        raise
    return StoredObject(obj.get("ContentType") or content_type(key), int(obj["ContentLength"]), obj["Body"])


def delete_artifacts(prefix: str) -> int:
    """Delete every object under a deployment's artifact prefix; returns how many were deleted."""
    s3 = client("s3")
    bucket = get_settings().resource_name(SITES_BUCKET.logical)
    deleted = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            deleted += len(keys)
    return deleted
