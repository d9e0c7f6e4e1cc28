"""NQL as neptune-query generates it (protocol §5.8), evaluated over one run's values."""

from __future__ import annotations

import datetime as dt

import pytest
from despina.api._neptune_query.nql import NQLError, parse

UTC = dt.timezone.utc
TYPES = {
    "sys/name": "string",
    "sys/custom_run_id": "string",
    "sys/tags": "stringSet",
    "sys/creation_time": "datetime",
    "sys/experiment/is_head": "bool",
    "params/lr": "float",
    "params/batch": "int",
    "train/loss": "floatSeries",
    "notes": "stringSeries",
}
VALUES = {
    "sys/name": "exp-A",
    "sys/custom_run_id": "run-7",
    "sys/tags": {"t1", "baseline"},
    "sys/creation_time": dt.datetime(2025, 3, 1, 12, 0, tzinfo=UTC),
    "sys/experiment/is_head": True,
    "params/lr": 0.01,
    "params/batch": 64,
    "train/loss": 0.25,
    "notes": "all good",
}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('((`sys/name`:string MATCHES "^exp"))', True),
        ('(`sys/name`:string == "e1") OR (`sys/name`:string == "exp-A")', True),
        ('((`sys/custom_run_id`:string MATCHES "run-"))', True),
        ('(`params/lr`:float > "0.0001") AND ((`sys/tags`:stringSet CONTAINS "t1"))', True),
        ('NOT ((`sys/tags` NOT CONTAINS "test") AND (`sys/tags` NOT CONTAINS "buggy"))', False),
        ("`dataset_version` EXISTS", False),
        ("`params/lr` EXISTS", True),
        ("`params/lr`:int EXISTS", False),  # exists, but not with that type
        ('`params/batch`:int >= "64"', True),
        ('`params/batch`:int < "64"', False),
        ('`train/loss`:floatSeries <= "0.25"', True),
        ('last(`train/loss`:floatSeries) == "0.25"', True),
        ('`sys/experiment/is_head`:bool == "True"', True),
        ('`sys/creation_time`:datetime > "2025-01-01T00:00:00+00:00"', True),
        ('`sys/creation_time`:datetime <= "2025-03-01T13:00:00+01:00"', True),  # 12:00 UTC
        ('`sys/creation_time`:datetime < "2025-03-01T13:00:00+01:00"', False),
        ('`notes`:stringSeries CONTAINS "good"', True),
        ('`sys/name`:string != "exp-A"', False),
        ('`missing`:float > "1"', False),  # a comparison on a missing attribute is false
        ('`missing`:string NOT MATCHES "x"', True),  # ... and its negated forms true
        ('`sys/name`:string == "say \\"hi\\""', False),
        ("  ", True),
    ],
)
def test_queries_match_as_the_client_means(query: str, expected: bool) -> None:
    parsed = parse(query)
    assert (parsed is None) if not query.strip() else (parsed is not None)
    assert (parsed(TYPES, VALUES) if parsed is not None else True) is expected


def test_escaped_quotes_reach_the_literal() -> None:
    parsed = parse('`sys/name`:string == "say \\"hi\\""')
    assert parsed is not None and parsed.predicate is not None
    assert parsed.predicate.literal == 'say "hi"'
    assert parsed({"sys/name": "string"}, {"sys/name": 'say "hi"'})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("`a` ==", "quoted string"),
        ('(`a` == "x"', r"'\)'"),
        ('`a`:float > "abc"', "not a valid float"),
        ('`a` MATCHES "("', "invalid regular expression"),
        ('`a` NOT == "x"', "MATCHES or CONTAINS"),
        ('sum(`a`) == "1"', "attribute name"),
        ('`a` == "x" `b`', "after a complete query"),
        ("`a` == 'x'", "unexpected character"),
    ],
)
def test_malformed_queries_say_what_is_wrong(query: str, message: str) -> None:
    with pytest.raises(NQLError, match=message):
        parse(query)
