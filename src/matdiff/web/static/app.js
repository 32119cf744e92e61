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
  result: null,     // the answer on the page
  panels: {check: false, hessian: false},  // the panels open under it (kept in the history)
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
  if (Array.isArray(err.variables) && err.variables.length) {
    renderVariables({variables: err.variables});  // the types stay choosable: a declaration is often the fix
  }
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
    const end = typeof err.end === "number" ? Math.max(p + 1, Math.min(err.end, expr.length)) : p + 1;
    src.querySelector(".before").textContent = expr.slice(0, p);
    const at = src.querySelector(".at");
    at.textContent = p < expr.length ? expr.slice(p, end) : " ";
    at.className = p < expr.length ? "at" : "at end";
    at.title = p < expr.length ? (end > p + 1 ? "positions " + p + "–" + (end - 1) : "position " + p)
                               : "the end of the expression";
    src.querySelector(".after").textContent = expr.slice(end);
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
  const end = typeof err.end === "number" ? Math.max(p + 1, err.end) : p + 1;
  box.focus();
  box.setSelectionRange(p, Math.min(end, box.value.length));
}

function clearError() {
  $("error").hidden = true;
  markStale();
  $("expr").classList.remove("invalid");
}

function isStale() {
  return !state.shown || !sameRequest(request(), state.shown);
}

function markStale() {
  // the result is dimmed whenever the input no longer is what it was computed from
  $("result").classList.toggle("stale", isStale());
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
      markStale();
      refreshVariables().then(() => { if (state.shown) run(); }).catch(() => {});
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
  markStale();
  clearTimeout(typingTimer);
  typingTimer = setTimeout(() => refreshVariables().catch(() => {}), 250);
}

// ---------------------------------------------------------------- results
function setMath(el, html) { el.innerHTML = html || ""; }  // MathML made by the server from our own LaTeX

function setLines(el, math) {
  // a long formula as pieces cut at its top-level =, + and -, which wrap like words (MathML does not break)
  el.replaceChildren();
  if (!math) return;
  el.setAttribute("role", "math");
  el.setAttribute("aria-label", math.text || "");
  for (const piece of math.lines || [math.mathml]) {
    const span = document.createElement("span");
    span.className = "mline";
    span.setAttribute("aria-hidden", "true");
    span.innerHTML = piece;
    el.append(span);
  }
  fitLines(el);
}

function fitLines(el) {
  // a piece wider than the box is set smaller (down to 55%) rather than scrolled sideways
  const cs = getComputedStyle(el);
  const width = el.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);  // less the indent
  for (const span of el.querySelectorAll(".mline")) {
    span.style.fontSize = "";
    const natural = span.scrollWidth;
    if (width > 0 && natural > width) span.style.fontSize = Math.max(0.55, (width - 2) / natural) + "em";
  }
}

function refit() {
  for (const el of document.querySelectorAll(".math-lines")) if (el.offsetParent) fitLines(el);
}
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
  for (const id of ["check", "hessian", "solver", "action-error"]) $(id).hidden = true;
  state.panels = {check: false, hessian: false, solver: false};
}

function renderTypes(types) {
  const line = $("types-line");
  line.replaceChildren();
  if (!types || !types.length) { line.hidden = true; return; }
  const label = document.createElement("span");
  label.className = "label";
  label.textContent = "types";
  line.append(label);
  types.forEach((t, i) => {
    const item = document.createElement("span");
    item.className = "type-item from-" + t.from;
    item.textContent = t.name + ": " + t.type;
    item.title = {declared: "declared", use: "assumed from its use" + (t.why ? " in " + t.why : ""),
                  name: "by the naming convention"}[t.from] || "";
    line.append(item);
    if (t.from === "use") {
      const why = document.createElement("span");
      why.className = "type-why";
      why.textContent = " (from " + (t.why || "its use") + ")";
      item.append(why);
    }
    if (i < types.length - 1) line.append(document.createTextNode(" · "));
  });
  line.hidden = false;
}

