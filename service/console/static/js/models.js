// Models: every model and version (GET /v1/models), and live figures from the service's own GET /metrics.

import { call, callJSON, el, fmt, listModels, showProblem } from "./api.js";
import { chart, PALETTE } from "./charts.js";
import { buckets, diff, parseMetrics, quantile, total } from "./prom.js";

const PERIOD_MS = 2000;
const MODELS_EVERY = 5; // ticks between two reads of /v1/models
const HISTORY = 60; // points on the live chart (two minutes)
/** The console's own polling, left out of requests/s and latency. */
const OWN = new Set([
  "/metrics",
  "/v1/models",
  "/v2/models/{name}/versions/{version}/config",
  "/",
  "/console/{path:path}",
]);
const notOwn = (labels) => !OWN.has(labels.route);

let panel, problem, liveChart;
let timer = null;
let ticks = 0;
let previous = null; // {at, requests, latency}
const history = [[], [], [], []]; // time, requests/s, p50 ms, p99 ms

export function init(root) {
  panel = root;
  problem = panel.querySelector("[data-testid=problem]");
  liveChart = chart(panel.querySelector("#live-chart"), 220);
  document.addEventListener("apikey", () => timer && refreshModels());
}

export function show() {
  ticks = 0;
  tick();
  timer ??= setInterval(tick, PERIOD_MS);
}

export function hide() {
  clearInterval(timer);
  timer = null;
}

function tick() {
  if (document.hidden) return;
  if (ticks++ % MODELS_EVERY === 0) refreshModels();
  refreshMetrics();
}

async function refreshModels() {
  try {
    const doc = await listModels(true);
    showProblem(problem, null);
    renderModels(doc);
  } catch (err) {
    showProblem(problem, err);
  }
}

function badge(state) {
  return el("span", { className: `badge ${state}` }, state);
}

function renderModels(doc) {
  const state = document.getElementById("service-state");
  const states = doc.models.flatMap((m) => m.versions.map((v) => v.state));
  const why = states.includes("failed") ? "a model failed to load" : "models loading";
  state.textContent = doc.ready ? "service ready" : `service not ready (${why})`;
  const rows = [];
  for (const model of doc.models) {
    for (const v of model.versions) {
      const isDefault = String(v.version) === String(model.default_version);
      const input = v.input ? `${v.input.width}×${v.input.height} ${v.input.resize || ""}` : "–";
      const what = v.task === "loss" ? v.loss || "" : (v.classes || []).join(", ");
      rows.push(
        el(
          "tr",
          { dataset: { testid: "model-row", model: model.name, version: v.version, state: v.state } },
          el("th", { scope: "row" }, model.name),
          el("td", {}, String(v.version), isDefault ? el("span", { className: "hint" }, " (default)") : null),
          el("td", {}, badge(v.state), v.error ? el("span", { className: "error-text" }, v.error) : null),
          el("td", {}, v.task || "–"),
          el("td", {}, (v.providers || [v.platform || "–"]).join(", ")),
          el("td", { className: "num" }, v.max_batch_size === null || v.max_batch_size === undefined ? "–" : String(v.max_batch_size)),
          el("td", { dataset: { testid: "batching" } }, "–"),
          el("td", {}, input),
          el("td", {}, what),
        ),
      );
    }
  }
  panel.querySelector("#models-body").replaceChildren(...rows);
  for (const row of rows) {
    if (row.dataset.state === "ready" && row.children[3].textContent !== "loss") batching(row);
  }
}

/** The dynamic-batching limits of one version, from its configuration (GET /v2/.../config). */
async function batching(row) {
  const { model, version } = row.dataset;
  const path = `v2/models/${encodeURIComponent(model)}/versions/${encodeURIComponent(version)}/config`;
  try {
    const { body } = await callJSON(path);
    const db = body.dynamic_batching;
    const count = (body.instance_group || []).reduce((n, g) => n + (g.count || 0), 0) || 1;
    const parts = db
      ? [`queue delay ${fmt(db.max_queue_delay_microseconds / 1000, 3)} ms`]
      : ["no dynamic batching"];
    if (db?.preferred_batch_size?.length) parts.push(`preferred ${db.preferred_batch_size.join(", ")}`);
    parts.push(`${count} instance${count === 1 ? "" : "s"}`);
    row.querySelector("[data-testid=batching]").textContent = parts.join("; ");
  } catch (err) {
    row.querySelector("[data-testid=batching]").textContent = `(${err.detail || err.message})`;
  }
}

