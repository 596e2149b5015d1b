"""moto as the embedded stack needs it: DynamoDB as atomic per request as DynamoDB itself, and an endpoint
that answers only the stack.

moto's server handles requests on many threads without a lock: a conditional write checks and applies
in two steps, and a failed TransactWriteItems restores whole tables from a snapshot taken before it
started, silently undoing writes that other requests made meanwhile. DynamoDB applies each request
atomically; one lock around each item operation gives the emulator the same guarantee, so the races
deployd is designed for resolve the way they would on AWS.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import hashlib
import hmac
import io
import os
import pickle
import posixpath
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlparse

_ITEM_OPERATIONS = (
    "get_item",
    "put_item",
    "update_item",
    "delete_item",
    "query",
    "scan",
    "batch_get_item",
    "batch_write_item",
    "transact_get_items",
    "transact_write_items",
)
# The handlers that read items copy them into their answer after the backend call returned (DynamoResult): a
# write on another thread could change an item while it is copied ("dictionary changed size during iteration"),
# so the copy, too, is made under the lock.
_READING_HANDLERS = ("get_item", "query", "scan", "batch_get_item", "transact_get_items")
_lock = threading.RLock()
_applied = False


def _serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _lock:
            return method(*args, **kwargs)

    return wrapper


def serialize_dynamodb() -> None:
    """Idempotent: wraps moto's DynamoDB backend item operations, and the copying of the items read into their
    answers, in one lock, once per process."""
    global _applied
    with _lock:
        if _applied:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.dynamodb.responses import DynamoHandler

        for name in _ITEM_OPERATIONS:
            setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))
        for name in _READING_HANDLERS:
            setattr(DynamoHandler, name, _serialized(getattr(DynamoHandler, name)))
        _applied = True


# --- a table's stream in a transaction's snapshot ---
#
# TransactWriteItems deep-copies every table it touches first (the snapshot a failed transaction restores),
# and a table's stream shard, holding every record the table ever streamed, came along: with the deployments
# table's stream, a transaction cost ~0.4 s after a few hundred deployments, and grew. A stream record is
# never changed once appended, so the snapshot shares the records and copies only their list: a restore still
# drops the records of the writes it undoes.
_streams_patched = False


def _shard_snapshot(shard: Any, memo: dict[int, Any]) -> Any:
    import copy

    clone = copy.copy(shard)
    memo[id(shard)] = clone
    clone.table = copy.deepcopy(shard.table, memo)  # the table being copied (already in memo)
    clone.items = list(shard.items)
    return clone


def snapshot_streams_cheaply() -> None:
    """Idempotent: a transaction's table snapshot shares the stream's records instead of copying each."""
    global _streams_patched
    with _lock:
        if _streams_patched:
            return
        from moto.dynamodb.models.table import StreamShard

        StreamShard.__deepcopy__ = _shard_snapshot  # type: ignore[attr-defined]
        _streams_patched = True


def read_moto_modules_once() -> None:
    """Idempotent. For every request, moto's server asks whether the request's host names one of its service
    modules by listing its package directory and stat-ing each entry (moto.backends.list_of_moto_modules), while
    it holds the lock every request shares: under load, most of the embedded stack's CPU went there. The modules
    do not change while the process runs, so they are listed once."""
    from moto import backends

    with _lock:
        if isinstance(backends.list_of_moto_modules, _ModuleList):
            return
        backends.list_of_moto_modules = _ModuleList(backends.list_of_moto_modules())  # type: ignore[assignment]


def list_handler_methods_once() -> None:
    """Idempotent. For every request, moto lists its handler class's methods with inspect.getmembers to find the
    action's (moto.core.utils.method_names_from_class): about a tenth of a request's time. A class's methods do
    not change while the process runs, so each class's are listed once."""
    from moto.core import responses

    with _lock:
        if getattr(responses.method_names_from_class, "listed_once", False):
            return
        listed = functools.cache(lambda clazz: frozenset(_method_names(clazz)))
        listed.listed_once = True  # type: ignore[attr-defined]
        responses.method_names_from_class = listed  # type: ignore[assignment]


def convert_names_once() -> None:
    """Idempotent. moto converts the same CamelCase names (actions, queue attributes) to snake_case about a dozen
    times a request, character by character; the conversion is a pure function of the name, so each name is
    converted once."""
    from moto import sqs
    from moto.core import responses, utils

    with _lock:
        if getattr(utils.camelcase_to_underscores, "cache_info", None) is not None:
            return
        converted = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
        for module in (utils, responses, sqs.models):
            module.camelcase_to_underscores = converted  # type: ignore[attr-defined]


