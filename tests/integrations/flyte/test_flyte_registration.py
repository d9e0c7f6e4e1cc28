"""What a decorated task looks like to Flyte when registered: secrets, console link, Deck.

Serialized with flytekit's own translator, the code path `pyflyte register` uses.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import flyte_example_tasks as tasks
import pytest
from flytekit import Secret, task
from flytekit.configuration import Image, ImageConfig, SerializationSettings
from flytekit.tools.translator import get_serializable
from flytekitplugins.neptune import neptune_init_run, neptune_scale_run

SETTINGS = SerializationSettings(
    project="flytesnacks",
    domain="development",
    version="v1",
    image_config=ImageConfig(default_image=Image(name="default", fqn="img", tag="v1")),
)


def _template(entity: Any) -> Any:
    return get_serializable(OrderedDict(), SETTINGS, entity).template


def test_seed_order_requests_the_secret_on_the_task() -> None:
    template = _template(tasks.seed_training_task)
    secrets = template.security_context.secrets
    assert [(s.group, s.key) for s in secrets] == [("neptune", "api_token")]


def test_seed_order_keeps_existing_secret_requests_and_does_not_duplicate() -> None:
    other = Secret(group="aws", key="key")

    @neptune_scale_run(project="ws/p", secret=tasks.SECRET)
    @task(secret_requests=[other, tasks.SECRET])
    def t(x: int) -> int:
        return x

    secrets = _template(t).security_context.secrets
    assert [(s.group, s.key) for s in secrets] == [("aws", "key"), ("neptune", "api_token")]


def test_console_link_config_uses_configured_host() -> None:
    config = _template(tasks.square).config
    assert config == {
        "project": tasks.PROJECT,
        "link_type": "neptune-scale-run",
        "host": "http://neptune.example:8080",
    }


def test_map_task_keeps_the_console_link() -> None:
    config = _template(tasks.square_all).config
    assert config["link_type"] == "neptune-scale-run"
    assert config["host"] == "http://neptune.example:8080"
    assert config["project"] == tasks.PROJECT


def test_host_comes_from_the_token_when_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    import base64
    import json

    payload = {"api_url": "https://tracking.corp/", "api_key": "k"}
    token = base64.b64encode(json.dumps(payload).encode())
    monkeypatch.setenv("NEPTUNE_API_TOKEN", token.decode())
    config = _template(tasks.seed_training_task).config
    assert config == {
        "project": tasks.PROJECT,
        "link_type": "neptune-run-id",
        "host": "https://tracking.corp",
    }


def test_no_hosted_default_link(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEPTUNE_API_TOKEN", raising=False)
    config = _template(tasks.seed_training_task).config
    assert "host" not in config  # the hosted service is gone; no made-up address


def test_fixed_run_id_is_published_as_a_prefix() -> None:
    assert _template(tasks.fixed_id_task).config["run_id_prefix"] == "fixed-prefix"


def test_seed_order_turns_the_deck_on() -> None:
    assert tasks.seed_training_task.enable_deck
    assert _template(tasks.seed_training_task).metadata.generates_deck


def test_under_task_order_still_publishes_the_link() -> None:
    config = _template(tasks.under_task).config
    assert config["link_type"] == "neptune-scale-run"


@pytest.mark.parametrize(
    ("kwargs", "error", "fragment"),
    [
        ({"project": "no-slash"}, ValueError, "project"),
        ({"project": "a/b/c"}, ValueError, "project"),
        ({"project": "ws/p", "secret": 42}, TypeError, "secret"),
        ({"project": "ws/p", "tags": [1, 2]}, TypeError, "tags"),
        ({"project": "ws/p", "mode": "read-only"}, ValueError, "mode"),
        ({"project": "ws/p", "custom_run_id": "a/b"}, ValueError, "run_id"),
        ({"project": "ws/p", "custom_run_id": "x" * 65}, ValueError, "64"),
        ({"project": "ws/p", "retry_fork_step": -1}, ValueError, "retry_fork_step"),
        ({"project": "ws/p", "fork_run_id": "x"}, TypeError, "fork_run_id"),
        ({"project": "ws/p", "name": "a", "experiment_name": "b"}, TypeError, "name"),
    ],
)
def test_bad_arguments_fail_at_decoration_naming_the_field(
    kwargs: dict[str, Any], error: type[Exception], fragment: str
) -> None:
    with pytest.raises(error, match=fragment):
        neptune_init_run(**kwargs)


def test_legacy_noop_arguments_are_reported_not_silently_dropped() -> None:
    with pytest.warns(UserWarning, match="capture_stdout"):
        neptune_init_run(project="ws/p", capture_stdout=False)


def test_decorating_a_task_twice_is_refused() -> None:
    with pytest.raises(TypeError, match="already decorated"):
        neptune_scale_run(project="ws/p")(tasks.square)


def test_legacy_init_run_arguments_map_onto_scale_options() -> None:
    def fn(x: int) -> int:
        return x

    tracked = neptune_init_run(
        project="ws/p",
        name="exp",
        custom_run_id="nightly",
        mode="debug",
        tags="one",
        description="about",
        max_queue_size=10,
    )(fn)
    options = tracked.options
    assert (options.experiment_name, options.run_id_prefix) == ("exp", "nightly")
    assert (options.mode, options.tags, options.description) == ("disabled", ("one",), "about")
    assert dict(options.run_kwargs) == {"max_queue_size": 10}
    assert neptune_init_run(project="ws/p", mode="sync")(fn).options.mode == "async"


def test_unknown_run_argument_is_refused() -> None:
    with pytest.raises(TypeError, match="not_a_run_argument"):
        neptune_scale_run(project="ws/p", not_a_run_argument=1)
