"""The "Neptune" Flyte Deck: where the run is, how the task ended and its final values."""

from __future__ import annotations

import math
from dataclasses import dataclass
from html import escape
from typing import Any

from ._task_run import LastValues

DECK_NAME = "Neptune"
# Long config values (paths, prompts) are cut in the Deck; the run holds them whole.
MAX_VALUE_CHARS = 200


@dataclass(frozen=True)
class RunSummary:
    """What the Deck shows about one task attempt's run."""

    project: str
    run_id: str
    url: str | None
    status: str
    experiment_name: str | None = None
    fork_run_id: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    local_hint: str | None = None


def _cell(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) and math.isfinite(value) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return escape(text)


def _table(title: str, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f"<h3>{escape(title)}</h3>{table}"


def _facts(summary: RunSummary) -> list[tuple[str, str]]:
    facts = [("Project", summary.project), ("Run ID", summary.run_id), ("Status", summary.status)]
    if summary.experiment_name:
        facts.append(("Experiment", summary.experiment_name))
    if summary.fork_run_id:
        facts.append(("Forked from (previous attempt)", summary.fork_run_id))
    if summary.error_type:
        facts.append(("Error", f"{summary.error_type}: {summary.error_message or ''}"))
    return facts


def render_deck_html(summary: RunSummary, values: LastValues | None) -> str:
    """Self-contained HTML; every value is escaped (run data is user-controlled)."""
    if summary.url:
        href = escape(summary.url, quote=True)
        link = f'<p><a href="{href}" target="_blank">Open the run in Neptune</a></p>'
    else:
        link = f"<p>{escape(summary.local_hint or 'No link: the run URL is unknown.')}</p>"
    facts = "".join(f"<tr><th>{escape(k)}</th><td>{_cell(v)}</td></tr>" for k, v in _facts(summary))
    parts = [f"<h2>Neptune run {escape(summary.run_id)}</h2>", link, f"<table>{facts}</table>"]
    if values is not None:
        metrics = [(p, v, s) for p, (v, s) in sorted(values.metrics.items())]
        configs = sorted(values.configs.items())
        parts.append(_table("Final metrics", ("Metric", "Last value", "Step"), metrics))
        parts.append(_table("Configs", ("Attribute", "Value"), configs))
        if values.truncated:
            parts.append("<p>More attributes were logged than this Deck lists; see the run.</p>")
    return "\n".join(p for p in parts if p)
