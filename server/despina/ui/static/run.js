// Run page: facts, configs, lineage, a chart per metric, logs, histograms and files.
"use strict";
(function () {
  const D = window.Despina;
  const { project, run } = D.page;
  const LOG_PAGE = 1000;
  const HISTOGRAM_W = 320, HISTOGRAM_H = 140, HEAT_ROWS = 48;
  const $ = (id) => document.getElementById(id);
  const exposed = (window.__despinaRun = { ready: false, logs: {}, histograms: {}, heatmaps: {} });

  function facts(body) {
    $("experiment").textContent = body.experiment || "";
    $("created").textContent = D.formatValue(body.created);
    $("tags").replaceChildren(D.tags(body.tags));
    $("group-tags").replaceChildren(D.tags(body.group_tags));
    if (body.parent) {
      const compare = (D.page.root || "") + "/compare?" + new URLSearchParams([["project", project], ["run", body.parent.run], ["run", run]]).toString();
      $("parent").replaceChildren("forked from ", D.runLink(project, body.parent.run), ` at step ${D.formatValue(body.parent.step)} (`,
        D.el("a", { href: compare, id: "compare-parent", text: "compare" }), ")");
    } else {
      $("parent").textContent = "root run";
    }
    if (body.children.length) {
      const list = D.el("span", {}, "; children: ");
      body.children.forEach((child, i) => list.append(i ? ", " : "", D.runLink(project, child.run), ` (step ${D.formatValue(child.step)})`));
      $("children").replaceChildren(list);
    }
    $("configs").replaceChildren(...body.configs.map((c) => D.el("tr", {}, D.el("td", { text: c.name }), D.el("td", { class: "mono", text: D.formatValue(c.value) }))));
  }

  async function logView(attribute) {
    const pre = D.el("pre", { class: "log-view", "data-attribute": attribute });
    const more = D.el("button", { type: "button", text: "Load more" });
    $("logs").append(D.el("h4", { text: attribute }), pre, more);
    let after = null, lines = 0;
    async function page() {
      const body = await D.getJSON("/series", { project, run, attribute, after, limit: LOG_PAGE });
      for (const point of body.points) {
        pre.append(D.el("span", { class: "step", text: D.formatValue(point.step) }), String(point.value), "\n");
        after = point.step;
      }
      lines += body.points.length;
      exposed.logs[attribute] = lines;
      more.hidden = !body.more;
    }
    more.addEventListener("click", page);
    await page();
  }

  function drawHistogram(canvas, histogram) {
    const ctx = canvas.getContext("2d");
    const { edges, values } = histogram;
    const top = Math.max(...values, 1e-12);
    const lo = edges[0], span = edges[edges.length - 1] - lo || 1;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#2f6fde";
    values.forEach((v, i) => {
      const x0 = ((edges[i] - lo) / span) * canvas.width, x1 = ((edges[i + 1] - lo) / span) * canvas.width;
      const h = (v / top) * (canvas.height - 4);
      ctx.fillRect(x0, canvas.height - h, Math.max(1, x1 - x0 - 1), h);
    });
  }

  // Heat map of a histogram series: one column per step, rows are equal slices of the value
  // range over all steps (each step's bins are laid onto them by their centres), shade is the
  // count relative to the column's largest, so a distribution moving over steps shows as a band.
  function heatGrid(points) {
    let lo = Infinity, hi = -Infinity;
    for (const p of points) { lo = Math.min(lo, p.value.edges[0]); hi = Math.max(hi, p.value.edges[p.value.edges.length - 1]); }
    if (!(hi > lo)) hi = lo + 1;
    const columns = points.map((p) => {
      const column = new Array(HEAT_ROWS).fill(0);
      const { edges, values } = p.value;
      values.forEach((v, i) => {
        const row = Math.floor(((edges[i] + edges[i + 1]) / 2 - lo) / (hi - lo) * HEAT_ROWS);
        column[Math.min(HEAT_ROWS - 1, Math.max(0, row))] += v;
      });
      const top = Math.max(...column, 1e-12);
      return column.map((v) => v / top);
    });
    const peaks = columns.map((c) => c.indexOf(Math.max(...c)));
    return { lo, hi, columns, peaks };
  }

  function drawHeat(canvas, grid, current) {
    const ctx = canvas.getContext("2d");
    const width = canvas.width / grid.columns.length, height = canvas.height / HEAT_ROWS;
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    grid.columns.forEach((column, c) => column.forEach((v, r) => {
      if (v <= 0) return;
      ctx.fillStyle = `rgba(47, 111, 222, ${v.toFixed(3)})`;
      ctx.fillRect(Math.floor(c * width), canvas.height - (r + 1) * height, Math.ceil(width), Math.ceil(height));
    }));
    ctx.strokeStyle = "#e8590c";
    ctx.strokeRect(Math.floor(current * width) + 0.5, 0.5, Math.max(1, Math.ceil(width) - 1), canvas.height - 1);
  }

  async function histograms(attribute) {
    const body = await D.getJSON("/series", { project, run, attribute, limit: LOG_PAGE, tail: 1 });
    if (!body.points.length) return;
    const canvas = D.el("canvas", { width: HISTOGRAM_W, height: HISTOGRAM_H, class: "histogram-bars" });
    const heat = D.el("canvas", { width: HISTOGRAM_W, height: HISTOGRAM_H, class: "histogram-heat" });
    const grid = heatGrid(body.points);
    const first = body.points[0].step, last = body.points[body.points.length - 1].step;
    const axes = D.el("div", { class: "histogram-axes", text: `steps ${D.formatValue(first)} → ${D.formatValue(last)} (left → right); values ${D.formatValue(grid.lo)} → ${D.formatValue(grid.hi)} (bottom → top)` });
    const label = D.el("div", { class: "mono" });
    const slider = D.el("input", { type: "range", min: 0, max: body.points.length - 1, value: body.points.length - 1 });
    const show = () => {
      const index = Number(slider.value), point = body.points[index];
      drawHistogram(canvas, point.value);
      drawHeat(heat, grid, index);
      label.textContent = `${attribute} · step ${D.formatValue(point.step)}`;
    };
    slider.addEventListener("input", show);
    // Clicking the heat map picks the step under the pointer.
    heat.addEventListener("click", (event) => {
      const box = heat.getBoundingClientRect();
      slider.value = String(Math.min(body.points.length - 1, Math.floor((event.clientX - box.left) / box.width * body.points.length)));
      show();
    });
    $("histograms").append(D.el("div", { class: "histogram", "data-attribute": attribute }, label, canvas, heat, D.el("div", {}, slider), axes));
    show();
    exposed.histograms[attribute] = body.points.length;
    exposed.heatmaps[attribute] = { steps: body.points.map((p) => p.step), peaks: grid.peaks, rows: HEAT_ROWS };
  }

  function files(body) {
    const rows = body.files.map((f) => {
      const href = (D.page.root || "") + "/ui-api/file?" + new URLSearchParams({ project, path: f.path }).toString();
      return D.el("tr", {}, D.el("td", { text: f.name + (f.step === null || f.step === undefined ? "" : ` @ step ${D.formatValue(f.step)}`) }),
        D.el("td", {}, D.el("a", { href, download: f.path.split("/").pop(), text: "download" }), ` ${f.mime || ""} ${f.size === null ? "" : D.formatValue(f.size) + " B"}`));
    });
    $("files").replaceChildren(...rows);
    $("files-section").hidden = !rows.length;
  }

  async function main() {
    DespinaCharts.bindControls();
    try {
      const body = await D.getJSON("/run", { project, run });
      facts(body);
      files(body);
      DespinaCharts.mount($("charts"), project, [run], body.metrics);
      $("logs-section").hidden = !body.string_series.length;
      $("histograms-section").hidden = !body.histogram_series.length;
      await Promise.all(body.string_series.map(logView).concat(body.histogram_series.map(histograms)));
      Object.assign(exposed, { metrics: body.metrics, parent: body.parent, children: body.children });
    } catch (error) {
      D.showError(error);
    }
    exposed.ready = true;
  }
  main();
})();
