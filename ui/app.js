// MyFlix page logic: calls the MyFlix API (base URL from config.js or ?api=) and draws rows, search,
// the detail panel with "More like this", the liked list and the recommendation flows.
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const apiChoice = chooseApi(params.get("api"), window.MYFLIX_CONFIG && window.MYFLIX_CONFIG.apiBase);
  const API = apiChoice.base;   // "" (this page's origin) or a checked http(s) URL without a trailing slash
  const LIKED_KEY = "myflix.liked";
  const $ = (id) => document.getElementById(id);
  let liked = loadLiked();
  let current = null;          // the movie in the detail panel
  let search = { q: "", genre: "", offset: 0 };

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
  function showStatus(message) {
    const el = $("status");
    el.textContent = message;
    el.hidden = !message;
  }

  // --- drawing --------------------------------------------------------------------------------
  function hue(text) {
    let h = 0;
    for (let i = 0; i < text.length; i++) h = (h * 31 + text.charCodeAt(i)) >>> 0;
    return h % 360;
  }
  function initials(title) {
    return title.split(/\s+/).filter((w) => /[A-Za-z0-9]/.test(w[0] || "")).slice(0, 2).map((w) => w[0].toUpperCase()).join("");
  }
  function paintPoster(el, movie) {
    const h = hue(movie.id + movie.title);
    el.style.background = "linear-gradient(160deg, hsl(" + h + ",55%,38%) 0%, hsl(" + ((h + 50) % 360) +
      ",60%,16%) 70%, #0b0b0b 100%)";
    el.innerHTML = "";
    const ini = document.createElement("span");
    ini.className = "initials"; ini.textContent = initials(movie.title);
    const rating = document.createElement("span");
    rating.className = "rating"; rating.textContent = movie.rating != null ? "\u2605 " + movie.rating.toFixed(1) : "";
    const title = document.createElement("span");
    title.textContent = movie.title;
    el.append(ini, rating, title);
  }
  function card(movie) {
    const el = document.createElement("div");
    el.className = "card"; el.tabIndex = 0; el.dataset.id = movie.id;
    el.setAttribute("role", "button"); el.setAttribute("aria-label", movie.title);
    const poster = document.createElement("div");
    poster.className = "poster"; paintPoster(poster, movie);
    const info = document.createElement("div");
    info.className = "info";
    const t = document.createElement("div");
    t.className = "title"; t.textContent = movie.title;
    const m = document.createElement("div");
    m.textContent = [movie.year, (movie.genres || []).slice(0, 2).join(", ")].filter(Boolean).join(" \u00b7 ");
    info.append(t, m);
    el.append(poster, info);
    el.addEventListener("click", () => openMovie(movie.id));
    el.addEventListener("keydown", (e) => { if (e.key === "Enter") openMovie(movie.id); });
    return el;
  }
  function fill(container, movies, emptyText) {
    container.innerHTML = "";
    if (!movies.length) {
      const p = document.createElement("p");
      p.className = "empty"; p.textContent = emptyText || "Nothing here.";
      container.append(p);
      return;
    }
    movies.forEach((m) => container.append(card(m)));
  }
  function addRow(title, subtitle, movies, id) {
    const section = document.createElement("section");
    section.className = "row-section";
    if (id) section.id = id;
    const h = document.createElement("h2");
    h.textContent = title + " ";
    if (subtitle) { const s = document.createElement("span"); s.className = "muted"; s.textContent = subtitle; h.append(s); }
    const row = document.createElement("div");
    row.className = "row";
    fill(row, movies);
    section.append(h, row);
    $("rows").append(section);
  }
  function hero(movie) {
    const el = $("hero");
    const h = hue(movie.id + movie.title);
    el.style.background = "linear-gradient(90deg, rgba(0,0,0,.85) 0%, rgba(0,0,0,.2) 60%, #141414 100%), " +
      "linear-gradient(160deg, hsl(" + h + ",50%,30%), #141414)";
    el.innerHTML = "";
    const t = document.createElement("h1"); t.textContent = movie.title;
    const p = document.createElement("p");
    p.textContent = [movie.year, movie.runtime ? movie.runtime + " min" : "", (movie.genres || []).join(", "),
      movie.rating != null ? "\u2605 " + movie.rating.toFixed(1) : ""].filter(Boolean).join("  \u00b7  ");
    const actions = document.createElement("div"); actions.className = "actions";
    const more = document.createElement("button"); more.className = "primary"; more.textContent = "More info";
    more.addEventListener("click", () => openMovie(movie.id));
    actions.append(more);
    el.append(t, p, actions);
  }

  // --- home: rows by popularity, rating, genre and cluster --------------------------------------
  async function home() {
    document.body.dataset.ready = "";
    showStatus("");
    $("results").hidden = true;
    $("rows").innerHTML = "";
    let health;
    try {
      health = await api("/health");
    } catch (err) { showStatus(err.message); return; }
    if (health.status !== "ok" && health.status !== "degraded") { showStatus(health.message || "The MyFlix table is not available yet."); return; }
    fillGenres(health.genres || []);
    try {
      const popular = await api("/movies?limit=20");
      if (popular.movies.length) hero(popular.movies[0]);
      addRow("Popular on MyFlix", "", popular.movies, "row-popular");
      const top = await api("/movies?sort=rating&limit=20");
      addRow("Top rated", "", top.movies, "row-top");
      const genres = ["Action", "Comedy", "Drama", "Sci-Fi", "Horror", "Animation", "Romance", "Crime"]
        .filter((g) => (health.genres || []).includes(g)).slice(0, 5);
      for (const g of genres) {
        const page = await api("/movies?genre=" + encodeURIComponent(g) + "&limit=20");
        if (page.movies.length) addRow(g, "", page.movies);
      }
      const clusters = await api("/clusters");
      for (const c of clusters.clusters.slice(0, 12)) {
        const page = await api("/clusters/" + c.cluster + "/movies?limit=20");
        const label = c.top_genres.map((g) => g.genre).join(" \u00b7 ") || "Mixed";
        addRow("Cluster " + c.cluster + ": " + label, c.size + " movies, around " + Math.round(c.mean_year || 0) +
          ", \u2605 " + (c.mean_rating || 0).toFixed(1), page.movies, "row-cluster-" + c.cluster);
      }
    } catch (err) { showStatus(err.message); }
    document.body.dataset.ready = "1";   // every row drawn (the browser test waits for it)
  }
  function fillGenres(genres) {
    const sel = $("genre-filter");
    if (sel.options.length > 1) return;
    genres.forEach((g) => { const o = document.createElement("option"); o.value = g; o.textContent = g; sel.append(o); });
    const box = $("taste-genres");
    genres.forEach((g) => {
      const l = document.createElement("label");
      const c = document.createElement("input"); c.type = "checkbox"; c.value = g;
      l.append(c, document.createTextNode(" " + g));
      box.append(l);
    });
  }

  // --- search ---------------------------------------------------------------------------------
  async function runSearch(append) {
    const q = $("search").value.trim(), genre = $("genre-filter").value;
    if (!q && !genre) { $("results").hidden = true; return; }
    if (!append) search = { q, genre, offset: 0 };
    const qs = new URLSearchParams({ limit: "24", offset: String(search.offset) });
    if (q) qs.set("q", q);
    if (genre) qs.set("genre", genre);
    try {
      const page = await api("/movies?" + qs.toString());
      showStatus("");
      $("results").hidden = false;
      $("results-title").textContent = page.total + " result" + (page.total === 1 ? "" : "s") +
        (q ? " for \u201c" + q + "\u201d" : "") + (genre ? " in " + genre : "");
      if (append) page.movies.forEach((m) => $("results-grid").append(card(m)));
      else fill($("results-grid"), page.movies, "No movie matches.");
      search.offset += page.movies.length;
      $("results-more").hidden = search.offset >= page.total;
    } catch (err) { showStatus(err.message); }
  }
  let timer = null;
  $("search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => runSearch(false), 250); });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(false); });
  $("genre-filter").addEventListener("change", () => runSearch(false));
  $("results-more").addEventListener("click", () => runSearch(true));

  // --- detail panel ---------------------------------------------------------------------------
  async function openMovie(id) {
    try {
      const movie = await api("/movies/" + encodeURIComponent(id));
      current = movie;
      $("detail-title").textContent = movie.title;
      $("detail-meta").innerHTML = "";
      const star = document.createElement("span"); star.className = "star";
      star.textContent = movie.rating != null ? "\u2605 " + movie.rating.toFixed(1) : "";
      $("detail-meta").append(star, document.createTextNode(
        "  " + [movie.year, movie.runtime ? movie.runtime + " min" : "", movie.votes.toLocaleString() + " votes"]
          .filter(Boolean).join("  \u00b7  ")));
      $("detail-genres").innerHTML = "";
      (movie.genres || []).forEach((g) => { const s = document.createElement("span"); s.textContent = g; $("detail-genres").append(s); });
      $("detail-cluster").textContent = "Cluster " + movie.cluster + " \u00b7 " + movie.distance.toFixed(2) + " from its centre";
      paintPoster($("detail-poster"), movie);
      updateLikeButton();
      $("similar").innerHTML = "<p class='empty'>Loading\u2026</p>";
      $("detail").hidden = false;
      const similar = await api("/movies/" + encodeURIComponent(id) + "/similar?limit=12");
      fill($("similar"), similar.similar, "No similar movies.");
    } catch (err) { showStatus(err.message); }
  }
  $("detail-close").addEventListener("click", () => { $("detail").hidden = true; });
  $("detail-like").addEventListener("click", () => {
    if (!current) return;
    const i = liked.findIndex((m) => m.id === current.id);
    if (i >= 0) liked.splice(i, 1); else liked.push({ id: current.id, title: current.title, year: current.year,
      genres: current.genres, rating: current.rating });
    saveLiked(); updateLikeButton();
  });
  $("detail-recommend").addEventListener("click", () => { $("detail").hidden = true; recommendLiked(); });
  function updateLikeButton() {
    const on = current && liked.some((m) => m.id === current.id);
    $("detail-like").textContent = on ? "\u2665 In my list" : "\u2661 I liked this";
    $("detail-like").classList.toggle("liked", !!on);
  }

  // --- liked list and recommendations -----------------------------------------------------------
  function loadLiked() {
    try { return JSON.parse(localStorage.getItem(LIKED_KEY) || "[]"); } catch (err) { return []; }
  }
  function saveLiked() {
    try { localStorage.setItem(LIKED_KEY, JSON.stringify(liked)); } catch (err) { /* private mode: keep in memory */ }
    $("liked-count").textContent = String(liked.length);
  }
  async function recommendLiked() {
    if (!liked.length) { showStatus("Open a movie and press \u201cI liked this\u201d first: recommendations start from your list."); return; }
    try {
      const answer = await api("/recommendations", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ liked: liked.map((m) => m.id), limit: 20 }) });
      showStatus("");
      $("recommended-title").textContent = "Because you liked " + liked.slice(0, 3).map((m) => m.title).join(", ") +
        (liked.length > 3 ? " and " + (liked.length - 3) + " more" : "");
      fill($("recommended-row"), answer.movies);
      $("recommended").hidden = false;
      $("liked-panel").hidden = true;
      $("recommended").scrollIntoView({ behavior: "smooth" });
    } catch (err) { showStatus(err.message); }
  }
  $("nav-liked").addEventListener("click", (e) => {
    e.preventDefault();
    fill($("liked-grid"), liked, "Your list is empty: open a movie and press \u201cI liked this\u201d.");
    $("liked-panel").hidden = false;
  });
  $("liked-close").addEventListener("click", () => { $("liked-panel").hidden = true; });
  $("liked-recommend").addEventListener("click", recommendLiked);
  $("liked-clear").addEventListener("click", () => { liked = []; saveLiked(); fill($("liked-grid"), [], "Your list is empty."); });

  $("nav-taste").addEventListener("click", (e) => { e.preventDefault(); $("taste-panel").hidden = false; });
  $("taste-close").addEventListener("click", () => { $("taste-panel").hidden = true; });
  $("taste-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const features = {};
    ["startYear", "runtimeMinutes", "averageRating", "numVotes"].forEach((n) => { features[n] = Number(form.elements[n].value); });
    features.genres = Array.from($("taste-genres").querySelectorAll("input:checked")).map((c) => c.value);
    try {
      const answer = await api("/recommendations", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ features, limit: 20 }) });
      showStatus("");
      $("recommended-title").textContent = "Movies like the one you described (cluster " + answer.cluster + ")";
      fill($("recommended-row"), answer.movies);
      $("recommended").hidden = false;
      $("taste-panel").hidden = true;
      $("recommended").scrollIntoView({ behavior: "smooth" });
    } catch (err) { showStatus(err.message); }
  });

  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") ["detail", "liked-panel", "taste-panel"].forEach((id) => { $(id).hidden = true; });
  });
  $("home").addEventListener("click", (e) => { e.preventDefault(); $("search").value = ""; $("genre-filter").value = ""; home(); });
  $("nav-home").addEventListener("click", (e) => { e.preventDefault(); $("search").value = ""; $("genre-filter").value = ""; home(); });
  $("api-link").href = (API || location.origin) + "/openapi.json";   // API is checked above: http(s) or ""
  showApiChoice();
  saveLiked();
  home();
})();
