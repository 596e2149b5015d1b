"""moto's work per request made cheaper where a burst of deployments spends it, each change answering exactly what
moto answers (tests/unit/test_moto_quick.py runs the same requests both ways and compares).

Found with yappi (CPU clock, every thread) on `python -m bench.pipeline throughput`, where the embedded stack's
moto takes about half of the process's CPU; each of these was 1.5-3% of all of it:

- **Random identifiers.** moto draws every request id (52 letters and digits, on every answer) and every SQS
  receipt handle (185 letters) one `random.choice` at a time. They are drawn from one `getrandbits` of moto's own
  random source (so seeding moto still fixes them) and mapped onto the same alphabet.
- **Update-expression passes.** moto's validator walks an UpdateItem's tree seven times, and at every node of
  every walk its traverser rebuilds the map of the node classes it processes (twice: to test the node, then to
  pick the method). The map is a pure function of the traverser, so a walk builds it once.
- **Condition expressions.** Every conditional write lexes its ConditionExpression from the text again. The tokens
  depend on the text alone; the text's tokens are kept and each parse gets new nodes made from them.
- **BatchGetItem's size limit.** moto sums every returned item's size, attribute by attribute, to stop at 16 MB.
  An item holds at most 405,000 bytes (moto refuses bigger writes), so a request for at most 41 keys can never
  reach 16 MB: its items are not measured.
"""

from __future__ import annotations

import contextlib
import functools
import string
import threading
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

_lock = threading.Lock()
# What each change replaced, by change: (owner, attribute name, moto's own value); see `as_shipped`.
_replaced: dict[str, list[tuple[Any, str, Any]]] = {}


def _replace(change: str, replacements: list[tuple[Any, str, Any]]) -> None:
    """Apply a change's replacements once per process (idempotent)."""
    with _lock:
        if change in _replaced:
            return
        _replaced[change] = [(owner, name, getattr(owner, name)) for owner, name, _ in replacements]
        for owner, name, value in replacements:
            setattr(owner, name, value)


@contextlib.contextmanager
def as_shipped() -> Iterator[None]:
    """moto as it ships, while the context lasts (for the tests comparing the two); not thread-safe."""
    changed = [(owner, name, getattr(owner, name)) for entries in _replaced.values() for owner, name, _ in entries]
    for entries in _replaced.values():
        for owner, name, own in entries:
            setattr(owner, name, own)
    try:
        yield
    finally:
        for owner, name, value in changed:
            setattr(owner, name, value)


def apply_all() -> None:
    quick_random_ids()
    traverse_with_one_map()
    lex_conditions_once()
    size_batch_gets_only_when_they_can_matter()


# --- random identifiers ---


def _drawing(alphabet: str, length: int) -> Callable[[], str]:
    """A function drawing `length` characters of `alphabet` from one `getrandbits` of moto's random source."""
    table = bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))

    def draw() -> str:
        from moto.moto_api._internal import mock_random

        return mock_random.getrandbits(8 * length).to_bytes(length, "little").translate(table).decode("ascii")

    return draw


def quick_random_ids() -> None:
    """Idempotent: moto's request ids and SQS receipt handles, drawn in one go."""
    from moto.core import responses
    from moto.sqs import models as sqs_models
    from moto.utilities import aws_headers

    request_id = _drawing(string.ascii_letters + string.digits, 52)

    def gen_amzn_requestid_long(headerdict: dict[str, Any] | None = None) -> str:
        req_id = request_id()
        if headerdict is not None and isinstance(headerdict, dict):
            headerdict.update({"x-amzn-requestid": req_id})
        return req_id

    _replace(
        "random ids",
        [
            (aws_headers, "gen_amzn_requestid_long", gen_amzn_requestid_long),
            (responses, "gen_amzn_requestid_long", gen_amzn_requestid_long),
            (sqs_models, "generate_receipt_handle", _drawing(string.ascii_lowercase, 185)),
        ],
    )


