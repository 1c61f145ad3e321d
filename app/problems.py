"""Errors as RFC 9457 problem details (``application/problem+json``), for every 4xx and 5xx the app returns.

``type`` is ``about:blank`` for plain HTTP errors (the ``title`` is then the status phrase, as RFC 9457
asks) and a URN of this service for its own problem kinds. A 500 never carries a traceback: it is logged.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

PROBLEM_CONTENT_TYPE = "application/problem+json"
MALFORMED_JSON = "urn:gitops-lab:problem:malformed-json"
VALIDATION_ERROR = "urn:gitops-lab:problem:validation-error"

log = logging.getLogger(__name__)
# A refused body is read to its end and dropped, up to this many bytes: the client is usually still sending it,
# and a connection closed on unread data is reset (TCP RST), so it would see "connection reset" or "broken pipe"
# instead of the 413. (gunicorn itself drains only 64 KiB of an unread body before it closes the connection,
# gunicorn 27 http/parser.py _DRAIN_MAX_BYTES.) A larger body is cut off.
DISCARD_MAX_BYTES = 8 * 1024 * 1024


class Problem(Exception):
    """Raise from a view to answer with a problem document."""

    def __init__(
        self, status: int, detail: str, *, type_: str = "about:blank", title: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.type = type_
        self.title = title or HTTPStatus(status).phrase
        self.extra = extra


def problem_response(
    status: int,
    detail: str,
    *,
    type_: str = "about:blank",
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> Response:
    body: dict[str, Any] = {
        "type": type_,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.path,
    }
    body.update(extra)
    response = Response(json.dumps(body), status=status, content_type=PROBLEM_CONTENT_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def init_app(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(exc: Problem) -> Response:
        return problem_response(exc.status, exc.detail, type_=exc.type, title=exc.title, **exc.extra)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        status = exc.code or 500
        if status == 413:
            _discard_body()
        headers = {name: value for name, value in exc.get_headers() if name.lower() == "allow"}
        return problem_response(status, _detail(exc, status), headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return problem_response(500, "The server failed to handle the request; the error has been logged.")


def _discard_body() -> None:
    """Read what is left of the request body and drop it (at most DISCARD_MAX_BYTES), where the server's input
    ends at the end of the body (`wsgi.input_terminated`, as gunicorn sets it); elsewhere a read could block."""
    stream = request.environ.get("wsgi.input")
    length = request.content_length
    if stream is None or not request.environ.get("wsgi.input_terminated"):
        return
    if length is not None and length > DISCARD_MAX_BYTES:
        return
    left = DISCARD_MAX_BYTES
    try:
        while left > 0 and (chunk := stream.read(min(64 * 1024, left))):
            left -= len(chunk)
    except Exception:  # noqa: S110 (the client went away or sent a broken chunk: the 413 is still the answer)
        pass


def _detail(exc: HTTPException, status: int) -> str:
    if status == 404:
        return f"No resource at {request.path}."
    if status == 405:
        allowed = ", ".join(sorted(getattr(exc, "valid_methods", None) or []))
        return f"Method {request.method} is not allowed on {request.path}; allowed: {allowed}."
    if status == 413:
        limit = request.max_content_length
        return f"The request body is larger than the limit of {limit} bytes."
    return exc.description or HTTPStatus(status).phrase
