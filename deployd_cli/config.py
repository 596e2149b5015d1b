"""Where the CLI finds its API and key: DEPLOYD_API_URL and DEPLOYD_TOKEN first (CI), then the file `deployd login`
wrote in the user's config dir (readable by its owner only, as it holds a key)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import click

from deployd_cli.errors import CliError

API_URL_ENV = "DEPLOYD_API_URL"
TOKEN_ENV = "DEPLOYD_TOKEN"


@dataclass(frozen=True)
class Credentials:
    api_url: str
    token: str


def config_path() -> Path:
    """$XDG_CONFIG_HOME/deployd/config.json (~/.config/deployd on Linux; the platform's own elsewhere)."""
    return Path(click.get_app_dir("deployd")) / "config.json"


def save(api_url: str, token: str) -> Path:
    """Writes the file with mode 0600 from its first byte: the key is never readable by others, not even briefly."""
    path = config_path()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_suffix(".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump({"api_url": api_url, "token": token}, file)
    os.chmod(temporary, 0o600)  # an earlier file of another mode keeps its mode through O_TRUNC
    os.replace(temporary, path)
    return path


def _stored() -> dict[str, str]:
    path = config_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}; run `deployd login` again") from exc
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def load() -> Credentials:
    stored = _stored()
    api_url = os.environ.get(API_URL_ENV) or stored.get("api_url")
    token = os.environ.get(TOKEN_ENV) or stored.get("token")
    if not api_url or not token:
        raise CliError(f"not logged in: run `deployd login --api URL`, or set {API_URL_ENV} and {TOKEN_ENV}")
    return Credentials(api_url.rstrip("/"), token)


def load_api_url() -> str | None:
    """The API URL in force without a key: for `deployd login` without --api."""
    return os.environ.get(API_URL_ENV) or _stored().get("api_url")


def forget() -> bool:
    try:
        config_path().unlink()
    except FileNotFoundError:
        return False
    return True
