"""A small filter language for choosing runs: attribute comparisons, tags, names, and/or/not.

::

    Filter.gt("metrics/acc", 0.9) & Filter.contains_all("sys/tags", ["best"])
    Filter.name("resnet-.*") | ~Filter.exists("params/lr")

Attributes compare by their value in the runs table: a scalar's value, a float series' last
value. A run without the attribute never matches a comparison (and ``~`` of it does).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from despina._patterns import compile_pattern

__all__ = ["Filter"]

Values = Mapping[str, Any]  # attribute path -> value, as in the runs table
_MISSING = object()


@dataclass(frozen=True)
class Filter:
    """A predicate over one run's attribute values. Combine with ``&``, ``|`` and ``~``."""

    test: Callable[[Values], bool]
    text: str

    def __call__(self, values: Values) -> bool:
        return self.test(values)

    def __and__(self, other: Filter) -> Filter:
        return Filter(lambda v: self.test(v) and other.test(v), f"({self.text} AND {other.text})")

    def __or__(self, other: Filter) -> Filter:
        return Filter(lambda v: self.test(v) or other.test(v), f"({self.text} OR {other.text})")

    def __invert__(self) -> Filter:
        return Filter(lambda v: not self.test(v), f"NOT {self.text}")

    def __repr__(self) -> str:
        return f"Filter<{self.text}>"

    @staticmethod
    def _compare(path: str, value: Any, op: Callable[[Any, Any], bool], sign: str) -> Filter:
        def test(values: Values) -> bool:
            found = values.get(path, _MISSING)
            if found is _MISSING or found is None:
                return False
            try:
                return bool(op(found, value))
            except TypeError:  # e.g. a string compared with a number: not a match
                return False

        return Filter(test, f"{path} {sign} {value!r}")

    @classmethod
    def eq(cls, path: str, value: Any) -> Filter:
        return cls._compare(path, value, operator.eq, "==")

    @classmethod
    def ne(cls, path: str, value: Any) -> Filter:
        return cls._compare(path, value, operator.ne, "!=")

    @classmethod
    def gt(cls, path: str, value: Any) -> Filter:
        return cls._compare(path, value, operator.gt, ">")

    @classmethod
    def ge(cls, path: str, value: Any) -> Filter:
        return cls._compare(path, value, operator.ge, ">=")

    @classmethod
    def lt(cls, path: str, value: Any) -> Filter:
        return cls._compare(path, value, operator.lt, "<")

    @classmethod
    def le(cls, path: str, value: Any) -> Filter:
        return cls._compare(path, value, operator.le, "<=")

    @classmethod
    def exists(cls, path: str) -> Filter:
        return Filter(lambda v: v.get(path, _MISSING) is not _MISSING, f"{path} EXISTS")

    @classmethod
    def matches(cls, path: str, pattern: str) -> Filter:
        """The string value contains a match of the regular expression (search, not full)."""
        compiled = compile_pattern(pattern, f"Filter.matches({path!r})")

        def test(values: Values) -> bool:
            found = values.get(path)
            return isinstance(found, str) and compiled.search(found)

        return Filter(test, f"{path} MATCHES {pattern!r}")

    @classmethod
    def contains_all(cls, path: str, members: Iterable[str]) -> Filter:
        wanted = set(members)
        return Filter(
            lambda v: wanted <= set(v.get(path) or ()), f"{path} CONTAINS ALL {sorted(wanted)}"
        )

    @classmethod
    def contains_any(cls, path: str, members: Iterable[str]) -> Filter:
        wanted = set(members)
        return Filter(
            lambda v: bool(wanted & set(v.get(path) or ())), f"{path} CONTAINS ANY {sorted(wanted)}"
        )

    @classmethod
    def tags(cls, *tags: str) -> Filter:
        """Runs carrying every one of ``tags``."""
        return cls.contains_all("sys/tags", tags)

    @classmethod
    def name(cls, pattern: str) -> Filter:
        """Runs whose experiment name (``sys/name``) matches the regular expression."""
        return cls.matches("sys/name", pattern)

    @classmethod
    def run_id(cls, pattern: str) -> Filter:
        """Runs whose custom run id (``sys/custom_run_id``) matches the regular expression."""
        return cls.matches("sys/custom_run_id", pattern)
