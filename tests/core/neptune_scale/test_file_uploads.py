"""Concurrent file uploads through the real pipeline: overlap within the limit, confirmation in
log order, per-file retries, outages, close/terminate and recovery by the next Run.

The transport is the in-memory one with real threads and short real sleeps in ``upload_file``;
what is asserted is what arrived there (and what stayed on disk), never calls of our own code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from neptune_scale import Run, _retry, _uploader
from neptune_scale._uploader import FileUploader, Upload
from neptune_scale.exceptions import NeptuneConnectionLostError, NeptuneFileUploadError
from neptune_scale.testing import MemoryTransport
from neptune_scale.transport import Failed
from neptune_scale.types import File

PROJECT = "ws/proj"
UPLOAD_S = 0.05  # each upload sleeps this long: long enough for overlaps to be certain
GATE_TIMEOUT_S = 30.0  # a blocked upload never hangs a failing test


class Storage(MemoryTransport):
    """Uploads take ``UPLOAD_S`` in the caller's thread; counts how many run at once.

    ``blocked[destination]``: the upload waits until the event is set. ``failing[destination]``:
    it fails retryably until the event is set. ``down``: every upload fails retryably while set;
    ``open``: every upload waits while it is clear.
    """

    def __init__(self, upload_s: float = UPLOAD_S) -> None:
        super().__init__()
        self.upload_s = upload_s
        self.blocked: dict[str, threading.Event] = {}
        self.failing: dict[str, threading.Event] = {}
        self.down = threading.Event()
        self.open = threading.Event()
        self.open.set()
        self.attempts: dict[str, int] = {}
        self.finished: list[str] = []
        self.active = 0
        self.max_active = 0
        self._count = threading.Lock()

    def upload_file(
        self, project: str, destination: str, source: Path, mime_type: str
    ) -> Failed | None:
        with self._count:
            self.attempts[destination] = self.attempts.get(destination, 0) + 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.down.is_set():
                return Failed(ConnectionError("storage down"), retryable=True)
            time.sleep(self.upload_s)
            assert self.open.wait(GATE_TIMEOUT_S)
            if destination in self.blocked:
                assert self.blocked[destination].wait(GATE_TIMEOUT_S)
            if destination in self.failing and not self.failing[destination].is_set():
                return Failed(ConnectionError("flaky"), retryable=True, retry_after_s=0.05)
            result = super().upload_file(project, destination, source, mime_type)
        finally:
            with self._count:
                self.active -= 1
        with self._count:
            self.finished.append(destination)
        return result

    def stored(self) -> dict[str, bytes]:
        with self._lock:
            return {destination: data for (_, destination), data in self.files.items()}


RunOn = Callable[..., Run]


@pytest.fixture
def run_on(tmp_path: Path) -> Iterator[RunOn]:
    """Runs logging under tmp_path into the given transport; all terminated at the end."""
    runs: list[Run] = []

    def make(storage: MemoryTransport, run_id: str = "r", **kwargs: object) -> Run:
        run = Run(project=PROJECT, run_id=run_id, log_directory=tmp_path, transport=storage,
                  enable_console_log_capture=False, source_tracking_config=None,
                  **kwargs)  # type: ignore[arg-type]  # fmt: skip
        runs.append(run)
        return run

    yield make
    for run in runs:
        run.terminate()


def files(count: int, prefix: str = "f") -> dict[str, File]:
    return {
        f"{prefix}{i}": File(f"bytes {prefix}{i}".encode(), destination=f"d/{prefix}{i}")
        for i in range(count)
    }


def until(condition: Callable[[], bool], timeout: float = GATE_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_uploads_overlap_up_to_the_limit(run_on: RunOn) -> None:
    storage = Storage()
    run = run_on(storage)
    run.assign_files(files(40))
    run.log_metrics({"m": 1.0}, step=1)
    assert run.wait_for_processing(timeout=30, verbose=False)
    run.close()
    assert storage.stored() == {f"d/f{i}": f"bytes f{i}".encode() for i in range(40)}
    assert 1 < storage.max_active <= _uploader.MAX_CONCURRENT_UPLOADS
    assert set(storage.configs("r")) >= {f"f{i}" for i in range(40)}  # the FileRefs


def test_the_limit_is_the_module_constant(run_on: RunOn, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_uploader, "MAX_CONCURRENT_UPLOADS", 3)
    storage = Storage()
    run = run_on(storage)
    run.assign_files(files(24))
    run.close()
    assert len(storage.stored()) == 24
    assert storage.max_active == 3
    one = Storage()
    monkeypatch.setattr(_uploader, "MAX_CONCURRENT_UPLOADS", 1)
    run = run_on(one, run_id="serial")
    run.assign_files(files(6))
    run.close()
    assert len(one.stored()) == 6 and one.max_active == 1


def test_a_full_uploader_holds_the_sender_back(
    run_on: RunOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_uploader, "MAX_QUEUED_UPLOADS", 4)
    storage = Storage()
    storage.open.clear()
    run = run_on(storage)
    for name, file in files(20).items():
        run.assign_files({name: file})
    run.log_metrics({"m": 1.0}, step=1)
    assert until(lambda: storage.active == 4)
    assert not run.wait_for_submission(timeout=0.3, verbose=False)
    assert storage.active == 4 and sum(storage.attempts.values()) == 4  # no more handed over
    assert storage.metric_points("r", "m") == []  # the log keeps the rest until there is room
    storage.open.set()
    assert run.wait_for_processing(timeout=30, verbose=False)
    assert len(storage.stored()) == 20 and storage.max_active == 4
    assert storage.metric_points("r", "m") == [(1.0, 1.0)]


def test_confirmation_never_passes_an_earlier_file_that_finishes_last(
    run_on: RunOn, tmp_path: Path
) -> None:
    first, later = tmp_path / "first.bin", tmp_path / "later.bin"
    first.write_bytes(b"one")
    later.write_bytes(b"two")
    storage = Storage()
    storage.blocked["d/first"] = threading.Event()
    run = run_on(storage)
    run.assign_files({"first": File(first, destination="d/first")})
    run.log_metrics({"m": 1.0}, step=1)
    run.assign_files({"later": File(later, destination="d/later")})
    run.log_metrics({"m": 2.0}, step=2)
    assert until(lambda: "d/later" in storage.stored())  # the later file finished first
    assert run.wait_for_submission(timeout=30, verbose=False)
    assert storage.metric_points("r", "m") == [(1.0, 1.0), (2.0, 2.0)]
    assert not run.wait_for_processing(timeout=0.3, verbose=False)
    # Stopped now, the log keeps everything from the unfinished file on: the next Run
    # delivers the first file (and, again, what followed it).
    folder = run.log_folder
    run.terminate()
    storage.blocked["d/first"].set()
    assert folder is not None and folder.exists()
    again = MemoryTransport()
    run = run_on(again)
    run.close()
    assert again.files == {(PROJECT, "d/first"): b"one", (PROJECT, "d/later"): b"two"}
    assert again.metric_points("r", "m") == [(1.0, 1.0), (2.0, 2.0)]
    assert not folder.exists()


def test_a_retrying_file_does_not_hold_up_the_others(run_on: RunOn, tmp_path: Path) -> None:
    storage = Storage()
    storage.failing["d/flaky"] = threading.Event()
    network: list[BaseException] = []
    run = run_on(storage, on_network_error_callback=lambda e, t: network.append(e))
    run.assign_files({"flaky": File(b"flaky bytes", destination="d/flaky")})
    run.assign_files(files(20))
    blob_dir = tmp_path / "runs"
    # All others arrive while the flaky one keeps failing.
    assert until(lambda: len(storage.stored()) == 20 and storage.attempts["d/flaky"] >= 3)
    assert "d/flaky" not in storage.stored()
    assert not run.wait_for_processing(timeout=0.1, verbose=False)
    blobs = {p.read_bytes() for p in blob_dir.rglob("blobs/*")}
    assert blobs == {b"flaky bytes"}  # the only temporary copy left: kept until it arrives
    storage.failing["d/flaky"].set()
    assert run.wait_for_processing(timeout=30, verbose=False)
    assert storage.stored()["d/flaky"] == b"flaky bytes"
    assert not list(blob_dir.rglob("blobs/*"))
    run.close()
    assert network and all(isinstance(e, NeptuneConnectionLostError) for e in network)
    assert "d/flaky" in str(network[0])


class StillClock:
    """The ``time`` of ``neptune_scale._retry``: stands still until the test moves it, so a
    backoff lasts until the test says it is over, however loaded the machine is."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def test_an_outage_holds_new_attempts_instead_of_failing_through_the_queue(
    run_on: RunOn, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = StillClock()
    monkeypatch.setattr(_retry, "time", clock)
    storage = Storage(upload_s=0.0)
    storage.down.set()
    network: list[BaseException] = []
    run = run_on(storage, on_network_error_callback=lambda e, t: network.append(e))
    run.assign_files(files(100))
    # A round of failed attempts starts the stage-wide hold; on a still clock it never ends, so
    # the attempts stop there (without the hold: all 100 in a few ms).
    assert until(
        lambda: sum(storage.attempts.values()) >= _uploader.OUTAGE_FAILURES and not storage.active
    )
    tried = sum(storage.attempts.values())
    assert _uploader.OUTAGE_FAILURES <= tried < 100
    storage.down.clear()
    clock.now += 3600.0  # the hold (and every file's own backoff) is over
    assert run.wait_for_processing(timeout=60, verbose=False)
    run.close()
    assert len(storage.stored()) == 100
    assert len(network) == 1  # reported once, not once per file or attempt


