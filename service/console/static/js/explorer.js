// Loss explorer: the paper's figure 1, each curve's values and gradients computed by POST /v1/score.
// One positive element per grid point: label 1 and logit x_t = logit(p_t), so per_sample is the loss at p_t
// and gradient is dL/dx_t. Nothing of the losses is computed here.

import { callJSON, el, fmt, showProblem } from "./api.js";
import { chart, PALETTE } from "./charts.js";

const POINTS = 200;
const DASHES = [[], [8, 4], [2, 3], [12, 4, 2, 4]];

let panel, problem, lossChart;
let pending = null;
let sequence = 0;

export function init(root) {
  panel = root;
  problem = panel.querySelector("[data-testid=problem]");
  lossChart = chart(panel.querySelector("#loss-chart"), 420);
  const form = panel.querySelector("#explorer-form");
  form.addEventListener("input", schedule);
  form.addEventListener("change", schedule);
  form.addEventListener("submit", (e) => e.preventDefault());
}

export function show() {
  schedule();
}

function schedule() {
  clearTimeout(pending);
  pending = setTimeout(update, 150);
}

const value = (id) => panel.querySelector(`#${id}`).value.trim();
const checked = (id) => panel.querySelector(`#${id}`).checked;
const num = (id) => Number(value(id));

/** The curves asked for: [label, LossSpec]. */
function curves() {
  const out = [];
  if (checked("ex-ce")) out.push(["CE", { name: "cross_entropy" }]);
  const alpha = value("ex-alpha") === "" ? null : num("ex-alpha");
  const gammas = value("ex-gammas").split(/[,\s]+/).filter(Boolean);
  for (const g of gammas) {
    const gamma = Number(g);
    const label = `FL γ=${g}${alpha === null ? "" : ` α=${alpha}`}`;
    out.push([label, { name: "focal", gamma: Number.isFinite(gamma) ? gamma : g, alpha }]);
  }
  if (checked("ex-fls")) {
    out.push([`FL* γ=${value("ex-fls-gamma")} β=${value("ex-fls-beta")}`, { name: "focal_star", gamma: num("ex-fls-gamma"), beta: num("ex-fls-beta") }]);
  }
  if (checked("ex-hard")) out.push([`hard m=${value("ex-hard-m")}`, { name: "hard_truncated", m: num("ex-hard-m") }]);
  if (checked("ex-soft")) {
    out.push([`soft m=${value("ex-soft-m")} K=${value("ex-soft-k")}`, { name: "soft_truncated", m: num("ex-soft-m"), k: num("ex-soft-k") }]);
  }
  return out;
}

async function update() {
  const asked = curves();
  if (asked.length === 0) return;
  const at = num("ex-at");
  const grid = Array.from({ length: POINTS }, (_, i) => (i + 0.5) / POINTS);
  const p = [...grid, at]; // the last element is the read-out point, not drawn
  const body = {
    predictions: p.map((q) => Math.log(q) - Math.log1p(-q)),
    labels: p.map(() => 1),
    kind: "binary",
    from_logits: true,
    per_sample: true,
    gradient: true, // the read-out shows it even when the chart does not
    losses: asked.map(([, spec]) => ({ ...spec, reduction: "none" })),
  };
  const mine = ++sequence;
  try {
    const { body: doc } = await callJSON("v1/score", {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "Content-Type": "application/json" },
    });
    if (mine !== sequence) return; // a newer request is on its way
    showProblem(problem, null);
    draw(asked, grid, doc.losses, at);
  } catch (err) {
    if (mine === sequence) showProblem(problem, err);
  }
}

function draw(asked, grid, results, at) {
  const gradient = checked("ex-grad");
  const series = [{ label: "p_t", value: (u, v) => fmt(v, 3) }];
  const data = [grid];
  asked.forEach(([label], i) => {
    const stroke = PALETTE[i % PALETTE.length];
    series.push({ label, scale: "loss", stroke, width: 2, dash: DASHES[Math.floor(i / PALETTE.length) % 4], value: (u, v) => fmt(v, 4) });
    data.push(results[i].per_sample.slice(0, grid.length));
  });
  if (gradient) {
    asked.forEach(([label], i) => {
      series.push({ label: `d/dx ${label}`, scale: "grad", stroke: PALETTE[i % PALETTE.length], width: 1.5, dash: [5, 4], value: (u, v) => fmt(v, 4) });
      data.push(results[i].gradient.slice(0, grid.length));
    });
  }
  lossChart.set(
    {
      scales: { x: { time: false, range: [0, 1] }, loss: { range: [0, 5] }, grad: { range: (u, lo, hi) => [Math.min(lo, -1), Math.max(hi, 0)] } },
      axes: [
        { label: "probability of ground truth p_t" },
        { scale: "loss", label: "loss" },
        ...(gradient ? [{ scale: "grad", side: 1, label: "gradient dL/dx_t", grid: { show: false } }] : []),
      ],
      series,
    },
    data,
  );
  const ce = asked.findIndex(([, s]) => s.name === "cross_entropy");
  const last = grid.length;
  const ceValue = ce >= 0 ? results[ce].per_sample[last] : null;
  panel.querySelector("#readout-caption").textContent = `Values at p_t = ${at} (computed by the service)`;
  panel.querySelector("#readout-body").replaceChildren(
    ...asked.map(([label, spec], i) => {
      const v = results[i].per_sample[last];
      const g = results[i].gradient[last];
      return el(
        "tr",
        { dataset: { testid: "readout-row", loss: spec.name, label, value: String(v), gradient: String(g) } },
        el("th", { scope: "row" }, label),
        el("td", { className: "num" }, fmt(v, 6)),
        el("td", { className: "num" }, ceValue === null || v === 0 ? "–" : `${fmt(ceValue / v, 4)}×`),
        el("td", { className: "num" }, fmt(g, 6)),
      );
    }),
  );
}
