"""Hugging Face ``transformers`` integration: ``NeptuneScaleCallback`` for the ``Trainer``.

    from despina_hf import NeptuneScaleCallback
    trainer = Trainer(..., args=TrainingArguments(..., report_to="none"),
                      callbacks=[NeptuneScaleCallback(log_checkpoints="last")])

What lands where in the run: ``trainer/args/*``, ``model/config/*``, ``model/peft_config/*``,
``model/num_parameters``, ``model/num_trainable_parameters``; metrics as series under ``train/``,
``eval/`` and ``test/`` at ``global_step``; ``evaluate()``/``predict()`` after ``train()`` also
as configs under ``eval/final/`` and ``test/final/``; end-of-training summaries as configs under
``train/``; ``trainer/status`` (``running``/``succeeded``/``failed``) and ``trainer/error/*``;
checkpoint files under ``checkpoints/``; ``trial/*`` for hyperparameter-search trials.

Lifecycle: one run per ``train()`` (opened on the main process only), kept open afterwards for
``evaluate()``/``predict()``; closed by ``callback.close()``, by the next ``train()`` or at exit.
A resumed ``train()`` forks the run named in the checkpoint at the restored step; each search
trial is its own run in the same experiment with a shared group tag and ``trial/objective``.
A failed ``train()`` is recorded because the callback wraps that Trainer's ``train`` method
(``watch``; automatic when the callback is passed to the Trainer's constructor, else from the
first ``on_train_begin`` on); a training that never ended is marked failed when closed, with
the exception of that ``train()`` call if Python still holds it.
Tracking errors are logged, never raised into training (``set_strict(True)`` re-raises them).
"""

from __future__ import annotations

try:
    import transformers  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "despina_hf needs transformers (and torch): pip install 'despina[hf]'"
    ) from exc

from ._callback import NeptuneScaleCallback
from ._checkpoints import CheckpointPolicy
from ._guard import set_strict

__all__ = ["CheckpointPolicy", "NeptuneScaleCallback", "set_strict"]