def parse_definitions_once() -> None:
    """Idempotent. moto's Step Functions executor parses the state machine's definition (an ANTLR grammar, in pure
    Python) at the start of every execution: about 50 ms of CPU per deployment on a 2-core machine, holding the
    interpreter lock the pipeline's threads need. The parsed program keeps no state of its own (an execution's
    state is in its Environment), so each definition is parsed once and its program shared by the executions."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    with _lock:
        if hasattr(AmazonStateLanguageParser.parse, "cache_info"):
            return
        AmazonStateLanguageParser.parse = staticmethod(  # type: ignore[method-assign]
            functools.lru_cache(maxsize=64)(AmazonStateLanguageParser.parse)
        )


def parse_json_paths_once() -> None:
    """Idempotent. moto's Step Functions executor parses every JSONPath of a state ("$.deployment_id" in a
    Parameters block, a ResultPath) each time the state runs, and jsonpath_ng builds a new PLY lexer and parser for
    each parse: about a tenth of the stack's CPU in a burst of deployments (py-spy on `bench.pipeline throughput`).
    A parsed path is a pure function of its text, and finding or updating with it changes the data, never the path,
    so each is parsed once and shared."""
    from moto.stepfunctions.parser.asl.component.common.path import result_path
    from moto.stepfunctions.parser.asl.utils import json_path

    with _lock:
        if hasattr(json_path.parse, "cache_info"):
            return
        json_path.parse = functools.lru_cache(maxsize=1024)(json_path.parse)  # type: ignore[attr-defined]
        result_path.parse = functools.lru_cache(maxsize=1024)(result_path.parse)  # type: ignore[attr-defined]


def _method_names(clazz: object) -> list[str]:
    from moto.core.utils import method_names_from_class

    return method_names_from_class(clazz)


# --- a transaction's snapshot: the items it touches, not its tables ---
#
# Before a TransactWriteItems, moto deep-copies every table the transaction names, to put the copies back if it
# fails. The cost grows with the table: on a stack that has recorded a thousand deployments, each activation's
# transaction spent most of the emulator's time copying the deployments table, holding the lock every DynamoDB
# request waits for. The transaction runs under that lock (serialize_dynamodb), so nothing else changes the table
# meanwhile: saving the items it touches (and each table stream's length) before, and putting those back if it
# fails, restores exactly what the copies would have.
_transactions_patched = False
_touching_only = threading.local()


class _CopyShim:
    """moto.dynamodb.models' `copy`: copy.deepcopy, except that a table is its own snapshot while a transaction
    saves its touched items itself."""

    def __getattr__(self, name: str) -> Any:
        import copy

        return getattr(copy, name)

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        import copy

        from moto.dynamodb.models.table import Table

        if getattr(_touching_only, "active", False) and isinstance(value, Table):
            return value
        return copy.deepcopy(value, memo)


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[Any, Any, Any, Any]]:
    """(table, hash key, range key, a copy of the item or None) for every item the transaction names."""
    import copy

    touched = []
    for entry in transact_items:
        operation, request = next(iter(entry.items()))
        table = backend.tables.get(request.get("TableName"))
        if table is None:
            continue
        if operation == "Put":
            attributes = request["Item"]
            keys = {name: attributes[name] for name in (table.hash_key_attr, table.range_key_attr) if name}
        else:
            keys = request["Key"]
        hash_key, range_key = backend.get_keys_value(table, keys)
        item = table.get_item(hash_key, range_key)
        touched.append((table, hash_key, range_key, copy.deepcopy(item) if item is not None else None))
    return touched


def _put_back(touched: list[tuple[Any, Any, Any, Any]], stream_lengths: list[tuple[Any, int]]) -> None:
    for table, hash_key, range_key, item in reversed(touched):  # the first saved state of a key is put back last
        if range_key is None:
            if item is None:
                table.items.pop(hash_key, None)
            else:
                table.items[hash_key] = item
        elif item is None:
            table.items.get(hash_key, {}).pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    for shard, length in stream_lengths:
        del shard.items[length:]


def snapshot_touched_items_only() -> None:
    """Idempotent: a failed TransactWriteItems puts back the items it touched instead of whole table copies."""
    global _transactions_patched
    with _lock:
        if _transactions_patched:
            return
        from moto.dynamodb import models
        from moto.dynamodb.models import DynamoDBBackend

        models.copy = _CopyShim()  # type: ignore[assignment]
        whole_tables = DynamoDBBackend.transact_write_items

        @functools.wraps(whole_tables)
        def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> Any:
            with _lock:
                try:
                    touched = _touched(self, transact_items)
                except Exception:  # a request moto will refuse anyway: its own path says how
                    return whole_tables(self, transact_items)
                tables = {id(table): table for table, *_ in touched}.values()
                stream_lengths = [(t.stream_shard, len(t.stream_shard.items)) for t in tables if t.stream_shard]
                _touching_only.active = True
                try:
                    return whole_tables(self, transact_items)
                except BaseException:
                    _put_back(touched, stream_lengths)
                    raise
                finally:
                    _touching_only.active = False

        DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
        _transactions_patched = True


# --- DynamoDB's answers in plain JSON ---
#
# moto serializes every answer by walking the operation's output shape member by member; for DynamoDB, whose
# answers are already wire-format JSON (items as {"S": ...} maps), that walk was most of the emulator's time per
# request (a deployment item has dozens of attributes, each a structure of ten possible members). DynamoDB and
# DynamoDB Streams answers are written with json.dumps instead: what botocore parses from them is the same
# (tests/unit/test_moto_json.py compares the two on each of these operations). Table and stream descriptions keep
# moto's serializer: they are rare, and their timestamps and nested shapes are where the two would differ.
_QUICK_JSON_OPERATIONS = {
    "dynamodb": frozenset(
        {
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
            "BatchGetItem",
            "BatchWriteItem",
            "TransactWriteItems",
        }
    ),
    "dynamodbstreams": frozenset({"GetShardIterator", "GetRecords"}),
}
_shape_walk: Callable[..., Any] | None = None  # moto's own serializer, kept for the comparison test


def _epoch_seconds(value: Any) -> float:
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    raise TypeError(f"{type(value).__name__} is not JSON")


def answer_dynamodb_in_plain_json() -> None:
    """Idempotent: DynamoDB and DynamoDB Streams results (not errors) are serialized with json.dumps."""
    global _shape_walk
    import json

    from moto.core.responses import ActionResult

    with _lock:
        if _shape_walk is not None:
            return
        shape_walk = _shape_walk = ActionResult.execute_result

        def execute_result(self: Any, context: Any) -> Any:
            service_model = context.service_model
            operations = _QUICK_JSON_OPERATIONS.get(service_model.service_name, frozenset())
            if (
                type(self).__name__ in ("ActionResult", "DynamoResult")
                and context.operation_model.name in operations
                and service_model.protocol == "json"
                and isinstance(self.result, dict)
            ):
                try:
                    body = json.dumps(self.result, default=_epoch_seconds, separators=(",", ":"))
                except TypeError:
                    return shape_walk(self, context)
                version = service_model.metadata.get("jsonVersion", "1.0")
                return 200, {"Content-Type": f"application/x-amz-json-{version}"}, body
            return shape_walk(self, context)

        ActionResult.execute_result = execute_result  # type: ignore[method-assign]


# --- DynamoDB's results converted in one walk ---
#
# moto converts every DynamoDB result (the items of a GetItem, BatchGetItem, Query, the item an UpdateItem returns)
# to plain values with dynamo_to_dict, which asks of each value, a string or a number included, whether it is a
# datetime, a DynamoType, has a to_json (a failed attribute lookup each time), a dict, a list: about a twentieth of
# the local AWS's time answering the API's GET deployment. The values a result is made of are nearly all of
# exactly these types, each answered the way dynamo_to_dict answers it; anything else (a subclass, a binary value,
# an object with to_json, a datetime) goes to moto's own function, whose own recursion comes back here.
_dynamo_to_dict: Callable[[Any], Any] | None = None  # moto's own, kept for the comparison test
_AS_THEY_ARE = frozenset({str, int, float, bool, type(None), bytes})


def convert_results_in_one_walk() -> None:
    """Idempotent: moto's dynamo_to_dict answers the plain values of a result without its five questions."""
    global _dynamo_to_dict
    from moto.dynamodb import responses
    from moto.dynamodb.models import utilities
    from moto.dynamodb.models.dynamo_type import DynamoType

    with _lock:
        if _dynamo_to_dict is not None:
            return
        _dynamo_to_dict = utilities.dynamo_to_dict

        def dynamo_to_dict(obj: Any) -> Any:
            kind = type(obj)
            if kind in _AS_THEY_ARE:
                return obj
            if kind is dict:
                return {key: dynamo_to_dict(value) for key, value in obj.items()}
            if kind is list:
                return [dynamo_to_dict(value) for value in obj]
            if kind is DynamoType and obj.type not in ("B", "BS"):
                return {obj.type: dynamo_to_dict(obj.value)}
            fallback = _dynamo_to_dict  # moto's own (read here, so a test can count what it is asked)
            assert fallback is not None
            return fallback(obj)

        utilities.dynamo_to_dict = dynamo_to_dict  # moto's own recursion calls this module's name
        responses.dynamo_to_dict = dynamo_to_dict  # type: ignore[attr-defined]


