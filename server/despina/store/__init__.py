"""The store every write goes through, and the primitives readers build on.

``open_store(location)`` opens a folder (the embedded store: ``despina.sqlite3`` + ``files/``),
``sqlite:///folder`` or ``postgresql://…``. ``Store.apply(operations)`` is the single write path
(the local transport and the server's ingest both call it): it takes neptune-api ``RunOperation``
messages, enforces protocol §7.2 and returns one tuple of ``IngestIssue`` per operation. Callers
holding the serialized bytes pass ``parse_operation(raw)`` instead: an ``update_batch`` then stays
serialized until the store decodes it (``RawBatchOperation``; a malformed batch raises
``DecodeError`` from ``apply`` and stores nothing; ``check_batch`` checks one without applying it).

Engines implement the storage primitives of :class:`Engine`/:class:`Tx` (see ``_engine``); every
rule lives in engine-independent modules. The read side (``despina.query``) uses ``Store.engine``
with ``ancestry`` / ``parent_of`` (fork lineage, never leaving a run's project) and
``sys_attributes``. File bytes go through one :class:`FileArea` (``open_file_area``): a folder
(:class:`LocalFiles`) or, for a PostgreSQL store with ``DESPINA_FILES=s3://bucket/prefix``, a
bucket. ``create_project`` / ``list_projects`` / ``project_of`` are the project operations
the CLI and the server's project routes share.
"""

from __future__ import annotations

from despina.store._compact import CompactReport
from despina.store._engine import Engine, Tx
from despina.store._errors import (
    ProjectNotFound,
    RunNotFound,
    SchemaVersionError,
    StoreCorrupt,
    StoredFileNotFound,
    StoreError,
    StoreNotFound,
)
from despina.store._files import FileArea, LocalFiles, safe_parts
from despina.store._lineage import Segment, ancestry, parent_of
from despina.store._model import (
    HISTOGRAM_COUNTING,
    HISTOGRAM_DENSITY,
    FloatChunk,
    NewRun,
    Point,
    ProjectRow,
    RunRow,
    SeriesState,
    decode_value,
    encode_value,
    public_value,
)
from despina.store._operation import RawBatchOperation, check_batch, parse_operation
from despina.store._projects import ProjectExists, create_project, list_projects, project_of
from despina.store._store import Store, open_file_area, open_store
from despina.store._sys import project_uuid, run_uuid, sys_attributes

__all__ = [
    "HISTOGRAM_COUNTING",
    "HISTOGRAM_DENSITY",
    "CompactReport",
    "Engine",
    "FileArea",
    "FloatChunk",
    "LocalFiles",
    "NewRun",
    "Point",
    "ProjectExists",
    "ProjectNotFound",
    "ProjectRow",
    "RawBatchOperation",
    "RunNotFound",
    "RunRow",
    "SchemaVersionError",
    "Segment",
    "SeriesState",
    "Store",
    "StoreCorrupt",
    "StoreError",
    "StoreNotFound",
    "StoredFileNotFound",
    "Tx",
    "ancestry",
    "check_batch",
    "create_project",
    "decode_value",
    "encode_value",
    "list_projects",
    "open_file_area",
    "open_store",
    "parent_of",
    "parse_operation",
    "project_of",
    "project_uuid",
    "public_value",
    "run_uuid",
    "safe_parts",
    "sys_attributes",
]
