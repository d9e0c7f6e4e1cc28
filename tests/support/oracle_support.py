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

from support.stored_runs import StoredRuns

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


FILE_BYTES = b"despina oracle file \x00\x01\x02" * 100

SCENARIO = (
    f"FILE_BYTES = {FILE_BYTES!r}\n"
    + """
import json
from neptune_scale import Run
from neptune_scale.types import File, Histogram

warnings = []
common = dict(
    enable_console_log_capture=False,
    source_tracking_config=None,
    on_warning_callback=lambda exc, ts: warnings.append(type(exc).__name__),
)
run = Run(run_id="run-a", experiment_name="exp-a", **common)
run.log_configs({"params/lr": 0.001, "params/batch": 64, "params/opt": "adam", "params/ok": True})
for step in range(1000):
    run.log_metrics({"train/loss": 1.0 / (step + 1), "train/acc": step / 1000}, step=step)
run.add_tags(["baseline", "oracle"])
run.add_tags(["team-x"], group_tags=True)
run.log_string_series({"notes/text": "first"}, step=1)
run.log_string_series({"notes/text": "second"}, step=2)
run.log_histograms({"weights/hist": Histogram(bin_edges=[0, 1, 2, 3], counts=[1, 2, 3])}, step=3)
run.assign_files({"files/blob": File(FILE_BYTES, mime_type="application/octet-stream")})
done_a = run.wait_for_processing(timeout=120)
run.close()

fork = Run(run_id="run-b", experiment_name="exp-a", fork_run_id="run-a", fork_step=500, **common)
for step in range(501, 1000):
    fork.log_metrics({"train/loss": -float(step)}, step=step)
done_b = fork.wait_for_processing(timeout=120)
fork.close()
print(json.dumps({"a": done_a, "b": done_b, "warnings": warnings}))
"""
)


def env_for(server: LiveServer, project: str, **extra: str) -> dict[str, str]:
    return {"NEPTUNE_API_TOKEN": server.token, "NEPTUNE_PROJECT": project, **extra}


def check_scenario(stored: StoredRuns, project: str) -> None:
    """The store holds exactly what SCENARIO logged into ``project``, lineage included."""
    a = stored.run(project, "run-a")
    assert a.experiment == "exp-a"
    attributes = stored.attributes(project, "run-a")
    assert {k: attributes[k] for k in ("params/lr", "params/batch", "params/opt", "params/ok")} == {
        "params/lr": 0.001,
        "params/batch": 64,
        "params/opt": "adam",
        "params/ok": True,
    }
    assert sorted(attributes["sys/tags"]) == ["baseline", "oracle"]
    assert attributes["sys/group_tags"] == ["team-x"]
    assert stored.floats(project, "run-a", "train/loss") == [
        (float(s), 1.0 / (s + 1)) for s in range(1000)
    ]
    assert len(stored.floats(project, "run-a", "train/acc")) == 1000
    assert [v for _, v in stored.points(project, "run-a", "notes/text")] == ["first", "second"]
    ((hist_step, hist),) = stored.points(project, "run-a", "weights/hist")
    assert (hist_step, hist) == (
        3.0,
        {"type": "COUNTING", "edges": [0.0, 1.0, 2.0, 3.0], "values": [1, 2, 3]},
    )

    file_ref = attributes["files/blob"]
    assert file_ref["size_bytes"] == len(FILE_BYTES)
    assert file_ref["mime_type"] == "application/octet-stream"
    destination = file_ref["path"]
    with stored.store.open_file(project, destination) as handle:
        assert handle.read() == FILE_BYTES

    configs = {"params/lr", "params/batch", "params/opt", "params/ok", "files/blob"}
    series = {"train/loss", "train/acc", "notes/text", "weights/hist"}
    assert stored.names(project, "run-a") == (configs, series)  # nothing more, nothing less
    assert stored.names(project, "run-b") == (configs, {"train/loss"})  # configs inherited

    b = stored.run(project, "run-b")
    assert b.parent_pk == a.pk and b.fork_step == 500.0
    assert stored.floats(project, "run-b", "train/loss") == [
        *[(float(s), 1.0 / (s + 1)) for s in range(501)],
        *[(float(s), -float(s)) for s in range(501, 1000)],
    ]


ERRORS_SCRIPT = """
import json
from neptune_scale import Run

seen = []
def record(exc, ts):
    seen.append([type(exc).__name__, getattr(exc, "code", None)])

common = dict(enable_console_log_capture=False, source_tracking_config=None,
              on_error_callback=record, on_warning_callback=record)
run = Run(run_id="err-a", **common)
run.log_configs({"params/lr": 0.1})
run.log_metrics({"loss": 1.0}, step=10)
run.wait_for_processing(timeout=60)
run.log_metrics({"loss": 2.0}, step=5)           # step not increasing
run.log_configs({"params/lr": "fast"})            # type conflict
run.wait_for_processing(timeout=60)
run.close()
fork = Run(run_id="err-b", fork_run_id="err-a", fork_step=8, **common)
fork.log_metrics({"loss": 3.0}, step=7)           # step before the fork point
fork.wait_for_processing(timeout=60)
fork.close()
print(json.dumps({"seen": seen}))
"""


def check_error_codes(stored: StoredRuns, project: str, seen: list[list[Any]]) -> None:
    """ERRORS_SCRIPT's three violations came back as their exceptions; nothing bad was stored."""
    names = [name for name, _ in seen]
    assert "NeptuneSeriesStepNonIncreasing" in names
    assert "NeptuneAttributeTypeMismatch" in names
    assert "NeptuneSeriesStepNotAfterForkPoint" in names
    assert stored.floats(project, "err-a", "loss") == [(10.0, 1.0)]
    assert stored.attributes(project, "err-a")["params/lr"] == 0.1