# --- an update expression parsed once ---
#
# moto tokenizes and parses an UpdateItem's UpdateExpression twice a call (once to check the placeholders the
# request names, once again in the backend to apply it): about a fifth of moto's time answering the rate-limit ADD
# that every API request makes, always with the same expression (cProfile on a loop of that UpdateItem). The tree
# is a pure function of the expression's text, and moto never changes it (its validator works on a deep copy: the
# tree it hands the executor is that copy), so each text is parsed once and its tree shared. An expression that
# does not parse is not kept: each call raises moto's own error, as before.
_parse_update_expression: Callable[[str], Any] | None = None  # moto's own parser, kept for the comparison test


def parse_update_expressions_once() -> None:
    """Idempotent: moto parses each distinct UpdateExpression text once per process, not twice per call."""
    global _parse_update_expression
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]

    with _lock:
        if _parse_update_expression is not None:
            return
        own = _parse_update_expression = UpdateExpressionParser.make
        parsed_once = functools.lru_cache(maxsize=1024)(lambda expression: own(expression))
        UpdateExpressionParser.make = staticmethod(parsed_once)  # type: ignore[method-assign, assignment]


# --- an update expression's structure checked once ---
#
# moto's validator makes ten passes over (a copy of) an update expression's tree on every UpdateItem. The first
# three only check its structure and return it unchanged: at most one clause of each kind, no two paths that
# overlap, no key attribute updated. Their verdict depends on the tree, the request's attribute names and the
# table's key attributes, nothing else; with the trees shared (parse_update_expressions_once), a combination that
# passed once passes again, so later calls skip those passes. A combination that failed is not kept: each call
# runs them and raises moto's own error. The other seven passes depend on the values and the item, and still run.
_STRUCTURE_CHECKS = ("ActionCountValidator", "OverlappingPathsValidator", "UpdateHashRangeKeyValidator")
_structure_passed: dict[tuple[int, tuple[tuple[str, str], ...], tuple[str, ...]], Any] = {}
_structure_patched = False
_check_structure_each_time: tuple[Any, Any] | None = None  # moto's own validator methods, for the comparison test


def check_update_structure_once() -> None:
    """Idempotent: an UpdateItem whose tree, attribute names and table keys passed moto's structure checks before
    skips them (needs parse_update_expressions_once, which shares the trees)."""
    global _structure_patched, _check_structure_each_time
    from moto.dynamodb.parsing.validators import UpdateExpressionValidator

    with _lock:
        if _structure_patched:
            return
        own_init, own_validate = UpdateExpressionValidator.__init__, UpdateExpressionValidator.validate
        _check_structure_each_time = (own_init, own_validate)

        def __init__(self: Any, expression: Any, expression_attribute_names: Any, *args: Any, **kwargs: Any) -> None:
            own_init(self, expression, expression_attribute_names, *args, **kwargs)
            names = tuple(sorted((expression_attribute_names or {}).items()))
            self.structure_key = (id(expression), names, tuple(self.table.table_key_attrs))
            self.structure_tree = expression
            if _structure_passed.get(self.structure_key) is expression:  # the same tree, not one at a reused id
                self.processors = [p for p in self.processors if type(p).__name__ not in _STRUCTURE_CHECKS]

        def validate(self: Any) -> Any:
            validated = own_validate(self)
            with _lock:
                if len(_structure_passed) >= 4096:
                    _structure_passed.clear()
                _structure_passed[self.structure_key] = self.structure_tree
            return validated

        UpdateExpressionValidator.__init__ = __init__  # type: ignore[method-assign]
        UpdateExpressionValidator.validate = validate  # type: ignore[method-assign]
        _structure_patched = True


