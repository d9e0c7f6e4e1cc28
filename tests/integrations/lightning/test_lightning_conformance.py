"""The integration conformance scenario (tests/integration_conformance.py) through a real
Lightning fit on CPU: hyperparameters, metrics over steps, a failing ``log_metrics`` call, close."""

from __future__ import annotations

from pathlib import Path

import despina_lightning._safety as safety
import pytest
from despina_lightning import NeptuneScaleLogger
from integration_conformance import HYPERPARAMETERS, check_conformance, tracking_error
from lightning_support import (
    BATCHES_PER_EPOCH,
    PROJECT,
    TinyModule,
    loader,
    make_trainer,
    needs_client_and_store,
)
from neptune_scale.integrations import flatten_configs

pytestmark = needs_client_and_store


def test_lightning_conforms(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    safety.CONTAINMENT.strict = False  # production behaviour: the error is contained
    # The error is armed before the run exists: a run's log_metrics is bound when it is made.
    with tracking_error(monkeypatch, "log_metrics", on_call=2) as failure:
        logger = NeptuneScaleLogger(
            run_id="conformance", system_metrics=0.2, enable_console_log_capture=False
        )
        logger.log_hyperparams(HYPERPARAMETERS)
        trainer = make_trainer(logger, tmp_path, max_epochs=2)
        trainer.fit(TinyModule(lr=HYPERPARAMETERS["lr"]), loader(), loader(1))
        logger.close()
    assert trainer.global_step == 2 * BATCHES_PER_EPOCH  # the loop never saw the error
    details = check_conformance(
        store_dir,
        PROJECT,
        "conformance",
        configs=flatten_configs(HYPERPARAMETERS, "training/hyperparams"),
        metric="training/train/loss_step",
        min_points=2 * BATCHES_PER_EPOCH - 1,  # all but the point whose call failed
        failure=failure,
        failures=safety.failures,
    )
    assert "system/cpu/percent" in details["series"]