function renderCode(r, label) {
  $("usage").textContent = r.usage || "";
  $("code").textContent = r.code || "";
  $("code").hidden = !r.code;
  $("copy-code").hidden = !r.code;
  $("code-label").textContent = label;
  $("code-note").textContent = r.code_note || "";
  $("code-note").hidden = !r.code_note;
  $("code-box").hidden = false;
}

function renderGradient(r) {
  $("result-heading").textContent = "Gradient";
  setLines($("headline"), r.equation);
  $("gradient-text").textContent = r.gradient;
  $("gradient-latex").textContent = r.latex;
  $("copy-text").setAttribute("aria-label", "Copy the gradient as text");
  $("copy-latex").setAttribute("aria-label", "Copy the gradient as LaTeX");
  setLines($("differential"), r.differential);
  $("vec-form").hidden = true;
  renderTypes(r.types);
  renderSteps($("steps-body"), r.steps);
  $("steps-count").textContent = "· " + r.steps.length + " steps";
  renderCode(r, "generated value-and-gradient function (standalone: NumPy and SciPy only)");
  $("actions").hidden = false;
  $("hessian-btn").hidden = false;
  $("solver-btn").hidden = false;
}

function renderJacobian(r) {
  $("result-heading").textContent = "Derivative (Jacobian)";
  setLines($("headline"), r.differential);
  $("gradient-text").textContent = r.differential.text;
  $("gradient-latex").textContent = r.differential.latex;
  $("copy-text").setAttribute("aria-label", "Copy the derivative as text");
  $("copy-latex").setAttribute("aria-label", "Copy the derivative as LaTeX");
  setLines($("differential"), null);
  renderTypes(r.types);
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
  renderCode(r, "generated Jacobian function (standalone: NumPy and SciPy only)");
  $("actions").hidden = false;
  $("hessian-btn").hidden = true;  // a Hessian is of a scalar function
  $("solver-btn").hidden = true;  // and only a scalar is minimised
}

function setBusy(on, button) {
  $("go").disabled = on;
  for (const b of document.querySelectorAll(".actions button")) b.disabled = on;
  $("busy").hidden = !on || !button;
  document.body.classList.toggle("working", on);
}

async function busyWith(button, work) {
  // the control pressed keeps the keyboard focus: a disabled button loses it to the page body
  const trigger = button || document.activeElement;
  setBusy(true, button);
  try {
    return await work();
  } finally {
    setBusy(false);
    const lost = !document.activeElement || document.activeElement === document.body;
    if (lost && trigger && trigger.isConnected && !trigger.hidden) trigger.focus();
  }
}

function showEmpty() {
  showError({kind: "Empty expression", message: "type an expression to differentiate, e.g. norm_fro(X) or x'*A*y"});
  $("expr").classList.add("invalid");
}

// how: {history: "push" | "replace" | "none"}
let runSeq = 0;  // the latest run: an older one's answer (Back pressed twice quickly) is not shown over it
let navSeq = 0;  // the latest Back/Forward: an older restore stops where it is

async function run(how) {
  how = how || {};
  const mine = ++runSeq;
  clearTimeout(typingTimer);
  if (!$("expr").value.trim()) {
    showEmpty();
    return false;
  }
  let info;
  try {
    info = await refreshVariables();
  } catch (err) {
    selectAt(err);
    return false;
  }
  if (!info || mine !== runSeq) return false;
  const body = request();
  return busyWith($("go"), async () => {
    try {
      const scalar = info.output.kind === "scalar";
      const r = await api(scalar ? "grad" : "jacobian", body);
      if (mine !== runSeq) return false;
      state.wrt = r.wrt;
      resetPanels();
      state.result = r;
      state.scalar = scalar;
      if (scalar) renderGradient(r); else renderJacobian(r);
      $("result").hidden = false;
      state.shown = body;
      clearError();
      refit();
      remember(how.history || "push");
      return true;
    } catch (err) {
      if (mine !== runSeq) return false;
      showError(err);
      selectAt(err);
      return false;
    }
  });
}

