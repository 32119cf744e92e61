// matdiff's page: talks to the JSON API of the same server, and nothing else.
"use strict";

const KINDS = ["scalar", "vector", "matrix", "symmetric", "spd", "diagonal"];
const $ = (id) => document.getElementById(id);

const state = {
  types: {},        // name -> type the user chose (only where it differs from the naming convention)
  wrt: null,        // the variable to differentiate with respect to
  info: null,       // the last /api/variables answer for the text in the box
  infoFor: null,    // the request that answer was for
  shown: null,      // the request whose result is on the page
};

// ---------------------------------------------------------------- the API
async function api(endpoint, body) {
  let response;
  try {
    response = await fetch("/api/" + endpoint, {
      method: "POST",
      headers: {"Content-Type": "application/json"},
      body: JSON.stringify(body),
    });
  } catch (err) {
    throw {kind: "NetworkError", message: "the matdiff server does not answer; is `matdiff serve` still running?"};
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) {
    throw (data && data.error) || {kind: "HTTP " + response.status, message: response.statusText};
  }
  return data;
}

function request() {
  const expr = $("expr").value;
  const body = {expr: expr};
  if (state.wrt) body.wrt = state.wrt;
  const types = {};
  for (const [name, kind] of Object.entries(state.types)) {
    if (new RegExp("(^|[^A-Za-z0-9_])" + name + "($|[^A-Za-z0-9_])").test(expr)) types[name] = kind;
  }
  if (Object.keys(types).length) body.types = types;
  const defs = definitions();
  if (defs.length) body.definitions = defs;
  return body;
}

function definitions() {
  // the functions the user defined, one a line (empty lines skipped)
  return $("defs").value.split("\n").map((line) => line.trim()).filter((line) => line.length > 0);
}

const sameRequest = (a, b) => a && b && JSON.stringify(a) === JSON.stringify(b);

// ---------------------------------------------------------------- errors
function showError(err, box) {
  box = box || $("error");
  $("result").classList.add("stale");
  const kind = err.kind || "Error";
  box.hidden = false;
  box.querySelector(".error-kind").textContent = kind;
  const inDefinition = err.field === "definitions";
  box.querySelector(".error-message").textContent =
    (inDefinition && typeof err.index === "number" ? "definition " + (err.index + 1) + ": " : "") + (err.message || "");
  const src = box.querySelector(".error-source");
  const expr = $("expr").value;
  $("defs").classList.toggle("invalid", inDefinition);
  if (inDefinition) $("defs-box").open = true;
  if (typeof err.position === "number" && err.field !== "types" && !inDefinition) {
    const p = Math.max(0, Math.min(err.position, expr.length));
    src.querySelector(".before").textContent = expr.slice(0, p);
    const at = src.querySelector(".at");
    at.textContent = p < expr.length ? expr[p] : " ";
    at.className = p < expr.length ? "at" : "at end";
    at.title = p < expr.length ? "position " + p : "the end of the expression";
    src.querySelector(".after").textContent = expr.slice(p + 1);
    src.hidden = false;
    $("expr").classList.add("invalid");
  } else {
    src.hidden = true;
    $("expr").classList.remove("invalid");
  }
}

function selectAt(err) {
  // after a press of the button, put the cursor on the offending character
  if (!err || typeof err.position !== "number" || err.field === "types" || err.field === "definitions") return;
  const box = $("expr");
  const p = Math.max(0, Math.min(err.position, box.value.length));
  box.focus();
  box.setSelectionRange(p, Math.min(p + 1, box.value.length));
}

function clearError() {
  $("error").hidden = true;
  if (sameRequest(request(), state.shown)) $("result").classList.remove("stale");
  $("expr").classList.remove("invalid");
}

function showActionError(err) {
  const box = $("action-error");
  box.hidden = false;
  box.textContent = (err.kind ? err.kind + ": " : "") + (err.message || "");
}

