"""Turning ``log_*`` arguments into framed ``UpdateRunSnapshot`` records (protocol §3.4, §7.1).

Invalid values are dropped and handed to ``report`` (which logs, calls the warning callback, or
raises under ``NEPTUNE_LOG_FAILURE_ACTION=raise``); valid ones are encoded. A value whose
conversion raises (a torch meta tensor, a ``__float__`` or ``__str__`` that fails) is an invalid
value too: nothing a user passes as a value raises out of ``log_*``. Strings and paths must not
hold NUL (``\x00``), which a PostgreSQL store cannot keep. A call bigger than
``MAX_SNAPSHOT_BYTES`` is split into several snapshots with the same step and timestamp.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from neptune_scale import wire as enc
from neptune_scale._validation import NUL

__all__ = ["MAX_ATTRIBUTE_PATH_BYTES", "MAX_SNAPSHOT_BYTES", "SnapshotBuilder"]

MAX_ATTRIBUTE_PATH_BYTES = 1024
MAX_SNAPSHOT_BYTES = 2 * 1024 * 1024  # the official splitter's limit per UpdateRunSnapshot
MAX_STRING_SERIES_BYTES = 1024 * 1024
MAX_HISTOGRAM_BIN_EDGES = 513
MAX_CACHED_KEY_SETS = 4096  # metric key sets whose encoding plan is kept

SMALL_FRAME_LIMIT = 1 << 14  # snapshots below this size get a precomputed length prefix
_LENGTHS = tuple(enc.varint(n) for n in range(SMALL_FRAME_LIMIT))
MAX_GENERATED_KEYS = 64  # key sets up to this size get a generated encoder, larger a generic one

Report = Callable[[str], None]
MetricEncoder = Callable[[Mapping[str, Any], bytes], "bytes | None"]


class SnapshotBuilder:
    """Encodes validated values into framed snapshots; one per run."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self.plans: dict[tuple[Any, ...], MetricEncoder] = {}  # metric key set -> encoder

    # -- metrics: the hot path --------------------------------------------------------------
    def metric_encoder(self, keys: tuple[Any, ...]) -> MetricEncoder:
        """The encoder for metric dicts with exactly these keys, in this order (cached).

        An encoder returns the framed snapshot appending one float point per key without its
        tag byte (what ``LogWriter.append_snapshot`` takes), or None when
        its fast path does not apply (an invalid key, a value struct cannot pack, a big
        snapshot, a dict changed meanwhile); :meth:`metrics` then checks value by value.
        """
        encoder = self.plans.get(keys)
        if encoder is None:
            if len(self.plans) >= MAX_CACHED_KEY_SETS:
                self.plans.clear()
            encoder = self.plans[keys] = _make_metric_encoder(keys)
        return encoder

    def metrics(self, data: Mapping[str, Any], head: bytes, tail: bytes = b"") -> list[bytes]:
        """Framed snapshot(s) appending float points; ``head`` = step + timestamp fields."""
        return self._split(head, tail, self._metric_entries(data))

    def _metric_entries(self, data: Mapping[Any, Any]) -> list[bytes]:
        entries = []
        for key, value in data.items():
            if not self._check_path(key, "log_metrics"):
                continue
            try:
                number = float(value)
            except (TypeError, ValueError, OverflowError):
                self._report(
                    f"log_metrics: value of {key!r} must be a number (int or float), "
                    f"got {type(value).__name__}; dropped"
                )
                continue
            except Exception as error:  # e.g. a torch meta tensor: the value's own failure
                self._report(_conversion_failed("log_metrics", key, value, error))
                continue
            entries.append(enc.map_entry(enc.TAG_APPEND, key, enc.value_float(number)))
        return entries

    # -- the other calls --------------------------------------------------------------------
    def configs(
        self, data: Mapping[str, Any], head: bytes, *, cast_unsupported: bool
    ) -> list[bytes]:
        entries = []
        for key, value in data.items():
            if not self._check_path(key, "log_configs"):
                continue
            try:
                encoded = self._config_value(key, value, cast_unsupported)
            except _CollectionItemNotStr:
                raise  # a programmer error the official client raises too
            except Exception as error:  # the value's own conversion failed (str(), timestamp())
                self._report(_conversion_failed("log_configs", key, value, error))
                continue
            if encoded is not None:
                entries.append(enc.map_entry(enc.TAG_ASSIGN, key, encoded))
        return self._split(head, b"", entries)

    def _config_value(self, key: str, value: Any, cast: bool) -> bytes | None:
        # Order matters: bool is an int, so it is tested before int (as the official client).
        if isinstance(value, float):
            return enc.value_float(value)
        if isinstance(value, bool):
            return enc.value_bool(value)
        if isinstance(value, int):
            if enc.INT64_MIN <= value <= enc.INT64_MAX:
                return enc.value_int(value)
            self._report(f"log_configs: int {key!r} is outside the int64 range; dropped")
            return None
        if isinstance(value, str):
            return self._string_value(key, value)
        if isinstance(value, datetime):
            return enc.value_datetime(value)
        if isinstance(value, (list, set, tuple, frozenset)):
            bad = [v for v in value if not isinstance(v, str)]
            if bad:
                raise _CollectionItemNotStr(
                    f"log_configs: {key!r} is a collection, so all its items must be str; "
                    f"got {type(bad[0]).__name__}"
                )
            if any(NUL in v for v in value):
                self._report(f"log_configs: an item of {key!r} contains NUL ('\\x00'); dropped")
                return None
            return enc.value_string_set(value)
        if cast:
            return self._string_value(key, "" if value is None else str(value))
        self._report(
            f"log_configs: {key!r} has unsupported type {type(value).__name__} (supported: "
            "float, bool, int, str, datetime, list/set/tuple of str); dropped "
            "(pass cast_unsupported=True to store it as a string)"
        )
        return None

    def _string_value(self, key: str, value: str) -> bytes | None:
        if NUL in value:
            self._report(f"log_configs: the string of {key!r} contains NUL ('\\x00'); dropped")
            return None
        return enc.value_string(value)

    def tags(self, path: str, tags: Iterable[str], operation: int, head: bytes) -> list[bytes]:
        """``modify_sets`` snapshot for ``sys/tags`` or ``sys/group_tags`` (1 ADD, 2 REMOVE);
        tags holding NUL are dropped and reported."""
        kept = {tag: operation for tag in tags if NUL not in tag}
        if len(kept) != len(set(tags)):
            self._report(f"{path}: tags containing NUL ('\\x00') were dropped")
        if not kept:
            return []
        entry = enc.modify_string_set_entry(path, kept)
        return self._split(head, b"", [entry])

    def string_series(self, data: Mapping[str, Any], head: bytes) -> list[bytes]:
        entries = []
        for key, value in data.items():
            if not self._check_path(key, "log_string_series"):
                continue
            if not isinstance(value, str):
                self._report(
                    f"log_string_series: value of {key!r} must be str, got "
                    f"{type(value).__name__}; dropped"
                )
                continue
            if NUL in value:
                self._report(f"log_string_series: value of {key!r} contains NUL ('\\x00'); dropped")
                continue
            if len(value.encode("utf-8")) > MAX_STRING_SERIES_BYTES:
                self._report(
                    f"log_string_series: value of {key!r} exceeds {MAX_STRING_SERIES_BYTES} "
                    "bytes; dropped"
                )
                continue
            entries.append(enc.map_entry(enc.TAG_APPEND, key, enc.value_string(value)))
        return self._split(head, b"", entries)

    def histograms(self, data: Mapping[str, Any], head: bytes) -> list[bytes]:
        entries = []
        for key, value in data.items():
            if not self._check_path(key, "log_histograms"):
                continue
            encoded = self._histogram(key, value)
            if encoded is not None:
                entries.append(enc.map_entry(enc.TAG_APPEND, key, encoded))
        return self._split(head, b"", entries)

    def _histogram(self, key: str, value: Any) -> bytes | None:
        from neptune_scale.types import Histogram

        if not isinstance(value, Histogram):
            self._report(f"log_histograms: {key!r} must be a Histogram; dropped")
            return None
        try:
            edges = value.bin_edges_as_list()
            counts = value.counts_as_list()
            densities = value.densities_as_list()
        except (TypeError, ValueError) as e:
            self._report(f"log_histograms: {key!r} holds values that are not numbers ({e})")
            return None
        except Exception as error:  # e.g. torch meta tensors: the values' own failure
            self._report(_conversion_failed("log_histograms", key, value, error))
            return None
        problem = _histogram_problem(edges, counts, densities)
        if problem:
            self._report(f"log_histograms: {key!r} {problem}; dropped")
            return None
        return enc.value_histogram(edges, counts, densities)

    def entries_snapshots(self, head: bytes, entries: list[bytes]) -> list[bytes]:
        """Snapshots for ready-made map entries (files)."""
        return self._split(head, b"", entries)

    # -- helpers ----------------------------------------------------------------------------
    def _check_path(self, key: Any, call: str) -> bool:
        if _path_ok(key):
            return True
        if not isinstance(key, str):
            self._report(f"{call}: attribute path must be str, got {type(key).__name__}; dropped")
        elif NUL in key:
            self._report(f"{call}: attribute path {key[:64]!r} contains NUL ('\\x00'); dropped")
        else:
            self._report(
                f"{call}: attribute path {key[:64]!r}... exceeds {MAX_ATTRIBUTE_PATH_BYTES} "
                "bytes; dropped"
            )
        return False

    def _split(self, head: bytes, tail: bytes, entries: list[bytes]) -> list[bytes]:
        """Pack entries into as few snapshots of at most MAX_SNAPSHOT_BYTES as possible."""
        if not entries:
            return []
        budget = MAX_SNAPSHOT_BYTES - len(head) - len(tail)
        out: list[bytes] = []
        current: list[bytes] = []
        size = 0
        for entry in entries:
            if len(entry) > budget:
                self._report(
                    f"a single value of {len(entry)} bytes exceeds the {MAX_SNAPSHOT_BYTES}-byte "
                    "operation limit; dropped"
                )
                continue
            if size + len(entry) > budget:
                out.append(enc.frame_snapshot(head + b"".join(current) + tail))
                current, size = [], 0
            current.append(entry)
            size += len(entry)
        if current:
            out.append(enc.frame_snapshot(head + b"".join(current) + tail))
        return out


