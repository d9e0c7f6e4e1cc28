"""Run identity per attempt, read from a real flytekit context in a remote execution state."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import pytest
from flytekit import Secret
from flytekit.core.context_manager import (
    ExecutionParameters,
    ExecutionState,
    FlyteContext,
    FlyteContextManager,
)
from flytekit.models.core import identifier as ids
from flytekitplugins.neptune._identity import MAX_RUN_ID_BYTES, identify
from flytekitplugins.neptune._options import TrackingOptions, build_options
from flytekitplugins.neptune._token import MissingTokenError, host_from_token, resolve_token

TASK = "wf.train"
SEED_KEYS = {
    "flyte/execution_id",
    "flyte/project",
    "flyte/domain",
    "flyte/name",
    "flyte/raw_output_prefix",
    "flyte/output_metadata_prefix",
    "flyte/working_directory",
    "flyte/execution_url",
    "flyte/task/name",
    "flyte/task/project",
    "flyte/task/domain",
    "flyte/task/version",
}


def _options(**kwargs: object) -> TrackingOptions:
    return build_options(
        project="ws/proj", secret=None, link_type="neptune-scale-run", legacy=False, kwargs=kwargs
    )


@contextmanager
def remote_context(tmp_path: Path, execution: str = "f1a2b3") -> Iterator[FlyteContext]:
    """A flytekit context as `pyflyte-execute` builds it on a cluster (TASK_EXECUTION mode)."""
    ctx = FlyteContextManager.current_context()
    params = ExecutionParameters(
        execution_date=datetime.now(timezone.utc),
        tmp_dir=str(tmp_path / "work"),
        stats=ctx.user_space_params.stats,
        execution_id=ids.WorkflowExecutionIdentifier("flytesnacks", "development", execution),
        logging=ctx.user_space_params.logging,
        raw_output_prefix="s3://bucket/raw/ab",
        output_metadata_prefix="s3://bucket/metadata/n0",
        task_id=ids.Identifier(
            ids.ResourceType.TASK, "flytesnacks", "development", "wf.train", "v7"
        ),
    )
    state = ctx.new_execution_state().with_params(
        mode=ExecutionState.Mode.TASK_EXECUTION, user_space_params=params
    )
    with FlyteContextManager.with_context(ctx.with_execution_state(state)) as remote:
        yield remote


@pytest.fixture(autouse=True)
def _clean_flyte_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "HOSTNAME",
        "FLYTE_ATTEMPT_NUMBER",
        "FLYTE_EXECUTION_URL",
        "BATCH_JOB_ARRAY_INDEX_VAR_NAME",
        "BATCH_JOB_ARRAY_INDEX_OFFSET",
    ):
        monkeypatch.delenv(name, raising=False)


def test_first_attempt_uses_the_pod_name_and_logs_every_seed_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTNAME", "f1a2b3-n0-0")
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "0")
    monkeypatch.setenv("FLYTE_EXECUTION_URL", "http://console/projects/p/executions/f1a2b3")
    with remote_context(tmp_path) as ctx:
        identity = identify(ctx, _options(), "train")
    assert not identity.is_local
    assert identity.run_id == "f1a2b3-n0-0"
    assert identity.fork_run_id is None
    assert identity.group_tag == "f1a2b3"
    assert set(identity.metadata) >= SEED_KEYS
    assert identity.metadata["flyte/execution_id"] == "f1a2b3-n0-0"
    assert identity.metadata["flyte/task/name"] == "wf.train"
    assert identity.metadata["flyte/task/version"] == "v7"
    assert identity.metadata["flyte/output_metadata_prefix"] == "s3://bucket/metadata/n0"
    assert identity.metadata["flyte/attempt"] == 0


def test_retry_forks_the_previous_attempt_only_with_a_fork_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTNAME", "f1a2b3-n0-2")
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "2")
    with remote_context(tmp_path) as ctx:
        identity = identify(ctx, _options(retry_fork_step=10), "train")
        no_fork = identify(ctx, _options(retry_fork_step=10, fork_on_retry=False), "train")
        default = identify(ctx, _options(), "train")
    assert (identity.run_id, identity.fork_run_id) == ("f1a2b3-n0-2", "f1a2b3-n0-1")
    assert no_fork.fork_run_id is None
    assert (default.run_id, default.fork_run_id) == ("f1a2b3-n0-2", None)


def test_fixed_run_id_is_a_prefix_so_executions_never_merge(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "0")
    options = build_options(
        project="ws/p", secret=None, link_type="x", legacy=False, run_id="nightly", kwargs={}
    )
    with remote_context(tmp_path, "exec1") as ctx:
        first = identify(ctx, options, "train")
    with remote_context(tmp_path, "exec2") as ctx:
        second = identify(ctx, options, "train")
    assert first.run_id == "nightly-exec1-train-0"
    assert second.run_id == "nightly-exec2-train-0"


def test_map_task_index_separates_runs_without_pod_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BATCH_JOB_ARRAY_INDEX_VAR_NAME", "MY_INDEX")
    monkeypatch.setenv("MY_INDEX", "3")
    monkeypatch.setenv("BATCH_JOB_ARRAY_INDEX_OFFSET", "10")
    with remote_context(tmp_path) as ctx:
        identity = identify(ctx, _options(), "square")
    assert identity.run_id == "f1a2b3-train-13"
    assert identity.metadata["flyte/array_index"] == 13


def test_long_ids_are_shortened_deterministically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSTNAME", "x" * 200 + "-1")
    monkeypatch.setenv("FLYTE_ATTEMPT_NUMBER", "1")
    with remote_context(tmp_path) as ctx:
        options = _options(retry_fork_step=0)
        one, two = identify(ctx, options, "t"), identify(ctx, options, "t")
    assert one.run_id == two.run_id
    assert len(one.run_id.encode()) <= MAX_RUN_ID_BYTES
    assert one.fork_run_id is not None and one.fork_run_id != one.run_id


def test_local_executions_get_fresh_ids_and_no_flyte_metadata() -> None:
    ctx = FlyteContextManager.current_context()
    state = ctx.new_execution_state().with_params(mode=ExecutionState.Mode.LOCAL_TASK_EXECUTION)
    with FlyteContextManager.with_context(ctx.with_execution_state(state)) as local:
        one, two = identify(local, _options(), "train"), identify(local, _options(), "train")
    assert one.is_local and one.metadata == {}
    assert one.run_id != two.run_id and one.run_id.startswith("train-")
    assert one.group_tag == two.group_tag  # one group per local process


def test_token_from_flyte_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_FSEC_NEPTUNE_API_TOKEN", " tok ")
    with remote_context(tmp_path) as ctx:
        token = resolve_token(Secret(group="neptune", key="api_token"), ctx.user_space_params)
    assert token == "tok"


def test_missing_secret_names_secret_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("_FSEC_NEPTUNE_API_TOKEN", raising=False)
    with remote_context(tmp_path) as ctx, pytest.raises(MissingTokenError, match="secret_requests"):
        resolve_token(Secret(group="neptune", key="api_token"), ctx.user_space_params)


def test_callable_returning_nothing_is_an_error(tmp_path: Path) -> None:
    with remote_context(tmp_path) as ctx, pytest.raises(MissingTokenError, match="empty"):
        resolve_token(lambda: "", ctx.user_space_params)


def test_host_from_token() -> None:
    token = base64.b64encode(json.dumps({"api_url": "http://h:1/", "api_key": "k"}).encode())
    assert host_from_token(token.decode()) == "http://h:1"
    assert host_from_token("not a token") is None
