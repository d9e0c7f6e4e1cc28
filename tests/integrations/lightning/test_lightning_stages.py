"""The real Trainer on a tiny CPU model: fit, validate and test land in one stored run."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pytest
from despina_lightning import NeptuneScaleLogger
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.utilities.rank_zero import rank_zero_only
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

# The client's console capture would mix pytest's output into the run; not what is tested here.
QUIET = {"enable_console_log_capture": False}


def test_fit_validate_test_land_in_one_run_with_everything(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(
        experiment_name="tiny",
        tags=["baseline", "cpu"],
        group_tags=["sweep-1"],
        description="two inputs, one linear layer",
        **QUIET,
    )
    checkpoint = ModelCheckpoint(dirpath=tmp_path / "ckpt", monitor="val/loss", save_last=True)
    trainer = make_trainer(logger, tmp_path, callbacks=[checkpoint])
    model = TinyModule()
    trainer.fit(model, loader(), loader(1))
    trainer.validate(model, loader(1))
    trainer.test(model, loader(2))

    assert stored_runs(store_dir) == [logger.version]
    run = stored_run(store_dir, logger.version)
    c = run.configs
    assert sorted(c["sys/tags"]) == ["baseline", "cpu"]
    assert c["sys/group_tags"] == ["sweep-1"]
    assert c["description"] == "two inputs, one linear layer"
    assert (
        c["training/hyperparams/hidden"] == 4 and run.types["training/hyperparams/hidden"] == "int"
    )
    assert c["training/hyperparams/lr"] == 0.1 and run.types["training/hyperparams/lr"] == "float"
    assert c["training/status"] == "succeeded"

    steps_fit = 2 * BATCHES_PER_EPOCH
    assert run.steps("training/train/loss_step") == list(range(steps_fit))
    # Validation during fit at the end of each epoch, then trainer.validate() after fit.
    assert run.steps("training/val/loss") == [3, 7, 8]
    assert run.steps("training/test/loss") == [8]
    assert run.steps("training/train/loss_epoch") == [3, 7]
    # `epoch` came with every logging call; repeated steps were folded, none rejected.
    assert run.steps("training/epoch") == sorted(set(run.steps("training/epoch")))
    assert not any(k.startswith("training/diagnostics/") for k in c)
    assert math.isclose(
        run.values("training/test/loss")[0], trainer.callback_metrics["test/loss"].item()
    )

    assert c["training/model/total_parameters"] == 3
    assert b"Linear" in run.files["training/model/summary"]
    assert c["training/model/best_model_path"] == checkpoint.best_model_path
    assert math.isclose(c["training/model/best_model_score"], checkpoint.best_model_score.item())
    assert c["training/model/monitor"] == "val/loss"
    assert run.files["training/model/best"] == Path(checkpoint.best_model_path).read_bytes()


def test_failure_inside_a_step_records_status_and_error(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(**QUIET)
    seen: list[str] = []

    class Watch(pl.Callback):
        def on_train_batch_start(self, *args: Any) -> None:
            # The status as stored while training runs.
            logger.experiment.wait_for_processing(verbose=False)
            seen.append(stored_run(store_dir, logger.version).configs["training/status"])

    trainer = make_trainer(logger, tmp_path, callbacks=[Watch()])
    with pytest.raises(RuntimeError, match="boom at step 2"):
        trainer.fit(TinyModule(fail_at=2), loader(), loader(1))

    assert seen[0] == "running"
    run = stored_run(store_dir, logger.version)
    assert run.configs["training/status"] == "failed"
    assert run.configs["training/error/type"] == "builtins.RuntimeError"
    assert run.configs["training/error/message"] == "boom at step 2"
    assert "training_step" in run.configs["training/error/traceback"]
    assert run.steps("training/train/loss_step") == [0, 1]


def test_repeated_steps_nan_and_bad_values_are_handled_and_counted(
    store_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = NeptuneScaleLogger(prefix="", **QUIET)
    logger.log_metrics({"loss": 1.0, "acc": 0.5}, step=0)
    logger.log_metrics({"loss": math.nan, "acc": math.inf}, step=1)
    logger.log_metrics({"loss": 0.5, "name": "not a number"}, step=1)  # loss at 1 again: dropped
    logger.log_metrics({"loss": 0.25}, step=-3)  # invalid step: dropped
    logger.log_metrics({"acc": 0.75})  # no step: after the highest so far
    logger.finalize("success")

    run = stored_run(store_dir, logger.version)
    assert run.steps("loss") == [0, 1] and math.isnan(run.values("loss")[1])
    assert run.series["acc"] == [(0, 0.5), (1, math.inf), (2, 0.75)]
    assert run.configs["diagnostics/dropped_points"] == 1
    assert run.configs["diagnostics/non_numeric_values"] == 1
    assert run.configs["diagnostics/invalid_step_points"] == 1
    assert run.configs["diagnostics/non_finite_values"] == 2
    assert "Dropping loss at step 1" in caplog.text


def test_dropped_points_are_counted_without_a_trainer_under_the_real_prefix(
    store_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    logger = NeptuneScaleLogger(prefix="mine", **QUIET)
    logger.log_metrics({"loss": 1.0}, step=3)
    logger.log_metrics({"loss": 2.0}, step=2)  # before the last step: dropped
    logger.close()  # no Trainer, so no finalize: close records the count
    run = stored_run(store_dir, logger.version)
    assert run.configs["mine/diagnostics/dropped_points"] == 1
    assert "counted in mine/diagnostics/dropped_points" in caplog.text
    assert "<prefix>" not in caplog.text


def test_dropped_points_are_counted_at_exit_without_close(store_dir: Path) -> None:
    script = (
        "from despina_lightning import NeptuneScaleLogger\n"
        "logger = NeptuneScaleLogger(run_id='at-exit', enable_console_log_capture=False)\n"
        "logger.log_metrics({'loss': 1.0}, step=3)\n"
        "logger.log_metrics({'loss': 2.0}, step=2)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = stored_run(store_dir, "at-exit")
    assert run.configs["training/diagnostics/dropped_points"] == 1


def test_only_rank_zero_creates_a_run(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger = NeptuneScaleLogger(**QUIET)
    logger.log_hyperparams({"a": 1})
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    assert type(logger.experiment).__name__ == "_DummyExperiment"
    assert logger._run is None
    assert stored_runs(store_dir) == []


def test_a_run_passed_in_is_used_and_left_open(store_dir: Path, tmp_path: Path) -> None:
    from neptune_scale import Run

    with Run(run_id="mine", **QUIET) as own:
        logger = NeptuneScaleLogger(run=own, tags=["given"])
        assert logger.version == "mine"
        make_trainer(logger, tmp_path, max_epochs=1).fit(TinyModule(), loader(), loader(1))
        logger.close()
        own.log_configs({"after_fit": True})  # still open: the logger did not close it
    run = stored_run(store_dir, "mine")
    assert run.configs["after_fit"] is True
    assert run.configs["sys/tags"] == ["given"]
    assert run.steps("training/train/loss_step") == [0, 1, 2, 3]


def test_logging_after_fit_and_close(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(**QUIET)
    make_trainer(logger, tmp_path, max_epochs=1).fit(TinyModule(), loader(), loader(1))
    experiment: Any = logger.experiment
    experiment.log_configs({"notes/after": "still open"})
    logger.close()
    logger.close()  # idempotent
    assert stored_run(store_dir, logger.version).configs["notes/after"] == "still open"


def test_tracking_failures_never_stop_training(
    store_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import despina_lightning._safety as safety
    from neptune_scale import Run

    class FullDiskRun(Run):
        """The real run, with metric logging failing as if the disk were full."""

        def log_metrics(self, *args: Any, **kwargs: Any) -> None:
            raise OSError("No space left on device")

    safety.CONTAINMENT.strict = False  # production behaviour for this test
    with FullDiskRun(run_id="flaky", **QUIET) as own:
        logger = NeptuneScaleLogger(run=own)
        trainer = make_trainer(logger, tmp_path, max_epochs=1)
        trainer.fit(TinyModule(), loader(), loader(1))
    assert trainer.global_step == BATCHES_PER_EPOCH  # training ran to the end
    assert safety.failures["logging metrics"] >= BATCHES_PER_EPOCH
    assert "No space left on device" in caplog.text
    run = stored_run(store_dir, "flaky")
    assert run.configs["training/status"] == "succeeded"  # what could be stored, was


def test_a_copy_of_a_logger_with_an_open_run_continues_that_run(store_dir: Path) -> None:
    import pickle

    logger = NeptuneScaleLogger(run_id="shared", tags=["once"], **QUIET)
    logger.log_metrics({"loss": 1.0}, step=0)
    logger.finalize("success")
    logger.close()
    # What ddp_spawn does to a logger whose run was already opened in the main process.
    copy = pickle.loads(pickle.dumps(logger))
    copy.log_metrics({"loss": 0.5}, step=0)  # the guard came along: step 0 is not sent again
    copy.log_metrics({"loss": 0.25}, step=1)
    copy.finalize("success")
    copy.close()
    assert stored_runs(store_dir) == ["shared"]
    run = stored_run(store_dir, "shared")
    assert run.series["training/loss"] == [(0, 1.0), (1, 0.25)]
    assert run.configs["training/diagnostics/dropped_points"] == 1
