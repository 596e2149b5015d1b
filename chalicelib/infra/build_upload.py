"""Uploads a CodeBuild build's output through the presigned POST deployd signed for this one build.

The buildspec runs it in post_build (`python3 - <output dir>`, the source piped in), so it uses the standard
library only and runs on any python3 from 3.8 up. Every file under the directory, except .git and symbolic
links, goes to `<prefix>files/<relative path>`; the manifest (path, size and sha256 of each file, with the
count and the total) goes last, to `<prefix>manifest.json`: the build-events handler promotes nothing without
it. An output over deployd's limits uploads only its manifest (counts, no files), and the deployment fails
saying which limit. The POST is the build's only write: its policy pins the key prefix, the size of one file
and the expiry, so this script cannot put anything anywhere else, nor can the build command.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

CHUNK = 1024 * 1024
ATTEMPTS = 4
PARALLEL_UPLOADS = 8
MANIFEST = "manifest.json"
FILES = "files/"


class UploadFailed(Exception):
    pass


def output_files(directory: str) -> list[tuple[str, str]]:
    """(path relative to the directory, with '/', and the file's own path) of every regular file, sorted."""
    found = []
    for root, dirs, files in os.walk(directory):  # a symlinked directory is listed but never entered
        dirs[:] = [d for d in dirs if d != ".git" and not os.path.islink(os.path.join(root, d))]
        for name in files:
            path = os.path.join(root, name)
            if name == ".git" or os.path.islink(path) or not os.path.isfile(path):
                continue
            relative = os.path.relpath(path, directory).replace(os.sep, "/")
            try:
                relative.encode("utf-8")
            except UnicodeEncodeError:
                raise UploadFailed(f"file name {relative!r} is not UTF-8: S3 keys must be") from None
            found.append((relative, path))
    return sorted(found)


def describe(path: str) -> tuple[int, str]:
    """(size, sha256 hex) of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _part(boundary: str, name: str, value: str) -> bytes:
    return f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def post(url: str, fields: dict[str, str], key: str, path: str | None, data: bytes = b"") -> None:
    """One POST of the form S3 expects: the signed fields, the key, then the file (streamed from `path`)."""
    boundary = uuid.uuid4().hex
    head = b"".join(_part(boundary, name, value) for name, value in {**fields, "key": key}.items())
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = os.path.getsize(path) if path is not None else len(data)

    def body() -> Iterator[bytes]:
        yield head
        if path is None:
            yield data
        else:
            with open(path, "rb") as handle:
                yield from iter(lambda: handle.read(CHUNK), b"")
        yield tail

    headers = {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(len(head) + size + len(tail)),
    }
    for attempt in range(1, ATTEMPTS + 1):
        request = urllib.request.Request(url, data=body(), headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=300) as response:
                response.read()
            return
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")[:500]
            if exc.code < 500 or attempt == ATTEMPTS:  # S3 refused it (policy, expiry, size): retrying won't help
                raise UploadFailed(f"S3 refused {key} (HTTP {exc.code}): {detail}") from None
        except (urllib.error.URLError, OSError) as exc:
            if attempt == ATTEMPTS:
                raise UploadFailed(f"could not upload {key}: {exc}") from None
        time.sleep(2**attempt)


def upload(directory: str, url: str, fields: dict[str, str], prefix: str, max_files: int, max_bytes: int) -> dict:
    """Upload the directory's files, then the manifest; returns the manifest."""
    files = output_files(directory)
    total = sum(os.path.getsize(path) for _, path in files)
    manifest: dict = {"version": 1, "file_count": len(files), "total_bytes": total, "files": []}
    if len(files) > max_files or total > max_bytes:
        print(
            f"==> The output has {len(files)} files, {total} bytes: over deployd's limits of {max_files} files "
            f"and {max_bytes} bytes. Nothing is uploaded.",
            flush=True,
        )
    else:

        def one(item: tuple[str, str]) -> dict:
            relative, path = item
            size, sha256 = describe(path)
            post(url, fields, prefix + FILES + relative, path)
            return {"path": relative, "size": size, "sha256": sha256}

        with ThreadPoolExecutor(PARALLEL_UPLOADS) as pool:
            manifest["files"] = list(pool.map(one, files))
        manifest["total_bytes"] = sum(entry["size"] for entry in manifest["files"])
        print(f"==> Uploaded {len(files)} files, {manifest['total_bytes']} bytes", flush=True)
    post(url, fields, prefix + MANIFEST, None, json.dumps(manifest).encode())
    return manifest


def main(argv: list[str]) -> int:
    env = os.environ
    try:
        upload(
            argv[1] if len(argv) > 1 else ".",
            env["DEPLOYD_UPLOAD_URL"],
            json.loads(env["DEPLOYD_UPLOAD_FIELDS"]),
            env["DEPLOYD_UPLOAD_PREFIX"],
            int(env["DEPLOYD_MAX_OUTPUT_FILES"]),
            int(env["DEPLOYD_MAX_OUTPUT_BYTES"]),
        )
    except UploadFailed as exc:
        print(f"==> Upload failed: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
