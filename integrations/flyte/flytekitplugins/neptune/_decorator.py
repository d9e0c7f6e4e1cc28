"""The decorator itself, usable above `@task` (the seed's order) or below it (upstream's).

Above `@task` it receives the task and can fix what a function wrapper cannot reach: it adds
the API-token secret to the task's `secret_requests`, turns the task's Deck on and merges the
console-link config into the task's own config, which map tasks copy (flytekit serializes a
map task from the inner task's `get_config`, never from its function). Below `@task` it is a
flytekit `ClassDecorator`, as upstream; then the secret must be requested on `@task`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flytekit import Secret
from flytekit.core.context_manager import ExecutionParameters, FlyteContext, FlyteContextManager
from flytekit.core.python_function_task import PythonFunctionTask
from flytekit.core.utils import ClassDecorator
from flytekit.models.security import SecurityContext

from ._identity import identify
from ._lifecycle import describe_run, finish_run, open_run
from ._options import TrackingOptions
from ._token import configured_host, resolve_token

RUN_ATTRIBUTE = "NEPTUNE_RUN"
SELF_ATTRIBUTE = "USER_SPACE_PARAMS"
PROJECT_KEY = "project"
HOST_KEY = "host"
RUN_ID_PREFIX_KEY = "run_id_prefix"


class NeptuneTracked(ClassDecorator):  # type: ignore[misc]
    """Runs the task function inside one Neptune run per attempt (see `execute`)."""

    def __init__(self, task_function: Callable[..., Any], *, options: TrackingOptions) -> None:
        self.options = options
        super().__init__(task_function, options=options)

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        """Call the task function inside one run; async functions get an awaitable."""
        if inspect.iscoroutinefunction(self.task_function):
            return self._execute_async(*args, **kwargs)
        with self._tracked():
            return self.task_function(*args, **kwargs)

    async def _execute_async(self, *args: Any, **kwargs: Any) -> Any:
        with self._tracked():
            return await self.task_function(*args, **kwargs)

    @contextmanager
    def _tracked(self) -> Iterator[Any]:
        """Open the run, inject it as `NEPTUNE_RUN`, finish the run in `finally`."""
        ctx = FlyteContextManager.current_context()
        fn_name = getattr(self.task_function, "__name__", "task")
        identity = identify(ctx, self.options, fn_name)
        # Local executions need no token: the client then writes to the embedded store (or to
        # the server in $NEPTUNE_API_TOKEN, if the developer has one).
        token = None
        if not identity.is_local:
            token = resolve_token(self.options.secret, ctx.user_space_params)
        run = open_run(self.options, identity, token)
        error: BaseException | None = None
        try:
            describe_run(run, self.options, identity)
            state = ctx.execution_state.with_params(user_space_params=_params_with_run(ctx, run))
            with FlyteContextManager.with_context(ctx.with_execution_state(state)):
                yield run
        except BaseException as caught:
            error = caught
            raise
        finally:
            finish_run(run, self.options, identity, error)

    def get_extra_config(self) -> dict[str, str]:
        """Console-link config: project, link type, configured host, fixed run-id prefix."""
        config = {PROJECT_KEY: self.options.project, self.LINK_TYPE_KEY: self.options.link_type}
        if host := configured_host(self.options.host):
            config[HOST_KEY] = host
        if self.options.run_id_prefix:
            config[RUN_ID_PREFIX_KEY] = self.options.run_id_prefix
        return config


class _ParamsView:
    """`current_context().user_space_params`, as the seed writes it, for flytekit's
    `current_context()` (which already *is* the user-space parameters): the same object."""

    def __init__(self) -> None:
        self._params: ExecutionParameters | None = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or self._params is None:
            raise AttributeError(name)
        return getattr(self._params, name)


def _params_with_run(ctx: FlyteContext, run: Any) -> ExecutionParameters:
    builder = ctx.user_space_params.builder()
    # The builder shares the attribute dict with the outer parameters; copy it so the run
    # does not outlive this call in the caller's context.
    builder.attrs = dict(builder.attrs)
    view = _ParamsView()
    params = builder.add_attr(RUN_ATTRIBUTE, run).add_attr(SELF_ATTRIBUTE, view).build()
    view._params = params
    return params


def _with_secret(security: SecurityContext | None, secret: Secret) -> SecurityContext:
    if security is None:
        return SecurityContext(secrets=[secret])
    present = security.secrets or []
    if any(s.group == secret.group and s.key == secret.key for s in present):
        return security
    secrets = [*present, secret]
    return SecurityContext(run_as=security.run_as, secrets=secrets, tokens=security.tokens)


def _attach_to_task(task: PythonFunctionTask, options: TrackingOptions) -> PythonFunctionTask:
    if isinstance(task.task_function, NeptuneTracked):
        raise TypeError(f"task {task.name!r} is already decorated with a Neptune decorator")
    tracked = NeptuneTracked(task.task_function, options=options)
    # flytekit calls `_task_function` at run time and reads `task_function` when serializing.
    task._task_function = tracked
    if isinstance(options.secret, Secret):
        task._security_ctx = _with_secret(task.security_context, options.secret)
    if options.deck:
        task._disable_deck = False
    original_get_config = task.get_config

    @functools.wraps(original_get_config)
    def get_config(settings: Any) -> dict[str, str]:
        return {**(original_get_config(settings) or {}), **tracked.get_extra_config()}

    task.get_config = get_config
    return task


def decorate(target: Any, options: TrackingOptions) -> Any:
    """Apply tracking to a `@task` (preferred) or to a plain function (then wrap with @task)."""
    if isinstance(target, PythonFunctionTask):
        return _attach_to_task(target, options)
    if isinstance(target, type) or not callable(target):
        raise TypeError(
            "a Neptune decorator must be applied to a @task or to the function under @task, "
            f"got {type(target).__name__}"
        )
    if hasattr(target, "python_function_task"):
        raise TypeError("apply the Neptune decorator to the task before passing it to map_task")
    return NeptuneTracked(target, options=options)
