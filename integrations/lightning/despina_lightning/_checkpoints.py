"""Checkpoints: which ones go to Neptune as files, and how they get there safely.

Policies (``log_model_checkpoints``):

* ``"none"`` — nothing is recorded.
* ``"paths"`` — only paths: best/last path, best score, and each saved file's path as
  ``<prefix>/model/checkpoints/<name>``.
* ``"best"`` — best/last path and best score, and the current best checkpoint as the file
  ``<prefix>/model/best``.
* ``"last"`` — the same paths, and the newest checkpoint as the file ``<prefix>/model/last``.
* ``"all"`` — the same paths, and every checkpoint as the file
  ``<prefix>/model/checkpoints/<name>``.

A checkpoint is staged (hard-linked, or copied across file systems) before it is handed to the
client: ``ModelCheckpoint`` deletes files beyond ``save_top_k`` right after saving, and the upload
happens in the background. Staged copies are removed once the run has flushed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from neptune_scale.types import File

__all__ = ["CHECKPOINT_POLICIES", "CheckpointPolicy", "CheckpointRecorder", "resolve_policy"]

log = logging.getLogger("despina_lightning")

CheckpointPolicy = Literal["none", "paths", "best", "last", "all"]
CHECKPOINT_POLICIES: tuple[CheckpointPolicy, ...] = ("none", "paths", "best", "last", "all")
#: What ``log_model_checkpoints=True`` means: the fork recorded paths; we also keep the best file.
DEFAULT_POLICY: CheckpointPolicy = "best"
CHECKPOINT_MIME = "application/octet-stream"


def resolve_policy(value: bool | str | None) -> CheckpointPolicy:
    """Map ``log_model_checkpoints`` (bool, as in the fork, or a policy name) onto a policy."""
    if value is None or value is False:
        return "none"
    if value is True:
        return DEFAULT_POLICY
    if value in CHECKPOINT_POLICIES:
        return value
    raise ValueError(
        f"log_model_checkpoints must be a bool or one of {', '.join(CHECKPOINT_POLICIES)}; "
        f"got {value!r}"
    )


def _name(path: str, dirpath: str | None) -> str:
    """The checkpoint's name inside its callback's folder, without the ``.ckpt`` suffix."""
    rel = os.path.relpath(path, dirpath) if dirpath else os.path.basename(path)
    stem, ext = os.path.splitext(rel)
    return (stem if ext == ".ckpt" else rel).replace(os.sep, "/")


def _score(value: Any) -> float | None:
    if value is None:
        return None
    item = getattr(value, "item", None)
    return float(item() if callable(item) else value)


class CheckpointRecorder:
    """Records what a ``ModelCheckpoint`` saved, under ``<prefix>/model``, by policy."""

    def __init__(self, policy: CheckpointPolicy, namespace: str) -> None:
        self.policy = policy
        self.namespace = namespace
        self._staging: Path | None = None
        # path -> (mtime_ns, size) already handled, so a file is not sent twice.
        self._seen: dict[str, tuple[int, int]] = {}

    def configs(self, callback: Any) -> dict[str, Any]:
        """Best/last paths, best score and monitor of ``callback`` as config values."""
        ns = self.namespace
        out: dict[str, Any] = {}
        if callback.best_model_path:
            out[f"{ns}/best_model_path"] = str(callback.best_model_path)
        score = _score(getattr(callback, "best_model_score", None))
        if score is not None:
            out[f"{ns}/best_model_score"] = score
        if getattr(callback, "last_model_path", ""):
            out[f"{ns}/last_model_path"] = str(callback.last_model_path)
        if getattr(callback, "monitor", None):
            out[f"{ns}/monitor"] = str(callback.monitor)
        if self.policy == "paths":
            # The fork's record: each file's path where the "all" policy puts the file itself.
            for path in _candidates(callback):
                out[f"{ns}/checkpoints/{_name(path, callback.dirpath)}"] = str(path)
        return out if self.policy != "none" else {}

    def files(self, callback: Any) -> dict[str, File]:
        """Checkpoints to upload now under this policy, staged so rotation cannot remove them."""
        from neptune_scale.types import File

        chosen: dict[str, str] = {}
        if self.policy == "best" and callback.best_model_path:
            chosen[f"{self.namespace}/best"] = str(callback.best_model_path)
        elif self.policy == "last":
            newest = _newest(_candidates(callback))
            if newest is not None:
                chosen[f"{self.namespace}/last"] = newest
        elif self.policy == "all":
            for path in _candidates(callback):
                chosen[f"{self.namespace}/checkpoints/{_name(path, callback.dirpath)}"] = path
        out: dict[str, File] = {}
        for attribute, path in chosen.items():
            if not self._changed(path):
                continue
            staged = self._stage(path)
            if staged is not None:
                out[attribute] = File(source=staged, mime_type=CHECKPOINT_MIME)
        return out

    def __getstate__(self) -> dict[str, Any]:
        # A copy in another process must not remove (or reuse) this process's staging folder.
        state = self.__dict__.copy()
        state["_staging"] = None
        return state

    def cleanup(self) -> None:
        """Remove staged copies; call only after the run has flushed its uploads."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def _stat(self, path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size)

    def _changed(self, path: str) -> bool:
        stat = self._stat(path)
        if stat is None or self._seen.get(path) == stat:
            return False
        self._seen[path] = stat
        return True

    def _stage(self, path: str) -> str | None:
        if self._staging is None:
            self._staging = Path(tempfile.mkdtemp(prefix="despina-lightning-ckpt-"))
        target = self._staging / f"{len(os.listdir(self._staging))}-{os.path.basename(path)}"
        try:
            try:
                os.link(path, target)  # instant, and survives the original being deleted
            except OSError:
                shutil.copy2(path, target)
        except OSError as exc:
            log.warning("Checkpoint %s not uploaded: could not stage it (%s)", path, exc)
            return None
        return str(target)


def _candidates(callback: Any) -> list[str]:
    """Every checkpoint file the callback currently knows about, existing ones only."""
    paths = [*getattr(callback, "best_k_models", {}).keys()]
    paths += [callback.best_model_path, getattr(callback, "last_model_path", "")]
    unique = dict.fromkeys(str(p) for p in paths if p)
    return [p for p in unique if os.path.isfile(p)]


def _newest(paths: list[str]) -> str | None:
    return max(paths, key=lambda p: os.stat(p).st_mtime_ns, default=None)
