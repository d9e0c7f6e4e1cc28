"""Delivering what a run left on disk: offline runs, killed processes, interrupted closes.

:func:`sync_run` is what ``neptune sync`` (and ``despina sync``) call for one run folder.
"""

from __future__ import annotations

import time
from pathlib import Path

from neptune_scale import _modes, _oplog
from neptune_scale._callbacks import Callbacks
from neptune_scale._pipeline import Pipeline
from neptune_scale.transport import Transport

__all__ = ["find_run_folders", "sync_run"]

PROGRESS_TICK_S = 0.2


def find_run_folders(path: Path) -> list[Path]:
    """Run folders at ``path``: the folder itself, or every run under a log directory."""
    if _oplog.has_meta(path):
        return [path]
    runs = path / "runs" if (path / "runs").is_dir() else path
    return sorted(p for p in runs.iterdir() if _oplog.has_meta(p))


def sync_run(
    path: str | Path,
    *,
    transport: Transport | None = None,
    api_token: str | None = None,
    timeout: float | None = None,
    progress: bool = True,
    skip_damaged: bool = False,
) -> bool:
    """Deliver every unconfirmed operation of the run folder ``path``; True when all arrived.

    Damaged records are skipped and every intact one is delivered; the loss is reported (on the
    ``neptune`` logger) and kept in the folder, which then stays on disk and this returns False,
    unless ``skip_damaged`` accepts the loss (the folder is then removed once the rest arrived).

    Without ``transport``: an API token (argument or ``NEPTUNE_API_TOKEN``) sends to that
    server, otherwise the operations go into the embedded store of the log directory the folder
    lies in (``<log_directory>/runs/<run>``). Raises RuntimeError if a live process owns it.
    """
    folder = Path(path)
    meta = _oplog.read_meta(folder)
    if transport is None:
        dest = _modes.resolve(
            mode="async",
            api_token=api_token,
            project=meta["project"],
            log_directory=folder.parent.parent,
        )
        transport = _modes.make_transport(dest.kind, dest)  # type: ignore[arg-type]
    pipeline = Pipeline(
        folder,
        meta["project"],
        meta["run_id"],
        transport=transport,
        callbacks=Callbacks(),
        max_queue_size=2**62,
        lag_threshold_s=None,
        exact_folder=True,
    )
    pipeline.accept_damage = skip_damaged
    pipeline.start()
    total = pipeline.pending_ops()
    done = _wait_with_progress(pipeline, total, timeout, progress, folder.name)
    delivered = pipeline.close(0.0 if not done else timeout) and done
    return delivered and (skip_damaged or not pipeline.damage)


def _wait_with_progress(
    pipeline: Pipeline, total: int, timeout: float | None, progress: bool, name: str
) -> bool:
    from tqdm import tqdm

    deadline = None if timeout is None else time.monotonic() + timeout
    bar = tqdm(total=total, unit="op", desc=name[:40], disable=not progress)
    try:
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = PROGRESS_TICK_S if left is None else min(PROGRESS_TICK_S, left)
            done = pipeline.wait(processed=True, timeout=step, verbose=False)
            bar.update(pipeline.state.acked_ops - bar.n)
            if done or pipeline.state.fatal is not None or left == 0.0:
                return done
    finally:
        bar.close()
