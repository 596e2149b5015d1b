"""GitLab's deployments API (python-gitlab's convention: base URL /api/v4)."""

from __future__ import annotations

from chalice import Blueprint

gitlab = Blueprint(__name__)
