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


def test_surfaces_for_tools_and_integrations_are_pinned() -> None:
    """`despina import` and the integrations use these, not the client's private modules."""
    from neptune_scale import file_refs, http_transport, model_watch

    assert file_refs.__all__ == ["DEFAULT_MIME", "destination_part", "guess_mime"]
    assert http_transport.__all__ == ["create_http_transport"]
    assert model_watch.__all__ == ["WATCH_MODES", "ModelWatcher"]
    for module in (file_refs, http_transport, model_watch):
        assert module.__doc__ and all(hasattr(module, name) for name in module.__all__)


def test_file_refs_name_files_as_a_run_does() -> None:
    from neptune_scale.file_refs import DEFAULT_MIME, destination_part, guess_mime

    assert guess_mime("plot.png") == "image/png"
    assert guess_mime("weights.unknown-ext") == DEFAULT_MIME == "application/octet-stream"
    part = destination_part("a b/ü", 200)
    assert part.startswith("a_b_-") and len(part) == len("a_b_-") + 8
    assert destination_part("a b", 200) != destination_part("a_b", 200)  # the hash keeps apart
    assert destination_part("x" * 300, 120).startswith("x" * 120 + "-")


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
