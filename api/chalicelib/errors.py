"""The API's error classes: each maps to one HTTP status and a JSON body `{"Code", "Message"}`.

They subclass Chalice's view errors so a route only raises; Chalice turns them into responses
(with the CORS headers). Nothing here may end in a 500: see `app.py`'s guard middleware.
`clip` is how a message quotes what the caller sent: a short piece, never the whole input.
"""
from __future__ import annotations

from chalice import BadRequestError, ChaliceViewError, NotFoundError

QUOTE_CHARS = 40


def clip(value, limit: int = QUOTE_CHARS) -> str:
    """`value` quoted for an error message: repr'd (control characters escaped), at most `limit` characters of it."""
    text = value if isinstance(value, str) else str(value)
    return repr(text[:limit]) + ("..." if len(text) > limit else "")


def clip_list(values, count: int = 5) -> str:
    """The first `count` items of `values`, each clipped, and how many more there were."""
    values = list(values)
    shown = ", ".join(clip(v) for v in values[:count])
    return f"[{shown}]" + (f" and {len(values) - count} more" if len(values) > count else "")


class InvalidRequest(BadRequestError):
    """400: a parameter or body the API cannot use; the message says which and what is allowed."""


class UnknownItem(NotFoundError):
    """404: a movie or cluster id that is not in the published table."""


class PayloadTooLarge(ChaliceViewError):
    """413: a request body larger than the route takes."""
    STATUS_CODE = 413


class TableUnavailable(ChaliceViewError):
    """503: the published table cannot be read (not published yet, or the catalog is unreachable)."""
    STATUS_CODE = 503


class ServiceUnavailable(ChaliceViewError):
    """503: a dependency (the events stream, S3) failed; nothing was acknowledged, the client may retry."""
    STATUS_CODE = 503


class EndpointUnavailable(ChaliceViewError):
    """502: the model endpoint did not answer (not deployed, failed, or unreachable)."""
    STATUS_CODE = 502
