"""What a crash costs: nothing that was logged.

The first part logs in a child process and kills it with SIGKILL half way; the second part opens
the same run again, which delivers everything the killed process had logged before it goes on.

    python examples/recover_after_kill.py
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile

from neptune_scale import Run

CHILD = """
import sys
from neptune_scale import Run
run = Run(project="demo/crash", run_id="crashy", log_directory=sys.argv[1], mode="offline")
for step in range(10**9):
    run.log_metrics({"loss": 1.0 / (step + 1)}, step=step)
    if step == 20_000:
        print("logged 20,001 steps", flush=True)
"""


def main() -> None:
    folder = tempfile.mkdtemp(prefix="neptune-crash-")
    child = subprocess.Popen([sys.executable, "-c", CHILD, folder], stdout=subprocess.PIPE,
                             text=True)  # fmt: skip
    assert child.stdout is not None
    print("child:", child.stdout.readline().strip())
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    print("child killed with SIGKILL")
    # Same project, run id and log directory: the leftovers are delivered first (here into the
    # embedded store in that folder), then the new data.
    with Run(project="demo/crash", run_id="crashy", log_directory=folder, resume=True) as run:
        run.log_configs({"recovered": True})
    print(f"everything is in the embedded store: despina ui --store {folder}")


if __name__ == "__main__":
    main()
