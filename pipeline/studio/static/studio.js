// MyFlix Studio: the local executions, their DAG, steps and reports, and the model registry.
// Reads /studio/api/...; builds every element with the DOM (no innerHTML: record text is data),
// draws the DAG as SVG here, and polls while an execution is running. No network but this origin.
"use strict";

const API = "/studio/api";
const POLL_MS = 1500;
const main = document.getElementById("main");
const statusBox = document.getElementById("status");
const liveBadge = document.getElementById("live");
let timer = null;
let view = { token: 0 };

// --- small helpers ---------------------------------------------------------------------------
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
const SVG_NS = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children.flat(Infinity)) if (child) node.append(child);
  return node;
}
function fill(node, ...children) {
  node.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
}
function pill(text, kind) { return el("span", { class: `pill ${kind || text || "unknown"}`, text: text || "?" }); }
function num(value, digits = 3) {
  if (typeof value !== "number") return value === null || value === undefined ? "–" : String(value);
  return Number.isInteger(value) ? value.toLocaleString("en") : value.toFixed(digits);
}
function secs(value) { return typeof value === "number" ? `${value.toFixed(1)} s` : "–"; }
function when(iso) { return iso ? iso.replace("T", " ").slice(0, 19) : "–"; }
function short(text, n) { text = String(text ?? ""); return text.length > n ? text.slice(0, n - 1) + "…" : text; }
function showStatus(message, info) {
  statusBox.hidden = !message;
  statusBox.textContent = message || "";
  statusBox.className = info ? "status info" : "status";
}
async function api(path, options) {
  const response = await fetch(API + path, Object.assign({ credentials: "same-origin" }, options || {}));
  let body = null;
  try { body = await response.json(); } catch (err) { body = null; }
  if (!response.ok) {
    const message = body && body.Message ? body.Message : `${response.status} ${response.statusText}`;
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return body;
}
function setNav(which) {
  for (const id of ["nav-executions", "nav-registry"]) {
    document.getElementById(id).classList.toggle("active", id === which);
  }
}
function poll(fn, active) {
  clearTimeout(timer);
  liveBadge.hidden = !active;
  if (active) timer = setTimeout(fn, POLL_MS);
}
function isRunning(status) { return status === "Executing"; }

// --- the executions list -----------------------------------------------------------------------
async function showList(token) {
  setNav("nav-executions");
  let data;
  try { data = await api("/executions"); } catch (err) { showStatus(err.message); return; }
  if (token !== view.token) return;
  showStatus("");
  const rows = data.executions.map((e) => el("tr", {
      class: "clickable", "data-id": e.id, onclick: () => { location.hash = `#/executions/${e.id}`; } },
    el("td", {}, el("a", { href: `#/executions/${e.id}`, text: e.id })),
    el("td", {}, pill(e.status)),
    el("td", { text: when(e.start) }),
    el("td", { class: "num", text: secs(e.duration) }),
    el("td", { class: "chips" }, e.changed_parameters.map((p) => el("span", {
      title: `default ${p.default}`, text: `${p.name}=${short(p.value, 40)}` }))),
    el("td", { class: "num", text: e.chosen_k ?? "–" }),
    el("td", { class: "chips" }, e.gate.map((g) => el("span", {
      title: `${g.metric} ${g.op} ${g.threshold}`, class: g.passed === false ? "fail" : "",
      text: `${g.metric} ${num(g.value)}${g.passed === false ? " ✗" : ""}` })))));
  fill(main, 
    el("h1", {}, "Pipeline executions ", el("span", { class: "muted", text: `(${data.executions.length}, newest first)` })),
    data.executions.length ? el("table", { id: "executions" },
      el("thead", {}, el("tr", {}, ["Execution", "Status", "Started", "Duration", "Parameters changed from the defaults",
        "k", "Gate metrics"].map((h, i) => el("th", { class: i === 3 || i === 5 ? "num" : "", text: h })))),
      el("tbody", {}, rows))
      : el("p", { class: "panel", text: "No local executions yet: run `myflix run` (or `make run`); this page follows it." }));
  poll(() => route(token), true);
}

// --- one execution -----------------------------------------------------------------------------
const BOX_W = 176, BOX_H = 46, X_UNIT = 112, Y_UNIT = 70, PAD = 20;

function drawDag(dag, selected, onSelect) {
  const nodes = Object.fromEntries(dag.nodes.map((n) => [n.name, n]));
  const xs = dag.nodes.map((n) => n.x), ys = dag.nodes.map((n) => n.y);
  const minX = Math.min(...xs), maxX = Math.max(...xs), maxY = Math.max(...ys);
  const width = (maxX - minX) * X_UNIT + BOX_W + 2 * PAD, height = maxY * Y_UNIT + BOX_H + 2 * PAD;
  const cx = (n) => PAD + BOX_W / 2 + (n.x - minX) * X_UNIT, top = (n) => PAD + n.y * Y_UNIT;
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "dag", role: "img",
    "aria-label": "pipeline DAG" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))));
  for (const edge of dag.edges) {
    const a = nodes[edge.from], b = nodes[edge.to];
    if (!a || !b) continue;
    const x0 = cx(a), y0 = top(a) + BOX_H, x1 = cx(b), y1 = top(b);
    const bend = Math.max(22, (y1 - y0) / 2);
    const skipped = b.status === "NotTaken";
    root.append(svg("path", { class: `edge${skipped ? " not-taken" : ""}`, "marker-end": "url(#arrow)",
      d: `M${x0},${y0} C${x0},${y0 + bend} ${x1},${y1 - bend} ${x1},${y1 - 1}` }));
    if (edge.label) {
      root.append(svg("text", { class: `edge-label ${edge.label}`, x: (x0 + x1) / 2 + 6, y: (y0 + y1) / 2 + 4,
        text: edge.label }));
    }
  }
  for (const node of dag.nodes) {
    const x = cx(node) - BOX_W / 2, y = top(node);
    const bits = [node.type];
    if (node.duration !== null && node.status !== "NotRun" && node.status !== "NotTaken") bits.push(secs(node.duration));
    if (node.cache_hit) bits.push("cached");
    if (node.status === "NotTaken") bits.push("branch not taken");
    const group = svg("g", { class: `node st-${node.status}${node.name === selected ? " selected" : ""}`,
      "data-step": node.name, "data-status": node.status, tabindex: 0, role: "button",
      onclick: () => onSelect(node.name), onkeydown: (e) => { if (e.key === "Enter") onSelect(node.name); } },
      svg("title", { text: `${node.display_name} (${node.name}): ${node.status}\n${node.description}` }),
      svg("rect", { x, y, width: BOX_W, height: BOX_H, rx: 7 }),
      svg("rect", { x: x + 1, y: y + 1, width: 6, height: BOX_H - 2, rx: 3,
        class: `type-band type-${["Processing", "Training", "Condition", "RegisterModel", "Model", "Fail"].includes(node.type) ? node.type : "other"}` }),
      svg("text", { x: x + 14, y: y + 20, "font-weight": 700, text: short(node.display_name, 24) }),
      svg("text", { x: x + 14, y: y + 35, class: "sub", text: short(bits.join(" · "), 30) }));
    root.append(group);
  }
  return root;
}

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== "")
    .map(([k, v]) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v))]));
}

