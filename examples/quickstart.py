"""Log a small training run into the embedded store, then look at it.

    python examples/quickstart.py
    despina ui            # opens the runs table of .neptune/ in the browser

No server and no API token are needed: without a token the run goes into the embedded store in
``.neptune/`` (or ``$NEPTUNE_LOG_DIRECTORY``), project ``$NEPTUNE_PROJECT`` or ``local/default``.
With ``NEPTUNE_API_TOKEN`` set, the same script sends to the server the token names.
"""

from __future__ import annotations

import itertools
import math
import random

from neptune_scale import Run
from neptune_scale.types import Histogram


def main() -> None:
    with Run(experiment_name="quickstart") as run:
        run.log_configs({"optimizer": {"name": "adam", "lr": 3e-4}, "batch_size": 64},
                        flatten=True)  # fmt: skip
        run.add_tags(["example", "quickstart"])
        for step in range(1, 501):
            loss = 2.0 * math.exp(-step / 120) + random.uniform(0, 0.05)
            run.log_metrics({"train/loss": loss, "train/lr": 3e-4 * min(1.0, step / 50)},
                            step=step)  # fmt: skip
            if step % 100 == 0:
                run.log_metrics({"val/loss": loss * 1.1}, step=step)
                weights = [random.gauss(0, 1 / step**0.25) for _ in range(1000)]
                edges = [x / 4 for x in range(-12, 13)]
                bins = itertools.pairwise(edges)
                counts = [sum(lo <= w < hi for w in weights) for lo, hi in bins]
                run.log_histograms({"weights": Histogram(bin_edges=edges, counts=counts)},
                                   step=step)  # fmt: skip
        print("run page:", run.get_run_url())


if __name__ == "__main__":
    main()