function seed() {
  const v = parseInt($("seed").value, 10);
  return Number.isFinite(v) && v >= 0 && v < 4294967296 ? v : 0;
}

async function current() {
  // Verify and Hessian work on what the box holds now: a changed input is differentiated first
  if (!isStale()) return true;
  return run();
}

async function panelAction(how, button, job, extra, render, panel) {
  // Verify, Hessian, Minimise: the expression in the box (differentiated first where it changed), the answer
  // shown in its panel only while that expression is still the one shown, the panel kept in the history
  how = how || {};
  if (!(await current())) return;
  const shown = state.shown;
  await busyWith($(button), async () => {
    $("action-error").hidden = true;
    try {
      const r = await api(job, Object.assign({}, shown, extra ? extra() : {}));
      if (state.shown !== shown) return;  // another expression is shown now
      render(r);
      state.panels[panel] = true;
      if (how.history !== "none") remember("replace");
    } catch (err) {
      showActionError(err);
    }
  });
}

function verify(how) {
  return panelAction(how, "verify", "check", () => ({seed: seed()}), (r) => {
    renderCheck(r);
    state.panels.seed = r.seed;
  }, "check");
}

function renderCheck(r) {
  const badge = $("check-badge");
  badge.textContent = r.ok ? "✓ verified" : "✗ mismatch";
  badge.className = "badge " + (r.ok ? "ok" : "bad");
  const what = r.what === "jvp" ? "dF (the Jacobian applied to random directions)" : "∇" + r.wrt;
  $("check-line").textContent = what + " against " + methodName(r.method) +
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
    th.scope = "row";
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
    img.removeAttribute("src");
    img.parentElement.hidden = true;
  }
  $("check").hidden = false;
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

function hessian(how) {
  return panelAction(how, "hessian-btn", "hessian", null, (r) => {
    setLines($("hessian-math"), r.hessian);
    if (r.vec) {
      setMath($("hessian-vec"), r.vec.mathml);
      $("hessian-vec").hidden = false;
    } else {
      $("hessian-vec").hidden = true;
    }
    renderSteps($("hessian-steps"), r.steps);
    $("hessian-count").textContent = "· " + r.steps.length + " steps";
    $("hessian").hidden = false;
    fitLines($("hessian-math"));
  }, "hessian");
}

function solver(how) {
  // the Minimise panel: a stand-alone solver script for the expression over the variable, and how to run it
  return panelAction(how, "solver-btn", "solver", null, (r) => {
    const data = r.data.map(d => d.name + ": " + d.type).join(", ");
    $("solver-line").textContent = "minimise " + r.expr + " over " + r.wrt + " by L-BFGS on the generated " +
      "value and gradient. The data file holds " + (data || "nothing else") + "; optionally x0_" + r.wrt +
      " (the start), lower_" + r.wrt + " and upper_" + r.wrt + " (bounds). Constraints: matdiff solver " +
      "--constraint on the command line.";
    $("solver-command").textContent = r.command;
    $("solver-script").textContent = r.script;
    $("solver-count").textContent = "· " + r.lines + " lines";
    const link = $("solver-download");
    if (link.href.startsWith("blob:")) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([r.script], {type: "text/x-python"}));
    link.download = r.filename;
    link.setAttribute("aria-label", "Download the solver script " + r.filename);
    $("solver").hidden = false;
  }, "solver");
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

function urlOf(body, panels) {
  const params = new URLSearchParams();
  params.set("expr", body.expr);
  if (body.wrt) params.set("wrt", body.wrt);
  if (body.types) params.set("types", typesToParam(body.types));
  if (body.definitions) params.set("defs", body.definitions.join("\n"));
  if (panels.check) params.set("check", String(panels.seed || 0));
  if (panels.hessian) params.set("hessian", "1");
  if (panels.solver) params.set("solver", "1");
  return "?" + params.toString();
}