class _CollectionItemNotStr(TypeError):
    """A config collection holding a non-str item: raised to the caller, as the official does."""


def _path_ok(key: Any) -> bool:
    return (
        isinstance(key, str)
        and len(key.encode("utf-8")) <= MAX_ATTRIBUTE_PATH_BYTES
        and NUL not in key
    )


def _conversion_failed(call: str, key: str, value: Any, error: Exception) -> str:
    return (
        f"{call}: the value of {key!r} ({type(value).__name__}) could not be converted "
        f"({type(error).__name__}: {error}); dropped"
    )


def _histogram_problem(
    edges: list[float], counts: list[int] | None, densities: list[float] | None
) -> str | None:
    if (counts is None) == (densities is None):
        return "needs exactly one of counts or densities"
    if not 1 <= len(edges) <= MAX_HISTOGRAM_BIN_EDGES:
        return f"needs 1 to {MAX_HISTOGRAM_BIN_EDGES} bin edges, got {len(edges)}"
    values = counts if counts is not None else densities
    assert values is not None
    if len(values) != len(edges) - 1:
        return f"has {len(values)} values for {len(edges)} bin edges (needs len(bin_edges) - 1)"
    if counts is not None and any(c < 0 for c in counts):
        return "has negative counts"
    if any(math.isnan(e) for e in edges):
        return "has NaN bin edges"
    return None


