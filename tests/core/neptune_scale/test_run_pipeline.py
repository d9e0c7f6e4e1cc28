"""The Run facade and its pipeline on the in-memory transport: what arrives, exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from neptune_scale import Run, sync_run
from neptune_scale.exceptions import (
    NeptuneConnectionLostError,
    NeptuneProjectNotFound,
    NeptuneSeriesStepNonIncreasing,
    NeptuneSynchronizationStopped,
)
from neptune_scale.testing import MemoryTransport
from neptune_scale.transport import Failed, IngestIssue, Processed, Submitted

MakeRun = Callable[..., Run]


def test_configs_metrics_tags_arrive(make_run: MakeRun, memory: MemoryTransport) -> None:
    run = make_run(run_id="r", experiment_name="exp")
    run.log_configs({"lr": 0.01, "opt": {"name": "adam"}}, flatten=True)
    run.add_tags(["a", "b"])
    run.remove_tags(["b"])
    run.add_tags(["g"], group_tags=True)
    for step in range(300):
        run.log_metrics({"loss": 1 / (step + 1), "acc": step / 300}, step=step)
    assert run.wait_for_processing(timeout=30)
    ops = memory.operations
    assert ops[0].WhichOneof("operation") == "create"
    assert ops[0].create.experiment_id == "exp" and ops[0].create.family == "r"
    assert all(op.WhichOneof("operation") == "update_batch" for op in ops[1:])
    assert memory.configs("r") == {"lr": 0.01, "opt/name": "adam"}
    assert memory.tags("r") == {"a"}
    assert memory.tags("r", "sys/group_tags") == {"g"}
    points = memory.metric_points("r", "loss")
    assert points == [(float(s), 1 / (s + 1)) for s in range(300)]


def test_close_delivers_and_removes_the_log_folder(
    make_run: MakeRun, memory: MemoryTransport
) -> None:
    run = make_run(run_id="r")
    run.log_metrics({"m": 1.0}, step=1)
    folder = run.log_folder
    assert folder is not None and folder.exists()
    run.close()
    assert memory.metric_points("r", "m") == [(1.0, 1.0)]
    assert not folder.exists()
    assert memory.closed


def test_string_series_histograms_and_files(
    make_run: MakeRun, memory: MemoryTransport, tmp_path: Path
) -> None:
    from neptune_scale.types import File, Histogram

    source = tmp_path / "notes.txt"
    source.write_text("hello")
    run = make_run(run_id="r")
    run.log_string_series({"log": "line one"}, step=1)
    run.log_histograms({"h": Histogram(bin_edges=[0, 1, 2], counts=[3, 4])}, step=1)
    blob = File(b"\x00\x01", mime_type="image/png")
    run.assign_files({"files/notes": source, "files/blob": blob})
    run.log_files({"files/series": source}, step=2)
    assert run.wait_for_processing(timeout=30)
    snaps = memory.snapshots("r")
    refs = {k: v.file_ref for s in snaps for k, v in s.assign.items()}
    assert refs["files/notes"].mime_type == "text/plain" and refs["files/notes"].size_bytes == 5
    assert refs["files/blob"].mime_type == "image/png" and refs["files/blob"].size_bytes == 2
    assert memory.files[("ws/proj", refs["files/notes"].path)] == b"hello"
    assert memory.files[("ws/proj", refs["files/blob"].path)] == b"\x00\x01"
    series_ref = next(
        s.append["files/series"].file_ref for s in snaps if "files/series" in s.append
    )
    assert memory.files[("ws/proj", series_ref.path)] == b"hello"
    strings = [s.append["log"].string for s in snaps if "log" in s.append]
    assert strings == ["line one"]
    hist = next(s.append["h"].histogram for s in snaps if "h" in s.append)
    assert list(hist.counts.values) == [3, 4]


def test_dict_style_access(make_run: MakeRun, memory: MemoryTransport, tmp_path: Path) -> None:
    summary = tmp_path / "model_summary.txt"
    summary.write_text("layers")
    run = make_run(run_id="r")
    run["hyperparameters"] = {"lr": 0.1, "layers": {"n": 3}}
    run["metrics/accuracy"] = 0.9
    run["m"].append(0.5)
    run["m"].append(0.25)
    run["m"].append(0.125, step=10)
    run["model_summary"].upload(str(summary))
    run["sys/tags"].add("t")
    run.stop()
    assert memory.configs("r")["hyperparameters/layers/n"] == 3
    assert memory.configs("r")["metrics/accuracy"] == 0.9
    assert memory.metric_points("r", "m") == [(0.0, 0.5), (1.0, 0.25), (10.0, 0.125)]
    assert memory.tags("r") == {"t"}
    assert b"layers" in memory.files.values()


def test_resume_sends_no_create_and_fork_sends_fork_point(
    make_run: MakeRun, memory: MemoryTransport
) -> None:
    make_run(run_id="resumed", resume=True).close()
    assert memory.creates("resumed") == []
    make_run(run_id="child", fork_run_id="parent", fork_step=5.5).close()
    (create,) = memory.creates("child")
    assert create.fork_point.parent_run_id == "parent"
    assert create.fork_point.parent_project == "ws/proj"
    assert (create.fork_point.step.whole, create.fork_point.step.micro) == (5, 500000)


def test_retryable_failures_are_retried_without_loss(
    make_run: MakeRun, memory: MemoryTransport
) -> None:
    seen: list[BaseException] = []
    for _ in range(3):
        memory.submit_failures.append(Failed(ConnectionError("down"), retryable=True))
    run = make_run(run_id="r", on_network_error_callback=lambda e, _: seen.append(e))
    for step in range(20):
        run.log_metrics({"m": float(step)}, step=step)
    assert run.wait_for_processing(timeout=60)
    run.close()
    assert [s for s, _ in memory.metric_points("r", "m")] == [float(s) for s in range(20)]
    assert seen and isinstance(seen[0], NeptuneConnectionLostError)


def test_pending_statuses_make_waits_time_out_then_succeed(
    make_run: MakeRun, memory: MemoryTransport
) -> None:
    memory.pending_checks = 1_000_000
    run = make_run(run_id="r")
    run.log_metrics({"m": 1.0}, step=1)
    assert run.wait_for_submission(timeout=30)
    assert not run.wait_for_processing(timeout=0.3)
    memory.pending_checks = 0
    assert run.wait_for_processing(timeout=30)


def test_ingest_issues_reach_the_error_callback(make_run: MakeRun) -> None:
    errors: list[BaseException] = []
    got = threading.Event()

    def on_error(error: BaseException, last_seen: float | None) -> None:
        errors.append(error)
        got.set()

    run = make_run(run_id="r", on_error_callback=on_error)
    run.log_metrics({"m": 1.0}, step=5)
    run.log_metrics({"m": 2.0}, step=3)  # not increasing: rejected where it lands
    assert run.wait_for_processing(timeout=30)
    assert got.wait(10)
    assert isinstance(errors[0], NeptuneSeriesStepNonIncreasing)
    assert errors[0].code == 25 and "'m'" in str(errors[0])


class _FatalTransport(MemoryTransport):
    def check(self, project: str, request_ids: object) -> list[Processed | None] | Failed:
        return [Processed((IngestIssue(8, "", "no such project"),)) for _ in request_ids]  # type: ignore[attr-defined]


def test_fatal_issue_stops_sending_and_keeps_data(tmp_path: Path) -> None:
    errors: list[BaseException] = []
    run = Run(
        project="ws/p",
        run_id="r",
        log_directory=tmp_path,
        transport=_FatalTransport(),
        enable_console_log_capture=False,
        source_tracking_config=None,
        on_error_callback=lambda e, _: errors.append(e),
    )
    run.log_metrics({"m": 1.0}, step=1)
    assert not run.wait_for_processing(timeout=30)
    folder = run.log_folder
    run.close()
    assert any(isinstance(e, NeptuneProjectNotFound) for e in errors)
    assert folder is not None and folder.exists()  # nothing lost: `neptune sync` can retry


def test_non_retryable_submit_failure_is_reported(
    make_run: MakeRun, memory: MemoryTransport
) -> None:
    errors: list[BaseException] = []
    memory.submit_failures.append(Failed(PermissionError("forbidden"), retryable=False))
    run = make_run(run_id="r", on_error_callback=lambda e, _: errors.append(e))
    assert not run.wait_for_processing(timeout=30)
    run.close()
    assert isinstance(errors[0], NeptuneSynchronizationStopped)


def test_offline_run_is_delivered_once_by_sync(tmp_path: Path) -> None:
    run = Run(
        project="ws/p",
        run_id="off",
        log_directory=tmp_path,
        mode="offline",
        enable_console_log_capture=False,
        source_tracking_config=None,
    )
    for step in range(100):
        run.log_metrics({"m": float(step)}, step=step)
    folder = run.log_folder
    assert run.wait_for_processing()
    run.close()
    assert folder is not None and folder.exists()
    memory = MemoryTransport()
    assert sync_run(folder, transport=memory, progress=False)
    assert len(memory.metric_points("off", "m")) == 100
    assert len(memory.creates("off")) == 1
    assert not folder.exists()


def test_disabled_mode_logs_nothing(tmp_path: Path) -> None:
    run = Run(project="ws/p", run_id="d", log_directory=tmp_path, mode="disabled")
    run.log_metrics({"m": 1.0}, step=1)
    run.log_configs({"a": 1})
    assert run.wait_for_processing()
    run.close()
    assert not (tmp_path / "runs").exists()


def test_submitted_results_are_ordered_and_checked(memory: MemoryTransport) -> None:
    submitted = memory.submit("ws/p", "r", b"")
    assert isinstance(submitted, Submitted)
    assert memory.check("ws/p", [submitted.request_id]) == [Processed(())]


def test_deprecated_log_and_dataclass_configs(make_run: MakeRun, memory: MemoryTransport) -> None:
    import dataclasses

    @dataclasses.dataclass
    class Optim:
        name: str = "sgd"
        lr: float = 0.1

    @dataclasses.dataclass
    class Config:
        seed: int = 7
        optim: Optim = dataclasses.field(default_factory=Optim)

    run = make_run(run_id="r")
    assert repr(run) == "<Run 'r' of 'ws/proj' (async)>"
    run.log_configs(Config(), flatten=True)
    run.log_configs(Optim(name="adam"))
    run.log(step=3, configs={"c": 1}, metrics={"m": 0.5},
            tags_add={"sys/tags": ["x", "y"]}, tags_remove={"sys/tags": ["y"]})  # fmt: skip
    run.close()
    configs = memory.configs("r")
    assert configs["seed"] == 7 and configs["optim/lr"] == 0.1 and configs["name"] == "adam"
    assert configs["c"] == 1
    assert memory.metric_points("r", "m") == [(3.0, 0.5)]
    assert memory.tags("r") == {"x"}
    assert repr(run) == "<Run 'r' of 'ws/proj' (closed)>"


class _SlowFiles(MemoryTransport):
    """Uploads fail (retryably) until ``release`` is set; then they succeed."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()
        self.attempts = 0

    def upload_file(self, project: str, destination: str, source: Path,
                    mime_type: str) -> Failed | None:  # fmt: skip
        self.attempts += 1
        if not self.release.is_set():
            return Failed(ConnectionError("storage down"), retryable=True, retry_after_s=0.05)
        return super().upload_file(project, destination, source, mime_type)