function gateTable(gate) {
  if (!gate || !gate.conditions.length) return el("p", { class: "muted", text: "no quality gate in this definition" });
  return el("table", { class: "gate" },
    el("thead", {}, el("tr", {}, ["Metric", "Value", "Must be", "Threshold (parameter)", ""].map((h) => el("th", { text: h })))),
    el("tbody", {}, gate.conditions.map((c) => el("tr", { "data-metric": c.metric },
      el("td", { text: c.metric }), el("td", { class: "num", text: num(c.value, 4) }), el("td", { text: c.op }),
      el("td", { text: `${num(c.threshold, 4)} (${c.threshold_parameter || "–"})` }),
      el("td", {}, c.passed === null ? pill("not evaluated", "unknown") : pill(c.passed ? "pass" : "fail"))))));
}

async function showStep(executionId, stepName, box, token) {
  let step;
  try { step = await api(`/executions/${encodeURIComponent(executionId)}/steps/${encodeURIComponent(stepName)}`); }
  catch (err) { fill(box, el("p", { class: "failure", text: err.message })); return; }
  if (token !== view.token) return;
  const outputs = Object.entries(step.outputs || {}).map(([name, out]) => el("div", {},
    el("h3", {}, `${name} `, el("span", { class: "muted", text: typeof out.uri === "string" ? out.uri : JSON.stringify(out.uri) })),
    out.files.length ? el("ul", { class: "files" }, out.files.map((f) => el("li", {},
      el("a", { href: f.url, target: "_blank", rel: "noopener", text: f.name }),
      el("span", { class: "muted", text: ` ${num(f.size)} bytes` })))) : null));
  const params = Object.entries(step.parameters || {});
  fill(box, 
    el("h2", { id: "step-title" }, `${step.display_name} `, el("span", { class: "muted", text: `${step.name} · ${step.type}` })),
    step.description ? el("p", { class: "muted", text: step.description }) : null,
    kv([["status", pill(step.status)], ["started", when(step.start)], ["duration", secs(step.duration)],
      ["cache hit", step.cache_hit ? `from ${step.cache_hit.split("/").pop()}` : "no"],
      ["branch", step.branch ? `${step.branch.side} of ${step.branch.condition}` : null]]),
    step.failure_reason ? el("div", { class: "failure", id: "step-failure", text: step.failure_reason }) : null,
    step.gate ? [el("h3", { text: "Conditions" }), gateTable(step.gate)] : null,
    params.length ? [el("h3", { text: "Parameters" }), el("table", { class: "params" }, el("tbody", {},
      params.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: JSON.stringify(v) })))))] : null,
    outputs.length ? [el("h3", { text: "Outputs" }), outputs] : null,
    el("h3", { text: "Resolved arguments" }), el("pre", { id: "step-arguments", text: JSON.stringify(step.arguments, null, 2) }),
    step.log_tail ? [el("h3", { text: "Log tail" }), el("pre", { id: "step-log", text: step.log_tail })] : null);
}

