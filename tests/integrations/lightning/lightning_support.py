"""Helpers for the Lightning tests: a tiny CPU model, synthetic data, and the stored run.

What a run holds is read back from the embedded store the client wrote into.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

PROJECT = "team/lightning"
BATCHES_PER_EPOCH = 4
BATCH_SIZE = 4


def _parts_ready() -> bool:
    try:
        import despina.store
        import neptune_scale
    except ImportError:
        return False
    return hasattr(neptune_scale, "Run") and hasattr(despina.store, "open_store")


#: End-to-end tests need the client's Run and the store; both were being built alongside.
needs_client_and_store = pytest.mark.skipif(
    not _parts_ready(), reason="neptune_scale.Run or despina.store not available yet"
)


def loader(seed: int = 0) -> DataLoader[Any]:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(BATCHES_PER_EPOCH * BATCH_SIZE, 2, generator=generator)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=BATCH_SIZE)


class TinyModule(pl.LightningModule):
    """Linear regression on two inputs; ``fail_at`` raises inside training_step at that batch."""

    def __init__(self, hidden: int = 4, lr: float = 0.1, fail_at: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(2, 1)

    def _loss(self, batch: Any) -> Any:
        x, y = batch
        return torch.nn.functional.mse_loss(self.net(x), y)

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if self.hparams.fail_at is not None and self.global_step == self.hparams.fail_at:
            raise RuntimeError(f"boom at step {self.global_step}")
        loss = self._loss(batch)
        self.log("train/loss", loss, on_step=True, on_epoch=True)
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self.log("val/loss", self._loss(batch))

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self.log("test/loss", self._loss(batch))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def make_trainer(logger: Any, root: Path, **kwargs: Any) -> Any:
    options: dict[str, Any] = {
        "max_epochs": 2,
        "log_every_n_steps": 1,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
        "devices": 1,
        "default_root_dir": str(root),
    }
    options.update(kwargs)
    return pl.Trainer(logger=logger, **options)


@dataclass
class StoredRun:
    """One run as the store holds it: configs, tags, float series (own and with lineage)."""

    run_id: str
    configs: dict[str, Any]
    types: dict[str, str]
    series: dict[str, list[tuple[float, float]]]
    parent_id: str | None
    fork_step: float | None
    lineage: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)

    def steps(self, path: str, *, lineage: bool = False) -> list[float]:
        return [s for s, _ in (self.lineage if lineage else self.series)[path]]

    def values(self, path: str) -> list[float]:
        return [v for _, v in self.series[path]]


def _float_points(tx: Any, series_pk: int, up_to: float) -> list[tuple[float, float]]:
    import numpy as np

    points: list[tuple[float, float]] = []
    for chunk in tx.chunks(series_pk, None, None, timestamps=False):
        steps = np.frombuffer(chunk.steps, dtype="<f8")
        values = np.frombuffer(chunk.values, dtype="<f8")
        points += [(float(s), float(v)) for s, v in zip(steps, values, strict=True) if s <= up_to]
    return points


def stored_runs(store_dir: Path, project: str = PROJECT) -> list[str]:
    from despina.store import open_store

    if not (store_dir / "despina.sqlite3").exists():
        return []
    store = open_store(str(store_dir))
    try:
        with store.engine.read() as tx:
            row = tx.project(project)
            return [] if row is None else sorted(r.custom_id for r in tx.runs(row.pk))
    finally:
        store.close()


def stored_run(store_dir: Path, run_id: str, project: str = PROJECT) -> StoredRun:
    """Read one run back from the store (configs decoded, float series with and without lineage).

    Reads the store engine directly: ``despina.query.Reader`` had not landed when these tests
    were written; switch to it once it has.
    """
    from despina.store import ancestry, decode_value, open_store

    store = open_store(str(store_dir))
    try:
        with store.engine.read() as tx:
            project_row = tx.project(project)
            assert project_row is not None, f"project {project} not in the store"
            run = tx.run(project_row.pk, run_id)
            assert run is not None, f"run {run_id} not in the store"
            attrs = tx.attributes(run.pk)
            configs = {path: decode_value(text) for path, (_, text) in attrs.items()}
            types = {path: kind for path, (kind, _) in attrs.items()}
            own = {
                path: _float_points(tx, state.pk, math.inf)
                for path, state in tx.series(run.pk).items()
                if state.type == "floatSeries"
            }
            lineage: dict[str, list[tuple[float, float]]] = {}
            for segment in reversed(ancestry(tx, run)):
                for path, state in tx.series(segment.run.pk).items():
                    if state.type == "floatSeries":
                        points = _float_points(tx, state.pk, segment.up_to)
                        lineage.setdefault(path, []).extend(points)
            parent = tx.run_by_pk(run.parent_pk) if run.parent_pk is not None else None
            files = {}
            for path, kind in types.items():
                if kind == "fileRef":
                    with store.open_file(project, configs[path]["path"]) as handle:
                        files[path] = handle.read()
        return StoredRun(
            run_id=run_id,
            configs=configs,
            types=types,
            series=own,
            parent_id=parent.custom_id if parent else None,
            fork_step=run.fork_step,
            lineage=lineage,
            files=files,
        )
    finally:
        store.close()
