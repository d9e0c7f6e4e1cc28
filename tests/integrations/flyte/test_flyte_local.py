"""Local Flyte executions (what `pyflyte run` does) write real runs into the embedded store."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import flyte_example_tasks as tasks
import pytest
from flyte_stored import QueriedRuns
from flytekit import current_context, task
from flytekit.core.context_manager import FlyteContextManager
from flytekitplugins.neptune import neptune_scale_run


def _only_run(stored: QueriedRuns, prefix: str) -> str:
    ids = [r for r in stored.run_ids() if r.startswith(prefix)]
    assert len(ids) == 1, stored.run_ids()
    return ids[0]


def test_seed_example_runs_unchanged_and_is_stored(stored: QueriedRuns, tmp_path: Path) -> None:
    hyper = {"lr": 0.01, "optimizer": "adam", "layers": {"hidden": 32}}
    assert tasks.seed_training_task(hyperparameters=hyper, data_path="/data") == 0.92
    run_id = _only_run(stored, "seed_training_task-")
    details = stored.details(run_id)
    attrs = details["configs"]
    assert details["experiment"] == "My Flyte Experiment"
    assert attrs["hyperparameters/lr"] == 0.01
    assert attrs["hyperparameters/optimizer"] == "adam"
    assert attrs["hyperparameters/layers/hidden"] == 32
    assert attrs["metrics/accuracy"] == 0.92
    assert details["tags"] == ["example", "flyte", "model-training"]
    assert len(details["group_tags"]) == 1
    assert attrs["task/status"] == "succeeded"
    summary = stored.file_bytes(run_id, "model_summary", tmp_path / "downloads")
    assert summary == b"Model trained successfully."
    # Local executions skip the Flyte execution metadata.
    assert not [path for path in attrs if path.startswith("flyte/")]


def test_local_workflow_logs_metrics_per_epoch(stored: QueriedRuns) -> None:
    loss = tasks.line_fit_workflow(epochs=6)
    run_id = _only_run(stored, "train-")
    series = stored.floats(run_id, "train/loss")
    assert [step for step, _ in series] == [0, 1, 2, 3, 4, 5]
    assert series[-1][1] == pytest.approx(loss)
    assert series[-1][1] < series[0][1]
    details = stored.details(run_id)
    assert details["configs"]["params/epochs"] == 6
    assert details["experiment"] == "line-fit"


def test_each_local_execution_gets_its_own_run_even_with_a_fixed_run_id(
    stored: QueriedRuns,
) -> None:
    assert tasks.fixed_id_task(x=1) == 2
    assert tasks.fixed_id_task(x=2) == 4
    ids = [r for r in stored.run_ids() if r.startswith("fixed-prefix-")]
    assert len(ids) == 2
    assert sorted(stored.configs(r)["x"] for r in ids) == [1, 2]


def test_failure_closes_the_run_with_status_and_error_details(stored: QueriedRuns) -> None:
    with pytest.raises(Exception, match="bad input x=-3"):
        tasks.failing_task(x=-3)
    run_id = _only_run(stored, "failing_task-")
    attrs = stored.configs(run_id)
    assert attrs["task/status"] == "failed"
    assert attrs["task/error/type"] == "builtins.ValueError"
    assert attrs["task/error/message"] == "bad input x=-3"
    assert "raise ValueError" in attrs["task/error/traceback"]
    # What the task logged before failing is kept.
    assert stored.floats(run_id, "progress") == [(1.0, 0.5)]


def test_map_task_gives_each_element_a_run_in_one_group(stored: QueriedRuns) -> None:
    assert tasks.map_workflow(xs=[1, 2, 3]) == [1, 4, 9]
    ids = [r for r in stored.run_ids() if r.startswith("square-")]
    assert len(ids) == 3
    squares = sorted(stored.floats(r, "square")[0][1] for r in ids)
    assert squares == [1.0, 4.0, 9.0]
    groups = {tuple(stored.details(r)["group_tags"]) for r in ids}
    assert len(groups) == 1


def test_upstream_decorator_order_works(stored: QueriedRuns) -> None:
    assert tasks.under_task(x=4) == 5
    run_id = _only_run(stored, "under_task-")
    assert "under-task" in stored.details(run_id)["group_tags"]
    assert stored.floats(run_id, "value") == [(0.0, 4.0)]


def test_async_task_is_tracked_until_it_finishes(stored: QueriedRuns) -> None:
    assert asyncio.run(tasks.async_task(x=2)) == 6
    run_id = _only_run(stored, "async_task-")
    assert stored.floats(run_id, "async_value") == [(0.0, 2.0)]
    assert stored.configs(run_id)["task/status"] == "succeeded"


def test_closing_inside_the_task_loses_nothing(stored: QueriedRuns) -> None:
    assert tasks.closes_early(x=5) == 5
    run_id = _only_run(stored, "closes_early-")
    assert stored.floats(run_id, "before") == [(0.0, 5.0)]
    assert stored.floats(run_id, "after") == [(0.0, 5.0)]
    assert stored.configs(run_id)["task/status"] == "succeeded"


def test_disabled_mode_logs_nothing_and_the_task_still_runs(stored: QueriedRuns) -> None:
    @neptune_scale_run(project=tasks.PROJECT, mode="disabled")
    @task
    def quiet(x: int) -> int:
        current_context().user_space_params.NEPTUNE_RUN.log_metrics({"x": 1.0}, step=0)
        return x

    assert quiet(x=3) == 3
    assert not stored.location.exists() or not [
        r for r in stored.run_ids() if r.startswith("quiet-")
    ]


def test_the_run_is_only_visible_inside_the_task(stored: QueriedRuns) -> None:
    tasks.fixed_id_task(x=1)
    assert not FlyteContextManager.current_context().user_space_params.has_attr("NEPTUNE_RUN")


def test_explicit_host_is_used_for_the_deck_link(stored: QueriedRuns) -> None:
    assert tasks.square(x=3) == 9
    run_id = _only_run(stored, "square-")
    html = _deck_html()["Neptune"]
    expected = f"http://neptune.example:8080/{tasks.PROJECT}/-/run/?customId={run_id}"
    assert f'href="{expected}"' in html


def _deck_html() -> dict[str, Any]:
    decks = FlyteContextManager.current_context().user_space_params.decks
    return {deck.name: deck.html for deck in decks}


def test_deck_shows_the_run_link_and_final_metrics(stored: QueriedRuns) -> None:
    tasks.line_fit_workflow(epochs=3)
    run_id = _only_run(stored, "train-")
    html = _deck_html().get("Neptune")
    assert html is not None, "no Neptune deck was written"
    # The client's own run URL (the despina UI for the embedded store) names the run.
    assert re.search(rf'href="http[^"]*{re.escape(run_id)}[^"]*"', html)
    loss = stored.floats(run_id, "train/loss")[-1][1]
    assert "train/loss" in html and f"{loss:.6g}" in html
    assert "succeeded" in html
