"""Git plumbing through dulwich (no git binary needed, so it runs on Lambda as well as here).

Every step that reads a repository runs in a process of its own (adapters.git_remote) under a time limit:
settings.git_timeout_seconds when a deployment is created, the clone's own limit inside a build. Only
public addresses are used unless settings.allow_private_addresses (adapters.addresses).
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

from chalicelib.adapters import addresses
from chalicelib.errors import InvalidInput, Unprocessable
from chalicelib.observability import logger
from chalicelib.settings import get_settings

_REMOTE_SCHEMES = ("https://", "http://", "ssh://", "git://")


class Commit(NamedTuple):
    sha: str
    message: str
    author: str
    author_email: str = ""
    authored_at: str = ""
    ref_type: str = "sha"  # branch, tag or sha: what the resolved name was


def _is_remote(url: str) -> bool:
    return url.startswith(_REMOTE_SCHEMES) or re.match(r"^[\w.-]+@[\w.-]+:", url) is not None


def validate_repo_url(repo_url: str) -> str:
    """Accept remote URLs always; file:// URLs and absolute paths only where the platform allows them."""
    url = repo_url.strip()
    if any(ord(c) < 32 or ord(c) == 127 for c in url):
        raise InvalidInput("repo_url must not contain control characters", field="repo_url")
    if url in ("file://", "file:///") or url.rstrip("/") in ("", "file:"):
        raise InvalidInput("repo_url must name a repository", field="repo_url")
    if _is_remote(url):
        return addresses.ensure_public_url(url, field="repo_url")
    if url.startswith("file://") or url.startswith("/"):
        if not get_settings().allow_local_repositories:
            raise InvalidInput("local repositories are not allowed on this platform", field="repo_url")
        return url
    raise InvalidInput(
        "repo_url must be an https://, http://, ssh://, git:// or file:// URL, or an absolute path", field="repo_url"
    )


