"""Exceptions raised at call sites or handed to a run's callbacks.

Names follow the official neptune-scale client so code that catches them keeps working. The tree,
so you can catch at the level you care about::

    Exception
    └── NeptuneScaleError                         errors; default callback: log an error
        ├── NeptuneUnableToLogData                invalid value (NEPTUNE_LOG_FAILURE_ACTION=raise)
        ├── NeptuneOperationsQueueMaxSizeExceeded backlog passed max_queue_size, or (disk full)
        │                                         the operations held in memory were dropped
        ├── NeptuneLocalStorageFull               no room for the operation log; held in memory
        ├── NeptuneSynchronizationStopped         sending stopped after a fatal error
        ├── NeptuneOperationLogDamaged            damaged records on disk were skipped
        ├── NeptuneFileUploadError                a file could not be uploaded
        ├── NeptuneUnexpectedError                an ingest code without a mapping
        ├── NeptuneRetryableError                 delivery failed, will be retried
        │   ├── NeptuneConnectionLostError
        │   ├── NeptuneInternalServerError
        │   ├── NeptuneTooManyRequestsResponseError
        │   └── NeptuneUnexpectedResponseError
        ├── NeptuneUnauthorizedError              (fatal) the server refused the credentials
        ├── NeptuneInvalidCredentialsError        (fatal) the API token cannot be used
        ├── NeptuneProjectError                   (fatal)
        │   ├── NeptuneProjectNotFound                          ingest code 8
        │   └── NeptuneProjectInvalidName                       9
        ├── NeptuneRunError                       (fatal)
        │   ├── NeptuneRunNotFound                              10
        │   └── NeptuneRunInvalidCreationParameters             14
        ├── NeptuneAttributePathExceedsSizeLimit                16
        ├── NeptuneAttributePathEmpty                           17
        ├── NeptuneAttributePathInvalid                         18
        ├── NeptuneAttributePathNonWritable                     19
        ├── NeptuneAttributeTypeUnsupported                     20
        ├── NeptuneAttributeTypeMismatch                        21
        ├── NeptuneSeriesStepNonIncreasing                      25
        ├── NeptuneSeriesStepNotAfterForkPoint                  26
        ├── NeptuneSeriesTimestampDecreasing                    27
        ├── NeptuneStringValueExceedsSizeLimit                  36
        ├── NeptuneStringSetExceedsSizeLimit                    37
        ├── NeptuneFileMetadataExceedsSizeLimit                 38
        ├── NeptuneSeriesStepTooLarge                           40
        ├── NeptunePreviewStepNotAfterLastCommittedStep         42
        ├── NeptuneHistogramBinEdgesContainNaN                  50
        ├── NeptuneHistogramTooManyBins                         51
        ├── NeptuneHistogramBinEdgesNotIncreasing               52
        └── NeptuneHistogramValuesLengthMismatch                53

    Warning
    └── NeptuneScaleWarning                       warnings; default callback: log a warning
        ├── NeptuneRunDuplicate                                 11 (normal when resuming)
        ├── NeptuneRunConflicting                               12
        ├── NeptuneRunForkParentNotFound                        13
        ├── NeptuneSeriesPointDuplicate                         24
        └── NeptuneAsyncLagThresholdExceeded      oldest unsent operation older than the threshold

Fatal errors stop sending; what was not delivered stays on disk for ``neptune sync``.
:func:`exception_for_ingest_code` maps an ``IngestCode`` to its exception.
"""

from __future__ import annotations

__all__ = [
    "FATAL_ERRORS",
    "NeptuneAsyncLagThresholdExceeded",
    "NeptuneAttributePathEmpty",
    "NeptuneAttributePathExceedsSizeLimit",
    "NeptuneAttributePathInvalid",
    "NeptuneAttributePathNonWritable",
    "NeptuneAttributeTypeMismatch",
    "NeptuneAttributeTypeUnsupported",
    "NeptuneConnectionLostError",
    "NeptuneFileMetadataExceedsSizeLimit",
    "NeptuneFileUploadError",
    "NeptuneHistogramBinEdgesContainNaN",
    "NeptuneHistogramBinEdgesNotIncreasing",
    "NeptuneHistogramTooManyBins",
    "NeptuneHistogramValuesLengthMismatch",
    "NeptuneInternalServerError",
    "NeptuneInvalidCredentialsError",
    "NeptuneLocalStorageFull",
    "NeptuneOperationLogDamaged",
    "NeptuneOperationsQueueMaxSizeExceeded",
    "NeptunePreviewStepNotAfterLastCommittedStep",
    "NeptuneProjectError",
    "NeptuneProjectInvalidName",
    "NeptuneProjectNotFound",
    "NeptuneRetryableError",
    "NeptuneRunConflicting",
    "NeptuneRunDuplicate",
    "NeptuneRunError",
    "NeptuneRunForkParentNotFound",
    "NeptuneRunInvalidCreationParameters",
    "NeptuneRunNotFound",
    "NeptuneScaleError",
    "NeptuneScaleWarning",
    "NeptuneSeriesPointDuplicate",
    "NeptuneSeriesStepNonIncreasing",
    "NeptuneSeriesStepNotAfterForkPoint",
    "NeptuneSeriesStepTooLarge",
    "NeptuneSeriesTimestampDecreasing",
    "NeptuneStringSetExceedsSizeLimit",
    "NeptuneStringValueExceedsSizeLimit",
    "NeptuneSynchronizationStopped",
    "NeptuneTooManyRequestsResponseError",
    "NeptuneUnableToLogData",
    "NeptuneUnauthorizedError",
    "NeptuneUnexpectedError",
    "NeptuneUnexpectedResponseError",
    "exception_for_ingest_code",
]


