"""Regular expressions that users send (NQL ``MATCHES``, the UI's ``~``, attribute and run
regexes of the read API, ``despina.query`` and the CLI), matched in bounded time.

Python's ``re`` backtracks: ``^(a+)+$`` against ``"a" * 29 + "!"`` takes seconds and doubles per
character, holding the GIL, so one request froze every other request of a server process. Every
user pattern is therefore compiled here with RE2 (the ``google-re2`` package), whose matching is
linear in the text and releases the GIL, and within these limits:

* at most ``MAX_PATTERN_CHARS`` characters;
* at most ``MAX_PROGRAM_SIZE`` RE2 instructions (``x{1000}`` is a thousand of them; the cost of a
  match grows with this times the length of the text, so it bounds one match to milliseconds);
* ``MAX_PATTERN_MEMORY_BYTES`` of RE2 memory (the compiled program and its DFA cache).

RE2 syntax is Python's minus what needs backtracking: backreferences (``\\1``, ``(?P=name)``),
lookahead and lookbehind, atomic groups, possessive quantifiers and conditionals are refused with
a `PatternError` naming the field. Two Python spellings are translated: ``\\Z`` (end of text, RE2's
``\\z``) and ``\\uXXXX`` / ``\\UXXXXXXXX`` (RE2's ``\\x{...}``). Other differences a user may
notice: ``\\d \\w \\s \\b`` are ASCII-only (``\\pL``, ``\\pN`` are the Unicode classes) and ``$``
without ``(?m)`` matches only at the very end, not before a final newline.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import re2  # google-re2

__all__ = [
    "MAX_LONG_PATTERN_CHARS",
    "MAX_LONG_PATTERN_OPERATORS",
    "MAX_NAME_LIST_CHARS",
    "MAX_PATTERN_CHARS",
    "MAX_PROGRAM_SIZE",
    "PatternError",
    "UserPattern",
    "compile_pattern",
]

MAX_PATTERN_CHARS = 4096
# neptune-query spells a list of exact attribute names as ^(name1|name2|…)$ of re.escape'd names,
# up to 60,000 bytes (it notes ~120,000 as the hosted service's limit). Such a pattern is matched
# as a set of names (no regex engine, so its size costs nothing per match) up to this length.
MAX_NAME_LIST_CHARS = 128 * 1024
# Other patterns past MAX_PATTERN_CHARS, up to MAX_LONG_PATTERN_CHARS, are compiled when they are
# lists of alternatives: at least one | and at most MAX_LONG_PATTERN_OPERATORS unescaped
# ( . * + ? { [ (neptune-query's own suite sends ^int-value-0+0(0|1|…|3999)$, 18,906 characters,
# which the hosted service accepts; RE2 factors it into 848 instructions). Measured on the shared
# 2-core machine under load: 64 KiB of literal alternatives compile in ~85 ms, 64 KiB of one
# literal in ~130 ms, and MAX_PROGRAM_SIZE still bounds every match.
MAX_LONG_PATTERN_CHARS = 64 * 1024
MAX_LONG_PATTERN_OPERATORS = 16
MAX_PROGRAM_SIZE = 2500  # RE2 instructions; ~20 ms to search 1 KiB of text at this size
MAX_PATTERN_MEMORY_BYTES = 2 * 1024 * 1024
_CACHED_PATTERNS = 64  # compiled patterns kept (an NQL query re-tests its pattern per run)
_METACHARACTERS = frozenset(".^$*+?{}[]\\|()")
# Python escapes RE2 spells differently; matched as whole escapes so "\\Z" (a backslash, then Z)
# is left alone.
_PYTHON_ESCAPE = re.compile(r"\\(?:(Z)|u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|.)", re.DOTALL)
# What RE2 lacks that Python has, for the error message (RE2's own names the operator only).
_BACKTRACKING_ONLY = (
    "backreferences, lookahead/lookbehind, atomic groups, possessive quantifiers "
    "and conditionals are not supported"
)


class PatternError(ValueError):
    """A user pattern that is not accepted; the message names the field and the reason/limit."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class UserPattern:
    """A compiled user pattern: ``search(text)`` is whether it matches anywhere in ``text``."""

    __slots__ = ("_literal", "_names", "_regexp", "pattern")

    def __init__(self, pattern: str, regexp: Any, names: frozenset[str] | None = None) -> None:
        self.pattern = pattern
        self._regexp = regexp  # an re2._re2.RE2, or None for a literal or a list of names
        self._names = names  # the names of a ^(a|b)$ list of escaped names
        # A pattern without metacharacters (most attribute "regexes": "train/", "loss") is a
        # substring test, ~50x cheaper than a call into RE2.
        self._literal = pattern if regexp is None and names is None else None

    def search(self, text: str) -> bool:
        if self._names is not None:
            return text in self._names
        if self._literal is not None:
            return self._literal in text
        # surrogatepass: a str with a lone surrogate still encodes (it can match nothing real)
        data = text.encode("utf-8", "surrogatepass")
        span = self._regexp.Match(re2._Anchor.UNANCHORED, data, 0, len(data))[0]
        return bool(span[0] >= 0)

    def __repr__(self) -> str:
        return f"UserPattern({self.pattern!r})"


