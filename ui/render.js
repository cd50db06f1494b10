// MyFlix page, 2 of 3 (after client.js, before app.js): words for a viewer and drawing.
// Names a kind of film from what its films share (genres, era; never its number or statistics),
// paints posters, cards, rows and the hero, and shows the status line and toasts. Holds no state:
// what a click does comes from app.js through `on` (open a film, play it). Shares window.MyFlix.draw.
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const on = { open: (id) => {}, play: (movie) => {} };   // set by app.js: a card or the hero clicked

  // --- messages: the status line (errors, hints) and a passing toast ------------------------------
  function showStatus(message) {
    const el = $("status");
    el.textContent = message;
    el.hidden = !message;
  }
  let toastTimer = null;
  function toast(message) {
    const el = $("toast");
    el.textContent = message; el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, 4000);
  }

  // --- words for a viewer -----------------------------------------------------------------------
  // A cluster's mean year in words: its decade, or the two decades it sits between ("1990s & 2000s")
  function decade(year) {
    if (!year) return "";
    const d = Math.floor(year / 10) * 10, part = year - d;
    if (part >= 7.5) return d + "s & " + (d + 10) + "s";
    if (part < 2.5) return (d - 10) + "s & " + d + "s";
    return d + "s";
  }
  function era(year) {   // finer, to tell two clusters apart: "early 1970s", "mid-1990s", "late 2000s"
    if (!year) return "";
    const d = Math.floor(year / 10) * 10, part = year - d;
    return (part < 3.4 ? "early " : part < 6.7 ? "mid-" : "late ") + d + "s";
  }
  function knownAs(votes) {
    if (votes >= 250000) return "Blockbuster";
    if (votes >= 25000) return "Well known";
    return "Hidden gem";
  }
  function joinWords(words) {
    return words.length <= 1 ? (words[0] || "") : words.slice(0, -1).join(", ") + " & " + words[words.length - 1];
  }
  // A cluster's name from what its films share: main genres and era ("Crime & Drama from the 1970s"),
  // never its number or its statistics. Names stay distinct: a third genre, then the finer era, then
  // the best-known film.
  function nameClusters(clusters) {
    const names = {}, used = new Set();
    for (const c of clusters) {
      const genres = (c.top_genres || []).map((g) => g.genre);
      const acclaimed = c.mean_rating != null && c.mean_rating >= 7.4 ? "Acclaimed " : "";
      const candidates = [
        acclaimed + joinWords(genres.slice(0, 2)) + " from the " + decade(c.mean_year),
        acclaimed + joinWords(genres.slice(0, 3)) + " from the " + decade(c.mean_year),
        acclaimed + joinWords(genres.slice(0, 3)) + " from the " + era(c.mean_year),
      ];
      let name = candidates.find((n) => !used.has(n));
      if (!name) {
        const example = (c.examples || [])[0];
        name = candidates[0] + (example ? ", like " + example.title : "");
      }
      used.add(name);
      names[c.cluster] = name;
    }
    return names;
  }

  function describe(f, known) {
    const words = { niche: "hidden gems", known: "well-known films", blockbuster: "blockbusters" };
    const what = words[known] || "films";
    return (f.genres.length ? joinWords(f.genres) + " " : "") + what + " from around " + f.startYear + ", about " +
      f.runtimeMinutes + " minutes";
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
  function paintPoster(el, movie, withTitle) {
    const h = hue(movie.id + movie.title);
    el.style.background = "linear-gradient(160deg, hsl(" + h + ",55%,38%) 0%, hsl(" + ((h + 50) % 360) +
      ",60%,16%) 70%, #0b0b0b 100%)";
    el.innerHTML = "";
    const ini = document.createElement("span");
    ini.className = "initials"; ini.textContent = initials(movie.title);
    ini.setAttribute("aria-hidden", "true");
    const rating = document.createElement("span");
    rating.className = "rating"; rating.textContent = movie.rating != null ? "\u2605 " + movie.rating.toFixed(1) : "";
    el.append(ini, rating);
    if (withTitle) {   // the big poster of the film's page; a card shows its title once, under the poster
      const title = document.createElement("span");
      title.className = "poster-title"; title.textContent = movie.title;
      el.append(title);
    }
  }
  function card(movie) {
    const el = document.createElement("a");
    el.className = "card"; el.dataset.id = movie.id;
    el.href = "#/movie/" + encodeURIComponent(movie.id);
    el.setAttribute("aria-label", movie.title);
    const poster = document.createElement("div");
    poster.className = "poster"; paintPoster(poster, movie, false);
    const info = document.createElement("div");
    info.className = "info";
    const t = document.createElement("div");
    t.className = "title"; t.textContent = movie.title;
    const m = document.createElement("div");
    m.className = "sub";
    m.textContent = [movie.year, (movie.genres || []).slice(0, 2).join(", ")].filter(Boolean).join(" \u00b7 ");
    info.append(t, m);
    el.append(poster, info);
    el.addEventListener("click", (e) => { e.preventDefault(); on.open(movie.id); });
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
  function rowSection(title, movies, id, level) {
    const section = document.createElement("section");
    section.className = "row-section";
    if (id) section.id = id;
    const h = document.createElement(level || "h2");
    h.textContent = title;
    const row = document.createElement("div");
    row.className = "row";
    fill(row, movies);
    section.append(h, row);
    return section;
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
    const play = document.createElement("button"); play.className = "primary"; play.textContent = "\u25b6 Play";
    play.addEventListener("click", () => on.play(movie));
    const more = document.createElement("button"); more.className = "ghost"; more.textContent = "More info";
    more.addEventListener("click", () => on.open(movie.id));
    actions.append(play, more);
    el.append(t, p, actions);
  }

  window.MyFlix = Object.assign(window.MyFlix || {}, { draw: {
    on, showStatus, toast, knownAs, joinWords, nameClusters, describe, paintPoster, card, fill, rowSection,
    hero,
  } });
})();
