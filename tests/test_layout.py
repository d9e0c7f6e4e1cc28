"""The skeleton: every package of the distribution imports from the installed project."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["neptune_scale", "neptune_scale.transport", "despina"])
def test_package_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(module.__all__, list)
