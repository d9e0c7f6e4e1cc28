"""The runs table's fast JSON decoding of stored values answers exactly as ``decode_value``."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from despina.query._values import _decode
from despina.store._model import decode_value, encode_value
from hypothesis import given
from hypothesis import strategies as st

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text()
stored = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


def same(a: Any, b: Any) -> bool:
    """Equal, NaN included, and of the same types (1 is not 1.0 here)."""
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@given(stored)
def test_stored_values_decode_as_decode_value_does(value: Any) -> None:
    text = encode_value(value)
    assert same(_decode(text), decode_value(text))


@pytest.mark.parametrize("text", [" 1", "1 ", '{"a": 1}', "[1, 2]", "1.5e3", "-Infinity"])
def test_other_valid_json_too(text: str) -> None:
    assert same(_decode(text), decode_value(text))


@pytest.mark.parametrize("text", ["", "1 2", "[1,", "nope", '"open'])
def test_malformed_text_fails_as_decode_value_does(text: str) -> None:
    with pytest.raises(json.JSONDecodeError):
        decode_value(text)
    with pytest.raises(json.JSONDecodeError):
        _decode(text)
