"""A look inside a PyTorch model while it trains, for the framework integrations (``watch``).

Every ``log_freq`` optimizer steps, per parameter tensor: the L2 norm of its gradient and/or of
its values as float series, and their distribution as histogram series; once, the model's
structure (module tree as text, parameter counts). Paths, under the integration's namespace::

    <ns>/gradients/norm/<param>     <ns>/gradients/histogram/<param>    <ns>/gradients/total_norm
    <ns>/parameters/norm/<param>    <ns>/parameters/histogram/<param>
    <ns>/structure (text, ≤ 64 KB)  <ns>/structure_file (the full text)  <ns>/num_parameters/...

Both are read just after the optimizer stepped: the gradients of that step are complete (and
not yet zeroed) whether the loop computes them before ``step()`` or inside it through a closure
(Lightning does), and the parameters are those the step produced. The integrations call
:meth:`ModelWatcher.capture` from their framework's after-optimizer-step hook, or install
:meth:`ModelWatcher.hook_optimizers` where there is none. torch is imported lazily: the
client itself never needs it.

Public for integrations (``despina_lightning``, ``despina_hf``): ``__all__`` is the contract.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["WATCH_MODES", "ModelWatcher"]

WATCH_MODES = ("gradients", "parameters", "all")
#: Bins per histogram: enough to see a distribution's shape, few enough to stay cheap.
HISTOGRAM_BINS = 64
#: A string config holds at most 64 KB; longer module trees are cut there (the file has all).
MAX_STRUCTURE_CHARS = 16_000


class ModelWatcher:
    """Norms and histograms of one model's gradients and/or parameters every ``log_freq`` steps.

    Raises ``ValueError`` for a ``log`` not in :data:`WATCH_MODES` or a ``log_freq`` below 1.
    """

    def __init__(self, model: Any, namespace: str, log: str = "gradients", log_freq: int = 100):
        if log not in WATCH_MODES:
            raise ValueError(f"watch: log must be one of {WATCH_MODES}, got {log!r}")
        if not isinstance(log_freq, int) or isinstance(log_freq, bool) or log_freq < 1:
            raise ValueError(f"watch: log_freq must be an integer >= 1, got {log_freq!r}")
        self.model = model
        self.namespace = namespace.strip("/")
        self.log_freq = log_freq
        self.gradients = log in ("gradients", "all")
        self.parameters = log in ("parameters", "all")
        self._last_step: int | None = None
        self._described = False
        self._hook: Any = None

    def due(self, step: int) -> bool:
        """True when ``step`` is a logging step not captured yet (several optimizers, or
        gradient accumulation, can reach the same step more than once)."""
        return step % self.log_freq == 0 and step != self._last_step

    def structure(self, run: Any) -> None:
        """Log the module tree and the parameter counts (once per run)."""
        text = str(self.model)
        shown = text
        if len(text) > MAX_STRUCTURE_CHARS:
            shown = (
                text[:MAX_STRUCTURE_CHARS] + f"\n... (cut; all in {self.namespace}/structure_file)"
            )
        params = list(self.model.parameters())
        configs: dict[str, Any] = {
            f"{self.namespace}/structure": shown,
            f"{self.namespace}/num_parameters/total": sum(p.numel() for p in params),
            f"{self.namespace}/num_parameters/trainable": sum(
                p.numel() for p in params if p.requires_grad
            ),
            f"{self.namespace}/num_modules": sum(1 for _ in self.model.modules()),
        }
        for name, child in self.model.named_children():
            count = sum(p.numel() for p in child.parameters())
            configs[f"{self.namespace}/num_parameters/by_module/{name}"] = count
        run.log_configs(configs)
        from neptune_scale.types import File

        run.assign_files(
            {f"{self.namespace}/structure_file": File(text.encode(), mime_type="text/plain")}
        )

    def capture(self, run: Any, step: int) -> None:
        """Log norms and histograms at ``step`` if it is due (cheap when it is not); the first
        call also logs the structure."""
        if not self._described:
            self._described = True
            self.structure(run)
        if not self.due(step):
            return
        self._last_step = step
        import torch

        metrics: dict[str, float] = {}
        histograms: dict[str, Any] = {}
        squares = 0.0
        with torch.no_grad():
            for name, param in self.model.named_parameters():
                if self.gradients and param.grad is not None:
                    norm = self._add(metrics, histograms, "gradients", name, param.grad)
                    squares += norm * norm
                if self.parameters:
                    self._add(metrics, histograms, "parameters", name, param)
        if self.gradients and metrics:
            metrics[f"{self.namespace}/gradients/total_norm"] = math.sqrt(squares)
        if metrics:
            run.log_metrics(metrics, step=step)
        if histograms:
            run.log_histograms(histograms, step=step)

    def _add(
        self, metrics: dict[str, float], histograms: dict[str, Any], kind: str, name: str, t: Any
    ) -> float:
        values = t.detach().float().reshape(-1)
        norm = float(values.norm())
        metrics[f"{self.namespace}/{kind}/norm/{name}"] = norm
        histogram = _histogram(values)
        if histogram is not None:
            histograms[f"{self.namespace}/{kind}/histogram/{name}"] = histogram
        return norm

    def hook_optimizers(
        self,
        step_of: Callable[[], int],
        run_of: Callable[[], Any],
        guard: Callable[[str], AbstractContextManager[Any]],
    ) -> None:
        """Capture after every ``step()`` of any optimizer holding this model's parameters
        (for loops without a pre-optimizer-step hook of their own); ``step_of`` gives the step
        number, ``run_of`` the run (``None``: not now), ``guard(what)`` keeps a tracking error
        out of ``optimizer.step()``. Undone by :meth:`unhook`."""
        from torch.optim.optimizer import register_optimizer_step_post_hook

        self.unhook()
        ours = {id(p) for p in self.model.parameters()}
        known: dict[int, bool] = {}

        def after_step(optimizer: Any, args: Any, kwargs: Any) -> None:
            holds = known.get(id(optimizer))
            if holds is None:
                groups = optimizer.param_groups
                holds = any(id(p) in ours for group in groups for p in group["params"])
                known[id(optimizer)] = holds
            if not holds:
                return
            with guard("watching the model"):
                step = step_of()
                if self.due(step) or not self._described:
                    run = run_of()
                    if run is not None:
                        self.capture(run, step)

        self._hook = register_optimizer_step_post_hook(after_step)

    def unhook(self) -> None:
        hook, self._hook = self._hook, None
        if hook is not None:
            hook.remove()


def _histogram(values: Any) -> Any:
    """``HISTOGRAM_BINS`` equal bins over the finite values' range; None when none is finite."""
    import torch

    from neptune_scale.types import Histogram

    if values.numel() == 0:
        return None
    low, high = (float(v) for v in torch.aminmax(values))
    if not (math.isfinite(low) and math.isfinite(high)):
        # Only then pay for the mask: NaN or inf make the extremes non-finite.
        values = values[torch.isfinite(values)]
        if values.numel() == 0:
            return None
        low, high = (float(v) for v in torch.aminmax(values))
    if not high - low > 1e-9 * max(abs(low), abs(high)):
        # One value, or a range float64 edges could not split into strictly increasing bins.
        low, high = low - 0.5, high + 0.5
    # bincount of the bin indices: about twice as fast as torch.histc on CPU (the cost of a
    # capture is mostly this, see benchmarks/lightning/bench_model_watch.py).
    # scaled before the subtraction: (x - low) can overflow float32 for ranges near its limit
    scale = HISTOGRAM_BINS / (high - low)
    index = (values * scale - low * scale).long().clamp_(0, HISTOGRAM_BINS - 1)
    counts = torch.bincount(index, minlength=HISTOGRAM_BINS)
    width = (high - low) / HISTOGRAM_BINS
    edges = [low + width * i for i in range(HISTOGRAM_BINS)] + [high]
    return Histogram(bin_edges=edges, counts=counts.tolist())