function remember(mode) {
  // the history holds each expression differentiated, with its open panels: Back walks through them
  if (mode === "none" || !state.shown) return;
  const entry = {body: state.shown, panels: Object.assign({}, state.panels)};
  const old = history.state;
  if (mode === "push" && old && old.body && sameRequest(old.body, entry.body)) mode = "replace";
  if (mode === "push" && !(old && old.body)) mode = "replace";  // the page's first result replaces the empty page
  history[mode === "push" ? "pushState" : "replaceState"](entry, "", urlOf(entry.body, entry.panels));
}

async function restore(entry) {
  // back or forward: the expression, its variables and types, and the panels that were open
  const mine = ++navSeq;
  const body = entry.body;
  $("expr").value = body.expr;
  $("defs").value = (body.definitions || []).join("\n");
  if (body.definitions) $("defs-box").open = true;
  state.types = Object.assign({}, body.types || {});
  state.wrt = body.wrt || null;
  state.info = null;
  state.infoFor = null;
  const panels = entry.panels || {};
  if (typeof panels.seed === "number") $("seed").value = String(panels.seed);
  if (!(await run({history: "none"})) || mine !== navSeq) return;
  if (panels.check) await verify({history: "none"});
  if (mine !== navSeq) return;
  if (panels.hessian) await hessian({history: "none"});
  if (mine !== navSeq) return;
  if (panels.solver) await solver({history: "none"});
  if (mine === navSeq) remember("replace");
}

function clearPage() {
  $("expr").value = "";
  $("defs").value = "";
  state.types = {};
  state.wrt = null;
  state.info = null;
  state.infoFor = null;
  state.shown = null;
  $("result").hidden = true;
  $("vars-box").hidden = true;
  $("error").hidden = true;
  $("expr").classList.remove("invalid");
}

async function load(expr, wrt, types, defs, panels) {
  $("expr").value = expr;
  $("defs").value = defs || "";
  if (defs) $("defs-box").open = true;
  state.types = types || {};
  state.wrt = wrt || null;
  state.info = null;
  state.infoFor = null;
  panels = panels || {};
  if (typeof panels.seed === "number") $("seed").value = String(panels.seed);
  if (!(await run())) return;
  if (panels.check) await verify();
  if (panels.hessian) await hessian();
  if (panels.solver) await solver();
}

document.addEventListener("DOMContentLoaded", () => {
  $("form").addEventListener("submit", (e) => { e.preventDefault(); run(); });
  $("expr").addEventListener("input", onTyping);
  $("defs").addEventListener("input", onTyping);
  $("verify").addEventListener("click", () => verify());
  $("hessian-btn").addEventListener("click", () => hessian());
  $("solver-btn").addEventListener("click", () => solver());
  for (const b of document.querySelectorAll("button.copy")) {
    b.addEventListener("click", () => copyText(b.dataset.copy, b));
  }
  for (const b of document.querySelectorAll("button.example")) {
    b.addEventListener("click", () => load(b.dataset.expr, b.dataset.wrt, typesFromParam(b.dataset.types),
                                           b.dataset.defs || ""));
  }
  window.addEventListener("popstate", (e) => {
    if (e.state && e.state.body) {
      restore(e.state);
    } else {
      navSeq++;
      runSeq++;  // a restore or run under way stops: the page is empty now
      clearPage();
    }
  });
  let resizeTimer = null;
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(refit, 100); });
  const params = new URLSearchParams(location.search);
  if (params.get("expr")) {
    const panels = {check: params.has("check"), hessian: params.has("hessian"), solver: params.has("solver")};
    if (params.has("check")) panels.seed = parseInt(params.get("check"), 10) || 0;
    load(params.get("expr"), params.get("wrt"), typesFromParam(params.get("types")), params.get("defs") || "", panels);
  } else {
    $("expr").focus();
  }
});
