"""A short fuzz of ``/ingest`` (issue 12 acceptance) on a real server process, on both engines.

Valid ``RunOperation`` bodies (create, update_batch with metrics, configs, tags, files, previews,
lone update) are built from a seeded generator, then often mutated: at the message level (NUL in
strings, out-of-range steps and timestamps, huge repetition) and at the byte level (bit flips,
truncation, inserted bytes and varints, huge length prefixes). Whatever arrives, the server must
answer below 500, stay responsive, and a run written before the fuzz must read back identically.

Bounded by ``FUZZ_BODIES`` and ``FUZZ_SECONDS`` per engine; ``DESPINA_FUZZ_SEED`` replays a seed
(the failure message prints the seed and the failing bodies in hex).
"""

from __future__ import annotations

import os
import random
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from despina.query import Reader
from neptune_api.proto.neptune_pb.ingest.v1 import common_pb2
from neptune_api.proto.neptune_pb.ingest.v1.pub import ingest_pb2
from support.adv_live_server import LiveServer, live_server

pytestmark = pytest.mark.slow

FUZZ_SECONDS = 30.0
FUZZ_BODIES = 4000
PING_EVERY = 50  # bodies between two responsiveness checks
PING_TIMEOUT_S = 5.0
SEED = int(os.environ.get("DESPINA_FUZZ_SEED", "1212"))
FUZZ_PROJECT = "team/fuzz"
KNOWN_PROJECT = "team/known"  # no single mutation of FUZZ_PROJECT reaches it
PROTOBUF = {"Content-Type": "application/x-protobuf"}
T0_S = 1_700_000_000
SHOWN_FAILURES = 8


def _text(rng: random.Random, size: int = 12) -> str:
    return "".join(rng.choice("abcdefghij/_-.é0123") for _ in range(rng.randint(1, size)))


def _value(rng: random.Random, value: Any) -> None:
    kind = rng.choice(["float64", "int64", "bool", "string", "timestamp", "set", "file", "hist"])
    if kind == "float64":
        value.float64 = rng.choice([rng.uniform(-1e6, 1e6), float("nan"), float("inf"), 0.0])
    elif kind == "int64":
        value.int64 = rng.randint(-(2**63), 2**63 - 1)
    elif kind == "bool":
        value.bool = rng.random() < 0.5
    elif kind == "string":
        value.string = _text(rng, 40)
    elif kind == "timestamp":
        value.timestamp.seconds = T0_S + rng.randint(0, 10**6)
    elif kind == "set":
        value.string_set.values.extend(_text(rng) for _ in range(rng.randint(0, 3)))
    elif kind == "file":
        value.file_ref.path = f"files/{_text(rng)}"
        value.file_ref.size_bytes = rng.randint(0, 10**6)
        value.file_ref.mime_type = "application/octet-stream"
    else:
        value.histogram.bin_edges.extend([0.0, 1.0, 2.0])
        value.histogram.counts.values.extend([rng.randint(0, 9), rng.randint(0, 9)])


def _snapshot(rng: random.Random, snap: Any, step: int) -> None:
    snap.timestamp.seconds = T0_S + step
    if rng.random() < 0.8:
        snap.step.whole = step
        snap.step.micro = rng.choice([0, 0, 500_000])
    for _ in range(rng.randint(0, 3)):
        _value(rng, snap.assign[f"cfg/{_text(rng)}"])
    for _ in range(rng.randint(0, 3)):
        snap.append[f"m/{_text(rng, 4)}"].float64 = rng.uniform(-10, 10)
    if rng.random() < 0.3:
        snap.append[f"s/{_text(rng, 4)}"].string = _text(rng, 30)
    if rng.random() < 0.3:
        values = snap.modify_sets["sys/tags"].string.values
        values[_text(rng)] = rng.choice([common_pb2.SET_OPERATION.ADD, common_pb2.REMOVE])
    if rng.random() < 0.2:
        snap.preview.is_preview = True
        snap.preview.completion_ratio = rng.random()


def _operation(rng: random.Random) -> Any:
    op = ingest_pb2.RunOperation(project=FUZZ_PROJECT, run_id=f"r{rng.randint(0, 20)}")
    kind = rng.choice(["create", "batch", "batch", "update"])
    if kind == "create":
        op.create.family = op.run_id
        op.create.experiment_id = _text(rng)
        op.create.creation_time.seconds = T0_S
        if rng.random() < 0.3:
            op.create.fork_point.parent_project = FUZZ_PROJECT
            op.create.fork_point.parent_run_id = f"r{rng.randint(0, 20)}"
            op.create.fork_point.step.whole = rng.randint(0, 50)
    elif kind == "batch":
        base = rng.randint(0, 1000)
        for i in range(rng.randint(1, 8)):
            _snapshot(rng, op.update_batch.snapshots.add(), base + i)
    else:
        _snapshot(rng, op.update, rng.randint(0, 1000))
    return op


def _structural(rng: random.Random, op: Any) -> None:
    """Valid wire, hostile content: NUL, out-of-range numbers, many entries."""
    snaps = list(op.update_batch.snapshots) or ([op.update] if op.HasField("update") else [])
    choice = rng.randrange(5)
    if choice == 0:
        target = rng.choice(["run_id", "project"]) if rng.random() < 0.5 else None
        if target:
            setattr(op, target, getattr(op, target) + "\x00x")
        elif snaps:
            snaps[0].assign["cfg/nul\x00"].string = "a\x00b"
    elif choice == 1 and snaps:
        snaps[0].step.whole = rng.choice([2**64 - 1, 2**63, 2**53 + 1])
        snaps[0].step.micro = rng.choice([0, 2**64 - 1, 999_999])
    elif choice == 2 and snaps:
        snaps[0].timestamp.seconds = rng.choice([-(10**15), 10**15, -1, 2**63 - 1])
        snaps[0].timestamp.nanos = rng.choice([-5, 10**9, 0])
    elif choice == 3 and snaps:
        for i in range(rng.randint(100, 2000)):
            snaps[0].append[f"many/{i}"].float64 = float(i)
    elif choice == 4 and op.HasField("create"):
        op.create.fork_point.step.whole = 2**64 - 1
        op.create.creation_time.seconds = -(10**15)


