"""GET a site's health-check path the way a visitor would, and say whether the intended deployment answered it.

The embedded site server names the deployment that served each answer in `X-Deployd-Deployment-Id`; on AWS the
served object does, in its metadata (`x-amz-meta-deployd-deployment-id`, adapters.sites.artifact_metadata), which
CloudFront passes on. A 2xx from another deployment (a stale route, a cached answer) is not a pass.
"""

from __future__ import annotations

import http.client
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

SERVED_BY_HEADER = "X-Deployd-Deployment-Id"
SERVED_BY_METADATA_HEADER = "x-amz-meta-deployd-deployment-id"
ATTEMPTS = 3
TIMEOUT_SECONDS = 2.0
BACKOFF_SECONDS = (0.1, 0.3)  # before the second and the third attempt
_MAX_BODY_BYTES = 64 * 1024


@dataclass(frozen=True)
class CheckResult:
    url: str
    attempts: int
    status_code: int | None  # None: no HTTP answer (timeout, refused connection)
    served_by: int | None  # the deployment the answer named; None: it named none
    ok: bool
    error: str | None
    checked_at: datetime


def site_url(base_url: str, path: str) -> str:
    """A deployment's or environment's URL (ending in "/") joined with a health-check path ("/", "/health")."""
    return base_url.rstrip("/") + path


def check(url: str, expected_deployment_id: int, attempts: int = ATTEMPTS) -> CheckResult:
    """GET `url` until it answers 2xx from `expected_deployment_id`, at most `attempts` times."""
    status: int | None = None
    served_by: int | None = None
    error: str | None = None
    made = 0
    for made in range(1, attempts + 1):
        if made > 1:
            time.sleep(BACKOFF_SECONDS[min(made - 2, len(BACKOFF_SECONDS) - 1)])
        status, served_by, error = _get(url)
        if error is None and status is not None and 200 <= status < 300:
            if served_by == expected_deployment_id:
                return CheckResult(url, made, status, served_by, True, None, datetime.now(UTC))
            error = f"served by deployment {served_by}" if served_by is not None else "no deployment named itself"
    return CheckResult(url, made, status, served_by, False, error, datetime.now(UTC))


def _get(url: str) -> tuple[int | None, int | None, str | None]:
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_class(parts.hostname or "", parts.port, timeout=TIMEOUT_SECONDS)
    try:
        connection.request("GET", target, headers={"User-Agent": "deployd-health-check", "Cache-Control": "no-cache"})
        response = connection.getresponse()
        response.read(_MAX_BODY_BYTES)
        named = response.getheader(SERVED_BY_HEADER) or response.getheader(SERVED_BY_METADATA_HEADER)
        served_by = int(named) if named and named.strip().isdigit() else None
        return response.status, served_by, None if 200 <= response.status < 300 else f"answered {response.status}"
    except (OSError, http.client.HTTPException) as exc:
        return None, None, f"no answer: {type(exc).__name__}: {exc}"[:300]
    finally:
        connection.close()
