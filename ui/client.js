// MyFlix page, 1 of 3 (loaded after config.js, before render.js and app.js): the API client.
// Which API (config.js or ?api=, only ever an http(s) URL, and the notice saying which), api() over
// fetch with errors a viewer can read, and the viewer's events (an anonymous id, batched, retried from
// a bounded local queue; "Forget me"). Shares window.MyFlix.client; draws nothing but the API notice.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const apiChoice = chooseApi(params.get("api"), window.MYFLIX_CONFIG && window.MYFLIX_CONFIG.apiBase);
  const API = apiChoice.base;   // "" (this page's origin) or a checked http(s) URL without a trailing slash
  const $ = (id) => document.getElementById(id);

  // --- which API: ?api= or config.js, only ever an http(s) URL ---------------------------------
  // Anything else (javascript:, data:, a relative path...) is ignored and the page says so: the
  // base goes into fetch() and the footer's href, and another host would get the visitor's list.
  function httpBase(raw) {
    let url;
    try { url = new URL(String(raw)); } catch (err) { return null; }
    if ((url.protocol !== "http:" && url.protocol !== "https:") || url.username || url.password) return null;
    return (url.origin + url.pathname).replace(/\/+$/, "");
  }
  function chooseApi(requested, configured) {
    let ignored = null;
    for (const [source, raw] of [["?api=", requested], ["config.js apiBase", configured]]) {
      if (raw == null || raw === "") continue;
      const base = httpBase(raw);
      if (base !== null) return { base, source, ignored };
      ignored = ignored || { source, raw: String(raw) };
    }
    return { base: "", source: "", ignored };
  }
  function showApiChoice() {
    const el = $("api-notice");
    const parts = [];
    if (apiChoice.ignored) {
      const raw = apiChoice.ignored.raw;
      parts.push("Ignored " + apiChoice.ignored.source + " " + JSON.stringify(raw.length > 60 ? raw.slice(0, 60) + "\u2026" : raw) +
        ": only http:// and https:// URLs are accepted.");
    }
    if (API && new URL(API).origin !== location.origin) {
      parts.push("This page talks to the MyFlix API at " + API + " (from " + apiChoice.source + "), not to " +
        location.origin + ": your list is sent there.");
    } else if (apiChoice.ignored) {
      parts.push("Using this page's own API (" + location.origin + ").");
    }
    el.textContent = parts.join(" ");
    el.hidden = !parts.length;
  }

  // --- API ------------------------------------------------------------------------------------
  async function api(path, options) {
    let response;
    try {
      response = await fetch(API + path, options);
    } catch (err) {
      throw new Error("The MyFlix API at " + (API || location.origin) + " is unreachable (" + err.message + ")");
    }
    let body = null;
    try { body = await response.json(); } catch (err) { /* not JSON: reported below */ }
    if (!response.ok) {
      throw new Error((body && (body.Message || body.message)) || ("HTTP " + response.status + " for " + path));
    }
    return body;
  }

  // --- viewer events (docs/CONTRACTS.md "Collected events"): anonymous id, batches, bounded queue -------
  const events = (function () {
    const VIEWER_KEY = "myflix.viewer", QUEUE_KEY = "myflix.events";
    const MAX_QUEUE = 500, BATCH = 100, FLUSH_MS = 10000, MAX_BACKOFF_MS = 300000;
    let queue = readQueue();
    let backoff = FLUSH_MS, nextTry = 0, sending = false;
    let routes = null;   // which event routes this API has (from its /openapi.json); null: not known yet

    function randomId(bytes) {
      const a = new Uint8Array(bytes);
      crypto.getRandomValues(a);
      return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join("");
    }
    function viewer() {
      let id = null;
      try { id = localStorage.getItem(VIEWER_KEY); } catch (err) { /* no storage */ }
      if (!id || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
        id = randomId(16);
        try { localStorage.setItem(VIEWER_KEY, id); } catch (err) { /* kept for this page only */ }
      }
      return id;
    }
    function readQueue() {
      try {
        const q = JSON.parse(localStorage.getItem(QUEUE_KEY) || "[]");
        return Array.isArray(q) ? q.slice(-MAX_QUEUE) : [];
      } catch (err) { return []; }
    }
    function saveQueue() {
      try { localStorage.setItem(QUEUE_KEY, JSON.stringify(queue)); } catch (err) { /* memory only */ }
    }
    function add(event, tconst) {
      queue.push({ event_id: randomId(12), viewer_id: viewer(), tconst, event, value: null,
        timestamp: Math.floor(Date.now() / 1000) });
      if (queue.length > MAX_QUEUE) queue.splice(0, queue.length - MAX_QUEUE);   // bounded: the oldest go
      saveQueue();
      if (queue.length >= BATCH) flush(false);
    }
    async function knowRoutes() {
      if (routes) return routes;
      // Ask the API what it serves rather than try: an API without /events answers 404, which the
      // browser logs as an error on every batch. Without the routes, events wait in the bounded queue.
      try {
        const doc = await api("/openapi.json");
        const paths = (doc && doc.paths) || {};
        routes = { events: !!(paths["/events"] && paths["/events"].post),
          forget: Object.keys(paths).some((p) => /^\/viewers\/\{[^}]+\}$/.test(p) && paths[p].delete) };
      } catch (err) { routes = null; }
      return routes || { events: false, forget: false };
    }
    async function flush(onHide) {
      if (sending || !queue.length || (!onHide && Date.now() < nextTry)) return;
      const known = await knowRoutes();
      if (!known.events) return;
      const batch = queue.slice(0, BATCH);
      sending = true;
      try {
        const response = await fetch(API + "/events", { method: "POST", keepalive: onHide,
          headers: { "Content-Type": "application/json" }, body: JSON.stringify({ events: batch }) });
        if (response.ok || response.status === 400 || response.status === 413) {
          // accepted (duplicates included), or refused for good: retrying the same batch cannot help
          const sent = new Set(batch.map((e) => e.event_id));
          queue = queue.filter((e) => !sent.has(e.event_id));
          saveQueue();
          backoff = FLUSH_MS; nextTry = 0;
        } else { retryLater(); }
      } catch (err) { retryLater(); }
      finally { sending = false; }
    }
    function retryLater() {
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
      nextTry = Date.now() + backoff;
    }
    async function forget() {
      const id = viewer();
      const known = await knowRoutes();
      let message = "Your likes, your list and your anonymous id are gone from this browser; ";
      if (known.forget) {
        try {
          const answer = await api("/viewers/" + encodeURIComponent(id), { method: "DELETE" });
          message += "MyFlix deleted the " + (answer.events_deleted || 0) + " event(s) it kept for you.";
        } catch (err) {
          return "MyFlix could not forget you just now (" + err.message + "); nothing was deleted: try again.";
        }
      } else {
        message += "this MyFlix API keeps no events, so nothing of yours was stored there.";
      }
      queue = []; saveQueue();
      try { localStorage.removeItem(VIEWER_KEY); } catch (err) { /* nothing kept */ }
      viewer();   // a new id from now on
      return message;
    }
    setInterval(() => flush(false), FLUSH_MS);
    // on page hide: the last batch leaves with keepalive (the page may be gone before the answer)
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "hidden") flush(true);
    });
    window.addEventListener("pagehide", () => flush(true));
    return { add, flush, forget, viewer, pending: () => queue.length };
  })();
  window.myflixEvents = { pending: events.pending, flush: () => events.flush(true) };   // for the browser test

  window.MyFlix = Object.assign(window.MyFlix || {}, { client: { API, api, events, showApiChoice } });
})();
