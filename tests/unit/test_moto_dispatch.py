"""The embedded stack's moto server finds a request's backend without listing moto's package directory each time
(chalicelib.local.moto_compat.read_moto_modules_once), and its handler classes' methods are listed once."""

from __future__ import annotations

import os

import pytest

from chalicelib.local.moto_compat import (
    convert_names_once,
    list_handler_methods_once,
    parse_definitions_once,
    read_moto_modules_once,
)


def test_a_backend_is_found_without_listing_the_disk_and_finds_what_the_listing_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    listed = set(backends.list_of_moto_modules())
    read_moto_modules_once()
    read_moto_modules_once()  # idempotent

    # Once read, the modules are the ones the directory listing gave, and the disk is never listed again
    def no_listing(path: str) -> list[str]:
        raise AssertionError(f"listed {path}")

    monkeypatch.setattr(os, "listdir", no_listing)
    assert set(backends.list_of_moto_modules()) == listed
    dispatcher = DomainDispatcherApplication(create_backend_app)
    assert dispatcher.get_backend_for_host("dynamodb") == "dynamodb"
    assert dispatcher.get_backend_for_host("sqs.us-east-1.amazonaws.com") == "sqs"


def test_a_handler_class_is_inspected_once_and_still_names_its_actions(monkeypatch: pytest.MonkeyPatch) -> None:
    import inspect

    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler

    list_handler_methods_once()
    list_handler_methods_once()  # idempotent
    names = responses.method_names_from_class(DynamoHandler)
    assert {"get_item", "transact_write_items"} <= names

    def no_inspection(*args: object, **kwargs: object) -> list[object]:
        raise AssertionError("inspected the handler class again")

    monkeypatch.setattr(inspect, "getmembers", no_inspection)
    assert responses.method_names_from_class(DynamoHandler) == names


def test_names_are_converted_once_each_and_as_moto_converts_them() -> None:
    from moto.core import responses, utils
    from moto.sqs import models

    expected = {name: utils.camelcase_to_underscores(name) for name in ("GetItem", "VisibilityTimeout", "ARNName")}
    convert_names_once()
    convert_names_once()  # idempotent
    assert responses.camelcase_to_underscores is utils.camelcase_to_underscores is models.camelcase_to_underscores
    for name, snake in expected.items():
        assert utils.camelcase_to_underscores(name) == snake
        assert utils.camelcase_to_underscores(name) == snake
    assert utils.camelcase_to_underscores.cache_info().hits >= len(expected)  # type: ignore[attr-defined]


def test_a_state_machine_definition_is_parsed_once_for_all_its_executions() -> None:
    import json

    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    first = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    second = json.dumps({"StartAt": "End", "States": {"End": {"Type": "Succeed"}}})
    parse_definitions_once()
    parse_definitions_once()  # idempotent

    # Each definition's program is made once and handed to every execution of it; another definition has its own
    program, _ = AmazonStateLanguageParser.parse(first)
    assert AmazonStateLanguageParser.parse(first)[0] is program
    assert AmazonStateLanguageParser.parse(second)[0] is not program
