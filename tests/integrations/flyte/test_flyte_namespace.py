"""`flytekitplugins` is a namespace shared with other Flyte plugins: ours must import beside them.

Each case runs a fresh interpreter, because a namespace package is resolved once per process.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

IMPORTS = (
    "import flytekit, flytekitplugins.otherplug as other; "
    "from flytekitplugins.neptune import neptune_init_run, neptune_scale_run; "
    "from flytekitplugins.neptune.tracking import neptune_init_run as legacy; "
    "assert legacy is neptune_init_run and other.VALUE == 7; print('ok')"
)
# What setuptools' `namespace_packages` wheels (upstream flytekitplugins-*) do at start-up: a
# .pth that puts a `flytekitplugins` namespace module into sys.modules before anything imports.
NSPKG_PTH = (
    "import sys, importlib.util, importlib.machinery, os; "
    "d = sys._getframe(1).f_locals['sitedir']; "
    "spec = importlib.machinery.PathFinder.find_spec('flytekitplugins', [d]); "
    "sys.modules.setdefault('flytekitplugins', importlib.util.module_from_spec(spec))\n"
)


def _other_plugin(root: Path) -> Path:
    package = root / "flytekitplugins" / "otherplug"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 7\n")
    return root


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("style", ["native", "setuptools-nspkg"])
def test_imports_next_to_another_flytekitplugins_package(tmp_path: Path, style: str) -> None:
    site_dir = _other_plugin(tmp_path / "site")
    if style == "setuptools-nspkg":
        (site_dir / "flytekitplugins_otherplug-nspkg.pth").write_text(NSPKG_PTH)
    code = f"import site; site.addsitedir({str(site_dir)!r}); {IMPORTS}"
    done = _run(code)
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr
