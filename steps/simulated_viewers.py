"""Simulated viewers for the demo, before any real viewer exists (pure: no I/O, seeded).

Used ONLY when a run has no collected events and no `interactions_uri` and the parameter
`simulated_viewers` is > 0 (`myflix run` sets it for the bundled demo; its default is 0). Every
id starts with `sim-` and every report says `"simulated": true`: what is measured on these
viewers shows that the loop works, never how good the recommendations are.

The model (docs/steps.md "Simulated viewers"): each viewer has 1-3 favourite genres (drawn by how
common each genre is in the catalogue) and an era (the year of a random catalogue film), and
watches 5 + Poisson(15) films, drawn without replacement with probability proportional to
    exp(2.5 * shared favourite genres - (year - era)^2 / (2 * 15^2)) * votes
(taste rises with genre match, falls with distance from the era, and popular films are found
more often). Each watched film is a `view`; then a `play` with probability 0.6, a `like` with
probability 0.3 + 0.2 * shared genres (capped at 0.9), a `list_add` with probability 0.2, and a
`rating` (the film's IMDb rating +- 1.5, clipped to 0..10) with probability 0.15; one like in
ten is taken back by an `unlike` a minute later. Events are spread over 60 days from 2026-01-01.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from steps import schema

START_EPOCH = 1_767_225_600        # 2026-01-01T00:00:00Z
SPAN_SECONDS = 60 * 86_400
ERA_SIGMA = 15.0
GENRE_BOOST = 2.5
POPULARITY_POWER = 1.0
MEAN_EXTRA_FILMS = 15
MIN_FILMS = 5
MODEL = ("1-3 favourite genres (by catalogue frequency) and an era per viewer; 5 + Poisson(15) films "
         "each, drawn with probability ~ exp(2.5 * shared genres - (year - era)^2 / 450) * votes; "
         "view always, play 0.6, like 0.3 + 0.2 * shared genres (max 0.9), list_add 0.2, rating 0.15 "
         "(IMDb rating +- 1.5), one like in ten undone")


def simulate(catalog: pd.DataFrame, n_viewers: int, seed: int) -> pd.DataFrame:
    """`n_viewers` simulated viewers' events over `catalog` (tconst, year, genres, votes, rating),
    as a frame in the interactions format (with event ids). Same inputs, same events."""
    rng = np.random.default_rng(seed)
    films = catalog.dropna(subset=["tconst"]).reset_index(drop=True)
    n_films = len(films)
    if n_viewers <= 0 or n_films == 0:
        return pd.DataFrame(columns=["viewer_id", "tconst", "event", "value", "timestamp", "event_id"])
    genre_lists = films["genres"].fillna("").astype(str).str.split(",")
    names = sorted({g for gs in genre_lists for g in gs if g})
    index = {g: i for i, g in enumerate(names)}
    member = np.zeros((n_films, max(len(names), 1)), dtype=np.float32)
    for row, gs in enumerate(genre_lists):
        for g in gs:
            if g:
                member[row, index[g]] = 1.0
    genre_share = member.sum(axis=0) / max(member.sum(), 1.0)
    years = pd.to_numeric(films["year"], errors="coerce").fillna(films["year"].median() if n_films else 2000)
    years = years.to_numpy(dtype=float)
    votes = pd.to_numeric(films["votes"], errors="coerce").fillna(0).to_numpy(float)
    log_pop = POPULARITY_POWER * np.log1p(votes)
    ratings = pd.to_numeric(films["rating"], errors="coerce").fillna(6.0).to_numpy(float)
    tconsts = films["tconst"].astype(str).to_numpy()
    out: dict[str, list] = {k: [] for k in ("viewer_id", "tconst", "event", "value", "timestamp", "event_id")}

    def add(viewer: str, film: int, event: str, value: float | None, stamp: int, n: int) -> None:
        out["viewer_id"].append(viewer)
        out["tconst"].append(tconsts[film])
        out["event"].append(event)
        out["value"].append(value)
        out["timestamp"].append(stamp)
        out["event_id"].append(f"{viewer}-{n}")

    for v in range(n_viewers):
        viewer = f"{schema.SIMULATED_VIEWER_PREFIX}{v + 1:05d}"
        n_fav = int(rng.integers(1, 4))
        favourites = rng.choice(len(names), size=min(n_fav, len(names)), replace=False,
                                p=genre_share if genre_share.sum() > 0 else None)
        era = years[int(rng.integers(n_films))]
        shared = member[:, favourites].sum(axis=1)
        logit = GENRE_BOOST * shared - (years - era) ** 2 / (2 * ERA_SIGMA ** 2) + log_pop
        # Gumbel top-k: films drawn without replacement with probability ~ exp(logit)
        n_watch = min(n_films, MIN_FILMS + int(rng.poisson(MEAN_EXTRA_FILMS)))
        keys = logit + rng.gumbel(size=n_films)
        watched = np.argpartition(-keys, n_watch - 1)[:n_watch]
        watched = watched[np.argsort(-keys[watched], kind="stable")]
        stamps = np.sort(START_EPOCH + rng.integers(0, SPAN_SECONDS, size=n_watch))
        n = 0
        for film, stamp in zip(watched, stamps):
            stamp = int(stamp)
            add(viewer, film, "view", None, stamp, n); n += 1  # noqa: E702
            if rng.random() < 0.6:
                add(viewer, film, "play", None, stamp + 30, n); n += 1  # noqa: E702
            if rng.random() < min(0.9, 0.3 + 0.2 * shared[film]):
                add(viewer, film, "like", None, stamp + 60, n); n += 1  # noqa: E702
                if rng.random() < 0.1:
                    add(viewer, film, "unlike", None, stamp + 120, n); n += 1  # noqa: E702
            if rng.random() < 0.2:
                add(viewer, film, "list_add", None, stamp + 90, n); n += 1  # noqa: E702
            if rng.random() < 0.15:
                value = float(np.clip(round(ratings[film] + rng.uniform(-1.5, 1.5)), 0, 10))
                add(viewer, film, "rating", value, stamp + 150, n); n += 1  # noqa: E702
    return pd.DataFrame(out)
