"""Checkpoint policies and resuming: files land in the store, a resume forks the run."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch
from despina_lightning import NeptuneScaleLogger
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning_support import (
    BATCHES_PER_EPOCH,
    TinyModule,
    loader,
    make_trainer,
    needs_client_and_store,
    stored_run,
    stored_runs,
)

pytestmark = needs_client_and_store

QUIET = {"enable_console_log_capture": False}
MODEL = "training/model"


def _fit(
    logger: NeptuneScaleLogger, root: Path, epochs: int, **checkpoint: object
) -> ModelCheckpoint:
    callback = ModelCheckpoint(dirpath=root / "ckpt", monitor="val/loss", **checkpoint)  # type: ignore[arg-type]
    make_trainer(logger, root, max_epochs=epochs, callbacks=[callback]).fit(
        TinyModule(), loader(), loader(1)
    )
    return callback


def _global_step(data: bytes) -> int:
    return int(torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)["global_step"])


def test_all_keeps_every_checkpoint_even_after_rotation(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(log_model_checkpoints="all", **QUIET)
    # save_top_k=1 with a falling loss deletes each older checkpoint right after the next save.
    callback = _fit(logger, tmp_path, epochs=3, save_top_k=1)
    run = stored_run(store_dir, logger.version)
    names = sorted(p for p in run.files if p.startswith(f"{MODEL}/checkpoints/"))
    assert names == [f"{MODEL}/checkpoints/epoch={e}-step={4 * (e + 1)}" for e in range(3)]
    assert [_global_step(run.files[n]) for n in names] == [4, 8, 12]
    assert len(list((tmp_path / "ckpt").glob("*.ckpt"))) == 1  # the others were rotated away
    assert run.configs[f"{MODEL}/best_model_path"] == callback.best_model_path


def test_last_uploads_the_newest_checkpoint(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(log_model_checkpoints="last", **QUIET)
    _fit(logger, tmp_path, epochs=2, save_top_k=-1)
    run = stored_run(store_dir, logger.version)
    assert _global_step(run.files[f"{MODEL}/last"]) == 2 * BATCHES_PER_EPOCH
    assert f"{MODEL}/best" not in run.files


def test_paths_records_paths_only(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(log_model_checkpoints="paths", **QUIET)
    callback = _fit(logger, tmp_path, epochs=1)
    run = stored_run(store_dir, logger.version)
    assert not any(p.startswith(MODEL + "/") and p != f"{MODEL}/summary" for p in run.files)
    name = Path(callback.best_model_path).stem
    assert run.configs[f"{MODEL}/checkpoints/{name}"] == callback.best_model_path
    assert run.configs[f"{MODEL}/best_model_path"] == callback.best_model_path


def test_none_records_nothing_about_checkpoints(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(log_model_checkpoints=False, **QUIET)
    _fit(logger, tmp_path, epochs=1)
    run = stored_run(store_dir, logger.version)
    assert not [p for p in run.configs if "checkpoint" in p or "best_model" in p]


@pytest.mark.parametrize("same_run_id", [False, True])
def test_resume_from_checkpoint_forks_the_run(
    store_dir: Path, tmp_path: Path, same_run_id: bool
) -> None:
    first = NeptuneScaleLogger(run_id="resumable", experiment_name="exp", **QUIET)
    _fit(first, tmp_path, epochs=1, save_last=True)
    checkpoint = tmp_path / "ckpt" / "last.ckpt"

    second = NeptuneScaleLogger(
        run_id="resumable" if same_run_id else "second", experiment_name="exp", **QUIET
    )
    callback = ModelCheckpoint(dirpath=tmp_path / "ckpt2", monitor="val/loss")
    trainer = make_trainer(second, tmp_path, max_epochs=2, callbacks=[callback])
    trainer.fit(TinyModule(), loader(), loader(1), ckpt_path=str(checkpoint))

    assert second.version != "resumable"
    assert sorted(stored_runs(store_dir)) == sorted(["resumable", second.version])
    child = stored_run(store_dir, second.version)
    last_logged = BATCHES_PER_EPOCH - 1
    assert child.parent_id == "resumable" and child.fork_step == last_logged
    # The fork's own points start after the fork step; with lineage the charts are continuous.
    assert child.steps("training/train/loss_step") == [4, 5, 6, 7]
    assert child.steps("training/train/loss_step", lineage=True) == list(range(8))
    assert child.steps("training/val/loss", lineage=True) == [3, 7]
    # The fork's checkpoints name the fork, so resuming again forks the fork.
    saved = torch.load(callback.best_model_path, map_location="cpu", weights_only=False)
    assert saved["callbacks"]["despina_lightning.NeptuneScaleLogger"]["run_id"] == second.version


def test_validate_with_a_checkpoint_does_not_fork(store_dir: Path, tmp_path: Path) -> None:
    first = NeptuneScaleLogger(run_id="source", **QUIET)
    _fit(first, tmp_path, epochs=1, save_last=True)
    evaluator = NeptuneScaleLogger(run_id="evaluation", **QUIET)
    make_trainer(evaluator, tmp_path).validate(
        TinyModule(), loader(1), ckpt_path=str(tmp_path / "ckpt" / "last.ckpt")
    )
    run = stored_run(store_dir, "evaluation")
    assert run.parent_id is None and run.steps("training/val/loss") == [0]


def test_resume_from_a_mid_epoch_checkpoint_continues_without_gaps(
    store_dir: Path, tmp_path: Path
) -> None:
    first = NeptuneScaleLogger(run_id="mid", **QUIET)
    callback = ModelCheckpoint(dirpath=tmp_path / "ckpt", every_n_train_steps=2, save_top_k=-1)
    make_trainer(first, tmp_path, max_epochs=1, callbacks=[callback]).fit(
        TinyModule(), loader(), loader(1)
    )
    mid_epoch = tmp_path / "ckpt" / "epoch=0-step=2.ckpt"
    second = NeptuneScaleLogger(run_id="mid-resumed", **QUIET)
    make_trainer(second, tmp_path, max_epochs=1).fit(
        TinyModule(), loader(), loader(1), ckpt_path=str(mid_epoch)
    )
    child = stored_run(store_dir, "mid-resumed")
    assert child.parent_id == "mid" and child.fork_step == 1
    assert child.steps("training/train/loss_step") == [2, 3]
    assert child.steps("training/train/loss_step", lineage=True) == [0, 1, 2, 3]
    assert not any(k.startswith("training/diagnostics/") for k in child.configs)
