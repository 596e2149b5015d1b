"""Every PynamoDB model is in chalicelib.models.all_models(): the embedded stack and the tests forget each model's
cached connection through that list, and a model left out keeps talking to whatever endpoint it first saw."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from pynamodb.models import Model

import chalicelib.models
from chalicelib.models import all_models


def test_every_model_is_listed() -> None:
    defined = set()
    for module_info in pkgutil.iter_modules(chalicelib.models.__path__):
        module = importlib.import_module(f"chalicelib.models.{module_info.name}")
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, Model) and value is not Model and value.__module__ == module.__name__:
                defined.add(value)
    assert defined and defined <= set(all_models()), sorted(m.__name__ for m in defined - set(all_models()))
