"""Neptune Scale tracking for Flyte tasks (``flytekitplugins.neptune``).

``neptune_init_run`` (also importable from ``.tracking``, as the seed does) and
``neptune_scale_run`` (upstream's Scale name) open one run per task attempt, inject it as
``current_context().user_space_params.NEPTUNE_RUN`` and close it in ``finally`` with the
task's status. Put the decorator above ``@task`` so it can request the token secret on the
task and keep the console link on map tasks.
"""

from __future__ import annotations

from .scale_tracking import neptune_scale_run
from .tracking import neptune_init_run

__all__ = ["neptune_init_run", "neptune_scale_run"]
