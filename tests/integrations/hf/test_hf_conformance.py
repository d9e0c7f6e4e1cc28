"""The integration conformance scenario (tests/integration_conformance.py) through a real
``Trainer`` (tiny BERT, CPU): configs, metrics over steps, a failing ``log_metrics`` call, close."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import despina_hf
import pytest
from despina_hf import NeptuneScaleCallback
from despina_hf._guard import CONTAINMENT
from hf_tiny import PROJECT, tiny_bert
from integration_conformance import HYPERPARAMETERS, check_conformance, tracking_error
from neptune_scale.integrations import flatten_configs


def test_hf_conforms(make_trainer: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    despina_hf.set_strict(False)  # production behaviour: the error is contained
    CONTAINMENT.failures.clear()
    model = tiny_bert()
    model.config.conformance = HYPERPARAMETERS  # configs the callback logs, flattened by the kit
    callback = NeptuneScaleCallback(
        run_id="conformance", system_metrics=0.2, enable_console_log_capture=False
    )
    trainer = make_trainer(callback, model=model, logging_steps=1)
    with tracking_error(monkeypatch, "log_metrics", on_call=2) as failure:
        trainer.train()
        callback.close()
    assert trainer.state.global_step == 6  # the loop never saw the error
    details = check_conformance(
        store_dir,
        PROJECT,
        "conformance",
        configs=flatten_configs(HYPERPARAMETERS, "model/config/conformance"),
        metric="train/loss",
        min_points=5,  # all but the point whose call failed
        failure=failure,
        failures=CONTAINMENT.failures,
    )
    assert "system/cpu/percent" in details["series"]
