"""`neptune_init_run`: the seed's decorator, backed by a Neptune Scale run.

Keeps upstream's arguments (`project`, `secret`, `host`, `**init_run_kwargs`) and reads the
neptune 2.x keyword names task code already uses: `name` becomes the experiment name,
`custom_run_id`/`with_id` a fixed run-id prefix, `tags`, `description` and `mode` are applied.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._decorator import decorate
from ._options import SecretSource, build_options

__all__ = ["NEPTUNE_RUN_LINK_TYPE", "neptune_init_run"]

# Upstream's console link type for this decorator.
NEPTUNE_RUN_LINK_TYPE = "neptune-run-id"
# neptune 2.x names for a custom run id.
_LEGACY_RUN_ID_KWARGS = ("custom_run_id", "with_id")


def neptune_init_run(
    project: str,
    secret: SecretSource = None,
    host: str | None = None,
    **init_run_kwargs: Any,
) -> Callable[[Any], Any]:
    """Track each attempt of a Flyte task in its own Neptune run.

    Args:
        project: ``workspace/project``.
        secret: a ``flytekit.Secret`` holding the API token, a zero-argument callable returning
            it, or None to use ``$NEPTUNE_API_TOKEN``. Only remote executions need a token.
        host: server base URL for links; default: the ``api_url`` inside the token.
        **init_run_kwargs: ``name`` (experiment name), ``tags``, ``group_tags``,
            ``description``, ``mode`` (async/sync/offline/debug), ``custom_run_id`` (a
            prefix: each execution and attempt still gets its own run), integration options
            ``fork_on_retry`` (default True), ``retry_fork_step`` (default None: a retry is
            a new run; set it to the step a retry resumes after, from a checkpoint, to fork
            the failed attempt there), ``deck`` (default True), and anything else
            ``neptune_scale.Run`` accepts.

    The run is available as ``current_context().user_space_params.NEPTUNE_RUN``.
    Raises ValueError/TypeError at decoration time for invalid arguments.
    """
    kwargs = dict(init_run_kwargs)
    experiment_name = kwargs.pop("name", None)
    if "experiment_name" in kwargs:
        if experiment_name is not None:
            raise TypeError("pass either name or experiment_name, not both")
        experiment_name = kwargs.pop("experiment_name")
    run_ids = {k: kwargs.pop(k) for k in _LEGACY_RUN_ID_KWARGS if k in kwargs}
    if "run_id" in kwargs:
        run_ids["run_id"] = kwargs.pop("run_id")
    if len(run_ids) > 1:
        raise TypeError(f"pass only one of {sorted(run_ids)}")
    options = build_options(
        project=project,
        secret=secret,
        link_type=NEPTUNE_RUN_LINK_TYPE,
        legacy=True,
        run_id=next(iter(run_ids.values()), None),
        experiment_name=experiment_name,
        host=host,
        kwargs=kwargs,
    )
    return lambda target: decorate(target, options)
