"""Errors of the store, as one tree::

StoreError
├── StoreNotFound       the location holds no store (reading never creates one)
├── StoreCorrupt        the database file is not a readable store
├── SchemaVersionError  written by a newer despina; the message says what to do
├── RunNotFound         no run with that id in that project
└── StoredFileNotFound  no file under that destination
"""

from __future__ import annotations

__all__ = [
    "ProjectNotFound",
    "RunNotFound",
    "SchemaVersionError",
    "StoreCorrupt",
    "StoreError",
    "StoreNotFound",
    "StoredFileNotFound",
]


class StoreError(Exception):
    """Base of every store error."""


class StoreNotFound(StoreError):
    pass


class StoreCorrupt(StoreError):
    pass


class SchemaVersionError(StoreError):
    pass


class ProjectNotFound(StoreError, LookupError):
    pass


class RunNotFound(StoreError, LookupError):
    pass


class StoredFileNotFound(StoreError, FileNotFoundError):
    pass
