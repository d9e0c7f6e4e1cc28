"""Optuna's visualisations as files: plotly figures as HTML, else matplotlib figures as PNG.

Which backend draws is decided by what is installed (``optuna.visualization.is_available()``
and its matplotlib twin); with neither, no plot is made and one debug line says why. A plot
Optuna cannot draw for this study (too few trials, no intermediate values, a search space it
does not handle) is left out, never an error.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Callable
from typing import Any

from optuna.study import Study
from optuna.trial import FrozenTrial

__all__ = ["BACKENDS", "draw_plots"]

logger = logging.getLogger("despina_optuna")

BACKENDS = ("auto", "plotly", "matplotlib", "none")

# Plots that take a single objective; for a multi-objective study they are drawn once per
# objective (target=...), and the Pareto front is added.
_SINGLE = (
    "optimization_history",
    "slice",
    "parallel_coordinate",
    "contour",
    "param_importances",
    "edf",
)
_ANY = ("intermediate_values", "timeline")


def resolve_backend(asked: str) -> str:
    """The backend that will draw: ``asked``, or for ``auto`` the first one installed."""
    if asked not in BACKENDS:
        raise ValueError(f"visualization_backend must be one of {BACKENDS}, got {asked!r}")
    if asked == "none":
        return asked
    from optuna.visualization import is_available as plotly_ok
    from optuna.visualization.matplotlib import is_available as matplotlib_ok

    for name, available in (("plotly", plotly_ok), ("matplotlib", matplotlib_ok)):
        if asked in ("auto", name) and available():
            return name
    logger.debug("despina_optuna: no plots (%s not installed)", asked)
    return "none"


def draw_plots(
    study: Study, backend: str, names: list[str], plotly_js: str | bool
) -> dict[str, bytes]:
    """``{file name: content}`` of every plot that could be drawn."""
    if backend == "none":
        return {}
    import importlib

    # Both modules have the same plot_* functions; the name says which one draws.
    path = "optuna.visualization" + ("" if backend == "plotly" else ".matplotlib")
    module = importlib.import_module(path)
    files: dict[str, bytes] = {}
    for name, draw in _plot_calls(study, module, names).items():
        figure = _quietly(draw)
        if figure is not None:
            ext = "html" if backend == "plotly" else "png"
            files[f"{name}.{ext}"] = _render(figure, backend, plotly_js)
    return files


def _plot_calls(study: Study, module: Any, names: list[str]) -> dict[str, Callable[[], Any]]:
    calls: dict[str, Callable[[], Any]] = {}
    if len(names) == 1:
        for plot in _SINGLE:
            calls[plot] = _bound(getattr(module, f"plot_{plot}"), study)
    else:
        calls["pareto_front"] = _bound(module.plot_pareto_front, study, target_names=names)
        for index, objective in enumerate(names):
            for plot in _SINGLE:
                draw = getattr(module, f"plot_{plot}")
                target = _objective(index)
                calls[f"{plot}_{objective}"] = _bound(
                    draw, study, target=target, target_name=objective
                )
    for plot in _ANY:
        calls[plot] = _bound(getattr(module, f"plot_{plot}"), study)
    return calls


def _objective(index: int) -> Callable[[FrozenTrial], float]:
    def target(trial: FrozenTrial) -> float:
        return float(trial.values[index])

    return target


def _bound(draw: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: draw(*args, **kwargs)


def _quietly(draw: Callable[[], Any]) -> Any:
    """The figure, or None when Optuna cannot draw it for this study."""
    try:
        with warnings.catch_warnings():
            # ExperimentalWarning for newer plots, and "too few trials" style warnings.
            warnings.simplefilter("ignore")
            return draw()
    except Exception as error:  # Optuna raises ValueError/RuntimeError for unfit studies
        logger.debug("despina_optuna: plot skipped: %s", error)
        return None


def _render(figure: Any, backend: str, plotly_js: str | bool) -> bytes:
    if backend == "plotly":
        html: str = figure.to_html(include_plotlyjs=plotly_js, full_html=True)
        return html.encode()
    import matplotlib.pyplot as plt

    # Optuna's matplotlib functions return Axes (or an array of them).
    axes = figure.flat[0] if hasattr(figure, "flat") else figure
    canvas = axes.get_figure()
    buffer = io.BytesIO()
    canvas.savefig(buffer, format="png", bbox_inches="tight")
    plt.close(canvas)
    return buffer.getvalue()
