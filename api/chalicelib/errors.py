"""The API's error classes: each maps to one HTTP status and a JSON body `{"Code", "Message"}`.

They subclass Chalice's view errors so a route only raises; Chalice turns them into responses
(with the CORS headers). Nothing here may end in a 500: see `app.py`'s guard middleware.
"""
from __future__ import annotations

from chalice import BadRequestError, ChaliceViewError, NotFoundError


class InvalidRequest(BadRequestError):
    """400: a parameter or body the API cannot use; the message says which and what is allowed."""


class UnknownItem(NotFoundError):
    """404: a movie or cluster id that is not in the published table."""


class TableUnavailable(ChaliceViewError):
    """503: the published table cannot be read (not published yet, or the catalog is unreachable)."""
    STATUS_CODE = 503


class EndpointUnavailable(ChaliceViewError):
    """502: the model endpoint did not answer (not deployed, failed, or unreachable)."""
    STATUS_CODE = 502
