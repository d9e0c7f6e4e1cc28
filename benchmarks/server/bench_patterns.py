"""Cost of matching user regexes: Python's ``re`` (before) beside ``despina._patterns`` (RE2).

Per-call cost of ``search`` over 20,000 attribute-like names, for typical patterns, and the
catastrophic ``^(a+)+$`` against ``"a" * n + "!"`` (``re`` doubles per character).

    python benchmarks/server/bench_patterns.py

Prints one table, side by side.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from despina._patterns import compile_pattern

NAMES = [f"train/layer{i % 97}/{kind}" for i in range(5000) for kind in ("loss", "acc", "lr", "w")]
TYPICAL = ["train/", "^train/layer1", "loss$", "(?i)LOSS|acc", r"layer\d+/l"]
EVIL = "^(a+)+$"
EVIL_LENGTHS = (18, 20, 22, 24)
REPEATS = 3


def _per_call_us(search: Callable[[str], object], texts: list[str]) -> float:
    best = float("inf")
    for _ in range(REPEATS):
        started = time.perf_counter()
        for text in texts:
            search(text)
        best = min(best, time.perf_counter() - started)
    return best / len(texts) * 1e6


def main() -> None:
    print(f"{'pattern':<28}{'text':<22}{'re (µs/call)':>14}{'RE2 (µs/call)':>15}")
    for pattern in TYPICAL:
        python = _per_call_us(re.compile(pattern).search, NAMES)
        ours = _per_call_us(compile_pattern(pattern, "bench").search, NAMES)
        print(f"{pattern:<28}{'20,000 names':<22}{python:>14.2f}{ours:>15.2f}")
    for n in EVIL_LENGTHS:
        text = "a" * n + "!"
        python = _per_call_us(re.compile(EVIL).search, [text])
        ours = _per_call_us(compile_pattern(EVIL, "bench").search, [text])
        print(f"{EVIL:<28}{'a' * 3 + f'…({n})!':<22}{python:>14.0f}{ours:>15.2f}")


if __name__ == "__main__":
    main()
