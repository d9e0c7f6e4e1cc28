"""The vectorized decoder agrees with the general one on every batch it accepts."""

from __future__ import annotations

import math

import numpy as np
import pytest
from despina.store._decode import _Batch, _decode_snapshots, decode_update
from despina.store._fastdecode import decode_uniform
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from support.opbuild import PROJECT, Snap, update


def general(op: ingest_pb2.RunOperation):  # type: ignore[no-untyped-def]
    batch = _Batch()
    batch.ParseFromString(op.update_batch.SerializeToString())
    return _decode_snapshots(batch.snapshots)  # type: ignore[attr-defined]


def as_dict(decoded) -> dict[str, tuple[list[int], list[float]]]:  # type: ignore[no-untyped-def]
    return {g.path: (g.snapshots.tolist(), g.values.tolist()) for g in decoded.floats}


def same(a: list[float], b: list[float]) -> bool:
    return all(x == y or (math.isnan(x) and math.isnan(y)) for x, y in zip(a, b, strict=True))


def random_batch(seed: int) -> ingest_pb2.RunOperation:
    rng = np.random.default_rng(seed)
    keys = ["loss", "ü/acc", "k" * 200, "x"]  # a non-ASCII key, a key longer than 127 bytes
    snaps = []
    for i in range(int(rng.integers(1, 300))):
        step = float(rng.choice([i, i * 1000 + 0.5, 2**40 + i, 0]))
        ts = 1.7e9 + i + float(rng.choice([0, 0.000001, 0.5, 0.999]))  # nanos of every width
        value = float(rng.choice([rng.normal(), math.nan, math.inf, -0.0, 1e300]))
        snaps.append(Snap(step=step, ts=ts, append={k: value * j for j, k in enumerate(keys)}))
    return update("r", *snaps, project=PROJECT)


@pytest.mark.parametrize("seed", range(12))
def test_uniform_batches_decode_like_the_general_path(seed: int) -> None:
    op = random_batch(seed)
    fast = decode_uniform(op.update_batch.SerializeToString())
    assert fast is not None
    slow = general(op)
    assert np.array_equal(fast.steps, slow.steps) and np.array_equal(fast.has_step, slow.has_step)
    assert np.array_equal(fast.timestamps, slow.timestamps)
    assert set(fast.floats) == {g.path for g in slow.floats}
    for path, (index, values) in fast.floats.items():
        expected = as_dict(slow)[path]
        assert index.tolist() == expected[0] and same(values.tolist(), expected[1])


@pytest.mark.parametrize(
    "snaps",
    [
        [Snap(step=1, append={"m": 1.0}), Snap(step=2, assign={"c": 1.0}, append={"m": 2.0})],
        [Snap(step=1, append={"m": 1.0}), Snap(step=2, append={"m": "text"})],
        [Snap(step=1, append={"m": 1.0}, preview=True)],
        [Snap(step=1, append={"m": 1.0}), Snap(step=2, add={"sys/tags": ["t"]})],
        [Snap(step=1, append={"m": 1}), Snap(step=2, append={"m": 2})],  # int64 values
    ],
)
def test_other_batches_take_the_general_path(snaps: list[Snap]) -> None:
    op = update("r", *snaps, project=PROJECT)
    assert decode_uniform(op.update_batch.SerializeToString()) is None
    decoded = decode_update(op)
    assert as_dict(decoded) == as_dict(general(op))


@pytest.mark.parametrize(("first", "second"), [(2.0, 3.0), (1.0, 2.0)])
def test_same_length_different_keys_are_not_confused(first: float, second: float) -> None:
    op = update(
        "r",
        Snap(step=1, append={"ab": first}),
        Snap(step=2, append={"cd": second}),
        project=PROJECT,
    )
    expected = {"ab": ([0], [first]), "cd": ([1], [second])}
    fast = decode_uniform(op.update_batch.SerializeToString())
    if fast is not None:  # rows told apart by their shape: each decoded with its own layout
        assert {p: (i.tolist(), v.tolist()) for p, (i, v) in fast.floats.items()} == expected
    else:  # same shape, other key bytes: the template check refuses
        assert (first, second) == (2.0, 3.0)
    assert as_dict(decode_update(op)) == expected


def test_empty_key_reaches_the_rules(store) -> None:  # type: ignore[no-untyped-def]
    from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode
    from support.opbuild import codes, create

    op = update("r", Snap(step=1, append={"": 1.0, "ok": 2.0}), project=PROJECT)
    assert set(as_dict(decode_update(op))) == {"", "ok"}
    (_, issues) = store.apply([create("r"), op])
    assert codes(issues) == {IngestCode.FIELD_PATH_EMPTY: 1}
