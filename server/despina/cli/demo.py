"""``despina demo``: log a few realistic runs (one forked) into the embedded store, then say how
to look at them. Everything goes through the real ``neptune_scale.Run``, as a training script would.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from pathlib import Path
from typing import Any

from despina.cli._common import add_store_option, store_location

__all__ = ["register"]

DEMO_PROJECT = "despina/demo"
STEPS = 300
FORK_STEP = 200
EVAL_EVERY = 25
SEED = 7
FINETUNE_CURVE_LR = 0.012


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="log a few example runs (one forked) into the embedded store",
        description="Log three example training runs (one forked from another) into the "
        "embedded store through the real neptune_scale.Run, then say how to look at them.",
    )
    add_store_option(parser)
    parser.add_argument("--project", default=DEMO_PROJECT, help=f"project (default {DEMO_PROJECT})")
    parser.add_argument(
        "--steps", type=int, default=STEPS, help=f"training steps (default {STEPS})"
    )
    parser.set_defaults(func=run)


def _loss(step: int, lr: float, noise: random.Random) -> float:
    """A plausible training curve: fast drop, then a slow tail; higher lr = noisier."""
    return 2.3 * math.exp(-step * lr * 0.6) + 0.15 + noise.gauss(0, 0.02 + lr * 0.2)


def _train(run: Any, lr: float, first: int, last: int, noise: random.Random) -> None:
    for step in range(first, last + 1):
        loss = _loss(step, lr, noise)
        metrics = {"train/loss": loss, "train/accuracy": min(0.99, 1.0 - loss / 2.6)}
        if step % EVAL_EVERY == 0:
            metrics["eval/loss"] = loss * 1.08 + 0.02
        run.log_metrics(metrics, step=step)


def _log_run(folder: Path, project: str, run_id: str, lr: float, steps: int, **fork: Any) -> None:
    from neptune_scale import Run

    from despina.store.transport import LocalTransport

    noise = random.Random(f"{SEED}-{run_id}")
    first = fork["fork_step"] + 1 if fork else 0
    # The fine-tuned fork continues its parent's curve a little faster (its lr is the parent's).
    curve = FINETUNE_CURVE_LR if fork else lr
    with Run(
        run_id=run_id,
        project=project,
        experiment_name=f"mnist-lr-{lr:g}",
        log_directory=folder,
        transport=LocalTransport(folder),
        enable_console_log_capture=False,
        source_tracking_config=None,
        **fork,
    ) as run:
        run.log_configs(
            {
                "params/lr": lr,
                "params/batch_size": 64,
                "params/optimizer": "adam",
                "model/layers": 3,
            }
        )
        run.add_tags(["demo", "forked" if fork else "baseline"])
        _train(run, curve, first, steps, noise)


def run(args: argparse.Namespace) -> int:
    folder = Path(store_location(args.store))
    if "://" in str(folder):
        print("despina demo: writes into an embedded store folder, not a URL", file=sys.stderr)
        return 1
    stamp = time.strftime("%Y%m%d-%H%M%S")
    baseline, fast, fork = (f"demo-{stamp}-{name}" for name in ("baseline", "fast", "finetune"))
    last = max(args.steps, FORK_STEP + 1)
    _log_run(folder, args.project, baseline, 0.01, last)
    _log_run(folder, args.project, fast, 0.05, last)
    _log_run(folder, args.project, fork, 0.005, last, fork_run_id=baseline, fork_step=FORK_STEP)
    store = "" if args.store is None else f" --store {args.store}"
    print(
        f"Logged 3 runs into {folder}/ (project {args.project}); {fork} forks {baseline} "
        f"at step {FORK_STEP}.\n"
        f"Look at them:\n  despina ls{store}\n  despina show {fork}{store}\n"
        f"  despina export {fork} --format csv{store}\n  despina ui{store}"
    )
    return 0
