"""Conformance: float chunks are stored compactly and come back bit for bit, on every engine;
chunks an older despina stored raw stay readable and ``compact`` rewrites them."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from despina.cli import main
from despina.store import Store, open_store
from despina.store import _codec as codec
from hypothesis import given, settings
from hypothesis import strategies as st
from support.opbuild import T0, Snap, create, float_points, update

SPECIAL = [
    math.nan,
    -math.nan,
    math.inf,
    -math.inf,
    0.0,
    -0.0,
    5e-324,  # the smallest subnormal
    -2.2250738585072e-308,  # a subnormal near the normal range
    1.7976931348623157e308,
    0.1,
]
NAN_PAYLOAD = np.array([0x7FF8_0000_0000_0123, 0xFFF0_0000_0000_0001], dtype=np.uint64)


def _bits(raw: bytes) -> list[int]:
    return np.frombuffer(raw, dtype="<u8").tolist()


float_bits = st.integers(min_value=0, max_value=2**64 - 1)
special = st.sampled_from(SPECIAL)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.one_of(float_bits.map(lambda b: float(np.uint64(b).view(np.float64))), special),
        min_size=1,
        max_size=1500,
    ),
)
def test_values_round_trip_bit_exactly(items: list[float]) -> None:
    values = np.array(items, dtype=np.float64)
    values = np.concatenate([values, NAN_PAYLOAD.view(np.float64)])
    stored = codec.encode_values(values)
    assert _bits(codec.decode_floats(stored, len(values))) == values.view(np.uint64).tolist()


@settings(max_examples=60, deadline=None)
@given(
    st.floats(min_value=-1e9, max_value=1e9, allow_nan=False),
    st.lists(st.sampled_from([0.1, 0.25, 1.0, 3.0, 1e-6, 7.3]), min_size=1, max_size=1500),
)
def test_steps_round_trip_bit_exactly(first: float, increments: list[float]) -> None:
    steps = first + np.cumsum(np.array(increments))  # decimal steps, as float sums make them
    stored = codec.encode_steps(steps)
    assert _bits(codec.decode_floats(stored, len(steps))) == steps.view(np.uint64).tolist()


@pytest.mark.parametrize("first", [0.0, -5.0, 2.0**52, -0.0])
def test_consecutive_integer_steps_take_nine_bytes(first: float) -> None:
    steps = first + np.arange(1024, dtype=np.float64)
    stored = codec.encode_steps(steps)
    assert len(stored) == 9
    assert _bits(codec.decode_floats(stored, 1024)) == steps.view(np.uint64).tolist()


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=-(2**62), max_value=2**62),
    st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=1500),
)
def test_timestamps_round_trip(first: int, gaps: list[int]) -> None:
    ts = first + np.cumsum(np.array(gaps, dtype=np.int64))
    stored = codec.encode_timestamps(ts)
    assert np.frombuffer(codec.decode_ints(stored, len(ts)), dtype="<i8").tolist() == ts.tolist()


def test_incompressible_arrays_stay_raw_and_raw_is_never_misread() -> None:
    # Random bits do not compress: the array is kept raw (exactly 8 bytes per item), which is
    # how a reader tells raw from encoded.
    rng = np.random.default_rng(7)
    values = rng.integers(0, 2**64, 512, dtype=np.uint64, endpoint=False).view(np.float64)
    stored = codec.encode_values(values)
    assert len(stored) == 8 * len(values) and codec.is_raw(stored, len(values))
    assert _bits(codec.decode_floats(stored, 512)) == values.view(np.uint64).tolist()


def _awkward_series(n: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    steps = np.round(np.cumsum(rng.integers(1, 4, n)) * 0.1, 1)  # decimal steps
    values = rng.normal(0, 1, n)
    values[::97] = math.nan
    values[5::101] = math.inf
    values[7::103] = -math.inf
    values[11::107] = -0.0
    values[13::109] = 5e-324
    return steps, values


def _log(store: Store, run: str, steps: np.ndarray, values: np.ndarray) -> None:
    store.apply([create(run)])
    for start in range(0, len(steps), 1000):  # a few batches, as the client sends them
        snaps = [
            Snap(step=float(steps[i]), ts=T0 + i * 0.001, append={"x": float(values[i])})
            for i in range(start, min(start + 1000, len(steps)))
        ]
        assert store.apply([update(run, *snaps)]) == [()]


def test_chunks_are_stored_compactly_and_read_back_bit_exactly(store: Store) -> None:
    steps, values = _awkward_series(5000)
    _log(store, "a", steps, values)
    with store.engine.read() as tx:
        stored = tx.stored_chunk_bytes()
    assert stored < 5000 * 24 / 2, stored  # raw would be 24 bytes per point
    points = float_points(store, "a", "x")
    assert points[:, 0].tolist() == steps.tolist()
    assert points[:, 1].view(np.uint64).tolist() == values.view(np.uint64).tolist()


def test_raw_chunks_of_an_older_store_are_read_and_compacted(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps, values = _awkward_series(3000)
    with monkeypatch.context() as old_despina:  # chunks written as before the codec existed
        old_despina.setattr(codec, "ENCODE_FROM_POINTS", 10**9)
        _log(store, "a", steps, values)
    with store.engine.read() as tx:
        assert tx.stored_chunk_bytes() == 3000 * 24
    assert float_points(store, "a", "x")[:, 1].view(np.uint64).tolist() == _bits(values.tobytes())
    _log(store, "b", steps, values)  # new data next to old: both read back

    seen: list[int] = []
    report = store.compact(progress=seen.append)
    assert report.chunks == sum(seen) == 3  # a's chunks; b's were compact already
    assert report.bytes_after < report.bytes_before - 3000 * 24 / 2
    for run in ("a", "b"):
        points = float_points(store, run, "x")
        assert points[:, 0].tolist() == steps.tolist()
        assert points[:, 1].view(np.uint64).tolist() == values.view(np.uint64).tolist()
    assert store.compact().chunks == 0


def test_compact_command_shrinks_an_older_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from despina.store._engines import sqlite

    folder = tmp_path / "store"
    rng = np.random.default_rng(1)
    values = rng.normal(0, 1, 100_000)
    with monkeypatch.context() as old_despina:
        old_despina.setattr(codec, "ENCODE_FROM_POINTS", 10**9)
        old_despina.setattr(sqlite, "PAGE_SIZE_BYTES", 16_384)  # as stores were created then
        with open_store(folder) as store:
            _log(store, "a", np.arange(100_000.0), values)
    database = folder / "despina.sqlite3"
    before = database.stat().st_size
    assert main(["compact", "--store", str(folder)]) == 0
    assert "compacted 100 float chunks" in capsys.readouterr().out
    assert database.stat().st_size < before * 0.6
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == sqlite.PAGE_SIZE_BYTES
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with open_store(folder, create=False) as store:
        assert float_points(store, "a", "x")[:, 1].tolist() == values.tolist()
    assert main(["compact", "--store", str(folder)]) == 0
    assert "nothing to compact" in capsys.readouterr().out


def test_compact_beside_an_open_store_keeps_its_page_size_and_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from despina.store._engines import sqlite

    folder = tmp_path / "store"
    steps, values = _awkward_series(3000)
    with monkeypatch.context() as old_despina:
        old_despina.setattr(codec, "ENCODE_FROM_POINTS", 10**9)
        old_despina.setattr(sqlite, "PAGE_SIZE_BYTES", 16_384)
        with open_store(folder) as store:
            _log(store, "a", steps, values)
    with open_store(folder) as server, open_store(folder, create=False) as other:
        assert float_points(server, "a", "x").shape == (3000, 2)  # its connection stays open
        report = other.compact()
        assert report.chunks == 3 and report.reclaimed
        _log(server, "b", steps, values)  # writers go on after the rewrite
        for run in ("a", "b"):
            got = float_points(other, run, "x")[:, 1]
            assert got.view(np.uint64).tolist() == values.view(np.uint64).tolist()
    with sqlite3.connect(folder / "despina.sqlite3") as conn:
        assert conn.execute("PRAGMA page_size").fetchone()[0] == 16_384
