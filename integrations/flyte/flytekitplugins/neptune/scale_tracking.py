"""`neptune_scale_run`: upstream's Neptune Scale decorator, same signature, fixed behaviour."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._decorator import decorate
from ._options import SecretSource, build_options

__all__ = ["NEPTUNE_SCALE_LINK_TYPE", "neptune_scale_run"]

# Upstream's console link type for Scale runs.
NEPTUNE_SCALE_LINK_TYPE = "neptune-scale-run"


def neptune_scale_run(
    project: str,
    secret: SecretSource = None,
    run_id: str | None = None,
    experiment_name: str | None = None,
    **kwargs: Any,
) -> Callable[[Any], Any]:
    """Track each attempt of a Flyte task in its own Neptune Scale run.

    Args:
        project: ``workspace/project``.
        secret: a ``flytekit.Secret`` holding the API token, a zero-argument callable returning
            it, or None to use ``$NEPTUNE_API_TOKEN``. Only remote executions need a token.
        run_id: a fixed prefix; each execution and attempt still gets its own run
            (``{run_id}-{execution node}-{attempt}``), so executions never merge.
        experiment_name: experiment the runs belong to.
        **kwargs: ``host`` (server URL for links; default: the token's ``api_url``), ``tags``,
            ``group_tags``, ``description``, ``mode``, ``fork_on_retry`` (default True),
            ``retry_fork_step`` (default None: a retry is a new run; set it to the step a
            retry resumes after, from a checkpoint, to fork the failed attempt there),
            ``deck`` (default True), and anything else ``neptune_scale.Run`` accepts.

    The run is available as ``current_context().user_space_params.NEPTUNE_RUN``.
    Raises ValueError/TypeError at decoration time for invalid arguments.
    """
    kwargs = dict(kwargs)
    host = kwargs.pop("host", None)
    options = build_options(
        project=project,
        secret=secret,
        link_type=NEPTUNE_SCALE_LINK_TYPE,
        legacy=False,
        run_id=run_id,
        experiment_name=experiment_name,
        host=host,
        kwargs=kwargs,
    )
    return lambda target: decorate(target, options)
