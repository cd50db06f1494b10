"""What each route does, minus HTTP: parameter checks, the current index, and the answers as dicts.

`Service` holds the index built from the published table. It loads the table on first use (the
Lambda's cold start), and at most every `reload_seconds` asks the catalog where the table is
(locally also at once whenever the catalog file was replaced: a release shows on the next request);
when the location has moved (a new execution published) it reads the new rows and swaps the
index in one assignment, so a request never sees half of each. Locally the catalog entry is a
file whose stat is looked at on every request, so a release shows at once. Every parameter is
checked here and a bad one raises `InvalidRequest` with what was wrong and what is allowed.

A features answer is paired with the table per request: the endpoint's answer names the digest
of the model that made it (`model_sha256`), the table the digest of the model it was built with
(`myflix_model_sha256`); when they differ the answer is refused (503 `ModelMismatch`) and the
catalog is asked again at once (a release is under way), so a model and a table of different
packages are never served together, whatever the reload interval.
"""
from __future__ import annotations

import math
import os
import sys
import threading
import time

import numpy as np

from chalicelib import config as cfg
from chalicelib import events
from chalicelib.checks import (
    check_features,
    check_known,
    choice_param,
    feature_genres,
    int_param,
    json_ints,
    text_param,
)
from chalicelib.endpoint import make_endpoint
from chalicelib.errors import EndpointUnavailable, InvalidRequest, TableUnavailable, UnknownItem, clip, clip_list
from chalicelib.index import SORTS, MovieIndex
from chalicelib.pairing import ModelMismatch, PairCheck
from chalicelib.tables import RecommenderFetch, get_table, local_catalog_path, read_rows

MAX_LIKED = 100
POPULAR_PRIOR = 1000       # the most-voted films: the hybrid's popularity prior (as steps/evaluate.py's)
MAX_QUERY = 200
# /health asks the catalog and the endpoint afresh: locally always (a stat and a small file), on
# AWS at most once a second (GetTable, DescribeEndpoint, ListTags), so a busy probe cannot flood them
HEALTH_MAX_AGE_AWS = 1.0


class Service:
    def __init__(self, settings: cfg.Settings | None = None, clock=time.monotonic):
        self.settings = settings or cfg.from_env()
        self.clock = clock
        self._lock = threading.Lock()
        self._index: MovieIndex | None = None
        self._ref = None
        self._checked_at = -math.inf
        self._last_error: str | None = None
        self._catalog_stat: tuple | None = None     # local mode: the catalog file's (inode, size, mtime)
        self._last_answer_digest: str | None = None
        self.loads = 0
        self.endpoint = make_endpoint(self.settings)
        self.pairing = PairCheck(self.settings, clock)
        self._sink: events.Sink | None = None

    # --- the index, loaded and refreshed --------------------------------------------------------
    def _catalog_signature(self) -> tuple | None:
        """Local mode: the catalog file's identity (a stat: cheap enough for every request)."""
        if not self.settings.local:
            return None
        try:
            st = os.stat(local_catalog_path(self.settings))
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _fresh(self, now: float, max_age: float | None) -> bool:
        limit = self.settings.reload_seconds
        if max_age is not None:
            limit = min(max_age, limit)
        return (self._index is not None and now - self._checked_at < limit
                and (not self.settings.local or self._catalog_signature() == self._catalog_stat))

    def index(self, max_age: float | None = None) -> MovieIndex:
        now = self.clock()
        if self._fresh(now, max_age):
            return self._index
        with self._lock:
            if self._fresh(now, max_age):
                return self._index
            try:
                signature = self._catalog_signature()
                ref = get_table(self.settings)
                self._catalog_stat = signature
                if self._index is None or ref.location != self._ref.location:
                    self._index = self._load(ref)
                    self._ref = ref
                    # the deployer moves the prod endpoint first, then the table: a new table
                    # means the endpoint's package must be read again, not taken from the cache
                    self.pairing.recheck()
                self._last_error = None
            except TableUnavailable as err:
                self._last_error = str(err)
                if self._index is None:
                    raise
                # keep serving the last good table; the catalog problem shows on /health
                print(f"myflix api: keeping the loaded table: {err}", file=sys.stderr)
            finally:
                self._checked_at = now
            return self._index

    def _load(self, ref) -> MovieIndex:
        started = time.perf_counter()
        recommender = RecommenderFetch(ref, self.settings)     # in the background, while the rows load
        frame, embeddings = read_rows(ref, self.settings)
        features = ref.features
        if features is not None and embeddings.shape[1] != len(features):
            raise TableUnavailable(f"the table's embeddings have {embeddings.shape[1]} values but its "
                                   f"myflix_features parameter lists {len(features)}: re-run the Publish step")
        index = MovieIndex.build(frame, embeddings, features, meta=ref.parameters)
        # the collaborative model released with this table: swapped in with it, never paired with another
        popular = index.ids[np.argsort(-index.votes, kind="stable")[:POPULAR_PRIOR]].tolist()
        index.recommender = recommender.result(popular)
        if not index.recommender.collaborative and ref.parameters.get("myflix_recommender"):
            print(f"myflix api: serving content + popularity only: {index.recommender.reason}",
                  file=sys.stderr)
        self.loads += 1
        skipped = f", skipped {index.skipped}" if index.skipped else ""
        print(f"myflix api: loaded {len(index)} movies in {len(index.cluster_ids)} clusters from {ref.location} "
              f"in {time.perf_counter() - started:.2f} s{skipped}", file=sys.stderr)
        return index

    def _look_again_soon(self) -> None:
        """Ask the catalog again within a second (not on every request: Glue would throttle a burst)."""
        self._checked_at = min(self._checked_at, self.clock() - self.settings.reload_seconds + 1.0)
        self.pairing.recheck()

    def recheck(self) -> None:
        """Look at the catalog and the endpoint again on the next request (a release just happened)."""
        self._checked_at = -math.inf
        self.pairing.recheck()

    def warm(self) -> None:
        """Load the table now if it is there (cold start); a missing table is reported on first use."""
        try:
            self.index()
        except TableUnavailable as err:
            print(f"myflix api: {err}", file=sys.stderr)

    # --- routes -------------------------------------------------------------------------------------
    def health(self) -> dict:
        max_age = HEALTH_MAX_AGE_AWS if not self.settings.local else 0.0
        try:
            index = self.index(max_age=max_age)
        except TableUnavailable as err:
            return {"status": "no table", "message": _without_paths(str(err), self.settings), "mode": self._mode()}
        params = index.meta
        pair = self.pairing.pair(params.get("myflix_model_package_arn"), params.get("myflix_model_sha256"),
                                 max_age=max_age)
        return {
            # degraded: the catalog names a table that cannot be loaded, so the last good one is served
            "status": "degraded" if self._last_error else "ok",
            "mode": self._mode(), "movies": len(index), "clusters": len(index.cluster_ids),
            "location": self._ref.location if self._ref else None,
            "execution_id": params.get("myflix_execution_id"),
            "model_package_arn": params.get("myflix_model_package_arn"),
            # the pair the features route needs: refused (503) while the two disagree
            "pair": {**pair.as_dict(self.settings.endpoint_name),
                     "last_answer_model_sha256": self._last_answer_digest},
            "skipped_rows": index.skipped,
            "catalog_error": _without_paths(self._last_error, self.settings) if self._last_error else None,
            "genres": index.genre_names,
            "recommender": _public(index.recommender.health(), self.settings),
        }

    def _mode(self) -> str:
        return "local" if self.settings.local else "aws"

    def _row(self, index: MovieIndex, movie_id: str) -> int:
        row = index.row_of(movie_id)
        if row is None:
            raise UnknownItem(f"no movie with id {clip(movie_id)} in the published table")
        return row

    def _page(self, index: MovieIndex, rows: np.ndarray, limit: int, offset: int) -> dict:
        page = rows[offset:offset + limit]
        return {"total": int(len(rows)), "limit": limit, "offset": offset,
                "movies": [index.movie(int(r)) for r in page]}

    def list_movies(self, params: dict) -> dict:
        check_known(params, ("q", "genre", "year_min", "year_max", "limit", "offset", "sort"))
        index = self.index()
        q = text_param(params, "q", MAX_QUERY)
        genre = choice_param(params, "genre", index.genre_names, None, "genre")
        year_min = int_param(params, "year_min", None, *cfg.YEAR_RANGE)
        year_max = int_param(params, "year_max", None, *cfg.YEAR_RANGE)
        limit = int_param(params, "limit", cfg.DEFAULT_LIMIT, 1, cfg.MAX_LIMIT)
        offset = int_param(params, "offset", 0, 0, cfg.MAX_OFFSET)
        sort = choice_param(params, "sort", SORTS, "votes", "sort")
        rows = index.filter_rows(q=q, genre=genre, year_min=year_min, year_max=year_max)
        return self._page(index, index.sort_rows(rows, sort, q), limit, offset)

    def get_movie(self, movie_id: str) -> dict:
        index = self.index()
        return index.movie(self._row(index, movie_id))

    def _hits(self, index: MovieIndex, hits) -> list[dict]:
        return [{**index.movie(h.row), "similarity_distance": round(h.distance, 6)} for h in hits]

    def similar(self, movie_id: str, params: dict) -> dict:
        check_known(params, ("limit", "nprobe"))
        index = self.index()
        row = self._row(index, movie_id)
        limit = int_param(params, "limit", cfg.DEFAULT_LIMIT, 1, cfg.MAX_LIMIT)
        nprobe = int_param(params, "nprobe", cfg.DEFAULT_NPROBE, 1, cfg.MAX_NPROBE)
        picks = index.recommender.hybrid.similar(index.ids[row], limit, content=_content(index, nprobe))
        return {"movie": index.movie(row), "nprobe": nprobe, "similar": _items(index, picks, query=row)}

    def clusters(self) -> dict:
        index = self.index()
        return {"k": len(index.cluster_ids),
                "clusters": [index.cluster_summary(b) for b in range(len(index.cluster_ids))]}

    def cluster_movies(self, cluster_id: str, params: dict) -> dict:
        check_known(params, ("limit", "offset", "sort"))
        index = self.index()
        cluster = int_param({"cluster id": cluster_id}, "cluster id", None, 0, cfg.MAX_CLUSTER_ID)
        if cluster not in index.block_of:
            raise UnknownItem(f"no cluster {cluster}; clusters are {[int(c) for c in index.cluster_ids]}")
        limit = int_param(params, "limit", cfg.DEFAULT_LIMIT, 1, cfg.MAX_LIMIT)
        offset = int_param(params, "offset", 0, 0, cfg.MAX_OFFSET)
        sort = choice_param(params, "sort", SORTS, "votes", "sort")
        rows = index.sort_rows(index.filter_rows(cluster=cluster), sort)
        return {"cluster": cluster, **self._page(index, rows, limit, offset)}

    def recommend(self, body, params: dict) -> dict:
        check_known(params, ("limit", "nprobe"))
        if not isinstance(body, dict):
            raise InvalidRequest('send a JSON object: {"viewer": "<viewer id>"}, '
                                 '{"liked": ["tt0133093", ...]} or {"features": {...}}')
        unknown = sorted(set(body) - {"viewer", "liked", "features", "limit", "nprobe"})
        if unknown:
            raise InvalidRequest(f"unknown field(s) {clip_list(unknown)}; send 'viewer' and/or 'liked', or "
                                 "'features' (and optionally 'limit', 'nprobe')")
        json_ints(body, ("limit", "nprobe"))
        # the query's values are checked even when the body's replace them
        limit = int_param(body, "limit", int_param(params, "limit", cfg.DEFAULT_LIMIT, 1, cfg.MAX_LIMIT),
                          1, cfg.MAX_LIMIT)
        nprobe = int_param(body, "nprobe", int_param(params, "nprobe", cfg.DEFAULT_NPROBE, 1, cfg.MAX_NPROBE),
                           1, cfg.MAX_NPROBE)
        has_taste, has_features = "liked" in body or "viewer" in body, "features" in body
        if has_taste == has_features:
            raise InvalidRequest("send exactly one kind: 'viewer' (an id) and/or 'liked' (a list of movie "
                                 "ids), or 'features' (an object)")
        index = self.index()
        if has_taste:
            return self._for_viewer(index, body, limit, nprobe)
        features = body["features"]
        if not isinstance(features, dict) or not features:
            raise InvalidRequest("'features' must be an object of named features, e.g. "
                                 '{"startYear": 1999, "runtimeMinutes": 136, "genres": ["Action", "Sci-Fi"], '
                                 '"averageRating": 8.7, "numVotes": 2000000}')
        check_features(features, feature_genres(index.features, index.genre_names))
        table_digest = index.meta.get("myflix_model_sha256") or None
        if table_digest is None:
            # a table published before the digest was recorded: the endpoint's package tag must match
            pair = self.pairing.pair(index.meta.get("myflix_model_package_arn"))
            if not pair.in_step:
                raise ModelMismatch(pair.reason(self.settings.endpoint_name))
        answer = self.endpoint.predict(features)
        served = answer.get("model_sha256") if isinstance(answer, dict) else None
        if isinstance(served, str):
            self._last_answer_digest = served
        if table_digest is not None and served != table_digest:
            self._look_again_soon()
            raise ModelMismatch(
                f"endpoint {self.settings.endpoint_name} answered with the model of digest "
                f"{str(served)[:16] if served else '(none recorded)'} but the table was built with "
                f"{table_digest[:16]}: "
                "a release is under way (or was left half done); see `myflix deploy status`, then try again")
        try:
            prediction = answer["predictions"][0]
            cluster, scaled = int(prediction["cluster"]), np.asarray(prediction["scaled"], dtype=np.float32)
        except (KeyError, IndexError, TypeError, ValueError):
            raise EndpointUnavailable("the endpoint's answer has no predictions[0].cluster/scaled: "
                                      f"{clip(answer, 200)}") from None
        if scaled.shape != (index.emb.shape[1],):
            raise EndpointUnavailable(f"the endpoint's model reads {scaled.size} features but the table holds "
                                   f"{index.emb.shape[1]}: the endpoint and the table come from different runs")
        hits = index.search(scaled, limit, nprobe, first_cluster=cluster)
        reason = {"kind": "content", "because": None,
                  "text": "Similar in genre and era to the film you described"}
        return {"based_on": "features", "cluster": cluster, "distance": prediction.get("distance"),
                "nprobe": nprobe, "movies": [{**m, "reason": reason} for m in self._hits(index, hits)]}

    def _for_viewer(self, index: MovieIndex, body: dict, limit: int, nprobe: int) -> dict:
        """A viewer the model knows (their history from the model, what they did excluded) and/or the
        films liked in this session; a viewer it does not know gets the cold-start answer, never a 404."""
        viewer = body.get("viewer")
        if viewer is not None:
            if not isinstance(viewer, str):
                raise InvalidRequest(f"'viewer' must be a viewer id (a string), got {clip(viewer)}")
            viewer = events.check_viewer_id(viewer)
        rows: list[int] = []
        if "liked" in body:
            liked = body["liked"]
            if not isinstance(liked, list) or not liked or not all(isinstance(i, str) for i in liked):
                raise InvalidRequest("'liked' must be a non-empty list of movie ids (strings)")
            if len(liked) > MAX_LIKED:
                raise InvalidRequest(f"'liked' holds {len(liked)} ids; at most {MAX_LIKED}")
            found = {i: index.row_of(i) for i in liked}
            missing = [i for i, row in found.items() if row is None]
            if missing:
                raise UnknownItem(f"no movie with id(s) {clip_list(missing)} in the published table")
            rows = list(dict.fromkeys(found[i] for i in liked))   # the viewer's order, once each
        served = index.recommender.hybrid
        known = viewer is not None and served.knows_viewer(viewer)
        picks = served.recommend([index.ids[r] for r in rows], viewer=viewer if known else None, limit=limit,
                                 content=_content(index, nprobe))
        answer = {"based_on": "viewer" if viewer is not None else "liked", "nprobe": nprobe,
                  "movies": _items(index, picks)}
        if viewer is not None:
            answer["viewer"] = {"id": viewer, "known": known,
                                "history": len(served.history(viewer)[0]) if known else 0}
        if rows:
            answer["liked"] = [index.movie(r) for r in rows]
        return answer

    # --- viewer events ------------------------------------------------------------------------------
    def sink(self) -> events.Sink:
        if self._sink is None:
            with self._lock:
                if self._sink is None:
                    self._sink = events.make_sink(self.settings)
        return self._sink

    def post_events(self, raw_body, params: dict) -> dict:
        check_known(params, ())
        batch = events.parse_batch(raw_body)
        return self.sink().put(batch)

    def forget_viewer(self, viewer_id: str, params: dict) -> dict:
        check_known(params, ())
        viewer_id = events.check_viewer_id(viewer_id)
        return {"viewer_id": viewer_id, **self.sink().forget(viewer_id)}


def _content(index: MovieIndex, nprobe: int):
    """The hybrid's content neighbours: `(tconst, n) -> ids` from the clustered search (nprobe clusters)."""
    def near(tconst: str, n: int) -> list[str]:
        row = index.row_of(tconst)
        if row is None or n < 1:
            return []
        return [index.ids[h.row] for h in index.similar(row, n, nprobe)]
    return near


def _items(index: MovieIndex, picks, query: int | None = None) -> list[dict]:
    """The picks as movies with their `reason` and `similarity_distance`, the distance in the scaled
    feature space to `query` (/similar) or to the film the pick is there because of (none for a
    popular pick); a pick the table does not hold is left out."""
    def title(tconst: str) -> str | None:
        row = index.row_of(tconst)
        return index.titles[row] if row is not None else None

    out = []
    for pick in picks:
        row = index.row_of(pick.tconst)
        if row is None:
            continue
        item = {**index.movie(row), "score": round(float(pick.score), 6), "reason": pick.reason(title)}
        anchor = query if query is not None else (index.row_of(pick.because) if pick.because else None)
        if anchor is not None:
            diff = index.emb[row].astype(np.float64) - index.emb[anchor]
            item["similarity_distance"] = round(float(np.sqrt(diff @ diff)), 6)
        out.append(item)
    return out


