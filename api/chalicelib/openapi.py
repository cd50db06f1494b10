"""The OpenAPI 3 document served at GET /openapi.json: every route, its parameters, bounds and answers.

The bounds come from the same constants the checks use (chalicelib.checks, config, service), and
the genre enums and feature names from the loaded table, so the document and the code cannot drift;
tests/test_api_schemathesis.py runs schemathesis over it against the real server. An empty query
value (`?limit=`) means "not given" (`allowEmptyValue`).
"""
from __future__ import annotations

from chalicelib import checks, events
from chalicelib import config as cfg
from chalicelib.index import SORTS

_ERROR_SCHEMA = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}


def _error(description):
    return {"description": description, "content": _ERROR_SCHEMA}


_ERRORS = {"400": _error("malformed request (the message says what and why)"),
           "404": _error("unknown movie or cluster id"),
           "503": _error("the published table is not available yet")}


def _param(name, where, schema, description, required=False):
    param = {"name": name, "in": where, "required": required or where == "path", "schema": schema,
             "description": description}
    if where == "query":
        param["allowEmptyValue"] = True   # empty = not given
    return param


def _ok(ref, description="OK"):
    return {"200": {"description": description,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}, **_ERRORS}


def _int(low, high, default=None):
    schema = {"type": "integer", "minimum": low, "maximum": high}
    return schema if default is None else {**schema, "default": default}


LIMIT = _param("limit", "query", _int(1, cfg.MAX_LIMIT, cfg.DEFAULT_LIMIT), "how many movies to return")
OFFSET = _param("offset", "query", _int(0, cfg.MAX_OFFSET, 0), "how many to skip (paging)")
SORT = _param("sort", "query", {"type": "string", "enum": list(SORTS), "default": "votes"},
              "order: most voted, best rated, newest, by title, or nearest the cluster centre")
NPROBE = _param("nprobe", "query", _int(1, cfg.MAX_NPROBE, cfg.DEFAULT_NPROBE),
                "clusters searched: the movie's own plus the nearest others, nprobe in all")
MOVIE_ID = _param("id", "path", {"type": "string", "pattern": "^[A-Za-z0-9]{1,32}$", "example": "tt0133093"},
                  "IMDb id (tconst); any other id is a 404")
# no control characters (C0, C1): a NUL in a title search is an error, not a match-everything
TEXT = {"type": "string", "maxLength": 200, "pattern": f"^[^{checks.CONTROL_CHARS}]*$"}


def _id_schema(length: tuple[int, int], example: str) -> dict:
    return {"type": "string", "minLength": length[0], "maxLength": length[1],
            "pattern": f"^[{events.ID_CHARS}]+$", "example": example}


def _events_schemas() -> dict:
    """The /events batch, from the constants chalicelib/events.py checks against."""
    low, high = events.TIMESTAMP_RANGE
    rating = {"type": "object", "required": ["event", "value"], "properties": {
        "event": {"enum": ["rating"]},
        "value": {"type": "number", "minimum": events.RATING_RANGE[0], "maximum": events.RATING_RANGE[1]}}}
    other = {"type": "object", "properties": {
        "event": {"enum": [k for k in events.EVENT_KINDS if k != "rating"]},
        "value": {"nullable": True, "enum": [None]}}}
    event = {"type": "object", "additionalProperties": False, "required": list(events.REQUIRED),
             "oneOf": [rating, other], "properties": {
                 "event_id": _id_schema(events.EVENT_ID_LENGTH, "e8f1c2a9b3"),
                 "viewer_id": _id_schema(events.VIEWER_ID_LENGTH, "v-3f2a9c"),
                 "tconst": {"type": "string", "pattern": f"^{events.TCONST_PATTERN}$", "example": "tt0133093"},
                 "event": {"type": "string", "enum": list(events.EVENT_KINDS)},
                 "value": {"type": "number", "nullable": True, "description": "rating only: 0..10 (IMDb's scale)"},
                 "timestamp": {"description": "epoch seconds, or an ISO 8601 time of the years 2000..2099 (no "
                               "offset = UTC); absent: the server's time", "oneOf": [
                                   {"type": "number", "minimum": low, "maximum": high},
                                   {"type": "string", "maxLength": events.MAX_TIMESTAMP_TEXT,
                                    "pattern": f"^{events.ISO_PATTERN}$"}]}}}
    batch = {"type": "object", "additionalProperties": False, "required": ["events"], "properties": {
        "events": {"type": "array", "minItems": 1, "maxItems": events.MAX_EVENTS,
                   "items": {"$ref": "#/components/schemas/Event"}}}}
    return {"Event": event, "EventBatch": batch,
            "EventsAccepted": {"type": "object", "required": ["accepted", "duplicates"], "properties": {
                "accepted": {"type": "integer", "minimum": 0}, "duplicates": {"type": "integer", "minimum": 0}}},
            "Forgotten": {"type": "object", "required": ["viewer_id", "events_deleted"], "properties": {
                "viewer_id": {"type": "string"}, "events_deleted": {"type": "integer", "minimum": 0},
                "complete": {"type": "boolean", "description": "false: more objects than one request reads; "
                             "the forget record keeps them out of training, send DELETE again to remove them"},
                "objects_scanned": {"type": "integer"}}}}


