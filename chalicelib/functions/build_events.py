"""CodeBuild's state changes of deployments' builds, from EventBridge (builds on AWS; see adapters.codebuild)."""

from __future__ import annotations

from chalice.app import CloudWatchEvent

from chalicelib.adapters import codebuild
from chalicelib.adapters.codebuild import BuildStateChange
from chalicelib.functions import Entry
from chalicelib.workers.build_state import handle_build_state

blueprint = Entry(__name__)


# One event an invocation; one that raises is retried by Lambda's asynchronous invocation, then sent to the
# function's failure queue. Handling it is idempotent (conditional transitions).
@blueprint.on_cw_event(
    {
        "source": [codebuild.EVENT_SOURCE],
        "detail-type": [codebuild.EVENT_DETAIL_TYPE],
        "detail": {"project-name": [codebuild.project_name()]},
    }
)
def build_events(event: CloudWatchEvent) -> None:
    """A CodeBuild build of a deployment started or ended."""
    handle_build_state(BuildStateChange.from_event(event.to_dict()))
