"""Reading a store: ``Reader(location_or_store)``, shapes modelled on neptune-query.

Runs are named by their custom run id (``sys/custom_run_id``; the short ``sys/id`` works too
where one run is named). ``runs`` arguments take None (all), a regex (searched in the run id), a
list of ids, or a :class:`Filter`. ``attributes`` take a list of names, a regex, or None (all).

Shapes (stable; integrations and the UI rely on them):

* ``list_projects() -> list[str]``; ``list_experiments(project, regex=None) -> list[str]`` (head
  runs' experiment names); ``list_runs(project, runs=None) -> list[str]`` (creation order);
  ``list_attributes(project, runs=None, regex=None) -> list[str]``;
  ``attribute_types(...) -> dict[name, type]`` with types ``float``, ``int``, ``bool``,
  ``string``, ``datetime``, ``string_set``, ``file``, ``float_series``, ``string_series``,
  ``histogram_series``, ``file_series``.
* ``fetch_runs_table(project, runs, attributes, sort_by=, sort_direction=, limit=, heads_only=)``:
  index ``run``, one column per attribute; series give their last value, datetimes are UTC
  ``datetime``, string sets ``set``, files ``{"path", "size_bytes", "mime_type"}``.
* ``fetch_metrics(project, runs, attributes, step_range=, tail_limit=, lineage_to_the_root=True,
  include_time=None|"absolute", include_point_previews=False)``: index (``run``, ``step``), one
  float column per attribute (NaN where a run has no point at that step); with time or previews
  the columns are (attribute, ``value``|``absolute_time``|``is_preview``|``preview_completion``;
  a committed point's ``preview_completion`` is 1.0).
* ``fetch_series(...)``: the same for string / histogram / file series (object values; histograms
  ``{"type": "COUNTING"|"DENSITY", "edges": [...], "values": [...]}``, the kinds named as
  neptune-query gets them).
* ``fetch_metric_buckets(project, runs, attributes, limit=1000, x_range=(lo, hi))``: one row per
  (run, attribute, bucket) with ``BUCKET_COLUMNS``; buckets split [lo, hi] into equal step ranges.
* ``download_files(project, runs, attributes, destination)``: columns run, attribute, step, path.
* ``run_details(project, run) -> dict`` with keys ``project``, ``run_id``, ``sys_id``,
  ``experiment``, ``is_head``, ``creation_time``, ``modification_time`` (UTC datetimes),
  ``configs`` (path -> value; everything assigned outside ``sys/``; string sets as sorted lists),
  ``tags``, ``group_tags`` (sorted lists), ``series`` (path -> ``{"type", "last", "last_step",
  "count", "min", "max", "mean", "inherited"}``; the own-series fields are None when inherited),
  ``last_values`` (path -> last value, inherited series included), ``lineage`` (``{"parent",
  "fork_step", "requested_parent", "ancestors": [nearest first], "children", "depth"}``) and
  ``sys`` (every ``sys/`` attribute).

Arrays (no pandas): ``Reader.snapshot()`` (or ``snapshot(store)``, or ``Snapshot(tx)`` inside a
read transaction already open) gives a :class:`Snapshot`, the read path under the Reader, the
web UI and the neptune-query API: ``run(project, run) -> RunRow``, ``runs(...) ->
list[RunView]``, ``lineage(run)``, ``fork_step(run)``, ``float_points(run, path, lo, hi) ->
FloatPoints`` (numpy ``steps``, ``values``, ``timestamps`` in epoch ms, ``preview``,
``completion``), ``object_points(...) -> ObjectPoints``, ``extent(run, path)``,
``buckets(run, path, lo, hi, count) -> Buckets`` (numpy columns named as ``BUCKET_COLUMNS``
less the run/attribute/bucket ones: ``from_step``, ``to_step``, ``count``, ``finite``, ``vmin``,
``vmax``, ``first_step``, ``last_value``, …), ``details(project, run)``. Everything one
snapshot reads is consistent and costs one transaction; each run's lineage is read once.
``readable_ms(timestamps)`` gives the times as float ms, NaN where readers cannot show them.

Errors: ``despina.store.StoreNotFound`` (no store; nothing is created), ``ProjectNotFound``,
``RunNotFound`` (when one run is named), ``StoreCorrupt``, ``SchemaVersionError``, and
``PatternError`` (a ValueError naming the argument) for a regex that is invalid, longer
than 4,096 characters, or needs backtracking: regexes run on RE2 in linear time, so
backreferences and lookaround are refused (see ``despina._patterns``).

Run logs left behind: ``Reader`` first delivers what killed processes left in an embedded store
(``deliver_left_behind(folder, budget_s)`` returns a ``Pending`` account; ``local_folder(location)``
is the folder of an embedded-store location, None for a database URL); the CLI calls them itself
to print what was done.
"""

from __future__ import annotations

from despina._patterns import PatternError
from despina.query._buckets import Buckets
from despina.query._filters import Filter
from despina.query._frames import BUCKET_COLUMNS
from despina.query._points import FloatPoints, ObjectPoints, readable_ms
from despina.query._reader import Reader
from despina.query._snapshot import Lineage, Snapshot, snapshot
from despina.query._values import TYPE_NAMES, RunView
from despina.store.transport import DELIVER_BUDGET_S, Pending, deliver_left_behind, local_folder

__all__ = [
    "BUCKET_COLUMNS",
    "DELIVER_BUDGET_S",
    "TYPE_NAMES",
    "Buckets",
    "Filter",
    "FloatPoints",
    "Lineage",
    "ObjectPoints",
    "PatternError",
    "Pending",
    "Reader",
    "RunView",
    "Snapshot",
    "deliver_left_behind",
    "local_folder",
    "readable_ms",
    "snapshot",
]
