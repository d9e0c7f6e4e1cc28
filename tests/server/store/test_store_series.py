"""Conformance: series rules (steps, duplicates, timestamps, fork point, previews) and storage."""

from __future__ import annotations

import math

import numpy as np
from despina.store import Store, decode_value
from despina.store._series import CHUNK_MAX_POINTS, CHUNK_MERGE_BELOW
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode as C
from support.opbuild import T0, Snap, codes, create, float_points, metrics, update


def test_replayed_batch_is_a_duplicate_warning_and_stored_once(store: Store) -> None:
    batch = metrics("a", {"loss": np.arange(50) * 0.5, "acc": np.arange(50) * 0.1})
    assert store.apply([create("a"), batch]) == [(), ()]
    (issues,) = store.apply([batch])
    assert codes(issues) == {C.SERIES_POINT_DUPLICATE: 100}
    assert float_points(store, "a", "loss")[:, 1].tolist() == (np.arange(50) * 0.5).tolist()


def test_replay_after_more_points_and_across_chunks(store: Store) -> None:
    first = metrics("a", {"x": np.arange(5000.0)})
    store.apply([create("a"), first, metrics("a", {"x": np.arange(5000.0, 6000.0)}, start=5000)])
    (issues,) = store.apply([first])
    assert codes(issues) == {C.SERIES_POINT_DUPLICATE: 5000}
    points = float_points(store, "a", "x")
    assert len(points) == 6000 and points[:, 0].tolist() == list(range(6000))


def test_same_step_other_value_is_non_increasing(store: Store) -> None:
    store.apply([create("a"), metrics("a", {"x": [1.0, 2.0]})])
    (issues,) = store.apply([update("a", Snap(step=1, ts=T0 + 5, append={"x": 9.0}))])
    assert codes(issues) == {C.SERIES_STEP_NON_INCREASING: 1}
    (issues,) = store.apply([update("a", Snap(step=0.5, ts=T0 + 5, append={"x": 9.0}))])
    assert codes(issues) == {C.SERIES_STEP_NON_INCREASING: 1}
    assert float_points(store, "a", "x")[:, 1].tolist() == [1.0, 2.0]


def test_steps_increase_per_series_not_per_run(store: Store) -> None:
    store.apply([create("a"), metrics("a", {"x": [1.0, 2.0, 3.0]})])
    assert store.apply([update("a", Snap(step=0, ts=T0 + 9, append={"y": 1.0}))]) == [()]


def test_non_increasing_points_inside_one_batch(store: Store) -> None:
    store.apply([create("a")])
    snaps = [
        Snap(step=s, ts=T0 + i, append={"x": float(i)}) for i, s in enumerate([1, 2, 2, 1.5, 3])
    ]
    (issues,) = store.apply([update("a", *snaps)])
    assert codes(issues) == {C.SERIES_STEP_NON_INCREASING: 2}
    assert float_points(store, "a", "x").tolist() == [[1, 0.0], [2, 1.0], [3, 4.0]]


def test_timestamps_may_repeat_but_not_decrease(store: Store) -> None:
    store.apply([create("a")])
    snaps = [
        Snap(step=1, ts=T0 + 10, append={"x": 1.0}),
        Snap(step=2, ts=T0 + 10, append={"x": 2.0}),
        Snap(step=3, ts=T0 + 5, append={"x": 3.0}),
        Snap(step=4, ts=T0 + 11, append={"x": 4.0}),
    ]
    (issues,) = store.apply([update("a", *snaps)])
    assert codes(issues) == {C.SERIES_TIMESTAMP_DECREASING: 1}
    assert float_points(store, "a", "x")[:, 0].tolist() == [1, 2, 4]


def test_step_limits(store: Store) -> None:
    store.apply([create("a")])
    snaps = [Snap(step=1e12, append={"x": 1.0}), Snap(step=999_999_999_999, append={"x": 2.0})]
    (issues,) = store.apply([update("a", *snaps)])
    assert codes(issues) == {C.SERIES_STEP_TOO_LARGE: 1}
    assert float_points(store, "a", "x")[:, 1].tolist() == [2.0]


def test_fractional_steps(store: Store) -> None:
    store.apply([create("a")])
    snaps = [Snap(step=s, append={"x": s}) for s in (0.000001, 0.5, 7.654321)]
    assert store.apply([update("a", *snaps)]) == [()]
    assert float_points(store, "a", "x")[:, 0].tolist() == [0.000001, 0.5, 7.654321]


