"""Checkpoint upload by policy: ``none``, ``last``, ``best`` or ``all``.

The Trainer rotates checkpoints (``save_total_limit``) right after saving, and the client uploads
files in the background, so a checkpoint folder can vanish while its files are still being read.
Each uploaded checkpoint is therefore copied into a staging folder first (see
``CheckpointUploader`` for when the copies go).

Layout in the run: ``checkpoints/<name>/<relative file path>`` where ``<name>`` is ``last``,
``best`` or ``checkpoint-<step>`` (policy ``all``); ``checkpoints/last/step`` and
``checkpoints/best/step`` (and ``checkpoints/best/metric``) say which step the files are from.
"""

from __future__ import annotations

import enum
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from . import _paths

__all__ = ["CheckpointPolicy", "CheckpointUploader", "find_checkpoint_dir"]

logger = logging.getLogger("despina_hf")

CHECKPOINT_PREFIX = "checkpoint-"  # transformers' PREFIX_CHECKPOINT_DIR
LEGACY_ALL = "same"  # transformers' NeptuneCallback name for uploading every checkpoint
STAGING_FOLDER = "hf-checkpoints"  # under the client's log directory
STAGING_PREFIX = "staged-"
LOG_DIRECTORY_ENV = "NEPTUNE_LOG_DIRECTORY"
DEFAULT_LOG_DIR = ".neptune"  # the client's default (docs/DESIGN.md)


class CheckpointPolicy(str, enum.Enum):
    NONE = "none"
    LAST = "last"
    BEST = "best"
    ALL = "all"

    @classmethod
    def parse(cls, value: str | CheckpointPolicy | None) -> CheckpointPolicy:
        """A policy from its name; ``None`` is ``none`` and transformers' ``"same"`` (upload
        every checkpoint) is ``all``."""
        if value is None:
            return cls.NONE
        if value == LEGACY_ALL:
            return cls.ALL
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(repr(p.value) for p in cls)
            raise ValueError(
                f"log_checkpoints must be one of {allowed} or None, got {value!r}"
            ) from None


def staging_root(run_kwargs: dict[str, Any]) -> Path:
    """Where checkpoint copies wait for upload: beside the client's operation log
    (``log_directory``, else ``$NEPTUNE_LOG_DIRECTORY``, else ``.neptune``), so they survive as
    long as the operations that point at them."""
    base = run_kwargs.get("log_directory") or os.environ.get(LOG_DIRECTORY_ENV) or DEFAULT_LOG_DIR
    return Path(base) / STAGING_FOLDER


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
    """Copies a saved checkpoint and hands its files to the run by policy.

    The copies live under ``staging_root`` (next to the client's own operation log by default)
    and are removed only once the run confirmed that everything logged so far was processed:
    before each new copy when that is already true, and when the run is closed. An offline run
    uploads at ``neptune sync`` time, so its copies are kept (and their folder is logged).
    """

    def __init__(self, policy: CheckpointPolicy, staging_root: Path, keep_copies: bool) -> None:
        self.policy = policy
        self._root = staging_root
        self._keep = keep_copies
        self._staging: Path | None = None
        self._staged: list[Path] = []

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
        if self._staged and _processed(run, timeout=0):
            self._remove_staged()  # earlier copies are uploaded: free the disk
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
            self._root.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=self._root))
        target = self._staging / name
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(checkpoint, target)
        self._staged.append(target)
        return target

    def release(self, delivered: bool) -> None:
        """The run was closed: remove the copies if its data was delivered, else say where
        they wait for ``neptune sync``."""
        if not self._staged:
            return
        if delivered and not self._keep:
            self._remove_staged()
            return
        logger.warning(
            "despina_hf: checkpoint copies kept in %s until they are uploaded (neptune sync); "
            "remove the folder afterwards",
            self._staging,
        )
        self._staged.clear()
        self._staging = None

    def _remove_staged(self) -> None:
        if self._keep:
            return
        for folder in self._staged:
            shutil.rmtree(folder, ignore_errors=True)
        self._staged.clear()


def _processed(run: Any, timeout: float) -> bool:
    """Whether the run confirms everything logged so far was processed (only a ``True`` counts:
    a client that answers nothing never lets copies go early)."""
    return run.wait_for_processing(timeout=timeout, verbose=False) is True
