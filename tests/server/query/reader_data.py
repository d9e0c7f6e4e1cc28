"""The runs the read-API tests log through the real ``neptune_scale.Run``."""

from __future__ import annotations

from pathlib import Path

PROJECT = "team/vision"
STEPS = 120
FORK_STEP = 60


def _log(folder: Path, run_id: str, **kwargs: object) -> object:
    from despina.store.transport import LocalTransport
    from neptune_scale import Run

    return Run(
        run_id=run_id,
        project=PROJECT,
        log_directory=folder,
        transport=LocalTransport(folder),
        enable_console_log_capture=False,
        source_tracking_config=None,
        **kwargs,
    )  # type: ignore[arg-type]


def loss(step: int, run_id: str) -> float:
    return 1.0 / (step + 1) + (0.5 if run_id == "other" else 0.0)


def log_runs(folder: Path) -> Path:
    """base (exp-a) → fork (exp-a, forks base at 60) → grand (forks fork at 90); other (exp-b)."""
    from neptune_scale.types import File, Histogram

    with _log(folder, "base", experiment_name="exp-a") as run:  # type: ignore[attr-defined]
        run.log_configs({"params/lr": 0.01, "params/opt": "adam", "params/layers": 3, "flag": True})
        run.add_tags(["vision", "baseline"])
        run.add_tags(["group-1"], group_tags=True)
        for step in range(STEPS):
            run.log_metrics(
                {"train/loss": loss(step, "base"), "train/acc": step / STEPS}, step=step
            )
        run.log_string_series({"notes": "first"}, step=1)
        run.log_string_series({"notes": "second"}, step=2)
        run.log_histograms({"weights": Histogram(bin_edges=[0.0, 1.0, 2.0], counts=[3, 4])}, step=5)
        run.assign_files({"model/summary": File(source=b"layers: 3\n", mime_type="text/plain")})
    with _log(
        folder, "fork", experiment_name="exp-a", fork_run_id="base", fork_step=FORK_STEP
    ) as run:  # type: ignore[attr-defined]
        run.log_configs({"params/lr": 0.001})
        for step in range(FORK_STEP + 1, STEPS):
            run.log_metrics({"train/loss": loss(step, "fork") / 2}, step=step)
    with _log(folder, "grand", experiment_name="exp-c", fork_run_id="fork", fork_step=90) as run:  # type: ignore[attr-defined]
        for step in range(91, 100):
            run.log_metrics({"train/loss": -1.0}, step=step)
    with _log(folder, "other", experiment_name="exp-b") as run:  # type: ignore[attr-defined]
        run.log_configs({"params/lr": 0.1})
        run.add_tags(["vision"])
        for step in range(10):
            run.log_metrics({"train/loss": loss(step, "other")}, step=step)
    return folder


def expected_fork_loss() -> list[tuple[float, float]]:
    own = [(float(s), loss(s, "fork") / 2) for s in range(FORK_STEP + 1, STEPS)]
    return [(float(s), loss(s, "base")) for s in range(FORK_STEP + 1)] + own
