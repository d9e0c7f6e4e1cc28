"""What an import did, run by run, and the table the command prints."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunResult", "Summary"]

IMPORTED = "imported"
ALREADY = "already imported"
WOULD = "would import"
FAILED = "not imported"
PARTLY = "imported with errors"
INTERRUPTED = "interrupted export"


@dataclass
class RunResult:
    project: str
    run_id: str
    status: str
    points: int = 0
    items: int = 0
    files: int = 0
    file_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in (IMPORTED, ALREADY, WOULD)


@dataclass
class Summary:
    runs: list[RunResult] = field(default_factory=list)
    types: Counter[str] = field(default_factory=Counter)  # rows by attribute type (planned)
    skipped_folders: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.runs)

    def count(self, status: str) -> int:
        return sum(1 for r in self.runs if r.status == status)

    def totals(self) -> dict[str, int]:
        return {
            "projects": len({r.project for r in self.runs if r.project}),
            "runs": len(self.runs),
            "points": sum(r.points for r in self.runs),
            "files": sum(r.files for r in self.runs),
            "bytes": sum(r.file_bytes for r in self.runs),
        }

    def render(self, console: Any) -> None:
        from rich.table import Table

        table = Table(title="dry run: nothing written" if self.dry_run else "despina import")
        for column in ("project", "run", "status", "points", "values", "files", "bytes", "notes"):
            number = column in ("points", "values", "files", "bytes")
            table.add_column(column, justify="right" if number else "left", overflow="fold")
        for r in self.runs:
            table.add_row(
                r.project,
                r.run_id,
                r.status,
                f"{r.points:,}",
                f"{r.items:,}",
                f"{r.files:,}",
                f"{r.file_bytes:,}",
                "; ".join(r.notes),
            )
        console.print(table)
        if self.types:
            kinds = ", ".join(f"{kind} {n:,}" for kind, n in sorted(self.types.items()))
            console.print(f"rows by attribute type: {kinds}")
        for folder in self.skipped_folders:
            console.print(f"not imported: {folder} (model registry, not runs)")
        t = self.totals()
        statuses = Counter(r.status for r in self.runs)
        said = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
        console.print(
            f"{t['projects']} projects, {t['runs']} runs ({said or 'none'}), {t['points']:,} "
            f"points, {t['files']:,} files, {t['bytes']:,} bytes"
        )
