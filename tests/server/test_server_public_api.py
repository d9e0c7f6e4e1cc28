"""The public surface of the server packages is pinned: changing it is a deliberate edit here."""

from __future__ import annotations

import importlib

import pytest

PINNED = {
    "despina.store": [
        "CompactReport", "Engine", "FileArea", "FloatChunk", "HISTOGRAM_COUNTING",
        "HISTOGRAM_DENSITY", "LocalFiles", "NewRun", "open_file_area", "safe_parts",
        "Point", "ProjectExists", "ProjectNotFound", "ProjectRow", "RawBatchOperation",
        "RunNotFound", "RunRow", "SchemaVersionError", "Segment", "SeriesState", "Store",
        "StoreCorrupt", "StoreError", "StoreNotFound", "StoredFileNotFound", "Tx", "ancestry",
        "check_batch", "create_project", "decode_value", "encode_value", "list_projects",
        "open_store", "parent_of", "parse_operation", "project_of", "project_uuid",
        "public_value", "run_uuid", "sys_attributes",
    ],
    "despina.query": [
        "BUCKET_COLUMNS", "Buckets", "DELIVER_BUDGET_S", "Filter", "FloatPoints", "Lineage",
        "ObjectPoints",
        "PatternError", "Pending", "Reader", "RunView", "Snapshot", "TYPE_NAMES",
        "deliver_left_behind", "local_folder", "readable_ms", "snapshot",
    ],
    "despina.ui": [
        "SESSION_RECHECK_S", "SESSION_TTL_S", "SecurityHeaders", "TokenLogin", "create_app",
        "create_router",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(PINNED))
def test_package_all_is_pinned(name: str) -> None:
    module = importlib.import_module(name)
    assert sorted(module.__all__) == sorted(PINNED[name])
    for attribute in module.__all__:
        assert hasattr(module, attribute), f"{name}.{attribute}"
