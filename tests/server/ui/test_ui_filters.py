"""The runs-table filter language: parsing, errors that name the condition, and matching."""

from __future__ import annotations

import pandas as pd
import pytest
from despina.ui._filters import Condition, FilterError, apply_filter, parse_filter


@pytest.fixture
def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sys/custom_run_id": ["a-1", "b-2", "c-3", "d-4"],
            "sys/name": ["exp-a", "exp-a", "exp-b", None],
            "sys/tags": [{"baseline", "x"}, {"test"}, set(), {"baseline"}],
            "params/lr": [0.01, 0.1, None, 0.001],
            "params/opt": ["adam", "sgd", "adam", None],
            "params/flag": [True, False, None, True],
        }
    )


def ids(frame: pd.DataFrame) -> list[str]:
    return list(frame["sys/custom_run_id"])


def test_parse_reads_every_kind_of_condition() -> None:
    parsed = parse_filter(
        "tag:baseline AND !tag:test and name:^exp AND params/lr >= 0.01 "
        'AND params/opt ~ "ad" AND params/x exists'
    )
    assert parsed == [
        Condition("tag", value="baseline"),
        Condition("tag", value="test", negated=True),
        Condition("name", value="^exp"),
        Condition("compare", "params/lr", ">=", "0.01"),
        Condition("compare", "params/opt", "~", "ad"),
        Condition("exists", attribute="params/x"),
    ]
    assert parse_filter("   ") == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("params/lr", "cannot read 'params/lr'"),
        ("params/lr >", "a value must follow '>'"),
        ("tag:", "needs a value"),
        ("name:([", "bad regular expression"),
        ("tag:a AND ", "empty condition"),
        ("!params/lr > 1", "only negates"),
        ("x" * 5000, "the limit is 4000"),
    ],
)
def test_bad_filters_name_the_condition(text: str, fragment: str) -> None:
    with pytest.raises(FilterError, match="filter: ") as caught:
        parse_filter(text)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tag:baseline", ["a-1", "d-4"]),
        ("!tag:baseline", ["b-2", "c-3"]),
        ("name:exp-a", ["a-1", "b-2"]),
        ("name:^c-", ["c-3"]),
        ("params/lr > 0.005", ["a-1", "b-2"]),
        ("params/lr <= 0.01", ["a-1", "d-4"]),
        ("params/lr == 0.1", ["b-2"]),
        ("params/lr != 0.1", ["a-1", "c-3", "d-4"]),  # a missing value is "not equal"
        ("params/opt == adam", ["a-1", "c-3"]),
        ("params/opt ~ ^s", ["b-2"]),
        ("params/opt !~ ^s", ["a-1", "c-3", "d-4"]),
        ("params/flag == true", ["a-1", "d-4"]),
        ("params/lr exists", ["a-1", "b-2", "d-4"]),
        ("params/unknown exists", []),
        ("params/unknown > 1", []),
        ("tag:baseline AND params/lr < 0.005", ["d-4"]),
        ("params/opt > 1", []),  # text never compares with a number
    ],
)
def test_apply_filter(table: pd.DataFrame, text: str, expected: list[str]) -> None:
    assert ids(apply_filter(table, parse_filter(text))) == expected
