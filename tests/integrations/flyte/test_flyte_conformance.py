"""The integration conformance scenario (tests/integration_conformance.py) through a local Flyte
task: configs, metrics over steps, a tracking error in the decorator's own calls, close."""

from __future__ import annotations

from pathlib import Path

import pytest
from flytekit import current_context, task
from flytekitplugins.neptune import neptune_scale_run
from flytekitplugins.neptune._lifecycle import containment
from integration_conformance import HYPERPARAMETERS, check_conformance, tracking_error
from neptune_scale.integrations import flatten_configs

PROJECT = "flyte/conformance"
STEPS = 5


@neptune_scale_run(project=PROJECT, tags=["conformance"], system_metrics=0.2)
@task
def conforming(epochs: int) -> float:
    run = current_context().user_space_params.NEPTUNE_RUN
    run.log_configs(flatten_configs(HYPERPARAMETERS, "params"))
    loss = 1.0
    for step in range(epochs):
        loss *= 0.5
        run.log_metrics({"train/loss": loss}, step=step)
    return loss


def test_flyte_conforms(store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    kit = containment()
    kit.failures.clear()
    # The decorator's first own call into the run (adding the tags) fails: the task goes on.
    with tracking_error(monkeypatch, "add_tags", on_call=1) as failure:
        assert conforming(epochs=STEPS) == pytest.approx(0.5**STEPS)
    from flyte_stored import QueriedRuns

    (run_id,) = [r for r in QueriedRuns(store_dir).run_ids(PROJECT) if r.startswith("conforming")]
    details = check_conformance(
        store_dir,
        PROJECT,
        run_id,
        configs={**flatten_configs(HYPERPARAMETERS, "params"), "task/status": "succeeded"},
        metric="train/loss",
        min_points=STEPS,
        failure=failure,
        failures=kit.failures,
    )
    assert "system/cpu/percent" in details["series"]
    assert kit.failures == {"add tags": 1}
