// Score: predictions and labels (pasted JSON, or a .json / .npz / .npy file) scored by POST /v1/score.

import { callJSON, el, fmt, showProblem } from "./api.js";
import { chart, PALETTE } from "./charts.js";

const NAMES = {
  cross_entropy: "cross-entropy",
  focal: "focal",
  focal_star: "FL*",
  hard_truncated: "hard truncation",
  soft_truncated: "soft truncation",
};

let panel, problem, anatomyChart, anatomyOf;

export function init(root) {
  panel = root;
  problem = panel.querySelector("[data-testid=problem]");
  anatomyChart = chart(panel.querySelector("#anatomy-chart"), 260);
  anatomyOf = panel.querySelector("#score-anatomy-of");
  panel.querySelector("#score-form").addEventListener("submit", (e) => {
    e.preventDefault();
    submit();
  });
  for (const box of panel.querySelectorAll("input[name=loss]")) box.addEventListener("change", fillAnatomyOf);
  panel.querySelector("#score-clear-files").addEventListener("click", () => {
    panel.querySelector("#score-file").value = "";
    panel.querySelector("#score-labels-file").value = "";
  });
  fillAnatomyOf();
}

function fillAnatomyOf() {
  const chosen = anatomyOf.value;
  const names = chosenLosses().map((l) => l.name);
  anatomyOf.replaceChildren(...names.map((n) => el("option", { value: n }, NAMES[n] || n)));
  if (names.includes(chosen)) anatomyOf.value = chosen;
}

/** The checked losses with their parameters, as ScoreOptions.losses items. */
function chosenLosses() {
  const reduction = panel.querySelector("#score-reduction").value;
  const out = [];
  for (const box of panel.querySelectorAll("input[name=loss]:checked")) {
    const spec = { name: box.value, reduction };
    for (const p of panel.querySelectorAll(`input[data-loss="${box.value}"]`)) {
      if (p.value.trim() !== "") spec[p.dataset.param] = Number(p.value);
    }
    out.push(spec);
  }
  return out;
}

function options() {
  const losses = chosenLosses();
  const anatomy = panel.querySelector("#score-anatomy").checked && losses.length > 0;
  if (anatomy) {
    // the service reports the anatomy of the first loss: put the chosen one first
    const i = losses.findIndex((l) => l.name === anatomyOf.value);
    if (i > 0) losses.unshift(...losses.splice(i, 1));
  }
  return {
    kind: panel.querySelector("#score-kind").value,
    from_logits: panel.querySelector("#score-logits").checked,
    losses,
    anatomy,
  };
}

/** The request for the chosen source; the server checks the arrays and says what is wrong with them. */
async function request(opts) {
  const file = panel.querySelector("#score-file").files[0];
  const labelsFile = panel.querySelector("#score-labels-file").files[0];
  const json = { "Content-Type": "application/json" };
  if (!file) {
    // the pasted text goes as it is, inside the document: malformed JSON gets the server's own message
    const pred = panel.querySelector("#score-predictions").value.trim();
    const labels = panel.querySelector("#score-labels").value.trim();
    const rest = JSON.stringify(opts).slice(1, -1);
    const body = `{"predictions": ${pred || "null"}${labels ? `, "labels": ${labels}` : ""}, ${rest}}`;
    return { body, headers: json, source: "the pasted arrays" };
  }
  const name = file.name.toLowerCase();
  if (name.endsWith(".npz")) {
    const query = new URLSearchParams({ options: JSON.stringify(opts) });
    return { path: `v1/score?${query}`, body: file, headers: { "Content-Type": "application/x-npz" }, source: file.name };
  }
  if (name.endsWith(".npy")) {
    const form = new FormData();
    form.append("predictions", file, file.name);
    if (labelsFile) form.append("labels", labelsFile, labelsFile.name);
    form.append("options", JSON.stringify(opts));
    return { body: form, headers: {}, source: labelsFile ? `${file.name} and ${labelsFile.name}` : file.name };
  }
  const text = await file.text();
  let doc = null;
  try {
    doc = JSON.parse(text);
  } catch {
    return { body: text, headers: json, source: file.name }; // not JSON: the server says where
  }
  const body = doc && typeof doc === "object" && !Array.isArray(doc) ? JSON.stringify({ ...doc, ...opts }) : text;
  return { body, headers: json, source: file.name };
}

async function submit() {
  const opts = options();
  const button = panel.querySelector("#score-submit");
  button.disabled = true;
  try {
    const req = await request(opts);
    const { body, ms } = await callJSON(req.path || "v1/score", { method: "POST", body: req.body, headers: req.headers });
    showProblem(problem, null);
    render(opts, body, ms, req.source);
  } catch (err) {
    showProblem(problem, err);
    panel.querySelector("#score-output").hidden = true;
  } finally {
    button.disabled = false;
  }
}

function params(spec) {
  return Object.entries(spec)
    .filter(([k]) => k !== "name")
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

function render(opts, doc, ms, source) {
  const rows = doc.losses.map((v, i) =>
    el(
      "tr",
      { dataset: { loss: v.name } },
      el("th", { scope: "row" }, NAMES[v.name] || v.name),
      el("td", {}, params(opts.losses[i])),
      el("td", { className: "num", dataset: { testid: "score-value", loss: v.name, value: String(v.value) } }, fmt(v.value, 8)),
    ),
  );
  panel.querySelector("#score-body").replaceChildren(...rows);
  panel.querySelector("#score-caption").textContent =
    `Losses of ${source}: ${doc.elements} elements (${fmt(ms, 3)} ms round trip` +
    `${doc.clamped_count ? `; ${doc.clamped_count} probabilities clamped` : ""})`;
  panel.querySelector("#score-output").hidden = false;
  const anatomy = panel.querySelector("#anatomy");
  anatomy.hidden = !doc.anatomy;
  if (doc.anatomy) renderAnatomy(doc.anatomy);
}

function share(a, labelA, labelB) {
  const text = `${labelA} ${fmt(100 * a, 3)}%, ${labelB} ${fmt(100 * (1 - a), 3)}%`;
  const bar = el("div", { className: "share", "aria-hidden": "true" }, el("span", { className: "a" }), el("span", { className: "b" }));
  bar.children[0].style.width = `${100 * a}%`;
  bar.children[1].style.width = `${100 * (1 - a)}%`;
  return el("div", { className: "share-row" }, bar, el("span", { className: "share-text" }, text));
}

function renderAnatomy(a) {
  panel.querySelector("#anatomy-loss").textContent =
    `${NAMES[a.loss] || a.loss}: total ${fmt(a.total, 6)} over ${a.count} elements (${a.positives} positive, ${a.negatives} negative, ${a.easy} easy)`;
  panel.querySelector(".shares").replaceChildren(
    el("span", {}, "positives / negatives"),
    share(a.share_positive, "positives", "negatives"),
    el("span", {}, "easy (p_t > 0.5) / hard"),
    share(a.share_easy, "easy", "hard"),
  );
  anatomyChart.set(
    {
      scales: { x: { time: false, range: [0, 1] }, y: { range: [0, 1] } },
      axes: [{ label: "fraction of elements (easiest first)" }, { label: "cumulative share of the loss" }],
      series: [
        { label: "fraction", value: (u, v) => fmt(v, 3) },
        { label: "positives", stroke: PALETTE[0], width: 2, value: (u, v) => fmt(v, 4) },
        { label: "negatives", stroke: PALETTE[1], width: 2, dash: [6, 4], value: (u, v) => fmt(v, 4) },
      ],
    },
    [a.fractions, a.cumulative_positive, a.cumulative_negative],
  );
}
