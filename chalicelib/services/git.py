"""Git plumbing through dulwich (no git binary needed, so it runs on Lambda as well as here)."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from chalicelib.errors import InvalidInput, Unprocessable
from chalicelib.settings import get_settings

_SHA = re.compile(r"^[0-9a-f]{40}$")
_REMOTE_SCHEMES = ("https://", "http://", "ssh://", "git://")


@dataclass(frozen=True)
class Commit:
    sha: str
    message: str
    author: str
    author_email: str = ""
    authored_at: str = ""
    ref_type: str = "sha"  # branch, tag or sha: what the resolved name was


def validate_repo_url(repo_url: str) -> str:
    """Accept remote URLs always; file:// URLs and absolute paths only where the platform allows them."""
    url = repo_url.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput("repo_url must not contain control characters", field="repo_url")
    if url in ("file://", "file:///") or url.rstrip("/") in ("", "file:"):
        raise InvalidInput("repo_url must name a repository", field="repo_url")
    if url.startswith(_REMOTE_SCHEMES) or re.match(r"^[\w.-]+@[\w.-]+:", url):
        return url
    if url.startswith("file://") or url.startswith("/"):
        if not get_settings().allow_local_repositories:
            raise InvalidInput("local repositories are not allowed on this platform", field="repo_url")
        return url
    raise InvalidInput(
        "repo_url must be an https://, http://, ssh://, git:// or file:// URL, or an absolute path", field="repo_url"
    )


def _client(repo_url: str) -> tuple[Any, str]:
    from dulwich.client import get_transport_and_path

    return get_transport_and_path(repo_url)


def _refs(repo_url: str) -> dict[bytes, bytes]:
    try:
        client, path = _client(repo_url)
        result = client.get_refs(path)
    except Exception as exc:  # dulwich raises many types: NotGitRepository, HangupException, OSError...
        raise Unprocessable(f"repository {repo_url} cannot be read: {exc.__class__.__name__}: {exc}") from exc
    return dict(getattr(result, "refs", result))


def ref_exists(repo_url: str, ref: str) -> bool:
    """Whether a branch or tag of that name exists now: the refs only, no objects fetched."""
    refs = _refs(repo_url)
    return any(name.encode() in refs for name in (f"refs/heads/{ref}", f"refs/tags/{ref}"))


def resolve(repo_url: str, ref: str) -> Commit:
    """Resolve a branch, tag or full SHA to the commit it names right now, with its message and author."""
    refs = _refs(repo_url)
    sha: bytes | None = None
    ref_type = "sha"
    for candidate, kind in ((f"refs/heads/{ref}", "branch"), (f"refs/tags/{ref}", "tag"), (ref, "branch")):
        sha = refs.get(candidate.encode())
        if sha is not None:
            ref_type = kind
            break
    if sha is None and _SHA.match(ref):
        sha = ref.encode()
    if sha is None:
        raise Unprocessable(f"branch or ref '{ref}' does not exist in {repo_url}", field="branch")
    commit = _fetch_commit(repo_url, sha)
    author = commit.author.decode("utf-8", "replace")
    name, _, email = author.partition(" <")
    authored = datetime.fromtimestamp(commit.author_time, timezone(timedelta(seconds=commit.author_timezone)))
    return Commit(
        sha=commit.id.decode(),
        message=commit.message.decode("utf-8", "replace").strip(),
        author=name,
        author_email=email.rstrip(">"),
        authored_at=authored.isoformat(),
        ref_type=ref_type,
    )


def _fetch_commit(repo_url: str, sha: bytes) -> Any:
    from dulwich.objects import Commit as GitCommit
    from dulwich.objects import Tag
    from dulwich.repo import MemoryRepo

    repo = MemoryRepo()
    try:
        client, path = _client(repo_url)
        client.fetch(path, repo, determine_wants=lambda refs, depth=None: [sha], depth=1)
        obj = repo[sha]
    except Exception as exc:
        raise Unprocessable(f"commit {sha.decode()} cannot be fetched from {repo_url}: {exc}") from exc
    while isinstance(obj, Tag):
        obj = repo[obj.object[1]]
    if not isinstance(obj, GitCommit):
        raise Unprocessable(f"{sha.decode()} in {repo_url} is not a commit", field="branch")
    return obj


def checkout(repo_url: str, sha: str, destination: Path) -> None:
    """Materialise exactly `sha` (not whatever its branch points at now) as a plain directory tree."""
    from dulwich.index import build_index_from_tree
    from dulwich.repo import Repo

    destination.mkdir(parents=True, exist_ok=True)
    repo = Repo.init(str(destination))
    try:
        client, path = _client(repo_url)
        want = sha.encode()
        client.fetch(path, repo, determine_wants=lambda refs, depth=None: [want], depth=1)
        if want not in repo:
            raise Unprocessable(f"commit {sha} is no longer in {repo_url} (was the branch force-pushed?)")
        commit: Any = repo[want]
        build_index_from_tree(str(destination), repo.index_path(), repo.object_store, commit.tree)
        # A branch at the commit, so tools that ask git (describe, rev-parse) work inside the build.
        refs: Any = repo.refs
        refs.set_symbolic_ref(b"HEAD", b"refs/heads/deployd")
        refs[b"refs/heads/deployd"] = want
    finally:
        repo.close()
    os.chmod(destination, 0o755)
