"""Run logs that processes left behind in a store folder, delivered when the store is opened.

A training process killed with SIGKILL leaves the points it acknowledged in its operation log
(``<folder>/runs/<run>/``) until a run with the same id is reopened. Opening the embedded store
(``Reader``, ``despina ls/show/export``, ``despina ui``) delivers first every log meant for that
store (its ``destination`` file says ``local``) whose writer is gone, through ``sync_run`` with
the local transport, as ``despina sync`` does; so what a peer tracker shows at once, we show too.

The log's lock decides: a live writer holds it, so its log is never touched; ``sync_run`` holds
it while delivering, so two readers never deliver the same log. The time spent is bounded; what
is left (no time, or logs of offline runs) is counted for a message naming ``despina sync``.
When nothing was left behind this costs one directory listing.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DELIVER_BUDGET_S", "Pending", "deliver_left_behind", "local_folder"]

logger = logging.getLogger("despina")

DELIVER_BUDGET_S = 10.0  # what opening a store may spend delivering before it says what is left
_SQLITE_PREFIX = "sqlite:///"


@dataclass
class Pending:
    """What :func:`deliver_left_behind` did in ``folder``."""

    folder: Path
    delivered: list[str] = field(default_factory=list)  # run ids
    left: list[Path] = field(default_factory=list)  # run folders still holding undelivered data
    seconds: float = 0.0

    def messages(self) -> list[tuple[int, str]]:
        """(logging level, text) of what to tell the user."""
        lines = []
        if self.delivered:
            lines.append((
                logging.INFO,
                f"delivered the data of {_runs(len(self.delivered))} left on disk by processes "
                f"that ended ({', '.join(self.delivered[:5])}"
                f"{', …' if len(self.delivered) > 5 else ''}; {self.seconds:.1f} s)",
            ))  # fmt: skip
        if self.left:
            lines.append((
                logging.WARNING,
                f"{_runs(len(self.left))} {'has' if len(self.left) == 1 else 'have'} undelivered "
                f"data in {self.folder / 'runs'}: despina sync {self.folder}",
            ))  # fmt: skip
        return lines


def _runs(count: int) -> str:
    return f"{count} run" if count == 1 else f"{count} runs"


def local_folder(location: str | os.PathLike[str]) -> Path | None:
    """The folder of an embedded store location (a folder or ``sqlite:///folder``), else None."""
    text = os.fspath(location)
    if text.startswith(_SQLITE_PREFIX):
        text = text[len(_SQLITE_PREFIX) - 1 :]
    elif "://" in text:
        return None
    folder = Path(text).expanduser()
    return folder.parent if folder.suffix == ".sqlite3" else folder


def deliver_left_behind(folder: Path, budget_s: float | None = DELIVER_BUDGET_S) -> Pending:
    """Deliver the logs in ``folder/runs`` meant for this store whose writer is gone, within
    ``budget_s`` seconds (None: no limit)."""
    found = Pending(folder)
    try:
        names = sorted(os.listdir(folder / "runs"))
    except OSError:
        return found  # no client logs here
    if not names:
        return found
    from neptune_scale.sync import is_run_folder, run_destination, writer_alive

    start = time.monotonic()
    deadline = None if budget_s is None else start + budget_s
    for name in names:
        run = folder / "runs" / name
        destination = run_destination(run)
        if destination in ("http", "injected") or not is_run_folder(run):
            continue  # another destination's data, or not a run log
        if writer_alive(run):
            continue
        left = deadline is not None and time.monotonic() >= deadline
        if destination != "local" or left or not _deliver(folder, run, deadline, found):
            found.left.append(run)
    found.seconds = time.monotonic() - start
    return found


def _deliver(folder: Path, run: Path, deadline: float | None, found: Pending) -> bool:
    """True when everything in ``run`` was delivered (or a process took it meanwhile)."""
    from neptune_scale.sync import run_identity, sync_run

    from despina.store.transport import LocalTransport

    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    try:
        run_id = str(run_identity(run)["run_id"])
        complete = sync_run(run, transport=LocalTransport(folder), timeout=timeout, progress=False)
    except (RuntimeError, FileNotFoundError):
        return True  # a process took it since we looked (or delivered and removed it)
    except Exception as error:  # reading must go on; the log stays for `despina sync`
        logger.warning("Could not deliver the run log %s: %s", run, error)
        return False
    if complete:
        found.delivered.append(run_id)
    return complete
