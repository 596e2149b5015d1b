"""The network half of adapters.git, run as its own short-lived process: `python -m chalicelib.adapters.git_remote`.

dulwich can bound a silent server (socket and urllib3 timeouts) but not a server that trickles a byte a
second, and a thread stuck in a read cannot be stopped. A process can: adapters.git starts this one per
network step, and kills it (its whole process group) when the step's time limit passes or the build is
cancelled. Being a process of its own also lets it check every address it connects to (see `main`).

It reads one JSON request on stdin and writes one JSON answer on stdout: the result, or `{"error": reason}`
with one of REASONS; the detail goes to stderr, which adapters.git logs and never shows to the caller.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from chalicelib.adapters import addresses

REASONS = ("unreachable", "not_found", "auth", "non_public", "no_ref", "missing_commit", "not_commit", "unreadable")
_SHA = re.compile(r"^[0-9a-f]{40}$")


class StepFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _client(url: str) -> tuple[Any, str]:
    from dulwich.client import get_transport_and_path

    return get_transport_and_path(url)


def refs(url: str) -> dict[str, Any]:
    client, path = _client(url)
    result = client.get_refs(path)
    found = dict(getattr(result, "refs", result))
    # Ref names are bytes; surrogateescape carries any that are not UTF-8 through JSON and back.
    return {"refs": {name.decode("utf-8", "surrogateescape"): sha.decode() for name, sha in found.items() if sha}}


def pick(found: dict[str, str], ref: str) -> tuple[str, str] | None:
    """The commit a branch, tag or full SHA names among the advertised refs, and what kind of name it was."""
    for candidate, kind in ((f"refs/heads/{ref}", "branch"), (f"refs/tags/{ref}", "tag"), (ref, "branch")):
        if candidate in found:
            return found[candidate], kind
    return (ref, "sha") if _SHA.match(ref) else None


def resolve(url: str, ref: str) -> dict[str, Any]:
    """The refs, then the commit `ref` names: one process and one time limit for both steps of a trigger."""
    picked = pick(refs(url)["refs"], ref)
    if picked is None:
        raise StepFailed("no_ref")
    sha, ref_type = picked
    return {**commit(url, sha), "ref_type": ref_type}


def commit(url: str, sha: str) -> dict[str, Any]:
    """The raw commit `sha` names (a tag is followed to its commit), fetched at depth 1 into memory."""
    from dulwich.objects import Commit, Tag
    from dulwich.repo import MemoryRepo

    repo = MemoryRepo()
    want = sha.encode()
    client, path = _client(url)
    client.fetch(path, repo, determine_wants=lambda refs, depth=None: [want], depth=1)
    if want not in repo:
        raise StepFailed("missing_commit")
    obj = repo[want]
    while isinstance(obj, Tag):
        obj = repo[obj.object[1]]
    if not isinstance(obj, Commit):
        raise StepFailed("not_commit")
    return {"raw": base64.b64encode(obj.as_raw_string()).decode(), "sha": obj.id.decode()}


def checkout(url: str, sha: str, destination: str) -> dict[str, Any]:
    """Materialise exactly `sha` (not whatever its branch points at now) as a plain directory tree."""
    from dulwich.index import build_index_from_tree
    from dulwich.repo import Repo

    target = Path(destination)
    target.mkdir(parents=True, exist_ok=True)
    repo = Repo.init(str(target))
    try:
        client, path = _client(url)
        want = sha.encode()
        client.fetch(path, repo, determine_wants=lambda refs, depth=None: [want], depth=1)
        if want not in repo:
            raise StepFailed("missing_commit")
        found: Any = repo[want]
        build_index_from_tree(str(target), repo.index_path(), repo.object_store, found.tree)
        # A branch at the commit, so tools that ask git (describe, rev-parse) work inside the build.
        refs: Any = repo.refs
        refs.set_symbolic_ref(b"HEAD", b"refs/heads/deployd")
        refs[b"refs/heads/deployd"] = want
    finally:
        repo.close()
    os.chmod(target, 0o755)
    return {}


def reason_for(exc: BaseException) -> str:
    """One of a few plain reasons for a failure; the exception itself is for the operator's log only."""
    from dulwich.client import HTTPProxyUnauthorized, HTTPUnauthorized
    from dulwich.errors import GitProtocolError, HangupException, NotGitRepository

    if isinstance(exc, StepFailed):
        return exc.reason
    if isinstance(exc, addresses.NonPublicAddress):
        return "non_public"
    if isinstance(exc, HTTPUnauthorized | HTTPProxyUnauthorized):
        return "auth"
    if isinstance(exc, NotGitRepository | FileNotFoundError | NotADirectoryError):
        return "not_found"
    if isinstance(exc, HangupException | OSError):  # refused, reset, unresolvable name, no route
        return "unreachable"
    if isinstance(exc, GitProtocolError) and exc.__cause__ is not None:  # dulwich wraps the HTTP client's errors
        return reason_for(exc.__cause__)
    if isinstance(exc, GitProtocolError):
        text = str(exc).lower()
        if any(hint in text for hint in ("not found", "not exported", "does not appear", "no such")):
            return "not_found"
        return "unreadable"
    try:
        from urllib3.exceptions import HTTPError
    except ImportError:  # pragma: no cover - urllib3 comes with dulwich's HTTP support
        return "unreadable"
    return "unreachable" if isinstance(exc, HTTPError) else "unreadable"


def main() -> int:
    request = json.loads(sys.stdin.read())
    if not request.get("allow_private"):
        # This process does nothing but this one step: every connection it makes, through any transport and
        # after any redirect, asks getaddrinfo first, so checking there covers them all.
        socket.getaddrinfo = addresses.public_only_getaddrinfo(socket.getaddrinfo)  # type: ignore[assignment]
    operation = request["operation"]
    try:
        if operation == "refs":
            answer = refs(request["url"])
        elif operation == "resolve":
            answer = resolve(request["url"], request["ref"])
        elif operation == "checkout":
            answer = checkout(request["url"], request["sha"], request["destination"])
        else:
            raise ValueError(f"unknown operation {operation!r}")
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        answer = {"error": reason_for(exc)}
    sys.stdout.write(json.dumps(answer))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
