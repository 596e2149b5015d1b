"""Where built sites live and how they are addressed.

Artifacts of a deployment sit under an immutable prefix; a host label names what a URL serves:
`{project}--{org}` is the production site, `d{id}--{project}--{org}` one deployment forever.
Slugs never contain "--", so labels cannot collide. The URL shape comes from settings: on AWS
`https://{label}.<sites domain>/`, in the embedded stack `http://127.0.0.1:<port>/{label}/`.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

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


class OutputRefused(Exception):
    """The build's output breaks a publishing rule (too big, too many files, a hard link leaving the workspace)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class OutputFile(NamedTuple):
    """One regular file of a build's output, as it was when the output was checked."""

    relative: str  # POSIX path below the output directory
    size: int
    device: int
    inode: int
    links: int


def _size(count: int) -> str:
    if count < 1024 * 1024:
        return f"{count} bytes"
    return f"{count / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


def output_over_limits(files: int, total: int, max_files: int, max_bytes: int) -> str | None:
    """Why an output of this many files and bytes is refused, in the same words on every runner; None if it is not."""
    if files > max_files:
        limit = f"the limit is {max_files} files (DEPLOYD_MAX_OUTPUT_FILES)"
        return f"build output has more than {max_files} files; {limit}"
    if total > max_bytes:
        return f"build output is {_size(total)}; the limit is {_size(max_bytes)} (DEPLOYD_MAX_OUTPUT_BYTES)"
    return None


def collect_output(directory: Path, workspace: Path, max_bytes: int, max_files: int) -> list[OutputFile]:
    """The files a build publishes, checked before any is uploaded; raises OutputRefused naming the rule broken.

    One walk with lstat only: symbolic links (to files or directories), devices, sockets and pipes are never
    published, and neither is the checkout's .git. A regular file with more hard links than the workspace
    holds is linked to something outside it (say /etc/passwd) and refuses the whole output.
    """
    files: list[OutputFile] = []
    total = 0
    for folder, subfolders, names in os.walk(directory):  # does not descend into symbolic links
        subfolders[:] = sorted(name for name in subfolders if name != ".git")
        for name in sorted(names):
            if name == ".git":
                continue
            path = os.path.join(folder, name)
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                continue
            relative = Path(path).relative_to(directory).as_posix()
            files.append(OutputFile(relative, info.st_size, info.st_dev, info.st_ino, info.st_nlink))
            total += info.st_size
            if len(files) > max_files:  # stop walking: the answer is known
                raise OutputRefused(str(output_over_limits(len(files), total, max_files, max_bytes)))
    refusal = output_over_limits(len(files), total, max_files, max_bytes)
    if refusal:
        raise OutputRefused(refusal)
    _refuse_links_leaving(files, workspace)
    return files


def _refuse_links_leaving(files: list[OutputFile], workspace: Path) -> None:
    shared = {(item.device, item.inode): item for item in files if item.links > 1}
    if not shared:
        return
    found: Counter[tuple[int, int]] = Counter()
    for folder, _subfolders, names in os.walk(workspace):
        for name in names:
            info = os.lstat(os.path.join(folder, name))
            if (info.st_dev, info.st_ino) in shared:
                found[(info.st_dev, info.st_ino)] += 1
    for key, item in shared.items():
        if found[key] < item.links:
            raise OutputRefused(
                f"build output file {item.relative} is a hard link to a file outside the build's workspace; "
                "nothing was published"
            )


def _open_below(directory: Path, item: OutputFile) -> int:
    """Open the file without following a symbolic link anywhere on its path, and make sure it is still the
    file that was checked (a build's leftovers must not swap it for a link between the check and the upload)."""
    changed = f"build output file {item.relative} changed while it was being published"
    # O_NONBLOCK: a pipe put in the file's place must not hang the upload; it changes nothing for a file.
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
    parts = item.relative.split("/")
    try:
        fd = os.open(directory, flags | os.O_DIRECTORY)
    except OSError as exc:
        raise OutputRefused(changed) from exc
    try:
        for part in parts[:-1]:
            inner = os.open(part, flags | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = inner
        file_fd = os.open(parts[-1], flags, dir_fd=fd)
    except OSError as exc:
        raise OutputRefused(changed) from exc
    finally:
        os.close(fd)
    info = os.fstat(file_fd)
    still = (info.st_dev, info.st_ino, info.st_size) == (item.device, item.inode, item.size)
    if not (stat.S_ISREG(info.st_mode) and still):
        os.close(file_fd)
        raise OutputRefused(changed)
    os.set_blocking(file_fd, True)
    return file_fd


# Every object of a deployment names it in its metadata: S3 answers it as `x-amz-meta-deployd-deployment-id`, which
# CloudFront passes on, so an answer on AWS names the deployment that served it, as the embedded site server's
# X-Deployd-Deployment-Id does (what a promotion's health checks verify: adapters.health_checks).
DEPLOYMENT_METADATA = "deployd-deployment-id"
_ARTIFACT_PREFIX = re.compile(r"deployments/([0-9]+)/")


def artifact_metadata(prefix: str) -> dict[str, str]:
    """The S3 metadata of the objects under a deployment's artifact prefix; none for any other prefix."""
    match = _ARTIFACT_PREFIX.fullmatch(prefix)
    return {DEPLOYMENT_METADATA: match.group(1)} if match else {}


def upload_output(directory: Path, files: list[OutputFile], prefix: str) -> int:
    """Upload the files collect_output checked, below `prefix`, each streamed from disk; returns their number."""
    from boto3.s3.transfer import TransferConfig  # here, not at import: the API functions never upload

    s3 = client("s3")
    bucket = get_settings().resource_name(SITES_BUCKET.logical)
    # Streamed in parts (multipart above the threshold), never a whole file in memory; one file at a time.
    transfer = TransferConfig(use_threads=False)
    metadata = artifact_metadata(prefix)
    for item in files:
        key = prefix + item.relative
        extra: dict[str, Any] = {"ContentType": content_type(key)}
        if metadata:
            extra["Metadata"] = metadata
        with os.fdopen(_open_below(directory, item), "rb") as body:
            s3.upload_fileobj(body, bucket, key, ExtraArgs=extra, Config=transfer)
    return len(files)


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