def test_files_upload_beside_metrics_and_gate_confirmation(tmp_path: Path) -> None:
    source = tmp_path / "ckpt.bin"
    source.write_bytes(b"weights")
    transport = _SlowFiles()
    run = Run(project="ws/p", run_id="f", log_directory=tmp_path, transport=transport,
              enable_console_log_capture=False, source_tracking_config=None,
              on_network_error_callback=lambda e, t: None)  # fmt: skip
    run.assign_files({"ckpt": source})
    for step in range(50):
        run.log_metrics({"m": float(step)}, step=step)
    assert run.wait_for_submission(timeout=30)  # metrics are not stuck behind the file
    assert len(transport.metric_points("f", "m")) == 50
    assert not run.wait_for_processing(timeout=0.5)  # ... but not confirmed before it
    assert transport.attempts >= 2
    transport.release.set()
    assert run.wait_for_processing(timeout=30)
    run.close()
    assert list(transport.files.values()) == [b"weights"]


class _RefusingFiles(MemoryTransport):
    def upload_file(self, project: str, destination: str, source: Path,
                    mime_type: str) -> Failed | None:  # fmt: skip
        return Failed(PermissionError("bucket is read-only"), retryable=False)


def test_a_file_that_cannot_be_uploaded_is_reported(tmp_path: Path) -> None:
    from neptune_scale.exceptions import NeptuneFileUploadError

    source = tmp_path / "a.txt"
    source.write_text("x")
    errors: list[BaseException] = []
    transport = _RefusingFiles()
    run = Run(project="ws/p", run_id="g", log_directory=tmp_path, transport=transport,
              enable_console_log_capture=False, source_tracking_config=None,
              on_error_callback=lambda e, t: errors.append(e))  # fmt: skip
    run.assign_files({"f": source})
    run.log_metrics({"m": 1.0}, step=1)
    run.close()
    assert [type(e) for e in errors] == [NeptuneFileUploadError]
    assert "read-only" in str(errors[0])
    assert transport.metric_points("g", "m") == [(1.0, 1.0)]
    assert "f" in transport.configs("g")  # the FileRef stays, as in the official client
    assert source.exists()