// ---------------------------------------------------------------- variables
function renderVariables(info) {
  const box = $("vars");
  box.replaceChildren();
  const names = info.variables.map((v) => v.name);
  if (!names.includes(state.wrt)) state.wrt = names.length ? names[0] : null;
  for (const v of info.variables) {
    const chip = document.createElement("div");
    chip.className = "var" + (v.name === state.wrt ? " selected" : "");
    const label = document.createElement("label");
    label.className = "wrt";
    label.title = "differentiate with respect to " + v.name;
    const radio = document.createElement("input");
    radio.type = "radio";
    radio.name = "wrt";
    radio.value = v.name;
    radio.checked = v.name === state.wrt;
    radio.addEventListener("change", () => {
      state.wrt = v.name;
      for (const c of box.children) c.classList.toggle("selected", c.dataset.name === v.name);
      if (state.shown) run();
    });
    const name = document.createElement("span");
    name.className = "name";
    name.textContent = v.name;
    label.append(radio, name);
    const select = document.createElement("select");
    select.setAttribute("aria-label", "type of " + v.name);
    select.dataset.var = v.name;
    select.title = "by its name, " + v.name + " is a " + v.default_kind;
    const base = (state.types[v.name] || v.kind).replace(/\(.*$/, "");
    for (const k of KINDS) {
      const opt = document.createElement("option");
      opt.value = k;
      opt.textContent = k;
      opt.selected = k === base;
      select.append(opt);
    }
    select.addEventListener("change", () => {
      if (select.value === v.default_kind) delete state.types[v.name];
      else state.types[v.name] = select.value;
      refreshVariables().then(() => { if (state.shown) run(); });
    });
    const shape = document.createElement("span");
    shape.className = "shape";
    shape.textContent = shapeText(v);
    chip.dataset.name = v.name;
    chip.append(label, select, shape);
    box.append(chip);
  }
  $("vars-box").hidden = info.variables.length === 0;
}

function shapeText(v) {
  const [r, c] = v.shape;
  if (v.kind === "scalar") return "";
  if (c === "1" && v.kind === "vector") return "length " + r;
  return r + " × " + c;
}

let pending = null;
async function refreshVariables() {
  const body = request();
  delete body.wrt;
  if (!body.expr.trim()) {
    state.info = null;
    $("vars-box").hidden = true;
    clearError();
    return null;
  }
  if (sameRequest(body, state.infoFor) && state.info) return state.info;
  const mine = (pending = body);
  try {
    const info = await api("variables", body);
    if (pending !== mine) return state.info;
    state.info = info;
    state.infoFor = body;
    clearError();
    renderVariables(info);
    return info;
  } catch (err) {
    if (pending !== mine) return state.info;
    state.info = null;
    state.infoFor = null;
    showError(err);
    throw err;
  }
}

let typingTimer = null;
function onTyping() {
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => refreshVariables().catch(() => {}), 250);
}

// ---------------------------------------------------------------- results
function setMath(el, html) { el.innerHTML = html || ""; }  // MathML made by the server from our own LaTeX

function renderSteps(container, steps) {
  container.replaceChildren();
  const grid = document.createElement("div");
  grid.className = "steps-grid";
  for (const s of steps) {
    const lhs = document.createElement("div");
    lhs.className = "lhs";
    setMath(lhs, s.lhs_mathml);
    const eq = document.createElement("div");
    eq.className = "eq";
    eq.textContent = s.rhs_mathml ? "=" : "";
    const rhs = document.createElement("div");
    rhs.className = "rhs";
    setMath(rhs, s.rhs_mathml);
    const rule = document.createElement("div");
    rule.className = "rule";
    if (s.rule) {
      const chip = document.createElement("span");
      chip.textContent = s.rule;
      rule.append(chip);
    }
    if (s.note) {
      const note = document.createElement("div");
      note.className = "note";
      note.textContent = s.note;
      rule.append(note);
    }
    grid.append(lhs, eq, rhs, rule);
  }
  container.append(grid);
}

function resetPanels() {
  for (const id of ["check", "hessian", "action-error"]) $(id).hidden = true;
}

function renderGradient(r) {
  setMath($("headline"), r.equation.mathml);
  $("gradient-text").textContent = r.gradient;
  $("gradient-text").parentElement.hidden = false;
  setMath($("differential"), r.differential.mathml);
  $("vec-form").hidden = true;
  renderSteps($("steps-body"), r.steps);
  $("steps-count").textContent = "· " + r.steps.length + " steps";
  $("usage").textContent = r.usage;
  $("code").textContent = r.code || "";
  $("code").hidden = !r.code;
  $("code-note").textContent = r.code_note || "";
  $("code-note").hidden = !r.code_note;
  $("code-box").hidden = false;
  $("actions").hidden = false;
}

function renderJacobian(r) {
  setMath($("headline"), r.differential.mathml);
  $("gradient-text").textContent = r.differential.text;
  setMath($("differential"), "");
  if (r.vec) {
    setMath($("vec-form"), r.vec.mathml);
    const cap = document.createElement("div");
    cap.className = "caption";
    cap.textContent = "the Jacobian: vec(dF) = J vec(d" + r.wrt + "), with vec stacking columns";
    $("vec-form").append(cap);
    $("vec-form").hidden = false;
  } else {
    $("vec-form").hidden = true;
  }
  renderSteps($("steps-body"), r.steps);
  $("steps-count").textContent = "· " + r.steps.length + " steps";
  $("code-box").hidden = true;
  $("actions").hidden = true;
}

function setBusy(on, button) {
  $("go").disabled = on;
  for (const b of document.querySelectorAll(".actions button")) b.disabled = on;
  $("busy").hidden = !on || !button;
  document.body.classList.toggle("working", on);
}

async function run() {
  clearTimeout(typingTimer);
  let info;
  try {
    info = await refreshVariables();
  } catch (err) {
    selectAt(err);
    return;
  }
  if (!info) return;
  const body = request();
  setBusy(true);
  try {
    const scalar = info.output.kind === "scalar";
    const r = await api(scalar ? "grad" : "jacobian", body);
    state.wrt = r.wrt;
    resetPanels();
    if (scalar) renderGradient(r); else renderJacobian(r);
    $("result").hidden = false;
    $("result").classList.remove("stale");
    state.shown = body;
    clearError();
    saveUrl(body);
  } catch (err) {
    showError(err);
    selectAt(err);
  } finally {
    setBusy(false);
  }
}

