"""Acceptance: the official neptune-scale 0.30.0, unchanged, logs to our server (issue 4)."""

from __future__ import annotations

from pathlib import Path

import pytest
from despina.store import StoredFileNotFound
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
from oracle_support import LiveServer, StoredRuns, run_script

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

PROJECT = "oracle-ws/proj"
FILE_BYTES = b"despina oracle file \x00\x01\x02" * 100

LOG_RUN_AND_FORK = """
import json
from neptune_scale import Run
from neptune_scale.types import File, Histogram

warnings = []
common = dict(
    enable_console_log_capture=False,
    source_tracking_config=None,
    on_warning_callback=lambda exc, ts: warnings.append(type(exc).__name__),
)
run = Run(run_id="run-a", experiment_name="exp-a", **common)
run.log_configs({"params/lr": 0.001, "params/batch": 64, "params/opt": "adam", "params/ok": True})
for step in range(1000):
    run.log_metrics({"train/loss": 1.0 / (step + 1), "train/acc": step / 1000}, step=step)
run.add_tags(["baseline", "oracle"])
run.add_tags(["team-x"], group_tags=True)
run.log_string_series({"notes/text": "first"}, step=1)
run.log_string_series({"notes/text": "second"}, step=2)
run.log_histograms({"weights/hist": Histogram(bin_edges=[0, 1, 2, 3], counts=[1, 2, 3])}, step=3)
run.assign_files({"files/blob": File(FILE_BYTES, mime_type="application/octet-stream")})
done_a = run.wait_for_processing(timeout=120)
run.close()

fork = Run(run_id="run-b", experiment_name="exp-a", fork_run_id="run-a", fork_step=500, **common)
for step in range(501, 1000):
    fork.log_metrics({"train/loss": -float(step)}, step=step)
done_b = fork.wait_for_processing(timeout=120)
fork.close()
print(json.dumps({"a": done_a, "b": done_b, "warnings": warnings}))
"""


@pytest.fixture
def stored(live_server: LiveServer) -> StoredRuns:
    return StoredRuns(live_server.store_location)


def env_for(server: LiveServer, **extra: str) -> dict[str, str]:
    return {"NEPTUNE_API_TOKEN": server.token, "NEPTUNE_PROJECT": PROJECT, **extra}


def test_official_client_run_and_fork_land_exactly(
    official_python: Path, live_server: LiveServer, tmp_path: Path, stored: StoredRuns
) -> None:
    code = f"FILE_BYTES = {FILE_BYTES!r}\n" + LOG_RUN_AND_FORK
    result = run_script(official_python, code, tmp_path, env_for(live_server))
    assert result == {"a": True, "b": True, "warnings": []}

    a = stored.run(PROJECT, "run-a")
    assert a.experiment == "exp-a"
    attributes = stored.attributes(PROJECT, "run-a")
    assert {k: attributes[k] for k in ("params/lr", "params/batch", "params/opt", "params/ok")} == {
        "params/lr": 0.001,
        "params/batch": 64,
        "params/opt": "adam",
        "params/ok": True,
    }
    assert sorted(attributes["sys/tags"]) == ["baseline", "oracle"]
    assert attributes["sys/group_tags"] == ["team-x"]
    assert stored.floats(PROJECT, "run-a", "train/loss") == [
        (float(s), 1.0 / (s + 1)) for s in range(1000)
    ]
    assert len(stored.floats(PROJECT, "run-a", "train/acc")) == 1000
    assert [v for _, v in stored.points(PROJECT, "run-a", "notes/text")] == ["first", "second"]
    ((hist_step, hist),) = stored.points(PROJECT, "run-a", "weights/hist")
    assert hist_step == 3.0 and "1" in str(hist) and "3" in str(hist)

    file_ref = attributes["files/blob"]
    destination = file_ref["path"] if isinstance(file_ref, dict) else file_ref[0]
    with stored.store.open_file(PROJECT, destination) as handle:
        assert handle.read() == FILE_BYTES

    b = stored.run(PROJECT, "run-b")
    assert b.parent_pk == a.pk and b.fork_step == 500.0
    assert stored.floats(PROJECT, "run-b", "train/loss") == [
        *[(float(s), 1.0 / (s + 1)) for s in range(501)],
        *[(float(s), -float(s)) for s in range(501, 1000)],
    ]


ERRORS_SCRIPT = """
import json
from neptune_scale import Run

seen = []
def record(exc, ts):
    seen.append([type(exc).__name__, getattr(exc, "code", None)])

common = dict(enable_console_log_capture=False, source_tracking_config=None,
              on_error_callback=record, on_warning_callback=record)
run = Run(run_id="err-a", **common)
run.log_configs({"params/lr": 0.1})
run.log_metrics({"loss": 1.0}, step=10)
run.wait_for_processing(timeout=60)
run.log_metrics({"loss": 2.0}, step=5)           # step not increasing
run.log_configs({"params/lr": "fast"})            # type conflict
run.wait_for_processing(timeout=60)
run.close()
fork = Run(run_id="err-b", fork_run_id="err-a", fork_step=8, **common)
fork.log_metrics({"loss": 3.0}, step=7)           # step before the fork point
fork.wait_for_processing(timeout=60)
fork.close()
print(json.dumps({"seen": seen}))
"""


def test_official_client_gets_the_right_ingest_codes(
    official_python: Path, live_server: LiveServer, tmp_path: Path, stored: StoredRuns
) -> None:
    seen = run_script(official_python, ERRORS_SCRIPT, tmp_path, env_for(live_server))["seen"]
    names = [name for name, _ in seen]
    assert "NeptuneSeriesStepNonIncreasing" in names
    assert "NeptuneAttributeTypeMismatch" in names
    assert "NeptuneSeriesStepNotAfterForkPoint" in names
    assert stored.floats(PROJECT, "err-a", "loss") == [(10.0, 1.0)]
    assert stored.attributes(PROJECT, "err-a")["params/lr"] == 0.1
    assert int(IngestCode.SERIES_STEP_NON_INCREASING) == 25  # the code the names map from
    with pytest.raises(StoredFileNotFound):
        stored.store.open_file(PROJECT, "never/uploaded.bin")
