"""``neptune_scale.sync``: the one door to run folders for tools outside the client.

``despina sync`` copies the official client's operations into a run folder through it; here a
folder written with ``RunFolderWriter`` is found, read and delivered by the client's own sender.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from neptune_api.proto.neptune_pb.ingest.v1.common_pb2 import Run, Step, UpdateRunSnapshot, Value
from neptune_scale import sync
from neptune_scale.testing import MemoryTransport

PROJECT = "ws/sync-api"


def test_sync_all_is_pinned() -> None:
    assert sync.__all__ == [
        "RunFolderWriter",
        "find_run_folders",
        "is_run_folder",
        "run_destination",
        "run_identity",
        "sync_run",
        "writer_alive",
    ]


def _write(folder: Path, source: Path) -> None:
    with sync.RunFolderWriter(folder, PROJECT, "copied") as writer:
        writer.create_run(Run(run_id="copied", experiment_id="exp").SerializeToString())
        for step in (1, 2):
            point = UpdateRunSnapshot(step=Step(whole=step), append={"loss": Value(float64=step)})
            writer.update(point.SerializeToString())
        config = UpdateRunSnapshot(assign={"lr": Value(float64=0.5)})
        writer.update(config.SerializeToString())
        writer.upload(str(source), "files/data.bin", "application/octet-stream")


def test_a_written_run_folder_is_found_and_delivered_in_order(tmp_path: Path) -> None:
    source = tmp_path / "data.bin"
    source.write_bytes(b"payload")
    folder = tmp_path / "logs" / "runs" / "copied"
    _write(folder, source)

    assert sync.is_run_folder(folder)
    assert sync.find_run_folders(tmp_path / "logs") == [folder]
    identity = sync.run_identity(folder)
    assert (identity["project"], identity["run_id"]) == (PROJECT, "copied")
    assert not sync.writer_alive(folder)

    transport = MemoryTransport()
    assert sync.sync_run(folder, transport=transport, progress=False)
    assert [c.experiment_id for c in transport.creates("copied")] == ["exp"]
    assert transport.metric_points("copied", "loss") == [(1.0, 1.0), (2.0, 2.0)]
    assert transport.configs("copied") == {"lr": 0.5}
    assert transport.files == {(PROJECT, "files/data.bin"): b"payload"}
    assert source.exists()  # not temporary: the file stays its owner's


def test_an_error_while_writing_leaves_the_callers_error(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "broken"
    with pytest.raises(ValueError, match="stop"), sync.RunFolderWriter(folder, PROJECT, "b"):
        raise ValueError("stop")
    assert sync.is_run_folder(folder)  # the identity was written; removing it is the caller's
