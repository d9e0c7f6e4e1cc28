"""Damaging a real run's operation log and delivering it with the real ``despina sync``.

Shared by the adversarial tests of the operation log: an offline run written by the real
``Run``, byte positions of its records (from the segment's index), single-byte damage, the CLI
as a subprocess, and what the embedded store then holds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from neptune_scale import Run
from neptune_scale._oplog import segment_path

from support.stored_runs import StoredRuns

PROJECT = "adv/oplog"
RUN_ID = "damaged-run"
STEPS = 10_000
ENV_CLEARED = ("NEPTUNE_API_TOKEN", "NEPTUNE_PROJECT", "NEPTUNE_MODE", "NEPTUNE_LOG_DIRECTORY")


def loss(step: int) -> float:
    return step * 0.25 + 1 / (step + 3)  # every bit of the mantissa in use


def write_offline_run(log_directory: Path, steps: int = STEPS) -> Path:
    """An offline run of ``steps`` steps of two metrics; returns its run folder. Record 0 is
    the create record, record ``k`` (k >= 1) holds step ``k - 1``."""
    run = Run(
        project=PROJECT, run_id=RUN_ID, log_directory=log_directory, mode="offline",
        enable_console_log_capture=False, source_tracking_config=None,
    )  # fmt: skip
    for step in range(steps):
        run.log_metrics({"loss": loss(step), "acc": 1.0 - loss(step) / 1e6}, step=step)
    folder = run.log_folder
    run.close()
    assert folder is not None
    return folder


def record_span(folder: Path, k: int) -> tuple[int, int]:
    """(start, end) byte offsets of record ``k`` of segment 0, walking the records' headers
    (a tag byte and a varint length: the same in every format of the log)."""
    data = segment_path(folder, 0).read_bytes()
    pos = 0
    for i in range(k + 1):
        assert data[pos] != 0, f"the log holds {i} records"
        length = shift = 0
        end = pos + 1
        while True:
            byte = data[end]
            end += 1
            length |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                break
        start, pos = pos, end + length
    return start, pos


def xor_byte(path: Path, offset: int, mask: int) -> None:
    with open(path, "r+b") as f:
        old = os.pread(f.fileno(), 1, offset)[0]
        os.pwrite(f.fileno(), bytes((old ^ mask,)), offset)


def damage_segment(folder: Path, offset: int, mask: int) -> None:
    xor_byte(segment_path(folder, 0), offset, mask)


def despina_sync(log_directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``despina sync LOG_DIRECTORY ARGS`` as a subprocess (into the embedded store there)."""
    env = {k: v for k, v in os.environ.items() if k not in ENV_CLEARED}
    code = "import sys; from despina.cli import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, "sync", str(log_directory), *args],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def stored_losses(log_directory: Path) -> dict[int, float]:
    """step -> value of the run's ``loss`` series in the embedded store."""
    stored = StoredRuns(str(log_directory / "despina.sqlite3"))
    try:
        return {int(step): value for step, value in stored.floats(PROJECT, RUN_ID, "loss")}
    finally:
        stored.close()


def expected_losses(missing: set[int], steps: int = STEPS) -> dict[int, float]:
    return {step: loss(step) for step in range(steps) if step not in missing}
