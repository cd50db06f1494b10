"""The error a command prints without a traceback: `UserError`, raised by operations and commands alike.

It lives below cli/ so that operations (and the Studio) raise it directly; cli/main.py catches it
and prints `myflix: <message>` with exit code 2.
"""
from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: printed as `myflix: <message>` with exit code 2, no traceback."""
