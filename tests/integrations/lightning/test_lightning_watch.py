"""NeptuneScaleLogger.watch through a real Lightning fit: norms, histograms and structure."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from despina_lightning import NeptuneScaleLogger
from despina_lightning import _watch as watch_module
from lightning.pytorch.utilities import rank_zero_only
from lightning_support import PROJECT, TinyModule, make_trainer, stored_run

NS = "training/model/watch"


def histograms(store_dir: Path, run_id: str, path: str) -> dict[float, Any]:
    from despina.query import Reader

    with Reader(str(store_dir)) as reader:
        frame = reader.fetch_series(PROJECT, [run_id], [path])
        return {float(step): value for (_, step), value in frame[path].dropna().items()}


def test_watch_all_logs_norms_histograms_and_structure(store_dir: Path, tmp_path: Path) -> None:
    model = TinyModule()
    # The first step's gradients, computed here on a copy: initial weights, first batch.
    copy = TinyModule()
    copy.load_state_dict(model.state_dict())
    x, y = next(iter(_loader()))
    torch.nn.functional.mse_loss(copy.net(x), y).backward()
    first_grads = {name: float(p.grad.norm()) for name, p in copy.named_parameters()}

    logger = NeptuneScaleLogger(run_id="watched")
    logger.watch(model, log="all", log_freq=1)
    make_trainer(logger, tmp_path).fit(model, train_dataloaders=_loader())
    logger.close()

    run = stored_run(store_dir, "watched")
    # 2 epochs x 4 batches = optimizer steps 0..7, all logged (log_freq=1)
    for kind in ("gradients", "parameters"):
        for name in first_grads:
            assert run.steps(f"{NS}/{kind}/norm/{name}") == [float(s) for s in range(8)]
    for name, norm in first_grads.items():
        assert run.series[f"{NS}/gradients/norm/{name}"][0][1] == pytest.approx(norm, rel=1e-5)
        # parameters are read after the step: the last point is the trained model
        final = float(dict(model.named_parameters())[name].detach().norm())
        assert run.series[f"{NS}/parameters/norm/{name}"][-1][1] == pytest.approx(final)
    for step, total in run.series[f"{NS}/gradients/total_norm"]:
        parts = [dict(run.series[f"{NS}/gradients/norm/{n}"])[step] for n in first_grads]
        assert total == pytest.approx(math.sqrt(sum(p * p for p in parts)))
    weight = histograms(store_dir, "watched", f"{NS}/gradients/histogram/net.weight")
    assert sorted(weight) == [float(s) for s in range(8)]
    for value in weight.values():
        assert sum(value["values"]) == 2  # Linear(2, 1).weight has two entries
        edges = value["edges"]
        assert len(edges) == 65 and edges == sorted(edges)
    assert run.configs[f"{NS}/num_parameters/total"] == 3
    assert run.configs[f"{NS}/num_parameters/trainable"] == 3
    assert run.configs[f"{NS}/num_parameters/by_module/net"] == 3
    assert "Linear(in_features=2, out_features=1" in run.configs[f"{NS}/structure"]


def test_watch_gradients_only_and_nothing_after_close(store_dir: Path, tmp_path: Path) -> None:
    model = TinyModule()
    logger = NeptuneScaleLogger(run_id="grads")
    logger.watch(model, log_freq=3)
    make_trainer(logger, tmp_path).fit(model, train_dataloaders=_loader())
    logger.close()
    assert watch_module._watchers.get(logger) is None  # close() removed the optimizer hook

    # an optimizer step after close() reaches no run (and raises nothing)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model.net(torch.ones(1, 2)).sum().backward()
    optimizer.step()

    run = stored_run(store_dir, "grads")
    assert run.steps(f"{NS}/gradients/norm/net.weight") == [0.0, 3.0, 6.0]
    assert not [p for p in run.series if "/parameters/" in p]


def test_watch_does_nothing_off_rank_zero(
    store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    logger = NeptuneScaleLogger(run_id="rank1")
    monkeypatch.setattr(rank_zero_only, "rank", 1)
    logger.watch(TinyModule(), log="all", log_freq=1)
    assert watch_module._watchers.get(logger) is None


@pytest.mark.parametrize(
    ("kwargs", "field"), [({"log": "weights"}, "log"), ({"log_freq": 0}, "log_freq")]
)
def test_watch_rejects_bad_arguments_naming_them(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=f"watch: {field} must be"):
        NeptuneScaleLogger(run_id="bad", mode="disabled").watch(TinyModule(), **kwargs)


def _loader() -> Any:
    from lightning_support import loader

    return loader()
