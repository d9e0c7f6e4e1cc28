"""One realistic 3.x export and one 2.x export, and what reading them back must show."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal
from pathlib import Path

from export_builder import T0, ExportWriter, point, sanitize, single, sys_rows

P3 = "acme/vision"
P2 = "legacy/old-proj"
ROOT, CHILD, GRAND, ORPHAN = "z-root", "a-child", "m-grand", "orphan"
SAN = "SAN-12"
STEPS = [Decimal("0.5"), Decimal("1.25"), Decimal("2"), Decimal("2.000001"), Decimal("3.5")]
VALUES = [0.25, math.nan, math.inf, -math.inf, 1.5]
CHILD_STEPS = [Decimal("2.5"), Decimal("3"), Decimal("4.75")]
GRAND_STEPS = [Decimal("5"), Decimal("6.000002")]
CKPT = b"\x00checkpoint bytes\xff" * 100
IMAGE = [b"png-0", b"png-1"]
FILESET = {"a.txt": b"alpha", "sub/b.bin": b"\x01\x02"}
ARTIFACT_JSON = b'[{"filePath": "data.csv", "fileHash": "abc", "size": 10, "type": "S3"}]'
HIST = {"type": "COUNTING", "edges": [0.0, 1.0, 2.0], "values": [3.0, 4.0]}
DENSE = {"type": "DENSITY", "edges": [0.0, 0.5, 1.0], "values": [0.25, 0.75]}


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def metric_rows(project: str, run: str, steps: list[Decimal], values: list[float]) -> list[dict]:
    return [
        point(project, run, "train/loss", "float_series", s, at(i + 0.123), float_value=v)
        for i, (s, v) in enumerate(zip(steps, values, strict=True))
    ]


def build_v3(root: Path) -> ExportWriter:
    w = ExportWriter(root)
    ckpt = w.file(P3, f"{ROOT}/model/ckpt/ckpt.bin", CKPT)
    images = [w.file(P3, f"{ROOT}/images/{i}.png", data) for i, data in enumerate(IMAGE)]
    params = [
        *sys_rows(P3, ROOT, name="exp-a", tags=["vision", "baseline"]),
        single(P3, ROOT, "params/lr", "float", 0.001),
        single(P3, ROOT, "params/big", "int", 2**40 + 3),
        single(P3, ROOT, "params/opt", "string", "adam"),
        single(P3, ROOT, "params/flag", "bool", False),
        single(P3, ROOT, "params/when", "datetime", at(5.678)),
        single(P3, ROOT, "params/labels", "string_set", ["cat", "dog"]),
        single(P3, ROOT, "params/absent", "float", None),  # an empty cell of the wide table
        {**single(P3, ROOT, "model/ckpt", "string", None), "attribute_type": "file",
         "file_value": {"path": ckpt}},
    ]  # fmt: skip
    series = [
        *metric_rows(P3, ROOT, STEPS, VALUES),
        point(P3, ROOT, "logs/out", "string_series", 1, at(1), string_value="hello"),
        point(P3, ROOT, "logs/out", "string_series", Decimal("1.5"), at(2), string_value="world"),
        point(P3, ROOT, "hist/w", "histogram_series", 1, at(1), histogram_value=HIST),
        point(P3, ROOT, "hist/d", "histogram_series", 2, at(2), histogram_value=DENSE),
        *[
            point(P3, ROOT, "images/x", "file_series", i, at(i), file_value={"path": p})
            for i, p in enumerate(images)
        ],
    ]
    w.write_run(P3, ROOT, [series[:4], params, series[4:]], row_group_size=3)
    w.write_run(P3, CHILD, [[
        *sys_rows(P3, CHILD, name="exp-a", parent=ROOT, fork_step=2),
        *metric_rows(P3, CHILD, CHILD_STEPS, [0.1, 0.2, 0.3]),
    ]])  # fmt: skip
    w.write_run(P3, GRAND, [[
        *metric_rows(P3, GRAND, GRAND_STEPS, [0.01, 0.02]),
        *sys_rows(P3, GRAND, name="exp-b", parent=CHILD, fork_step=4.75),
    ]])  # fmt: skip
    w.write_run(P3, ORPHAN, [[
        *sys_rows(P3, ORPHAN, parent="gone", fork_step=10),
        *metric_rows(P3, ORPHAN, [Decimal(11)], [1.0]),
    ]])  # fmt: skip
    w.write_run(P3, "cut-short", [[*sys_rows(P3, "cut-short")]], finished=False)
    # an earlier attempt's leftover beside a finished run
    (w.data / sanitize(P3) / f"{sanitize(ROOT)}_part_7.parquet.tmp").write_bytes(b"PAR1 cut")
    return w


def build_v2(root: Path) -> ExportWriter:
    w = ExportWriter(root)
    base = f"{P2}/{SAN}"
    for name, data in FILESET.items():
        w.file(P2, f"{base}/data/set/{name}", data)
    artifact = w.file(P2, f"{base}/art/files_list.json", ARTIFACT_JSON)
    frames = [w.file(P2, f"{base}/frames/{i}.000000.png", d) for i, d in enumerate(IMAGE)]
    rows = [
        *[r for r in sys_rows(P2, SAN, name="legacy-run", tags=["old"])
          if r["attribute_path"] != "sys/custom_run_id"],
        single(P2, SAN, "sys/id", "string", SAN),
        single(P2, SAN, "parameters/epochs", "int", 7),
        point(P2, SAN, "metrics/acc", "float_series", 0, at(0), float_value=0.5),
        point(P2, SAN, "metrics/acc", "float_series", 1, at(1), float_value=0.75),
        point(P2, SAN, "monitoring/stdout", "string_series", 0, at(0), string_value="line"),
        {**point(P2, SAN, "frames", "file_series", 0, None), "file_value": {"path": frames[0]}},
        {**point(P2, SAN, "frames", "file_series", 1, None), "file_value": {"path": frames[1]}},
        {**single(P2, SAN, "data/set", "string", None), "attribute_type": "file_set",
         "file_value": {"path": f"{base}/data/set"}},
        {**single(P2, SAN, "art", "string", None), "attribute_type": "artifact",
         "file_value": {"path": artifact}},
    ]  # fmt: skip
    w.write_run(P2, SAN, [rows[:5], rows[5:]])
    return w
