"""GitHub's deployments API (the GitHub Enterprise convention: base URL /api/v3)."""

from __future__ import annotations

from chalice import Blueprint

github = Blueprint(__name__)