def _no_fast_path(data: Mapping[str, Any], head: bytes) -> bytes | None:
    return None


def _make_metric_encoder(keys: tuple[Any, ...]) -> MetricEncoder:
    """A function specialised for one key set: the prefixes of the map entries are constants
    bound to it, so encoding a call is one struct.pack and two concatenations.

    The source is generated from the number of keys only (never from their text, which is bound
    as data), like the dataclasses module generates ``__init__``.
    """
    if not keys or not all(_path_ok(key) for key in keys):
        return _no_fast_path
    prefixes = [enc.float_entry_prefix(key) for key in keys]
    packer = struct.Struct("<" + "".join(f"{len(p)}sd" for p in prefixes))
    if len(keys) > MAX_GENERATED_KEYS:
        return _generic_encoder(packer, prefixes)
    values = ", ".join(f"v{i}" for i in range(len(keys)))
    packed = ", ".join(f"p{i}, v{i}" for i in range(len(keys)))
    source = (
        f"def encode(data, head):\n"
        f"    size = len(head) + {packer.size}\n"
        f"    if size >= {SMALL_FRAME_LIMIT}:\n"
        f"        return None\n"
        f"    try:\n"
        f"        {values}, = data.values()\n"
        f"        return lengths[size] + head + pack({packed})\n"
        # Any exception: a value's own conversion may raise anything (a torch meta tensor
        # raises RuntimeError); the checked path then reports it. Free when nothing raises.
        f"    except Exception:\n"
        f"        return None\n"
    )
    namespace: dict[str, Any] = {"lengths": _LENGTHS, "pack": packer.pack}
    namespace.update({f"p{i}": prefix for i, prefix in enumerate(prefixes)})
    exec(compile(source, f"<metric encoder for {len(keys)} keys>", "exec"), namespace)
    encoder: MetricEncoder = namespace["encode"]
    return encoder


def _generic_encoder(packer: struct.Struct, prefixes: list[bytes]) -> MetricEncoder:
    template: list[Any] = [None] * (2 * len(prefixes))
    template[0::2] = prefixes

    def encode(data: Mapping[str, Any], head: bytes) -> bytes | None:
        size = len(head) + packer.size
        if size >= SMALL_FRAME_LIMIT or len(data) != len(prefixes):
            return None
        args = template.copy()
        args[1::2] = data.values()
        try:
            record: bytes = _LENGTHS[size] + head + packer.pack(*args)
        except Exception:  # as in the generated encoders: the checked path reports it
            return None
        return record

    return encode
