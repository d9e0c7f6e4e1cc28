"""NQL, the query language of the leaderboard search (protocol §5.8), as a predicate over runs.

``parse(text)`` turns a query into a :class:`Query`, a callable taking a run's attribute types
(stored type names) and values (as ``despina.query`` readers see them: series carry their last
value). Every literal is a quoted string; it is coerced to the attribute's type (``:type``, else
the stored one). A missing attribute makes a comparison false and its negated forms (``NOT
MATCHES``, ``NOT CONTAINS``) true. Malformed queries raise :class:`NQLError` naming the position.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from despina._patterns import PatternError, UserPattern, compile_pattern

__all__ = ["AGGREGATIONS", "NQLError", "Predicate", "Query", "parse"]

AGGREGATIONS = frozenset({"last", "min", "max", "average", "variance"})
MAX_QUERY_CHARS = 100_000  # a generated query for 1,000 run ids is far below this
_NUMERIC = {"float", "int", "floatSeries"}
_TEXT = {"string", "stringSeries"}
_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "==": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
}
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<name>`[^`]*`)
      | (?P<string>"(?:\\.|[^"\\])*")
      | (?P<op>==|!=|>=|<=|>|<|\(|\)|:)
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)

Values = Mapping[str, Any]
Types = Mapping[str, str]
# (attribute name, aggregation) -> that aggregate of the run's float series, or None.
Aggregate = Callable[[str, str], Any]


class NQLError(ValueError):
    """A query that does not parse; the message names the position and what was expected."""


@dataclass(frozen=True)
class Predicate:
    """``attr[:type] OP literal``, ``attr EXISTS``, ``attr [NOT] MATCHES|CONTAINS literal``."""

    name: str
    type: str | None
    op: str  # a comparison, "EXISTS", "MATCHES", "CONTAINS"
    literal: str | None = None
    negated: bool = False
    aggregation: str | None = None

    def __call__(self, types: Types, values: Values, aggregate: Aggregate | None = None) -> bool:
        kind = types.get(self.name)
        present = kind is not None and (self.type is None or self.type == kind)
        if self.op == "EXISTS":
            return present
        if not present or kind is None:
            return self.negated
        value = values.get(self.name)
        if self.aggregation not in (None, "last") and aggregate is not None:
            value = aggregate(self.name, self.aggregation)
        if value is None:
            return self.negated
        found = self._test(kind, value)
        return not found if self.negated else found

    def _test(self, kind: str, value: Any) -> bool:
        assert self.literal is not None
        if self.op == "MATCHES":
            items = value if kind == "stringSet" else [value]
            pattern = _regex(self.name, self.literal)
            return any(pattern.search(str(item)) for item in items)
        if self.op == "CONTAINS":
            if kind == "stringSet":
                return self.literal in value
            return isinstance(value, str) and self.literal in value
        target = _coerce(kind, self.literal)
        if kind == "stringSet":
            value = sorted(value)
            target = sorted(target)
        try:
            return _CMP[self.op](_comparable(kind, value), target)
        except TypeError:
            return False


@dataclass(frozen=True)
class Query:
    """A parsed query: ``op`` is "AND", "OR", "NOT" or "PRED" (then ``predicate`` is set)."""

    op: str
    children: tuple[Query, ...] = ()
    predicate: Predicate | None = None

    def __call__(self, types: Types, values: Values, aggregate: Aggregate | None = None) -> bool:
        if self.op == "PRED":
            assert self.predicate is not None
            return self.predicate(types, values, aggregate)
        if self.op == "NOT":
            return not self.children[0](types, values, aggregate)
        results = (child(types, values, aggregate) for child in self.children)
        return all(results) if self.op == "AND" else any(results)

    def names(self) -> set[str]:
        """Every attribute the query reads."""
        if self.predicate is not None:
            return {self.predicate.name}
        return set().union(*(child.names() for child in self.children))


def _regex(name: str, literal: str) -> UserPattern:
    # compiled patterns are cached, so testing one per run costs a dictionary lookup
    try:
        return compile_pattern(literal, f"`{name}` MATCHES")
    except PatternError as error:
        raise NQLError(str(error)) from None


def _coerce(kind: str, literal: str) -> Any:
    try:
        if kind in _NUMERIC:
            return float(literal)
        if kind == "bool":
            if literal.lower() not in ("true", "false"):
                raise ValueError("expected True or False")
            return literal.lower() == "true"
        if kind == "datetime":
            parsed = dt.datetime.fromisoformat(literal.replace("Z", "+00:00"))
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.timezone.utc)
            return parsed
        if kind == "stringSet":
            return [literal]
    except ValueError as error:
        raise NQLError(f"the literal {literal!r} is not a valid {kind}: {error}") from error
    return literal


def _comparable(kind: str, value: Any) -> Any:
    if kind in _NUMERIC:
        number = float(value)
        return None if math.isnan(number) else number
    return value


def _unquote(token: str) -> str:
    return re.sub(r"\\(.)", r"\1", token[1:-1])


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = self._lex(text)
        self.i = 0

    @staticmethod
    def _lex(text: str) -> list[tuple[str, str, int]]:
        out, pos = [], 0
        stripped = text.rstrip()
        while pos < len(stripped):
            match = _TOKEN.match(stripped, pos)
            if match is None or match.end() == pos:
                raise NQLError(
                    f"unexpected character at position {pos}: {stripped[pos : pos + 20]!r}"
                )
            kind = match.lastgroup
            assert kind is not None
            out.append((kind, match.group(kind), match.start(kind)))
            pos = match.end()
        return out

    def peek(self, value: str | None = None) -> bool:
        if self.i >= len(self.tokens):
            return False
        kind, text, _ = self.tokens[self.i]
        if value is None:
            return True
        return text.upper() == value if kind == "word" else text == value

    def take(self, kind: str | None = None, what: str = "a token") -> str:
        if self.i >= len(self.tokens):
            raise NQLError(f"the query ends where {what} was expected")
        found_kind, text, pos = self.tokens[self.i]
        if kind is not None and found_kind != kind:
            raise NQLError(f"expected {what} at position {pos}, found {text!r}")
        self.i += 1
        return text

    def query(self) -> Query:
        parts = [self.conjunction()]
        while self.peek("OR"):
            self.i += 1
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else Query("OR", tuple(parts))

    def conjunction(self) -> Query:
        parts = [self.unary()]
        while self.peek("AND"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else Query("AND", tuple(parts))

    def unary(self) -> Query:
        if self.peek("NOT"):
            self.i += 1
            return Query("NOT", (self.unary(),))
        if self.peek("("):
            self.i += 1
            inner = self.query()
            if self.take("op", "')'") != ")":
                self._fail("')'")
            return inner
        return Query("PRED", predicate=self.predicate())

    def _fail(self, what: str) -> None:
        raise NQLError(f"expected {what} before token {self.i}")

    def predicate(self) -> Predicate:
        aggregation = None
        if self.peek() and self.tokens[self.i][0] == "word":
            word = self.take().lower()
            if word not in AGGREGATIONS:
                raise NQLError(f"expected an attribute name in backticks, found {word!r}")
            aggregation = word
            if self.take("op", "'('") != "(":
                self._fail("'('")
        name = _unquote(self.take("name", "an attribute name in backticks"))
        kind = None
        if self.peek(":"):
            self.i += 1
            kind = self.take("word", "an attribute type")
        if aggregation is not None and self.take("op", "')'") != ")":
            self._fail("')'")
        return self.condition(name, kind, aggregation)

    def condition(self, name: str, kind: str | None, aggregation: str | None) -> Predicate:
        if self.peek("EXISTS"):
            self.i += 1
            return Predicate(name, kind, "EXISTS", aggregation=aggregation)
        negated = self.peek("NOT")
        if negated:
            self.i += 1
        if self.peek("MATCHES") or self.peek("CONTAINS"):
            op = self.take().upper()
            literal = _unquote(self.take("string", "a quoted string"))
            if op == "MATCHES":
                _regex(name, literal)  # a bad pattern fails the request, not each run
            return Predicate(name, kind, op, literal, negated, aggregation)
        if negated:
            raise NQLError(f"NOT after `{name}` must be followed by MATCHES or CONTAINS")
        op = self.take("op", "a comparison operator")
        if op not in _CMP:
            raise NQLError(f"expected a comparison operator after `{name}`, found {op!r}")
        literal = _unquote(self.take("string", "a quoted string"))
        if kind is not None:
            _coerce(kind, literal)
        return Predicate(name, kind, op, literal, aggregation=aggregation)


def parse(text: str) -> Query | None:
    """The query, or None for an empty one (which matches every run)."""
    if len(text) > MAX_QUERY_CHARS:
        raise NQLError(f"the query is {len(text)} characters long; the limit is {MAX_QUERY_CHARS}")
    if not text.strip():
        return None
    parser = _Parser(text)
    query = parser.query()
    if parser.i != len(parser.tokens):
        raise NQLError(f"unexpected {parser.tokens[parser.i][1]!r} after a complete query")
    return query