class _Reported(Exception):
    """What errors and warnings share: a default message, and ``code``, the ingest code when
    there is one."""

    default_message = ""

    def __init__(self, message: str | None = None, *, code: int | None = None) -> None:
        super().__init__(message or self.default_message)
        self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class NeptuneScaleError(_Reported):
    """Base of every error the client reports; ``code`` is the ingest code when there is one."""

    default_message = "Neptune Scale error."


class NeptuneScaleWarning(_Reported, Warning):
    """Base of every warning the client reports; ``code`` is the ingest code when there is one."""

    default_message = "Neptune Scale warning."


class NeptuneUnableToLogData(NeptuneScaleError):
    default_message = "A value could not be logged."


class NeptuneOperationsQueueMaxSizeExceeded(NeptuneScaleError):
    default_message = "The backlog of unsent operations passed max_queue_size."


class NeptuneLocalStorageFull(NeptuneScaleError):
    """The disk holding the run's operation log has no room (or refused a write): logging goes
    on, operations are held in memory up to a bound until there is room again."""

    default_message = "No room on the disk for the run's operation log."


class NeptuneSynchronizationStopped(NeptuneScaleError):
    default_message = "Sending stopped after a fatal error; pending data stays on disk."


class NeptuneOperationLogDamaged(NeptuneScaleError):
    default_message = "Damaged records in the run's operation log were skipped."


class NeptuneFileUploadError(NeptuneScaleError):
    default_message = "A file could not be uploaded."


class NeptuneUnexpectedError(NeptuneScaleError):
    default_message = "Unexpected error while ingesting data."


class NeptuneRetryableError(NeptuneScaleError):
    default_message = "Delivery failed; it will be retried."


class NeptuneConnectionLostError(NeptuneRetryableError):
    default_message = "The connection to the server was lost; retrying."


class NeptuneInternalServerError(NeptuneRetryableError):
    default_message = "The server reported an internal error; retrying."


class NeptuneTooManyRequestsResponseError(NeptuneRetryableError):
    default_message = "The server is rate limiting; retrying."


class NeptuneUnexpectedResponseError(NeptuneRetryableError):
    default_message = "The server sent an unexpected response; retrying."


class NeptuneUnauthorizedError(NeptuneScaleError):
    default_message = "The server refused access to the project with these credentials."


class NeptuneInvalidCredentialsError(NeptuneScaleError):
    default_message = "The API token is invalid."


class NeptuneProjectError(NeptuneScaleError):
    default_message = "Project error."


class NeptuneProjectNotFound(NeptuneProjectError):
    default_message = "Project not found."


class NeptuneProjectInvalidName(NeptuneProjectError):
    default_message = "Project name is invalid."


class NeptuneRunError(NeptuneScaleError):
    default_message = "Run error."


class NeptuneRunNotFound(NeptuneRunError):
    default_message = "Run not found."


class NeptuneRunInvalidCreationParameters(NeptuneRunError):
    default_message = "Run creation parameters are invalid."


class NeptuneAttributePathExceedsSizeLimit(NeptuneScaleError):
    default_message = "Attribute path exceeds 1024 bytes."


class NeptuneAttributePathEmpty(NeptuneScaleError):
    default_message = "Attribute path is empty."


class NeptuneAttributePathInvalid(NeptuneScaleError):
    default_message = "Attribute path is invalid."


class NeptuneAttributePathNonWritable(NeptuneScaleError):
    default_message = "Attribute path is not writable."


class NeptuneAttributeTypeUnsupported(NeptuneScaleError):
    default_message = "Attribute type is not supported."


class NeptuneAttributeTypeMismatch(NeptuneScaleError):
    default_message = "Attribute type differs from the type it already has."


class NeptuneSeriesStepNonIncreasing(NeptuneScaleError):
    default_message = "Series steps must be strictly increasing."


class NeptuneSeriesStepNotAfterForkPoint(NeptuneScaleError):
    default_message = "Series step must be after the fork point."


