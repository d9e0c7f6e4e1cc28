"""Ingest and file upload of a PostgreSQL-backed `despina server`: files on local disk vs in an
S3 bucket, side by side (issue 20).

Rows per file storage:
* ingest     — pre-encoded RunOperation batches through our http transport (`ingest.raw_wire`),
               submitted and confirmed; the file storage should not change it;
* upload     — our client's transport uploading files (`upload_file`: signedUrl, then one PUT):
               to the server's /storage URL for a folder, to the bucket's pre-signed URL for S3.

The bucket is moto's standalone server on 127.0.0.1 (a Python process holding objects in
memory): a stand-in for MinIO or S3 that is slower than either, so the S3 upload row is a lower
bound. Needs $DESPINA_TEST_POSTGRES (or --postgres). Wall-clock on a shared machine: noisy.

    python benchmarks/server/bench_files_s3.py [--steps 20000] [--files 8] [--file-mib 16]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO / "benchmarks" / "server"), str(REPO / "tests")]

from despina.api import ServerProcess  # noqa: E402
from despina.auth import KeyRing, ServerDatabase, encode_api_token  # noqa: E402
from ingest import raw_wire, scratch_database  # noqa: E402
from neptune_scale._http import create_http_transport  # noqa: E402

METRICS = 10


@contextmanager
def moto_bucket() -> Iterator[str]:
    """``s3://bucket/prefix`` on a moto server; the AWS environment points at it."""
    import pytest
    from s3_server import s3_bucket

    with pytest.MonkeyPatch.context() as patch, s3_bucket(patch) as s3:
        yield s3.files_url("bench")


def upload(token: str, folder: Path, count: int) -> float:
    transport = create_http_transport(token)
    start = time.perf_counter()
    for i, source in enumerate(sorted(folder.iterdir())[:count]):
        failed = transport.upload_file("bench/files", f"up/{i}.bin", source, "application/x-bin")
        if failed is not None:
            raise RuntimeError(f"upload failed: {failed}")
    elapsed = time.perf_counter() - start
    transport.close()
    return elapsed


def bench(label: str, url: str, files: str, args: argparse.Namespace, sources: Path) -> list:
    os.environ["DESPINA_FILES"] = files
    api_key, _ = KeyRing(ServerDatabase(url)).create_key("bench")
    rows = []
    with tempfile.TemporaryDirectory() as logs, ServerProcess(url, Path(logs) / "s.log") as server:
        token = encode_api_token(server.url, api_key)
        seconds, ok = raw_wire(token, "bench/raw", args.steps, METRICS)
        points = args.steps * METRICS
        rows.append((label, "ingest (raw wire)", f"{points / seconds:,.0f} points/s", ok))
        seconds = upload(token, sources, args.files)
        mib = args.files * args.file_mib
        rows.append(
            (
                label,
                f"upload {args.files} × {args.file_mib} MiB",
                f"{mib / seconds:.0f} MiB/s",
                True,
            )
        )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--file-mib", type=int, default=16)
    parser.add_argument("--postgres", default=os.environ.get("DESPINA_TEST_POSTGRES"))
    args = parser.parse_args()
    if not args.postgres:
        parser.error("needs a PostgreSQL server: --postgres URL or $DESPINA_TEST_POSTGRES")
    rows: list = []
    with tempfile.TemporaryDirectory() as tmp:
        sources = Path(tmp) / "sources"
        sources.mkdir()
        for i in range(args.files):
            (sources / f"{i:03}.bin").write_bytes(os.urandom(args.file_mib << 20))
        with scratch_database(args.postgres) as url:
            rows += bench("local disk", url, str(Path(tmp) / "files"), args, sources)
        with scratch_database(args.postgres) as url, moto_bucket() as bucket:
            rows += bench("S3 (moto)", url, bucket, args, sources)
    print(f"\n{'files on':<11} {'what':<24} {'rate':>20}  ok")
    for where, what, rate, ok in rows:
        print(f"{where:<11} {what:<24} {rate:>20}  {ok}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
