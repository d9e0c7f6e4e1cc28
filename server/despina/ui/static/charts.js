// Despina charts: one uPlot chart per metric, several runs overlaid.
// The server sends at most about one point per pixel: exact points when the range holds few,
// otherwise one entry per equal step range with the last value and a min/max band (so spikes
// stay visible). Zooming fetches the range again at full width; live updates fetch only the
// points after the last step shown. Tests and benchmarks read window.__despinaCharts.
"use strict";
window.DespinaCharts = (function () {
  const D = window.Despina;
  const SYNC_KEY = "despina";
  const HEIGHT_PX = 220;
  const LIVE_INTERVAL_MS = 2000;
  const LIVE_MAX_INTERVAL_MS = 30000; // a chart with nothing new polls less and less often...
  const LIVE_IDLE_POLLS = 5; // ...after this many empty polls in a row
  const PALETTE = ["#2f6fde", "#e5484d", "#30a46c", "#f5a524", "#8e4ec6", "#12a594", "#d6409f", "#6e56cf", "#978365", "#0091ff"];
  const registry = (window.__despinaCharts = window.__despinaCharts || {});
  const controls = { x: "step", log: false, smoothing: 0, live: true };
  const charts = [];

  // Exponential moving average with debiasing, so the first points are not pulled to zero.
  function smooth(ys, weight) {
    if (!weight) return ys;
    const out = new Array(ys.length);
    let last = 0, count = 0;
    for (let i = 0; i < ys.length; i++) {
      const y = ys[i];
      if (y === null || !Number.isFinite(y)) { out[i] = y; continue; }
      last = last * weight + (1 - weight) * y;
      count += 1;
      out[i] = last / (1 - Math.pow(weight, count));
    }
    return out;
  }

  function positive(ys) {
    return controls.log ? ys.map((y) => (y !== null && y > 0 ? y : null)) : ys;
  }

  class Chart {
    constructor(container, project, runs, attribute) {
      Object.assign(this, { project, runs, attribute, range: null, payload: null, plot: null, generation: 0, appended: 0 });
      this.note = D.el("div", { class: "note" });
      this.legend = D.el("div", { class: "legend mono" });
      this.plotEl = D.el("div", { class: "plot" });
      // The plot's room is held before it is drawn: boxes keep their size, so only the charts
      // near the screen load (undrawn boxes would be short enough for all of them to look near).
      this.plotEl.style.minHeight = HEIGHT_PX + "px";
      this.box = D.el("div", { class: "chart", "data-attribute": attribute }, D.el("h3", { text: attribute }), this.note, this.plotEl, this.legend);
      container.append(this.box);
      this.exposed = registry[attribute] = { attribute, runs, fetches: 0, ready: false, aggregated: false, series: [], range: null, note: "" };
      this.exposed.zoom = (min, max) => this.zoom(min, max);
      this.exposed.reset = () => this.zoom(null, null);
    }

    width() { return Math.max(240, Math.floor(this.plotEl.clientWidth || 480)); }

    async load() {
      const mine = ++this.generation;
      const params = { project: this.project, run: this.runs, attribute: this.attribute, x: controls.x, width: this.width() };
      if (this.range) { params.from = this.range[0]; params.to = this.range[1]; }
      try {
        const body = await D.getJSON("/metric", params);
        if (mine !== this.generation) return;
        this.payload = body;
        this.appended = 0;
        this.exposed.fetches += 1;
        this.draw();
      } catch (error) {
        if (mine !== this.generation) return;
        this.note.textContent = "Could not load: " + error.message;
        this.exposed.error = error.message;
        this.exposed.ready = true;
      }
    }

    zoom(min, max) {
      this.range = min === null ? null : [min, max];
      return this.load();
    }

    // One uPlot table per drawn segment; forked runs get a dashed segment for what they
    // inherited from their ancestors and a solid one for their own points.
    build() {
      const tables = [], series = [{ label: controls.x }], bands = [], lines = [];
      this.payload.series.forEach((s) => {
        const color = PALETTE[Math.max(0, this.runs.indexOf(s.run)) % PALETTE.length];
        const ys = positive(smooth(s.y, controls.smoothing));
        const lo = s.lo ? positive(s.lo) : null, hi = s.hi ? positive(s.hi) : null;
        const cut = Math.min(s.inherited || 0, s.x.length);
        const parts = cut > 0 ? [[0, Math.min(cut + 1, s.x.length), true], [cut, s.x.length, false]] : [[0, s.x.length, false]];
        for (const [from, to, inherited] of parts) {
          if (to - from < 1) continue;
          const table = [s.x.slice(from, to), ys.slice(from, to)];
          series.push({ label: s.run + (inherited ? " (inherited)" : ""), stroke: color, width: 1.5, dash: inherited ? [5, 4] : undefined, spanGaps: true, points: { show: false } });
          lines.push({ run: s.run, index: series.length - 1, color });
          if (lo && hi) {
            table.push(lo.slice(from, to), hi.slice(from, to));
            series.push({ label: s.run + " min", stroke: color + "40", width: 0.5, spanGaps: true, points: { show: false } });
            series.push({ label: s.run + " max", stroke: color + "40", width: 0.5, spanGaps: true, points: { show: false } });
            bands.push({ series: [series.length - 1, series.length - 2], fill: color + "26" });
          }
          tables.push(table);
        }
      });
      return { data: tables.length ? uPlot.join(tables) : [[]], series, bands, lines };
    }

    draw() {
      const built = this.build();
      const self = this;
      const opts = {
        width: this.width(), height: HEIGHT_PX, series: built.series, bands: built.bands,
        legend: { show: false },
        scales: { x: { time: controls.x === "time" }, y: { distr: controls.log ? 3 : 1 } },
        cursor: { sync: { key: SYNC_KEY }, drag: { x: true, y: false, setScale: false } },
        hooks: {
          // uPlot passes a selection on to the charts synced with this one, so a zoom on one
          // chart zooms (and refetches) all of them.
          setSelect: [(u) => {
            if (u.select.width < 2) return;
            const min = u.posToVal(u.select.left, "x"), max = u.posToVal(u.select.left + u.select.width, "x");
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
            u.setScale("x", { min, max });
            self.zoom(min, max);
          }],
          setCursor: [(u) => self.showCursor(u, built.lines)],
        },
      };
      if (this.plot) this.plot.destroy();
      this.plot = new uPlot(opts, built.data, this.plotEl);
      if (this.range) this.plot.setScale("x", { min: this.range[0], max: this.range[1] });
      this.plot.over.addEventListener("dblclick", () => this.zoom(null, null));
      this.lines = built.lines;
      this.showCursor(this.plot, built.lines);
      this.expose();
      this.exposed.drawn = built.series.slice(1).map((s) => s.label);
    }

    showCursor(u, lines) {
      const idx = u.cursor.idx;
      const x = idx === null || idx === undefined ? null : u.data[0][idx];
      const parts = [];
      if (x !== null) parts.push((controls.x === "time" ? new Date(x * 1000).toISOString() : D.formatValue(x)) + " · ");
      // A forked run is drawn as two segments (inherited, own): one legend entry per run.
      const byRun = new Map();
      for (const line of lines) {
        const y = x === null ? null : u.data[line.index][idx];
        const known = byRun.get(line.run);
        if (!known || ((known.y === null || known.y === undefined) && y !== undefined)) byRun.set(line.run, { color: line.color, y });
      }
      for (const [run, { color, y }] of byRun) {
        parts.push(D.el("span", { style: { color }, text: "■ " }), run + (y === null || y === undefined ? "" : " " + D.formatValue(y)) + "   ");
      }
      this.legend.replaceChildren(...parts);
    }

    expose() {
      const series = this.payload.series;
      const aggregated = series.some((s) => s.aggregated);
      const shown = series.reduce((n, s) => n + s.x.length, 0), total = series.reduce((n, s) => n + s.total, 0);
      this.note.textContent = aggregated
        ? `Aggregated: ${shown.toLocaleString()} points stand for ${total.toLocaleString()} (last value per range, band = min/max). Zoom in for detail.`
        : "";
      Object.assign(this.exposed, {
        ready: true, aggregated, note: this.note.textContent, range: this.range, x: controls.x, log: controls.log,
        series: series.map((s) => ({
          run: s.run, points: s.x.length, total: s.total, aggregated: s.aggregated, inherited: s.inherited,
          fork_step: s.fork_step, first_x: s.x[0], last_x: s.x[s.x.length - 1], last_step: s.last_step,
          y_min: Math.min(...(s.lo || s.y).filter((v) => v !== null)), y_max: Math.max(...(s.hi || s.y).filter((v) => v !== null)),
        })),
      });
    }

    // Live update: ask each run for the points after its last step only.
    async poll() {
      // One poll at a time: two in flight would both append the same new points.
      if (this.polling || !this.payload || this.range || Date.now() < (this.nextPoll || 0)) return;
      this.polling = true;
      try {
        await this.pollOnce();
      } finally {
        this.polling = false;
      }
    }

    async pollOnce() {
      const payload = this.payload;
      let changed = false;
      for (const s of payload.series) {
        if (s.last_step === null || s.last_step === undefined) continue; // nothing drawn yet
        const body = await D.getJSON("/metric/tail", { project: this.project, run: s.run, attribute: this.attribute, after: s.last_step });
        if (body.truncated) return this.load();
        if (!body.step.length) continue;
        const xs = controls.x === "time" ? body.time : body.step;
        s.x.push(...xs); s.y.push(...body.value);
        if (s.lo) { s.lo.push(...body.value); s.hi.push(...body.value); }
        s.total += body.step.length;
        s.last_step = body.step[body.step.length - 1];
        this.appended += body.step.length;
        changed = true;
      }
      if (payload !== this.payload) return; // a full load replaced the data meanwhile
      this.exposed.live_polls = (this.exposed.live_polls || 0) + 1;
      // Back off while nothing arrives (a finished run), back to the base rate when it does.
      this.idle = changed ? 0 : (this.idle || 0) + 1;
      const delay = Math.min(LIVE_INTERVAL_MS * 2 ** Math.max(0, this.idle - LIVE_IDLE_POLLS), LIVE_MAX_INTERVAL_MS);
      this.nextPoll = Date.now() + delay - LIVE_INTERVAL_MS / 2;
      if (this.appended > this.width()) return this.load(); // re-aggregate instead of piling up points
      if (changed) this.draw();
    }
  }

  // Charts load when they come near the screen, so a run with hundreds of metrics costs the
  // server only the charts someone looks at.
  const NEAR_SCREEN_PX = 300;
  const observer = "IntersectionObserver" in window ? new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) continue;
      observer.unobserve(entry.target);
      const chart = charts.find((c) => c.box === entry.target);
      if (chart) chart.load();
    }
  }, { rootMargin: NEAR_SCREEN_PX + "px" }) : null;

  function mount(container, project, runs, attributes) {
    container.replaceChildren();
    for (const attribute of attributes) {
      const chart = new Chart(container, project, runs, attribute);
      charts.push(chart);
      if (observer) observer.observe(chart.box);
      else chart.load();
    }
  }

  function bindControls() {
    const $ = (id) => document.getElementById(id);
    const saved = D.readState({ x: "step", log: "", smooth: "0" });
    controls.x = saved.x === "time" ? "time" : "step";
    controls.log = saved.log === "1";
    controls.smoothing = Math.min(0.99, Math.max(0, Number(saved.smooth) || 0));
    $("x-mode").value = controls.x;
    $("log-scale").checked = controls.log;
    $("smoothing").value = controls.smoothing;
    $("smoothing-value").textContent = controls.smoothing;
    const save = () => D.writeState({ x: controls.x === "step" ? "" : controls.x, log: controls.log ? "1" : "", smooth: controls.smoothing || "" });
    $("x-mode").addEventListener("change", (e) => { controls.x = e.target.value; save(); charts.forEach((c) => { c.range = null; if (c.payload) c.load(); }); });
    $("log-scale").addEventListener("change", (e) => { controls.log = e.target.checked; save(); charts.forEach((c) => c.payload && c.draw()); });
    $("smoothing").addEventListener("input", (e) => {
      controls.smoothing = Number(e.target.value);
      $("smoothing-value").textContent = controls.smoothing;
      save();
      charts.forEach((c) => c.payload && c.draw());
    });
    $("live").addEventListener("change", (e) => { controls.live = e.target.checked; });
    setInterval(() => {
      if (!controls.live || document.hidden) return;
      charts.forEach((c) => c.poll().catch(() => {}));
    }, LIVE_INTERVAL_MS);
  }

  return { mount, bindControls, controls, charts };
})();
