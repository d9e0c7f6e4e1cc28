"""Helpers for the oracle tests: the official clients in their own venv, stored data read back.

The official ``neptune-scale`` installs the same import name as our client, so it never enters
the main environment: the venv lives under ``.cache/oracle/<package>-<version>`` (reused by
later runs) and scripts run in it as child processes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from despina.store import ancestry, decode_value, open_store

REPO = Path(__file__).resolve().parents[2]
ORACLE_SCALE = "neptune-scale==0.30.0"
SCRIPT_TIMEOUT_S = 240
INSTALL_TIMEOUT_S = 540


def oracle_venv(requirement: str) -> Path:
    """The venv's python with ``requirement`` installed, built once and cached by version."""
    name = requirement.replace("==", "-")
    venv = REPO / ".cache" / "oracle" / name
    python = venv / "bin" / "python"
    if python.exists():
        return python
    building = venv.with_name(f"{name}.building-{os.getpid()}")
    shutil.rmtree(building, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(building)], check=True)
    subprocess.run(
        [
            str(building / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            requirement,
        ],
        check=True,
        timeout=INSTALL_TIMEOUT_S,
    )
    try:
        building.rename(venv)  # another worker may have won the race; its venv is as good
    except OSError:
        shutil.rmtree(building, ignore_errors=True)
    return python


def run_script(python: Path, code: str, cwd: Path, env: dict[str, str]) -> dict[str, Any]:
    """Run ``code`` in the given interpreter; it prints one JSON line last."""
    script = cwd / "script.py"
    # The official client starts its sync process with multiprocessing "spawn", which imports
    # the main module again: the body must not run on import.
    body = textwrap.indent(textwrap.dedent(code), "    ")
    script.write_text(f'if __name__ == "__main__":\n{body}')
    clean = {k: v for k, v in os.environ.items() if not k.startswith("NEPTUNE_")}
    done = subprocess.run(
        [str(python), str(script)],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
    )
    assert done.returncode == 0, f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@dataclass
class LiveServer:
    url: str
    token: str
    store_location: str
    log_path: Path


class StoredRuns:
    """Read back what the server stored (engine primitives; fork lineage included)."""

    def __init__(self, location: str) -> None:
        self.store = open_store(location, create=False)

    def run(self, project: str, run_id: str) -> Any:
        with self.store.engine.read() as tx:
            row = tx.project(project)
            return None if row is None else tx.run(row.pk, run_id)

    def attributes(self, project: str, run_id: str) -> dict[str, Any]:
        run = self.run(project, run_id)
        with self.store.engine.read() as tx:
            return {p: decode_value(v) for p, (_, v) in tx.attributes(run.pk).items()}

    def floats(self, project: str, run_id: str, path: str) -> list[tuple[float, float]]:
        run = self.run(project, run_id)
        points: dict[float, float] = {}
        with self.store.engine.read() as tx:
            for segment in ancestry(tx, run):
                state = tx.series(segment.run.pk, [path]).get(path)
                if state is None:
                    continue
                for chunk in tx.chunks(state.pk, None, segment.up_to):
                    steps = np.frombuffer(chunk.steps, "<f8")
                    values = np.frombuffer(chunk.values, "<f8")
                    for step, value in zip(steps, values, strict=True):
                        if step <= segment.up_to:
                            points.setdefault(float(step), float(value))
        return sorted(points.items())

    def points(self, project: str, run_id: str, path: str) -> list[tuple[float, Any]]:
        """Own points of a non-float series (string, histogram, file)."""
        run = self.run(project, run_id)
        with self.store.engine.read() as tx:
            state = tx.series(run.pk, [path]).get(path)
            if state is None:
                return []
            return [(p.step, decode_value(p.value)) for p in tx.points(state.pk, None, None)]

    def close(self) -> None:
        self.store.close()
