"""Neptune Scale client: log experiments with ``Run``; Despina keeps them.

Drop-in for the official ``neptune-scale`` client::

    from neptune_scale import Run

    with Run(experiment_name="baseline") as run:
        run.log_configs({"lr": 0.001})
        for step in range(100):
            run.log_metrics({"loss": 1 / (step + 1)}, step=step)

Without an API token the run goes into the embedded store in ``.neptune/`` (see ``despina ui``);
with one, to the server the token names. Every ``log_*`` call returns after a durable local
append; delivery happens in the background.
"""

from __future__ import annotations

from neptune_scale import exceptions, types
from neptune_scale._extras import SourceTrackingConfig
from neptune_scale._logging_handler import NeptuneLoggingHandler
from neptune_scale._projects import create_project, list_projects
from neptune_scale._run import Run
from neptune_scale._sync import sync_run

__all__ = [
    "NeptuneLoggingHandler",
    "Run",
    "SourceTrackingConfig",
    "create_project",
    "exceptions",
    "list_projects",
    "sync_run",
    "types",
]
