// MyFlix Studio, 3 of 3 (after common.js and drawing.js): the views and the routing. The local
// executions (search, filter, compare), the run form, one execution (its DAG, a step's arguments,
// outputs and log, the reports; stop and retry) and the model registry (approve or reject with a
// comment; the endpoints). Reads /studio/api/... and polls while an execution is running; no network
// but this origin. Every element is built with the DOM (common.js): no innerHTML, record text is data.
"use strict";

// --- the executions list -----------------------------------------------------------------------
const listState = { q: "", status: "", selected: new Set() };

function matches(e) {
  if (listState.status && e.status !== listState.status) return false;
  const q = listState.q.trim().toLowerCase();
  if (!q) return true;
  const text = [e.id, e.name, e.status, e.chosen_k, ...e.changed_parameters.map((p) => `${p.name}=${p.value}`)]
    .join(" ").toLowerCase();
  return q.split(/\s+/).every((word) => text.includes(word));
}

function listToolbar(token) {
  const search = el("input", { id: "search", type: "search", placeholder: "search: id, name, k, parameter=value…",
    value: listState.q, "aria-label": "search executions",
    oninput: (e) => { listState.q = e.target.value; showList(token, true); } });
  const status = el("select", { id: "status-filter", "aria-label": "filter by status",
    onchange: (e) => { listState.status = e.target.value; showList(token, true); } },
    ["", "Executing", "Succeeded", "Failed", "Stopped"].map((s) => el("option", { value: s, selected: s === listState.status,
      text: s || "any status" })));
  const compare = el("button", { id: "compare", class: "primary", disabled: listState.selected.size < 2,
    onclick: () => { location.hash = `#/compare/${[...listState.selected].join(",")}`; } },
    "Compare selected");
  return el("div", { class: "toolbar", id: "list-toolbar" }, search, status, compare,
    el("a", { class: "button primary", id: "new-run", href: "#/run", text: "New execution" }));
}

async function showList(token, quick) {
  setNav("nav-executions");
  let data;
  try { data = quick && view.listData ? view.listData : await api("/executions"); }
  catch (err) { showStatus(err.message); return; }
  if (token !== view.token) return;
  view.listData = data;
  showStatus("");
  const shown = data.executions.filter(matches);
  const rows = shown.map((e) => el("tr", { "data-id": e.id },
    el("td", {}, el("input", { type: "checkbox", class: "pick", "aria-label": `select ${e.id} to compare`,
      checked: listState.selected.has(e.id),
      onchange: (ev) => { if (ev.target.checked) listState.selected.add(e.id); else listState.selected.delete(e.id);
        document.getElementById("compare").disabled = listState.selected.size < 2; } })),
    el("td", {}, el("a", { href: `#/executions/${e.id}`, text: e.id }),
      e.name && e.name !== `local-${e.id}` ? el("div", { class: "name", text: e.name }) : null),
    el("td", {}, pill(e.status)),
    el("td", { text: when(e.start) }),
    el("td", { class: "num", text: secs(e.duration) }),
    el("td", { class: "chips" }, e.changed_parameters.map((p) => el("span", {
      title: `default ${p.default}`, text: `${p.name}=${short(p.value, 40)}` }))),
    el("td", { class: "num", text: e.chosen_k ?? "–" }),
    el("td", { class: "chips" }, e.gate.map((g) => el("span", {
      title: `${g.metric} ${g.op} ${g.threshold}`, class: g.passed === false ? "fail" : "",
      text: `${g.metric} ${num(g.value)}${g.passed === false ? " ✗" : ""}` })))));
  const table = data.executions.length ? el("table", { id: "executions" },
      el("thead", {}, el("tr", {}, ["", "Execution", "Status", "Started", "Duration", "Parameters changed from the defaults",
        "k", "Gate metrics"].map((h, i) => el("th", { class: i === 4 || i === 6 ? "num" : "", text: h })))),
      el("tbody", {}, rows))
    : el("p", { class: "panel", text: "No local executions yet: start one (New execution) or run `myflix run`; this page follows it." });
  const wrap = document.getElementById("list-wrap");
  const count = el("span", { class: "muted", id: "list-count",
    text: `(${shown.length} of ${data.executions.length}, newest first)` });
  if (wrap && view.listToken === token) {
    fill(wrap, table);
    fill(document.getElementById("list-count-box"), count);
  } else {
    view.listToken = token;
    fill(main,
      el("h1", {}, "Pipeline executions ", el("span", { id: "list-count-box" }, count)),
      listToolbar(token),
      el("div", { id: "list-wrap" }, table));
  }
  if (!quick) poll(() => showList(token), true);
}

