"""A histogram series over steps in chromium: the heat map (steps x values) shows a
distribution moving, and the step slider / a click on the map pick the step drawn as bars."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

pytestmark = pytest.mark.browser

PROJECT = "heat/maps"
ATTRIBUTE = "model/watch/gradients/histogram/layer.weight"
STEPS = 12
WAIT_MS = 15_000


def shifting_histograms(store_dir: Path) -> None:
    """A distribution whose centre moves from -5 to +5 over the steps; each step has its own
    bin edges around its own range, as ModelWatcher writes them."""
    from neptune_scale import Run
    from neptune_scale.types import Histogram

    with Run(run_id="shift", project=PROJECT, log_directory=str(store_dir)) as run:
        for step in range(STEPS):
            centre = -5.0 + 10.0 * step / (STEPS - 1)
            edges = [centre - 2.0 + 0.5 * i for i in range(9)]  # 8 bins, peak in the middle
            run.log_histograms(
                {ATTRIBUTE: Histogram(bin_edges=edges, counts=[1, 2, 5, 20, 20, 5, 2, 1])},
                step=step,
            )


@pytest.fixture(scope="module")
def heat_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    import socket

    import uvicorn
    from despina.store import open_store
    from despina.ui import create_app

    folder = tmp_path_factory.mktemp("heat-store")
    shifting_histograms(folder)
    store = open_store(str(folder))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(
        uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline and thread.is_alive():
        time.sleep(0.02)
    assert server.started, "the UI server did not start"
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)
    store.close()


def darkest_rows(page: Any) -> list[int]:
    """Per heat-map column (sampled in its middle), the canvas row with the strongest shade."""
    return page.evaluate(
        """([selector, n]) => {
          const canvas = document.querySelector(selector);
          const ctx = canvas.getContext('2d');
          const rows = [];
          for (let c = 0; c < n; c++) {
            const x = Math.floor((c + 0.5) * canvas.width / n);
            let best = 0, bestY = -1;
            for (let y = 2; y < canvas.height - 2; y++) {
              const [r, g, b] = ctx.getImageData(x, y, 1, 1).data;
              const shade = 255 * 3 - (r + g + b);
              if (shade > best) { best = shade; bestY = y; }
            }
            rows.push(bestY);
          }
          return rows;
        }""",
        [f".histogram[data-attribute='{ATTRIBUTE}'] canvas.histogram-heat", STEPS],
    )


def test_heat_map_shows_a_distribution_shift_and_picks_steps(
    page: Any, heat_url: str, tmp_path: Path
) -> None:
    page.goto(f"{heat_url}/run?{urlencode({'project': PROJECT, 'run': 'shift'})}")
    page.wait_for_function("() => window.__despinaRun && __despinaRun.ready", timeout=WAIT_MS)
    heat = page.evaluate("(a) => __despinaRun.heatmaps[a]", ATTRIBUTE)
    assert heat["steps"] == list(range(STEPS))
    # the peak moves up the value axis step after step
    assert heat["peaks"] == sorted(heat["peaks"]) and heat["peaks"][-1] > heat["peaks"][0] + 20

    # what is drawn: the darkest pixel of each column climbs (canvas y grows downwards)
    rows = darkest_rows(page)
    assert rows == sorted(rows, reverse=True) and rows[0] - rows[-1] > 60

    box = page.locator(f".histogram[data-attribute='{ATTRIBUTE}']")
    assert box.locator(".mono").inner_text().endswith(f"step {STEPS - 1}")
    heat_canvas = box.locator("canvas.histogram-heat")
    heat_canvas.click(position={"x": 3, "y": 10})  # the first column
    assert box.locator(".mono").inner_text().endswith("step 0")
    assert box.locator("input[type=range]").input_value() == "0"
    box.locator("input[type=range]").fill("5")
    assert box.locator(".mono").inner_text().endswith("step 5")
    assert "steps 0 → 11" in box.locator(".histogram-axes").inner_text()
    page.screenshot(path=str(tmp_path / "heat-map.png"), full_page=True)
