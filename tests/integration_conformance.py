"""The one conformance scenario every integration runs (Flyte, Lightning, Hugging Face).

A tracked run through the real framework: it logs configs (flattened by the integration kit),
metrics over steps, meets a tracking error that must not reach the training loop or the task,
closes, and is then read back from the embedded store with ``despina.query``. Each integration's
test drives its framework and hands what it did to :func:`check_conformance`, so the assertions
(and what "conformant" means) are written once.

The tracking error is the real ``Run`` failing as if the disk were full (``OSError``) on one
call of the method the integration calls from inside the loop (:func:`tracking_error`).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "HYPERPARAMETERS",
    "Failure",
    "check_conformance",
    "tracking_error",
]


class Schedule(Enum):
    COSINE = "cosine"


@dataclass
class Optimizer:
    name: str
    betas: tuple[float, float]


#: What every integration logs as its configs: nesting, a dataclass, an enum, a tuple, a None.
HYPERPARAMETERS: dict[str, Any] = {
    "lr": 0.01,
    "epochs": 2,
    "optimizer": Optimizer("adam", (0.9, 0.99)),
    "schedule": {"kind": Schedule.COSINE, "warmup": None},
}


@dataclass
class Failure:
    """How many times the injected error fired (at most once, on call ``on_call``)."""

    on_call: int
    calls: int = 0
    fired: int = 0


@contextmanager
def tracking_error(
    monkeypatch: pytest.MonkeyPatch, method: str, on_call: int = 2
) -> Iterator[Failure]:
    """``neptune_scale.Run.<method>`` raises ``OSError`` (no space left) on its ``on_call``-th
    call, once; every other call is the real method."""
    from neptune_scale import Run
    from neptune_scale._recorder import Recorder

    # A run's log_metrics is its Recorder's, bound in Run.__init__ (the hot path skips the
    # facade): the error is raised there, for runs made after this patch.
    owner: Any = Recorder if method == "log_metrics" else Run
    real = getattr(owner, method)
    failure = Failure(on_call)

    def flaky(self: Any, *args: Any, **kwargs: Any) -> Any:
        failure.calls += 1
        if failure.calls == on_call:
            failure.fired += 1
            raise OSError(28, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(owner, method, flaky)
    yield failure
    monkeypatch.setattr(owner, method, real)


def check_conformance(
    store_dir: Path,
    project: str,
    run_id: str,
    *,
    configs: Mapping[str, Any],
    metric: str,
    min_points: int,
    failure: Failure,
    failures: Counter[str],
) -> dict[str, Any]:
    """The run as stored: ``configs`` among its configs (with their types), ``metric`` with at
    least ``min_points`` points at increasing steps, the injected error fired once and counted
    once by the integration's containment, no sampler thread left. Returns the run's details."""
    from despina.query import Reader

    assert failure.fired == 1, f"the tracking error never fired ({failure.calls} calls)"
    assert sum(failures.values()) == 1, f"contained failures: {dict(failures)}"
    with Reader(store_dir) as reader:
        details: dict[str, Any] = reader.run_details(project, run_id)
        frame = reader.fetch_metrics(project, [run_id], [metric])
    stored = details["configs"]
    for path, value in configs.items():
        assert path in stored, f"{path} not stored; stored: {sorted(stored)}"
        assert stored[path] == value and type(stored[path]) is type(value), (path, stored[path])
    steps = [float(step) for (_, step) in frame[metric].dropna().index]
    assert len(steps) >= min_points, f"{metric}: {steps}"
    assert steps == sorted(set(steps))
    assert not [t for t in threading.enumerate() if t.name == "neptune-system-metrics"]
    return details
