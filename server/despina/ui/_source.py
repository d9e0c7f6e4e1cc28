"""Everything the UI reads, through the public read API (`despina.query`).

Runs tables come from ``Reader.fetch_runs_table`` (the filters work on its DataFrame); run pages,
charts and series pages read arrays from a `despina.query.Snapshot` (``UiSource.read``, see
``_read``). Unknown projects, runs and files come out as `NotFound`.
"""

from __future__ import annotations

import mimetypes
import os
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, TYPE_CHECKING, Any

import pandas as pd

from despina.ui._cache import ExpiringCache
from despina.ui._read import UiCaches, UiRead

if TYPE_CHECKING:
    from despina.query import Buckets

__all__ = ["MAX_SERIES_PAGE", "BadFilePath", "NotFound", "UiSource"]

MAX_SERIES_PAGE = 10_000  # string-series lines / histograms in one answer
RUNS_TABLE_TTL_S = 10.0  # paging / sorting / filtering within this reuse one table read
RUNS_TABLE_ENTRIES = 16
BUCKETS_TTL_S = 30.0  # reopening a chart; its live updates fetch what is newer
BUCKETS_ENTRIES = 512


class NotFound(LookupError):
    """No such project, run or file; the message names which."""


class BadFilePath(ValueError):
    """A file path that cannot name a stored file (absolute, '..', NUL, too long)."""


@contextmanager
def _not_found() -> Iterator[None]:
    from despina.store import ProjectNotFound, RunNotFound, StoredFileNotFound

    try:
        yield
    except (ProjectNotFound, RunNotFound, StoredFileNotFound) as error:
        raise NotFound(str(error)) from error


class UiSource:
    """The UI's view of one store (a `despina.store.Store` or its location)."""

    def __init__(self, store: Any) -> None:
        # A store, its location, or a function giving the store once it is open (a server
        # opens its store when it starts, after its routes were made).
        self._store = store
        self._opened: Any = None
        self._opening = threading.Lock()
        buckets: ExpiringCache[Buckets | None] = ExpiringCache(BUCKETS_TTL_S, BUCKETS_ENTRIES)
        self._caches = UiCaches({}, buckets)
        self._tables: ExpiringCache[pd.DataFrame] = ExpiringCache(
            RUNS_TABLE_TTL_S, RUNS_TABLE_ENTRIES
        )

    @property
    def _reader(self) -> Any:
        with self._opening:
            if self._opened is None:
                from despina.query import Reader

                from_callable = callable(self._store) and not hasattr(self._store, "apply")
                self._opened = Reader(self._store() if from_callable else self._store)
        return self._opened

    def projects(self) -> list[str]:
        return sorted(self._reader.list_projects())

    def attributes(self, project: str) -> list[tuple[str, str]]:
        with _not_found():
            types = self._reader.attribute_types(project)
        return sorted(types.items())

    def runs_table(self, project: str, columns: list[str]) -> pd.DataFrame:
        """One row per run (creation order), a column per name in ``columns``; do not modify."""
        key = (project, tuple(sorted(set(columns))))
        return self._tables.get_or_compute(key, lambda: self._read_table(project, key[1]))

    def _read_table(self, project: str, columns: tuple[str, ...]) -> pd.DataFrame:
        with _not_found():
            table = self._reader.fetch_runs_table(
                project, None, list(columns), sort_direction="asc"
            )
        table = table.reset_index()
        table["sys/custom_run_id"] = table["run"]
        return table

    @contextmanager
    def read(self, project: str) -> Iterator[UiRead]:
        """Reads of ``project`` for one request, in one snapshot opened when first needed."""
        with _not_found(), ExitStack() as stack:
            yield UiRead(self._reader, self._caches, project, stack)

    def run_details(self, project: str, run: str) -> dict[str, Any]:
        """The run page's JSON: facts, configs, lineage, series by kind, files."""
        with self.read(project) as read:
            return read.run_details(run)

    def fork_step(self, project: str, run: str) -> float | None:
        """The step ``run`` was forked at (None for a root run); NotFound for an unknown run."""
        with self.read(project) as read:
            return read.fork_step(run)

    def series_page(
        self, project: str, run: str, attribute: str, after: float | None, limit: int, *, tail: bool
    ) -> dict[str, Any]:
        """Points of a string / histogram / file series after step ``after`` (or the last ones)."""
        with self.read(project) as read:
            return read.series_page(run, attribute, after, limit, tail=tail)

    def open_file(self, project: str, path: str) -> tuple[IO[bytes], int | None, str]:
        """The stored bytes of ``path``, their size when known and a MIME type."""
        try:
            with _not_found():
                stream = self._reader.store.open_file(project, path)
        except ValueError as error:  # the store's check, which names the path and the rule
            raise BadFilePath(f"path: {error}") from error
        try:
            size: int | None = os.fstat(stream.fileno()).st_size
        except (AttributeError, OSError, ValueError):
            size = None
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        return stream, size, mime
