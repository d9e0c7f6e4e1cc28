"""System metrics (the client's sampler), and ddp_spawn with two CPU processes (gloo)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from despina_lightning import NeptuneScaleLogger
from lightning_support import (
    PROJECT,
    TinyModule,
    loader,
    make_trainer,
    needs_client_and_store,
    stored_run,
    stored_runs,
)

pytestmark = needs_client_and_store

QUIET = {"enable_console_log_capture": False}


class SleepyModule(TinyModule):
    """A fit of about two seconds: far shorter than the default sampling interval."""

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        time.sleep(0.5)
        return super().training_step(batch, batch_idx)


def test_system_metrics_come_from_the_client_sampler(store_dir: Path, tmp_path: Path) -> None:
    logger = NeptuneScaleLogger(system_metrics=True, system_metrics_interval_s=0.2, **QUIET)
    make_trainer(logger, tmp_path, max_epochs=1).fit(SleepyModule(), loader(), loader(1))
    logger.close()
    assert not [t for t in threading.enumerate() if t.name == "neptune-system-metrics"]
    run = stored_run(store_dir, logger.version)
    assert not [name for name in run.series if name.startswith("training/system/")]
    cpu = run.steps("system/cpu/percent")
    assert len(cpu) >= 2 and cpu == sorted(set(cpu))
    memory = run.values("system/memory/used_percent")
    assert all(0 < v <= 100 for v in memory)
    assert all(v > 10 for v in run.values("system/process/rss_mib"))


def test_system_metrics_sample_early_and_at_the_end_with_the_default_interval(
    store_dir: Path, tmp_path: Path
) -> None:
    logger = NeptuneScaleLogger(system_metrics=True, **QUIET)  # samples every 10 s
    make_trainer(logger, tmp_path, max_epochs=1).fit(SleepyModule(), loader())
    logger.close()  # the last sample
    run = stored_run(store_dir, logger.version)
    cpu = run.series["system/cpu/percent"]
    assert len(cpu) >= 2
    assert cpu[0][1] > 0  # measured over a window, not read at the reference point
    assert cpu[-1][0] >= 1.5  # seconds: the last sample at close, after the ~2 s fit


@pytest.mark.slow
def test_ddp_spawn_fit_then_test_log_cleanly_into_one_run(
    store_dir: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # Console capture stays on: each spawned process numbers its lines from step 0 again.
    logger = NeptuneScaleLogger(run_id="ddp", tags=["ddp"])
    trainer = make_trainer(
        logger, tmp_path, max_epochs=1, strategy="ddp_spawn", devices=2, num_nodes=1
    )
    model = TinyModule()
    trainer.fit(model, loader(), loader(1))
    trainer.test(model, loader(2))  # a second pair of processes, with a second copy
    logger.close()
    printed = capfd.readouterr()
    assert stored_runs(store_dir) == ["ddp"]
    run = stored_run(store_dir, "ddp")
    # Each of the two processes sees half of the 4 batches.
    assert run.steps("training/train/loss_step") == [0, 1]
    # The test follows the training in the run (its spawned Trainer counted from 0 again).
    assert run.steps("training/test/loss") == [1]
    assert run.configs["training/status"] == "succeeded"
    assert run.configs["sys/tags"] == ["ddp"]
    assert not any(k.startswith("training/diagnostics/") for k in run.configs)
    for problem in ("NeptuneRunDuplicate", "NeptuneSeriesStep", "neptune:ERROR"):
        assert problem not in printed.err + printed.out


@pytest.mark.slow
def test_ddp_fit_then_test_log_cleanly_into_one_run(store_dir: Path, tmp_path: Path) -> None:
    # ddp starts the other rank by running the script again, so the script is a file.
    script = tmp_path / "ddp_fit_test.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from pathlib import Path
            from despina_lightning import NeptuneScaleLogger
            from lightning_support import TinyModule, loader, make_trainer

            if __name__ == "__main__":
                logger = NeptuneScaleLogger(run_id="ddp-plain")
                trainer = make_trainer(
                    logger, Path({str(tmp_path)!r}), max_epochs=1, strategy="ddp", devices=2
                )
                model = TinyModule()
                trainer.fit(model, loader(), loader(1))
                trainer.test(model, loader(2))
                logger.close()
            """
        )
    )
    env = {**os.environ, "NEPTUNE_LOG_DIRECTORY": str(store_dir), "NEPTUNE_PROJECT": PROJECT}
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for problem in ("NeptuneRunDuplicate", "NeptuneSeriesStep", "neptune:ERROR"):
        assert problem not in done.stderr + done.stdout
    assert stored_runs(store_dir) == ["ddp-plain"]
    run = stored_run(store_dir, "ddp-plain")
    assert run.steps("training/train/loss_step") == [0, 1]
    assert run.steps("training/test/loss") == [2]  # the Trainer that ran fit counted on
    assert run.configs["training/status"] == "succeeded"
