"""Track a Lightning ``Trainer`` in a Neptune Scale run kept by Despina.

Runs on CPU in seconds and downloads nothing: a small MLP learns ``y = sin(x0) + x1`` from
synthetic data.

    python examples/lightning_regression.py                      # fit, test, then a resume
    despina ls --store .neptune --project examples/lightning     # or: despina ui --store .neptune

What it shows: hyperparameters as typed configs; train/val/test metrics under ``training/``;
tags, a group tag and a description; the best checkpoint uploaded as a file with its path and
score; ``trainer.test()`` after ``fit`` landing in the same run; a second ``fit`` resumed from the
last checkpoint forking the first run at the restored step; CPU and memory as system metrics.
With ``NEPTUNE_API_TOKEN`` set (a token from ``despina token create``), the same script logs to a
Despina server instead.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from despina_lightning import NeptuneScaleLogger
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, TensorDataset

PROJECT = os.environ.get("NEPTUNE_PROJECT", "examples/lightning")


def data(size: int, seed: int) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.rand(size, 2, generator=generator) * 6 - 3
    y = torch.sin(x[:, :1]) + x[:, 1:]
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=seed == 0)


class Regressor(pl.LightningModule):
    def __init__(self, hidden: int = 32, lr: float = 0.01) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(2, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, 1)
        )

    def _loss(self, batch: Any) -> Any:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = self._loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.log("test/loss", self._loss(batch))

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.lr)


def fit(root: Path, epochs: int, resume_from: str | None = None) -> NeptuneScaleLogger:
    logger = NeptuneScaleLogger(
        project=PROJECT,
        experiment_name="sine-regression",
        tags=["mlp", "resumed" if resume_from else "first"],
        group_tags=["example"],
        description="y = sin(x0) + x1 with a two-layer MLP",
        log_model_checkpoints="best",
        system_metrics=True,
        system_metrics_interval_s=1.0,
    )
    checkpoint = ModelCheckpoint(dirpath=root, monitor="val/loss", save_last=True)
    trainer = pl.Trainer(
        max_epochs=epochs,
        logger=logger,
        callbacks=[checkpoint],
        log_every_n_steps=5,
        enable_progress_bar=False,
        accelerator="cpu",
        default_root_dir=str(root),
    )
    model = Regressor()
    trainer.fit(model, data(1024, 0), data(256, 1), ckpt_path=resume_from)
    trainer.test(model, data(256, 2))  # lands in the same run
    print(f"run {logger.version}: best {checkpoint.best_model_score:.4f}")
    return logger


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        first = fit(root, epochs=3)
        first.close()
        # A second training continues from the last checkpoint: a fork of the first run.
        second = fit(root, epochs=5, resume_from=str(root / "last.ckpt"))
        second.close()


if __name__ == "__main__":
    main()
