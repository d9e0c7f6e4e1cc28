"""The example runs with `pyflyte run`, as its docstring says, and its runs are stored."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from flyte_stored import QueriedRuns

EXAMPLE = Path(__file__).parents[3] / "examples" / "flyte_tracking.py"


@pytest.mark.slow
def test_pyflyte_run_example(store_dir: Path) -> None:
    done = subprocess.run(
        ["pyflyte", "run", str(EXAMPLE), "training_workflow", "--epochs", "5"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        env=dict(os.environ),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    stored = QueriedRuns(store_dir)
    runs = stored.run_ids("examples/flyte")
    trains = [r for r in runs if r.startswith("train-")]
    evaluations = [r for r in runs if r.startswith("evaluate-")]
    assert len(trains) == 1 and len(evaluations) == 3
    train = stored.configs(trains[0], "examples/flyte")
    assert train["parameters/epochs"] == 5
    assert train["description"] == "gradient descent on y = 3x + 1"
    assert train["task/status"] == "succeeded"
    assert len(stored.floats(trains[0], "train/loss", "examples/flyte")) == 5
    scores = sorted(stored.floats(r, "score", "examples/flyte")[0][1] for r in evaluations)
    assert scores == pytest.approx(sorted(1 / (1 + abs(lr - 0.3)) for lr in (0.1, 0.3, 0.5)))
