"""JSON request bodies of the neptune-query read side (protocol §5.4–§5.7), as pydantic models.

Field names are the wire's camelCase. Unknown keys are ignored (the client sends some that are
not in the schema, e.g. ``sorting.aggregationMode``); JSON ``null`` is accepted wherever the
client may send it. Limits carry their bound so a bad request gets a 422 naming the field.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DefinitionsRequest",
    "FloatSeriesRequest",
    "NameFilter",
    "NextPage",
    "SearchRequest",
    "SeriesRequest",
    "TimeSeries",
    "ValuesRequest",
]

MAX_PAGE_LIMIT = 100_000  # entries per page of search, definitions and values
# Series in one float-series request: the client sends up to ~12,000 (1,024-character names fill
# a 15 MB body); the body limit of that route bounds it too.
MAX_FLOAT_SERIES_REQUESTS = 50_000
# Series in one string/histogram/file series request: the hosted service refuses more than 2,000
# with a 4xx (neptune-query's own tests rely on that), so this server does too.
MAX_SERIES_REQUESTS = 2_000
MAX_POINTS_LIMIT = 10_000_000  # points per series in one answer


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Pagination(_Model):
    limit: int = Field(default=10_000, ge=0, le=MAX_PAGE_LIMIT)
    offset: int = Field(default=0, ge=0)


class SortBy(_Model):
    name: str = "sys/creation_time"
    type: str | None = None
    aggregationMode: str | None = None


class Sorting(_Model):
    dir: Literal["ascending", "descending"] = "descending"
    sortBy: SortBy = Field(default_factory=SortBy)


class QueryText(_Model):
    query: str = ""


class PathFilter(_Model):
    path: str


class SearchRequest(_Model):
    attributeFilters: list[PathFilter] | None = None
    pagination: Pagination = Field(default_factory=Pagination)
    experimentLeader: bool = False
    sorting: Sorting | None = None
    query: QueryText | None = None


class NameAlternative(_Model):
    mustMatchRegexes: list[str] | None = None
    mustNotMatchRegexes: list[str] | None = None


class NameFilter(_Model):
    mustMatchAny: list[NameAlternative] | None = None
    mustMatchRegexes: list[str] | None = None
    mustNotMatchRegexes: list[str] | None = None


class TypeFilter(_Model):
    attributeType: str


class NextPage(_Model):
    limit: int | None = Field(default=None, ge=0, le=MAX_PAGE_LIMIT)
    nextPageToken: str | None = None


class DefinitionsRequest(_Model):
    projectIdentifiers: list[str] = Field(min_length=1)
    experimentIdsFilter: list[str] | None = None
    attributeNameFilter: NameFilter | None = None
    attributeNameRegex: str | None = None
    attributeFilter: list[TypeFilter] | None = None
    nextPage: NextPage | None = None


class ValuesRequest(_Model):
    experimentIdsFilter: list[str] | None = None
    attributeNamesFilter: list[str] | None = None
    attributeNameFilter: NameFilter | None = None
    attributeFilter: list[TypeFilter] | None = None
    nextPage: NextPage | None = None


class Holder(_Model):
    identifier: str
    type: str = "experiment"


class TimeSeries(_Model):
    attribute: str
    holder: Holder
    includePreview: bool | None = False
    lineage: Literal["FULL", "NONE"] | None = "FULL"
    lineageEntityType: str | None = None


class StepRange(_Model):
    from_: float | None = Field(default=None, alias="from")
    to: float | None = None


class FloatSeriesItem(_Model):
    requestId: str
    series: TimeSeries
    afterStep: float | None = None


class FloatSeriesRequest(_Model):
    requests: list[FloatSeriesItem] = Field(max_length=MAX_FLOAT_SERIES_REQUESTS)
    # 0 is a tail limit of nothing: an empty answer, as the hosted service gives
    perSeriesPointsLimit: int | None = Field(default=None, ge=0, le=MAX_POINTS_LIMIT)
    stepRange: StepRange | None = None
    order: Literal["ascending", "descending"] | None = "ascending"


class SearchAfter(_Model):
    finished: bool | None = False
    token: str | None = None


class SeriesItem(_Model):
    requestId: str
    series: TimeSeries
    searchAfter: SearchAfter | None = None


class SeriesRequest(_Model):
    requests: list[SeriesItem] = Field(max_length=MAX_SERIES_REQUESTS)
    perSeriesPointsLimit: int | None = Field(default=None, ge=0, le=MAX_POINTS_LIMIT)
    sizeLimitBytes: int | None = Field(default=None, ge=1)
    stepRange: StepRange | None = None
    order: Literal["ascending", "descending"] | None = "ascending"
