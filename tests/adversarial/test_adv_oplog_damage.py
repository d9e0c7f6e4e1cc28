"""One bad byte in a run's operation log: the real ``Run`` writes 10,000 steps offline, one byte
is damaged, and the real ``despina sync`` (a subprocess) delivers into the embedded store.

Every intact record must arrive; the damaged one must not arrive as a wrong value; the report
names the count and the byte range lost; the exit status is 1 and the folder is kept until
``--skip-damaged`` accepts the loss."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support.oplog_damage import (
    damage_segment,
    despina_sync,
    expected_losses,
    record_span,
    stored_losses,
    write_offline_run,
)

RECORD = 5001  # record 5001 of the log holds step 5000 (record 0 is the create record)


def message_field_tag(folder: Path, k: int) -> int:
    """Offset of the first field tag inside record ``k``'s UpdateRunSnapshot."""
    start, end = record_span(folder, k)
    assert end - start < 128  # a one-byte length varint
    return start + 2


def value_byte(folder: Path, k: int) -> int:
    """Offset of a mantissa byte of the last double in record ``k`` (``loss`` or ``acc``)."""
    return record_span(folder, k)[1] - 3


DAMAGE = {
    # name: (offset of the byte in record RECORD, xor mask)
    "record kind byte": (lambda f: record_span(f, RECORD)[0], 0x40),
    "record kind byte zeroed": (lambda f: record_span(f, RECORD)[0], 0x0A),
    "length varint": (lambda f: record_span(f, RECORD)[0] + 1, 0x40),
    "field tag in the message": (lambda f: message_field_tag(f, RECORD), 0x08),
    "one bit of a double": (lambda f: value_byte(f, RECORD), 0x01),
}


@pytest.mark.parametrize("name", list(DAMAGE))
def test_one_damaged_record_loses_only_itself(tmp_path: Path, name: str) -> None:
    folder = write_offline_run(tmp_path)
    where, mask = DAMAGE[name]
    start, end = record_span(folder, RECORD)
    damage_segment(folder, where(folder), mask)

    result = despina_sync(tmp_path)
    assert result.returncode == 1, result.stderr
    assert stored_losses(tmp_path) == expected_losses({RECORD - 1})  # no wrong value either
    assert f"1 record(s) at bytes {start}..{end}" in result.stderr
    assert "--skip-damaged" in result.stderr
    assert folder.exists()
    lost = json.loads((folder / "damaged").read_text())["lost"]
    assert [entry[:3] for entry in lost] == [[start, end, 1]]

    again = despina_sync(tmp_path)  # nothing new to send; the loss is still reported
    assert again.returncode == 1 and f"bytes {start}..{end}" in again.stderr
    accepted = despina_sync(tmp_path, "--skip-damaged")
    assert accepted.returncode == 0, accepted.stderr
    assert "the loss of the damaged records was accepted" in accepted.stderr
    assert not folder.exists()
    assert stored_losses(tmp_path) == expected_losses({RECORD - 1})


def test_a_segment_cut_short_delivers_what_is_left(tmp_path: Path) -> None:
    folder = write_offline_run(tmp_path)
    start, _ = record_span(folder, RECORD)
    last_end = record_span(folder, 10_000)[1]
    with open(folder / "ops-00000000.log", "r+b") as f:
        f.truncate(start + 10)  # cut inside record 5001

    result = despina_sync(tmp_path)
    assert result.returncode == 1, result.stderr
    assert stored_losses(tmp_path) == expected_losses(set(range(RECORD - 1, 10_000)))
    assert f"5000 record(s) at bytes {start}..{last_end}" in result.stderr
    assert folder.exists()


def test_a_damaged_create_record_is_rewritten_from_meta(tmp_path: Path) -> None:
    folder = write_offline_run(tmp_path)
    damage_segment(folder, 3, 0x10)  # inside the create record (record 0)

    result = despina_sync(tmp_path)
    assert result.returncode == 0, result.stderr
    assert stored_losses(tmp_path) == expected_losses(set())
    assert "create record was damaged; rewritten from meta.json" in result.stderr
    assert not folder.exists()  # nothing was lost


@pytest.mark.parametrize("which", ["meta.json", "meta.copy.json"])
def test_one_damaged_copy_of_the_identity_is_enough(tmp_path: Path, which: str) -> None:
    folder = write_offline_run(tmp_path)
    meta = folder / which
    meta.write_bytes(meta.read_bytes().replace(b"adv/oplog", b"adv/oplpg"))  # crc catches it

    result = despina_sync(tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"{which} is damaged (checksum mismatch)" in result.stderr
    assert stored_losses(tmp_path) == expected_losses(set())


def test_both_copies_of_the_identity_damaged_is_refused_clearly(tmp_path: Path) -> None:
    folder = write_offline_run(tmp_path)
    for name in ("meta.json", "meta.copy.json"):
        (folder / name).write_bytes(b"{not json")
    result = despina_sync(tmp_path)
    assert result.returncode == 1
    assert "the run's identity is unreadable" in result.stderr
    assert folder.exists()
