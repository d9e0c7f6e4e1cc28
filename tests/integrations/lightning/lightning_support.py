"""Helpers for the Lightning tests: a tiny CPU model, synthetic data, and the stored run.

What a run holds is read back from the embedded store the client wrote into.
"""

from __future__ import annotations

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
    """One run as ``despina.query.Reader`` returns it: configs, types, float series, files."""

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


def stored_runs(store_dir: Path, project: str = PROJECT) -> list[str]:
    from despina.query import Reader

    if not (store_dir / "despina.sqlite3").exists():
        return []
    with Reader(str(store_dir)) as reader:
        if project not in reader.list_projects():
            return []
        return sorted(reader.list_runs(project))


def _points(reader: Any, project: str, run_id: str, path: str, lineage: bool) -> Any:
    # One attribute per call: every row is then a stored point, so a NaN is a stored NaN.
    frame = reader.fetch_metrics(project, [run_id], [path], lineage_to_the_root=lineage)
    return [(float(step), float(value)) for (_, step), value in frame[path].items()]


def stored_run(store_dir: Path, run_id: str, project: str = PROJECT) -> StoredRun:
    """Read one run back through ``despina.query.Reader``."""
    from despina.query import Reader

    with Reader(str(store_dir)) as reader:
        details = reader.run_details(project, run_id)
        types = reader.attribute_types(project, [run_id])
        configs = dict(details["configs"])
        configs["sys/tags"] = details["tags"]
        configs["sys/group_tags"] = details["group_tags"]
        metrics = [p for p, kind in types.items() if kind == "float_series"]
        own = details["series"]
        series = {
            p: _points(reader, project, run_id, p, False)
            for p in metrics
            if own.get(p) and not own[p]["inherited"]
        }
        lineage = {p: _points(reader, project, run_id, p, True) for p in metrics}
        files: dict[str, bytes] = {}
        file_paths = [p for p, kind in types.items() if kind == "file"]
        if file_paths:
            target = store_dir.parent / f"downloads-{run_id}"
            table = reader.download_files(project, [run_id], file_paths, target)
            for row in table.itertuples():
                files[str(row.attribute)] = Path(str(row.path)).read_bytes()
    return StoredRun(
        run_id=run_id,
        configs=configs,
        types=types,
        series=series,
        parent_id=details["lineage"]["parent"],
        fork_step=details["lineage"]["fork_step"],
        lineage=lineage,
        files=files,
    )
