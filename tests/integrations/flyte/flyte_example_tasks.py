"""Flyte tasks the Flyte integration tests run, in-process and through `pyflyte-execute`.

Module level (not inside tests) because flytekit reads task source and `pyflyte-execute`
imports tasks by module and name. The training is a tiny synthetic linear fit on CPU.
"""

from __future__ import annotations

import asyncio
import os
import random

from flytekit import Secret, current_context, map_task, task, workflow
from flytekitplugins.neptune import neptune_scale_run
from flytekitplugins.neptune.tracking import neptune_init_run

PROJECT = "flyte-ws/flyte-proj"
SECRET = Secret(group="neptune", key="api_token")
FAIL_ON_ATTEMPTS_ENV = "FLYTE_TEST_FAIL_ON_ATTEMPTS"
ATTEMPT_ENV = "FLYTE_ATTEMPT_NUMBER"


def _fit_line(neptune_run: object, epochs: int) -> float:
    """Fit y = 3x + 1 by gradient descent on synthetic points, logging the loss per epoch."""
    rng = random.Random(0)
    points = [(x, 3 * x + 1 + rng.gauss(0, 0.01)) for x in (i / 16 for i in range(16))]
    w = b = 0.0
    loss = float("inf")
    for epoch in range(epochs):
        grad_w = grad_b = loss = 0.0
        for x, y in points:
            err = w * x + b - y
            loss += err * err / len(points)
            grad_w += 2 * err * x / len(points)
            grad_b += 2 * err / len(points)
        w, b = w - 0.5 * grad_w, b - 0.5 * grad_b
        neptune_run.log_metrics({"train/loss": loss, "train/w": w}, step=epoch)  # type: ignore[attr-defined]
    return loss


# The seed's example, unchanged apart from the names: the decorator above @task.
@neptune_init_run(
    project=PROJECT,
    secret=SECRET,
    name="My Flyte Experiment",
    tags=["flyte", "example", "model-training"],
)
@task
def seed_training_task(hyperparameters: dict, data_path: str) -> float:
    neptune_run = current_context().user_space_params.NEPTUNE_RUN

    neptune_run["hyperparameters"] = hyperparameters

    accuracy = 0.92
    neptune_run["metrics/accuracy"] = accuracy

    with open("model_summary.txt", "w") as f:
        f.write("Model trained successfully.")
    neptune_run["model_summary"].upload("model_summary.txt")

    return accuracy


@neptune_scale_run(project=PROJECT, secret=SECRET, experiment_name="line-fit", tags=["scale"])
@task(retries=2)
def train(epochs: int) -> float:
    """Fails on the attempts listed in $FLYTE_TEST_FAIL_ON_ATTEMPTS (remote retry tests)."""
    run = current_context().user_space_params.NEPTUNE_RUN
    run.log_configs({"params/epochs": epochs, "params/lr": 0.5})
    loss = _fit_line(run, epochs)
    failing = os.environ.get(FAIL_ON_ATTEMPTS_ENV, "")
    if os.environ.get(ATTEMPT_ENV, "0") in failing.split(","):
        raise RuntimeError(f"simulated failure after {epochs} epochs")
    return loss


RESUME_STEP = 2


def _train_resuming(epochs: int) -> float:
    """Like `train`, but a retry resumes after RESUME_STEP, as from a checkpoint saved there."""
    run = current_context().user_space_params.NEPTUNE_RUN
    attempt = os.environ.get(ATTEMPT_ENV, "0")
    if attempt == "0":
        run.log_configs({"params/epochs": epochs, "params/first_attempt_only": True})
    start = 0 if attempt == "0" else RESUME_STEP + 1
    for step in range(start, epochs):
        run.log_metrics({"train/loss": 1.0 / (step + 1)}, step=step)
    if attempt in os.environ.get(FAIL_ON_ATTEMPTS_ENV, "").split(","):
        raise OSError(f"simulated failure on attempt {attempt}")
    return 1.0 / epochs


@neptune_scale_run(project=PROJECT, secret=SECRET, retry_fork_step=RESUME_STEP)
@task(retries=2)
def train_resuming(epochs: int) -> float:
    return _train_resuming(epochs)


@neptune_scale_run(
    project=PROJECT, secret=SECRET, retry_fork_step=RESUME_STEP, inherit_configs=True
)
@task(retries=2)
def train_resuming_inheriting(epochs: int) -> float:
    return _train_resuming(epochs)


@neptune_scale_run(project=PROJECT, secret=SECRET, run_id="fixed-prefix")
@task
def fixed_id_task(x: int) -> int:
    current_context().user_space_params.NEPTUNE_RUN.log_configs({"x": x})
    return x * 2


@neptune_scale_run(project=PROJECT, secret=SECRET)
@task
def failing_task(x: int) -> int:
    run = current_context().user_space_params.NEPTUNE_RUN
    run.log_metrics({"progress": 0.5}, step=1)
    if x < 0:
        raise ValueError(f"bad input x={x}")
    return x


# Upstream's order: the decorator under @task (the secret must then be requested on @task).
@task(secret_requests=[SECRET], enable_deck=True)
@neptune_scale_run(project=PROJECT, secret=SECRET, group_tags=["under-task"])
def under_task(x: int) -> int:
    current_context().user_space_params.NEPTUNE_RUN.log_metrics({"value": float(x)}, step=0)
    return x + 1


@neptune_scale_run(project=PROJECT, secret=SECRET)
@task
def closes_early(x: int) -> int:
    """Closes the run itself, as neptune 2.x code often does, then keeps logging."""
    run = current_context().user_space_params.NEPTUNE_RUN
    run.log_metrics({"before": float(x)}, step=0)
    run.stop()
    run.log_metrics({"after": float(x)}, step=0)
    return x


@neptune_scale_run(project=PROJECT, secret=SECRET)
@task
async def async_task(x: int) -> int:
    run = current_context().user_space_params.NEPTUNE_RUN
    await asyncio.sleep(0)
    run.log_metrics({"async_value": float(x)}, step=0)
    return x * 3


@neptune_scale_run(project=PROJECT, secret=SECRET, host="http://neptune.example:8080")
@task
def square(x: int) -> int:
    current_context().user_space_params.NEPTUNE_RUN.log_metrics({"square": float(x * x)}, step=0)
    return x * x


square_all = map_task(square)


@workflow
def line_fit_workflow(epochs: int) -> float:
    return train(epochs=epochs)


@workflow
def map_workflow(xs: list[int]) -> list[int]:
    return square_all(x=xs)