def test_nan_and_infinities_are_stored(store: Store) -> None:
    store.apply([create("a")])
    assert store.apply([metrics("a", {"x": [math.nan, math.inf, -math.inf, 1.0]})]) == [()]
    values = float_points(store, "a", "x")[:, 1]
    assert math.isnan(values[0]) and values[1:].tolist() == [math.inf, -math.inf, 1.0]
    (issues,) = store.apply([metrics("a", {"x": [math.nan]})])  # a replayed NaN is a duplicate
    assert codes(issues) == {C.SERIES_POINT_DUPLICATE: 1}
    with store.engine.read() as tx:
        state = tx.series(1)["x"]
    assert (state.count, state.finite_count, state.vmin, state.vmax) == (4, 1, 1.0, 1.0)


def test_fork_step_rule(store: Store) -> None:
    store.apply([create("p"), metrics("p", {"x": range(10)}), create("c", fork="p", fork_step=4)])
    (issues,) = store.apply([metrics("c", {"x": [1.0, 2.0]}, start=4)])
    assert codes(issues) == {C.SERIES_STEP_NOT_AFTER_FORK_POINT: 1}
    assert float_points(store, "c", "x").tolist() == [[5, 2.0]]


def test_previews(store: Store) -> None:
    store.apply([create("a"), metrics("a", {"x": [1.0, 2.0]})])  # steps 0, 1
    preview = [
        Snap(step=3, ts=T0 + 3, append={"x": 0.3}, preview=True, completion=0.5),
        Snap(step=3, ts=T0 + 3, append={"x": 0.4}, preview=True, completion=0.9),
        Snap(step=1, ts=T0 + 3, append={"x": 0.1}, preview=True),
    ]
    (issues,) = store.apply([update("a", *preview)])
    assert codes(issues) == {C.SERIES_PREVIEW_STEP_NOT_AFTER_LAST_COMMITTED_STEP: 1}
    with store.engine.read() as tx:
        state = tx.series(1)["x"]
        (p,) = tx.points(state.pk, None, None, is_preview=True)  # type: ignore[arg-type]
    assert (p.step, decode_value(p.value), p.completion) == (3.0, 0.4, np.float32(0.9))
    assert state.has_preview and state.last_step == 1.0
    assert store.apply([update("a", Snap(step=3, ts=T0 + 4, append={"x": 0.5}))]) == [()]
    with store.engine.read() as tx:
        state = tx.series(1)["x"]
        assert tx.points(state.pk, None, None, is_preview=True) == []  # type: ignore[arg-type]
    assert not state.has_preview
    assert float_points(store, "a", "x")[:, 1].tolist() == [1.0, 2.0, 0.5]


def test_string_series_rules(store: Store) -> None:
    store.apply([create("a")])
    snaps = [Snap(step=s, ts=T0 + s, append={"log": f"line {s}"}) for s in (1, 2, 3)]
    assert store.apply([update("a", *snaps)]) == [()]
    (issues,) = store.apply([update("a", *snaps, Snap(step=2.5, ts=T0 + 9, append={"log": "x"}))])
    assert codes(issues) == {C.SERIES_POINT_DUPLICATE: 3, C.SERIES_STEP_NON_INCREASING: 1}
    with store.engine.read() as tx:
        state = tx.series(1)["log"]
        texts = [decode_value(p.value) for p in tx.points(state.pk, None, None)]  # type: ignore[arg-type]
    assert texts == ["line 1", "line 2", "line 3"]


def test_small_batches_are_packed_into_chunks(store: Store) -> None:
    store.apply([create("a")])
    for start in range(0, 3000, 100):
        store.apply([metrics("a", {"x": np.arange(start, start + 100.0)}, start=start)])
    with store.engine.read() as tx:
        state = tx.series(1)["x"]
        chunks = tx.chunk_summaries(state.pk, None, None)  # type: ignore[arg-type]
    assert sum(c.count for c in chunks) == 3000
    assert len(chunks) <= 3000 // CHUNK_MERGE_BELOW  # merged, not one chunk per apply
    points = float_points(store, "a", "x")
    assert np.array_equal(points[:, 0], np.arange(3000.0)) and np.array_equal(
        points[:, 1], points[:, 0]
    )
    assert (state.count, state.vmin, state.vmax, state.vsum) == (
        3000,
        0.0,
        2999.0,
        float(sum(range(3000))),
    )


def test_large_batch_is_split_into_bounded_chunks(store: Store) -> None:
    store.apply([create("a"), metrics("a", {"x": np.arange(10_000.0)})])
    with store.engine.read() as tx:
        chunks = tx.chunk_summaries(tx.series(1)["x"].pk, None, None)  # type: ignore[arg-type]
    full, rest = divmod(10_000, CHUNK_MAX_POINTS)
    assert [c.count for c in chunks] == [CHUNK_MAX_POINTS] * full + [rest]
    assert (chunks[1].first_step, chunks[1].last_step) == (
        CHUNK_MAX_POINTS,
        2 * CHUNK_MAX_POINTS - 1,
    )
    assert chunks[0].first_fvalue == 0.0 and chunks[-1].last_fvalue == 9999.0
