"""MyFlix API routes (Chalice). Each route hands its parameters to chalicelib.service and returns the answer.

Errors: chalicelib raises 400/404/413/502/503 errors with a message; the `never_500` middleware turns
anything unexpected into a JSON 503, so a client never sees a 500 or a stack trace. It also writes
every body as strict JSON (no NaN/Infinity) and adds the security headers (API Gateway passes
them through), so Lambda and `myflix serve` answer alike.
"""
import json
import os
import sys

from chalice import Chalice, CORSConfig, Response

from chalicelib import checks, config, openapi, packaging
from chalicelib.errors import TableUnavailable
from chalicelib.service import get_service

packaging.check()     # `chalice package` under another Python than the pandas layer's: refused

app = Chalice(app_name="myflix-api")
app.api.cors = CORSConfig(allow_origin=config.from_env().cors_origin, max_age=600)


# An answer is data, never a document to render or frame: what a reviewer expects on an API
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
}
_SERVICE_ERROR = {"Code": "ServiceError",
                  "Message": "the API hit an unexpected error while answering (it is logged); try again, "
                             "and report it if it persists"}


@app.middleware("http")
def never_500(event, get_response):
    try:
        response = get_response(event)
    except Exception as err:  # noqa: BLE001 - the last guard: nothing leaves as a 500
        print(f"myflix api: unexpected {type(err).__name__}: {err}", file=sys.stderr)
        response = Response(status_code=500, body={})
    headers = {k: v for k, v in (response.headers or {}).items() if k.lower() != "content-type"}
    if response.status_code == 500:
        response = Response(status_code=503, headers=headers, body=_SERVICE_ERROR)
    if not isinstance(response.body, (str, bytes)):
        try:   # Chalice's own json.dumps would write NaN/Infinity, which no JSON parser reads
            body = json.dumps(response.body, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as err:
            print(f"myflix api: an answer is not strict JSON ({err})", file=sys.stderr)
            response, body = Response(status_code=503, headers=headers, body=None), json.dumps(_SERVICE_ERROR)
        response.body = body
        response.headers = {**headers, "Content-Type": "application/json"}
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _params():
    return dict(app.current_request.query_params or {})


@app.route("/health")
def health():
    return get_service().health()


@app.route("/movies")
def list_movies():
    return get_service().list_movies(_params())


@app.route("/movies/{movie_id}")
def get_movie(movie_id):
    return get_service().get_movie(movie_id)


@app.route("/movies/{movie_id}/similar")
def similar_movies(movie_id):
    return get_service().similar(movie_id, _params())


@app.route("/clusters")
def list_clusters():
    return get_service().clusters()


@app.route("/clusters/{cluster_id}/movies")
def cluster_movies(cluster_id):
    return get_service().cluster_movies(cluster_id, _params())


@app.route("/recommendations", methods=["POST"], content_types=["application/json"])
def recommendations():
    return get_service().recommend(checks.json_body(app.current_request.raw_body), _params())


@app.route("/events", methods=["POST"], content_types=["application/json"])
def post_events():
    return get_service().post_events(app.current_request.raw_body, _params())


@app.route("/viewers/{viewer_id}", methods=["DELETE"])
def forget_viewer(viewer_id):
    return get_service().forget_viewer(viewer_id, _params())


@app.route("/openapi.json")
def openapi_document():
    try:
        index = get_service().index()
    except TableUnavailable:   # no table yet: the document names no genres or features
        return openapi.document()
    return openapi.document(index.genre_names, index.features)


if os.environ.get("AWS_LAMBDA_FUNCTION_NAME"):  # cold start in Lambda: load the table before the first request
    get_service().warm()
