"""HTTP answers turned into the results the sender acts on (retry or not, and when)."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from neptune_scale.exceptions import (
    NeptuneInternalServerError,
    NeptuneScaleError,
    NeptuneTooManyRequestsResponseError,
    NeptuneUnauthorizedError,
    NeptuneUnexpectedResponseError,
)
from neptune_scale.transport import Failed

__all__ = ["HttpError", "raise_for"]


class HttpError(Exception):
    """A non-success answer, carrying what the sender needs to decide on a retry."""

    def __init__(self, error: NeptuneScaleError, retryable: bool, retry_after_s: float | None):
        super().__init__(str(error))
        self.failed = Failed(error=error, retryable=retryable, retry_after_s=retry_after_s)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _message(response: httpx.Response) -> str:
    try:
        data = response.json()
        detail = data.get("detail") or data.get("message") if isinstance(data, dict) else None
    except ValueError:
        detail = None
    return f"HTTP {response.status_code}" + (f": {detail}" if detail else "")


def raise_for(response: httpx.Response) -> None:
    status = response.status_code
    if response.is_success:
        return
    hint, text = _retry_after(response), _message(response)
    if status == 403:
        raise HttpError(NeptuneUnauthorizedError(text), False, None)
    if status in (408, 429):
        raise HttpError(NeptuneTooManyRequestsResponseError(text), True, hint)
    if status >= 500:
        raise HttpError(NeptuneInternalServerError(text), True, hint)
    # 401 after a fresh token means the server changed its secret: a new token will do.
    retryable = status == 401
    raise HttpError(NeptuneUnexpectedResponseError(text), retryable, hint)