function images(report) { return el("div", { class: "imgs" }, (report.pngs || []).map((p) =>
  el("a", { href: p.url, target: "_blank", rel: "noopener" }, el("img", { src: p.url, alt: p.name, "data-png": p.name })))); }

// The catalogue (every valid film, all published) and the training set (inside the fences).
function trainingNote(t) {
  if (!t) return null;
  const by = Object.entries(t.outside_by_rule || {}).filter(([, n]) => n).map(([r, n]) => `${num(n)} by ${r}`).join(", ");
  return el("p", { class: "training-note", id: "training-note",
    text: `Catalogue: ${num(t.catalogue)} films, all published. Training set: ${num(t.training)}; ` +
      `${num(t.outside)} outside the training fences (${by || "none"}).` });
}

// Viewers and ranking: who the run learnt from, the four methods' figures; simulated viewers say so.
function rankingPanel(prepared, ranking, evaluation) {
  const p = (prepared && prepared.data) || {};
  const simulated = p.simulated || (ranking && ranking.viewers === "simulated");
  const methods = (ranking && ranking.methods) || {};
  const gateInfo = (evaluation && evaluation.data && evaluation.data.ranking_gate) || {};
  const link = prepared
    ? el("a", { href: prepared.url, target: "_blank", rel: "noopener", class: "muted",
      text: "interactions.json" })
    : null;
  const note = "Measured on SIMULATED viewers (no real event yet): shows the loop runs; "
    + "not the model's quality, and never gated.";
  const columns = ["Method", `HR@${ranking && ranking.k}`, `NDCG@${ranking && ranking.k}`, "MRR", "Coverage",
    "Popular share"];
  const table = Object.keys(methods).length ? el("table", {},
    el("thead", {}, el("tr", {}, columns.map((h, i) => el("th", { class: i ? "num" : "", text: h })))),
    el("tbody", {}, Object.entries(methods).map(([name, m]) => el("tr", { "data-method": name },
      el("td", { text: name }),
      ...["hr", "ndcg", "mrr", "coverage", "popular_share"].map((key) =>
        el("td", { class: "num", text: num(m[key]) })))))) : null;
  const attrs = { class: "panel report", id: "report-ranking", "data-simulated": simulated ? "true" : "false" };
  return el("section", attrs,
    el("h2", {}, "Viewers and ranking ", simulated ? pill("simulated viewers", "unknown") : null, " ", link),
    simulated ? el("p", { class: "muted", text: note }) : null,
    kv([["source", p.source], ["interactions", num(p.interactions)], ["viewers", num(p.viewers)],
      ["films", num(p.films)], ["malformed rows", num(p.malformed_total)],
      ["unknown films", num(p.unknown_films)], ["forgotten", num(p.forgotten)],
      ["collaborative", p.collaborative], ["ranking gate", gateInfo.status]]),
    table);
}

