// Detect: an image in (file input or drop), its boxes drawn over it; the threshold filters without a new request.

import { call, el, fmt, listModels, showProblem } from "./api.js";
import { PALETTE } from "./charts.js";

let panel, problem, modelSelect, versionSelect, slider, input, image, boxes;
let result = null; // the last answer's first image
let objectUrl = null;

export function init(root) {
  panel = root;
  problem = panel.querySelector("[data-testid=problem]");
  modelSelect = panel.querySelector("#detect-model");
  versionSelect = panel.querySelector("#detect-version");
  slider = panel.querySelector("#threshold");
  input = panel.querySelector("#image-input");
  image = panel.querySelector("#detect-image");
  boxes = panel.querySelector("#boxes");
  slider.addEventListener("input", () => {
    panel.querySelector("#threshold-value").textContent = Number(slider.value).toFixed(2);
    draw();
  });
  input.addEventListener("change", () => {
    if (!input.files.length) return;
    detect(input.files[0]);
    input.value = ""; // choosing the same file again detects again
  });
  modelSelect.addEventListener("change", fillVersions);
  panel.querySelector("#detect-form").addEventListener("submit", (e) => e.preventDefault());
  const zone = panel.querySelector("#drop-zone");
  zone.addEventListener("keydown", (e) => {
    if (e.target === zone && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      input.click();
    }
  });
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    const file = e.dataTransfer.files[0];
    if (file) detect(file);
  });
  document.addEventListener("apikey", () => modelSelect.options.length || loadModels());
}

export function show() {
  loadModels();
}

let detectors = [];

async function loadModels() {
  try {
    const doc = await listModels();
    showProblem(problem, null);
    detectors = doc.models.filter((m) => m.versions.some((v) => v.task !== "loss"));
    const chosen = modelSelect.value;
    modelSelect.replaceChildren(...detectors.map((m) => el("option", { value: m.name }, m.name)));
    if (detectors.some((m) => m.name === chosen)) modelSelect.value = chosen;
    fillVersions();
  } catch (err) {
    showProblem(problem, err);
  }
}

function fillVersions() {
  const model = detectors.find((m) => m.name === modelSelect.value);
  const chosen = versionSelect.value;
  const options = [el("option", { value: "" }, `default (${model?.default_version ?? "none ready"})`)];
  for (const v of model?.versions || []) {
    options.push(el("option", { value: v.version, disabled: !v.ready }, `${v.version} (${v.state})`));
  }
  versionSelect.replaceChildren(...options);
  if ([...versionSelect.options].some((o) => o.value === chosen && !o.disabled)) versionSelect.value = chosen;
}

async function detect(file) {
  if (objectUrl) URL.revokeObjectURL(objectUrl);
  objectUrl = URL.createObjectURL(file);
  image.src = objectUrl;
  panel.querySelector("#stage").hidden = false;
  result = null;
  draw();
  const name = encodeURIComponent(modelSelect.value || "detector");
  const version = versionSelect.value ? `/versions/${encodeURIComponent(versionSelect.value)}` : "";
  // everything the model keeps (its own threshold and count): the slider filters here, with no new request
  const path = `v1/models/${name}${version}/detect?score_threshold=0`;
  panel.querySelector("#detect-summary").textContent = `Detecting in ${file.name}…`;
  try {
    const { res, ms } = await call(path, {
      method: "POST",
      body: file,
      headers: { "Content-Type": file.type || "application/octet-stream" },
    });
    const doc = await res.json();
    showProblem(problem, null);
    result = doc.images[0];
    result.model = `${doc.model_name} v${doc.model_version}`;
    timings({ round_trip_ms: ms, ...doc.timings });
  } catch (err) {
    showProblem(problem, err);
    panel.querySelector("#detect-summary").textContent = "";
    panel.querySelector("#detect-timings").hidden = true;
  }
  draw();
}

function timings(t) {
  const box = panel.querySelector("#detect-timings");
  for (const dd of box.querySelectorAll("[data-t]")) {
    const v = t[dd.dataset.t];
    dd.textContent = dd.dataset.t === "batch_size" ? String(v) : `${fmt(v, 3)} ms`;
  }
  box.hidden = false;
}

/** The boxes at or above the threshold, placed in percent of the image so they follow its displayed size. */
function draw() {
  const table = panel.querySelector("#detections-table");
  if (!result) {
    boxes.replaceChildren();
    table.hidden = true;
    return;
  }
  const threshold = Number(slider.value);
  const { width, height } = result;
  const drawn = [];
  const rows = [];
  result.scores.forEach((score, i) => {
    if (score < threshold) return;
    const [x1, y1, x2, y2] = result.boxes[i];
    const colour = PALETTE[result.class_ids[i] % PALETTE.length];
    const label = `${result.class_names[i]} ${score.toFixed(2)}`;
    const box = el(
      "div",
      { className: "box", dataset: { testid: "detection-box", score: String(score), class: result.class_names[i] } },
      el("span", { className: "label" }, label),
    );
    Object.assign(box.style, {
      left: `${(100 * x1) / width}%`,
      top: `${(100 * y1) / height}%`,
      width: `${(100 * (x2 - x1)) / width}%`,
      height: `${(100 * (y2 - y1)) / height}%`,
      borderColor: colour,
    });
    box.firstChild.style.background = colour;
    drawn.push(box);
    rows.push(
      el("tr", {}, el("td", {}, result.class_names[i]), el("td", { className: "num" }, score.toFixed(3)),
        el("td", {}, result.boxes[i].map((v) => v.toFixed(1)).join(" "))),
    );
  });
  boxes.replaceChildren(...drawn);
  panel.querySelector("#detections-body").replaceChildren(...rows);
  table.hidden = rows.length === 0;
  panel.querySelector("#detect-summary").textContent =
    `${result.model}: ${drawn.length} of ${result.scores.length} detections at score ≥ ${threshold.toFixed(2)} ` +
    `(${width}×${height} image)`;
}
