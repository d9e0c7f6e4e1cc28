"""What the store holds after a test, read through ``despina.query.Reader`` only."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from despina.query import Reader
from hf_tiny import PROJECT


class Stored:
    """Reads the embedded store a test's runs went to (project ``PROJECT``)."""

    def __init__(self, store_dir: Path) -> None:
        self.reader = Reader(store_dir)

    def close(self) -> None:
        self.reader.close()

    def run_ids(self) -> list[str]:
        return self.reader.list_runs(PROJECT)

    def values(self, run_id: str, attributes: str | list[str] | None = None) -> dict[str, Any]:
        """Single values and last series values of one run, absent ones left out."""
        table = self.reader.fetch_runs_table(PROJECT, [run_id], attributes)
        row = table.loc[run_id]
        return {k: v for k, v in row.items() if not _missing(v)}

    def metric(self, run_id: str, path: str, *, lineage: bool = True) -> dict[float, float]:
        """``{step: value}`` of one float series."""
        frame = self.reader.fetch_metrics(PROJECT, [run_id], [path], lineage_to_the_root=lineage)
        if frame.empty or path not in frame.columns:
            return {}
        column = frame[path].dropna()
        return {float(step): float(value) for (_, step), value in column.items()}

    def details(self, run_id: str) -> dict[str, Any]:
        return self.reader.run_details(PROJECT, run_id)

    def download(self, run_id: str, attributes: str, destination: Path) -> dict[str, Path]:
        """``{attribute: local copy}`` of the run's files whose attribute matches the regex."""
        frame = self.reader.download_files(PROJECT, [run_id], attributes, destination)
        return {row.attribute: Path(row.path) for row in frame.itertuples() if row.path}


def _missing(value: Any) -> bool:
    if value is None:
        return True
    return isinstance(value, float) and math.isnan(value)
