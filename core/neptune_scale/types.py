"""Value types for ``log_histograms`` and ``assign_files`` / ``log_files``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["File", "Histogram"]


@dataclass
class Histogram:
    """One histogram: ``bin_edges`` (1..513 values, strictly increasing) and exactly one of
    ``counts`` (non-negative integers) or ``densities`` (floats), ``len(bin_edges) - 1`` long.

    Lists, tuples and numpy arrays are accepted.
    """

    bin_edges: Sequence[float] | Any
    counts: Sequence[int] | Any | None = None
    densities: Sequence[float] | Any | None = None

    def bin_edges_as_list(self) -> list[float]:
        return [float(x) for x in _as_list(self.bin_edges)]

    def counts_as_list(self) -> list[int] | None:
        return None if self.counts is None else [int(x) for x in _as_list(self.counts)]

    def densities_as_list(self) -> list[float] | None:
        return None if self.densities is None else [float(x) for x in _as_list(self.densities)]


@dataclass
class File:
    """A file to store: ``source`` is a path or the bytes themselves.

    ``mime_type`` is guessed from the name when omitted; ``destination`` (≤ 800 characters,
    relative to the project) is generated from the run, attribute and step when omitted;
    ``size`` is taken from the file when omitted.
    """

    source: str | Path | bytes
    mime_type: str | None = None
    destination: str | None = None
    size: int | None = None


def _as_list(values: Any) -> list[Any]:
    tolist = getattr(values, "tolist", None)
    if callable(tolist):
        result = tolist()
        return list(result) if isinstance(result, (list, tuple)) else [result]
    return list(values)
