"""Fixtures for the HF tests: real Trainer runs on tiny CPU models into an embedded store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import despina_hf
import transformers
from hf_tiny import PROJECT, TinyClassification, accuracy, tiny_bert


@pytest.fixture(autouse=True)
def _strict_and_local(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Runs go to an embedded store in ``tmp_path``; contained tracking errors fail the test."""
    monkeypatch.setenv("NEPTUNE_LOG_DIRECTORY", str(tmp_path / "store"))
    monkeypatch.setenv("NEPTUNE_PROJECT", PROJECT)
    monkeypatch.delenv("NEPTUNE_API_TOKEN", raising=False)
    monkeypatch.delenv("NEPTUNE_MODE", raising=False)
    previous = despina_hf.set_strict(True)
    yield
    despina_hf.set_strict(previous)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def make_args(tmp_path: Path) -> Callable[..., Any]:
    def make(**overrides: Any) -> Any:
        values: dict[str, Any] = {
            "output_dir": str(tmp_path / "out"),
            "report_to": "none",
            "per_device_train_batch_size": 8,
            "per_device_eval_batch_size": 16,
            "max_steps": 6,
            "logging_steps": 1,
            "learning_rate": 1e-3,
            "save_strategy": "no",
            "eval_strategy": "no",
            "use_cpu": True,
            "disable_tqdm": True,
            "seed": 0,
            "dataloader_num_workers": 0,
        }
        values.update(overrides)
        return transformers.TrainingArguments(**values)

    return make


@pytest.fixture
def make_trainer(make_args: Callable[..., Any]) -> Callable[..., Any]:
    def make(callback: Any, model: Any = None, **arg_overrides: Any) -> Any:
        return transformers.Trainer(
            model=model if model is not None else tiny_bert(),
            args=make_args(**arg_overrides),
            train_dataset=TinyClassification(48, seed=1),
            eval_dataset=TinyClassification(32, seed=2),
            compute_metrics=accuracy,
            callbacks=[callback],
        )

    return make


@pytest.fixture
def stored(store_dir: Path) -> Iterator[Any]:
    """Call after the runs are closed; reads the store through ``despina.query.Reader``."""
    from hf_store import Stored

    opened: list[Stored] = []

    def open_reader() -> Stored:
        reader = Stored(store_dir)
        opened.append(reader)
        return reader

    yield open_reader
    for reader in opened:
        reader.close()