class Refusing(Storage):
    def upload_file(
        self, project: str, destination: str, source: Path, mime_type: str
    ) -> Failed | None:
        if destination == "d/refused":
            return Failed(PermissionError("bucket is read-only"), retryable=False)
        return super().upload_file(project, destination, source, mime_type)


def test_a_refused_file_is_reported_and_the_rest_arrives(run_on: RunOn, tmp_path: Path) -> None:
    source = tmp_path / "refused.txt"
    source.write_text("x")
    errors: list[BaseException] = []
    storage = Refusing()
    run = run_on(storage, on_error_callback=lambda e, t: errors.append(e))
    run.assign_files(files(5, "a"))
    run.assign_files({"refused": File(source, destination="d/refused")})
    run.assign_files(files(5, "b"))
    run.log_metrics({"m": 1.0}, step=1)
    run.close()
    assert [type(e) for e in errors] == [NeptuneFileUploadError]
    assert "read-only" in str(errors[0]) and "d/refused" in str(errors[0])
    assert len(storage.stored()) == 10 and "d/refused" not in storage.stored()
    assert storage.metric_points("r", "m") == [(1.0, 1.0)]
    assert "refused" in storage.configs("r") and source.exists()


def test_close_waits_for_running_uploads(run_on: RunOn) -> None:
    storage = Storage(upload_s=0.1)
    run = run_on(storage)
    run.log_files(files(16), step=1)
    folder = run.log_folder
    run.close()  # no timeout: waits for all of them
    assert len(storage.stored()) == 16
    assert folder is not None and not folder.exists()


