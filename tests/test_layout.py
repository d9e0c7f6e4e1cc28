"""The skeleton: every package of the distribution imports from the installed project."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["neptune_scale", "neptune_scale.transport", "despina"])
def test_package_imports(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(module.__all__, list)


def test_test_modules_have_unique_basenames() -> None:
    """pytest's default import mode puts each test folder on sys.path: equal names collide."""
    from collections import Counter
    from pathlib import Path

    tests = Path(__file__).parent
    names = Counter(
        p.name for p in tests.rglob("*.py") if p.name not in {"conftest.py", "__init__.py"}
    )
    assert [name for name, n in names.items() if n > 1] == []


def test_no_test_imports_from_conftest() -> None:
    """Which conftest.py answers to `conftest` depends on the paths pytest was given."""
    import re
    from pathlib import Path

    statement = re.compile(r"^\s*(from conftest import|import conftest\b)", re.MULTILINE)
    tests = Path(__file__).parent
    offenders = [
        str(p.relative_to(tests)) for p in tests.rglob("*.py") if statement.search(p.read_text())
    ]
    assert offenders == []


def test_import_contracts_hold() -> None:
    """The walls of pyproject.toml's [tool.importlinter]: no private module imported from outside
    its parent package, no import cycle (scripts/check runs the same in CI)."""
    import os
    import shutil
    import subprocess
    from pathlib import Path

    root = Path(__file__).parent.parent
    program = shutil.which("lint-imports")
    assert program is not None, "import-linter is in the dev extra: pip install -e '.[dev]'"
    folders = ["core", "server", "integrations/flyte", "integrations/lightning", "integrations/hf",
               "integrations/optuna"]  # fmt: skip
    path = os.pathsep.join(str(root / folder) for folder in folders)
    result = subprocess.run(
        [program, "--no-cache", "--no-logo"],
        cwd=root,
        env=os.environ | {"PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_import_contracts_have_no_exemptions() -> None:
    """A wall with holes holds nothing: a crossing or cycle is fixed with a public surface or a
    third module, never listed as an exemption; every integration is inside the walls."""
    from pathlib import Path

    import tomllib

    config = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    linter = config["tool"]["importlinter"]
    assert [c["name"] for c in linter["contracts"] if c.get("ignore_imports")] == []
    packages = {"neptune_scale", "despina", "flytekitplugins.neptune", "despina_lightning",
                "despina_hf", "despina_optuna"}  # fmt: skip
    assert set(linter["root_packages"]) == packages
    (acyclic,) = [c for c in linter["contracts"] if c["type"] == "acyclic_siblings"]
    assert set(acyclic["ancestors"]) == packages
