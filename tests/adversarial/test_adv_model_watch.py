"""ModelWatcher on awkward models, through the real client into an embedded store: non-finite
gradients, frozen, empty and constant tensors, two optimizers stepping at one step."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from despina.query import Reader
from neptune_scale import Run
from neptune_scale.model_watch import ModelWatcher

PROJECT = "adv/watch"


class Awkward(torch.nn.Module):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__()
        self.nan = torch.nn.Parameter(torch.ones(4))
        self.inf = torch.nn.Parameter(torch.ones(3))
        self.frozen = torch.nn.Parameter(torch.ones(2), requires_grad=False)
        self.empty = torch.nn.Parameter(torch.empty(0))
        self.constant = torch.nn.Parameter(torch.full((5,), 7.0))


def read(store: Path, run_id: str) -> tuple[dict[str, dict[float, float]], dict[str, Any]]:
    with Reader(store) as reader:
        types = reader.attribute_types(PROJECT, [run_id])
        floats = [p for p, t in types.items() if t == "float_series"]
        hists = [p for p, t in types.items() if t == "histogram_series"]
        # one attribute per call: every row is a stored point, so a NaN is a stored NaN
        norms = {
            p: {
                float(s): float(v)
                for (_, s), v in reader.fetch_metrics(PROJECT, [run_id], [p])[p].items()
            }
            for p in floats
        }
        series = reader.fetch_series(PROJECT, [run_id], hists)
    histograms = {p: dict(series[p].dropna().items()) for p in hists}
    return norms, histograms


def test_non_finite_frozen_empty_and_constant_tensors(tmp_path: Path) -> None:
    model = Awkward()
    model.nan.grad = torch.tensor([1.0, float("nan"), 2.0, 3.0])
    model.inf.grad = torch.tensor([float("inf"), 1.0, -1.0])
    model.constant.grad = torch.zeros(5)
    model.empty.grad = torch.empty(0)
    store = tmp_path / "store"
    with Run(run_id="awkward", project=PROJECT, log_directory=str(store)) as run:
        ModelWatcher(model, "w", log="all", log_freq=1).capture(run, 0)

    norms, histograms = read(store, "awkward")
    assert math.isnan(norms["w/gradients/norm/nan"][0.0])  # a NaN gradient shows in its norm
    assert math.isinf(norms["w/gradients/norm/inf"][0.0])
    assert "w/gradients/norm/frozen" not in norms  # no gradient, no point
    assert norms["w/parameters/norm/frozen"][0.0] == pytest.approx(math.sqrt(2))
    assert norms["w/gradients/norm/empty"][0.0] == 0.0
    assert "w/gradients/histogram/empty" not in histograms  # nothing to bin
    (nan_hist,) = histograms["w/gradients/histogram/nan"].values()
    assert sum(nan_hist["values"]) == 3  # the finite three
    (inf_hist,) = histograms["w/gradients/histogram/inf"].values()
    assert sum(inf_hist["values"]) == 2 and inf_hist["edges"][0] == -1.0
    (constant,) = histograms["w/parameters/histogram/constant"].values()
    assert sum(constant["values"]) == 5 and constant["edges"][0] < 7.0 < constant["edges"][-1]
    for points in histograms.values():
        for histogram in points.values():
            edges = histogram["edges"]
            assert all(a < b for a, b in itertools.pairwise(edges))


def test_two_optimizers_at_one_step_log_it_once(tmp_path: Path) -> None:
    # A GAN-style loop: two optimizers step per iteration; the watcher's hook fires for both
    # at the same step, and a series cannot take a step twice.
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.Linear(3, 1))
    first = torch.optim.SGD(model[0].parameters(), lr=0.1)
    second = torch.optim.SGD(model[1].parameters(), lr=0.1)
    store = tmp_path / "store"
    step = [0]
    with Run(run_id="two", project=PROJECT, log_directory=str(store)) as run:
        watcher = ModelWatcher(model, "w", log="gradients", log_freq=2)
        watcher.hook_optimizers(lambda: step[0], lambda: run, _passthrough)
        try:
            for step[0] in range(6):
                model(torch.ones(4, 3)).sum().backward()
                first.step()
                second.step()
                first.zero_grad()
                second.zero_grad()
        finally:
            watcher.unhook()
        # after unhook, a step reaches nothing
        model(torch.ones(1, 3)).sum().backward()
        step[0] = 8
        first.step()

    norms, _ = read(store, "two")
    assert sorted(norms["w/gradients/norm/0.weight"]) == [0.0, 2.0, 4.0]
    assert sorted(norms["w/gradients/norm/1.weight"]) == [0.0, 2.0, 4.0]


def _passthrough(what: str) -> Any:
    from contextlib import nullcontext

    return nullcontext()
