"""The Lambda functions `chalice package` generates from app.py, named as Chalice names them in its template.

The merge template may only add to resources Chalice generated (a partial resource with no Type of its own
would break the stack), so the functions it configures are read from the app itself, not listed by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.infra.resources import Queue

Kind = Literal["api", "sqs", "schedule", "cloudwatch_event", "lambda"]

API_HANDLER_NAME = "api_handler"  # Chalice's name for the function behind the REST API


def cfn_name(name: str) -> str:
    """Chalice's logical id for a name (`build_worker` -> `BuildWorker`, `api_handler_role` -> `ApiHandlerRole`)."""
    from chalice.utils import to_cfn_resource_name

    return str(to_cfn_resource_name(name))


@dataclass(frozen=True)
class Function:
    handler: str  # the handler's name in app.py (Chalice's function name)
    kind: Kind
    # The queue name an SQS consumer reads, `<DEPLOYD_RESOURCE_PREFIX>-<logical>` with the prefix of wherever
    # app.py was imported (Chalice imports it with the stage's variables, `python -m ...package` without).
    queue: str | None = None

    @property
    def logical_id(self) -> str:
        return "APIHandler" if self.kind == "api" else cfn_name(self.handler)

    @property
    def role_id(self) -> str:
        return cfn_name(f"{self.handler}_role")

    @property
    def sqs_event_id(self) -> str:
        """The key of the function's SQS event source in Chalice's `Events`."""
        return cfn_name(f"{self.handler}-sqs-event-source")


def consumed_queue(function: Function, queues: Sequence[Queue]) -> Queue | None:
    """The catalogue queue an SQS consumer reads, whatever the prefix its name was made with."""
    if function.queue is None:
        return None
    return next((q for q in queues if function.queue.endswith(f"-{q.logical}")), None)


def functions_of(app: Any) -> tuple[Function, ...]:
    """The functions Chalice generates for `app` (a chalice.Chalice), the API's first."""
    from chalice.app import CloudWatchEventConfig, ScheduledEventConfig, SQSEventConfig

    kinds: dict[type, Kind] = {
        SQSEventConfig: "sqs",
        ScheduledEventConfig: "schedule",
        CloudWatchEventConfig: "cloudwatch_event",
    }
    found: list[Function] = []
    if app.routes:
        found.append(Function(API_HANDLER_NAME, "api"))
    for source in app.event_sources:
        kind = kinds.get(type(source))
        if kind is None:
            raise ValueError(f"{source.name}: packaging knows no {type(source).__name__} event source yet")
        found.append(Function(source.name, kind, source.queue if isinstance(source, SQSEventConfig) else None))
    found += [Function(function.name, "lambda") for function in app.pure_lambda_functions]
    return tuple(found)


def app_functions() -> tuple[Function, ...]:
    """The functions of app.py (imported here: Chalice imports it the same way to package it)."""
    import app

    return functions_of(app.app)
