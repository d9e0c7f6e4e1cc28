// Runs table: the server filters, sorts and pages; this script only draws one page at a time,
// so 10,000 runs cost the browser no more than 50.
"use strict";
(function () {
  const D = window.Despina;
  const project = D.page.project;
  if (!project) return;
  const FIXED = [
    { key: "sys/custom_run_id", label: "Run" },
    { key: "sys/name", label: "Experiment" },
    { key: "sys/creation_time", label: "Created" },
    { key: "sys/tags", label: "Tags" },
  ];
  const FILTER_DELAY_MS = 300;
  const state = D.readState({ filter: "", cols: "", sort: "sys/creation_time", dir: "desc", offset: "0", limit: "50" });
  const selected = new Set();
  const exposed = (window.__despinaRuns = { loads: 0, rows: [], total: 0, matched: 0, ready: false });
  let generation = 0;

  const $ = (id) => document.getElementById(id);
  $("filter").value = state.filter;
  $("columns").value = state.cols;

  function columns() {
    return state.cols.split(",").map((c) => c.trim()).filter((c) => c);
  }

  async function load() {
    const mine = ++generation;
    D.writeState(state);
    try {
      const body = await D.getJSON("/runs", {
        project, filter: state.filter, column: columns(), sort: state.sort, dir: state.dir,
        offset: state.offset, limit: state.limit,
      });
      if (mine !== generation) return; // a newer request superseded this one
      D.showError(null);
      draw(body);
      Object.assign(exposed, { rows: body.rows, total: body.total, matched: body.matched, ready: true });
      exposed.loads += 1;
    } catch (error) {
      if (mine === generation) { D.showError(error); exposed.ready = true; exposed.loads += 1; }
    }
  }

  function header(cols) {
    const row = D.el("tr", {}, D.el("th", {}, D.el("input", { type: "checkbox", id: "select-all", title: "select page" })));
    for (const col of FIXED.concat(cols.map((c) => ({ key: c, label: c })))) {
      const th = D.el("th", { class: "sortable", "data-key": col.key, text: col.label, title: col.key });
      if (col.key === state.sort) th.classList.add(state.dir === "asc" ? "sorted-asc" : "sorted-desc");
      th.addEventListener("click", () => {
        state.dir = state.sort === col.key && state.dir === "desc" ? "asc" : "desc";
        state.sort = col.key;
        state.offset = "0";
        load();
      });
      row.append(th);
    }
    return row;
  }

  function draw(body) {
    const cols = body.columns;
    $("runs").tHead.replaceChildren(header(cols));
    const rows = body.rows.map((row) => {
      const box = D.el("input", { type: "checkbox", class: "pick", "data-run": row.run });
      box.checked = selected.has(row.run);
      box.addEventListener("change", () => { box.checked ? selected.add(row.run) : selected.delete(row.run); updateCompare(); });
      const tr = D.el("tr", { "data-run": row.run }, D.el("td", {}, box), D.el("td", {}, D.runLink(project, row.run)),
        D.el("td", { text: row.experiment || "" }), D.el("td", { text: D.formatValue(row.created) }), D.el("td", {}, D.tags(row.tags)));
      for (const col of cols) {
        const value = row.values[col];
        tr.append(D.el("td", { class: typeof value === "number" ? "num" : "", text: D.formatValue(value) }));
      }
      return tr;
    });
    $("runs").tBodies[0].replaceChildren(...rows);
    $("select-all").addEventListener("change", (event) => {
      document.querySelectorAll("input.pick").forEach((box) => {
        box.checked = event.target.checked;
        box.checked ? selected.add(box.dataset.run) : selected.delete(box.dataset.run);
      });
      updateCompare();
    });
    const first = body.matched ? body.offset + 1 : 0;
    const last = body.offset + body.rows.length;
    $("summary").textContent = body.matched === body.total
      ? `${body.total.toLocaleString()} runs`
      : `${body.matched.toLocaleString()} of ${body.total.toLocaleString()} runs match`;
    $("page").textContent = `${first.toLocaleString()}–${last.toLocaleString()} of ${body.matched.toLocaleString()}`;
    $("prev").disabled = body.offset === 0;
    $("next").disabled = last >= body.matched;
  }

  function updateCompare() {
    $("compare").disabled = selected.size < 1;
    $("compare").textContent = `Compare selected (${selected.size})`;
  }

  function page(delta) {
    const limit = Number(state.limit);
    state.offset = String(Math.max(0, Number(state.offset) + delta * limit));
    load();
  }

  let timer = null;
  $("filter").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { state.filter = $("filter").value.trim(); state.offset = "0"; load(); }, FILTER_DELAY_MS);
  });
  $("filter").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    clearTimeout(timer);
    state.filter = $("filter").value.trim();
    state.offset = "0";
    load();
  });
  $("columns").addEventListener("change", () => { state.cols = $("columns").value.trim(); load(); });
  $("prev").addEventListener("click", () => page(-1));
  $("next").addEventListener("click", () => page(1));
  $("compare").addEventListener("click", () => {
    const params = new URLSearchParams({ project });
    for (const run of selected) params.append("run", run);
    window.location.href = (D.page.root || "") + "/compare?" + params.toString();
  });

  // The attribute names (for the columns box) are read only when wanted: in a large project
  // that read competes with the first page of the table.
  $("columns").addEventListener("focus", () => {
    D.getJSON("/attributes", { project }).then((body) => {
      $("attribute-names").replaceChildren(...body.attributes.map((a) => D.el("option", { value: a.name, text: a.type })));
    }).catch(() => {});
  }, { once: true });
  updateCompare();
  load();
})();
