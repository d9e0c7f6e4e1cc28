"""Remote executions, reproduced with flytekit's own task entrypoint on local paths.

`pyflyte-execute` / `pyflyte-map-execute` run exactly as in a Flyte task pod (environment from
flytepropeller: execution/task ids, `$HOSTNAME`, `$FLYTE_ATTEMPT_NUMBER`, the secret as
`_FSEC_*`); the API token points at a real Despina server on 127.0.0.1, and the tests read
what that server stored.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flyte_example_tasks as tasks
import pytest
from flyte_stored import QueriedRuns
from flytekit.core.context_manager import FlyteContextManager
from flytekit.core.type_engine import TypeEngine
from flytekit.models.literals import LiteralMap

pytestmark = pytest.mark.slow

TASKS_DIR = Path(tasks.__file__).parent
EXECUTION = "f8e2c1a9b7d6"
CONSOLE_URL = (
    f"http://flyte.local/console/projects/flytesnacks/domains/development/executions/{EXECUTION}"
)
ENTRYPOINT_TIMEOUT_S = 120


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    store: QueriedRuns


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    from despina.api import ServerContext, ServerProcess, ServerSettings
    from despina.auth import encode_api_token

    folder = tmp_path_factory.mktemp("server")
    db = str(folder / "store")
    context = ServerContext.open(ServerSettings(db=db))
    try:
        api_key, _ = context.keys.create_key("flyte-ws")
    finally:
        context.close()
    with ServerProcess(db, folder / "server.log") as process:
        yield Server(process.url, encode_api_token(process.url, api_key), QueriedRuns(Path(db)))


def _inputs(path: Path, values: dict[str, tuple[Any, type]]) -> Path:
    ctx = FlyteContextManager.current_context()
    literals = {
        name: TypeEngine.to_literal(ctx, value, kind, TypeEngine.to_literal_type(kind))
        for name, (value, kind) in values.items()
    }
    path.write_bytes(LiteralMap(literals).to_flyte_idl().SerializeToString())
    return path


def _pod_env(
    server: Server, task_name: str, attempt: int, node: str, **extra: str
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEPTUNE_", "FLYTE_", "_F"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(TASKS_DIR), env.get("PYTHONPATH", "")]),
        FLYTE_INTERNAL_EXECUTION_ID=EXECUTION,
        FLYTE_INTERNAL_EXECUTION_PROJECT="flytesnacks",
        FLYTE_INTERNAL_EXECUTION_DOMAIN="development",
        FLYTE_INTERNAL_TASK_PROJECT="flytesnacks",
        FLYTE_INTERNAL_TASK_DOMAIN="development",
        FLYTE_INTERNAL_TASK_NAME=f"flyte_example_tasks.{task_name}",
        FLYTE_INTERNAL_TASK_VERSION="v3",
        FLYTE_ATTEMPT_NUMBER=str(attempt),
        FLYTE_EXECUTION_URL=CONSOLE_URL,
        HOSTNAME=f"{EXECUTION}-{node}-{attempt}",
        _FSEC_NEPTUNE_API_TOKEN=server.token,
    )
    env.update(extra)
    return env


def _execute(
    tmp: Path,
    server: Server,
    task_name: str,
    inputs: dict[str, tuple[Any, type]],
    *,
    attempt: int = 0,
    node: str = "n0",
    map_task: bool = False,
    **extra: str,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    out = tmp / f"{task_name}-{node}-{attempt}"
    out.mkdir(parents=True)
    command = [
        "pyflyte-map-execute" if map_task else "pyflyte-execute",
        "--inputs",
        str(_inputs(out / "inputs.pb", inputs)),
        "--output-prefix",
        str(out),
        "--raw-output-data-prefix",
        str(out / "raw"),
        "--resolver",
    ]
    if map_task:
        command += [
            "flytekit.core.array_node_map_task.ArrayNodeMapTaskResolver",
            "--",
            "vars",
            "",
            "resolver",
            "flytekit.core.python_auto_container.default_task_resolver",
        ]
    else:
        command += ["flytekit.core.python_auto_container.default_task_resolver", "--"]
    command += ["task-module", "flyte_example_tasks", "task-name", task_name]
    env = _pod_env(
        server, task_name, attempt, node, NEPTUNE_LOG_DIRECTORY=str(out / "oplog"), **extra
    )
    done = subprocess.run(
        command,
        env=env,
        cwd=out,
        capture_output=True,
        text=True,
        timeout=ENTRYPOINT_TIMEOUT_S,
        check=False,
    )
    return done, out


def _succeeded(done: subprocess.CompletedProcess[str], out: Path) -> None:
    assert done.returncode == 0 and (out / "outputs.pb").exists(), done.stderr[-3000:]
    assert not (out / "error.pb").exists(), done.stderr[-3000:]


def test_remote_attempt_logs_flyte_metadata_and_links_to_the_server(
    tmp_path: Path, server: Server
) -> None:
    done, out = _execute(tmp_path, server, "train", {"epochs": (4, int)}, node="n1")
    _succeeded(done, out)
    run_id = f"{EXECUTION}-n1-0"
    details = server.store.details(run_id)
    attrs = details["configs"]
    expected = {
        "flyte/execution_id": run_id,
        "flyte/project": "flytesnacks",
        "flyte/domain": "development",
        "flyte/name": EXECUTION,
        "flyte/raw_output_prefix": str(out / "raw"),
        "flyte/output_metadata_prefix": str(out),
        "flyte/execution_url": CONSOLE_URL,
        "flyte/task/name": "flyte_example_tasks.train",
        "flyte/task/project": "flytesnacks",
        "flyte/task/domain": "development",
        "flyte/task/version": "v3",
        "task/status": "succeeded",
    }
    assert {k: attrs.get(k) for k in expected} == expected
    assert attrs["flyte/working_directory"]
    assert details["group_tags"] == [EXECUTION]
    assert [s for s, _ in server.store.floats(run_id, "train/loss")] == [0, 1, 2, 3]
    deck = (out / "deck.html").read_text()
    assert f'href="{server.url}/flyte-ws/flyte-proj/-/run/?customId={run_id}"' in deck
    assert "train/loss" in deck


def test_seed_example_remote_with_file_upload(tmp_path: Path, server: Server) -> None:
    inputs = {"hyperparameters": ({"lr": 0.1, "depth": 3}, dict), "data_path": ("s3://d", str)}
    done, out = _execute(tmp_path, server, "seed_training_task", inputs, node="n6")
    _succeeded(done, out)
    run_id = f"{EXECUTION}-n6-0"
    details = server.store.details(run_id)
    assert details["experiment"] == "My Flyte Experiment"
    assert details["tags"] == ["example", "flyte", "model-training"]
    assert details["configs"]["metrics/accuracy"] == 0.92
    assert details["configs"]["hyperparameters/depth"] == 3
    assert details["configs"]["flyte/task/name"] == "flyte_example_tasks.seed_training_task"
    summary = server.store.file_bytes(run_id, "model_summary", tmp_path / "downloads")
    assert summary == b"Model trained successfully."


def _fail_then_retry(
    tmp_path: Path, server: Server, task_name: str, node: str
) -> tuple[subprocess.CompletedProcess[str], str, str]:
    fail_first = {"FLYTE_TEST_FAIL_ON_ATTEMPTS": "0"}
    inputs = {"epochs": (5, int)}
    first, out0 = _execute(tmp_path, server, task_name, inputs, node=node, **fail_first)
    assert (out0 / "error.pb").exists(), first.stderr[-3000:]
    second, out1 = _execute(tmp_path, server, task_name, inputs, node=node, attempt=1, **fail_first)
    _succeeded(second, out1)
    return second, f"{EXECUTION}-{node}-0", f"{EXECUTION}-{node}-1"


def test_retry_that_restarts_at_step_zero_is_a_run_of_its_own(
    tmp_path: Path, server: Server
) -> None:
    second, failed_id, retry_id = _fail_then_retry(tmp_path, server, "train", "n2")
    failed = server.store.configs(failed_id)
    assert failed["task/status"] == "failed"
    assert failed["task/error/type"] == "builtins.RuntimeError"
    assert "simulated failure after 5 epochs" in failed["task/error/message"]
    assert "simulated failure" in failed["task/error/traceback"]
    # By default a retry does not fork: it restarts at step 0, and a fork at step 0 would
    # reject that point and join the failed attempt's step 0 to the retry's steps 1..4.
    assert "NeptuneSeriesStepNotAfterForkPoint" not in second.stderr, second.stderr[-3000:]
    lineage = server.store.details(retry_id)["lineage"]
    assert lineage["parent"] is None and lineage["requested_parent"] is None, lineage
    retry = server.store.configs(retry_id)
    assert retry["task/status"] == "succeeded" and retry["flyte/attempt"] == 1
    assert not any(path.startswith("task/error/") for path in retry), retry
    steps = [s for s, _ in server.store.floats(retry_id, "train/loss")]
    assert steps == [0, 1, 2, 3, 4]
    assert server.store.details(retry_id)["group_tags"] == [EXECUTION]


def test_retry_resuming_from_a_checkpoint_forks_without_the_failed_attempts_error(
    tmp_path: Path, server: Server
) -> None:
    _, failed_id, retry_id = _fail_then_retry(tmp_path, server, "train_resuming", "n9")
    assert server.store.configs(failed_id)["task/error/type"] == "builtins.OSError"
    lineage = server.store.details(retry_id)["lineage"]
    assert (lineage["parent"], lineage["fork_step"]) == (failed_id, tasks.RESUME_STEP)
    # Steps 0..2 are the failed attempt's, 3..4 the retry's own: one continuous chart.
    assert server.store.floats(retry_id, "train/loss") == [(s, 1.0 / (s + 1)) for s in range(5)]
    retry = server.store.configs(retry_id)
    assert retry["task/status"] == "succeeded"
    assert not any(path.startswith("task/error/") for path in retry), retry
    # The retry logs its own configs; the failed attempt's are not copied.
    assert "params/first_attempt_only" not in retry
    assert server.store.configs(failed_id)["task/status"] == "failed"


def test_retry_inheriting_configs_shows_no_inherited_error(tmp_path: Path, server: Server) -> None:
    _, failed_id, retry_id = _fail_then_retry(tmp_path, server, "train_resuming_inheriting", "n10")
    retry = server.store.configs(retry_id)
    assert retry["params/first_attempt_only"] is True  # inherited, as asked
    assert retry["task/status"] == "succeeded"
    assert [retry.get(f"task/error/{k}") for k in ("type", "message", "traceback")] == [""] * 3
    failed = server.store.configs(failed_id)
    assert (failed["task/status"], failed["task/error/type"]) == ("failed", "builtins.OSError")


def test_retry_whose_previous_attempt_left_no_run_is_still_stored(
    tmp_path: Path, server: Server
) -> None:
    # The first attempt's pod never ran the task (e.g. it was evicted before starting).
    inputs = {"epochs": (5, int)}
    done, out = _execute(tmp_path, server, "train_resuming", inputs, node="n7", attempt=1)
    _succeeded(done, out)
    run_id = f"{EXECUTION}-n7-1"
    assert server.store.configs(run_id)["task/status"] == "succeeded"
    assert [s for s, _ in server.store.floats(run_id, "train/loss")] == [3, 4]
    # Despina keeps the run and remembers the parent it asked for.
    lineage = server.store.details(run_id)["lineage"]
    assert lineage["parent"] is None
    assert lineage["requested_parent"].endswith(f"/{EXECUTION}-n7-0")


def test_upstream_order_task_runs_remotely(tmp_path: Path, server: Server) -> None:
    done, out = _execute(tmp_path, server, "under_task", {"x": (41, int)}, node="n8")
    _succeeded(done, out)
    run_id = f"{EXECUTION}-n8-0"
    details = server.store.details(run_id)
    assert details["group_tags"] == sorted([EXECUTION, "under-task"])
    assert details["configs"]["flyte/name"] == EXECUTION
    assert server.store.floats(run_id, "value") == [(0.0, 41.0)]
    assert "Neptune" in (out / "deck.html").read_text()


def test_fixed_run_id_does_not_merge_executions(tmp_path: Path, server: Server) -> None:
    for execution in ("exec-a", "exec-b"):
        done, out = _execute(
            tmp_path / execution,
            server,
            "fixed_id_task",
            {"x": (7, int)},
            node="n3",
            FLYTE_INTERNAL_EXECUTION_ID=execution,
            HOSTNAME=f"{execution}-n3-0",
        )
        _succeeded(done, out)
    ids = [r for r in server.store.run_ids() if r.startswith("fixed-prefix-exec-")]
    assert ids == ["fixed-prefix-exec-a-n3-0", "fixed-prefix-exec-b-n3-0"]


def test_missing_secret_fails_the_task_with_a_clear_error(tmp_path: Path, server: Server) -> None:
    done, out = _execute(
        tmp_path, server, "fixed_id_task", {"x": (1, int)}, node="n4", _FSEC_NEPTUNE_API_TOKEN=""
    )
    assert (out / "error.pb").exists()
    assert "API token" in done.stderr or "secret" in done.stderr


def test_map_task_element_runs_and_keeps_metadata(tmp_path: Path, server: Server) -> None:
    for index in (0, 1):
        done, out = _execute(
            tmp_path,
            server,
            "square",
            {"x": ([3, 5], list[int])},
            node=f"n5-{index}",
            map_task=True,
            BATCH_JOB_ARRAY_INDEX_VAR_NAME="ARRAY_INDEX",
            ARRAY_INDEX=str(index),
        )
        _succeeded(done, out)
    for index, value in ((0, 9.0), (1, 25.0)):
        run_id = f"{EXECUTION}-n5-{index}-0"
        assert server.store.floats(run_id, "square") == [(0.0, value)]
        assert server.store.configs(run_id)["flyte/array_index"] == index
