"""Real git repositories on disk, made and committed to with the git CLI, the same way in every suite."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

AUTHOR = ("Ada Lovelace", "ada@example.com")


def _git_environment() -> dict[str, str]:
    # Without the caller's GIT_* variables (a hook running the tests sets GIT_DIR) or personal config
    # (signing, hooks, templates): each test repository behaves the same everywhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    return {**env, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


@dataclass
class GitRepo:
    """A git repository whose default branch is main; commits are Ada Lovelace's."""

    path: Path

    @classmethod
    def create(cls, path: Path, files: dict[str, str] | None = None, message: str = "initial commit") -> GitRepo:
        """A new repository at `path` (which must not exist yet): empty, or with one commit of `files`."""
        path.mkdir(parents=True)
        repo = cls(path)
        repo.git("init", "--quiet", "-b", "main")
        if files is not None:
            repo.commit(files, message)
        return repo

    @property
    def url(self) -> str:
        """What a project's repo_url names to clone it."""
        return str(self.path)

    @property
    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def git(self, *args: str) -> str:
        """Runs git in the repository and returns its output, stripped; fails the test if git fails."""
        name, email = AUTHOR
        result = subprocess.run(
            ["git", "-c", f"user.name={name}", "-c", f"user.email={email}", *args],
            cwd=self.path,
            env=_git_environment(),
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def commit(self, files: dict[str, str], message: str = "update") -> str:
        """Writes `files` (path -> text, directories made as needed), commits everything and returns the sha."""
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self.git("add", "--all")
        self.git("commit", "--quiet", "--allow-empty", "-m", message)
        return self.head