def _varint(number: int) -> bytes:
    out = bytearray()
    while True:
        byte, number = number & 0x7F, number >> 7
        out.append(byte | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _bytewise(rng: random.Random, body: bytes) -> bytes:
    data = bytearray(body)
    for _ in range(rng.randint(1, 4)):
        at = rng.randrange(len(data) + 1)
        choice = rng.randrange(5)
        if choice == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            del data[at:]
        elif choice == 2:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif choice == 3:
            data[at:at] = _varint(rng.choice([0, 1, 2**31, 2**63, 2**64 - 1, rng.getrandbits(40)]))
        else:  # a field tag of a length-delimited field announcing a huge length
            data[at:at] = bytes([rng.choice([0x0A, 0x12, 0x22, 0x2A])]) + _varint(2**31)
        if not data:
            break
    return bytes(data)


def _body(rng: random.Random) -> bytes:
    op = _operation(rng)
    if rng.random() < 0.3:
        _structural(rng, op)
    body: bytes = op.SerializeToString()
    if rng.random() < 0.5:
        body = _bytewise(rng, body)
    elif rng.random() < 0.1:
        body = rng.randbytes(rng.randint(0, 200))
    return body


def _known_run() -> list[Any]:
    create = ingest_pb2.RunOperation(project=KNOWN_PROJECT, run_id="known")
    create.create.family = "known"
    create.create.experiment_id = "known-exp"
    create.create.creation_time.seconds = T0_S
    update = ingest_pb2.RunOperation(project=KNOWN_PROJECT, run_id="known")
    for step in range(100):
        snap = update.update_batch.snapshots.add()
        snap.step.whole = step
        snap.timestamp.seconds = T0_S + step
        snap.append["train/loss"].float64 = 1.0 / (step + 1)
    configs = update.update_batch.snapshots.add()
    configs.timestamp.seconds = T0_S + 100
    configs.assign["params/lr"].float64 = 0.01
    configs.assign["params/name"].string = "resnet"
    configs.modify_sets["sys/tags"].string.values["baseline"] = common_pb2.SET_OPERATION.ADD
    return [create, update]


def _read_known(location: str) -> tuple[dict[str, Any], Any]:
    with Reader(location) as reader:
        details = reader.run_details(KNOWN_PROJECT, "known")
        metrics = reader.fetch_metrics(KNOWN_PROJECT, ["known"])
    details.pop("modification_time", None)
    return details, metrics


Failure = tuple[int, str, bytes]  # (body index, what came back, body)


def _fuzz(server: LiveServer, seed: int) -> tuple[int, list[Failure]]:
    """(bodies sent, every body answered with a 5xx or not answered at all)."""
    rng = random.Random(seed)
    failures: list[Failure] = []
    deadline = time.monotonic() + FUZZ_SECONDS
    sent = 0
    client = httpx.Client(base_url=server.url, headers=server.auth | PROTOBUF, timeout=30)
    while sent < FUZZ_BODIES and time.monotonic() < deadline:
        body = _body(rng)
        try:
            answer = client.post("/api/client/v1/ingest", content=body)
            if answer.status_code >= 500:
                failures.append((sent, f"{answer.status_code} {answer.text[:120]!r}", body))
        except httpx.TransportError as error:  # the server dropped the connection
            failures.append((sent, f"no answer: {type(error).__name__} {error}", body))
            client.close()
            client = httpx.Client(base_url=server.url, headers=server.auth | PROTOBUF, timeout=30)
        sent += 1
        if sent % PING_EVERY == 0:
            _assert_responsive(client)
    client.close()
    return sent, failures


def _assert_responsive(client: httpx.Client) -> None:
    started = time.monotonic()
    answer = client.get("/api/backend/v1/clients/config", timeout=PING_TIMEOUT_S)
    assert answer.status_code == 200
    assert time.monotonic() - started < PING_TIMEOUT_S


def _report(failures: list[Failure], sent: int, log: Path) -> str:
    """The failing bodies (hex, to replay) and the exceptions the server logged for them."""
    logged = Counter(re.findall(r"^(\w[\w.]*(?:Error|Exception): .{0,100})", log.read_text(), re.M))
    lines = [
        f"seed {SEED}: {len(failures)} of {sent} bodies got a 5xx or no answer "
        f"(replay with DESPINA_FUZZ_SEED={SEED}); the server logged:",
        *(f"  {count} x {line}" for line, count in logged.most_common()),
    ]
    for index, what, body in failures[:SHOWN_FAILURES]:
        lines.append(f"  body #{index}: {what}\n    {body[:400].hex()}")
    return "\n".join(lines)


def test_fuzzed_ingest_bodies_never_get_a_5xx(store_location: str, tmp_path: Path) -> None:
    location = store_location
    with live_server(location, tmp_path, _known_run()) as server:
        before = _read_known(location)
        sent, failures = _fuzz(server, SEED)
        _assert_responsive(httpx.Client(base_url=server.url))
        after = _read_known(location)
    assert sent >= 200, f"only {sent} bodies in {FUZZ_SECONDS} s"
    assert before[0] == after[0]  # nothing the fuzz sent touched the run written before it
    assert before[1].equals(after[1])
    assert len(before[1]) == 100
    assert not failures, _report(failures, sent, server.log_path)
