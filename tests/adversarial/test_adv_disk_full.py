"""Issue 12 item 6: a full disk under the run's operation log never kills the training loop.

A real training script (the real ``Run``, the embedded store in the same log directory) logs
on a small tmpfs that a filler file fills up. Before the fix the first store into a page of the
sparse segment with no block behind it raised SIGBUS and the process died. Now the log reserves
its space first: a full disk is reported (error callback), points are held in memory up to a
bound, points beyond the bound are dropped, counted and reported (queue-full callback), and once
the filler is deleted writing resumes and every point not reported as dropped is delivered.
"""

from __future__ import annotations

import re
import subprocess
import textwrap
from pathlib import Path

import pytest
from despina.query import Reader
from support.adv_local_disk import fill, read_json_line, small_tmpfs, start_script

pytestmark = pytest.mark.slow

TMPFS_MIB = 16
ROOM_BYTES = 2 * 1024 * 1024  # what the filler leaves: the log fills it within seconds
LOGGED_WHILE_FULL = 20_000

TRAINING = textwrap.dedent(
    """
    import json, sys, time
    from neptune_scale import Run

    log_directory, max_held, while_full = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    memory = None
    if sys.argv[4] == "memory":  # a destination off the full disk: acks go on meanwhile
        from neptune_scale.testing import MemoryTransport

        memory = MemoryTransport()
    if max_held:
        from neptune_scale._oplog import held as _held

        _held.MAX_HELD_BYTES = max_held  # a small bound, so the test reaches it
    events = []
    run = Run(project="adv/disk", run_id="full", log_directory=log_directory,
              on_error_callback=lambda e, t: events.append(["error", type(e).__name__, str(e)]),
              on_queue_full_callback=lambda e, t: events.append(
                  ["queue_full", type(e).__name__, str(e)]),
              enable_console_log_capture=False, source_tracking_config=None,
              transport=memory)
    step = 0

    def log(n):
        global step
        for _ in range(n):
            run.log_metrics({"loss": step * 0.5, "acc": 1.0 / (step + 1)}, step=step)
            step += 1

    if memory is not None:  # the log reserves space ahead; then the test takes the rest
        log(1000)
        time.sleep(0.5)
        print(json.dumps({"logged": step}), flush=True)
        sys.stdin.readline()
    while not any(e[2].startswith("No room for the operation log") for e in events):
        log(1000)
        assert step < 3_000_000, "the disk never filled up"
    log(while_full)
    # Confirmations keep coming while the disk is full (what was written before it filled up);
    # give the status checker (it polls up to every second) time to try recording one, rather
    # than racing it with the test freeing space.
    deadline = time.monotonic() + 10
    while memory is not None and time.monotonic() < deadline and not any(
            e[2].startswith("Cannot record delivered operations") for e in events):
        time.sleep(0.05)
    print(json.dumps({"logged": step}), flush=True)
    sys.stdin.readline()  # the test frees space
    delivered = run.wait_for_processing(timeout=120, verbose=False)
    log(1000)
    run.close()
    received = None if memory is None else [s for s, _ in memory.metric_points("full", "loss")]
    print(json.dumps({"logged": step, "events": events, "delivered": delivered,
                      "received": received}), flush=True)
    """
)


def _train_through_a_full_disk(
    tmp_path: Path, max_held: int, destination: str = "store"
) -> tuple[dict, list[float], Path]:
    with small_tmpfs(tmp_path / "disk", TMPFS_MIB) as disk:
        filler = disk / "filler"
        if destination == "store":
            fill(disk, ROOM_BYTES)
        logs = disk / "logs"
        child = start_script(
            TRAINING, str(logs), str(max_held), str(LOGGED_WHILE_FULL), destination
        )
        try:
            if destination == "memory":
                read_json_line(child)
                fill(disk, 0)
                _go(child)
            read_json_line(child)  # full, and still alive
            filler.unlink()
            _go(child)
            result = read_json_line(child)
            assert child.wait(timeout=120) == 0
        finally:
            child.kill()
            child.wait()
        if result["received"] is not None:
            return result, [float(s) for s in result["received"]], logs
        with Reader(logs) as reader:
            frame = reader.fetch_metrics("adv/disk", runs=["full"], attributes=["loss"])
        steps = [float(s) for s in frame.index.get_level_values("step")]
        assert list(frame["loss"]) == [s * 0.5 for s in steps]
        return result, steps, logs


