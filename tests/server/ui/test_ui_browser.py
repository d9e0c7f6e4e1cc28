"""The UI in Debian's chromium: runs table, run page, charts (aggregation, zoom, lineage, live
updates), compare page. Screenshots go to the test's tmp dir."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from ui_scenario import (
    BASE_STEPS,
    FILE_BYTES,
    FORK_LAST_STEP,
    FORK_STEP,
    LOG_LINES,
    MANY_RUNS,
    RUN_COUNT,
    SPIKE_STEP,
    SPIKE_VALUE,
    WIDE_METRICS,
)

pytestmark = pytest.mark.browser

WAIT_MS = 15_000
TOTAL_RUNS = RUN_COUNT


def url(base: str, path: str, **params: str) -> str:
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
    return f"{base}{path}?{query}"


def runs_state(page: Any) -> dict[str, Any]:
    return page.evaluate(
        "() => ({loads: __despinaRuns.loads, total: __despinaRuns.total,"
        " matched: __despinaRuns.matched, runs: __despinaRuns.rows.map(r => r.run)})"
    )


def wait_loads(page: Any, count: int) -> dict[str, Any]:
    page.wait_for_function(
        f"() => window.__despinaRuns && __despinaRuns.loads >= {count}", timeout=WAIT_MS
    )
    return runs_state(page)


def chart(page: Any, attribute: str) -> dict[str, Any]:
    return page.evaluate(
        "(a) => { const c = window.__despinaCharts[a];"
        " return {fetches: c.fetches, aggregated: c.aggregated, note: c.note, range: c.range,"
        " x: c.x, log: c.log, series: c.series, live_polls: c.live_polls || 0}; }",
        attribute,
    )


def wait_chart(page: Any, attribute: str, fetches: int = 1) -> dict[str, Any]:
    page.wait_for_function(
        "([a, n]) => window.__despinaCharts && __despinaCharts[a] && __despinaCharts[a].ready"
        " && __despinaCharts[a].fetches >= n",
        arg=[attribute, fetches],
        timeout=WAIT_MS,
    )
    return chart(page, attribute)


def test_runs_table(page: Any, ui_url: str, project: str, tmp_path: Path) -> None:
    page.goto(url(ui_url, "/runs", project=project))
    state = wait_loads(page, 1)
    assert (state["total"], len(state["runs"])) == (TOTAL_RUNS, 50)
    assert page.locator("#summary").inner_text() == f"{TOTAL_RUNS} runs"

    page.fill("#filter", "tag:baseline")
    page.press("#filter", "Enter")
    state = wait_loads(page, 2)
    assert state["runs"] == ["base-1"]
    assert "filter=tag%3Abaseline" in page.url

    page.fill("#filter", "params/lr > 0.05")
    page.press("#filter", "Enter")
    wait_loads(page, 3)
    page.fill("#columns", "params/lr, train/loss")
    page.dispatch_event("#columns", "change")
    wait_loads(page, 4)
    page.click("th[data-key='params/lr']")  # first click: descending
    state = wait_loads(page, 5)
    assert state["runs"][0] == "other-2" and state["matched"] == MANY_RUNS - 51 + 1
    row = page.locator("tr[data-run='other-2'] td")
    assert row.nth(5).inner_text() == "0.1" and row.nth(6).inner_text() == "0.01"
    page.screenshot(path=str(tmp_path / "runs-filtered.png"), full_page=True)

    # The state lives in the URL: a reload shows the same view.
    page.reload()
    state = wait_loads(page, 1)
    assert state["runs"][0] == "other-2" and page.input_value("#filter") == "params/lr > 0.05"

    page.fill("#filter", "params/lr >")
    page.press("#filter", "Enter")
    wait_loads(page, 2)
    assert "a value must follow" in page.locator("#error").inner_text()

    page.fill("#filter", "")
    page.press("#filter", "Enter")
    wait_loads(page, 3)
    page.click("#next")
    state = wait_loads(page, 4)
    assert len(state["runs"]) == TOTAL_RUNS - 50
    page.screenshot(path=str(tmp_path / "runs-page-2.png"))


def test_run_page(page: Any, ui_url: str, project: str, tmp_path: Path) -> None:
    page.goto(url(ui_url, "/run", project=project, run="base-1"))
    page.wait_for_function("() => window.__despinaRun && __despinaRun.ready", timeout=WAIT_MS)
    assert "baseline" in page.locator("#tags").inner_text()
    assert "fork-1" in page.locator("#children").inner_text()
    assert "params/lr" in page.locator("#configs").inner_text()
    logs = page.locator("pre.log-view[data-attribute='runtime/stdout']")
    assert logs.inner_text().count("done") == LOG_LINES
    assert page.evaluate("() => __despinaRun.histograms['weights/hist']") == 3
    with page.expect_download() as download:
        page.click("#files a")
    assert Path(download.value.path()).read_bytes() == FILE_BYTES

    loss = wait_chart(page, "train/loss")
    acc = wait_chart(page, "train/acc")
    (series,) = loss["series"]
    assert series["run"] == "base-1" and series["total"] == BASE_STEPS
    assert loss["aggregated"] and "Aggregated" in loss["note"]
    assert series["y_max"] == SPIKE_VALUE  # the spike is in the min/max band
    assert acc["series"][0]["last_x"] == BASE_STEPS - 1
    page.screenshot(path=str(tmp_path / "run-base.png"), full_page=True)

    # The crosshair follows the mouse on every chart (synced by x).
    loss_over = page.locator(".chart[data-attribute='train/loss'] .u-over")
    loss_over.scroll_into_view_if_needed()
    box = loss_over.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    lefts = page.evaluate(
        "() => ['train/loss', 'train/acc'].map(a =>"
        " DespinaCharts.charts.find(c => c.attribute === a).plot.cursor.left)"
    )
    assert lefts[0] > 0 and abs(lefts[0] - lefts[1]) < 2

    # Smoothing changes the drawn line, not the data, and is kept in the URL.
    page.evaluate(
        "() => { const s = document.getElementById('smoothing'); s.value = '0.9';"
        " s.dispatchEvent(new Event('input')); }"
    )
    changed = page.evaluate(
        "() => { const c = DespinaCharts.charts.find(c => c.attribute === 'train/acc');"
        " const raw = c.payload.series[0].y, drawn = c.plot.data[1];"
        " return drawn.filter((v, i) => Math.abs(v - raw[i]) > 1e-9).length; }"
    )
    assert changed > 0 and "smooth=0.9" in page.url
    page.evaluate(
        "() => { const s = document.getElementById('smoothing'); s.value = '0';"
        " s.dispatchEvent(new Event('input')); }"
    )

    # Drag across the middle of the chart: the chart fetches the range again, in detail.
    over = page.locator(".chart[data-attribute='train/loss'] .u-over")
    over.scroll_into_view_if_needed()
    box = over.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.45, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, y, steps=5)
    page.mouse.up()
    zoomed = wait_chart(page, "train/loss", fetches=2)
    lo, hi = zoomed["range"]
    assert lo < SPIKE_STEP < hi and hi - lo < BASE_STEPS / 4
    assert not zoomed["aggregated"] and zoomed["note"] == ""
    assert zoomed["series"][0]["y_max"] == SPIKE_VALUE
    acc_zoomed = wait_chart(page, "train/acc", fetches=2)  # the other chart followed
    assert acc_zoomed["range"] == pytest.approx(zoomed["range"])
    page.screenshot(path=str(tmp_path / "run-zoomed.png"))

    page.check("#log-scale")
    page.wait_for_function("() => __despinaCharts['train/loss'].log === true", timeout=WAIT_MS)
    page.select_option("#x-mode", "time")
    timed = wait_chart(page, "train/loss", fetches=3)
    assert timed["x"] == "time" and timed["series"][0]["first_x"] > 1.7e9  # epoch seconds
    assert "x=time" in page.url and "log=1" in page.url


def test_forked_run_shows_lineage(page: Any, ui_url: str, project: str, tmp_path: Path) -> None:
    page.set_viewport_size({"width": 2600, "height": 900})  # wide enough for every point
    page.goto(url(ui_url, "/run", project=project, run="fork-1"))
    page.wait_for_function("() => window.__despinaRun && __despinaRun.ready", timeout=WAIT_MS)
    assert "base-1" in page.locator("#parent").inner_text()
    assert f"step {FORK_STEP}" in page.locator("#parent").inner_text()
    href = page.get_attribute("#compare-parent", "href")
    assert href is not None and href.endswith("run=base-1&run=fork-1")
    loss = wait_chart(page, "train/loss")
    (series,) = loss["series"]
    assert not series["aggregated"] and series["points"] == FORK_LAST_STEP + 1
    assert series["first_x"] == 0 and series["last_x"] == FORK_LAST_STEP
    # steps 0..600 came from base-1 and are drawn as a separate (dashed) segment
    assert series["fork_step"] == FORK_STEP and series["inherited"] == FORK_STEP + 1
    assert series["y_max"] == SPIKE_VALUE  # base-1's spike at step 500 is part of the fork
    drawn = page.evaluate("() => __despinaCharts['train/loss'].drawn")
    assert drawn == ["fork-1 (inherited)", "fork-1"]
    page.screenshot(path=str(tmp_path / "run-fork.png"), full_page=True)


def test_compare_page(page: Any, ui_url: str, project: str, tmp_path: Path) -> None:
    page.goto(
        f"{ui_url}/compare?project={quote(project, safe='')}&run=base-1&run=fork-1&run=other-2"
    )
    page.wait_for_function(
        "() => window.__despinaCompare && __despinaCompare.ready", timeout=WAIT_MS
    )
    everything = page.evaluate("() => __despinaCompare.rows")
    page.check("#differences")
    differing = page.evaluate("() => __despinaCompare.rows")
    assert 0 < differing < everything
    names = page.locator("#compare-configs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.name)"
    )
    assert "params/lr" in names and "params/opt" in names and "params/epochs" not in names
    loss = wait_chart(page, "train/loss")
    assert [s["run"] for s in loss["series"]] == ["base-1", "fork-1", "other-2"]
    page.screenshot(path=str(tmp_path / "compare.png"), full_page=True)


def test_live_chart_of_a_run_logging_through_the_client(
    page: Any, ui_url: str, store_dir: Path, project: str
) -> None:
    from neptune_scale import Run

    # The real client writes into the store folder the UI server reads, while the page is open.
    run = Run(run_id="client-live", project=project, log_directory=str(store_dir))
    try:
        for step in range(10):
            run.log_metrics({"live/loss": 1.0 / (step + 1)}, step=step)
        run.wait_for_processing()
        page.goto(url(ui_url, "/run", project=project, run="client-live"))
        first = wait_chart(page, "live/loss")
        assert first["series"][0]["last_x"] == 9
        for step in range(10, 15):
            run.log_metrics({"live/loss": 1.0 / (step + 1)}, step=step)
        run.wait_for_processing()
        page.wait_for_function(
            "() => __despinaCharts['live/loss'].series[0].last_x === 14", timeout=WAIT_MS
        )
        after = chart(page, "live/loss")
        assert after["fetches"] == first["fetches"]  # appended from the tail, not fetched again
        assert after["series"][0]["points"] == 15
    finally:
        run.close()


def test_charts_load_when_scrolled_to(page: Any, ui_url: str, project: str) -> None:
    page.goto(url(ui_url, "/run", project=project, run="wide-1"))
    wait_chart(page, "wide/m00")
    loaded = "() => Object.values(__despinaCharts).filter(c => c.fetches > 0).length"
    first = page.evaluate(loaded)
    assert 0 < first < WIDE_METRICS  # only the charts near the screen were fetched
    last = f"wide/m{WIDE_METRICS - 1:02d}"
    page.locator(f".chart[data-attribute='{last}']").scroll_into_view_if_needed()
    assert wait_chart(page, last)["series"][0]["last_x"] == 4
    assert page.evaluate(loaded) > first