class NeptuneSeriesTimestampDecreasing(NeptuneScaleError):
    default_message = "Series timestamps must not decrease."


class NeptuneStringValueExceedsSizeLimit(NeptuneScaleError):
    default_message = "String value exceeds 64 KB."


class NeptuneStringSetExceedsSizeLimit(NeptuneScaleError):
    default_message = "String set exceeds 64 KB."


class NeptuneFileMetadataExceedsSizeLimit(NeptuneScaleError):
    default_message = "File metadata exceeds 4 KB."


class NeptuneSeriesStepTooLarge(NeptuneScaleError):
    default_message = "Series step must be below 1e12."


class NeptunePreviewStepNotAfterLastCommittedStep(NeptuneScaleError):
    default_message = "Preview step must be after the last committed step."


class NeptuneHistogramBinEdgesContainNaN(NeptuneScaleError):
    default_message = "Histogram bin edges contain NaN."


class NeptuneHistogramTooManyBins(NeptuneScaleError):
    default_message = "Histogram has more than 512 bins."


class NeptuneHistogramBinEdgesNotIncreasing(NeptuneScaleError):
    default_message = "Histogram bin edges must be strictly increasing."


class NeptuneHistogramValuesLengthMismatch(NeptuneScaleError):
    default_message = "Histogram values must number len(bin_edges) - 1."


class NeptuneRunDuplicate(NeptuneScaleWarning):
    default_message = "A run with this id already exists; new data is appended to it."


class NeptuneRunConflicting(NeptuneScaleWarning):
    default_message = "A run with this id exists with different fork parameters."


class NeptuneRunForkParentNotFound(NeptuneScaleWarning):
    default_message = "The fork parent run was not found."


class NeptuneSeriesPointDuplicate(NeptuneScaleWarning):
    default_message = "The same series point (step and value) was logged again."


class NeptuneAsyncLagThresholdExceeded(NeptuneScaleWarning):
    default_message = "The oldest unsent operation is older than async_lag_threshold."


# Ingest codes (neptune.ingest.v1.IngestCode) -> exception class. Codes absent here map to
# NeptuneUnexpectedError; FLOAT_VALUE_NAN_INF_UNSUPPORTED (32) is a legacy code the official
# client hides, and so do we.
_BY_INGEST_CODE: dict[int, type[NeptuneScaleError] | type[NeptuneScaleWarning]] = {
    8: NeptuneProjectNotFound,
    9: NeptuneProjectInvalidName,
    10: NeptuneRunNotFound,
    11: NeptuneRunDuplicate,
    12: NeptuneRunConflicting,
    13: NeptuneRunForkParentNotFound,
    14: NeptuneRunInvalidCreationParameters,
    16: NeptuneAttributePathExceedsSizeLimit,
    17: NeptuneAttributePathEmpty,
    18: NeptuneAttributePathInvalid,
    19: NeptuneAttributePathNonWritable,
    20: NeptuneAttributeTypeUnsupported,
    21: NeptuneAttributeTypeMismatch,
    24: NeptuneSeriesPointDuplicate,
    25: NeptuneSeriesStepNonIncreasing,
    26: NeptuneSeriesStepNotAfterForkPoint,
    27: NeptuneSeriesTimestampDecreasing,
    36: NeptuneStringValueExceedsSizeLimit,
    37: NeptuneStringSetExceedsSizeLimit,
    38: NeptuneFileMetadataExceedsSizeLimit,
    40: NeptuneSeriesStepTooLarge,
    42: NeptunePreviewStepNotAfterLastCommittedStep,
    50: NeptuneHistogramBinEdgesContainNaN,
    51: NeptuneHistogramTooManyBins,
    52: NeptuneHistogramBinEdgesNotIncreasing,
    53: NeptuneHistogramValuesLengthMismatch,
}
_HIDDEN_CODES = frozenset({0, 32})

#: Errors after which sending stops (the data stays on disk).
FATAL_ERRORS: tuple[type[NeptuneScaleError], ...] = (
    NeptuneProjectError,
    NeptuneRunError,
    NeptuneUnauthorizedError,
    NeptuneInvalidCredentialsError,
)


def exception_for_ingest_code(
    code: int, message: str = "", path: str = ""
) -> NeptuneScaleError | NeptuneScaleWarning | None:
    """The exception reporting ingest ``code`` (None for OK and hidden codes)."""
    if code in _HIDDEN_CODES:
        return None
    cls = _BY_INGEST_CODE.get(code)
    where = f" (attribute {path!r})" if path else ""
    if cls is None:
        text = message or f"Unexpected ingestion error code: {code}"
        return NeptuneUnexpectedError(f"{text}{where}", code=code)
    text = message or cls.default_message
    return cls(f"{text}{where}", code=code)
