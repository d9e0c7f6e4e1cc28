"""The writer of format-2 operation logs (no index, no checksums; see ``_oplog``): what a
process reopening a folder that an older client started appends, so one folder never mixes
formats. Disk space is reserved and a full disk handled as for format 3."""

from __future__ import annotations

import json

from neptune_scale import _oplog
from neptune_scale._oplog import KIND_SNAPSHOT, META_FILE, LogWriter, replace_file, segment_path
from neptune_scale._oplog.space import SegmentFiles

__all__ = ["LegacyLogWriter"]


class LegacyLogWriter(LogWriter):
    def _open_files(self, segment: int, offset: int = 0, slot: int = 0) -> SegmentFiles:
        path = segment_path(self.folder, segment)
        return SegmentFiles(path, _oplog.SEGMENT_BYTES, None, 0, offset)

    def append_snapshot(self, rest: bytes) -> None:
        end_of_record = len(rest) + 1
        with self._lock:
            offset = self._offset
            end = offset + end_of_record
            if end > self._limit:
                offset = self._room(end_of_record)
                if offset < 0:
                    self._held.hold(KIND_SNAPSHOT, rest)
                    return
                end = offset + end_of_record
            self._mm[offset + 1 : end] = rest
            self._mm[offset] = KIND_SNAPSHOT
            self._offset = end
            self.head = (self._base + end, self.head[1] + 1)

    def _index_entry(self, kind: int, rest: bytes, end: int) -> None:
        pass

    def keep_identity(self, project: str, run_id: str, create: bytes) -> None:
        pass  # format 2 keeps no copy of the create record

    def _write_identity(self, project: str, run_id: str, create: bytes | None) -> None:
        meta = {"format": 2, "project": project, "run_id": run_id}
        replace_file(self.folder / META_FILE, json.dumps(meta).encode("utf-8"))
