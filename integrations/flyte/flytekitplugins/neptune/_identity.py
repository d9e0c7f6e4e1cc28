"""Which run a task attempt writes to, derived from the Flyte execution it runs in.

Remote attempts get deterministic ids so that a retry can name (and fork) the run of the
attempt before it, and so that two executions never share a run even with a fixed `run_id`:

* Kubernetes names the task pod ``{execution}-{node}-{attempt}`` (``$HOSTNAME``) and Flyte
  exports the attempt as ``$FLYTE_ATTEMPT_NUMBER``. The node key is the pod name without the
  attempt suffix, so attempt 0 of an undecorated id equals the pod name (upstream's run id).
* Without ``$HOSTNAME`` the key is ``{execution}-{task}`` plus the map-task array index.
* A fixed `run_id` becomes a prefix: ``{run_id}-{node key}-{attempt}``.

Local executions have no execution identity (flytekit reports everything as ``local``), so
each local task call gets a fresh id and one group tag is shared by the whole process.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from flytekit.core.context_manager import ExecutionParameters, FlyteContext

from ._options import TrackingOptions

ATTEMPT_ENV = "FLYTE_ATTEMPT_NUMBER"
HOSTNAME_ENV = "HOSTNAME"
EXECUTION_URL_ENV = "FLYTE_EXECUTION_URL"
# flytekit's own names for the map-task array index (see flytekit.bin.entrypoint).
ARRAY_INDEX_VAR_ENV = "BATCH_JOB_ARRAY_INDEX_VAR_NAME"
ARRAY_INDEX_OFFSET_ENV = "BATCH_JOB_ARRAY_INDEX_OFFSET"
# Neptune documents run ids as at most 128 bytes; longer derived ids are shortened with a hash
# so that the id stays deterministic (a retry must compute its parent's id again).
MAX_RUN_ID_BYTES = 128
HASH_SUFFIX_CHARS = 16
LOCAL_SUFFIX_BYTES = 4

_PROCESS_GROUP_TAG: str | None = None


@dataclass(frozen=True)
class AttemptIdentity:
    """The run this attempt writes to and how it relates to other attempts."""

    is_local: bool
    run_id: str
    group_tag: str
    attempt: int = 0
    fork_run_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def shorten_run_id(run_id: str) -> str:
    """Keep ids within MAX_RUN_ID_BYTES, replacing the tail by a hash of the whole id."""
    if len(run_id.encode()) <= MAX_RUN_ID_BYTES:
        return run_id
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:HASH_SUFFIX_CHARS]
    head = run_id.encode()[: MAX_RUN_ID_BYTES - HASH_SUFFIX_CHARS - 1].decode(errors="ignore")
    return f"{head}-{digest}"


def _process_group_tag() -> str:
    global _PROCESS_GROUP_TAG
    if _PROCESS_GROUP_TAG is None:
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        _PROCESS_GROUP_TAG = f"local-{stamp}-{os.getpid()}"
    return _PROCESS_GROUP_TAG


def _task_short_name(params: ExecutionParameters, fallback: str) -> str:
    name = params.task_id.name if params.task_id is not None else ""
    if not name or name == "local":
        name = fallback
    return name.rsplit(".", 1)[-1]


def _local_identity(
    options: TrackingOptions, params: ExecutionParameters, fn_name: str
) -> AttemptIdentity:
    base = options.run_id_prefix or _task_short_name(params, fn_name)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    unique = f"{stamp}-{secrets.token_hex(LOCAL_SUFFIX_BYTES)}"
    return AttemptIdentity(
        is_local=True,
        run_id=shorten_run_id(f"{base}-{unique}"),
        group_tag=_process_group_tag(),
    )


def _attempt() -> int | None:
    raw = os.environ.get(ATTEMPT_ENV, "").strip()
    return int(raw) if raw.isdigit() else None


def _array_index() -> int | None:
    var = os.environ.get(ARRAY_INDEX_VAR_ENV)
    if not var or not os.environ.get(var, "").strip().isdigit():
        return None
    offset = os.environ.get(ARRAY_INDEX_OFFSET_ENV, "0").strip()
    return int(os.environ[var]) + (int(offset) if offset.isdigit() else 0)


def _node_key(params: ExecutionParameters, attempt: int | None, fn_name: str) -> str:
    hostname = os.environ.get(HOSTNAME_ENV, "").strip()
    if hostname:
        suffix = f"-{attempt}"
        if attempt is not None and hostname.endswith(suffix):
            return hostname[: -len(suffix)]
        return hostname
    key = f"{params.execution_id.name}-{_task_short_name(params, fn_name)}"
    index = _array_index()
    return key if index is None else f"{key}-{index}"


def _run_id(options: TrackingOptions, node_key: str, attempt: int | None) -> str:
    parts = [p for p in (options.run_id_prefix, node_key) if p]
    if attempt is not None:
        parts.append(str(attempt))
    return shorten_run_id("-".join(parts))


def flyte_metadata(params: ExecutionParameters, attempt: int | None) -> dict[str, Any]:
    """The seed's `flyte/*` keys (plus attempt and array index when known)."""
    execution, task = params.execution_id, params.task_id
    metadata: dict[str, Any] = {
        "flyte/execution_id": os.environ.get(HOSTNAME_ENV) or execution.name,
        "flyte/project": execution.project,
        "flyte/domain": execution.domain,
        "flyte/name": execution.name,
        "flyte/raw_output_prefix": params.raw_output_prefix,
        "flyte/output_metadata_prefix": params.output_metadata_prefix,
        # working_directory may be an AutoDeletingTempDir; its string form is the path.
        "flyte/working_directory": str(params.working_directory),
    }
    if task is not None:
        metadata.update(
            {
                "flyte/task/name": task.name,
                "flyte/task/project": task.project,
                "flyte/task/domain": task.domain,
                "flyte/task/version": task.version,
            }
        )
    if url := os.environ.get(EXECUTION_URL_ENV):
        metadata["flyte/execution_url"] = url
    if attempt is not None:
        metadata["flyte/attempt"] = attempt
    if (index := _array_index()) is not None:
        metadata["flyte/array_index"] = index
    # A config value of None is not storable; the key is simply absent then.
    return {key: value for key, value in metadata.items() if value is not None}


def identify(ctx: FlyteContext, options: TrackingOptions, fn_name: str) -> AttemptIdentity:
    """Derive this attempt's run id, fork parent, group tag and Flyte metadata."""
    params = ctx.user_space_params
    state = ctx.execution_state
    if state is None or state.is_local_execution():
        return _local_identity(options, params, fn_name)
    attempt = _attempt()
    node_key = _node_key(params, attempt, fn_name)
    fork_run_id = None
    forks = options.fork_on_retry and options.retry_fork_step is not None
    if forks and attempt is not None and attempt > 0:
        fork_run_id = _run_id(options, node_key, attempt - 1)
    return AttemptIdentity(
        is_local=False,
        run_id=_run_id(options, node_key, attempt),
        group_tag=params.execution_id.name,
        attempt=attempt or 0,
        fork_run_id=fork_run_id,
        metadata=flyte_metadata(params, attempt),
    )