async function refreshMetrics() {
  let samples;
  try {
    const { res } = await call("metrics");
    samples = parseMetrics(await res.text());
  } catch (err) {
    showProblem(problem, err);
    return;
  }
  const now = Date.now() / 1000;
  const requests = total(samples, "focalserve_requests_total", notOwn);
  const latency = buckets(samples, "focalserve_request_duration_seconds", notOwn);
  let rps = null;
  let p50 = null;
  let p99 = null;
  if (previous) {
    const window = diff(latency, previous.latency);
    rps = Math.max(0, (requests - previous.requests) / (now - previous.at));
    p50 = quantile(window, 0.5);
    p99 = quantile(window, 0.99);
  }
  previous = { at: now, requests, latency };
  const ms = (s) => (s === null ? null : s * 1000);
  set("live-rps", rps === null ? "–" : fmt(rps, 3));
  set("live-p50", p50 === null ? "–" : `${fmt(ms(p50), 3)} ms`);
  set("live-p99", p99 === null ? "–" : `${fmt(ms(p99), 3)} ms`);
  set("live-pending", fmt(total(samples, "focalserve_pending_requests"), 4));
  set("live-total", fmt(requests, 6));
  const point = [now, rps, ms(p50), ms(p99)];
  point.forEach((v, i) => history[i].push(v));
  if (history[0].length > HISTORY) history.forEach((h) => h.shift());
  drawLive();
  renderBatches(samples);
}

function set(testid, text) {
  panel.querySelector(`[data-testid="${testid}"]`).textContent = text;
}

function drawLive() {
  if (history[0].length < 2) return; // a time axis needs two points
  liveChart.set(
    {
      scales: { x: { time: true }, rps: { range: (u, lo, hi) => [0, Math.max(1, hi)] }, ms: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
      axes: [
        {},
        { scale: "rps", label: "requests/s" },
        { scale: "ms", side: 1, label: "latency (ms)", grid: { show: false } },
      ],
      series: [
        {},
        { label: "requests/s", scale: "rps", stroke: PALETTE[0], width: 2, value: (u, v) => fmt(v, 3) },
        { label: "p50 ms", scale: "ms", stroke: PALETTE[2], width: 2, value: (u, v) => fmt(v, 3) },
        { label: "p99 ms", scale: "ms", stroke: PALETTE[1], width: 2, dash: [6, 4], value: (u, v) => fmt(v, 3) },
      ],
    },
    history,
  );
}

function renderBatches(samples) {
  const versions = new Map();
  for (const s of samples) {
    if (s.name === "focalserve_queue_depth" || s.name === "focalserve_batch_size_count") {
      versions.set(`${s.labels.model}\u0000${s.labels.version}`, s.labels);
    }
  }
  const rows = [];
  for (const labels of versions.values()) {
    const mine = (l) => l.model === labels.model && l.version === labels.version;
    const sizes = buckets(samples, "focalserve_batch_size", mine);
    const infer = buckets(samples, "focalserve_inference_duration_seconds", mine);
    const p50 = quantile(infer, 0.5);
    rows.push(
      el(
        "tr",
        { dataset: { testid: "batch-row", model: labels.model, version: labels.version } },
        el("th", { scope: "row" }, `${labels.model} v${labels.version}`),
        el("td", { className: "num" }, fmt(total(samples, "focalserve_queue_depth", mine), 4)),
        el("td", { className: "num" }, fmt(total(samples, "focalserve_pending_requests", mine), 4)),
        el("td", { className: "num", dataset: { testid: "batch-count" } }, fmt(total(samples, "focalserve_batch_size_count", mine), 6)),
        el("td", { className: "num" }, p50 === null ? "–" : `${fmt(p50 * 1000, 3)} ms`),
        el("td", {}, histogramBars(sizes)),
      ),
    );
  }
  panel.querySelector("#batch-body").replaceChildren(...rows);
}

/** Per-bucket counts as bars (a list for screen readers: the title and the text say the counts). */
function histogramBars(cumulative) {
  const counts = [];
  let below = 0;
  let lower = 0;
  for (const [le, c] of cumulative) {
    if (le === Infinity) break;
    counts.push([String(le), lower + 1 >= le ? String(le) : `${lower + 1}–${le}`, c - below]);
    below = c;
    lower = le;
  }
  const peak = Math.max(1, ...counts.map(([, , c]) => c));
  const bars = el("div", { className: "bars", role: "list" });
  const legend = el("div", { className: "bars-legend", "aria-hidden": "true" });
  for (const [edge, rows, c] of counts) {
    const bar = el("span", { role: "listitem", title: `${rows} rows: ${c} batches` });
    bar.style.height = `${Math.max(c > 0 ? 8 : 1, (100 * c) / peak)}%`;
    bar.setAttribute("aria-label", `${rows} rows: ${c} batches`);
    bars.append(bar);
    legend.append(el("span", {}, edge));
  }
  return el("div", {}, bars, legend);
}
