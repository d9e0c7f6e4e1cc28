"""The public surface is pinned: changing it must be a deliberate edit of this test."""

from __future__ import annotations

import neptune_scale
from neptune_scale import exceptions, types


def test_package_all_is_pinned() -> None:
    assert sorted(neptune_scale.__all__) == [
        "NeptuneLoggingHandler",
        "Run",
        "SourceTrackingConfig",
        "create_project",
        "exceptions",
        "list_projects",
        "sync_run",
        "types",
    ]
    for name in neptune_scale.__all__:
        assert hasattr(neptune_scale, name)


def test_types_all_is_pinned() -> None:
    assert types.__all__ == ["File", "Histogram"]


def test_exception_names_follow_the_official_client() -> None:
    expected = {
        "NeptuneScaleError", "NeptuneScaleWarning", "NeptuneUnableToLogData",
        "NeptuneSeriesStepNonIncreasing", "NeptuneAttributeTypeMismatch",
        "NeptuneProjectNotFound", "NeptuneRunDuplicate", "NeptuneSeriesPointDuplicate",
        "NeptuneOperationsQueueMaxSizeExceeded", "NeptuneHistogramTooManyBins",
        "NeptuneConnectionLostError", "NeptuneFileUploadError",
    }  # fmt: skip
    assert expected <= set(exceptions.__all__)
    for name in exceptions.__all__:
        assert hasattr(exceptions, name)
    assert issubclass(exceptions.NeptuneProjectNotFound, exceptions.NeptuneProjectError)
    assert issubclass(exceptions.NeptuneRunDuplicate, Warning)