def _public(block: dict, settings: cfg.Settings) -> dict:
    return {**block, "reason": _without_paths(block["reason"], settings)} if "reason" in block else block


def content_for_likes(index: MovieIndex, rows: list[int], limit: int, nprobe: int) -> list[dict]:
    """Several likes keep several tastes: each liked film's own nearest neighbours, interleaved
    round-robin (first of each, then second of each, ...), never one averaged point; a film
    near two likes comes once, for the first. Each item says why (`reason`, docs/CONTRACTS.md)."""
    liked = set(rows)
    lists = [index.search(index.emb[r], limit, nprobe, first_cluster=int(index.cluster[r]), exclude=liked)
             for r in rows]
    out: list[dict] = []
    seen: set[int] = set()
    for depth in range(limit):
        for r, hits in zip(rows, lists):
            if depth < len(hits) and hits[depth].row not in seen and len(out) < limit:
                hit = hits[depth]
                seen.add(hit.row)
                out.append({**index.movie(hit.row), "similarity_distance": round(hit.distance, 6),
                            "reason": {"kind": "content", "because": index.ids[r],
                                       "text": f"Similar in genre and era to {index.titles[r]}"}})
    return out


def _without_paths(message: str, settings: cfg.Settings) -> str:
    """`message` with the local work folder's path replaced by `<workdir>`: /health is public."""
    if settings.workdir is None:
        return message
    for path in {str(settings.workdir), settings.workdir.as_posix()}:
        message = message.replace(path, "<workdir>")
    return message


_SERVICE: Service | None = None
_SERVICE_LOCK = threading.Lock()


def get_service() -> Service:
    global _SERVICE
    if _SERVICE is None:
        with _SERVICE_LOCK:
            if _SERVICE is None:
                _SERVICE = Service()
    return _SERVICE


def reset(settings: cfg.Settings | None = None) -> Service:
    """A fresh service (tests, `myflix serve` with another workdir)."""
    global _SERVICE
    with _SERVICE_LOCK:
        _SERVICE = Service(settings)
    return _SERVICE
