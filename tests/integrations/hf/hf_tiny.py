"""Tiny real ``transformers`` pieces for the HF tests: a two-layer BERT (hidden size 32) built
from a config and a synthetic classification dataset; nothing is downloaded."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a test that tries the hub fails instead of waiting
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
import transformers

VOCAB = 40
SEQ_LEN = 8
PROJECT = "hf-team/tests"


class TinyClassification(torch.utils.data.Dataset):  # type: ignore[misc]
    """Sequences of token ids; the label says whether token 7 occurs (learnable, so the loss
    moves)."""

    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (size, SEQ_LEN), generator=generator)
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {
            "input_ids": self.ids[index],
            "attention_mask": torch.ones(SEQ_LEN, dtype=torch.long),
            "labels": self.labels[index],
        }


def tiny_bert() -> Any:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=37,
        max_position_embeddings=SEQ_LEN * 2,
        num_labels=2,
    )
    return transformers.BertForSequenceClassification(config)


def accuracy(prediction: Any) -> dict[str, float]:
    predicted = prediction.predictions.argmax(-1)
    return {"accuracy": float((predicted == prediction.label_ids).mean())}


class FailAtStep(transformers.TrainerCallback):
    """Stands for a crash in the middle of training (after a checkpoint was written)."""

    def __init__(self, step: int, error: type[Exception] = RuntimeError) -> None:
        self.step = step
        self.error = error

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if state.global_step == self.step:
            raise self.error(f"simulated crash at step {self.step}")
