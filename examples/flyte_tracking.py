"""Track Flyte tasks in Neptune Scale runs kept by Despina.

Local run (no token needed; runs land in the embedded store in ./.neptune):

    pyflyte run examples/flyte_tracking.py training_workflow --epochs 20
    despina ui .neptune

On a Flyte cluster, create a Despina API token (`despina token create ...`), store it as the
Flyte secret `neptune/api_token`, and register this file: the decorator requests that secret on
the task, logs the `flyte/*` execution metadata, gives a retry a run of its own (a task that
resumes from a checkpoint passes `retry_fork_step=` to fork the failed attempt instead) and adds
a "Neptune" Deck with the run link and the final metrics.
"""

from __future__ import annotations

import random

from flytekit import Secret, current_context, map_task, task, workflow
from flytekitplugins.neptune import neptune_scale_run
from flytekitplugins.neptune.tracking import neptune_init_run

PROJECT = "examples/flyte"
API_TOKEN = Secret(group="neptune", key="api_token")


# The decorator goes above @task: it can then attach the secret request and keep the console
# link on map tasks.
@neptune_init_run(
    project=PROJECT,
    secret=API_TOKEN,
    name="line-fit",
    tags=["flyte", "example"],
    description="gradient descent on y = 3x + 1",
)
@task(retries=2)
def train(epochs: int, lr: float) -> float:
    neptune_run = current_context().user_space_params.NEPTUNE_RUN
    neptune_run["parameters"] = {"epochs": epochs, "lr": lr}

    rng = random.Random(0)
    points = [(x / 32, 3 * x / 32 + 1 + rng.gauss(0, 0.05)) for x in range(32)]
    w = b = 0.0
    loss = float("inf")
    for epoch in range(epochs):
        errors = [(w * x + b - y, x) for x, y in points]
        loss = sum(e * e for e, _ in errors) / len(errors)
        w -= lr * 2 * sum(e * x for e, x in errors) / len(errors)
        b -= lr * 2 * sum(e for e, _ in errors) / len(errors)
        neptune_run.log_metrics({"train/loss": loss, "train/w": w, "train/b": b}, step=epoch)

    with open("model.txt", "w") as model:
        model.write(f"w={w}\nb={b}\n")
    neptune_run["model"].upload("model.txt")
    return loss


@neptune_scale_run(project=PROJECT, secret=API_TOKEN, experiment_name="sweep")
@task
def evaluate(lr: float) -> float:
    run = current_context().user_space_params.NEPTUNE_RUN
    score = 1.0 / (1.0 + abs(lr - 0.3))
    run.log_configs({"lr": lr})
    run.log_metrics({"score": score}, step=0)
    return score


@workflow
def training_workflow(epochs: int = 20) -> list[float]:
    train(epochs=epochs, lr=0.5)
    return map_task(evaluate)(lr=[0.1, 0.3, 0.5])
