"""Where the callback writes inside a run (one place, so the README and tests agree)."""

from __future__ import annotations

# Configs
TRAINER_ARGS = "trainer/args"
MODEL_CONFIG = "model/config"
PEFT_CONFIG = "model/peft_config"
NUM_PARAMETERS = "model/num_parameters"
NUM_TRAINABLE_PARAMETERS = "model/num_trainable_parameters"
TRIAL_NAME = "trial/name"
TRIAL_NUMBER = "trial/number"
TRIAL_PARAMS = "trial/params"
# The objective the search optimizes, from the trial's last evaluation (Trainer.compute_objective).
TRIAL_OBJECTIVE = "trial/objective"
RESUMED_FROM_CHECKPOINT_STEP = "trainer/resumed_from_step"
INTEGRATION = "trainer/integration"
DESCRIPTION = "description"  # same place as the Lightning logger's

# Outcome of the last train(): "running", "succeeded" or "failed", plus error details.
STATUS = "trainer/status"
ERROR_TYPE = "trainer/error/type"
ERROR_MESSAGE = "trainer/error/message"
ERROR_TRACEBACK = "trainer/error/traceback"

# Checkpoints: files under CHECKPOINTS/<name>/<relative path>, step of last/best as configs.
CHECKPOINTS = "checkpoints"

# Metric namespaces (HF's ``eval_``/``test_`` prefixes become namespaces, the rest is train).
TRAIN = "train"
EVAL = "eval"
TEST = "test"
# evaluate()/predict() after train() ended: single values under <eval|test>/FINAL/<name> (the
# series already hold the last in-training evaluation at that step).
FINAL = "final"
