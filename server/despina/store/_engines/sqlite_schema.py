"""The SQLite schema and its migrations.

``SCHEMA_VERSION`` is kept in ``PRAGMA user_version``. A store written by an older despina is
migrated in place, one step at a time (``MIGRATIONS[v]`` turns version ``v`` into ``v + 1``); a
store from a newer despina is refused with a message saying to upgrade.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import numpy as np

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "migrate"]

_V1 = """
CREATE TABLE projects (
    pk INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    key TEXT NOT NULL,
    run_counter INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE runs (
    pk INTEGER PRIMARY KEY,
    project_pk INTEGER NOT NULL REFERENCES projects(pk),
    custom_id TEXT NOT NULL,
    short_id TEXT NOT NULL,
    experiment TEXT,
    is_head INTEGER NOT NULL DEFAULT 0,
    creation_ms INTEGER NOT NULL,
    modification_ms INTEGER NOT NULL,
    family TEXT,
    parent_pk INTEGER REFERENCES runs(pk),
    fork_step REAL,
    requested_parent TEXT,
    inherit_configs INTEGER NOT NULL,
    depth INTEGER NOT NULL,
    UNIQUE (project_pk, custom_id),
    UNIQUE (project_pk, short_id)
);
CREATE INDEX runs_experiment ON runs (project_pk, experiment);
CREATE INDEX runs_parent ON runs (parent_pk);
CREATE TABLE attributes (
    run_pk INTEGER NOT NULL REFERENCES runs(pk),
    path TEXT NOT NULL,
    type TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (run_pk, path)
) WITHOUT ROWID;
CREATE TABLE series (
    pk INTEGER PRIMARY KEY,
    run_pk INTEGER NOT NULL REFERENCES runs(pk),
    path TEXT NOT NULL,
    type TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_step REAL,
    last_step REAL,
    last_ts INTEGER,
    last_value TEXT,
    finite_count INTEGER NOT NULL,
    vmin REAL,
    vmax REAL,
    vsum REAL NOT NULL,
    vsumsq REAL NOT NULL,
    has_preview INTEGER NOT NULL,
    UNIQUE (run_pk, path)
);
-- Summary columns first: bucket queries read them without touching the arrays at the end.
CREATE TABLE float_chunks (
    series_pk INTEGER NOT NULL REFERENCES series(pk),
    first_step REAL NOT NULL,
    last_step REAL NOT NULL,
    count INTEGER NOT NULL,
    finite_count INTEGER NOT NULL,
    nan_count INTEGER NOT NULL,
    pinf_count INTEGER NOT NULL,
    ninf_count INTEGER NOT NULL,
    vmin REAL,
    vmax REAL,
    vsum REAL NOT NULL,
    first_fstep REAL,
    first_fvalue REAL,
    last_fstep REAL,
    last_fvalue REAL,
    steps BLOB NOT NULL,
    vals BLOB NOT NULL,
    ts BLOB NOT NULL,
    PRIMARY KEY (series_pk, first_step)
) WITHOUT ROWID;
CREATE TABLE points (
    series_pk INTEGER NOT NULL REFERENCES series(pk),
    is_preview INTEGER NOT NULL,
    step REAL NOT NULL,
    ts INTEGER NOT NULL,
    completion REAL,
    value TEXT NOT NULL,
    PRIMARY KEY (series_pk, is_preview, step)
) WITHOUT ROWID;
"""

# Version 2 keeps the packed arrays in their own table: with them inline, each summary row filled
# a leaf page and a bucket query over 10M points had to read every array to see the summaries.
# It also adds ``packed``: the 15 summary numbers as float64 (NULL = NaN), so readers fetch one
# value per chunk instead of fifteen (filled by ``_pack_summaries`` for migrated chunks).
_V1_TO_V2 = """
CREATE TABLE float_chunk_data (
    series_pk INTEGER NOT NULL,
    first_step REAL NOT NULL,
    steps BLOB NOT NULL,
    vals BLOB NOT NULL,
    ts BLOB NOT NULL,
    PRIMARY KEY (series_pk, first_step)
);
INSERT INTO float_chunk_data (series_pk, first_step, steps, vals, ts)
    SELECT series_pk, first_step, steps, vals, ts FROM float_chunks;
CREATE TABLE float_chunks_v2 (
    series_pk INTEGER NOT NULL REFERENCES series(pk),
    first_step REAL NOT NULL,
    last_step REAL NOT NULL,
    count INTEGER NOT NULL,
    finite_count INTEGER NOT NULL,
    nan_count INTEGER NOT NULL,
    pinf_count INTEGER NOT NULL,
    ninf_count INTEGER NOT NULL,
    vmin REAL,
    vmax REAL,
    vsum REAL NOT NULL,
    first_fstep REAL,
    first_fvalue REAL,
    last_fstep REAL,
    last_fvalue REAL,
    packed BLOB NOT NULL DEFAULT x'',
    PRIMARY KEY (series_pk, first_step)
) WITHOUT ROWID;
INSERT INTO float_chunks_v2 SELECT series_pk, first_step, last_step, count, finite_count,
    nan_count, pinf_count, ninf_count, vmin, vmax, vsum, first_fstep, first_fvalue, last_fstep,
    last_fvalue, x'' FROM float_chunks;
DROP TABLE float_chunks;
ALTER TABLE float_chunks_v2 RENAME TO float_chunks;
"""

SCHEMA_VERSION = 2
# MIGRATIONS[v] upgrades a store at version v to v + 1; version 0 is an empty database.
MIGRATIONS: dict[int, str] = {0: _V1, 1: _V1_TO_V2}


SUMMARY_COLUMNS = (
    "series_pk, first_step, last_step, count, finite_count, nan_count, pinf_count, ninf_count, "
    "vmin, vmax, vsum, first_fstep, first_fvalue, last_fstep, last_fvalue"
)


def pack_summary(values: tuple[float | int | None, ...]) -> bytes:
    """The ``packed`` column: summary numbers as little-endian float64, None as NaN."""
    return np.array(values, dtype="<f8").tobytes()


def _pack_summaries(conn: sqlite3.Connection) -> None:
    rows = conn.execute(f"SELECT {SUMMARY_COLUMNS} FROM float_chunks").fetchall()
    conn.executemany(
        "UPDATE float_chunks SET packed = ? WHERE series_pk = ? AND first_step = ?",
        [(pack_summary(tuple(row)), row[0], row[1]) for row in rows],
    )


# Steps to run after a version's SQL, in Python.
AFTER: dict[int, Callable[[sqlite3.Connection], None]] = {1: _pack_summaries}


def migrate(conn: sqlite3.Connection, found: int) -> None:
    """Bring a database at version ``found`` to ``SCHEMA_VERSION`` in the caller's transaction."""
    for version in range(found, SCHEMA_VERSION):
        for statement in MIGRATIONS[version].split(";"):
            if statement.strip():
                conn.execute(statement)
        if version in AFTER:
            AFTER[version](conn)
        conn.execute(f"PRAGMA user_version = {version + 1}")
