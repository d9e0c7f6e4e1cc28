"""Model watch benchmark: what ``watch(model, log=..., log_freq=100)`` costs a training step.

Prints one table, side by side in one run: seconds per optimizer step of a small CPU model
(an MLP, 3 x 256 hidden, batch 64, Adam; one torch thread) trained

* in a plain PyTorch loop: no watch, then the watcher hooked on the optimizer (the hook
  Lightning's logger installs) with ``log="gradients"`` and ``log="all"`` at ``log_freq=100``,
  and ``log="all"`` at ``log_freq=1`` (the cost of one capture, every step);
* through a Lightning ``Trainer`` with ``NeptuneScaleLogger``: without and with
  ``logger.watch(model, log="all", log_freq=100)``.

Each variant writes into a real run (embedded store, async delivery). Best of ``--repeats``
alternating rounds after a warm-up, so that a burst of other work on the machine hits one
round, not one variant. The overhead column is relative to the variant's baseline. A second
table gives the median cost of one capture and what it adds per step at ``log_freq=100``
(capture / 100 / plain step): on a loaded machine the loop timings swing by more than the
watch costs, the capture timing much less.

Usage: ``python benchmarks/lightning/bench_model_watch.py [--steps N] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from despina_lightning import NeptuneScaleLogger
from neptune_scale import Run
from neptune_scale.model_watch import ModelWatcher
from torch.utils.data import DataLoader, TensorDataset

PROJECT = "bench/watch"
QUIET = {"enable_console_log_capture": False, "source_tracking_config": None}
BATCH, FEATURES, HIDDEN = 64, 64, 256


def mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(FEATURES, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, HIDDEN),
        torch.nn.ReLU(),
        torch.nn.Linear(HIDDEN, 1),
    )


def data(steps: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(steps * BATCH, FEATURES, generator=generator)
    return TensorDataset(x, x.sum(1, keepdim=True))


def plain_loop(folder: Path, steps: int, watch: tuple[str, int] | None) -> float:
    """Seconds per step of a plain loop, the run receiving the loss every step."""
    model = mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loader = DataLoader(data(steps), batch_size=BATCH)
    with Run(project=PROJECT, log_directory=str(folder), **QUIET) as run:
        watcher = None
        if watch is not None:
            watcher = ModelWatcher(model, "model/watch", log=watch[0], log_freq=watch[1])
            counter = iter(range(10**9))
            watcher.hook_optimizers(lambda: next(counter), lambda: run, _no_guard)
        start = time.perf_counter()
        for step, (x, y) in enumerate(loader):
            optimizer.zero_grad()
            loss = torch.nn.functional.mse_loss(model(x), y)
            loss.backward()
            optimizer.step()
            run.log_metrics({"loss": float(loss.detach())}, step=step)
        elapsed = time.perf_counter() - start
        if watcher is not None:
            watcher.unhook()
    return elapsed / steps


class Module(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = mlp()

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class Timer(pl.Callback):
    def on_train_start(self, trainer: Any, module: Any) -> None:
        self.start = time.perf_counter()

    def on_train_end(self, trainer: Any, module: Any) -> None:
        self.elapsed = time.perf_counter() - self.start


def lightning_loop(folder: Path, steps: int, watch: bool) -> float:
    module = Module()
    logger = NeptuneScaleLogger(project=PROJECT, log_directory=str(folder), **QUIET)
    if watch:
        logger.watch(module, log="all", log_freq=100)
    timer = Timer()
    trainer = pl.Trainer(
        logger=logger,
        max_epochs=1,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        devices=1,
        callbacks=[timer],
        default_root_dir=str(folder),
    )
    trainer.fit(module, DataLoader(data(steps), batch_size=BATCH))
    logger.close()
    return timer.elapsed / steps


def capture_ms(folder: Path, log: str, count: int = 30) -> float:
    """Median milliseconds of one capture (norms + histograms of every tensor, into the run):
    what a logging step adds; steady under load, unlike the loop timings."""
    model = mlp()
    model(torch.randn(BATCH, FEATURES)).sum().backward()
    with Run(project=PROJECT, log_directory=str(folder), **QUIET) as run:
        watcher = ModelWatcher(model, "model/watch", log=log, log_freq=1)
        watcher.capture(run, 0)  # the structure, once
        times = []
        for step in range(1, count + 1):
            start = time.perf_counter()
            watcher.capture(run, step)
            times.append(time.perf_counter() - start)
    return sorted(times)[count // 2] * 1e3


def _no_guard(what: str) -> Any:
    from contextlib import nullcontext

    return nullcontext()


def best_of(variants: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    for run in variants.values():
        run()  # warm-up: imports, allocator, the store's first writes
    best = dict.fromkeys(variants, float("inf"))
    for _ in range(repeats):
        for name, run in variants.items():
            best[name] = min(best[name], run())
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        steps = args.steps
        plain = {
            "plain loop, no watch": lambda: plain_loop(folder / "p", steps, None),
            "plain loop, gradients @100": lambda: plain_loop(
                folder / "p", steps, ("gradients", 100)
            ),
            "plain loop, all @100": lambda: plain_loop(folder / "p", steps, ("all", 100)),
            "plain loop, all @1": lambda: plain_loop(folder / "p", steps, ("all", 1)),
        }
        lightning = {
            "Lightning, no watch": lambda: lightning_loop(folder / "l", steps, False),
            "Lightning, all @100": lambda: lightning_loop(folder / "l", steps, True),
        }
        results = best_of(plain, args.repeats) | best_of(lightning, args.repeats)
    params = sum(p.numel() for p in mlp().parameters())
    print(f"MLP {FEATURES}-{HIDDEN}-{HIDDEN}-{HIDDEN}-1 ({params} parameters, 8 tensors), ", end="")
    print(
        f"batch {BATCH}, {args.steps} steps, best of {args.repeats}; load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'variant':<30} {'ms/step':>9} {'overhead':>9}")
    for name, seconds in results.items():
        base = results[
            "plain loop, no watch" if name.startswith("plain") else "Lightning, no watch"
        ]
        print(f"{name:<30} {seconds * 1e3:>9.3f} {(seconds / base - 1) * 100:>8.1f}%")
    step_ms = results["plain loop, no watch"] * 1e3
    # Every-step capture in the loop includes the client's background work on the histograms
    # (encoding, the log, the store) that the capture timing below does not see.
    every = (results["plain loop, all @1"] * 1e3 - step_ms) / 100 / step_ms * 100
    print(f"{'all @100, from the @1 loop':<30} {'':>9} {every:>8.1f}%")
    print(f"\n{'one capture':<30} {'ms':>9} {'@100 / plain step':>18}")
    with tempfile.TemporaryDirectory() as tmp:
        for log in ("gradients", "all"):
            ms = capture_ms(Path(tmp), log)
            print(f"{log:<30} {ms:>9.2f} {ms / 100 / step_ms * 100:>17.2f}%")


if __name__ == "__main__":
    main()
