"""NeptuneScaleCallback(watch_model=...) through a real Trainer on a tiny BERT."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from despina.query import Reader
from despina_hf import NeptuneScaleCallback
from hf_tiny import PROJECT

NS = "model/watch"
QUERY = "bert.encoder.layer.0.attention.self.query.weight"


def test_watch_all_logs_norms_histograms_and_structure(
    make_trainer: Any, stored: Any, store_dir: Path
) -> None:
    callback = NeptuneScaleCallback(run_id="watched", watch_model="all", watch_log_freq=2)
    trainer = make_trainer(callback)  # max_steps=6, loss logged at steps 1..6
    trainer.train()
    callback.close()

    store = stored()
    names = [name for name, _ in trainer.model.named_parameters()]
    for kind in ("gradients", "parameters"):
        assert sorted(store.metric("watched", f"{NS}/{kind}/norm/{QUERY}")) == [2.0, 4.0, 6.0]
    # parameters are read after the optimizer step: step 6 holds the trained model
    for name, param in trainer.model.named_parameters():
        last = store.metric("watched", f"{NS}/parameters/norm/{name}")[6.0]
        assert last == pytest.approx(float(param.detach().norm()), rel=1e-5)
    assert sorted(store.metric("watched", f"{NS}/gradients/total_norm")) == [2.0, 4.0, 6.0]
    with Reader(store_dir) as reader:
        path = f"{NS}/gradients/histogram/{QUERY}"
        frame = reader.fetch_series(PROJECT, ["watched"], [path])
        points = {float(step): v for (_, step), v in frame[path].items()}
    assert sorted(points) == [2.0, 4.0, 6.0]
    assert all(sum(h["values"]) == 32 * 32 for h in points.values())
    values = store.values("watched")
    assert values[f"{NS}/num_parameters/total"] == trainer.model.num_parameters()
    assert values[f"{NS}/num_parameters/trainable"] == trainer.model.num_parameters()
    assert values[f"{NS}/structure"].startswith("BertForSequenceClassification(")
    assert len(names) > 10 and all(f"{NS}/gradients/norm/{n}" in values for n in names)


def test_watch_gradients_only_and_nothing_off_the_main_process(
    make_trainer: Any, stored: Any, store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    callback = NeptuneScaleCallback(run_id="grads", watch_model="gradients", watch_log_freq=3)
    make_trainer(callback).train()
    callback.close()
    values = stored().values("grads")
    assert f"{NS}/gradients/norm/{QUERY}" in values
    assert not [k for k in values if k.startswith(f"{NS}/parameters/")]

    other = NeptuneScaleCallback(run_id="rank1", watch_model="all", watch_log_freq=1)
    trainer = make_trainer(other)
    monkeypatch.setattr(trainer, "is_world_process_zero", lambda: False)
    trainer.train()
    assert other.run is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"watch_model": "weights"}, "watch_model"),
        ({"watch_model": "all", "watch_log_freq": 0}, "watch_log_freq"),
    ],
)
def test_watch_options_are_checked_when_the_callback_is_built(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        NeptuneScaleCallback(**kwargs)
