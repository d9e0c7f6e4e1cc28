"""What recovery found damaged in a run folder, kept in its ``damaged`` file.

Recovery skips damaged records and delivers the rest; the loss is written down here so that it
is still known after the intact records were delivered and confirmed (a later scan starts at the
confirmed position and no longer sees it). A folder with such a file is never removed by
delivery, only when the user accepts the loss (``neptune sync --skip-damaged``).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

from neptune_scale._oplog import DAMAGED_FILE
from neptune_scale._oplog.check import UNKNOWN, Damage
from neptune_scale._oplog.meta import replace_file

__all__ = ["message", "read", "record"]

MAX_LISTED = 10  # damaged ranges spelled out in a message; the rest are summed up


def read(folder: Path) -> list[Damage]:
    """The damage recorded so far (a damaged ``damaged`` file counts as one unknown loss)."""
    try:
        raw = json.loads((folder / DAMAGED_FILE).read_text("utf-8"))
        return [Damage(int(a), int(b), int(n), str(why)) for a, b, n, why in raw["lost"]]
    except FileNotFoundError:
        return []
    except (ValueError, KeyError, TypeError) as e:
        return [Damage(0, 0, 0, f"the record of earlier damage is unreadable ({e})")]


def record(folder: Path, found: tuple[Damage, ...]) -> list[Damage]:
    """Add what recovery found (records lost; repairs are not losses) to the folder's record;
    returns every loss known for the folder."""
    known = read(folder)
    seen = {(k.start, k.end) for k in known}
    new = [d for d in found if d.records and (d.start, d.end) not in seen]
    if new:
        known = sorted(known + new)
        data = json.dumps({"lost": [list(d) for d in known]}, indent=1)
        # A full disk: the loss is still reported now, and this process keeps the folder.
        with contextlib.suppress(OSError):
            replace_file(folder / DAMAGED_FILE, data.encode("utf-8"))
    return known


def message(folder: Path, notes: list[str], damage: tuple[Damage, ...] | list[Damage]) -> str:
    """One report of what was found: the lost records (count and byte ranges) and repairs."""
    lost = [d for d in damage if d.records]
    parts = [f"operation log {folder}:"]
    if lost:
        known = sum(d.records for d in lost if d.records != UNKNOWN)
        more = " and more" if any(d.records == UNKNOWN for d in lost) else ""
        parts.append(f"{known}{more} damaged record(s) skipped, the intact rest is delivered;")
        parts.extend(f"  {d.describe()}" for d in lost[:MAX_LISTED])
        if len(lost) > MAX_LISTED:
            parts.append(f"  ... and {len(lost) - MAX_LISTED} more damaged ranges")
    parts.extend(f"  {d.describe()}" for d in damage if not d.records)
    parts.extend(f"  {note}" for note in notes)
    if lost:
        parts.append(
            f"The folder is kept; once you accept the loss, remove it with: "
            f"neptune sync --skip-damaged {folder}"
        )
    return "\n".join(parts)
