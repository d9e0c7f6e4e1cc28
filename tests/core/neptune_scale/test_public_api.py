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


def test_wire_and_token_modules_are_pinned() -> None:
    """The server and the integrations import these two: their surface changes deliberately."""
    from neptune_scale import token, wire

    assert token.__all__ == [
        "ApiToken", "InvalidApiTokenError", "api_url_of", "encode_api_token", "parse_api_token",
    ]  # fmt: skip
    assert sorted(wire.__all__) == wire.__all__ and len(wire.__all__) == 55
    for module in (token, wire):
        assert module.__doc__ and all(hasattr(module, name) for name in module.__all__)
    for name in ("decode_varint", "step_value", "timestamp_ms", "float_entry_key",
                 "FLOAT_VALUE_HEADER", "fast_step_field", "frame_snapshot"):  # fmt: skip
        assert name in wire.__all__


def test_run_signatures_are_those_of_the_facade() -> None:
    """Run's methods keep their public signatures; log_metrics is served by the Recorder
    (bound per run) with the same one."""
    import inspect

    from neptune_scale import Run
    from neptune_scale._recorder import Recorder

    facade = inspect.signature(Run.log_metrics)
    assert str(facade) == (
        "(self, data: 'Mapping[str, float | int]', step: 'float | int', *, "
        "timestamp: 'datetime | None' = None, preview: 'bool' = False, "
        "preview_completion: 'float | None' = None) -> 'None'"
    )
    assert inspect.signature(Recorder.log_metrics) == facade