# --- update-expression passes ---


def traverse_with_one_map() -> None:
    """Idempotent: a traverser's walk over an update expression builds its map of node classes once."""
    from moto.dynamodb.parsing.ast_nodes import DepthFirstTraverser, Node  # type: ignore[attr-defined]

    own_pre_processing = DepthFirstTraverser.pre_processing_of_child

    def traverse(self: Any, node: Any) -> Any:
        processing = tuple(self._processing_map().items())
        classes = tuple(cls for cls, _ in processing)
        pre_processing = None
        if type(self).pre_processing_of_child is not own_pre_processing:
            pre_processing = self.pre_processing_of_child

        def walk(node: Any, child_id: int) -> Any:
            # DepthFirstTraverser.traverse_node_recursively, with the map built above
            if isinstance(node, Node):
                parent_node = node.parent
                if node.children is not None:
                    for i, child_node in enumerate(node.children):
                        if pre_processing is not None:
                            pre_processing(node, i)
                        walk(child_node, i)
                if isinstance(node, classes):
                    node = next(process(node) for cls, process in processing if isinstance(node, cls))
                    node.parent = parent_node
                    if parent_node:
                        parent_node.children[child_id] = node
            return node

        return walk(node, -1)

    _replace("update walks", [(DepthFirstTraverser, "traverse", traverse)])


# --- condition expressions ---


@functools.lru_cache(maxsize=2048)
def _tokens(expression: str) -> tuple[tuple[str, str, str, Any], ...]:
    """The tokens of an expression, as moto's lexer makes them (its errors are raised, and not kept)."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    lexer = ConditionExpressionParser(expression, {}, {})
    return tuple((n.nonterminal, n.kind, n.text, n.value) for n in _lex_as_shipped(lexer))


def _lex_as_shipped(parser: Any) -> Any:
    own = _replaced["condition lexing"][0][2]
    return own(parser)


def lex_conditions_once() -> None:
    """Idempotent: each ConditionExpression text is lexed once; every parse gets new nodes made from its tokens."""
    from moto.dynamodb.comparisons import ConditionExpressionParser

    def lex(self: Any) -> deque[Any]:
        make = self.Node
        return deque(
            make(nonterminal=nonterminal, kind=kind, text=text, value=value, children=[])
            for nonterminal, kind, text, value in _tokens(self.condition_expression)
        )

    _replace("condition lexing", [(ConditionExpressionParser, "_lex_condition_expression", lex)])


# --- BatchGetItem's size limit ---

_BATCH_GET_LIMIT = 16 * 1024 * 1024
_ITEM_LIMIT = 405_000  # moto's LimitedSizeDict: no item holds more
_unmeasured = threading.local()


def size_batch_gets_only_when_they_can_matter() -> None:
    """Idempotent: a BatchGetItem whose keys could not add up to 16 MB of items does not measure them."""
    from moto.dynamodb.models.dynamo_type import Item
    from moto.dynamodb.responses import DynamoHandler

    own_batch_get, own_size = DynamoHandler.batch_get_item, Item.size

    @functools.wraps(own_batch_get)
    def batch_get_item(self: Any) -> Any:
        requested = self.body.get("RequestItems") if isinstance(self.body, dict) else None
        keys = sum(len(r.get("Keys", [])) for r in requested.values()) if isinstance(requested, dict) else None
        if keys is None or keys * _ITEM_LIMIT >= _BATCH_GET_LIMIT:
            return own_batch_get(self)
        _unmeasured.active = True
        try:
            return own_batch_get(self)
        finally:
            _unmeasured.active = False

    @functools.wraps(own_size)
    def size(self: Any) -> int:
        if getattr(_unmeasured, "active", False):
            return 0  # cannot reach the limit it is compared with (see batch_get_item)
        return int(own_size(self))

    _replace("batch get sizes", [(DynamoHandler, "batch_get_item", batch_get_item), (Item, "size", size)])
