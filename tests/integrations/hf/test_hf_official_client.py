"""The callback on the *official* neptune-scale 0.30.0 client, against our server.

``despina_hf`` logs only through the client's public API (``Run``), so a user of the official
client can use it too. Its shared helpers (the integration kit ``neptune_scale.integrations``
and ``neptune_scale.model_watch``) are stdlib-only modules that ship with Despina's client; the
script adds them to the official package, whose ``Run`` does all the logging. The official client
installs the same ``neptune_scale`` name as ours, so it runs in its own venv (shared with
tests/compat, under ``.cache/oracle/``); torch and transformers come from this environment's
site-packages, appended after the venv's own packages.
"""

from __future__ import annotations

import json
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[3]
HERE = Path(__file__).resolve().parent
PROJECT = "oracle-ws/hf"

SCRIPT = """
import json, os, sys
sys.path.append(MAIN_SITE)  # torch, transformers; the venv's official neptune_scale stays first
sys.path[:0] = [HF_PACKAGE, TESTS_HF]
import neptune_scale
neptune_scale.__path__.append(KIT)  # the kit's modules; every other name stays the official one
import transformers
from despina_hf import NeptuneScaleCallback
from hf_tiny import TinyClassification, accuracy, tiny_bert

callback = NeptuneScaleCallback(
    run_id="official-hf", experiment_name="oracle-hf", log_checkpoints="last", tags=["oracle"],
    enable_console_log_capture=False,
)
args = transformers.TrainingArguments(
    output_dir=OUTPUT_DIR, report_to="none", max_steps=4, logging_steps=1, use_cpu=True,
    disable_tqdm=True, save_strategy="steps", save_steps=2, eval_strategy="steps", eval_steps=2,
    save_total_limit=1,
)
trainer = transformers.Trainer(
    model=tiny_bert(), args=args, train_dataset=TinyClassification(32, seed=1),
    eval_dataset=TinyClassification(16, seed=2), compute_metrics=accuracy, callbacks=[callback],
)
trainer.train()
trainer.evaluate()
callback.close()
print(json.dumps({"client": neptune_scale.__file__}))
"""


@pytest.fixture(scope="module")
def official(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """The official client's python and a live server on 127.0.0.1."""
    from despina.api import ServerProcess
    from despina.auth import KeyRing, ServerDatabase, encode_api_token
    from support.oracle_support import ORACLE_SCALE, LiveServer, oracle_venv

    python = oracle_venv(ORACLE_SCALE)
    tmp = tmp_path_factory.mktemp("hf-oracle")
    location = str(tmp / "store")
    api_key, _ = KeyRing(ServerDatabase(location)).create_key("oracle-ws")
    with ServerProcess(location, tmp / "server.log") as process:
        token = encode_api_token(process.url, api_key)
        yield python, LiveServer(process.url, token, location, process.log_path)


def test_callback_logs_through_the_official_client(
    official: tuple[Path, Any], tmp_path: Path
) -> None:
    from despina.query import Reader
    from support.oracle_support import env_for, run_script

    python, server = official
    constants = {
        "MAIN_SITE": sysconfig.get_paths()["purelib"],
        "HF_PACKAGE": str(REPO / "integrations" / "hf"),
        "TESTS_HF": str(HERE),
        "KIT": str(REPO / "core" / "neptune_scale"),
        "OUTPUT_DIR": str(tmp_path / "out"),
    }
    code = "".join(f"{name} = {value!r}\n" for name, value in constants.items()) + SCRIPT
    env = env_for(server, PROJECT, DESPINA_HF_STRICT="1", HF_HUB_OFFLINE="1")
    result = run_script(python, code, tmp_path, env)
    assert ".cache/oracle/" in result["client"]  # it really was the official client

    with Reader(server.store_location) as reader:
        details = reader.run_details(PROJECT, "official-hf")
        configs = details["configs"]
        assert details["experiment"] == "oracle-hf" and details["tags"] == ["oracle"]
        assert configs["trainer/status"] == "succeeded"
        assert configs["model/config/hidden_size"] == 32
        assert configs["checkpoints/last/step"] == 4
        metrics = reader.fetch_metrics(PROJECT, ["official-hf"], ["train/loss", "eval/loss"])
        steps = metrics.reset_index()
        assert sorted(steps.dropna(subset=["train/loss"])["step"]) == [1.0, 2.0, 3.0, 4.0]
        assert sorted(steps.dropna(subset=["eval/loss"])["step"]) == [2.0, 4.0]
        files = reader.download_files(
            PROJECT, ["official-hf"], "^checkpoints/last/trainer_state.json$", tmp_path / "dl"
        )
        (path,) = files["path"]
        assert json.loads(Path(path).read_text())["global_step"] == 4
