"""Handing a spawned copy's run state back to the process that made the copy.

``ddp_spawn`` runs every stage (``fit``, then ``test``...) in fresh processes, each with a
pickled copy of the logger made by the main process, and only the copies log. The main process
never saw what they did, so the copy made for ``test`` neither knew that the run existed (it
created it again: ``NeptuneRunDuplicate``) nor which steps were taken (``epoch`` at step 0 after
step 51). So the copy that logs writes its state into a small JSON file whose path the main
process chose when it first pickled the logger, and the main process reads it back before it
pickles the logger again or opens the run itself. (Lightning's own channel back, the launcher's
``extra`` results, is private to the strategy.)
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from typing import Any

from despina_lightning._safety import log

__all__ = ["new_handoff_path", "read_handoff", "remove_handoff", "write_handoff"]

FILE_PREFIX = "despina-lightning-"


def new_handoff_path() -> str:
    """A fresh path in the temporary folder (the copies run on this machine)."""
    name = f"{FILE_PREFIX}{os.getpid()}-{secrets.token_hex(6)}.json"
    return os.path.join(tempfile.gettempdir(), name)


def write_handoff(path: str, state: dict[str, Any]) -> None:
    """Write atomically: the main process never reads half a file."""
    partial = f"{path}.{os.getpid()}.partial"
    with open(partial, "w", encoding="utf-8") as file:
        json.dump(state, file)
    os.replace(partial, path)


def read_handoff(path: str) -> dict[str, Any] | None:
    """The state a copy handed back, or None when no copy has logged yet."""
    try:
        with open(path, encoding="utf-8") as file:
            state = json.load(file)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("Could not read the run state a spawned process left in %s (%s)", path, exc)
        return None
    return state if isinstance(state, dict) else None


def remove_handoff(path: str) -> None:
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.debug("Could not remove %s (%s)", path, exc)