class RepositoryUnavailable(Unprocessable):
    """A network step against the repository failed; `reason` is one of git_remote.REASONS or "timed_out"."""

    def __init__(self, message: str, *, reason: str, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.reason = reason


class StepStopped(Exception):
    """The caller asked a running step to stop (the build was cancelled)."""


# What a caller is told, per reason: plain words, never the exception (its detail is in the server's log).
_REASON_TEXT = {
    "unreachable": "cannot be reached",
    "not_found": "was not found or is not a git repository",
    "auth": "requires authentication (deployd clones public repositories only)",
    "non_public": "points at a loopback, private, link-local or reserved address, which this platform does not use",
    "unreadable": "cannot be read as a git repository",
}
_POLL_SECONDS = 0.05
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def display_url(repo_url: str) -> str:
    """The URL without any user or password in it, for messages and logs."""
    try:
        parts = urlsplit(repo_url)
    except ValueError:  # malformed (an unclosed IPv6 bracket): nothing to strip that could be found
        return repo_url
    if "://" not in repo_url or "@" not in parts.netloc:
        return repo_url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _remote(
    operation: str,
    repo_url: str,
    timeout: float,
    *,
    stop: Callable[[], bool] | None = None,
    **fields: str,
) -> Any:
    """Run one network step in a git_remote process, killed once `timeout` seconds pass, or as soon as
    `stop()` is true."""
    shown = display_url(repo_url)
    allow_private = get_settings().allow_private_addresses
    try:
        if _is_remote(repo_url):  # local repositories are governed by settings.allow_local_repositories
            addresses.ensure_public_url(repo_url, field="repo_url", allow_private=allow_private)
    except addresses.NonPublicAddress as exc:
        raise RepositoryUnavailable(f"repository {shown} {_REASON_TEXT['non_public']}", reason="non_public") from exc
    request = json.dumps({"operation": operation, "url": repo_url, "allow_private": allow_private, **fields})
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.adapters.git_remote"],
        cwd=_PACKAGE_ROOT,
        # Only what Python needs to find dulwich: none of the platform's credentials or settings.
        env={"PATH": os.environ.get("PATH", os.defpath), "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # a group of its own: killing it also ends an ssh it started
    )
    deadline = time.monotonic() + timeout
    # The request goes down the pipe before any wait, and the first communicate closes it. Handing it to
    # communicate(request, timeout=...) instead loses it whenever that first wait ends before its first write (a
    # thread kept from the CPU or the GIL for _POLL_SECONDS, as on a loaded machine): a retry passes no input,
    # so the process waits for its request until the step times out. The helper reads all of stdin before
    # writing anything, so this write cannot block on it.
    assert process.stdin is not None
    try:
        process.stdin.write(request)
        process.stdin.flush()
    except BrokenPipeError:
        pass  # the process is gone already: communicate collects what it said
    while True:
        try:
            out, err = process.communicate(timeout=_POLL_SECONDS)
            break
        except subprocess.TimeoutExpired:
            pass
        timed_out = time.monotonic() >= deadline
        if timed_out or (stop is not None and stop()):
            _kill_group(process)
            if timed_out:
                logger.warning("git step timed out", extra={"operation": operation, "repo_url": shown})
                raise RepositoryUnavailable(
                    f"repository {shown} did not answer within {_seconds(timeout)}", reason="timed_out"
                )
            raise StepStopped(operation)
    try:
        answer = json.loads(out)
    except ValueError:
        answer = {"error": "unreadable"}
    if "error" in answer:
        reason = str(answer["error"])
        logger.warning(
            "git step failed",
            extra={"operation": operation, "repo_url": shown, "reason": reason, "detail": err[-4000:]},
        )
        raise RepositoryUnavailable(
            f"repository {shown} {_REASON_TEXT.get(reason, _REASON_TEXT['unreadable'])}", reason=reason
        )
    return answer


def _seconds(count: float) -> str:
    return "1 second" if count == 1 else f"{count:g} seconds"


def _kill_group(process: subprocess.Popen[str]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.communicate()


def _refs(repo_url: str) -> dict[bytes, bytes]:
    answer = _remote("refs", repo_url, get_settings().git_timeout_seconds)
    return {name.encode("utf-8", "surrogateescape"): sha.encode() for name, sha in answer["refs"].items()}


def ref_exists(repo_url: str, ref: str) -> bool:
    """Whether a branch or tag of that name exists now: the refs only, no objects fetched."""
    refs = _refs(repo_url)
    return any(name.encode() in refs for name in (f"refs/heads/{ref}", f"refs/tags/{ref}"))


def resolve(repo_url: str, ref: str) -> Commit:
    """Resolve a branch, tag or full SHA to the commit it names right now, with its message and author.
    Reading the refs and fetching the commit are one step, within one time limit (DEPLOYD_GIT_TIMEOUT_SECONDS)."""
    from dulwich.objects import Commit as GitCommit

    shown = display_url(repo_url)
    try:
        answer = _remote("resolve", repo_url, get_settings().git_timeout_seconds, ref=ref)
    except RepositoryUnavailable as exc:
        if exc.reason == "no_ref":
            raise Unprocessable(f"branch or ref '{ref}' does not exist in {shown}", field="branch") from exc
        if exc.reason == "missing_commit":
            raise Unprocessable(f"commit {ref} was not found in {shown}") from exc
        if exc.reason == "not_commit":
            raise Unprocessable(f"{ref} in {shown} is not a commit", field="branch") from exc
        raise
    commit: Any = GitCommit.from_raw_string(GitCommit.type_num, base64.b64decode(answer["raw"]))
    author = commit.author.decode("utf-8", "replace")
    name, _, email = author.partition(" <")
    authored = datetime.fromtimestamp(commit.author_time, timezone(timedelta(seconds=commit.author_timezone)))
    return Commit(
        sha=commit.id.decode(),
        message=commit.message.decode("utf-8", "replace").strip(),
        author=name,
        author_email=email.rstrip(">"),
        authored_at=authored.isoformat(),
        ref_type=str(answer["ref_type"]),
    )


def checkout(
    repo_url: str, sha: str, destination: Path, timeout: float, stop: Callable[[], bool] | None = None
) -> None:
    """Materialise exactly `sha` (not whatever its branch points at now) as a plain directory tree, within
    `timeout` seconds; `stop()` returning true ends it early (StepStopped)."""
    try:
        _remote("checkout", repo_url, timeout, stop=stop, sha=sha, destination=str(destination))
    except RepositoryUnavailable as exc:
        if exc.reason == "missing_commit":
            raise RepositoryUnavailable(
                f"commit {sha} is no longer in {display_url(repo_url)} (was the branch force-pushed?)",
                reason=exc.reason,
            ) from exc
        raise