// --- starting an execution: the parameter form -------------------------------------------------
async function showRunForm(fromId, token) {
  setNav("nav-executions");
  poll(null, false);
  let form, source = null;
  try {
    form = await api("/parameters");
    if (fromId) source = await api(`/executions/${encodeURIComponent(fromId)}`);
  } catch (err) { showStatus(err.message); return; }
  if (token !== view.token) return;
  showStatus("");
  const given = source ? source.parameters : {};
  const inputs = {};
  const rows = form.parameters.map((p) => {
    const value = p.name in given ? given[p.name] : p.default;
    let input;
    if (p.type === "Boolean") input = el("input", { type: "checkbox", id: `param-${p.name}`, checked: value === true || value === "true" });
    else input = el("input", { type: p.type === "String" ? "text" : "number", step: p.type === "Integer" ? "1" : "any",
      id: `param-${p.name}`, value: value ?? "", placeholder: String(p.default ?? "") });
    inputs[p.name] = { input, spec: p };
    return el("tr", { "data-param": p.name },
      el("td", {}, el("label", { for: `param-${p.name}`, text: p.name })),
      el("td", {}, input),
      el("td", { class: "muted", text: p.type }),
      el("td", { class: "muted", text: `default ${p.default === "" ? "(empty)" : p.default}` }),
      el("td", { class: "help", text: p.help }));
  });
  const name = el("input", { type: "text", id: "display-name", placeholder: "e.g. k26-minvotes1000", maxlength: 82,
    value: source && source.name && !source.name.startsWith("local-") ? `${source.name}-again`.slice(0, 82) : "" });
  const submit = el("button", { type: "submit", class: "primary", id: "start-run", text: "Start execution" });
  const formEl = el("form", { id: "run-form", onsubmit: async (ev) => {
    ev.preventDefault();
    const parameters = {};
    for (const [key, { input, spec }] of Object.entries(inputs)) {
      const v = spec.type === "Boolean" ? input.checked : input.value;
      if (String(v) !== String(spec.default)) parameters[key] = v;
    }
    submit.disabled = true;
    try {
      const started = await api("/executions", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ parameters, display_name: name.value.trim() || null }) });
      startedHere.add(started.id);
      location.hash = `#/executions/${started.id}`;
    } catch (err) { showStatus(`not started: ${err.message}`); submit.disabled = false; }
  } },
    el("p", {}, el("label", { for: "display-name", text: "Display name " }), name),
    el("table", { class: "params", id: "param-table" },
      el("thead", {}, el("tr", {}, ["Parameter", "Value", "Type", "Default", "What it does"].map((h) => el("th", { text: h })))),
      el("tbody", {}, rows)),
    el("p", {}, submit, " ", el("span", { class: "muted",
      text: "Runs `myflix run --no-serve` with the values that differ from the defaults; steps with the same inputs are cache hits. The model it registers waits for approval in the registry." })));
  fill(main, el("h1", { text: source ? `New execution from ${source.id}` : "New execution" }), formEl);
}

