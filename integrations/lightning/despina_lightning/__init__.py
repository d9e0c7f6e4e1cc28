"""Lightning integration for Neptune Scale: ``NeptuneScaleLogger``.

    from lightning.pytorch import Trainer
    from despina_lightning import NeptuneScaleLogger

    trainer = Trainer(logger=NeptuneScaleLogger(experiment_name="mnist", tags=["baseline"]))

Without an API token the run goes into Despina's embedded store (``$NEPTUNE_LOG_DIRECTORY``, else
``./.neptune``); look at it with ``despina ui``.
"""

from __future__ import annotations

from despina_lightning._logger import NeptuneScaleLogger

__all__ = ["NeptuneScaleLogger"]
