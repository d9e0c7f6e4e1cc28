// Despina UI: helpers shared by every page (JSON fetch, URL state, formatting).
"use strict";
window.Despina = (function () {
  // The page's data comes in a JSON block (the Content-Security-Policy allows no inline script).
  const block = document.getElementById("despina-page");
  const page = block ? JSON.parse(block.textContent) : {};
  // Choosing a project opens its runs (was an inline onchange handler, which the CSP blocks).
  const choice = document.getElementById("project-choice");
  if (choice) choice.addEventListener("change", () => choice.form.submit());
  const api = (page.root || "") + "/ui-api";
  const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/;

  async function getJSON(path, params) {
    const url = new URL(api + path, window.location.origin);
    for (const [key, value] of Object.entries(params || {})) {
      if (value === null || value === undefined || value === "") continue;
      if (Array.isArray(value)) value.forEach((v) => url.searchParams.append(key, v));
      else url.searchParams.set(key, value);
    }
    const response = await fetch(url);
    if (response.status === 401 && page.login) {
      // The session ended (logged out elsewhere, expired or its token revoked): log in again
      // and come back here.
      const here = window.location.pathname + window.location.search;
      window.location.assign((page.root || "") + "/login?next=" + encodeURIComponent(here));
      throw new Error("log in again");
    }
    const body = await response.json().catch(() => ({ detail: response.statusText }));
    if (!response.ok) {
      // FastAPI's validation errors come as a list naming each field; show them as text.
      const detail = Array.isArray(body.detail)
        ? body.detail.map((d) => `${(d.loc || []).slice(1).join(".")}: ${d.msg}`).join("; ")
        : body.detail;
      throw new Error(detail || response.statusText);
    }
    return body;
  }

  // The page state lives in the URL so that a view can be shared and survives a reload.
  function readState(defaults) {
    const params = new URLSearchParams(window.location.search);
    const state = Object.assign({}, defaults);
    for (const key of Object.keys(defaults)) if (params.has(key)) state[key] = params.get(key);
    return state;
  }

  function writeState(state) {
    const params = new URLSearchParams(window.location.search);
    for (const [key, value] of Object.entries(state)) {
      if (value === null || value === undefined || value === "") params.delete(key);
      else params.set(key, value);
    }
    history.replaceState(null, "", window.location.pathname + "?" + params.toString());
  }

  function formatValue(value) {
    if (value === null || value === undefined) return "";
    if (typeof value === "number") {
      if (Number.isInteger(value)) return String(value);
      const abs = Math.abs(value);
      return abs !== 0 && (abs < 1e-3 || abs >= 1e6) ? value.toExponential(4) : String(+value.toPrecision(6));
    }
    if (Array.isArray(value)) return value.join(", ");
    // ISO times from the server read better without the "T" and a UTC offset of zero.
    if (ISO_TIME.test(value)) return value.replace("T", " ").replace(/(\.\d+)?\+00:00$/, " UTC");
    return String(value);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      // Styles through the CSSOM: a style attribute is inline style, which the CSP blocks.
      else if (key === "style") Object.assign(node.style, value);
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child !== null) node.append(child);
    return node;
  }

  function tags(list) {
    const span = el("span");
    for (const tag of list || []) span.append(el("span", { class: "tag", text: tag }));
    return span;
  }

  function runLink(project, run) {
    const href = (page.root || "") + "/run?project=" + encodeURIComponent(project) + "&run=" + encodeURIComponent(run);
    return el("a", { href: href, text: run });
  }

  function showError(error) {
    const box = document.getElementById("error");
    if (!box) return;
    box.hidden = !error;
    box.textContent = error ? String(error.message || error) : "";
  }

  return { page, getJSON, readState, writeState, formatValue, el, tags, runLink, showError };
})();