// --- comparing executions ------------------------------------------------------------------------
async function showCompare(ids, token) {
  setNav("nav-executions");
  poll(null, false);
  let details;
  try { details = await Promise.all(ids.map((id) => api(`/executions/${encodeURIComponent(id)}`))); }
  catch (err) { showStatus(err.message); return; }
  if (token !== view.token) return;
  showStatus("");
  const names = [...new Set(details.flatMap((d) => Object.keys(d.parameters)))];
  const differ = names.filter((n) => new Set(details.map((d) => JSON.stringify(d.parameters[n]))).size > 1);
  const metrics = [...new Set(details.flatMap((d) => d.gate.map((g) => g.metric)))];
  const head = el("tr", {}, el("th", { text: "" }), details.map((d, i) => el("th", {},
    el("span", { class: `swatch s${i % 6}` }), el("a", { href: `#/executions/${d.id}`, text: d.id }),
    d.name && !d.name.startsWith("local-") ? el("div", { class: "name", text: d.name }) : null)));
  const row = (label, cells, cls) => el("tr", { class: cls || "" }, el("th", { text: label }), cells);
  const gateCell = (d, m) => {
    const g = d.gate.find((x) => x.metric === m);
    if (!g) return el("td", { text: "–" });
    return el("td", { class: `num${g.passed === false ? " fail" : ""}`,
      text: `${num(g.value, 4)}${g.passed === false ? " ✗" : ""}`, title: `${g.op} ${g.threshold}` });
  };
  const evaluation = (d) => ((d.reports || {})["evaluation.json"] || {}).data || {};
  const rows = [
    row("status", details.map((d) => el("td", {}, pill(d.status)))),
    row("duration", details.map((d) => el("td", { class: "num", text: secs(d.duration) }))),
    row("chosen k", details.map((d) => el("td", { class: "num", text: d.chosen_k ?? "–" })), "k-row"),
    row("gate", details.map((d) => el("td", {}, d.gate_outcome ? pill(d.gate_outcome === "True" ? "pass" : "fail") : "–"))),
    ...metrics.map((m) => row(m, details.map((d) => gateCell(d, m)), "metric-row")),
    row("movies", details.map((d) => el("td", { class: "num", text: num(evaluation(d).n_movies) }))),
    ...differ.map((n) => row(n, details.map((d) => el("td", { class: "differs", text: short(JSON.stringify(d.parameters[n]), 48) })), "param-row")),
  ];
  const series = details.map((d) => {
    const e = ((d.reports || {})["elbow.json"] || {}).data || {};
    return { id: d.id, k: e.k || [], inertia: e.inertia || [], chosen: e.chosen_k };
  });
  fill(main,
    el("h1", { text: `Comparing ${details.length} executions` }),
    el("table", { id: "compare-table" }, el("thead", {}, head), el("tbody", {}, rows)),
    el("p", { class: "muted", text: differ.length ? `parameters that differ: ${differ.join(", ")} (the others are the same)`
      : "every parameter is the same" }),
    el("h2", { text: "Elbow curves (a dot marks the k each chose)" }),
    el("section", { class: "panel" }, elbowChart(series)));
}

// --- one execution -----------------------------------------------------------------------------
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
    step.log_error ? el("div", { class: "log-error", id: "log-error" }, el("strong", { text: "The log says: " }), step.log_error) : null,
    logBox(step),
    step.gate ? [el("h3", { text: "Conditions" }), gateTable(step.gate)] : null,
    params.length ? [el("h3", { text: "Parameters" }), el("table", { class: "params" }, el("tbody", {},
      params.map(([k, v]) => el("tr", {}, el("td", { text: k }), el("td", { text: JSON.stringify(v) })))))] : null,
    outputs.length ? [el("h3", { text: "Outputs" }), outputs] : null,
    el("h3", { text: "Resolved arguments" }), el("pre", { id: "step-arguments", text: JSON.stringify(step.arguments, null, 2) }));
  const log = document.getElementById("step-log");
  if (log) {                                  // the end of the log, where the error is, in view
    const mark = log.querySelector(".err-line");
    log.scrollTop = mark ? Math.max(0, mark.offsetTop - log.clientHeight / 2) : log.scrollHeight;
  }
}

