// Compare page: configs side by side (optionally only the differing ones) and every metric of
// the chosen runs overlaid in one chart per metric.
"use strict";
(function () {
  const D = window.Despina;
  const { project, runs } = D.page;
  const $ = (id) => document.getElementById(id);
  const exposed = (window.__despinaCompare = { ready: false, rows: 0 });
  let rows = [];

  function draw() {
    const onlyDiff = $("differences").checked;
    const head = D.el("tr", {}, D.el("th", { text: "attribute" }), ...runs.map((r) => D.el("th", {}, D.runLink(project, r))));
    const body = rows.filter((row) => !onlyDiff || row.differs).map((row) => {
      const tr = D.el("tr", { class: row.differs ? "differs" : "", "data-name": row.name }, D.el("td", { text: row.name }));
      for (const value of row.values) tr.append(D.el("td", { class: typeof value === "number" ? "num" : "", text: D.formatValue(value) }));
      return tr;
    });
    $("compare-configs").replaceChildren(D.el("thead", {}, head), D.el("tbody", {}, ...body));
    exposed.rows = body.length;
    D.writeState({ diff: onlyDiff ? "1" : "" });
  }

  async function main() {
    $("differences").checked = D.readState({ diff: "" }).diff === "1";
    $("differences").addEventListener("change", draw);
    DespinaCharts.bindControls();
    try {
      const body = await D.getJSON("/compare", { project, run: runs });
      rows = body.rows;
      draw();
      DespinaCharts.mount($("charts"), project, runs, body.metrics);
      exposed.metrics = body.metrics;
    } catch (error) {
      D.showError(error);
    }
    exposed.ready = true;
  }
  main();
})();
