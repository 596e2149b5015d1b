"""The HTTP edge every route goes through. A `Dialect` (native, GitHub, GitLab, Mintlify, admin, health) is a
blueprint, an admission (who is calling, within which rate-limit budget) and a `Renderer`; `Dialect.route`
declares a route's path, methods, scope, bucket, body, query and answers, wraps its view with all three, and
records the declaration in the dialect's route table (`Dialect.routes`), from which the OpenAPI document is made
(chalicelib.api.openapi_document). A declaration names its body's model, its query's and its answers' types by string
(`body: ProjectCreate` under TYPE_CHECKING, `query="Paging"`, `answers={200: One("ProjectJson")}`): the API's cold
start declares every route without making any of those types; the document makes them when it is first asked for.

A renderer is a table {domain error type -> Answer (status, body builder)} looked up along the error's
class hierarchy (`lookup`), so a subclass answers as its nearest mapped ancestor and every table's
DomainError row answers what no other row does. Chalice turns any exception escaping a view into a 500
before middleware sees it, so the renderer wraps the view itself.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from chalice import Blueprint, Response
from chalice.app import ChaliceViewError, Request

from chalicelib.api.http import CONTENT_TYPES, json_body, json_response, parse
from chalicelib.api.metering import Meter
from chalicelib.errors import DomainError, IdempotencyKeyInUse
from chalicelib.observability import logger

if TYPE_CHECKING:
    from chalicelib.models.project_reads import ProjectKeys, ProjectRead
    from chalicelib.services.auth import Principal

V = TypeVar("V")
View = Callable[..., Response]
# admit(request, meter, scope), and `prefetch=` for a route that declares its reads (`Dialect.route`'s `reads`).
Admission = Callable[..., "Principal | None"]

# The attribute `Dialect.route` sets on every view it declares; tests check that every route has it.
DECLARED_BY = "deployd_dialect"
# ... and the attribute saying whether the route honours Idempotency-Key (api/idempotency.py).
KEYED = "deployd_idempotent"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Where a view's `body` annotation names its model: request bodies are pydantic models, imported with the first
# request that has one to validate (not on a cold start).
BODY_MODELS = "chalicelib.services.inputs"
# Where the types a route's `answers` and `query` name live (TypedDicts, for the OpenAPI document only): a route
# names them by a string, so the API's cold start declares its routes without making any of them.
ANSWERS = "chalicelib.api.answers"


class One(NamedTuple):
    """An answer {"data": <item>}; `item` names a type of ANSWERS."""

    item: str


class Many(NamedTuple):
    """An answer {"data": [<item>, ...], "meta": <meta>}; both name types of ANSWERS."""

    item: str
    meta: str


class Html:
    """An answer that is a text/html page (the Slack OAuth redirect's answer to a person's browser)."""


class Empty:
    """An empty answer of any content type (Slack's acknowledgement)."""


class InternalError(DomainError):
    """What a client sees of an exception no one expected: the failure is logged, never shown."""

    code = "internal_error"


class Refused(DomainError):
    """A request refused by the HTTP machinery rather than by a rule: no route names its path, its route does
    not take its method, its request line or headers are too long (chalicelib.api.edges), or Chalice refused
    it. `status` is the edge's own; `code` the native dialect's name for it."""

    def __init__(self, status: int, reason: str, code: str) -> None:
        super().__init__(reason)
        self.status = status
        self.code = code


class Answer(NamedTuple):
    """How a dialect answers one type of domain error: a status (or a function of the error giving it) and
    a function of the error giving the body."""

    status: int | Callable[[Any], int]
    body: Callable[[Any], Any]

    def status_of(self, error: DomainError) -> int:
        return self.status(error) if callable(self.status) else self.status


def lookup(table: Mapping[type, V], kind: type) -> V:
    """The entry of the first class in `kind`'s MRO the table names, as Powertools' event handler finds an
    exception's handler: a subclass of NotFound answers as NotFound unless it has a row of its own."""
    for cls in kind.__mro__:
        if cls in table:
            return table[cls]
    raise KeyError(f"no entry for {kind.__name__} or any of its bases")


def own_status(error: Refused) -> int:
    return error.status


def _retry_after(error: DomainError) -> dict[str, str] | None:
    """Retry-After for an error that says when to come back (a key still in use); a rate limit's comes with the
    meter's headers."""
    if isinstance(error, IdempotencyKeyInUse):
        return {"Retry-After": str(error.retry_after)}
    return None


class Renderer:
    """One dialect's error answers. The table must answer DomainError: the default of every domain error it
    does not name, so a new error type is a client error in the dialect's format, never a 500."""

    def __init__(self, table: Mapping[type[DomainError], Answer]) -> None:
        if DomainError not in table:
            raise ValueError("a renderer's table needs a DomainError row, the default")
        self.table = dict(table)

    def answer(self, error: DomainError) -> Answer:
        return lookup(self.table, type(error))

    def status_for(self, error: DomainError) -> int:
        return self.answer(error).status_of(error)

    def body(self, error: DomainError) -> Any:
        return self.answer(error).body(error)

    def render(self, error: DomainError, headers: dict[str, str] | None = None) -> Response:
        answer = self.answer(error)
        return json_response(answer.status_of(error), answer.body(error), headers)

    def guard(self, view: Callable[..., Response]) -> Callable[..., Response]:
        """`view` with every exception it raises answered in this dialect; never a stack trace."""

        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Response:
            try:
                return view(*args, **kwargs)
            except DomainError as exc:
                return self.render(exc, _retry_after(exc))
            except ChaliceViewError as exc:
                return self.render(Refused(exc.STATUS_CODE, str(exc), "invalid_input"))
            except Exception:
                logger.exception("unhandled error in view")
                return self.render(InternalError("internal error; the failure was logged"))

        return guarded


class Prefetch:
    """The reads a route declares, keyed by its path alone: the admission (one that takes `prefetch=`, as
    dialects.admit_bearer does) reads them in the same round trip as the caller's API key and leaves what it found
    in `read`, for the view."""

    __slots__ = ("keys", "read")

    def __init__(self, keys: ProjectKeys) -> None:
        self.keys = keys
        self.read: ProjectRead | None = None


class Caller(NamedTuple):
    """What a view knows of its request's caller: the principal its dialect admitted (none for the admin
    token or a public route), the meter of its rate-limit bucket (for a view that counts late) and what admission
    read for the view (None: nothing, the view reads for itself)."""

    meter: Meter
    admitted: Principal | None
    read: ProjectRead | None = None

    @property
    def principal(self) -> Principal:
        assert self.admitted is not None, "this route's dialect admits no API key"
        return self.admitted


class Route(NamedTuple):
    """One declared route, as the OpenAPI document describes it: `path` is the whole path (the dialect's prefix
    and the route's own); `body` the name of its body's model in BODY_MODELS (None: no JSON body); `query` the
    name of the TypedDict of its query parameters in ANSWERS; `answers` {status: what the body is} for its
    successes (the name of a TypedDict in ANSWERS, an envelope naming them (One, Many), Html(), Empty(), a tuple of
    alternatives, `dict` for any object, or None for no body); `errors` the error statuses its rules may answer
    beyond those every route of its kind answers (chalicelib.api.openapi_document); `content_types` those Chalice
    accepts in its Content-Type (None: any), answering 415 to another."""

    dialect: str
    path: str
    methods: tuple[str, ...]
    scope: str | None
    bucket: str | None
    view: Callable[..., Response]
    body: str | None
    query: str | None
    answers: Mapping[int, Any]
    errors: tuple[int, ...]
    idempotent: bool
    content_types: tuple[str, ...] | None

    @property
    def summary(self) -> str:
        doc = (self.view.__doc__ or "").strip()
        return doc.split("\n\n", 1)[0].replace("\n", " ") if doc else self.view.__name__.replace("_", " ")


def body_model_name(view: Callable[..., Any]) -> str | None:
    """The name of the model a view's `body` parameter is annotated with (a string: route modules postpone
    their annotations and import the model for type checking only)."""
    annotation = view.__annotations__.get("body")
    if annotation is None:
        return None
    return annotation if isinstance(annotation, str) else annotation.__name__


def parse_body(request: Request, model_name: str) -> Any:
    """The request's JSON body validated by its model; InvalidInput naming the field when it is not valid."""
    model = getattr(importlib.import_module(BODY_MODELS), model_name)
    return parse(model, json_body(request))


class Dialect:
    """A blueprint mounted at `prefix`, whose routes are admitted by `admit(request, meter, scope)` (which
    authenticates, checks the scope and counts the request, in the dialect's order) and answered in
    `renderer`'s error format. `bucket` is its routes' default rate-limit bucket (None: not metered).
    `idempotent`: its POST routes honour Idempotency-Key for an admitted organization (api/idempotency.py),
    every one of them, declared now or later; a route that admits no organization (a public URL) is not covered."""

    def __init__(
        self,
        name: str,
        prefix: str | None,
        renderer: Renderer,
        admit: Admission,
        bucket: str | None,
        read_content_types: list[str] | None = None,
        body_content_types: list[str] | None = None,
        idempotent: bool = False,
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.blueprint = Blueprint(f"chalicelib.api.{name}")
        self.renderer = renderer
        self.admit = admit
        self.bucket = bucket
        # Content types a route without a body accepts; None is Chalice's default (application/json).
        self.read_content_types = read_content_types
        # Content types a route with a body accepts; the JSON family by default.
        self.body_content_types = body_content_types or CONTENT_TYPES
        self.idempotent = idempotent
        self.routes: list[Route] = []

    @property
    def current_request(self) -> Request:
        return self.blueprint.current_request

    def route(
        self,
        path: str,
        *,
        methods: list[str],
        scope: str | None,
        bucket: str | None = None,
        one_time: tuple[str, ...] = (),
        answers: Mapping[int, Any] | None = None,
        errors: tuple[int, ...] = (),
        query: str | None = None,
        reads: Callable[[dict[str, str]], ProjectKeys | None] | None = None,
        reads_all: bool = False,
    ) -> Callable[[View], View]:
        """Register `view(caller, **path_params)` at `path` for `methods`: admitted with `scope`, counted in
        `bucket` (the dialect's by default), its errors rendered, its bucket's x-ratelimit-* headers on every
        response, errors included. `one_time` names the fields of the answer's `data` shown once and never stored
        (a secret): an idempotent replay shows them masked. `reads(path_params)` gives the keys of what the view
        reads (None: the path names nothing readable), read with the caller's key and handed to the view as
        `caller.read`. `reads_all`: the view reads nothing more, so a GET's count has no read to go beside and is
        made on the request's thread before the view answers.

        A view with a `body` parameter is handed its request's JSON body validated by the model that parameter is
        annotated with (after admission: a caller refused with 401, 403 or 429 learns nothing of the body's
        rules). `answers`, `errors` and `query` describe the route for the OpenAPI document (`Route`)."""
        counted_in = bucket or self.bucket
        keyed = self.idempotent and "POST" in methods
        content_types = self.body_content_types if BODY_METHODS.intersection(methods) else self.read_content_types

        def decorate(view: View) -> View:
            body_model = body_model_name(view)

            def answer(meter: Meter, params: dict[str, str]) -> Response:
                request = self.current_request
                keys = reads(params) if reads is not None else None
                if keys is None:
                    caller = Caller(meter, self.admit(request, meter, scope))
                else:
                    prefetch = Prefetch(keys)
                    principal = self.admit(request, meter, scope, prefetch=prefetch)
                    caller = Caller(meter, principal, prefetch.read)

                def run() -> Response:
                    if body_model is None:
                        return view(caller, **params)
                    return view(caller, **params, body=parse_body(request, body_model))

                if keyed and caller.admitted is not None and request.method == "POST":
                    # After admission: a request refused with 401, 403 or 429 never touches its key.
                    from chalicelib.api.idempotency import answer_once

                    return answer_once(request, caller.admitted.org_slug, run, one_time)
                return run()

            def admitted(meter: Meter, params: dict[str, str]) -> Response:
                try:
                    response = answer(meter, params)
                except Exception:
                    meter.settle()  # over the limit is the answer, whatever else the request ran into
                    raise
                meter.settle()
                return response

            guarded = self.renderer.guard(admitted)

            @functools.wraps(view)
            def handler(**params: str) -> Response:
                # A GET changes nothing, so its view may read while its count is made (api/metering.py).
                meter = Meter(counted_in, deferred=self.current_request.method == "GET" and not reads_all)
                response = guarded(meter, params)
                response.headers.update(meter.headers())
                return response

            setattr(handler, DECLARED_BY, self.name)
            setattr(handler, KEYED, keyed)
            options: dict[str, Any] = {"methods": methods}
            if content_types is not None:
                options["content_types"] = content_types
            self.blueprint.route(path, **options)(handler)
            self.routes.append(
                Route(
                    self.name,
                    (self.prefix or "") + path,
                    tuple(methods),
                    scope,
                    counted_in,
                    view,
                    body_model,
                    query,
                    dict(answers or {}),
                    tuple(errors),
                    keyed,
                    None if content_types == ["*/*"] else tuple(content_types or ["application/json"]),
                )
            )
            return handler

        return decorate

    def mount(self, app: Any) -> None:
        app.register_blueprint(self.blueprint, url_prefix=self.prefix)
