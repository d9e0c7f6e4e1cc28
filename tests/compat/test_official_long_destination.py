"""Issue 22 item 12 with the official client: an 800-character file destination (one path
segment, longer than any file system's name limit) is stored and reads back; at 801 the client
drops the value but still uploads the bytes, which are stored as the service stored them (the
official suite expects that upload to succeed), and the run finishes."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.oracle_support import LiveServer, StoredRuns, env_for, run_script

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

PROJECT = "oracle-ws/long-destination"
SCRIPT = """
import json
from neptune_scale import Run
from neptune_scale.types import File

errors = []
run = Run(run_id="long", enable_console_log_capture=False, source_tracking_config=None,
          on_error_callback=lambda exc, ts: errors.append(type(exc).__name__),
          on_warning_callback=lambda exc, ts: errors.append(type(exc).__name__))
run.assign_files({"files/longest": File(b"eight hundred", destination="a" * 800)})
run.assign_files({"files/too_long": File(b"eight hundred one", destination="b" * 801)})
done = run.wait_for_processing(timeout=120)
run.close()
print(json.dumps({"done": done, "errors": errors}))
"""


def test_official_client_stores_an_800_character_destination(
    official_python: Path, live_server: LiveServer, tmp_path: Path
) -> None:
    result = run_script(official_python, SCRIPT, tmp_path, env_for(live_server, PROJECT))
    assert result["done"] is True  # no endless retry of a 500
    stored = StoredRuns(live_server.store_location)
    try:
        ref = stored.attributes(PROJECT, "long")["files/longest"]
        assert ref["path"] == "a" * 800
        with stored.store.open_file(PROJECT, "a" * 800) as handle:
            assert handle.read() == b"eight hundred"
        assert "files/too_long" not in stored.attributes(PROJECT, "long")
        with stored.store.open_file(PROJECT, "b" * 801) as handle:
            assert handle.read() == b"eight hundred one"
    finally:
        stored.close()
    log = live_server.log_path.read_text()
    assert "Internal Server Error" not in log and '" 500' not in log
