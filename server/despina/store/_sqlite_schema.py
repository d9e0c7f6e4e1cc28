"""The SQLite schema and its migrations.

``SCHEMA_VERSION`` is kept in ``PRAGMA user_version``. A store written by an older despina is
migrated in place, one step at a time (``MIGRATIONS[v]`` turns version ``v`` into ``v + 1``); a
store from a newer despina is refused with a message saying to upgrade.
"""

from __future__ import annotations

import sqlite3

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

SCHEMA_VERSION = 1
# MIGRATIONS[v] upgrades a store at version v to v + 1; version 0 is an empty database.
MIGRATIONS: dict[int, str] = {0: _V1}


def migrate(conn: sqlite3.Connection, found: int) -> None:
    """Bring a database at version ``found`` to ``SCHEMA_VERSION`` in the caller's transaction."""
    for version in range(found, SCHEMA_VERSION):
        for statement in MIGRATIONS[version].split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {version + 1}")