# --- an update expression's tree copied from its pickle ---
#
# Before applying an UpdateItem, moto's validator deep-copies the expression's tree (its processors replace the
# placeholders in place, and parse_update_expressions_once shares the tree between calls): copy.deepcopy of a
# node tree, about a twelfth of the stack's CPU in a burst of deployments, most of it under the DynamoDB lock
# (py-spy on `bench.pipeline throughput`). Loading the tree's pickle makes the same copy about six times faster;
# each shared tree is pickled once. Anything that does not pickle is deep-copied as before.

_pickled_trees: dict[int, tuple[Any, bytes]] = {}
_trees_patched = False


def _copy_tree(value: Any, memo: Any = None) -> Any:
    from moto.dynamodb.parsing.ast_nodes import UpdateExpression  # type: ignore[attr-defined]

    if not isinstance(value, UpdateExpression):  # a value read from an item (list_append's): copied as moto does
        return copy.deepcopy(value, memo)
    entry = _pickled_trees.get(id(value))
    if entry is None or entry[0] is not value:  # not seen, or another tree at a reused id
        try:
            entry = (value, pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))
        except Exception:  # noqa: BLE001 - whatever does not pickle is copied the way moto copies it
            return copy.deepcopy(value, memo)
        with _lock:
            if len(_pickled_trees) >= 4096:
                _pickled_trees.clear()
            _pickled_trees[id(value)] = entry  # keeps the tree alive, so its id is not reused while listed
    return pickle.loads(entry[1])


def copy_update_trees_from_pickles() -> None:
    """Idempotent: moto's update-expression validator copies the tree it validates by loading its pickle."""
    global _trees_patched
    from moto.dynamodb.parsing import validators

    with _lock:
        if _trees_patched:
            return
        validators.deepcopy = _copy_tree  # type: ignore[assignment]
        _trees_patched = True


