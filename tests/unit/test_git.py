"""Git plumbing (dulwich) against real repositories made with the git CLI."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.adapters import git
from chalicelib.errors import InvalidInput, Unprocessable


def test_resolving_a_branch_names_its_head_commit_with_message_and_author(git_repo: Any) -> None:
    # Given a repository whose main branch moved on to a second commit
    repo = git_repo({"index.html": "v1"}, message="first version")
    head = repo.commit({"index.html": "v2"}, message="second version\n\nwith a body")

    # When the branch is resolved
    commit = git.resolve(str(repo.path), "main")

    # Then it names the branch's current commit, its message and its author's name
    assert commit.sha == head
    assert commit.message == "second version\n\nwith a body"
    assert commit.author == "Ada Lovelace"


class _DescheduledPopen(subprocess.Popen[str]):
    """A Popen whose first wait finds its time already spent: what a thread kept off the CPU (or the GIL) for
    longer than the wait sees on a loaded machine."""

    _first_wait = True

    def _remaining_time(self, endtime: float | None) -> float | None:
        if self._first_wait and endtime is not None:
            self._first_wait = False
            return -1.0
        return super()._remaining_time(endtime)  # type: ignore[misc]


def test_a_step_gets_its_answer_even_when_its_first_wait_ends_before_the_request_is_written(
    git_repo: Any, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a repository, a 2-second limit, and a helper process whose first wait ends before it has done anything
    # (on 8ffdcbf and until now the request was then never written, and the step timed out: e2e runs on a
    # loaded machine saw "did not answer within 10 seconds" for a local repository)
    settings_env(DEPLOYD_GIT_TIMEOUT_SECONDS="2")
    repo = git_repo({"index.html": "v1"}, message="first version")
    monkeypatch.setattr(subprocess, "Popen", _DescheduledPopen)

    # When the branch is resolved
    commit = git.resolve(str(repo.path), "main")

    # Then the helper got its request and answered
    assert commit.sha == repo.head
    assert commit.message == "first version"


@pytest.mark.parametrize("annotated", [False, True], ids=["lightweight", "annotated"])
def test_resolving_a_tag_names_the_tagged_commit(git_repo: Any, annotated: bool) -> None:
    # Given a tag on the first commit, and a branch that moved on since
    repo = git_repo({"index.html": "v1"}, message="release one")
    tagged = repo.head
    repo.git("tag", *(["-a", "-m", "release 1"] if annotated else []), "v1.0")
    repo.commit({"index.html": "v2"})

    # When the tag is resolved
    commit = git.resolve(str(repo.path), "v1.0")

    # Then it names the tagged commit (not the tag object) and its message
    assert commit.sha == tagged
    assert commit.message == "release one"


def test_resolving_a_full_sha_names_that_commit(git_repo: Any) -> None:
    # Given a repository with an older commit
    repo = git_repo({"a.txt": "1"}, message="old one")
    old = repo.head
    repo.commit({"a.txt": "2"})

    # When the older commit's sha is resolved, through a file:// URL
    commit = git.resolve(f"file://{repo.path}", old)

    # Then it is that commit
    assert (commit.sha, commit.message) == (old, "old one")


def test_resolving_a_branch_that_does_not_exist_is_unprocessable(git_repo: Any) -> None:
    # Given a repository with only a main branch
    repo = git_repo()

    # When an unknown branch is resolved
    with pytest.raises(Unprocessable) as raised:
        git.resolve(str(repo.path), "no-such-branch")

    # Then the error names the branch and points at the branch field
    assert "no-such-branch" in raised.value.message
    assert raised.value.field == "branch"


@pytest.mark.parametrize("kind", ["missing", "not-a-repository"])
def test_resolving_in_an_unreadable_repository_is_unprocessable(tmp_path: Path, kind: str) -> None:
    # Given a path that is not a git repository
    path = tmp_path / kind
    if kind == "not-a-repository":
        path.mkdir()
        (path / "file.txt").write_text("just a directory")

    # When a branch is resolved there
    with pytest.raises(Unprocessable) as raised:
        git.resolve(str(path), "main")

    # Then the error names the repository
    assert str(path) in raised.value.message


def test_checkout_materialises_the_requested_commit_even_after_its_branch_moved_on(
    git_repo: Any, tmp_path: Path
) -> None:
    # Given a commit recorded for a deployment, after which the branch moved on
    repo = git_repo({"index.html": "version one", "old-only.txt": "gone later"})
    recorded = repo.head
    repo.git("rm", "--quiet", "old-only.txt")
    repo.commit({"index.html": "version two", "new-only.txt": "added later"})

    # When the recorded commit is checked out
    destination = tmp_path / "checkout"
    git.checkout(str(repo.path), recorded, destination, timeout=30)

    # Then the files are exactly those of the recorded commit
    files = {
        p.relative_to(destination).as_posix(): p.read_text()
        for p in destination.rglob("*")
        if p.is_file() and ".git" not in p.relative_to(destination).parts
    }
    assert files == {"index.html": "version one", "old-only.txt": "gone later"}


@pytest.mark.parametrize(
    "url",
    [
        "https://github.com/example/site.git",
        "http://git.example.com/site.git",
        "ssh://git@example.com/site.git",
        "git@github.com:example/site.git",
        "file:///srv/git/site.git",
        "/srv/git/site.git",
    ],
)
def test_remote_urls_and_absolute_local_paths_are_accepted(url: str, settings_env: Callable[..., None]) -> None:
    # Given a platform that allows local repositories (the default)
    settings_env(DEPLOYD_ALLOW_LOCAL_REPOSITORIES=None)

    # When the URL is validated, Then it is accepted unchanged
    assert git.validate_repo_url(url) == url


@pytest.mark.parametrize("url", ["ftp://example.com/site.git", "relative/path", "site.git", ""])
def test_other_repository_urls_are_invalid_input(url: str) -> None:
    # When an unsupported URL is validated
    with pytest.raises(InvalidInput) as raised:
        git.validate_repo_url(url)

    # Then the error points at repo_url
    assert raised.value.field == "repo_url"


@pytest.mark.parametrize("url", ["/srv/git/site.git", "file:///srv/git/site.git"])
def test_local_repositories_are_rejected_where_the_platform_forbids_them(
    url: str, settings_env: Callable[..., None]
) -> None:
    # Given a platform configured to refuse local repositories
    settings_env(DEPLOYD_ALLOW_LOCAL_REPOSITORIES="false")

    # When a local repository is validated
    with pytest.raises(InvalidInput) as raised:
        git.validate_repo_url(url)

    # Then it is refused, while a remote URL still passes
    assert raised.value.field == "repo_url"
    assert git.validate_repo_url("https://github.com/example/site.git") == "https://github.com/example/site.git"


def test_ref_exists_knows_branches_and_tags_but_not_commits_or_strangers(git_repo: Any) -> None:
    # Given a repository with a branch main and a tag v1
    repo = git_repo({"index.html": "v1"})
    repo.git("tag", "v1")

    # Then branches and tags exist, a commit SHA or an unknown name is not a ref
    assert git.ref_exists(str(repo.path), "main")
    assert git.ref_exists(str(repo.path), "v1")
    assert not git.ref_exists(str(repo.path), repo.head)
    assert not git.ref_exists(str(repo.path), "no-such-branch")
