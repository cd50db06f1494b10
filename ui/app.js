// MyFlix page, 3 of 3 (after client.js and render.js): the page's state, views, routes and actions.
// The home rows, the browse page (every kind of film, one per cluster), search, the film's own page
// (#/movie/tt...) with "More like this", likes, My list, recommendations (a row per liked film),
// "Describe a movie" and "Forget me". The API client and the viewer's events are client.js; the
// words and the drawing are render.js.
// Viewers never see the model's internals: no cluster numbers, no distances, no statistics.
(function () {
  "use strict";
  const { API, api, events, showApiChoice } = window.MyFlix.client;
  const { showStatus, toast, knownAs, joinWords, nameClusters, describe, paintPoster, card, fill, rowSection,
    hero } = window.MyFlix.draw;
  window.MyFlix.draw.on.open = goToMovie;
  window.MyFlix.draw.on.play = playMovie;
  const LIKED_KEY = "myflix.liked", LIST_KEY = "myflix.list";
  const $ = (id) => document.getElementById(id);
  const HOME_ROW_SIZE = 20, HOME_CLUSTER_ROWS = 6;
  // "How well known" in a viewer's words -> the vote count the model reads (demo data: median 7,700)
  const KNOWN_VOTES = { niche: 3000, known: 50000, blockbuster: 500000 };
  let liked = loadList(LIKED_KEY);
  let myList = loadList(LIST_KEY);
  let current = null;          // the film on its own page
  let view = null;             // "home" | "browse": what is drawn under the film's page
  let baseHash = "#/";         // the view to go back to when a film's page was opened by a link
  let search = { q: "", genre: "", offset: 0 };
  let health = null;
  let clusterNames = null;     // cluster id -> a name in a viewer's words
  let opening = null;          // the film whose page is being opened

  // --- views: home and browse ------------------------------------------------------------------
  async function loadHealth() {
    health = await api("/health");
    // "degraded": an older table is still served (the catalog names one that cannot be read)
    if (health.status !== "ok" && health.status !== "degraded") {
      throw new Error(health.message || "The MyFlix table is not available yet.");
    }
    fillGenres(health.genres || []);
    const rec = health.recommender;
    $("simulated-label").hidden = !(rec && rec.simulated === true);
  }
  async function clusterList() {
    const answer = await api("/clusters");
    if (!clusterNames) clusterNames = nameClusters(answer.clusters);
    return answer.clusters;
  }
  // Each row takes the first films no earlier row showed: a film is in at most one of the rows.
  function unseen(movies, shown, size) {
    const out = [];
    for (const m of movies) {
      if (out.length >= size) break;
      if (!shown.has(m.id)) { shown.add(m.id); out.push(m); }
    }
    return out;
  }
  function resetMain(pageTitle) {
    document.body.dataset.ready = "";
    showStatus("");
    $("results").hidden = true;
    $("rows").innerHTML = "";
    $("page-title").textContent = pageTitle || "";
    $("page-title").hidden = !pageTitle;
    $("hero").hidden = !!pageTitle;
  }
  async function home() {
    view = "home";
    resetMain("");
    try {
      await loadHealth();
      const wanted = 3 * HOME_ROW_SIZE;   // enough that a row is full after the earlier rows took theirs
      const genres = ["Action", "Comedy", "Drama", "Sci-Fi", "Horror", "Animation", "Romance", "Crime"]
        .filter((g) => (health.genres || []).includes(g)).slice(0, 4);
      const [popular, top, clusters, ...byGenre] = await Promise.all([
        api("/movies?limit=" + wanted), api("/movies?sort=rating&limit=" + wanted), clusterList(),
        ...genres.map((g) => api("/movies?genre=" + encodeURIComponent(g) + "&limit=" + wanted))]);
      const byCluster = await Promise.all(clusters.slice(0, HOME_CLUSTER_ROWS).map((c) =>
        api("/clusters/" + c.cluster + "/movies?limit=" + wanted)));
      if (view !== "home") return;
      const shown = new Set();
      if (popular.movies.length) hero(popular.movies[0]);
      const rows = $("rows");
      rows.append(rowSection("Popular on MyFlix", unseen(popular.movies, shown, HOME_ROW_SIZE), "row-popular"));
      rows.append(rowSection("Top rated", unseen(top.movies, shown, HOME_ROW_SIZE), "row-top"));
      genres.forEach((g, i) => {
        const movies = unseen(byGenre[i].movies, shown, HOME_ROW_SIZE);
        if (movies.length) rows.append(rowSection(g, movies, "row-genre-" + g.replace(/[^A-Za-z]/g, "")));
      });
      clusters.slice(0, HOME_CLUSTER_ROWS).forEach((c, i) => {
        const movies = unseen(byCluster[i].movies, shown, HOME_ROW_SIZE);
        if (movies.length) rows.append(rowSection(clusterNames[c.cluster], movies, "row-kind-" + i));
      });
      const more = document.createElement("a");
      more.href = "#/browse"; more.id = "browse-all"; more.className = "browse-all";
      more.textContent = "Browse all " + clusters.length + " kinds of film \u2192";
      rows.append(more);
    } catch (err) { showStatus(err.message); }
    document.body.dataset.ready = "1";   // every row drawn (the browser test waits for it)
  }
  async function browse() {
    view = "browse";
    resetMain("Browse every kind of film");
    try {
      await loadHealth();
      const clusters = await clusterList();
      const pages = await Promise.all(clusters.map((c) =>
        api("/clusters/" + c.cluster + "/movies?limit=" + HOME_ROW_SIZE)));
      if (view !== "browse") return;
      clusters.forEach((c, i) =>
        $("rows").append(rowSection(clusterNames[c.cluster], pages[i].movies, "kind-" + i)));
    } catch (err) { showStatus(err.message); }
    document.body.dataset.ready = "1";
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

  // --- routes: #/ home, #/browse, #/movie/tt... (a film's page over the view it was opened from) ---
  const MOVIE_ROUTE = /^#\/movie\/(tt\d{7,9})$/;
  async function route() {
    const hash = location.hash || "#/";
    const movie = hash.match(MOVIE_ROUTE);
    if (movie) {
      if (opening === movie[1]) return;   // popstate and hashchange both report one Back
      opening = movie[1];
      if (!view) await home();
      try {
        if (!current || current.id !== movie[1] || $("detail").hidden) await openMovie(movie[1]);
      } finally { opening = null; }
      return;
    }
    hideDetail();
    baseHash = hash === "#/browse" ? "#/browse" : "#/";
    const wanted = baseHash === "#/browse" ? "browse" : "home";
    if (wanted !== view) await (wanted === "browse" ? browse() : home());
  }
  function goToMovie(id) {
    const depth = history.state && history.state.myflix === "movie" ? history.state.depth + 1 : 1;
    history.pushState({ myflix: "movie", depth }, "", "#/movie/" + id);
    route();
  }
  function closeDetail() {
    // back over every film page opened from this view, as the Back button does one at a time
    if (history.state && history.state.myflix === "movie") history.go(-history.state.depth);
    else { history.replaceState(null, "", baseHash); route(); }   // opened from a link: show its view
  }
  function hideDetail() { $("detail").hidden = true; current = null; delete $("detail").dataset.movie; }
  window.addEventListener("popstate", route);
  window.addEventListener("hashchange", route);

  // --- search ---------------------------------------------------------------------------------
  async function runSearch(append) {
    const q = $("search").value.trim(), genre = $("genre-filter").value;
    if (!q && !genre) { $("results").hidden = true; $("hero").hidden = view !== "home"; return; }
    if (!append) search = { q, genre, offset: 0 };
    const qs = new URLSearchParams({ limit: "24", offset: String(search.offset) });
    if (q) qs.set("q", q);
    if (genre) qs.set("genre", genre);
    try {
      const page = await api("/movies?" + qs.toString());
      if ($("search").value.trim() !== q || $("genre-filter").value !== genre) return;   // typed on since
      showStatus("");
      $("results").hidden = false;
      $("hero").hidden = true;   // the results come first
      $("results-title").textContent = page.total + " result" + (page.total === 1 ? "" : "s") +
        (q ? " for \u201c" + q + "\u201d" : "") + (genre ? " in " + genre : "");
      const none = page.total === 0;
      $("results-empty").hidden = !none;
      if (none) {   // say which filter is on, and offer to drop it
        $("results-empty-text").textContent = "No film matches" + (q ? " \u201c" + q + "\u201d" : "") +
          (genre ? " with the genre filter \u201c" + genre + "\u201d on." : ".");
        $("results-clear-filter").hidden = !(genre && q);
        $("results-clear-filter").textContent = "Search all genres";
      }
      if (append) page.movies.forEach((m) => $("results-grid").append(card(m)));
      else fill($("results-grid"), page.movies, "");
      if (none) $("results-grid").innerHTML = "";
      search.offset += page.movies.length;
      $("results-more").hidden = search.offset >= page.total;
    } catch (err) { showStatus(err.message); }
  }
  let timer = null;
  $("search").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => runSearch(false), 250); });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); runSearch(false); });
  $("genre-filter").addEventListener("change", () => runSearch(false));
  $("results-more").addEventListener("click", () => runSearch(true));
  $("results-clear-filter").addEventListener("click", () => { $("genre-filter").value = ""; runSearch(false); });

  // --- a film's page ---------------------------------------------------------------------------
  async function openMovie(id) {
    try {
      const movie = await api("/movies/" + encodeURIComponent(id));
      if (location.hash !== "#/movie/" + id) return;   // navigated away meanwhile
      current = movie;
      delete $("detail").dataset.movie;
      $("detail-title").textContent = movie.title;
      $("detail-meta").innerHTML = "";
      const star = document.createElement("span"); star.className = "star";
      star.textContent = movie.rating != null ? "\u2605 " + movie.rating.toFixed(1) : "";
      $("detail-meta").append(star, document.createTextNode(
        "  " + [movie.year, movie.runtime ? movie.runtime + " min" : "", knownAs(movie.votes)]
          .filter(Boolean).join("  \u00b7  ")));
      $("detail-genres").innerHTML = "";
      (movie.genres || []).forEach((g) => { const s = document.createElement("span"); s.textContent = g; $("detail-genres").append(s); });
      paintPoster($("detail-poster"), movie, true);
      updateButtons();
      $("similar").innerHTML = "<p class='empty'>Loading\u2026</p>";
      $("detail").hidden = false;
      $("detail").scrollTop = 0;
      track("view", movie.id);
      const similar = await api("/movies/" + encodeURIComponent(id) + "/similar?limit=12");
      if (!current || current.id !== id) return;
      fill($("similar"), similar.similar, "No similar movies.");
      $("detail").dataset.movie = id;   // drawn whole (the browser test waits for it)
    } catch (err) { showStatus(err.message); }
  }
  function playMovie(movie) {
    track("play", movie.id);
    toast("\u25b6 Playing \u201c" + movie.title + "\u201d (a demo: MyFlix has no video)");
  }
  function brief(movie) {
    return { id: movie.id, title: movie.title, year: movie.year, genres: movie.genres, rating: movie.rating };
  }
  function toggle(list, movie) {
    const i = list.findIndex((m) => m.id === movie.id);
    if (i >= 0) { list.splice(i, 1); return false; }
    list.push(brief(movie)); return true;
  }
  $("detail-close").addEventListener("click", closeDetail);
  $("detail-play").addEventListener("click", () => { if (current) playMovie(current); });
  $("detail-like").addEventListener("click", () => {
    if (!current) return;
    track(toggle(liked, current) ? "like" : "unlike", current.id);
    saveLists(); updateButtons();
  });
  $("detail-list").addEventListener("click", () => {
    if (!current) return;
    track(toggle(myList, current) ? "list_add" : "list_remove", current.id);
    saveLists(); updateButtons();
  });
  $("detail-recommend").addEventListener("click", async () => { closeDetail(); await recommendLiked(); });
  function updateButtons() {
    const isLiked = current && liked.some((m) => m.id === current.id);
    $("detail-like").textContent = isLiked ? "\u2665 Liked" : "\u2661 Like";
    $("detail-like").classList.toggle("on", !!isLiked);
    const listed = current && myList.some((m) => m.id === current.id);
    $("detail-list").textContent = listed ? "\u2713 In my list" : "+ My list";
    $("detail-list").classList.toggle("on", !!listed);
  }

  // --- likes, My list and recommendations -------------------------------------------------------
  function loadList(key) {
    try {
      const value = JSON.parse(localStorage.getItem(key) || "[]");
      if (!Array.isArray(value)) return [];
      return value.filter((m) => m && typeof m.id === "string" && typeof m.title === "string");
    } catch (err) { return []; }
  }
  function saveLists() {
    try {
      localStorage.setItem(LIKED_KEY, JSON.stringify(liked));
      localStorage.setItem(LIST_KEY, JSON.stringify(myList));
    } catch (err) { /* private mode: keep in memory */ }
    const ids = new Set([...liked, ...myList].map((m) => m.id));
    $("liked-count").textContent = String(ids.size);
  }
  function showRecommended(title, groups) {
    $("recommended-title").textContent = title;
    const box = $("recommended-rows");
    box.innerHTML = "";
    groups.forEach((g, i) => box.append(rowSection(g.title, g.movies, "recommended-" + i, "h3")));
    $("recommended").hidden = false;
    // scroll-margin-top (style.css) keeps the heading below the sticky header
    $("recommended").scrollIntoView({ block: "start" });
  }
  // A row per liked film, from each item's reason.because; one row when the API gives no reasons.
  function groupByReason(movies, likedMovies) {
    const titleOf = {};
    likedMovies.forEach((m) => { titleOf[m.id] = m.title; });
    if (!movies.length || !movies.every((m) => m.reason && m.reason.because && titleOf[m.reason.because])) {
      const names = likedMovies.slice(0, 3).map((m) => m.title);
      return [{ title: "Because you liked " + joinWords(names) +
        (likedMovies.length > 3 ? " and " + (likedMovies.length - 3) + " more" : ""), movies }];
    }
    const groups = new Map();
    likedMovies.forEach((m) => groups.set(m.id, []));
    movies.forEach((m) => groups.get(m.reason.because).push(m));
    return Array.from(groups, ([id, list]) => ({ title: "Because you liked " + titleOf[id], movies: list }))
      .filter((g) => g.movies.length);
  }
  async function recommendLiked() {
    if (!liked.length) {
      showStatus("Open a film and press \u201cLike\u201d first: recommendations start from what you liked.");
      return;
    }
    try {
      const answer = await api("/recommendations", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ liked: liked.map((m) => m.id), limit: Math.min(100, 12 * liked.length) }) });
      showStatus("");
      $("liked-panel").hidden = true;
      showRecommended("Recommended for you", groupByReason(answer.movies, answer.liked || liked));
    } catch (err) { showStatus(err.message); }
  }
  function drawMyList() {
    fill($("list-grid"), myList, "Nothing saved yet: open a film and press \u201c+ My list\u201d.");
    fill($("liked-grid"), liked, "No likes yet: open a film and press \u201cLike\u201d.");
    $("viewer-id").textContent = events.viewer();
  }
  $("nav-liked").addEventListener("click", (e) => {
    e.preventDefault(); drawMyList();
    $("forget-result").hidden = true; $("liked-panel").hidden = false;
  });
  $("liked-close").addEventListener("click", () => { $("liked-panel").hidden = true; });
  $("liked-recommend").addEventListener("click", recommendLiked);
  $("liked-clear").addEventListener("click", () => {
    liked.forEach((m) => track("unlike", m.id));
    liked = []; saveLists(); drawMyList();
  });
  $("forget-me").addEventListener("click", async () => {
    const message = await events.forget();
    liked = []; myList = []; saveLists(); drawMyList();
    $("recommended").hidden = true;
    $("forget-result").textContent = message;
    $("forget-result").hidden = false;
  });

  // --- "Describe a movie" -------------------------------------------------------------------------
  $("nav-taste").addEventListener("click", (e) => { e.preventDefault(); $("taste-panel").hidden = false; });
  $("taste-close").addEventListener("click", () => { $("taste-panel").hidden = true; });
  $("taste-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const form = e.target;
    const features = {};
    ["startYear", "runtimeMinutes", "averageRating"].forEach((n) => {
      features[n] = Number(form.elements[n].value);
    });
    features.numVotes = KNOWN_VOTES[form.elements.known.value] || KNOWN_VOTES.known;
    features.genres = Array.from($("taste-genres").querySelectorAll("input:checked")).map((c) => c.value);
    try {
      const answer = await api("/recommendations", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ features, limit: 20 }) });
      showStatus("");
      $("taste-panel").hidden = true;
      showRecommended("Films like the one you described",
        [{ title: describe(features, form.elements.known.value), movies: answer.movies }]);
    } catch (err) { showStatus(err.message); }
  });

  function track(event, tconst) { events.add(event, tconst); }

  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape") return;
    if (!$("detail").hidden) closeDetail();
    ["liked-panel", "taste-panel"].forEach((id) => { $(id).hidden = true; });
  });
  function clearSearch() {
    $("search").value = ""; $("genre-filter").value = ""; $("results").hidden = true;
    $("hero").hidden = view !== "home";
  }
  ["home", "nav-home", "nav-browse"].forEach((id) => $(id).addEventListener("click", clearSearch));
  $("api-link").href = (API || location.origin) + "/openapi.json";   // API is checked above: http(s) or ""
  showApiChoice();
  saveLists();
  route();
})();
