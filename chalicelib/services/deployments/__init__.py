"""The deployment rules: trigger, list, cancel, rollback, and the terminal moves of the pipeline.

Every status change here is a conditional write (often a transaction that also releases the
environment's in-flight entry), so no interleaving of API calls, workers and the state machine can
produce an illegal transition: whoever leaves a state first wins, the others see a Conflict or do nothing.

One module per use case; the public names are re-exported here, so callers write `deployments.trigger(...)`.
"""

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