async function executionAction(id, action, button) {
  button.disabled = true;
  try {
    const result = await api(`/executions/${encodeURIComponent(id)}/${action}`, { method: "POST",
      headers: { "Content-Type": "application/json" }, body: "{}" });
    if (action === "retry") { startedHere.add(result.id); location.hash = `#/executions/${result.id}`; }
    else { showStatus(`stopping ${id}: the running step is stopped within a second`, true); route(); }
  } catch (err) { showStatus(`${action} ${id}: ${err.message}`); button.disabled = false; }
}

const startedHere = new Set();     // runs this page started: followed through /launch until recorded

async function showStarting(id, token, launch) {
  showStatus(launch.status === "Failed" ? `execution ${id} did not start: see the output below` : "", launch.status !== "Failed");
  fill(main, el("h1", {}, `Execution ${id} `, pill(launch.status === "Failed" ? "Failed" : "Starting", launch.status === "Failed" ? "Failed" : "Executing")),
    el("p", { class: "muted", text: "myflix run is checking the parameters, packing the code and building the definition; the DAG appears when the first step starts." }),
    el("pre", { id: "launch-output", text: launch.output || "…" }));
  poll(() => route(token), launch.status !== "Failed");
}

async function showExecution(id, stepName, token) {
  setNav("nav-executions");
  let detail;
  try {
    if (startedHere.has(id)) {
      const launch = await api(`/executions/${encodeURIComponent(id)}/launch`);
      if (launch.status !== "Recorded") return showStarting(id, token, launch);
      startedHere.delete(id);
    }
    detail = await api(`/executions/${encodeURIComponent(id)}`);
  } catch (err) {
    showStatus(err.message); fill(main, el("p", {}, el("a", { href: "#/", text: "back to the executions" })));
    poll(null, false); return;
  }
  if (token !== view.token) return;
  showStatus(detail.failure_summary ? `execution failed: ${detail.failure_summary}`
    : detail.failure_reason ? `execution ${detail.status === "Stopped" ? "stopped" : "failed"}: ${detail.failure_reason.replace(/^stopped: /, "")}` : "");
  const select = (name) => { location.hash = `#/executions/${id}/steps/${name}`; };
  const stepBox = el("section", { class: "panel step", id: "step" },
    stepName ? el("p", { class: "muted", text: "loading the step…" })
      : el("p", { class: "muted", text: "Click a step of the DAG for its arguments, outputs and log." }));
  const legend = el("div", { class: "legend" }, ["Succeeded", "Executing", "Failed", "NotRun", "NotTaken"].map((s) => pill(s)));
  const actions = el("div", { class: "toolbar" },
    detail.status === "Executing" ? el("button", { id: "stop", class: "reject", onclick: (e) => executionAction(id, "stop", e.target), text: "Stop" }) : null,
    ["Failed", "Stopped"].includes(detail.status) ? el("button", { id: "retry", class: "primary",
      title: "a new execution with the same parameters: the steps that succeeded are cache hits",
      onclick: (e) => executionAction(id, "retry", e.target), text: "Retry (resume from the cache)" }) : null,
    el("a", { class: "button", id: "edit-run", href: `#/run/${id}`, text: "New execution from these parameters" }));
  fill(main,
    el("h1", {}, `Execution ${detail.id} `, pill(detail.status),
      detail.name && !detail.name.startsWith("local-") ? el("span", { class: "name", text: ` ${detail.name}` }) : null),
    actions,
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
function confirmDecision(pkg, action) {
  // A decision needs a confirmation and its reason, recorded with who and when (SageMaker: ApprovalDescription)
  const verb = action === "approve" ? "Approve" : "Reject";
  const box = document.getElementById("decide");
  const comment = el("textarea", { id: "decision-comment", required: true, maxlength: 500, rows: 4,
    placeholder: action === "approve" ? "why it may serve: e.g. gate passed, churn 0.01 against v3, reviewed the clusters"
      : "why not: e.g. drift on runtimeMinutes, clusters too uneven" });
  const ok = el("button", { id: "decision-confirm", class: action === "approve" ? "approve" : "reject", type: "submit",
    text: `${verb} version ${pkg.version}` });
  const consequence = action === "approve"
    ? "Approving deploys it: staging endpoint, smoke test, then prod and the table the page serves."
    : (pkg.production ? "It is live on prod: rejecting it rolls prod back to the previous approved version."
      : "It will not be deployed.");
  fill(box, el("form", { method: "dialog", id: "decision-form", onsubmit: (ev) => {
      ev.preventDefault();
      if (!comment.value.trim()) { comment.focus(); return; }
      box.close();
      decide(pkg, action, comment.value.trim());
    } },
    el("h2", { text: `${verb} ${pkg.group} version ${pkg.version}?` }),
    el("p", { text: consequence }),
    el("label", { for: "decision-comment", text: "Comment (required, kept in the version's history)" }), comment,
    el("p", {}, ok, " ", el("button", { type: "button", id: "decision-cancel", onclick: () => box.close(), text: "Cancel" }))));
  box.showModal();
  comment.focus();
}

async function decide(pkg, action, comment) {
  const verb = action === "approve" ? "Approve" : "Reject";
  showStatus(`${verb} ${pkg.group}/${pkg.version}: ${action === "approve" ? "staging, smoke test, prod…" : "…"}`, true);
  try {
    const result = await api(`/registry/${encodeURIComponent(pkg.group)}/${pkg.version}/${action}`, {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ description: comment }) });
    await showRegistry(view.token, result);
  } catch (err) {
    showStatus(`${verb} ${pkg.group}/${pkg.version} failed: ${err.message}`);
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
  const prod = data.packages.find((p) => p.production);
  const rows = data.packages.flatMap((p) => [el("tr", { "data-version": p.version, "data-group": p.group },
    el("td", { class: "num", text: p.version }), el("td", {}, pill(p.approval), p.production ? el("span", { class: "prod", text: " prod" }) : null),
    el("td", { text: when(p.created) }),
    el("td", {}, p.execution_id ? el("a", { href: `#/executions/${p.execution_id}`, text: p.execution_id }) : "–"),
    el("td", { class: "num", text: p.metrics.k ?? "–" }),
    metricNames.map((m) => el("td", { class: "num", text: num(p.metrics[m]) })),
    el("td", { class: "chips" }, p.serving.map((s) => el("span", { text: s }))),
    el("td", {},
      el("button", { class: "approve", disabled: p.approval === "Approved", onclick: () => confirmDecision(p, "approve"), text: "Approve" }), " ",
      el("button", { class: "reject", disabled: p.approval === "Rejected", onclick: () => confirmDecision(p, "reject"), text: "Reject" }), " ",
      prod && !p.production && prod.execution_id && p.execution_id
        ? el("a", { class: "vs-prod", href: `#/compare/${p.execution_id},${prod.execution_id}`, text: "vs production" }) : null)),
    p.history.length ? el("tr", { class: "history", "data-history": p.version }, el("td", {}), el("td", { colspan: 12 },
      el("ul", { class: "history" }, p.history.map((h) => el("li", {}, pill(h.status), ` ${when(h.time)} by ${h.actor}: `,
        el("q", { text: h.comment || "(no comment)" })))))) : null]);
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
      el("thead", {}, el("tr", {}, ["Endpoint", "Status", "Serves version", "Smoke test", "Since", ""].map((h) => el("th", { text: h })))),
      el("tbody", {}, data.endpoints.map((e) => el("tr", { "data-endpoint": e.name },
        el("td", { text: e.name }), el("td", {}, pill(e.status)), el("td", { class: "num", text: e.version ?? "–" }),
        el("td", {}, e.smoke ? pill(e.smoke) : "–"), el("td", { text: when(e.since) }),
        el("td", { class: "note", text: e.note || "" })))))
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
  if ((match = hash.match(/^\/run(?:\/([A-Za-z0-9-]+))?$/))) return showRunForm(match[1] || null, current);
  if ((match = hash.match(/^\/compare\/([A-Za-z0-9,-]+)$/))) return showCompare(match[1].split(",").filter(Boolean).slice(0, 6), current);
  return showList(current);
}

window.addEventListener("hashchange", () => route());
route();