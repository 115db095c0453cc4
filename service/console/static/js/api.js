// Calls to the service: the API key (asked once, kept in sessionStorage), and the server's problems as given.

const KEY = "focalserve.apiKey";

/** An answer that is not a success, as the server gave it (problem+json, v2's {"error"}, or text). */
export class Problem extends Error {
  constructor(status, body) {
    const title = body.title || (status ? `HTTP ${status}` : "Request failed");
    super(body.detail || body.error || title);
    this.status = status;
    this.title = title;
    this.detail = body.detail || body.error || "";
    this.field = body.field || null;
    this.type = body.type || null;
  }
}

async function readProblem(res) {
  const text = await res.text();
  let body = {};
  try {
    const parsed = JSON.parse(text);
    body = parsed && typeof parsed === "object" ? parsed : { detail: text };
  } catch {
    body = { detail: text.trim() || res.statusText };
  }
  return new Problem(res.status, body);
}

export function apiKey() {
  return sessionStorage.getItem(KEY);
}

let asking = null; // one prompt at a time: every call refused meanwhile waits for the same answer

/** Ask for a key in the dialog; resolves to the key, or null if the user cancels. */
export function askKey(reason = "") {
  if (asking) return asking;
  const dialog = document.getElementById("key-dialog");
  const input = document.getElementById("key-input");
  document.getElementById("key-reason").textContent = reason;
  input.value = apiKey() || "";
  asking = new Promise((resolve) => {
    dialog.addEventListener(
      "close",
      () => {
        asking = null;
        if (dialog.returnValue === "save" && input.value) {
          sessionStorage.setItem(KEY, input.value);
          resolve(input.value);
        } else {
          if (dialog.returnValue === "forget") sessionStorage.removeItem(KEY);
          resolve(null);
        }
        document.dispatchEvent(new CustomEvent("apikey"));
      },
      { once: true },
    );
    dialog.returnValue = "";
    dialog.showModal();
    input.focus();
  });
  return asking;
}

/**
 * fetch() a path of the service (relative to the page, so a prefix in front of the service is kept), with the
 * API key. A 401 asks for a key and tries again; any other failure throws the server's `Problem`.
 * Resolves to {res, ms}: the response and the round trip in milliseconds.
 */
export async function call(path, options = {}) {
  const url = new URL(path, document.baseURI);
  for (;;) {
    const headers = new Headers(options.headers || {});
    const key = apiKey();
    if (key) headers.set("X-API-Key", key);
    const started = performance.now();
    let res;
    try {
      res = await fetch(url, { ...options, headers });
    } catch (err) {
      throw new Problem(0, { title: "The service cannot be reached", detail: String(err.message || err) });
    }
    const ms = performance.now() - started;
    if (res.status === 401 && !options.noPrompt) {
      const problem = await readProblem(res);
      if ((await askKey(`${problem.title}: ${problem.detail}`)) === null) throw problem;
      continue;
    }
    if (!res.ok) throw await readProblem(res);
    return { res, ms };
  }
}

/** `call`, the answer read as JSON. */
export async function callJSON(path, options = {}) {
  const { res, ms } = await call(path, options);
  return { body: await res.json(), ms };
}

/** Show `err` (a Problem or any error) in a view's alert box; `null` hides it. */
export function showProblem(box, err) {
  box.replaceChildren();
  if (!err) {
    box.hidden = true;
    return;
  }
  const head = document.createElement("strong");
  const status = err instanceof Problem && err.status ? `${err.status} ` : "";
  head.textContent = `${status}${err.title || err.name || "Error"}`;
  const detail = document.createElement("span");
  detail.textContent = err.detail !== undefined ? err.detail : String(err.message || err);
  box.append(head, detail);
  if (err.field) {
    const field = document.createElement("span");
    field.className = "field";
    field.textContent = ` (field: ${err.field})`;
    box.append(field);
  }
  box.hidden = false;
}

/** A DOM element: el("td", {className: "num"}, "text", child, ...). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "dataset") Object.assign(node.dataset, v);
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
}

/** A number for people: `digits` significant digits, no exponent for ordinary magnitudes. */
export function fmt(value, digits = 4) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  const a = Math.abs(value);
  if (a !== 0 && (a < 1e-4 || a >= 1e6)) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}

/** The models the service lists (GET /v1/models), shared by the views; `refresh` asks again. */
let models = null;
export async function listModels(refresh = false) {
  if (!models || refresh) models = callJSON("v1/models").then(({ body }) => body);
  try {
    return await models;
  } catch (err) {
    models = null;
    throw err;
  }
}
