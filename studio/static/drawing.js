// MyFlix Studio, 2 of 3 (after common.js): the drawings. The pipeline DAG as SVG (edges routed between
// the steps' boxes), the elbow curves overlaid to compare executions, and an execution's report panels
// (data quality, elbow, clusters, viewers and ranking, the quality gate, drift) with their images and
// the step's log. Draws what it is given; fetches nothing.
"use strict";

// --- the DAG -----------------------------------------------------------------------------------
const BOX_W = 176, BOX_H = 46, X_UNIT = 112, Y_UNIT = 78, PAD = 20;

function drawDag(dag, selected, onSelect) {
  const nodes = Object.fromEntries(dag.nodes.map((n) => [n.name, n]));
  const xs = dag.nodes.map((n) => n.x).concat(dag.edges.flatMap((e) => (e.via || []).map((v) => v[0])));
  const ys = dag.nodes.map((n) => n.y);
  const minX = Math.min(...xs), maxX = Math.max(...xs), maxY = Math.max(...ys);
  const width = (maxX - minX) * X_UNIT + BOX_W + 2 * PAD, height = maxY * Y_UNIT + BOX_H + 2 * PAD;
  const px = (x) => PAD + BOX_W / 2 + (x - minX) * X_UNIT, rowTop = (row) => PAD + row * Y_UNIT;
  const cx = (n) => px(n.x), top = (n) => rowTop(n.y);
  const root = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, id: "dag", role: "img",
    "aria-label": "pipeline DAG" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
    markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow" }))));
  // Between two rows an edge is a curve inside the gap between them; across a row it runs straight
  // down the slot the layout kept free for it (edge.via): it never crosses a step's box.
  const hop = (x0, y0, x1, y1) => { const b = (y1 - y0) / 2; return ` C${x0},${y0 + b} ${x1},${y1 - b} ${x1},${y1}`; };
  for (const edge of dag.edges) {
    const a = nodes[edge.from], b = nodes[edge.to];
    if (!a || !b) continue;
    let x = cx(a), y = top(a) + BOX_H;
    let d = `M${x},${y}`;
    const first = [x, y];
    for (const [vx, row] of edge.via || []) {
      d += hop(x, y, px(vx), rowTop(row)) + ` L${px(vx)},${rowTop(row) + BOX_H}`;
      x = px(vx); y = rowTop(row) + BOX_H;
    }
    d += hop(x, y, cx(b), top(b) - 1);
    const skipped = b.status === "NotTaken";
    root.append(svg("path", { class: `edge${skipped ? " not-taken" : ""}`, "marker-end": "url(#arrow)", d,
      "data-from": edge.from, "data-to": edge.to }));
    if (edge.label) {
      const [nx, ny] = edge.via && edge.via.length ? [px(edge.via[0][0]), rowTop(edge.via[0][1])] : [cx(b), top(b)];
      root.append(svg("text", { class: `edge-label ${edge.label}`, x: (first[0] + nx) / 2 + 6, y: (first[1] + ny) / 2 + 4,
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

// --- comparing executions: the elbow curves ---------------------------------------------------
function elbowChart(series) {
  const W = 640, H = 320, L = 74, R = 16, T = 14, B = 36;
  const all = series.flatMap((s) => s.k.map((k, i) => [k, s.inertia[i]]));
  if (!all.length) return el("p", { class: "muted", text: "no elbow data" });
  const kMin = Math.min(...all.map((p) => p[0])), kMax = Math.max(...all.map((p) => p[0]));
  const vMin = Math.min(...all.map((p) => p[1])), vMax = Math.max(...all.map((p) => p[1]));
  const x = (k) => L + (kMax === kMin ? 0.5 : (k - kMin) / (kMax - kMin)) * (W - L - R);
  const y = (v) => T + (vMax === vMin ? 0.5 : 1 - (v - vMin) / (vMax - vMin)) * (H - T - B);
  const root = svg("svg", { width: W, height: H, viewBox: `0 0 ${W} ${H}`, id: "elbow-overlay", role: "img",
    "aria-label": "elbow curves overlaid" });
  root.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }),
    svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }),
    svg("text", { x: (L + W - R) / 2, y: H - 6, class: "axis-label", text: "k" }),
    svg("text", { x: 14, y: (T + H - B) / 2, class: "axis-label", transform: `rotate(-90 14 ${(T + H - B) / 2})`,
      text: "inertia" }));
  for (const k of [kMin, Math.round((kMin + kMax) / 2), kMax]) {
    root.append(svg("text", { x: x(k), y: H - B + 14, class: "tick", text: String(k) }));
  }
  for (const v of [vMin, vMax]) root.append(svg("text", { x: L - 4, y: y(v) + 4, class: "tick end", text: v.toPrecision(3) }));
  series.forEach((s, i) => {
    const d = s.k.map((k, j) => `${j ? "L" : "M"}${x(k).toFixed(1)},${y(s.inertia[j]).toFixed(1)}`).join(" ");
    root.append(svg("path", { d, class: `series s${i % 6}`, "data-execution": s.id }));
    const at = s.k.indexOf(s.chosen);
    if (at >= 0) root.append(svg("circle", { cx: x(s.chosen), cy: y(s.inertia[at]), r: 5, class: `chosen s${i % 6}` },
      svg("title", { text: `${s.id}: chosen k = ${s.chosen}` })));
  });
  return root;
}

// --- reports ------------------------------------------------------------------------------------
function gateTable(gate) {
  if (!gate || !gate.conditions.length) return el("p", { class: "muted", text: "no quality gate in this definition" });
  return el("table", { class: "gate" },
    el("thead", {}, el("tr", {}, ["Metric", "Value", "Must be", "Threshold (parameter)", ""].map((h) => el("th", { text: h })))),
    el("tbody", {}, gate.conditions.map((c) => el("tr", { "data-metric": c.metric },
      el("td", { text: c.metric }), el("td", { class: "num", text: num(c.value, 4) }), el("td", { text: c.op }),
      el("td", { text: `${num(c.threshold, 4)} (${c.threshold_parameter || "–"})` }),
      el("td", {}, c.passed === null ? pill("not evaluated", "unknown") : pill(c.passed ? "pass" : "fail"))))));
}

function logBox(step) {
  if (!step.log_tail) return null;
  const lines = step.log_tail.split("\n");
  const at = step.log_error ? lines.map((l) => l.trim()).lastIndexOf(step.log_error.trim()) : -1;
  const pre = el("pre", { id: "step-log" }, lines.map((line, i) =>
    i === at ? [el("span", { class: "err-line", text: line }), "\n"] : line + (i < lines.length - 1 ? "\n" : "")));
  return [el("h3", {}, "Log (last lines) ", step.log_url
    ? el("a", { href: step.log_url, target: "_blank", rel: "noopener", id: "full-log", text: "full log" }) : null), pre];
}

function images(report) { return el("div", { class: "imgs" }, (report.pngs || []).map((p) =>
  el("a", { href: p.url, target: "_blank", rel: "noopener", title: "click to enlarge",
    onclick: (ev) => { ev.preventDefault(); zoom(p); } },
    el("img", { src: p.url, alt: p.name, "data-png": p.name })))); }

function zoom(png) {                        // the report image at full size, over the page
  const box = document.getElementById("zoom");
  fill(box, el("img", { src: png.url, alt: png.name }),
    el("p", {}, el("a", { href: png.url, target: "_blank", rel: "noopener", text: `open ${png.name}` }), " · click or Esc to close"));
  box.onclick = () => box.close();
  box.showModal();
}

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
