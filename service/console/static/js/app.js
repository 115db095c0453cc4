// The console's entry point: one view at a time, chosen by the URL's hash (#models, #detect, #score, #explorer).

import { askKey, apiKey } from "./api.js";
import * as modelsView from "./models.js";
import * as detectView from "./detect.js";
import * as scoreView from "./score.js";
import * as explorerView from "./explorer.js";

const VIEWS = { models: modelsView, detect: detectView, score: scoreView, explorer: explorerView };
const started = new Set();
let current = null;

function show(name) {
  if (!(name in VIEWS)) name = "models";
  if (current && current !== name) VIEWS[current].hide?.();
  for (const panel of document.querySelectorAll("[data-panel]")) panel.hidden = panel.dataset.panel !== name;
  for (const link of document.querySelectorAll("nav a[data-view]")) {
    if (link.dataset.view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  const panel = document.querySelector(`[data-panel="${name}"]`);
  if (!started.has(name)) {
    started.add(name);
    VIEWS[name].init(panel);
  }
  VIEWS[name].show?.();
  current = name;
  document.title = `${panel.querySelector("h2").textContent} · focalserve console`;
}

function keyLabel() {
  document.getElementById("key-button").textContent = apiKey() ? "API key (set)" : "API key";
}

window.addEventListener("hashchange", () => show(location.hash.slice(1)));
document.getElementById("key-button").addEventListener("click", () => askKey(""));
document.addEventListener("apikey", keyLabel);
keyLabel();
show(location.hash.slice(1));
