"""GitHub's deployments API (the GitHub Enterprise convention: base URL /api/v3): the blueprint app.py registers.

Its routes live by resource in github_deployments.py (the repository and its deployments),
github_statuses.py and github_environments.py; each is registered through `endpoint` (github_http.py),
which authenticates, counts the request against the organization's rate limit, renders domain errors in
GitHub's shape and puts the x-ratelimit-* headers on every response, errors included. github_json.py
renders GitHub's JSON. Views import their body's model themselves, so pydantic loads with the first body
to validate, not on a cold start.
"""

from chalicelib.api import github_deployments, github_environments, github_statuses
from chalicelib.api.github_http import github

# Importing the route modules registers their views on the blueprint.
__all__ = ["github", "github_deployments", "github_environments", "github_statuses"]
