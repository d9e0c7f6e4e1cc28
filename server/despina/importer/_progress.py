"""The resumable progress record: which runs an earlier import finished, per target.

One JSON line per finished run (``{"run": key, "fingerprint": …}``), appended and flushed when
the target confirmed the run's last request, in ``<DATA>/.despina-import/<target digest>.jsonl``
(or under ``~/.cache/despina/import/`` when the export is read-only). A run recorded with the
fingerprint its parts still have is skipped. A run not recorded (the import was killed inside
it) is imported again from its start: the store answers its create as a resume, its assigns
and tag additions are idempotent and its points already stored are duplicates that are not
stored twice (protocol §7.2), so nothing is doubled.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

__all__ = ["Progress"]

FOLDER = ".despina-import"


def _writable_folder(data: Path) -> Path:
    folder = data / FOLDER
    try:
        folder.mkdir(exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    fallback = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    folder = fallback / "despina" / "import"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class Progress:
    """Finished runs of one (export, target) pair."""

    def __init__(self, data: Path, target: str, *, dry_run: bool = False) -> None:
        digest = hashlib.blake2b(f"{data.resolve()}\n{target}".encode(), digest_size=8).hexdigest()
        self.done: dict[str, str] = {}
        self.path: Path | None = None
        if dry_run:
            return
        self.path = _writable_folder(data) / f"{digest}.jsonl"
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    record = json.loads(line)
                    self.done[str(record["run"])] = str(record["fingerprint"])
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by a kill: that run is simply done again

    def finished(self, key: str, fingerprint: str) -> bool:
        return self.done.get(key) == fingerprint

    def record(self, key: str, fingerprint: str) -> None:
        self.done[key] = fingerprint
        if self.path is None:
            return
        line = json.dumps({"run": key, "fingerprint": fingerprint}, ensure_ascii=False)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
            out.flush()
            os.fsync(out.fileno())