function reportPanels(detail) {
  const r = detail.reports || {};
  const panels = [];
  const quality = r["quality.json"];
  if (quality && quality.data) {
    const rules = quality.data.rules || [];
    panels.push(el("section", { class: "panel report", id: "report-quality" },
      el("h2", {}, "Data quality ", el("a", { href: quality.url, target: "_blank", rel: "noopener", class: "muted", text: "quality.json" })),
      el("div", { class: "body" },
        trainingNote(quality.data.training),
        el("table", {}, el("thead", {}, el("tr", {}, ["Rule", "What it does", "Rows in", "Rows out", "Dropped"].map((h, i) =>
          el("th", { class: i > 1 ? "num" : "", text: h })))),
          el("tbody", {}, rules.map((rule) => el("tr", { class: rule.stage === "training" ? "training-rule" : "" },
            el("td", { text: rule.rule + (rule.stage === "training" ? " (training)" : "") }), el("td", { text: rule.description || "" }),
            el("td", { class: "num", text: num(rule.rows_in) }), el("td", { class: "num", text: num(rule.rows_out) }),
            el("td", { class: "num", text: num(rule.dropped) }))))),
        images(quality))));
  }
  const elbow = r["elbow.json"];
  if (elbow && elbow.data) {
    const e = elbow.data;
    panels.push(el("section", { class: "panel report", id: "report-elbow" },
      el("h2", {}, "Elbow ", el("a", { href: elbow.url, target: "_blank", rel: "noopener", class: "muted", text: "elbow.json" })),
      el("p", { text: `chosen k = ${e.chosen_k} (method ${e.method}, knee ${e.knee_k ?? "none"}, swept k = ${e.k_min}..${e.k_max} over ${num(e.n_movies)} movies)` }),
      images(elbow)));
  }
  const evaluation = r["evaluation.json"];
  if (evaluation && evaluation.data) {
    const v = evaluation.data, sizes = v.cluster_sizes || {};
    panels.push(el("section", { class: "panel report", id: "report-clusters" },
      el("h2", {}, "Clusters ", el("a", { href: evaluation.url, target: "_blank", rel: "noopener", class: "muted", text: "evaluation.json" })),
      kv([["k", v.k], ["silhouette", num(v.silhouette)], [`recall@${v.recall_k}`, num(v.recall_at_k)],
        ["cluster sizes", `${num(sizes.min)} – ${num(sizes.max)} (largest share ${num(sizes.max_share)}, gini ${num(sizes.gini)})`]]),
      images(evaluation)));
  }
  const prepared = r["interactions.json"];
  const ranking = evaluation && evaluation.data ? evaluation.data.ranking : null;
  if ((prepared && prepared.data) || ranking) panels.push(rankingPanel(prepared, ranking, evaluation));
  panels.push(el("section", { class: "panel report", id: "report-gate" },
    el("h2", {}, "Quality gate ", detail.gate_detail && detail.gate_detail.outcome
      ? pill(detail.gate_detail.outcome === "True" ? "pass" : "fail") : pill("not evaluated", "unknown")),
    gateTable(detail.gate_detail)));
  const drift = r["drift.json"];
  if (drift && drift.data) {
    const d = drift.data;
    const facts = [["baseline", d.baseline ? (d.baseline.arn || d.baseline.ModelPackageArn || JSON.stringify(d.baseline)) : "none"],
      ["status", d.status]];
    for (const key of ["similar_churn", "max_feature_psi", "adjusted_rand_index", "movies_added", "movies_removed"]) {
      if (key in d) facts.push([key, typeof d[key] === "object" ? JSON.stringify(d[key]) : num(d[key], 4)]);
    }
    panels.push(el("section", { class: "panel report", id: "report-drift" },
      el("h2", {}, "Drift and churn against production ", el("a", { href: drift.url, target: "_blank", rel: "noopener", class: "muted", text: "drift.json" })),
      kv(facts), images(drift)));
  }
  return el("div", { class: "reports" }, panels);
}

async function showExecution(id, stepName, token) {
  setNav("nav-executions");
  let detail;
  try { detail = await api(`/executions/${encodeURIComponent(id)}`); }
  catch (err) { showStatus(err.message); fill(main, el("p", {}, el("a", { href: "#/", text: "back to the executions" }))); poll(null, false); return; }
  if (token !== view.token) return;
  showStatus(detail.failure_reason ? `execution failed: ${detail.failure_reason}` : "");
  const select = (name) => { location.hash = `#/executions/${id}/steps/${name}`; };
  const stepBox = el("section", { class: "panel step", id: "step" },
    stepName ? el("p", { class: "muted", text: "loading the step…" })
      : el("p", { class: "muted", text: "Click a step of the DAG for its arguments, outputs and log." }));
  const legend = el("div", { class: "legend" }, ["Succeeded", "Executing", "Failed", "NotRun", "NotTaken"].map((s) => pill(s)));
  fill(main, 
    el("h1", {}, `Execution ${detail.id} `, pill(detail.status)),
    kv([["started", when(detail.start)], ["duration", secs(detail.duration)], ["chosen k", detail.chosen_k ?? "–"],
      ["parameters changed", detail.changed_parameters.map((p) => `${p.name}=${short(p.value, 48)}`).join(", ") || "none"]]),
    el("div", { class: "layout" },
      el("section", { class: "panel dag" }, drawDag(detail.dag, stepName, select), legend),
      stepBox),
    el("h2", { text: "Reports" }),
    reportPanels(detail));
  if (stepName) await showStep(id, stepName, stepBox, token);
  poll(() => route(token), isRunning(detail.status));
}

