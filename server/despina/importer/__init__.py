"""``despina import``: Neptune history from a neptune-exporter export, through the write path.

An export (``docs/neptune-export.md`` in the shared docs: parquet parts per run, files beside)
is read part by part (``_layout``, ``_read``), planned (``_plan``: ids, fork order, orphans,
interrupted runs), turned into the ``RunOperation``s a ``neptune_scale`` run would have sent
(``_convert``, ``_encode``) and sent through a client transport (``_target``): the store
transport of the embedded mode, or the HTTP transport to a ``despina server``. ``Store.apply``
applies them with the rules logging gets. ``_progress`` records finished runs, so a repeated or
resumed import adds nothing; ``_summary`` says what happened per run.

Needs ``pyarrow`` (the ``parquet`` extra).
"""

from __future__ import annotations

from despina.importer._importer import ImportOptions, Reporter, run_import
from despina.importer._summary import RunResult, Summary
from despina.importer._target import DeliveryError, Target, http_target, store_target

__all__ = [
    "DeliveryError",
    "ImportOptions",
    "Reporter",
    "RunResult",
    "Summary",
    "Target",
    "http_target",
    "run_import",
    "store_target",
]
