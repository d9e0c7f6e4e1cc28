"""The runs-table filter language of the web UI, and how it applies to a runs table.

A filter is conditions joined by ``AND`` (any case). Each condition is one of::

    tag:baseline            the run carries this tag      (!tag:x  = it does not)
    name:^exp-              regex search in the experiment name or the run id
    params/lr > 0.001       attribute comparison: == != > >= < <=
    sys/name ~ ^exp         regex search in a string attribute (!~ = no match)
    params/lr exists        the attribute is set

Values may be quoted (``"a b"``). Numbers compare as numbers, anything else as text. A float
series compares by its last value, which is what the runs table holds for it. A run lacking
the attribute fails every condition except the negated ones (``!=``, ``!~``, ``!tag:``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from despina._patterns import PatternError, UserPattern, compile_pattern

__all__ = ["Condition", "FilterError", "apply_filter", "filter_attributes", "parse_filter"]

# Longest operators first so that ">=" is not read as ">" followed by "=".
_OPERATORS = ("==", "!=", ">=", "<=", "!~", ">", "<", "~")
# The lookbehind starts a match only at the first blank of a run: without it a long run of blanks
# is rescanned from each of its positions (4,000 blanks took 0.3 s, holding the GIL).
_AND = re.compile(r"(?<!\s)\s+and(?:\s+|$)|^and\s+", re.IGNORECASE)
MAX_FILTER_CHARS = 4000  # a filter longer than this is certainly not typed by hand
NAME_COLUMNS = ("sys/name", "sys/custom_run_id")
TAGS_COLUMN = "sys/tags"


class FilterError(ValueError):
    """A filter the UI cannot understand; the message names the condition at fault."""


@dataclass(frozen=True)
class Condition:
    """One condition: ``kind`` is ``tag``, ``name``, ``compare`` or ``exists``."""

    kind: str
    attribute: str = ""
    operator: str = ""
    value: str = ""
    negated: bool = False


def parse_filter(text: str) -> list[Condition]:
    """Parse the filter text; raises `FilterError` naming the condition that is wrong."""
    if len(text) > MAX_FILTER_CHARS:
        raise FilterError(f"filter: {len(text)} characters, the limit is {MAX_FILTER_CHARS}")
    text = text.strip()
    if not text:
        return []
    return [_parse_condition(part.strip()) for part in _AND.split(text)]


def _parse_condition(part: str) -> Condition:
    if not part:
        raise FilterError("filter: an empty condition next to AND")
    negated = part.startswith("!") and not part.startswith("!=")
    body = part[1:] if negated else part
    for prefix, kind in (("tag:", "tag"), ("name:", "name")):
        if body.lower().startswith(prefix):
            value = _unquote(body[len(prefix) :].strip(), part)
            if not value:
                raise FilterError(f"filter: {part!r} needs a value after {prefix!r}")
            if kind == "name":
                _compile(value, part)
            return Condition(kind=kind, value=value, negated=negated)
    if negated:
        raise FilterError(f"filter: {part!r}: '!' only negates tag: and name: conditions")
    lowered = part.lower()
    if lowered.endswith(" exists"):
        return Condition(kind="exists", attribute=part[: -len(" exists")].strip())
    for operator in _OPERATORS:
        attribute, found, value = part.partition(f" {operator} ")
        if not found:
            attribute, found, value = part.partition(operator)
        if found and attribute.strip():
            if not value.strip():
                raise FilterError(f"filter: cannot read {part!r}; a value must follow {operator!r}")
            value = _unquote(value.strip(), part)
            if operator in ("~", "!~"):
                _compile(value, part)
            return Condition("compare", attribute.strip(), operator, value)
    raise FilterError(
        f"filter: cannot read {part!r}; expected 'tag:T', 'name:REGEX', "
        "'ATTRIBUTE OP VALUE' with OP one of == != > >= < <= ~ !~, or 'ATTRIBUTE exists'"
    )


def _unquote(value: str, part: str) -> str:
    if value[:1] in ("'", '"'):
        try:
            words = shlex.split(value)
        except ValueError as error:
            raise FilterError(f"filter: {part!r}: {error}") from None
        return " ".join(words)
    return value


def _compile(pattern: str, part: str) -> UserPattern:
    try:
        return compile_pattern(pattern, "filter")
    except PatternError as error:
        raise FilterError(f"filter: {part!r}: bad regular expression ({error.reason})") from None


def filter_attributes(conditions: Iterable[Condition]) -> set[str]:
    """The attribute columns the conditions read (so the table can be fetched with them)."""
    needed: set[str] = set()
    for condition in conditions:
        if condition.kind == "tag":
            needed.add(TAGS_COLUMN)
        elif condition.kind == "name":
            needed.update(NAME_COLUMNS)
        else:
            needed.add(condition.attribute)
    return needed


def apply_filter(table: pd.DataFrame, conditions: Iterable[Condition]) -> pd.DataFrame:
    """Keep the rows of ``table`` (one row per run, a column per attribute) that match all."""
    mask = np.ones(len(table), dtype=bool)
    for condition in conditions:
        mask &= _mask(table, condition)
    return table[mask]


def _mask(table: pd.DataFrame, condition: Condition) -> np.ndarray[Any, np.dtype[np.bool_]]:
    n = len(table)
    if condition.kind == "tag":
        tags = table[TAGS_COLUMN] if TAGS_COLUMN in table else pd.Series([None] * n)
        has = np.fromiter((_has_tag(v, condition.value) for v in tags), dtype=bool, count=n)
        return ~has if condition.negated else has
    if condition.kind == "name":
        pattern = _compile(condition.value, condition.value)
        found = np.zeros(n, dtype=bool)
        for column in NAME_COLUMNS:
            if column in table:
                found |= _search(table[column], pattern)
        return ~found if condition.negated else found
    if condition.attribute not in table:
        # The attribute is set on no run: only the negated comparisons hold.
        return np.full(n, condition.operator in ("!=", "!~"), dtype=bool)
    column = table[condition.attribute]
    if condition.kind == "exists":
        return np.asarray(column.notna(), dtype=bool)
    return _compare(column, condition.operator, condition.value)


def _has_tag(value: object, tag: str) -> bool:
    if isinstance(value, str):
        return tag in value.split(",")
    return isinstance(value, Iterable) and tag in value


def _search(column: pd.Series[Any], pattern: UserPattern) -> np.ndarray[Any, Any]:
    return np.fromiter(
        (isinstance(v, str) and pattern.search(v) for v in column),
        dtype=bool,
        count=len(column),
    )


def _compare(column: pd.Series[Any], operator: str, value: str) -> np.ndarray[Any, Any]:
    if operator in ("~", "!~"):
        found = _search(column, _compile(value, value))
        return found if operator == "~" else ~found
    target = _coerce_target(value)
    test = _PY_OPS[operator]
    missing = operator == "!="  # a run without the attribute is "not equal" to anything

    def one(v: Any) -> bool:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return missing
        mine = _comparable(v, target)
        if mine is None:
            return missing
        return bool(test(mine, target))

    return np.fromiter((one(v) for v in column), dtype=bool, count=len(column))


def _coerce_target(value: str) -> float | bool | str:
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    try:
        return float(value)
    except ValueError:
        return value


def _comparable(v: Any, target: float | bool | str) -> Any:
    """``v`` in the kind of ``target``, or None when the two cannot be compared."""
    if isinstance(target, bool):
        return bool(v) if isinstance(v, bool | np.bool_) else None
    if isinstance(target, float):
        if isinstance(v, bool | np.bool_):
            return None
        if isinstance(v, int | float | np.integer | np.floating):
            return float(v)
        return None
    return v.isoformat() if hasattr(v, "isoformat") else str(v)


_PY_OPS: dict[str, Any] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}
