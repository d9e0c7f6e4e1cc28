"""Lightning integration benchmark: what ``NeptuneScaleLogger`` costs a training loop.

Prints one table, side by side in one run:

* call cost: µs per ``log_metrics`` of a typical Lightning logging call (8 metrics + ``epoch``)
  through our logger into a real run (embedded store, async), next to the same logger with
  ``mode="disabled"`` (only the logger's own work: conversion, step guard), Lightning's
  ``CSVLogger``, and a bare ``run.log_metrics`` call;
* a tiny real ``Trainer`` (MLP, CPU) logging every step: seconds per step without a logger, with
  ``CSVLogger`` and with ours (best of ``--repeats`` alternating runs, after a warm-up), and how
  long ``finalize`` then waits for the store;
* peak RSS growth over the call loop.

Usage: ``python benchmarks/lightning/bench_lightning_logger.py [--calls N] [--steps N]
[--repeats N]``. Timings are noisy when other work shares the machine; the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from despina_lightning import NeptuneScaleLogger
from lightning.pytorch.loggers import CSVLogger
from neptune_scale import Run
from torch.utils.data import DataLoader, TensorDataset

PROJECT = "bench/lightning"
METRICS_PER_CALL = 8
QUIET = {"enable_console_log_capture": False, "source_tracking_config": None}


def _metrics(step: int) -> dict[str, float]:
    values = {f"train/m{i}": 1.0 / (step + i + 1) for i in range(METRICS_PER_CALL)}
    values["epoch"] = float(step // 100)
    return values


def _per_call_us(log: Any, calls: int) -> float:
    start = time.perf_counter()
    for step in range(calls):
        log(_metrics(step), step)
    return (time.perf_counter() - start) / calls * 1e6


def call_costs(folder: Path, calls: int) -> dict[str, str]:
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ours = NeptuneScaleLogger(project=PROJECT, log_directory=str(folder), **QUIET)
    ours_us = _per_call_us(ours.log_metrics, calls)
    start = time.perf_counter()
    ours.finalize("success")
    flush_s = time.perf_counter() - start
    ours.close()
    rss_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    disabled = NeptuneScaleLogger(mode="disabled", **QUIET)
    disabled_us = _per_call_us(disabled.log_metrics, calls)
    csv = CSVLogger(str(folder / "csv"))
    csv_us = _per_call_us(csv.log_metrics, calls)
    csv.finalize("success")
    with Run(project=PROJECT, log_directory=str(folder), **QUIET) as run:
        bare_us = _per_call_us(lambda m, s: run.log_metrics(m, step=s), calls)
    return {
        "log_metrics, ours (µs/call)": f"{ours_us:.1f}",
        "log_metrics, ours disabled (µs/call)": f"{disabled_us:.1f}",
        "log_metrics, CSVLogger (µs/call)": f"{csv_us:.1f}",
        "run.log_metrics, bare (µs/call)": f"{bare_us:.1f}",
        "finalize wait after the loop (s)": f"{flush_s:.2f}",
        "peak RSS growth over the loop (MiB)": f"{rss_growth_mib:.1f}",
    }


class _Mlp(pl.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1)
        )

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log_dict({"train/loss": loss, "train/scale": loss.detach() * 2})
        return loss

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=0.01)


def _fit_s_per_step(logger: Any, steps: int, root: Path) -> float:
    x = torch.randn(steps * 8, 8, generator=torch.Generator().manual_seed(0))
    data = DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)
    trainer = pl.Trainer(
        max_epochs=1,
        logger=logger,
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        accelerator="cpu",
        default_root_dir=str(root),
    )
    start = time.perf_counter()
    trainer.fit(_Mlp(), data)
    return (time.perf_counter() - start) / steps


def trainer_costs(folder: Path, steps: int, repeats: int) -> dict[str, str]:
    best = {"none": float("inf"), "csv": float("inf"), "ours": float("inf")}
    makers = {
        "none": lambda: False,
        "csv": lambda: CSVLogger(str(folder / "csv-fit")),
        "ours": lambda: NeptuneScaleLogger(project=PROJECT, log_directory=str(folder), **QUIET),
    }
    _fit_s_per_step(False, steps, folder)  # warm-up: imports, first-call costs
    for _ in range(repeats):
        for name, make in makers.items():
            logger = make()
            best[name] = min(best[name], _fit_s_per_step(logger, steps, folder))
            if isinstance(logger, NeptuneScaleLogger):
                logger.close()
    return {
        "fit, no logger (ms/step)": f"{best['none'] * 1e3:.2f}",
        "fit, CSVLogger (ms/step)": f"{best['csv'] * 1e3:.2f}",
        "fit, NeptuneScaleLogger (ms/step)": f"{best['ours'] * 1e3:.2f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = call_costs(folder, args.calls)
        rows.update(trainer_costs(folder, args.steps, args.repeats))
    load = os.getloadavg()
    print(
        f"NeptuneScaleLogger (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
        f"{args.calls} calls, {args.steps} fit steps, best of {args.repeats})"
    )
    width = max(len(k) for k in rows)
    for name, value in rows.items():
        print(f"  {name:<{width}}  {value:>10}")


if __name__ == "__main__":
    main()
