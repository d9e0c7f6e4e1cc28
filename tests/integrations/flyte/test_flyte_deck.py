"""The Neptune Deck's HTML: escaped run data, final metric values, a bounded size."""

from __future__ import annotations

from flytekitplugins.neptune._deck import RunSummary, render_deck_html
from flytekitplugins.neptune._task_run import MAX_RECORDED_ATTRIBUTES, LastValues


def _summary(**changes: object) -> RunSummary:
    fields: dict[str, object] = {
        "project": "ws/p",
        "run_id": "r-1",
        "url": "http://h/ws/p/-/run/?customId=r-1",
        "status": "succeeded",
    }
    fields.update(changes)
    return RunSummary(**fields)  # type: ignore[arg-type]


def test_last_metric_values_and_steps_are_shown() -> None:
    values = LastValues()
    values.note_metrics({"loss": 0.9}, 0)
    values.note_metrics({"loss": 0.25, "acc": 0.5}, 7)
    values.note_configs({"opt": {"lr": 0.1}}, flatten=True)
    html = render_deck_html(_summary(), values)
    assert "<td>loss</td><td>0.25</td><td>7</td>" in html
    assert "<td>opt/lr</td><td>0.1</td>" in html
    assert 'href="http://h/ws/p/-/run/?customId=r-1"' in html


def test_run_data_is_escaped() -> None:
    values = LastValues()
    values.note_configs({"<script>x</script>": "<b>"}, flatten=False)
    html = render_deck_html(_summary(error_type="E", error_message="<img src=x>"), values)
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html


def test_deck_lists_a_bounded_number_of_attributes() -> None:
    values = LastValues()
    for index in range(MAX_RECORDED_ATTRIBUTES + 10):
        values.note_metrics({f"m{index}": 1.0}, 0)
    values.note_metrics({"m0": 2.0}, 1)  # known paths keep updating past the bound
    assert len(values.metrics) == MAX_RECORDED_ATTRIBUTES and values.truncated
    assert values.metrics["m0"] == (2.0, 1)
    assert "More attributes were logged" in render_deck_html(_summary(), values)


def test_without_url_the_deck_says_where_the_run_is() -> None:
    html = render_deck_html(_summary(url=None, local_hint="Stored in /x"), None)
    assert "Stored in /x" in html and "href" not in html