class _ModuleList:
    """moto's module names, listed once; called as moto calls list_of_moto_modules."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = frozenset(names)

    def __call__(self) -> frozenset[str]:
        return self.names


# --- the local AWS endpoint answers only the stack ---
#
# moto enforces IAM (SigV4 signatures checked against IAM users' keys, their policies evaluated) only after
# settings.INITIAL_NO_AUTH_ACTION_COUNT requests, a process-wide count that would also switch it on for every
# in-process moto mock (the unit tests share the integration stack's process). So enforcement is decided per
# request instead: on for every request the stack's server handles, off for in-process mocks.
_server_request = threading.local()
_authentication_patched = False


# A call's SigV4 signature is checked by moto the general way: it rebuilds the request as a botocore AWSRequest
# (headers copied through email.message), canonicalizes it as botocore does for any URL, and derives the signing key
# with four HMACs, every call: about a twentieth of the API's GET deployment, the most of any one step of moto's. A
# POST to "/" without a query string (DynamoDB's, SQS's, Step Functions' JSON calls) has one canonical form, computed
# here from the request as it came: the method, "/", no query, each header the signature names with its value, the
# hash of the body; the key is derived once per secret, day, region and service. A signature that matches is the
# one only the key's secret gives for what was sent. Anything else (another shape, a header named but missing, a
# signature that does not match) goes to moto's own check, which accepts or refuses it as before.
_signing_keys: dict[tuple[str, str, str, str], bytes] = {}


def _signing_key(secret: str, day: str, region: str, service: str) -> bytes:
    cached = (secret, day, region, service)
    key = _signing_keys.get(cached)
    if key is None:
        key = hmac.new(f"AWS4{secret}".encode(), day.encode(), hashlib.sha256).digest()
        for part in (region, service, "aws4_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        if len(_signing_keys) >= 256:
            _signing_keys.clear()
        _signing_keys[cached] = key
    return key


@functools.cache
def _left_out_of_signatures() -> frozenset[str]:
    """The headers moto's check (botocore's signer) leaves out of a signature even when the request names them."""
    from botocore.auth import SIGNED_HEADERS_BLACKLIST

    return frozenset(SIGNED_HEADERS_BLACKLIST)


def _signature_holds(handler: Any, iam_request: Any, path: str) -> bool:
    """Whether `handler`'s request (a POST to "/", moto's IAMRequest) carries the SigV4 signature its key's secret gives
    for it; False when it does not, or when the request is of another shape (moto's check then decides)."""
    from moto.iam.access_control import IAMRequest

    body = handler.raw_body
    if path != "/" or handler.method != "POST" or type(iam_request) is not IAMRequest or not isinstance(body, bytes):
        return False
    headers = handler.headers
    algorithm, _, fields = str(headers.get("Authorization", "")).partition(" ")
    parts = dict(field.strip().partition("=")[::2] for field in fields.split(","))
    day_and_scope = str(parts.get("Credential", "")).split("/")
    signed, signature, amz_date = parts.get("SignedHeaders", ""), parts.get("Signature", ""), headers.get("X-Amz-Date")
    names = signed.split(";")
    if (
        algorithm != "AWS4-HMAC-SHA256"
        or len(day_and_scope) != 5
        or day_and_scope[4] != "aws4_request"
        or not amz_date
        or day_and_scope[1] != amz_date[:8]
        or names != sorted(set(names))
        or "host" not in names
        or not _left_out_of_signatures().isdisjoint(names)
        or "x-amz-content-sha256" in headers
    ):
        return False
    _, day, region, service, _ = day_and_scope
    lines = []
    for name in names:
        value = headers.get(name)
        if value is None or name != name.lower():
            return False
        lines.append(f"{name}:{' '.join(value.split())}")
    canonical = "\n".join(["POST", "/", "", "\n".join(lines) + "\n", signed, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    secret = iam_request._access_key.create_credentials().secret_key
    expected = hmac.new(_signing_key(secret, day, region, service), to_sign.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def _enforce_iam(original: Callable[..., None]) -> Callable[..., None]:
    @functools.wraps(original)
    def authenticate(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        if not getattr(_server_request, "authenticate", False):
            original(self, iam_request_cls, resource)
            return
        from moto.core.exceptions import AuthFailureError

        if "Authorization" not in self.headers:
            raise AuthFailureError()  # unsigned (or presigned): the stack never sends those
        parsed_url = urlparse(self.uri)
        path = self.raw_path + (f"?{parsed_url.query}" if parsed_url.query else "")
        iam_request = iam_request_cls(
            account_id=self.current_account,
            method=self.method,
            path=path,
            data=self.data,
            body=self.raw_body,
            headers=self.headers,
            action=self._get_action(),
        )
        if not _signature_holds(self, iam_request, path):
            iam_request.check_signature()
        iam_request.check_action_permitted(resource)

    return authenticate


def _step_functions_client_with_the_stacks_credentials(original: Callable[..., Any]) -> Callable[..., Any]:
    """moto's Step Functions executor calls services back over HTTP with fixed credentials ("ak"), which the
    guarded endpoint refuses: in server mode it uses the credentials in the environment, the stack's.

    It asks for a new client at every service integration a state runs (each SQS message with a task token), and
    making a botocore client copies its event hooks and loads its service model: about a tenth of the stack's CPU
    in a burst of deployments (py-spy on `bench.pipeline throughput`). A client's calls are thread-safe, so one per
    service, region and endpoint is made and kept."""
    clients: dict[tuple[str, str, int, str], Any] = {}  # by region, service, endpoint's port and credentials
    making = threading.Lock()

    @functools.wraps(original)
    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        from moto.core.models import botocore_stubber

        if botocore_stubber.enabled:  # an in-process mock: no HTTP, no authentication
            return original(region, service, state_credentials)
        from moto.settings import moto_server_port

        port = int(moto_server_port())
        key = (region, service, port, os.environ.get("AWS_ACCESS_KEY_ID", ""))
        with making:
            if key not in clients:
                clients[key] = _integration_client(region, service, port)
            return clients[key]

    return boto_client_for


def _integration_client(region: str, service: str, port: int) -> Any:
    import boto3
    from botocore.config import Config

    timeout = 60
    return boto3.session.Session().client(
        service_name=service,
        region_name=region,
        endpoint_url=f"http://localhost:{port}",
        config=Config(
            parameter_validation=False,
            retries={"max_attempts": 0, "total_max_attempts": 1},
            connect_timeout=timeout,
            read_timeout=timeout,
            max_pool_connections=50,
        ),
    )


def require_authentication() -> None:
    """Idempotent: make moto check signatures and IAM policies on the requests a `LocalAwsServer` serves."""
    global _authentication_patched
    with _lock:
        if _authentication_patched:
            return
        import sys

        from moto.core.authorization import ActionAuthenticatorMixin
        from moto.stepfunctions.parser.asl.utils import boto_client

        ActionAuthenticatorMixin._authenticate_and_authorize_action = _enforce_iam(  # type: ignore[method-assign]
            ActionAuthenticatorMixin._authenticate_and_authorize_action
        )
        original = boto_client.boto_client_for
        patched = _step_functions_client_with_the_stacks_credentials(original)
        # Modules imported later take the patched function from boto_client; those already imported hold the
        # original under their own name.
        for module in list(sys.modules.values()):
            if getattr(module, "boto_client_for", None) is original:
                module.boto_client_for = patched  # type: ignore[attr-defined]
        _authentication_patched = True


# --- task answers that reach the execution waiting for them ---
#
# moto's Step Functions answers a task token (SendTaskSuccess, SendTaskFailure, SendTaskHeartbeat) by asking each
# execution in turn whether the token is one of its own, through the execution's worker's environment. An execution
# that is being started has neither yet for a moment (it is listed before its worker is made and its environment
# set up), and asking it raised AttributeError: the answer for another execution's task failed with a 500, its
# worker's message came back later, and the task waited. Such an execution has no task waiting, so it is skipped:
# the token is looked up among those that can hold one, with moto's own errors otherwise (InvalidToken,
# TaskTimedOut, TaskDoesNotExist).
_answers_patched = False


def _callback_pools(backend: Any, running_only: bool) -> Iterator[Any]:
    from moto.stepfunctions.parser.api import ExecutionStatus

    for state_machine in list(backend.state_machines):
        for execution in list(state_machine.executions):
            status = execution.exec_status
            if status is None or (running_only and status != ExecutionStatus.RUNNING):
                continue
            environment = getattr(execution.exec_worker, "env", None)
            if environment is not None:
                yield environment.callback_pool_manager


def _answered(backend: Any, running_only: bool, answer: Callable[[Any], bool]) -> bool:
    from moto.stepfunctions.parser.api import TaskDoesNotExist, TaskTimedOut
    from moto.stepfunctions.parser.asl.eval.callback.callback import (
        CallbackConsumerTimeout,
        CallbackNotifyConsumerError,
    )

    for pool in _callback_pools(backend, running_only):
        try:
            if answer(pool):
                return True
        except CallbackNotifyConsumerError as consumer_error:
            if isinstance(consumer_error, CallbackConsumerTimeout):
                raise TaskTimedOut() from consumer_error  # type: ignore[call-arg]  # as moto raises it
            raise TaskDoesNotExist() from consumer_error  # type: ignore[call-arg]
    return False


def answer_tasks_of_started_executions_only() -> None:
    """Idempotent: task answers skip the executions still being started (moto's own lookup otherwise)."""
    global _answers_patched
    with _lock:
        if _answers_patched:
            return
        from moto.stepfunctions.parser.api import InvalidToken, SendTaskFailureOutput
        from moto.stepfunctions.parser.asl.eval.callback.callback import (
            CallbackOutcomeFailure,
            CallbackOutcomeSuccess,
        )
        from moto.stepfunctions.parser.models import StepFunctionsParserBackend

        # What each answers is moto's: nothing for a heartbeat and a success, SendTaskFailureOutput for a failure.
        def send_task_heartbeat(self: Any, task_token: str) -> Any:
            if _answered(self, True, lambda pool: pool.heartbeat(callback_id=task_token)):
                return None
            raise InvalidToken()

        def send_task_success(self: Any, task_token: str, outcome: str) -> Any:
            success = CallbackOutcomeSuccess(callback_id=task_token, output=outcome)
            if _answered(self, True, lambda pool: pool.notify(callback_id=task_token, outcome=success)):
                return None
            raise InvalidToken()

        def send_task_failure(self: Any, task_token: str, error: Any = None, cause: Any = None) -> Any:
            failure = CallbackOutcomeFailure(callback_id=task_token, error=error, cause=cause)
            if _answered(self, False, lambda pool: pool.notify(callback_id=task_token, outcome=failure)):
                return SendTaskFailureOutput()
            raise InvalidToken()

        StepFunctionsParserBackend.send_task_heartbeat = send_task_heartbeat  # type: ignore[method-assign]
        StepFunctionsParserBackend.send_task_success = send_task_success  # type: ignore[method-assign]
        StepFunctionsParserBackend.send_task_failure = send_task_failure  # type: ignore[method-assign]
        _answers_patched = True


def _names_control_api(path: str) -> bool:
    """Whether `path` leads to moto's /moto-api/, however spelled: moto routes only paths that start with it,
    but `//moto-api`, `/./moto-api` or `/x/../moto-api` must not slip through a normalisation down the line.
    (An S3 key with a moto-api folder, /bucket/.../moto-api/..., is a bucket's path, not this.)"""
    first = posixpath.normpath("/" + path.lstrip("/")).lstrip("/").split("/")[0]
    return first.lower() == "moto-api"


# --- one connection for many requests ---
#
# werkzeug's development server closes the connection after every answer (it cannot tell where a request's body ends
# before the next request line, so it drains the socket and hangs up), so every AWS call the stack made opened a new
# TCP connection and the server started a thread for it: about a third of a DynamoDB read's cost, twice over (a
# connection each side). AWS keeps connections open and botocore's pool reuses them; so does this handler. It gives
# the application a view of the body bounded by Content-Length (what it leaves unread is skipped afterwards, and
# werkzeug's drain reads nothing past it), and keeps the connection unless the request asked to close it or framed
# its body in chunks (then it hangs up as werkzeug does). Answers go out without Nagle's delay: the headers and the
# body are written separately, and a reused connection would otherwise wait for the client's delayed ACK (40 ms).


class _BoundedBody(io.BufferedIOBase):
    """A request's body read from the connection's stream: `length` bytes, then end of file."""

    def __init__(self, stream: Any, length: int) -> None:
        super().__init__()
        self._stream = stream
        self.left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.left if size is None or size < 0 else min(size, self.left)
        data = self._stream.read(wanted) if wanted else b""
        self.left -= len(data)
        if wanted and not data:
            self.left = 0  # the client hung up mid-body
        return bytes(data)

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self.left if size is None or size < 0 else min(size, self.left)
        data = self._stream.readline(wanted) if wanted else b""
        self.left -= len(data)
        if wanted and not data:
            self.left = 0
        return bytes(data)

    def skip_rest(self) -> None:
        while self.read(1 << 16):
            pass


# --- requests' and answers' headers read without the email parser ---
#
# http.server reads a request's headers with email's feed parser, made for mail with folded lines, MIME parts and
# defects to record: with the client's own parse of the answer, about a sixth of what a small AWS call costs the
# embedded stack (A/B on ListTables, one thread: 1.27 ms of CPU a call against 1.43-1.53). The endpoint's requests
# come from botocore, one "Name: value" per line; while this handler reads a request, and while a botocore client
# sends and reads its answer (read_answer_headers_quickly), and only then (the thread says so:
# `_reading_local_headers`), such a block is stored as the parser stores it, each (name, value) in order with the
# value's leading blanks and line end stripped. A block with anything else (a folded line, a name that is not a
# token, bytes past ASCII) goes to email's parser, as before. tests/unit/test_moto_headers.py compares the two on
# many blocks.
_reading_local_headers = threading.local()
_HEADER_NAME_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - {":"}
_own_parse_headers: Callable[..., Any] | None = None  # http.client's own, for the comparison test


def _parse_headers(fp: Any, _class: Any = None) -> Any:
    import http.client

    assert _own_parse_headers is not None
    _class = _class or http.client.HTTPMessage
    if not getattr(_reading_local_headers, "active", False):
        return _own_parse_headers(fp, _class=_class)
    lines = http.client._read_headers(fp)  # type: ignore[attr-defined]  # its limits, and its errors
    return _headers_of(lines, _class)


def _headers_of(lines: list[bytes], message_class: Any) -> Any:
    """The message email's parser makes of a header block (its lines, the blank one last) when the block is plain."""
    import email.parser

    message = message_class()
    stored = []
    for line in lines:
        if line in (b"\r\n", b"\n", b""):
            break
        text = line.decode("iso-8859-1")
        name, colon, value = text.partition(":")
        if not colon or not name or not _HEADER_NAME_CHARS.issuperset(name) or not line.isascii():
            return email.parser.Parser(_class=message_class).parsestr(b"".join(lines).decode("iso-8859-1"))
        stored.append((name, value.lstrip(" \t").rstrip("\r\n")))
    message._headers = stored
    message.set_payload("")  # what the parser leaves after a block with no body
    return message


def read_request_headers_quickly() -> None:
    """Idempotent: the local endpoint's handler reads plain header blocks without email's parser."""
    global _own_parse_headers
    import http.client

    with _lock:
        if _own_parse_headers is not None:
            return
        _own_parse_headers = http.client.parse_headers
        http.client.parse_headers = _parse_headers


_own_send: Callable[..., Any] | None = None


def read_answer_headers_quickly() -> None:
    """Idempotent: botocore's clients read their answers' header blocks the same way, while they send (in the
    embedded stack every client's endpoint is the local one). Each AWS call reads one block on each side: about 5%
    of a small call's CPU for this side (A/B on GetItem, one thread: 1.26-1.30 ms against 1.29-1.37 ms)."""
    global _own_send
    from botocore.httpsession import URLLib3Session

    read_request_headers_quickly()
    with _lock:
        if _own_send is not None:
            return
        _own_send = URLLib3Session.send
        URLLib3Session.send = _sending  # type: ignore[method-assign]


def _sending(self: Any, request: Any) -> Any:
    assert _own_send is not None
    before = getattr(_reading_local_headers, "active", False)
    _reading_local_headers.active = True
    try:
        return _own_send(self, request)
    finally:
        _reading_local_headers.active = before


_connections_lock = threading.Lock()


def _open_connections(server: Any) -> set[socket.socket]:
    """The connections a LocalAwsServer's server holds open (set when it is made)."""
    return server.open_connections  # type: ignore[no-any-return]


def _keep_alive_handler() -> type:
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class KeepAliveRequestHandler(MotoRequestHandler):  # type: ignore[misc, valid-type]
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True
        _keep = False

        def run_wsgi(self) -> None:
            length = self.headers.get("Content-Length", "0")
            framed_in_chunks = "Transfer-Encoding" in self.headers
            self._keep = not framed_in_chunks and length.isascii() and length.isdigit()
            if not self._keep:
                return super().run_wsgi()  # werkzeug's own way, and the connection closes
            connection_stream = self.rfile
            body = self.rfile = _BoundedBody(connection_stream, int(length))
            try:
                super().run_wsgi()
                body.skip_rest()
            finally:
                self.rfile = connection_stream
                self._keep = False

        def parse_request(self) -> bool:
            _reading_local_headers.active = True
            try:
                return bool(super().parse_request())
            finally:
                _reading_local_headers.active = False

        def setup(self) -> None:
            super().setup()
            with _connections_lock:
                _open_connections(self.server).add(self.connection)

        def finish(self) -> None:
            with _connections_lock:
                _open_connections(self.server).discard(self.connection)
            super().finish()

        def send_header(self, keyword: str, value: str) -> None:
            # werkzeug says "Connection: close" on every answer; kept connections do not
            closing = keyword.lower() == "connection" and value.lower() == "close"
            if closing and self._keep and not self.close_connection:
                return
            super().send_header(keyword, value)

    return KeepAliveRequestHandler


# --- DynamoDB's, SQS's and Step Functions' calls handed to moto's handlers directly ---
#
# Every request to moto's server goes through its domain dispatcher (under a lock every request shares, it works out
# the service from the Authorization header's credential scope and picks that service's Flask app) and then Flask
# (request and application contexts, URL routing to the one rule "/" every such call matches, Flask-CORS's
# after-request hook), before the service's handler (DynamoHandler.dispatch), the same for every call. That is about
# a tenth of the API's GET deployment, two DynamoDB calls (A/B in one process, 40 alternating blocks), and a few
# percent of a burst of deployments, whose queue hops are SQS and Step Functions calls of the same JSON shape. Such a
# call, told apart exactly as the dispatcher tells it (a POST to "/" signed for the service, with its X-Amz-Target),
# goes to the service's handler as moto's Flask view would hand it (the same request class, the request recorder, a
# ClientError answered 400), and its answer gets the one header Flask-CORS gives a request without an Origin
# (always_send with origins "*"). Anything else, a request with an Origin header included, goes moto's way.
_DIRECT_TARGETS = {
    # X-Amz-Target's prefix: (the service its signature names, the module and class of moto's handler)
    "DynamoDB_20120810.": ("dynamodb", "moto.dynamodb.responses", "DynamoHandler"),
    "AmazonSQS.": ("sqs", "moto.sqs.responses", "SQSResponse"),
    "AWSStepFunctions.": ("states", "moto.stepfunctions.responses", "StepFunctionResponse"),
}


def _signed_service(authorization: str) -> str | None:
    """The service of a SigV4 Authorization header's credential scope, as moto's dispatcher reads it."""
    try:
        credential_scope = authorization.split(",")[0].split()[1]
        _, _, _, service, _ = credential_scope.split("/")
    except (IndexError, ValueError):
        return None
    return service.lower()


@functools.cache
def _handler(module: str, name: str) -> Any:
    import importlib

    return getattr(importlib.import_module(module), name)


def _direct_handler(environ: dict[str, Any]) -> Any:
    """The moto handler class a JSON call of DynamoDB, SQS or Step Functions goes to directly, or None."""
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") != "/" or "HTTP_ORIGIN" in environ:
        return None
    target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
    prefix = target[: target.find(".") + 1]
    entry = _DIRECT_TARGETS.get(prefix) if prefix else None
    if entry is None or _signed_service(str(environ.get("HTTP_AUTHORIZATION", ""))) != entry[0]:
        return None
    return _handler(entry[1], entry[2])


def _answer_directly(handler: Any, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    """What moto's Flask app answers the call (moto.core.utils.convert_to_flask_response, then Flask-CORS)."""
    from botocore.exceptions import ClientError
    from flask import Response
    from moto.moto_api import recorder
    from moto.moto_server.werkzeug_app import BackendRequest

    request = BackendRequest(environ)
    recorder._record_request(request)
    try:
        result = handler.dispatch(request, request.raw_url, dict(request.headers))
    except ClientError as exc:
        result = 400, {}, exc.response["Error"]["Message"]
    status, headers, content = result if len(result) == 3 else (200, {}, result)
    response = Response(response=content, status=status, headers=headers)
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response(environ, start_response)


class LocalAwsServer:
    """moto's server (as ThreadedMotoServer runs it) behind a guard: every AWS request must be signed with an IAM
    user's key (the stack's: see EmbeddedStack), and moto's unauthenticated control API (/moto-api/: reset,
    config, the no-auth count) answers 403 to everyone; the stack configures moto in-process instead.
    `directly`: DynamoDB's, SQS's and Step Functions' JSON calls skip moto's dispatcher and Flask (off: every request
    goes moto's way)."""

    def __init__(self, host: str, port: int, directly: bool = True) -> None:
        self.host = host
        self.port = port
        self.authenticate = False  # off only while the stack creates its own IAM user
        self.directly = directly
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def _guarded(self, app: Callable[..., Any]) -> Callable[..., Any]:
        def guard(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if _names_control_api(str(environ.get("PATH_INFO", ""))):
                body = b'{"message": "moto\'s control API is not available on the embedded stack"}'
                start_response(
                    "403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
                )
                return [body]
            _server_request.authenticate = self.authenticate
            try:
                handler = _direct_handler(environ) if self.directly else None
                if handler is not None:
                    return _answer_directly(handler, environ, start_response)
                return app(environ, start_response)
            finally:
                _server_request.authenticate = False

        return guard

    def start(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        require_authentication()
        read_answer_headers_quickly()  # and the requests' blocks
        answer_tasks_of_started_executions_only()
        app = self._guarded(DomainDispatcherApplication(create_backend_app))
        self._server = make_server(self.host, self.port, app, threaded=True, request_handler=_keep_alive_handler())
        self._server.open_connections = set()
        self._thread = threading.Thread(target=self._server.serve_forever, name="local-aws", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """No new connection is accepted, and the kept ones are cut: a stopped server answers no one."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            with _connections_lock:
                kept = list(_open_connections(self._server))
            for connection in kept:
                with contextlib.suppress(OSError):  # closed by its client meanwhile
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join()


# --- what changed: the items and objects the embedded stack's snapshots read again ---
#
# A snapshot (chalicelib.local.snapshots) reads back only what was written since the one before. Each write the
# endpoint applies (DynamoDB's item writes, which BatchWriteItem is made of too, and S3's object writes, which
# copies and multipart completions are made of) is recorded with its table and key, or bucket and object key. A
# table write is recorded inside the lock it is applied under, so a snapshot that finds nothing new recorded
# knows no table changed while it read. A write refused by its condition is recorded too: an item read again for
# nothing costs less than a change missed.
_recorded: list[tuple[str, str, Any]] = []
_recording = False
_changes_patched = False


def _record(service: str, entries: Iterable[tuple[str, Any]]) -> None:
    with _lock:
        if _recording:
            _recorded.extend((service, name, key) for name, key in entries)


def _recording_writes(
    method: Callable[..., Any], service: str, entries: Callable[..., Iterable[tuple[str, Any]]]
) -> Callable[..., Any]:
    """`method`, recording what it writes once it returns or raises. A DynamoDB write is recorded inside the lock
    it runs under; an S3 write takes the lock only to record, so objects never wait for tables."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        if service == "s3":
            try:
                return method(self, *args, **kwargs)
            finally:
                _record(service, entries(*args, **kwargs))
        with _lock:
            try:
                return method(self, *args, **kwargs)
            finally:
                _record(service, entries(*args, **kwargs))

    return wrapper


def _argument(args: tuple[Any, ...], kwargs: dict[str, Any], position: int, name: str) -> Any:
    return args[position] if len(args) > position else kwargs[name]


def _put_item(*args: Any, **kwargs: Any) -> list[tuple[str, Any]]:
    return [(_argument(args, kwargs, 0, "table_name"), _argument(args, kwargs, 1, "item_attrs"))]


def _keyed_item(*args: Any, **kwargs: Any) -> list[tuple[str, Any]]:
    return [(_argument(args, kwargs, 0, "table_name"), _argument(args, kwargs, 1, "key"))]


def _transaction_items(*args: Any, **kwargs: Any) -> list[tuple[str, Any]]:
    entries = []
    for entry in _argument(args, kwargs, 0, "transact_items"):
        for request in entry.values():
            entries.append((str(request.get("TableName")), request.get("Item") or request.get("Key") or {}))
    return entries


def _object(*args: Any, **kwargs: Any) -> list[tuple[str, Any]]:
    return [(_argument(args, kwargs, 0, "bucket_name"), _argument(args, kwargs, 1, "key_name"))]


def record_changes() -> None:
    """Idempotent: from now on, record every item and object write of the endpoint until `take_changes`."""
    global _changes_patched, _recording
    with _lock:
        _recording = True
        if _changes_patched:
            return
        from moto.dynamodb.models import DynamoDBBackend
        from moto.s3.models import S3Backend

        patches = [
            (DynamoDBBackend, "put_item", "dynamodb", _put_item),
            (DynamoDBBackend, "update_item", "dynamodb", _keyed_item),
            (DynamoDBBackend, "delete_item", "dynamodb", _keyed_item),
            (DynamoDBBackend, "transact_write_items", "dynamodb", _transaction_items),
            (S3Backend, "put_object", "s3", _object),  # copies and multipart completions put objects too
            (S3Backend, "delete_object", "s3", _object),  # and DeleteObjects deletes each
        ]
        for cls, name, service, entries in patches:
            setattr(cls, name, _recording_writes(getattr(cls, name), service, entries))
        _changes_patched = True


def stop_recording() -> None:
    global _recording
    with _lock:
        _recording = False
        _recorded.clear()


def take_changes() -> list[tuple[str, str, Any]]:
    """Every write recorded since the last call, oldest first, as (service, table or bucket, key): for DynamoDB the
    item or key attributes the request named (its key attributes among them), for S3 the object key."""
    with _lock:
        taken = list(_recorded)
        _recorded.clear()
        return taken
