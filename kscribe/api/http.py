"""The API's request and answer values and its error, without a web framework.

The `api` function adapts Flask's request to ``ApiRequest`` and publishes the events an
answer carries. Errors are ``{"error": {"code", "message"}}`` with the matching status.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from kscribe.api.input import BodyReader, no_body
from kscribe.events import Event

BASE = "/api/v1/transcriptions"
USAGE = "/api/v1/usage"
OPTIONS = "/api/v1/options"
UPLOADS = "/api/v1/uploads"


@dataclass
class ApiRequest:
    method: str
    path: str
    query: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    # ``read_body(limit)`` returns the body or raises BodyTooLarge; it is called only after
    # the key is checked, so an unauthenticated upload costs nothing to refuse.
    read_body: BodyReader = no_body
    client: str = ""  # the client's address: failed authentications are limited per address
    # The raw body and its declared length, for the one route that streams it (an upload's
    # bytes through the api, after the key and the upload are checked).
    body_stream: IO[bytes] | None = None
    content_length: int | None = None


@dataclass
class ApiResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    # Undo for a created job whose announcement cannot be published.
    rollback: Callable[[], None] | None = None
    # A body sent piece by piece (media), instead of ``body``.
    stream: Iterator[bytes] | None = None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


def field_error(name: str, message: str) -> ApiError:
    """400 ``invalid_<name>``, its message naming the field."""
    return ApiError(400, f"invalid_{name}", f"{name}: {message}")
