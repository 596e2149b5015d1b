"""GitHub's deployments API (the GitHub Enterprise convention: base URL /api/v3), the dialect app.py mounts.

Its routes live by resource in github_deployments.py (the repository and its deployments),
github_statuses.py, github_environments.py and github_hooks.py (repository webhooks); each is declared
with `dialects.github.route`, whose
admission authenticates and counts the request against the organization's (or the address's) hourly rate
limit, whose renderer answers domain errors in GitHub's shape (api/renderers.py), and which puts the
x-ratelimit-* headers on every response, errors included. github_http.py parses the requests,
github_json.py renders GitHub's JSON. Views import their body's model themselves, so pydantic loads with
the first body to validate, not on a cold start.
"""

from chalicelib.api import github_deployments, github_environments, github_hooks, github_statuses
from chalicelib.api.dialects import github as dialect

# Importing the route modules declares their views on the dialect.
__all__ = ["dialect", "github_deployments", "github_environments", "github_hooks", "github_statuses"]
