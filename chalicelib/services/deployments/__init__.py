"""The deployment rules: trigger, list, cancel, rollback, and the terminal moves of the pipeline.

Every status change here is a conditional write (often a transaction that also releases the
environment's in-flight entry), so no interleaving of API calls, workers and the state machine can
produce an illegal transition: whoever leaves a state first wins, the others see a Conflict or do nothing.

One module per use case; the public names are re-exported here, so callers write `deployments.trigger(...)`, and
the use case's module is imported when its name is first asked for.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.services.deployments.activation import activate, rollback
    from chalicelib.services.deployments.creation import DeploymentSpec, create, trigger
    from chalicelib.services.deployments.deletion import delete_record
    from chalicelib.services.deployments.external import set_external_status
    from chalicelib.services.deployments.queries import (
        DEFAULT_PER_PAGE,
        MAX_PAGE,
        MAX_PER_PAGE,
        BuildLogView,
        DeploymentView,
        list_page,
        log_text,
        logs,
        view,
    )
    from chalicelib.services.deployments.terminal import cancel, record_failure

# Each name's module, imported with the first use of the name: a caller that reads deployments (the API's GET
# views) does not load the pipeline's start (git, the build's runners) nor activation's sites.
_MODULES = {
    "activate": "activation",
    "rollback": "activation",
    "DeploymentSpec": "creation",
    "create": "creation",
    "trigger": "creation",
    "delete_record": "deletion",
    "set_external_status": "external",
    "DEFAULT_PER_PAGE": "queries",
    "MAX_PAGE": "queries",
    "MAX_PER_PAGE": "queries",
    "BuildLogView": "queries",
    "DeploymentView": "queries",
    "list_page": "queries",
    "log_text": "queries",
    "logs": "queries",
    "view": "queries",
    "cancel": "terminal",
    "record_failure": "terminal",
}


def __getattr__(name: str) -> Any:
    """PEP 562: `deployments.trigger` imports services/deployments/creation.py the first time it is asked for."""
    if name not in _MODULES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_MODULES[name]}"), name)


__all__ = [
    "DEFAULT_PER_PAGE",
    "MAX_PAGE",
    "MAX_PER_PAGE",
    "BuildLogView",
    "DeploymentSpec",
    "DeploymentView",
    "activate",
    "cancel",
    "create",
    "delete_record",
    "list_page",
    "log_text",
    "logs",
    "record_failure",
    "rollback",
    "set_external_status",
    "trigger",
    "view",
]
