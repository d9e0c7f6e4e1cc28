"""Track a Hugging Face ``Trainer`` in a Neptune Scale run kept by Despina.

Runs on CPU in about a minute and downloads nothing: the model is a two-layer BERT built
from a config and the data is synthetic (does token 7 occur in the sequence?).

    python examples/hf_text_classification.py            # first run, then a resumed one
    despina ls --store .neptune --project examples/hf    # or: despina ui --store .neptune

What it shows: arguments, model config and parameter count as configs; train/eval/test metrics;
the last checkpoint uploaded; ``evaluate()``/``predict()`` after training landing in the same
run; a second ``train()`` resumed from a checkpoint forking the first run at the restored step.
With ``NEPTUNE_API_TOKEN`` set (a token from ``despina token create``), the same script logs to a
Despina server instead.
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import torch
import transformers
from despina_hf import NeptuneScaleCallback

os.environ.setdefault("HF_HUB_OFFLINE", "1")

VOCAB = 40
SEQ_LEN = 8
PROJECT = os.environ.get("NEPTUNE_PROJECT", "examples/hf")


class Sequences(torch.utils.data.Dataset):  # type: ignore[misc]
    def __init__(self, size: int, seed: int) -> None:
        generator = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, VOCAB, (size, SEQ_LEN), generator=generator)
        self.labels = (self.ids == 7).any(dim=1).long()

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"input_ids": self.ids[index], "labels": self.labels[index]}


def model() -> Any:
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=SEQ_LEN * 2,
        num_labels=2,
    )
    return transformers.BertForSequenceClassification(config)


def accuracy(prediction: Any) -> dict[str, float]:
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def trainer(output_dir: str, callback: NeptuneScaleCallback, max_steps: int) -> Any:
    args = transformers.TrainingArguments(
        output_dir=output_dir,
        report_to="none",  # transformers' own NeptuneCallback needs the retired 2.x client
        max_steps=max_steps,
        per_device_train_batch_size=16,
        learning_rate=3e-3,
        logging_steps=5,
        eval_strategy="steps",
        eval_steps=15,
        save_strategy="steps",
        save_steps=15,
        save_total_limit=2,
        use_cpu=True,
        disable_tqdm=True,
    )
    return transformers.Trainer(
        model=model(),
        args=args,
        train_dataset=Sequences(256, seed=1),
        eval_dataset=Sequences(64, seed=2),
        compute_metrics=accuracy,
        callbacks=[callback],
    )


def main() -> None:
    output_dir = tempfile.mkdtemp(prefix="hf-example-")
    first = NeptuneScaleCallback(
        project=PROJECT, experiment_name="tiny-bert", log_checkpoints="last", tags=["example"]
    )
    run1 = trainer(output_dir, first, max_steps=30)
    run1.train()
    run1.evaluate()  # after training: the same run, under eval/final/
    run1.predict(Sequences(64, seed=3))  # test/* metrics
    print("first run:", first.run.run_id, first.run.get_run_url())
    first.close()

    # Train further from the step-15 checkpoint: a new run forked from the first at step 15.
    second = NeptuneScaleCallback(project=PROJECT, log_checkpoints="last", tags=["example"])
    run2 = trainer(output_dir, second, max_steps=45)
    run2.train(resume_from_checkpoint=os.path.join(output_dir, "checkpoint-15"))
    print("resumed run:", second.run.run_id, "(forked at step 15)")
    second.close()


if __name__ == "__main__":
    main()
