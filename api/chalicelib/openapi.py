"""The OpenAPI 3 document served at GET /openapi.json: every route, its parameters and answers."""
from __future__ import annotations

from chalicelib import config as cfg

_ERROR = {"description": "error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_ERRORS = {"400": {**_ERROR, "description": "malformed request (the message says what and why)"},
           "404": {**_ERROR, "description": "unknown movie or cluster id"},
           "503": {**_ERROR, "description": "the published table is not available yet"}}


def _param(name, where, schema, description, required=False):
    return {"name": name, "in": where, "required": required or where == "path", "schema": schema,
            "description": description}


def _ok(ref, description="OK"):
    return {"200": {"description": description,
                    "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}, **_ERRORS}


LIMIT = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": cfg.MAX_LIMIT,
                                  "default": cfg.DEFAULT_LIMIT}, "how many movies to return")
OFFSET = _param("offset", "query", {"type": "integer", "minimum": 0, "default": 0}, "how many to skip (paging)")
SORT = _param("sort", "query", {"type": "string", "enum": ["votes", "rating", "year", "title", "distance"],
                                "default": "votes"}, "order: most voted, best rated, newest, by title, or nearest the cluster centre")
NPROBE = _param("nprobe", "query", {"type": "integer", "minimum": 1, "maximum": cfg.MAX_NPROBE,
                                    "default": cfg.DEFAULT_NPROBE},
                "clusters searched: the movie's own plus the nearest others, nprobe in all")
MOVIE_ID = _param("id", "path", {"type": "string", "example": "tt0133093"}, "IMDb id (tconst)")


def document() -> dict:
    movie = {"type": "object", "properties": {
        "id": {"type": "string"}, "title": {"type": "string"}, "year": {"type": "integer", "nullable": True},
        "runtime": {"type": "integer", "nullable": True}, "genres": {"type": "array", "items": {"type": "string"}},
        "rating": {"type": "number", "nullable": True}, "votes": {"type": "integer"},
        "cluster": {"type": "integer"}, "distance": {"type": "number", "description": "to its cluster's centre"},
        "similarity_distance": {"type": "number", "description": "to the query (similar and recommendation answers)"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "MyFlix API", "version": "1.0.0",
                 "description": "Movie clusters of the MyFlix pipeline: search, similar movies, clusters, recommendations."},
        "paths": {
            "/health": {"get": {"summary": "is the table loaded; which execution published it",
                                "responses": {"200": {"description": "status"}}}},
            "/movies": {"get": {"summary": "search movies", "parameters": [
                _param("q", "query", {"type": "string"}, "text in the title (case-insensitive)"),
                _param("genre", "query", {"type": "string"}, "one genre, as IMDb spells it"),
                _param("year_min", "query", {"type": "integer"}, "first year"),
                _param("year_max", "query", {"type": "integer"}, "last year"), LIMIT, OFFSET, SORT],
                "responses": _ok("MoviePage")}},
            "/movies/{id}": {"get": {"summary": "one movie", "parameters": [MOVIE_ID], "responses": _ok("Movie")}},
            "/movies/{id}/similar": {"get": {
                "summary": "movies nearest to this one in the scaled feature space",
                "parameters": [MOVIE_ID, LIMIT, NPROBE], "responses": _ok("Similar")}},
            "/clusters": {"get": {"summary": "every cluster: size, top genres, examples",
                                  "responses": _ok("Clusters")}},
            "/clusters/{id}/movies": {"get": {"summary": "the movies of one cluster", "parameters": [
                _param("id", "path", {"type": "integer"}, "cluster id"), LIMIT, OFFSET, SORT],
                "responses": _ok("MoviePage")}},
            "/recommendations": {"post": {
                "summary": "movies for a list of liked movies, or for a feature vector (through the model endpoint)",
                "parameters": [LIMIT, NPROBE],
                "requestBody": {"required": True, "content": {"application/json": {"schema": {
                    "$ref": "#/components/schemas/RecommendationRequest"}}}},
                "responses": {**_ok("Recommendations"),
                              "502": {**_ERROR, "description": "the model endpoint did not answer"}}}},
            "/openapi.json": {"get": {"summary": "this document", "responses": {"200": {"description": "OpenAPI 3"}}}},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "properties": {"Code": {"type": "string"}, "Message": {"type": "string"}}},
            "Movie": movie,
            "MoviePage": {"type": "object", "properties": {
                "total": {"type": "integer"}, "limit": {"type": "integer"}, "offset": {"type": "integer"},
                "movies": {"type": "array", "items": {"$ref": "#/components/schemas/Movie"}}}},
            "Similar": {"type": "object", "properties": {
                "movie": {"$ref": "#/components/schemas/Movie"}, "nprobe": {"type": "integer"},
                "similar": {"type": "array", "items": {"$ref": "#/components/schemas/Movie"}}}},
            "Clusters": {"type": "object", "properties": {"k": {"type": "integer"}, "clusters": {"type": "array"}}},
            "RecommendationRequest": {"type": "object", "description": "exactly one of liked / features", "properties": {
                "liked": {"type": "array", "items": {"type": "string"}, "example": ["tt0133093"]},
                "features": {"type": "object", "description": "named features (the model's 26), genre columns "
                             "may be given as a 'genres' list", "example": {
                                 "startYear": 1999, "runtimeMinutes": 136, "genres": ["Action", "Sci-Fi"],
                                 "averageRating": 8.7, "numVotes": 2000000}},
                "limit": {"type": "integer"}, "nprobe": {"type": "integer"}}},
            "Recommendations": {"type": "object", "properties": {
                "based_on": {"type": "string", "enum": ["liked", "features"]},
                "cluster": {"type": "integer"},
                "movies": {"type": "array", "items": {"$ref": "#/components/schemas/Movie"}}}},
        }},
    }