// --- the registry ------------------------------------------------------------------------------
async function decide(pkg, action, button) {
  const verb = action === "approve" ? "Approve" : "Reject";
  button.disabled = true;
  showStatus(`${verb} ${pkg.group}/${pkg.version}: ${action === "approve" ? "staging, smoke test, prod…" : "…"}`, true);
  try {
    const result = await api(`/registry/${encodeURIComponent(pkg.group)}/${pkg.version}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({}) });
    await showRegistry(view.token, result);
  } catch (err) {
    showStatus(`${verb} ${pkg.group}/${pkg.version} failed: ${err.message}`);
    button.disabled = false;
  }
}

async function showRegistry(token, lastResult) {
  setNav("nav-registry");
  poll(null, false);
  let data;
  try { data = await api("/registry"); } catch (err) { showStatus(err.message); return; }
  if (token !== view.token) return;
  showStatus(lastResult ? `${lastResult.package.arn}: ${lastResult.package.approval}; release ${lastResult.outcome}` : "", true);
  if (!lastResult) showStatus("");
  const metricNames = ["silhouette", "recall_at_10", "max_cluster_share", "max_feature_psi", "similar_churn"];
  const rows = data.packages.map((p) => el("tr", { "data-version": p.version, "data-group": p.group },
    el("td", { class: "num", text: p.version }), el("td", {}, pill(p.approval)),
    el("td", { text: when(p.created) }),
    el("td", {}, p.execution_id ? el("a", { href: `#/executions/${p.execution_id}`, text: p.execution_id }) : "–"),
    el("td", { class: "num", text: p.metrics.k ?? "–" }),
    metricNames.map((m) => el("td", { class: "num", text: num(p.metrics[m]) })),
    el("td", { class: "chips" }, p.serving.map((s) => el("span", { text: s }))),
    el("td", {},
      el("button", { class: "approve", disabled: p.approval === "Approved", onclick: (e) => decide(p, "approve", e.target), text: "Approve" }), " ",
      el("button", { class: "reject", disabled: p.approval === "Rejected", onclick: (e) => decide(p, "reject", e.target), text: "Reject" }))));
  const problems = data.problems || [];
  fill(main, 
    el("h1", { text: "Model registry" }),
    problems.length ? el("section", { class: "status", id: "registry-problems" },
      el("p", { text: `${problems.length} registry file(s) could not be read:` }),
      el("ul", {}, problems.map((p) => el("li", { text: p.error })))) : null,
    data.packages.length ? el("table", { id: "packages" },
      el("thead", {}, el("tr", {}, ["Version", "Approval", "Created", "Execution", "k", ...metricNames, "Serves", ""].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)) : el("p", { class: "panel", text: "No model packages yet: `myflix run` registers one." }),
    el("h2", { text: "Endpoints" }),
    data.endpoints.length ? el("table", { id: "endpoints" },
      el("thead", {}, el("tr", {}, ["Endpoint", "Status", "Serves version", "Smoke test", "Since"].map((h) => el("th", { text: h })))),
      el("tbody", {}, data.endpoints.map((e) => el("tr", { "data-endpoint": e.name },
        el("td", { text: e.name }), el("td", {}, pill(e.status)), el("td", { class: "num", text: e.version ?? "–" }),
        el("td", {}, e.smoke ? pill(e.smoke) : "–"), el("td", { text: when(e.since) })))))
      : el("p", { class: "muted", text: "No endpoint yet: approve a version to deploy it (staging, smoke test, prod)." }),
    lastResult && lastResult.log && lastResult.log.length
      ? el("section", { class: "result" }, el("h2", { text: "What the deployer did" }), el("pre", { id: "deploy-log", text: lastResult.log.join("\n") }))
      : null);
}

// --- routing -----------------------------------------------------------------------------------
function route(token) {
  if (token !== undefined && token !== view.token) return;
  if (token === undefined) view = { token: view.token + 1 };
  const current = view.token;
  const hash = location.hash.replace(/^#/, "") || "/";
  let match;
  if ((match = hash.match(/^\/executions\/([A-Za-z0-9-]+)(?:\/steps\/([A-Za-z0-9_-]+))?$/))) {
    return showExecution(match[1], match[2] || null, current);
  }
  if (hash === "/registry") return showRegistry(current);
  return showList(current);
}

window.addEventListener("hashchange", () => route());
route();