def test_close_within_a_timeout_leaves_an_unfinished_upload_on_disk(run_on: RunOn) -> None:
    storage = Storage()
    storage.blocked["d/stuck"] = threading.Event()
    run = run_on(storage)
    run.assign_files({"stuck": File(b"stuck bytes", destination="d/stuck")})
    run.assign_files(files(4))
    folder = run.log_folder
    assert until(lambda: len(storage.stored()) == 4)
    run.close(timeout=0.5)
    assert storage.active == 1  # it returned with the stuck upload still running
    assert len(storage.stored()) == 4
    assert folder is not None and folder.exists()
    assert {p.read_bytes() for p in folder.glob("blobs/*")} == {b"stuck bytes"}
    again = MemoryTransport()
    run_on(again).close()
    storage.blocked["d/stuck"].set()  # (the abandoned attempt ends; its result is ignored)
    assert again.files[(PROJECT, "d/stuck")] == b"stuck bytes"
    assert not folder.exists()


def test_terminate_stops_at_once_and_the_next_run_delivers(run_on: RunOn, tmp_path: Path) -> None:
    storage = Storage(upload_s=0.0)
    storage.open.clear()  # every upload waits at the gate until the end
    source = tmp_path / "weights.bin"
    source.write_bytes(b"weights")
    run = run_on(storage)
    run.assign_files({"ckpt": File(source, destination="d/ckpt")})
    run.log_files(files(30), step=1)
    run.log_metrics({"m": 1.0}, step=1)
    assert until(lambda: storage.active > 0)
    folder = run.log_folder
    run.terminate()
    assert storage.active > 0  # it returned with uploads still running: none was waited for
    storage.open.set()  # (the abandoned attempts end; their results are ignored)
    assert folder is not None and folder.exists()
    assert len(storage.stored()) < 31
    again = MemoryTransport()
    run = run_on(again)
    run.close()
    expected = {f"d/f{i}": f"bytes f{i}".encode() for i in range(30)} | {"d/ckpt": b"weights"}
    assert {d: data for (_, d), data in again.files.items()} | storage.stored() == expected
    assert set(again.files) >= {(PROJECT, d) for d in expected if d not in storage.stored()}
    assert again.metric_points("r", "m") == [(1.0, 1.0)]
    assert not folder.exists() and source.exists()  # the user's own file is never deleted