async function verify() {
  if (!state.shown) return;
  setBusy(true, true);
  $("action-error").hidden = true;
  try {
    const r = await api("check", state.shown);
    const badge = $("check-badge");
    badge.textContent = r.ok ? "✓ verified" : "✗ mismatch";
    badge.className = "badge " + (r.ok ? "ok" : "bad");
    $("check-line").textContent = "∇" + r.wrt + " against " + methodName(r.method) +
      " at a random point (seed " + r.seed + ")";
    const rows = [
      ["method", r.method + (r.note ? " — " + r.note : "")],
      ["max. relative error", fmt(r.max_rel_error)],
      ["error expected", fmt(r.expected_error)],
      ["tolerance", fmt(r.tolerance)],
    ];
    const table = $("check-figures");
    table.replaceChildren();
    for (const [k, v] of rows) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = k;
      const td = document.createElement("td");
      td.textContent = v;
      tr.append(th, td);
      table.append(tr);
    }
    const img = $("check-plot");
    if (r.plot) {
      img.src = r.plot;
      img.parentElement.hidden = false;
    } else {
      img.parentElement.hidden = true;
    }
    $("check").hidden = false;
  } catch (err) {
    showActionError(err);
  } finally {
    setBusy(false);
  }
}

function methodName(m) {
  return {complex: "the complex step", central: "central differences", forward: "forward differences",
          richardson: "Richardson-extrapolated differences"}[m] || m;
}

function fmt(x) {
  if (x === null || x === undefined) return "—";
  if (x === 0) return "0";
  return Math.abs(x) < 1e-3 || Math.abs(x) >= 1e4 ? x.toExponential(2) : x.toPrecision(3);
}

async function hessian() {
  if (!state.shown) return;
  setBusy(true, true);
  $("action-error").hidden = true;
  try {
    const r = await api("hessian", state.shown);
    setMath($("hessian-math"), r.hessian.mathml);
    if (r.vec) {
      setMath($("hessian-vec"), r.vec.mathml);
      $("hessian-vec").hidden = false;
    } else {
      $("hessian-vec").hidden = true;
    }
    renderSteps($("hessian-steps"), r.steps);
    $("hessian-count").textContent = "· " + r.steps.length + " steps";
    $("hessian").hidden = false;
  } catch (err) {
    showActionError(err);
  } finally {
    setBusy(false);
  }
}

// ---------------------------------------------------------------- copy, URL, examples
async function copyText(id, button) {
  const text = $(id).textContent;
  try {
    await navigator.clipboard.writeText(text);
  } catch (err) {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
  const old = button.textContent;
  button.textContent = "Copied ✓";
  button.classList.add("done");
  setTimeout(() => { button.textContent = old; button.classList.remove("done"); }, 1400);
}

function typesToParam(types) {
  return Object.entries(types || {}).map(([k, v]) => k + ":" + v).join(",");
}

function typesFromParam(text) {
  // "S:spd,X:matrix(3,4)": commas inside a type's parentheses belong to it
  const out = {};
  for (const m of (text || "").matchAll(/([A-Za-z][A-Za-z0-9_]*)\s*:\s*([A-Za-z]+(?:\([^)]*\))?)/g)) {
    out[m[1]] = m[2];
  }
  return out;
}

function saveUrl(body) {
  const params = new URLSearchParams();
  params.set("expr", body.expr);
  if (body.wrt) params.set("wrt", body.wrt);
  if (body.types) params.set("types", typesToParam(body.types));
  if (body.definitions) params.set("defs", body.definitions.join("\n"));
  history.replaceState(null, "", "?" + params.toString());
}

function load(expr, wrt, types, defs) {
  $("expr").value = expr;
  $("defs").value = defs || "";
  if (defs) $("defs-box").open = true;
  state.types = types || {};
  state.wrt = wrt || null;
  state.info = null;
  state.infoFor = null;
  run();
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("expr").addEventListener("input", onTyping);
  $("defs").addEventListener("input", onTyping);
  $("verify").addEventListener("click", verify);
  $("hessian-btn").addEventListener("click", hessian);
  for (const b of document.querySelectorAll("button.copy")) {
    b.addEventListener("click", () => copyText(b.dataset.copy, b));
  }
  for (const b of document.querySelectorAll("button.example")) {
    b.addEventListener("click", () => load(b.dataset.expr, b.dataset.wrt, typesFromParam(b.dataset.types),
                                           b.dataset.defs || ""));
  }
  const params = new URLSearchParams(location.search);
  if (params.get("expr")) {
    load(params.get("expr"), params.get("wrt"), typesFromParam(params.get("types")), params.get("defs") || "");
  } else {
    $("expr").focus();
  }
});
