// MyFlix Studio, 1 of 3 (loaded first): what every view shares. The page's constants and state (the
// view token that drops a stale answer, the poll timer), building elements with the DOM (el, svg, fill:
// no innerHTML, record text is data), the formats (numbers, seconds, times, pills, key/value lists),
// the status line, fetch over /studio/api and polling while an execution runs. Classic scripts: the
// names below are shared with drawing.js and studio.js (all three are loaded with defer, in order).
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

function kv(pairs) {
  return el("dl", { class: "kv" }, pairs.filter((p) => p[1] !== null && p[1] !== undefined && p[1] !== "")
    .map(([k, v]) => [el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(v))]));
}