def compile_pattern(pattern: str, field: str) -> UserPattern:
    """``pattern`` compiled for bounded-time search; raises `PatternError` naming ``field``."""
    if MAX_PATTERN_CHARS < len(pattern) <= MAX_NAME_LIST_CHARS:
        names = _name_list(pattern)
        if names is not None:
            return UserPattern(pattern, None, names)
    long_ok = (
        len(pattern) <= MAX_LONG_PATTERN_CHARS
        and "|" in pattern
        and _operators(pattern) <= MAX_LONG_PATTERN_OPERATORS
    )
    if len(pattern) > MAX_PATTERN_CHARS and not long_ok:
        raise PatternError(
            field,
            f"the regular expression is {len(pattern)} characters long; "
            f"the limit is {MAX_PATTERN_CHARS} (or {MAX_LONG_PATTERN_CHARS} for alternatives "
            f"a|b|… with at most {MAX_LONG_PATTERN_OPERATORS} of ( . * + ? {{ [ )",
        )
    try:
        return _compiled(pattern)
    except _Refused as refused:
        raise PatternError(field, str(refused)) from None


def _name_list(pattern: str) -> frozenset[str] | None:
    """The names of ``^(a|b|…)$`` whose alternatives are escaped literals, else None."""
    if not (pattern.startswith("^(") and pattern.endswith(")$")):
        return None
    names, current, chars = [], [], iter(pattern[2:-2])
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if not escaped or escaped.isalnum() or escaped == "_":
                return None  # \d, \1, a trailing backslash: a real regex
            current.append(escaped)
        elif char == "|":
            names.append("".join(current))
            current = []
        elif char in _METACHARACTERS:
            return None
        else:
            current.append(char)
    names.append("".join(current))
    return frozenset(names)


def _operators(pattern: str) -> int:
    """Unescaped ( . * + ? { [ in ``pattern``: what makes a long pattern costly to compile."""
    count, escaped = 0, False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "(.*+?{[":
            count += 1
    return count


class _Refused(Exception):
    pass


@functools.lru_cache(maxsize=_CACHED_PATTERNS)
def _compiled(pattern: str) -> UserPattern:
    if not _METACHARACTERS.intersection(pattern):
        return UserPattern(pattern, None)
    translated = _PYTHON_ESCAPE.sub(_translate_escape, pattern)
    try:
        encoded = translated.encode("utf-8")
    except UnicodeEncodeError:
        raise _Refused(f"{pattern!r} is not valid Unicode (a lone surrogate)") from None
    regexp = re2._re2.RE2(encoded, _options())
    if not regexp.ok():
        raise _Refused(_why(pattern, regexp.error()))
    size = regexp.ProgramSize()
    if size > MAX_PROGRAM_SIZE:
        raise _Refused(
            f"{pattern!r} is too complex: {size} RE2 instructions, the limit is "
            f"{MAX_PROGRAM_SIZE} (a long counted repetition such as x{{1000}} is the usual cause)"
        )
    return UserPattern(pattern, regexp)


def _options() -> Any:
    options = re2.Options()
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.never_capture = True  # only whether it matches is asked: no group bookkeeping
    options.max_mem = MAX_PATTERN_MEMORY_BYTES
    return options


def _translate_escape(match: re.Match[str]) -> str:
    end, short, long = match.groups()
    if end:
        return r"\z"
    if short or long:
        return f"\\x{{{short or long}}}"
    return match.group()


def _why(pattern: str, error: bytes | str) -> str:
    reason = error.decode("utf-8", "replace") if isinstance(error, bytes) else error
    if "too large" in reason:
        return (
            f"{pattern!r} is too complex: it needs more than "
            f"{MAX_PATTERN_MEMORY_BYTES // (1024 * 1024)} MiB to compile"
        )
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        return f"invalid regular expression {pattern!r}: {error}"
    # Python accepts it, RE2 does not: a construct that only a backtracking engine runs.
    return (
        f"{pattern!r} is not supported ({reason}): patterns run on a linear-time engine (RE2), "
        f"where {_BACKTRACKING_ONLY}"
    )
