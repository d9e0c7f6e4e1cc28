"""Conformance: attribute paths, value types and limits (protocol §7.2), tags, files."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from despina.store import Store, StoredFileNotFound, decode_value
from neptune_api.proto.neptune_pb.ingest.v1.ingest_pb2 import IngestCode as C
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from support.opbuild import PROJECT, FileRef, Hist, Snap, codes, create, update


@pytest.fixture
def run(store: Store) -> Store:
    store.apply([create("a")])
    return store


def attrs(store: Store, run_id: str = "a") -> dict[str, tuple[str, object]]:
    with store.engine.read() as tx:
        proj = tx.project(PROJECT)
        row = tx.run(proj.pk, run_id)  # type: ignore[union-attr]
        return {p: (t, decode_value(v)) for p, (t, v) in tx.attributes(row.pk).items()}  # type: ignore[union-attr]


def test_assigned_types_are_kept(run: Store) -> None:
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone.utc)
    values = {
        "f": 0.5,
        "i": 7,
        "b": True,
        "s": "text",
        "d": when,
        "set": {"x", "y"},
        "file": FileRef("a/b.txt", 12, "text/plain"),
        "nan": math.nan,
        "inf": math.inf,
    }
    assert run.apply([update("a", Snap(assign=values))]) == [()]
    stored = attrs(run)
    assert stored["f"] == ("float", 0.5) and stored["i"] == ("int", 7)
    assert stored["b"] == ("bool", True) and stored["s"] == ("string", "text")
    assert stored["d"] == ("datetime", int(when.timestamp() * 1000))
    assert stored["set"] == ("stringSet", ["x", "y"])
    assert stored["file"] == (
        "fileRef",
        {"path": "a/b.txt", "size_bytes": 12, "mime_type": "text/plain"},
    )
    assert math.isnan(stored["nan"][1]) and stored["inf"] == ("float", math.inf)  # type: ignore[arg-type]


def test_last_assignment_wins(run: Store) -> None:
    run.apply([update("a", Snap(assign={"x": 1.0}), Snap(assign={"x": 2.0}))])
    run.apply([update("a", Snap(assign={"x": 3.0}))])
    assert attrs(run)["x"] == ("float", 3.0)


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("", C.FIELD_PATH_EMPTY),
        ("p" * 1025, C.FIELD_PATH_EXCEEDS_SIZE_LIMIT),
        ("ü" * 513, C.FIELD_PATH_EXCEEDS_SIZE_LIMIT),  # 1026 UTF-8 bytes
        ("bad\x00path", C.FIELD_PATH_INVALID),
        ("sys/name", C.FIELD_PATH_NON_WRITABLE),
        ("sys/tags", C.FIELD_PATH_NON_WRITABLE),  # tags change through modify_sets only
    ],
)
def test_path_rules(run: Store, path: str, code: int) -> None:
    (issues,) = run.apply([update("a", Snap(assign={path: 1.0, "ok": 2.0}))])
    assert codes(issues) == {code: 1}
    assert issues[0].path == path and issues[0].message
    assert attrs(run)["ok"] == ("float", 2.0)  # the rest of the snapshot is kept


def test_path_of_exactly_1024_bytes_is_fine(run: Store) -> None:
    assert run.apply([update("a", Snap(assign={"p" * 1024: 1.0}))]) == [()]


def test_type_is_fixed_once_set(run: Store) -> None:
    run.apply([update("a", Snap(assign={"x": 1.0}))])
    (issues,) = run.apply(
        [update("a", Snap(assign={"x": "text"}), Snap(step=1, append={"x": 2.0}))]
    )
    assert codes(issues) == {C.FIELD_TYPE_CONFLICTING: 2}
    assert "float" in issues[0].message
    assert attrs(run)["x"] == ("float", 1.0)


def test_type_conflict_within_one_update_follows_arrival_order(run: Store) -> None:
    (issues,) = run.apply(
        [update("a", Snap(step=1, append={"m": 1.0}), Snap(assign={"m": "late"}))]
    )
    assert codes(issues) == {C.FIELD_TYPE_CONFLICTING: 1}
    assert "m" not in attrs(run)


def test_unsupported_types(run: Store) -> None:
    hist = Hist([0.0, 1.0], counts=[3])
    (issues,) = run.apply(
        [update("a", Snap(step=1, assign={"h": hist, "none": None}, append={"b": True}))]
    )
    assert codes(issues) == {C.FIELD_TYPE_UNSUPPORTED: 3}


def test_string_limits(run: Store) -> None:
    ok, too_long = "x" * 65536, "x" * 65537
    (issues,) = run.apply([update("a", Snap(assign={"ok": ok, "long": too_long}))])
    assert codes(issues) == {C.STRING_VALUE_EXCEEDS_SIZE_LIMIT: 1}
    assert "65536" in issues[0].message
    line = "y" * (1024 * 1024)  # a string series point may be as long as a console line
    assert run.apply([update("a", Snap(step=1, append={"log": line}))]) == [()]
    (issues,) = run.apply([update("a", Snap(step=2, append={"log": line + "y"}))])
    assert codes(issues) == {C.STRING_VALUE_EXCEEDS_SIZE_LIMIT: 1}


def test_string_set_limit(run: Store) -> None:
    big = {f"{i:06d}" + "t" * 1000 for i in range(70)}  # ~70 KB
    (issues,) = run.apply([update("a", Snap(assign={"set": big}), Snap(add={"sys/tags": big}))])
    assert codes(issues) == {C.STRING_SET_EXCEEDS_SIZE_LIMIT: 71}


def test_file_ref_limit(run: Store) -> None:
    (issues,) = run.apply([update("a", Snap(assign={"f": FileRef("p" * 4097)}))])
    assert codes(issues) == {C.FILE_REF_EXCEEDS_SIZE_LIMIT: 1}


def test_datetime_out_of_range(run: Store) -> None:
    op = update("a", Snap(assign={"ok": 1.0}))
    op.update_batch.snapshots[0].assign["d"].timestamp.seconds = 253_402_300_800  # year 10000
    (issues,) = run.apply([op])
    assert codes(issues) == {C.DATETIME_VALUE_OUT_OF_RANGE: 1}


@pytest.mark.parametrize(
    ("hist", "code"),
    [
        (Hist([float(i) for i in range(514)], counts=[1] * 513), C.HISTOGRAM_TOO_MANY_BINS),
        (Hist([0.0, math.nan, 2.0], counts=[1, 1]), C.HISTOGRAM_BIN_EDGES_CONTAINS_NAN),
        (Hist([0.0, 2.0, 1.0], counts=[1, 1]), C.HISTOGRAM_BIN_EDGES_NOT_INCREASING),
        (Hist([0.0, 1.0, 2.0], counts=[1]), C.HISTOGRAM_VALUES_LENGTH_DOESNT_MATCH_BINS),
    ],
)
def test_histogram_rules(run: Store, hist: Hist, code: int) -> None:
    (issues,) = run.apply([update("a", Snap(step=1, append={"h": hist}))])
    assert codes(issues) == {code: 1}


def test_histogram_of_513_edges_is_stored(run: Store) -> None:
    edges = [float(i) for i in range(513)]
    assert run.apply(
        [update("a", Snap(step=1, append={"h": Hist(edges, densities=[0.5] * 512)}))]
    ) == [()]
    with run.engine.read() as tx:
        state = tx.series(1)["h"]
        (point,) = tx.points(state.pk, None, None)  # type: ignore[arg-type]
    assert decode_value(point.value)["edges"] == edges and state.type == "histogramSeries"


def test_tags_add_and_remove(run: Store) -> None:
    run.apply([update("a", Snap(add={"sys/tags": ["a", "b", "c"], "sys/group_tags": ["g"]}))])
    run.apply([update("a", Snap(remove={"sys/tags": ["b", "missing"]}))])
    stored = attrs(run)
    assert stored["sys/tags"] == ("stringSet", ["a", "c"])
    assert stored["sys/group_tags"] == ("stringSet", ["g"])


def test_files_round_trip_and_destinations(store: Store, tmp_path) -> None:  # type: ignore[no-untyped-def]
    etag = store.put_file(PROJECT, "run/files/blob.bin", b"\x00\x01data")
    assert len(etag) == 32
    with store.open_file(PROJECT, "run/files/blob.bin") as f:
        assert f.read() == b"\x00\x01data"
    source = tmp_path / "src.txt"
    source.write_text("hello")
    store.put_file(PROJECT, "x/src.txt", source)
    with store.open_file(PROJECT, "x/src.txt") as f:
        assert f.read() == b"hello"
    for bad in ("", "../outside", "/abs/path", "a/../../b", "x" * 1025):
        with pytest.raises(ValueError, match="destination"):
            store.put_file(PROJECT, bad, b"x")
    with pytest.raises(StoredFileNotFound):
        store.open_file(PROJECT, "never/stored")


def test_unparsable_step_free_series_point_is_invalid(run: Store) -> None:
    (issues,) = run.apply([update("a", Snap(step=None, append={"m": 1.0, "s": "x"}))])
    assert codes(issues) == {C.SERIES_STEP_INVALID: 2}


def test_create_missing_project_flag_is_harmless(store: Store) -> None:
    op = create("a")
    op.create_missing_project = True
    assert store.apply([op]) == [()]
    assert isinstance(op, ingest_pb2.RunOperation)