def test_the_stage_alone_drains_all_its_slots_on_close(tmp_path: Path) -> None:
    storage = Storage(upload_s=0.1)
    errors: list[BaseException] = []
    stage = FileUploader(storage, PROJECT, errors.append, on_done=lambda: None)
    stage.start()
    uploads = []
    for index in range(20):
        source = tmp_path / f"s{index}"
        source.write_bytes(b"s")
        request = {"source": str(source), "destination": f"d/s{index}",
                   "mime_type": "text/plain", "temporary": False}  # fmt: skip
        uploads.append(Upload(json.dumps(request).encode()))
        stage.submit(uploads[-1])
    remaining = stage.close(timeout=30)
    assert remaining is not None and remaining > 0
    assert all(u.done for u in uploads) and len(storage.stored()) == 20
    assert 1 < storage.max_active <= _uploader.MAX_CONCURRENT_UPLOADS and not errors


FORK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from neptune_scale import Run
    from neptune_scale.testing import MemoryTransport
    from neptune_scale.types import File

    journal = Path(sys.argv[1]) / "journal"

    class Journal(MemoryTransport):
        def upload_file(self, project, destination, source, mime_type):
            time.sleep(0.05)
            with open(journal, "a") as out:  # O_APPEND: one line per upload, any process
                out.write(f"{os.getpid()} {destination}\\n")
            return super().upload_file(project, destination, source, mime_type)

    run = Run(project="ws/p", run_id="forked", log_directory=sys.argv[1], transport=Journal(),
              enable_console_log_capture=False, source_tracking_config=None)
    run.assign_files({f"f{i}": File(b"x", destination=f"d/f{i}") for i in range(24)})
    time.sleep(0.1)  # uploads are running in the parent's slots
    pid = os.fork()
    if pid == 0:
        run.assign_files({"child": File(b"c", destination="d/child")})  # refused in a child
        time.sleep(0.5)
        run.close()
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    run.close()
    print(json.dumps({"child_status": status, "parent": os.getpid(),
                      "lines": journal.read_text().split("\\n")[:-1]}))
    """
)


@pytest.mark.slow
def test_fork_child_uploads_nothing_of_the_parents(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", FORK_SCRIPT, str(tmp_path)],
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["child_status"] == 0
    uploads = [line.split(" ") for line in result["lines"]]
    assert {pid for pid, _ in uploads} == {str(result["parent"])}
    assert sorted(d for _, d in uploads) == sorted(f"d/f{i}" for i in range(24))