def _events_paths() -> dict:
    stored = {"400": _error("a field is wrong: the message starts with its path, e.g. events[3].tconst"),
              "413": _error(f"the body is larger than {events.MAX_BODY_BYTES} bytes"),
              "415": _error("the body is not application/json"),
              "503": _error("the events could not be stored: nothing is acknowledged, send the batch again")}
    return {
        "/events": {"post": {
            "summary": "store viewer events (idempotent by event_id; 200 only once every event is stored)",
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/EventBatch"}}}},
            "responses": {"200": {"description": "stored (or already stored: duplicates)", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/EventsAccepted"}}}}, **stored}}},
        "/viewers/{viewer_id}": {"delete": {
            "summary": "forget a viewer: their stored events are removed and no later training uses them",
            "parameters": [_param("viewer_id", "path", _id_schema(events.VIEWER_ID_LENGTH, "v-3f2a9c"),
                                  "the anonymous viewer id the page keeps")],
            "responses": {"200": {"description": "forgotten", "content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Forgotten"}}}},
                "400": _error("not a viewer id"), "503": _error("storage failed: send the request again")}}},
    }


def _features_schema(features: list[str] | None, genres: list[str] | None) -> dict:
    numeric = {name: {"type": "number", "minimum": low, "maximum": high}
               for name, (low, high) in checks.FEATURE_RANGES.items()}
    schema = {"type": "object", "description": "named features (the model's); genre columns may be given as a "
              "'genres' list", "example": {"startYear": 1999, "runtimeMinutes": 136, "genres": ["Action", "Sci-Fi"],
                                           "averageRating": 8.7, "numVotes": 2000000}}
    if not features:
        return {**schema, "properties": numeric}
    model_genres = checks.feature_genres(features, genres or [])
    properties = {**{f: numeric.get(f, {"type": "number"}) for f in features if f not in model_genres},
                  **{g: {"type": "integer", "enum": [0, 1]} for g in model_genres},
                  "genres": {"type": "array", "items": {"type": "string", "enum": model_genres}, "maxItems": 30}}
    required = [f for f in features if f not in model_genres]
    return {**schema, "properties": properties, "required": required, "additionalProperties": False,
            "anyOf": [{"required": ["genres"]}, {"required": model_genres}]}


def document(genres: list[str] | None = None, features: list[str] | None = None) -> dict:
    """The document; `genres` (the table's) and `features` (the model's) make the enums exact."""
    movie = {"type": "object", "required": ["id", "title", "genres", "votes", "cluster"], "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "year": {"type": "integer", "nullable": True},
        "runtime": {"type": "integer", "nullable": True}, "genres": {"type": "array", "items": {"type": "string"}},
        "rating": {"type": "number", "nullable": True}, "votes": {"type": "integer"},
        "cluster": {"type": "integer"},
        "distance": {"type": "number", "nullable": True, "description": "to its cluster's centre"},
        "similarity_distance": {"type": "number", "description": "to the query (similar and recommendation answers)"},
        "score": {"type": "number", "description": "the hybrid's score in this list"},
        "reason": {"type": "object", "required": ["kind", "because", "text"], "properties": {
            "kind": {"type": "string", "enum": ["collaborative", "content", "popular"]},
            "because": {"type": "string", "nullable": True}, "text": {"type": "string"}}}}}
    genre = {"type": "string", "enum": list(genres)} if genres else {"type": "string"}
    page = {"type": "object", "required": ["total", "limit", "offset", "movies"], "properties": {
        "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
        "cluster": {"type": "integer"},
        "movies": {"type": "array", "items": {"$ref": "#/components/schemas/Movie"}}}}
    recommendations = {**_ok("Recommendations"),
                       "404": _error("a liked movie id is not in the published table"),
                       "413": _error("the body is larger than 64 KiB"),
                       "415": _error("the body is not application/json"),
                       "502": _error("the model endpoint did not answer")}
    request = {"type": "object", "description": "a viewer and/or liked films, or features",
               "oneOf": [{"anyOf": [{"required": ["liked"]}, {"required": ["viewer"]}]}, {"required": ["features"]}],
               "additionalProperties": False, "properties": {
                   "viewer": {**_id_schema(events.VIEWER_ID_LENGTH, "v-3f2a9c"), "description":
                              "a viewer id; one the model does not know gets the cold-start answer"},
                   "liked": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 100,
                             "example": ["tt0133093"]},
                   "features": _features_schema(features, genres),
                   "limit": _int(1, cfg.MAX_LIMIT), "nprobe": _int(1, cfg.MAX_NPROBE)}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "MyFlix API", "version": "1.0.0",
                 "description": "Movie clusters of the MyFlix pipeline: search, similar movies, clusters, "
                                "recommendations. Errors are {Code, Message}; an empty query value means the "
                                "parameter is not given."},
        "paths": {
            "/health": {"get": {"summary": "is the table loaded; which execution published it",
                                "responses": {"200": {"description": "status", "content": {"application/json": {
                                    "schema": {"$ref": "#/components/schemas/Health"}}}}}}},
            "/movies": {"get": {"summary": "search movies", "parameters": [
                _param("q", "query", TEXT, "text in the title (case-insensitive); blank: every title"),
                _param("genre", "query", genre, "one genre, as IMDb spells it"),
                _param("year_min", "query", _int(*cfg.YEAR_RANGE), "first year"),
                _param("year_max", "query", _int(*cfg.YEAR_RANGE), "last year (before year_min: nothing matches)"),
                LIMIT, OFFSET, SORT],
                "responses": _ok("MoviePage")}},
            "/movies/{id}": {"get": {"summary": "one movie", "parameters": [MOVIE_ID], "responses": _ok("Movie")}},
            "/movies/{id}/similar": {"get": {
                "summary": "movies like this one: viewers' co-likes where it has interactions, else nearest in the "
                           "scaled feature space; each with its reason",
                "parameters": [MOVIE_ID, LIMIT, NPROBE], "responses": _ok("Similar")}},
            "/clusters": {"get": {"summary": "every cluster: size, top genres, examples",
                                  "responses": _ok("Clusters")}},
            "/clusters/{id}/movies": {"get": {"summary": "the movies of one cluster", "parameters": [
                _param("id", "path", _int(0, cfg.MAX_CLUSTER_ID), "cluster id"), LIMIT, OFFSET, SORT],
                "responses": _ok("MoviePage")}},
            "/recommendations": {"post": {
                "summary": "movies for a viewer (their history from the model) and/or liked movies, each with its "
                           "reason, or for a feature vector (through the model endpoint)",
                "parameters": [LIMIT, NPROBE],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/RecommendationRequest"}}}},
                "responses": recommendations}},
            **_events_paths(),
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {
                "description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["Code", "Message"],
                      "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}}},
            "Health": {"type": "object", "required": ["status", "mode"], "properties": {
                "status": {"type": "string", "enum": ["ok", "no table"]}, "mode": {"type": "string"},
                "message": {"type": "string"}, "movies": {"type": "integer"}, "clusters": {"type": "integer"},
                "genres": {"type": "array", "items": {"type": "string"}},
                "recommender": {"type": "object", "required": ["kind"], "description": "the collaborative model "
                                "served with the table, or kind none and the reason", "properties": {
                    "kind": {"type": "string"}, "reason": {"type": "string"}, "simulated": {"type": "boolean"},
                    "viewers": {"type": "integer"}, "films": {"type": "integer"},
                    "interactions": {"type": "integer"}}}}},
            "Movie": movie,
            "MoviePage": page,
            "Similar": {"type": "object", "required": ["movie", "nprobe", "similar"], "properties": {
                "movie": {"$ref": "#/components/schemas/Movie"}, "nprobe": {"type": "integer"},
                "similar": {"type": "array", "items": {"$ref": "#/components/schemas/Movie"}}}},
            "Clusters": {"type": "object", "required": ["k", "clusters"],
                         "properties": {"k": {"type": "integer"}, "clusters": {"type": "array"}}},
            **_events_schemas(),
            "RecommendationRequest": request,
            "Recommendations": {"type": "object", "required": ["based_on", "movies"], "properties": {
                "based_on": {"type": "string", "enum": ["viewer", "liked", "features"]},
                "viewer": {"type": "object", "properties": {"id": {"type": "string"}, "known": {"type": "boolean"},
                                                            "history": {"type": "integer"}}},
                "cluster": {"type": "integer"}, "nprobe": {"type": "integer"},
                "movies": {"type": "array", "items": {"$ref": "#/components/schemas/Movie"}}}},
        }},
    }
