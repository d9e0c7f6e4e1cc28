"""Reading series points, with fork lineage: ancestors' points up to the fork step, then the run's.

Float points come back as numpy columns; the points of other series as lists of decoded values.
Every read takes the lineage ``chain`` (``despina.store.ancestry``: the run first, then its
ancestors, each capped at its fork step) so one lineage read serves a whole request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from despina.store import Segment, Tx, decode_value

__all__ = ["FloatPoints", "ObjectPoints", "float_points", "object_points", "readable_ms"]

# The epoch-ms range readers can show as a time: what numpy's (and pandas') datetime64[ns]
# holds. The store refuses other times at ingest, but a store written by an older version may
# hold them: such a point keeps its value, its time is unknown (NaN / NaT).
MIN_READABLE_MS = (np.iinfo(np.int64).min + 1) // 1_000_000 + 1
MAX_READABLE_MS = np.iinfo(np.int64).max // 1_000_000


@dataclass
class FloatPoints:
    """One float series' points in step order (lineage included), as numpy columns."""

    steps: npt.NDArray[np.float64]
    values: npt.NDArray[np.float64]
    timestamps: npt.NDArray[np.int64]  # epoch ms
    preview: npt.NDArray[np.bool_]
    # 1.0 for committed points (what the hosted service answers), NaN for a preview sent
    # without a completion ratio
    completion: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.steps)

    def take(self, index: Any) -> FloatPoints:
        return FloatPoints(*(a[index] for a in self.arrays()))

    def tail(self, limit: int | None) -> FloatPoints:
        """The last ``limit`` points (all of them for None)."""
        return self if limit is None else self.take(slice(max(len(self) - limit, 0), None))

    @classmethod
    def empty(cls) -> FloatPoints:
        none = np.empty(0)
        return cls(none, none, np.empty(0, dtype=np.int64), np.empty(0, dtype=bool), none)

    def arrays(self) -> tuple[Any, ...]:
        return self.steps, self.values, self.timestamps, self.preview, self.completion


@dataclass
class ObjectPoints:
    """Points of a string, histogram or file series in step order, values decoded."""

    steps: list[float] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    timestamps: list[int] = field(default_factory=list)
    preview: list[bool] = field(default_factory=list)
    completion: list[float | None] = field(default_factory=list)  # 1.0 for committed points

    def __len__(self) -> int:
        return len(self.steps)

    def tail(self, limit: int | None) -> ObjectPoints:
        """The last ``limit`` points (all of them for None; none for 0)."""
        if limit is None:
            return self
        keep = slice(max(len(self.steps) - limit, 0), None) if limit else slice(0, 0)
        return ObjectPoints(
            self.steps[keep],
            self.values[keep],
            self.timestamps[keep],
            self.preview[keep],
            self.completion[keep],
        )


def readable_ms(timestamps: Any) -> npt.NDArray[np.float64]:
    """Epoch ms as floats, NaN where a time cannot be shown (see ``MIN_READABLE_MS``)."""
    ms = np.asarray(timestamps, dtype=np.int64)
    shown = (ms >= MIN_READABLE_MS) & (ms <= MAX_READABLE_MS)
    return np.where(shown, ms.astype(np.float64), np.nan)


def _cap(hi: float | None, up_to: float) -> float:
    return up_to if hi is None else min(hi, up_to)


def float_points(
    tx: Tx,
    chain: list[Segment],
    path: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    previews: bool = False,
    timestamps: bool = True,
) -> FloatPoints:
    """Committed points (and previews when asked) with ``lo <= step <= hi``, in step order."""
    parts: list[FloatPoints] = []
    for segment in reversed(chain):  # oldest ancestor first
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
                FloatPoints(
                    steps[keep], values[keep], ts[keep], np.zeros(n, dtype=bool), np.ones(n)
                )
            )
        if previews and state.has_preview:
            parts.append(_float_previews(tx, state.pk, lo, top))
    return _merge(parts, sort=previews)


def _float_previews(tx: Tx, series_pk: int, lo: float | None, hi: float) -> FloatPoints:
    found = tx.points(series_pk, lo, hi, is_preview=True)
    return FloatPoints(
        np.array([p.step for p in found], dtype=np.float64),
        np.array([float(decode_value(p.value)) for p in found], dtype=np.float64),
        np.array([p.ts for p in found], dtype=np.int64),
        np.ones(len(found), dtype=bool),
        np.array([np.nan if p.completion is None else p.completion for p in found]),
    )


def _merge(parts: list[FloatPoints], *, sort: bool) -> FloatPoints:
    if not parts:
        return FloatPoints.empty()
    if len(parts) == 1:
        merged = parts[0]
    else:
        merged = FloatPoints(
            *(np.concatenate(c) for c in zip(*(p.arrays() for p in parts), strict=True))
        )
    if sort:
        merged = merged.take(np.argsort(merged.steps, kind="stable"))
    return merged


def object_points(
    tx: Tx,
    chain: list[Segment],
    path: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    previews: bool = False,
) -> ObjectPoints:
    """Points of a string, histogram or file series, in step order."""
    out = ObjectPoints()
    for segment in reversed(chain):  # oldest ancestor first
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
