"""Collect the rules broken by one operation, one :class:`IngestIssue` per (code, path)."""

from __future__ import annotations

from collections.abc import Iterable

from neptune_scale.transport import IngestIssue

__all__ = ["Issues"]


class Issues:
    """Counts repeated problems instead of repeating them; keeps the first message of each."""

    def __init__(self) -> None:
        self._found: dict[tuple[int, str], list[object]] = {}

    def add(self, code: int, path: str, message: str, count: int = 1) -> None:
        if count <= 0:
            return
        entry = self._found.get((code, path))
        if entry is None:
            self._found[(code, path)] = [message, count]
        else:
            entry[1] = int(entry[1]) + count  # type: ignore[call-overload]

    def extend(self, issues: Iterable[IngestIssue]) -> None:
        """Add issues found elsewhere (another slice of the same operation)."""
        for issue in issues:
            self.add(issue.code, issue.path, issue.message, issue.count)

    def result(self) -> tuple[IngestIssue, ...]:
        return tuple(
            IngestIssue(code=code, path=path, message=str(message), count=int(count))  # type: ignore[call-overload]
            for (code, path), (message, count) in self._found.items()
        )

    def __bool__(self) -> bool:
        return bool(self._found)
