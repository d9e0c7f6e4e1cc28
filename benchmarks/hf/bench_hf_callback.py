"""HF integration benchmark: what ``NeptuneScaleCallback`` costs a training loop.

Prints one table, side by side in one run:

* hook cost: µs per ``on_log`` of a typical training log (loss, grad_norm, learning_rate, epoch)
  through the real callback into a real run (embedded store, async), next to the same callback
  with ``mode="disabled"`` (only the callback's own work) and a bare ``run.log_metrics`` call;
* a tiny real ``Trainer`` (two-layer BERT, hidden size 32, CPU) logging every step: seconds per
  step without a callback and with ours (best of ``--repeats`` alternating runs, after a warm-up),
  and how long ``close()`` then waits for the store;
* peak RSS growth of the hook loop.

Usage: ``python benchmarks/hf/bench_hf_callback.py [--calls N] [--steps N] [--repeats N]``.
Timings are noisy when other work shares the machine; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integrations" / "hf"))  # the tests' tiny model and data

import transformers  # noqa: E402
from despina_hf import NeptuneScaleCallback  # noqa: E402
from hf_tiny import TinyClassification, tiny_bert  # noqa: E402
from neptune_scale import Run  # noqa: E402
from transformers.trainer_callback import TrainerControl, TrainerState  # noqa: E402

PROJECT = "bench/hf"


def _logs(step: int) -> dict[str, float]:
    return {"loss": 1.0 / step, "grad_norm": 0.5, "learning_rate": 1e-3, "epoch": step / 100}


def hook_cost(calls: int, store: Path, mode: str | None) -> tuple[float, float]:
    """µs per on_log call, and seconds close() waited."""
    kwargs: dict[str, Any] = {"log_directory": str(store), "project": PROJECT}
    if mode is not None:
        kwargs["mode"] = mode
    callback = NeptuneScaleCallback(log_parameters=False, **kwargs)
    args = transformers.TrainingArguments(output_dir=str(store / "out"), report_to="none")
    state, control = TrainerState(), TrainerControl()
    callback.on_train_begin(args, state, control)
    start = time.perf_counter()
    for step in range(1, calls + 1):
        state.global_step = step
        callback.on_log(args, state, control, logs=_logs(step))
    elapsed = time.perf_counter() - start
    closing = time.perf_counter()
    callback.close()
    return elapsed / calls * 1e6, time.perf_counter() - closing


def bare_client_cost(calls: int, store: Path) -> float:
    run = Run(log_directory=str(store), project=PROJECT, enable_console_log_capture=False)
    start = time.perf_counter()
    for step in range(1, calls + 1):
        data = {f"train/{k}": v for k, v in _logs(step).items()}
        run.log_metrics(data, step=step)
    elapsed = time.perf_counter() - start
    run.close()
    return elapsed / calls * 1e6


def trainer_seconds_per_step(steps: int, store: Path, with_callback: bool) -> tuple[float, float]:
    callbacks = []
    callback = None
    if with_callback:
        callback = NeptuneScaleCallback(log_directory=str(store), project=PROJECT)
        callbacks.append(callback)
    args = transformers.TrainingArguments(
        output_dir=str(store / "trainer-out"),
        report_to="none",
        max_steps=steps,
        logging_steps=1,
        per_device_train_batch_size=8,
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
        log_level="error",
    )
    trainer = transformers.Trainer(
        model=tiny_bert(),
        args=args,
        train_dataset=TinyClassification(64, seed=1),
        callbacks=callbacks,
    )
    start = time.perf_counter()
    trainer.train()
    per_step = (time.perf_counter() - start) / steps
    closing = time.perf_counter()
    if callback is not None:
        callback.close()
    return per_step, time.perf_counter() - closing


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000, help="on_log calls per variant")
    parser.add_argument("--steps", type=int, default=100, help="Trainer steps per variant")
    parser.add_argument("--repeats", type=int, default=3, help="Trainer runs per variant")
    options = parser.parse_args(argv)
    transformers.logging.set_verbosity_error()

    with tempfile.TemporaryDirectory(prefix="bench-hf-") as tmp:
        root = Path(tmp)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        ours_us, ours_close = hook_cost(options.calls, root / "a", None)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        disabled_us, _ = hook_cost(options.calls, root / "b", "disabled")
        bare_us = bare_client_cost(options.calls, root / "c")
        trainer_seconds_per_step(2, root / "warm", False)  # one-time costs (kernels, imports)
        plain, tracked = [], []
        for repeat in range(options.repeats):  # alternate, keep the best: load comes and goes
            plain.append(trainer_seconds_per_step(options.steps, root / f"d{repeat}", False))
            tracked.append(trainer_seconds_per_step(options.steps, root / f"e{repeat}", True))
        plain_step = min(p[0] for p in plain)
        tracked_step, tracked_close = min(tracked)

    load = os.getloadavg()
    rows = [
        ("on_log, callback -> run -> embedded store", f"{ours_us:.1f} µs/call"),
        ("on_log, callback with mode='disabled'", f"{disabled_us:.1f} µs/call"),
        ("bare run.log_metrics (same 4 values)", f"{bare_us:.1f} µs/call"),
        (f"close() after {options.calls} on_log calls", f"{ours_close:.2f} s"),
        ("peak RSS growth of the on_log loop", f"{(rss_after - rss_before) / 1024:.1f} MiB"),
        ("Trainer step, no callback", f"{plain_step * 1e3:.2f} ms/step"),
        ("Trainer step, NeptuneScaleCallback", f"{tracked_step * 1e3:.2f} ms/step"),
        ("Trainer overhead per step", f"{(tracked_step - plain_step) * 1e3:+.2f} ms/step"),
        (f"close() after {options.steps} Trainer steps", f"{tracked_close:.2f} s"),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"NeptuneScaleCallback (load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f})")
    for name, value in rows:
        print(f"  {name:<{width}}  {value:>14}")


if __name__ == "__main__":
    main()
