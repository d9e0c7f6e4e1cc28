"""Checkpoint upload by policy: ``none``, ``last``, ``best`` or ``all``.

The Trainer rotates checkpoints (``save_total_limit``) right after saving, and the client uploads
files in the background, so a checkpoint folder can vanish while its files are still being read.
Each uploaded checkpoint is therefore copied into a staging folder first; the copies are removed
when the run is closed (``Run.close()`` waits for the uploads).

Layout in the run: ``checkpoints/<name>/<relative file path>`` where ``<name>`` is ``last``,
``best`` or ``checkpoint-<step>`` (policy ``all``); ``checkpoints/last/step`` and
``checkpoints/best/step`` (and ``checkpoints/best/metric``) say which step the files are from.
"""

from __future__ import annotations

import enum
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import _paths

__all__ = ["CheckpointPolicy", "CheckpointUploader", "find_checkpoint_dir"]

logger = logging.getLogger("despina_hf")

CHECKPOINT_PREFIX = "checkpoint-"  # transformers' PREFIX_CHECKPOINT_DIR
STAGING_PREFIX = "despina-hf-checkpoints-"


class CheckpointPolicy(str, enum.Enum):
    NONE = "none"
    LAST = "last"
    BEST = "best"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | CheckpointPolicy | None) -> CheckpointPolicy:
        if value is None:
            return cls.NONE
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(p.value) for p in cls)
            raise ValueError(
                f"log_checkpoints must be one of {allowed} or None, got {value!r}"
            ) from None


def find_checkpoint_dir(output_dir: str, step: int, trial_search: bool) -> Path | None:
    """The folder the Trainer just saved for ``step``: ``<output_dir>/checkpoint-<step>``, or
    under a trial's own ``<output_dir>/<run name>/`` during a hyperparameter search."""
    name = f"{CHECKPOINT_PREFIX}{step}"
    root = Path(output_dir)
    candidates = [root / name]
    if trial_search:
        candidates += list(root.glob(f"*/{name}"))
    existing = [c for c in candidates if c.is_dir()]
    if not existing:
        return None
    return max(existing, key=lambda c: c.stat().st_mtime)  # the one saved last


class CheckpointUploader:
    """Copies a saved checkpoint and hands its files to the run by policy."""

    def __init__(self, policy: CheckpointPolicy) -> None:
        self.policy = policy
        self._staging: Path | None = None

    def upload(
        self, run: Any, checkpoint: Path, step: int, best: tuple[bool, float | None]
    ) -> None:
        """Upload ``checkpoint`` (saved at ``step``) if the policy wants it; ``best`` says whether
        it is the best so far and with which metric value."""
        is_best, best_metric = best
        if self.policy is CheckpointPolicy.NONE or (
            self.policy is CheckpointPolicy.BEST and not is_best
        ):
            return
        name = checkpoint.name if self.policy is CheckpointPolicy.ALL else self.policy.value
        staged = self._stage(checkpoint, f"{name}-{step}")
        files = {
            f"{_paths.CHECKPOINTS}/{name}/{path.relative_to(staged).as_posix()}": str(path)
            for path in sorted(staged.rglob("*"))
            if path.is_file()
        }
        run.assign_files(files)
        configs: dict[str, Any] = {}
        if self.policy is not CheckpointPolicy.ALL:
            configs[f"{_paths.CHECKPOINTS}/{name}/step"] = step
        if self.policy is CheckpointPolicy.BEST and best_metric is not None:
            configs[f"{_paths.CHECKPOINTS}/{name}/metric"] = float(best_metric)
        if configs:
            run.log_configs(configs)

    def _stage(self, checkpoint: Path, name: str) -> Path:
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX))
        target = self._staging / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(checkpoint, target)
        return target

    def cleanup(self) -> None:
        """Remove the staged copies (call once the run has finished uploading)."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None
