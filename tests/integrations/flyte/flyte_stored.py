"""Reading a Flyte test's store back (kept out of conftest.py so test modules can import it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

PROJECT = "flyte-ws/flyte-proj"


class QueriedRuns:
    """What the store at `location` holds, read back through `despina.query.Reader` (the query
    layer users read with; `support.stored_runs.StoredRuns` reads the engine's primitives).

    A reader is opened per question: the tests write between questions (from subprocesses too).
    """

    def __init__(self, location: Path) -> None:
        self.location = location

    def _reader(self) -> Any:
        from despina.query import Reader

        return Reader(self.location)

    def run_ids(self, project: str = PROJECT) -> list[str]:
        with self._reader() as reader:
            return sorted(reader.list_runs(project))

    def details(self, run_id: str, project: str = PROJECT) -> dict[str, Any]:
        """`Reader.run_details`: configs, tags, group_tags, experiment, lineage, ..."""
        with self._reader() as reader:
            return dict(reader.run_details(project, run_id))

    def configs(self, run_id: str, project: str = PROJECT) -> dict[str, Any]:
        return dict(self.details(run_id, project)["configs"])

    def floats(self, run_id: str, path: str, project: str = PROJECT) -> list[tuple[float, float]]:
        """The visible float series (own points, then ancestors' up to the fork step)."""
        with self._reader() as reader:
            frame = reader.fetch_metrics(project, [run_id], [path])
        if path not in frame.columns:
            return []
        column = frame[path].dropna()
        return [(float(step), float(value)) for (_, step), value in column.items()]

    def file_bytes(
        self, run_id: str, path: str, destination: Path, project: str = PROJECT
    ) -> bytes:
        with self._reader() as reader:
            files = reader.download_files(project, [run_id], [path], destination)
        assert len(files) == 1 and files["path"][0] is not None, files
        return Path(files["path"][0]).read_bytes()
