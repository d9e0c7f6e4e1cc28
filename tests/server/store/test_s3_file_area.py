"""The S3 file area against moto's standalone S3 server over HTTP (issue 20), and the local one."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path

import httpx
import pytest
from despina.store import LocalFiles, StoredFileNotFound, open_file_area
from s3_server import S3Server, s3_bucket

LONG_ASCII = "a" * 800  # the protocol's longest destination, one 800-byte segment
LONG_WIDE = "d/" + "é" * 400 + "/" + "汉" * 397  # 800 characters, ~2 KiB of UTF-8


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Server]:
    with s3_bucket(monkeypatch) as server:
        yield server


def test_s3_area_stores_streams_and_signs_one_object(s3: S3Server, tmp_path: Path) -> None:
    area = open_file_area(s3.files_url("team-store"))
    assert area.describe() == f"s3://{s3.bucket}/team-store"
    area.check()
    source = tmp_path / "src.bin"
    source.write_bytes(b"from a path")
    cases = {
        "run/a.bin": b"from bytes",
        "run/b.bin": source,
        "run/c.bin": io.BytesIO(b"from a stream"),
        "run/empty.bin": b"",
        LONG_ASCII: b"long",
        LONG_WIDE: b"wide",
    }
    for destination, data in cases.items():
        expected = data.read_bytes() if isinstance(data, Path) else data
        if isinstance(expected, io.BytesIO):
            expected = expected.getvalue()
        etag = area.put("ws/proj", destination, data)
        assert etag == hashlib.md5(expected, usedforsecurity=False).hexdigest()
        with area.open("ws/proj", destination) as handle:
            assert handle.read() == expected
    with pytest.raises(StoredFileNotFound):
        area.open("ws/proj", "run/missing.bin")
    with pytest.raises(StoredFileNotFound):
        area.open("ws/other", "run/a.bin")  # objects are per project
    for bad in ("a" * 1025, "../escape", "/abs", ""):
        with pytest.raises(ValueError, match="destination"):
            area.put("ws/proj", bad, b"x")

    # the signed URLs are the store's own, for one object, and expire
    get_url = area.signed_url("ws/proj", "run/a.bin", "read", 60)
    assert get_url is not None and get_url.startswith(s3.endpoint) and "Expires=60" in get_url
    assert httpx.get(get_url).content == b"from bytes"
    # moto does not check signatures; what S3 checks is that the signature covers this key
    assert httpx.URL(get_url).path == f"/{s3.bucket}/team-store/ws/proj/run/a.bin"
    assert "X-Amz-SignedHeaders=host" in get_url and "X-Amz-Signature=" in get_url
    put_url = area.signed_url("ws/proj", "run/new.bin", "write", 60)
    assert put_url is not None
    put = httpx.put(put_url, content=b"new", headers={"Content-Type": "text/plain"})
    assert put.status_code == 200 and put.headers["etag"].strip('"')
    with area.open("ws/proj", "run/new.bin") as handle:
        assert handle.read() == b"new"


def test_a_missing_bucket_is_an_os_error(s3: S3Server) -> None:
    area = open_file_area(f"s3://{s3.bucket}-missing/x")
    with pytest.raises(OSError, match="cannot reach"):
        area.check()
    with pytest.raises(ValueError, match="s3://bucket"):
        open_file_area("s3:///no-bucket")


def test_local_area_keeps_short_names_and_maps_long_ones(tmp_path: Path) -> None:
    area = LocalFiles(tmp_path)
    assert area.signed_url("ws/p", "x", "read", 60) is None  # the server signs its own
    area.put("ws/p", "run/short.bin", b"s")
    assert (tmp_path / "ws" / "p" / "run" / "short.bin").read_bytes() == b"s"  # as before
    segment = "b" * 255  # the longest a file system takes keeps its name
    area.put("ws/p", segment, b"255")
    assert (tmp_path / "ws" / "p" / segment).read_bytes() == b"255"
    for destination in (LONG_ASCII, LONG_WIDE, "x/" + "c" * 300 + "/y"):
        area.put("ws/p", destination, destination.encode())
        with area.open("ws/p", destination) as handle:
            assert handle.read() == destination.encode()
    assert area.path_of("ws/p", "a" * 400) != area.path_of("ws/p", "a" * 401)


_STREAM_SCRIPT = """
import json, sys
from pathlib import Path
from despina.store import open_file_area

def kib(field):  # VmRSS (now) or VmHWM (peak since the last reset), in KiB
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

area = open_file_area(sys.argv[1])
area.check()  # every import and connection made before the baseline
source = Path(sys.argv[2])
Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
base = kib("VmRSS")
etag = area.put("ws/big", "huge.bin", source)
size = 0
with area.open("ws/big", "huge.bin") as handle:
    while block := handle.read(1 << 20):
        size += len(block)
print(json.dumps({"etag": etag, "size": size, "base_kib": base, "peak_kib": kib("VmHWM")}))
"""

BIG_BYTES = 100 * 1024 * 1024
MAX_GROWTH_KIB = 48 * 1024  # one 8 MiB part, its copies in botocore


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["s3", "local"])
def test_a_100_mb_file_streams_in_and_out_with_bounded_memory(
    kind: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Peak RSS of a process storing and reading back 100 MiB grows by far less than 100 MiB."""
    source = tmp_path / "huge.bin"
    digest = hashlib.md5(usedforsecurity=False)
    with source.open("wb") as out:
        for i in range(BIG_BYTES // (1 << 20)):
            block = bytes([i % 251]) * (1 << 20)
            out.write(block)
            digest.update(block)
    with s3_bucket(monkeypatch) if kind == "s3" else nullcontext() as s3:
        where = s3.files_url("big") if s3 is not None else str(tmp_path / "files")
        script = textwrap.dedent(_STREAM_SCRIPT)
        done = subprocess.run(
            [sys.executable, "-c", script, where, str(source)],
            capture_output=True,
            text=True,
            timeout=240,
        )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["size"] == BIG_BYTES and figures["etag"] == digest.hexdigest()
    growth = figures["peak_kib"] - figures["base_kib"]
    print(f"{kind}: peak RSS grew by {growth / 1024:.1f} MiB for a {BIG_BYTES >> 20} MiB file")
    assert growth < MAX_GROWTH_KIB, figures
