"""The status vocabulary: one leaf module every layer shares, rendered as plain strings."""

from __future__ import annotations

import ast
import json
from pathlib import Path

from chalicelib import vocabulary
from chalicelib.infra import state_machine
from chalicelib.services import statuses
from chalicelib.vocabulary import NON_TERMINAL, TERMINAL, Status


def test_the_vocabulary_imports_nothing_from_the_project() -> None:
    # Given the vocabulary module's source
    tree = ast.parse(Path(vocabulary.__file__).read_text())

    # When its imports are read
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}

    # Then none of them is deployd's own
    assert imported and not [name for name in imported if name.split(".")[0] == "chalicelib"]


def test_every_status_is_either_terminal_or_not_and_the_pipeline_order_holds() -> None:
    assert set(TERMINAL).isdisjoint(NON_TERMINAL)
    assert set(TERMINAL) | set(NON_TERMINAL) == set(Status)
    assert NON_TERMINAL == ("queued", "cloning", "building", "uploading", "deploying")
    assert TERMINAL == ("deployed", "failed", "cancelled")


def test_the_state_machine_and_the_dialects_share_the_one_vocabulary() -> None:
    # The generator's condition values and the dialects' tables are keyed by the same members.
    assert state_machine.NON_TERMINAL is NON_TERMINAL
    assert set(statuses.GITHUB_STATE) == set(Status)
    assert set(statuses.GITLAB_STATUS) == set(Status)
    assert set(statuses.NATIVE_FROM_GITLAB.values()) <= set(Status)


def test_a_status_reads_and_renders_as_its_plain_value() -> None:
    # A member stored, compared or rendered is indistinguishable from the string a client reads.
    assert Status.DEPLOYED == "deployed"
    assert {"deployed": 1}[Status.DEPLOYED] == 1
    assert f"deployment {Status.CANCELLED}" == "deployment cancelled"
    assert json.dumps({"status": Status.QUEUED}) == '{"status": "queued"}'