def _go(child: subprocess.Popen[str]) -> None:
    assert child.stdin is not None
    child.stdin.write("go\n")
    child.stdin.flush()


def test_a_full_disk_holds_points_in_memory_and_delivers_them(tmp_path: Path) -> None:
    result, steps, logs = _train_through_a_full_disk(tmp_path, max_held=0)
    kinds = [e[1] for e in result["events"]]
    assert "NeptuneLocalStorageFull" in kinds
    assert "NeptuneOperationsQueueMaxSizeExceeded" not in kinds  # nothing was dropped
    assert result["delivered"] is True
    assert steps == [float(s) for s in range(result["logged"])]  # every point, once, in order
    assert not list((logs / "runs").glob("*/meta.json"))  # delivered: the log was removed


def test_a_full_disk_under_a_run_sending_elsewhere_loses_nothing(tmp_path: Path) -> None:
    """The destination is off the full disk, so deliveries are confirmed meanwhile and the
    ``acked`` file cannot be rewritten: that is reported, and nothing is lost or sent twice."""
    result, steps, _ = _train_through_a_full_disk(tmp_path, max_held=0, destination="memory")
    messages = [e[2] for e in result["events"] if e[1] == "NeptuneLocalStorageFull"]
    assert any(m.startswith("Cannot record delivered operations") for m in messages)
    assert any(m.startswith("No room for the operation log") for m in messages)
    assert result["delivered"] is True
    assert steps == [float(s) for s in range(result["logged"])]


def test_points_beyond_the_memory_bound_are_dropped_counted_and_reported(tmp_path: Path) -> None:
    result, steps, _ = _train_through_a_full_disk(tmp_path, max_held=256 * 1024)
    logged = result["logged"]
    missing = sorted(set(range(logged)) - {int(s) for s in steps})
    assert missing, "the bound was never reached"
    # The dropped points are one stretch: logged after the bound filled, before room returned.
    assert missing == list(range(missing[0], missing[-1] + 1))
    reports = [e[2] for e in result["events"] if e[0] == "queue_full"]
    totals = [int(m) for r in reports for m in re.findall(r"\((\d+) in total\)", r)]
    assert totals and totals[-1] == len(missing)  # every dropped point is counted and reported
    assert len(steps) == len(set(steps)) == logged - len(missing)


@pytest.mark.parametrize("allocate", ["posix_fallocate", "zeros"])
def test_reserving_on_a_full_disk_is_an_error_not_a_signal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allocate: str
) -> None:
    """Where the file system cannot allocate ahead (EOPNOTSUPP: musl, macOS, some network file
    systems) the reservation writes zeros; either way a full disk is ENOSPC from a system call.
    """
    import errno

    from neptune_scale import _mapped

    if allocate == "zeros":
        monkeypatch.setattr(_mapped, "_posix_fallocate", None)
    with small_tmpfs(tmp_path / "disk", 4) as disk:
        mapped = _mapped.MappedFile(disk / "segment", 32 * 1024 * 1024)
        try:
            assert mapped.reserve(1024 * 1024) == 1024 * 1024
            mapped.mm[: 1024 * 1024] = b"\x01" * (1024 * 1024)  # reserved: this cannot fault
            with pytest.raises(OSError) as raised:
                mapped.reserve(16 * 1024 * 1024)
            assert raised.value.errno == errno.ENOSPC
            assert mapped.reserved == 1024 * 1024  # what was reserved stays; nothing more
            assert mapped.mm[: 1024 * 1024] == b"\x01" * (1024 * 1024)
        finally:
            mapped.close()
