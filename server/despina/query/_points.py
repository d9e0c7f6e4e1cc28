"""Reading series points, with fork lineage: ancestors' points up to the fork step, then the run's.

Float points come back as numpy columns; the points of other series as lists of decoded values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from despina.store import RunRow, Segment, Tx, ancestry, decode_value

__all__ = [
    "FloatColumns",
    "Lineage",
    "ObjectColumns",
    "float_points",
    "lineage_of",
    "object_points",
]

# True: the run and every ancestor (lineage FULL); False: the run alone; "experiment": the run and
# its nearest ancestors of the same experiment (lineage NONE of an experiment, which is the hosted
# service's answer: an experiment's own history spans the runs it was continued through).
Lineage = bool | Literal["experiment"]


@dataclass
class FloatColumns:
    steps: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.int64]  # epoch ms
    preview: npt.NDArray[np.bool_]
    # 1.0 for committed points (what the hosted service answers), NaN for a preview sent
    # without a completion ratio
    completion: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.steps)

    def take(self, index: Any) -> FloatColumns:
        return FloatColumns(*(a[index] for a in self.arrays()))

    def arrays(self) -> tuple[Any, ...]:
        return self.steps, self.values, self.timestamps, self.preview, self.completion


@dataclass
class ObjectColumns:
    steps: list[float] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    preview: list[bool] = field(default_factory=list)
    completion: list[float | None] = field(default_factory=list)  # 1.0 for committed points


def _cap(hi: float | None, up_to: float) -> float:
    return up_to if hi is None else min(hi, up_to)


def lineage_of(tx: Tx, run: RunRow, lineage: Lineage) -> list[Segment]:
    """The segments ``lineage`` selects, the run first."""
    chain = ancestry(tx, run, lineage=lineage is not False)
    if lineage == "experiment":
        chain = list(takewhile(lambda s: s.run.experiment == run.experiment, chain))
    return chain


def _segments(tx: Tx, run: RunRow, lineage: Lineage) -> list[Segment]:
    return list(reversed(lineage_of(tx, run, lineage)))  # oldest ancestor first


def float_points(
    tx: Tx,
    run: RunRow,
    path: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lineage: Lineage = True,
    previews: bool = False,
    timestamps: bool = True,
) -> FloatColumns:
    """Committed points (and previews when asked) with ``lo <= step <= hi``, in step order."""
    parts: list[FloatColumns] = []
    for segment in _segments(tx, run, lineage):
        state = tx.series(segment.run.pk, [path]).get(path)
        if state is None or state.pk is None or state.type != "floatSeries":
            continue
        top = _cap(hi, segment.up_to)
        for chunk in tx.chunks(state.pk, lo, top, timestamps=timestamps):
            steps, values = np.frombuffer(chunk.steps), np.frombuffer(chunk.values)
            ts = (
                np.frombuffer(chunk.timestamps, dtype=np.int64)
                if timestamps
                else np.zeros(len(steps), dtype=np.int64)
            )
            keep = slice(
                int(np.searchsorted(steps, lo, "left")) if lo is not None else 0,
                int(np.searchsorted(steps, top, "right")),
            )
            n = len(steps[keep])
            parts.append(
                FloatColumns(
                    steps[keep], values[keep], ts[keep], np.zeros(n, dtype=bool), np.ones(n)
                )
            )
        if previews and state.has_preview:
            parts.append(_float_previews(tx, state.pk, lo, top))
    return _merge(parts, sort=previews)


def _float_previews(tx: Tx, series_pk: int, lo: float | None, hi: float) -> FloatColumns:
    found = tx.points(series_pk, lo, hi, is_preview=True)
    return FloatColumns(
        np.array([p.step for p in found], dtype=np.float64),
        np.array([float(decode_value(p.value)) for p in found], dtype=np.float64),
        np.array([p.ts for p in found], dtype=np.int64),
        np.ones(len(found), dtype=bool),
        np.array([np.nan if p.completion is None else p.completion for p in found]),
    )


def _merge(parts: list[FloatColumns], *, sort: bool) -> FloatColumns:
    if not parts:
        empty = np.empty(0)
        return FloatColumns(
            empty, empty, np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), empty
        )
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = FloatColumns(
            *(np.concatenate(c) for c in zip(*(p.arrays() for p in parts), strict=True))
        )
    if sort:
        merged = merged.take(np.argsort(merged.steps, kind="stable"))
    return merged


def object_points(
    tx: Tx,
    run: RunRow,
    path: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    lineage: Lineage = True,
    previews: bool = False,
) -> ObjectColumns:
    """Points of a string, histogram or file series, in step order."""
    out = ObjectColumns()
    for segment in _segments(tx, run, lineage):
        state = tx.series(segment.run.pk, [path]).get(path)
        if state is None or state.pk is None:
            continue
        found = tx.points(
            state.pk, lo, _cap(hi, segment.up_to), is_preview=None if previews else False
        )
        for p in found:
            out.steps.append(p.step)
            out.values.append(decode_value(p.value))
            out.timestamps.append(p.ts)
            out.preview.append(p.is_preview)
            out.completion.append(p.completion if p.is_preview else 1.0)
    return out
