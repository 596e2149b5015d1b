"""Each Lambda function's entry module: the one module its handler names, which imports only what that function
serves. A cold start of the build worker loads the build pipeline, not the API's dialects nor Slack; the API's
loads its routes, not the workers.

`api` holds the Chalice app, its middleware and every route (Chalice needs the whole route table at import); the
merge template names `chalicelib.functions.api.app` as the API's handler (function_resources). Every other module
declares one event function on a blueprint of its own (`Entry`), which Chalice names in that function's handler
(`chalicelib.functions.build_worker.build_worker`). app.py registers them all on the API's app: that is what
`chalice package` reads, and what the embedded stack and the tests run; no function imports app.py on Lambda.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalice import Blueprint

from chalicelib.api.middleware import observe


class Entry(Blueprint):
    """One event function's blueprint. On Lambda no app registers it, so its handler runs the middleware every
    entry point gets (`observe`) by itself; registered on the app (app.py), it runs the app's, which are the same."""

    def _get_middleware_handlers(self, event_type: str) -> list[Callable[..., Any]]:
        return [observe]
