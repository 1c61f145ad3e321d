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
STORE_FULL = "urn:gitops-lab:problem:store-full"

log = logging.getLogger(__name__)


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
        headers = {name: value for name, value in exc.get_headers() if name.lower() == "allow"}
        return problem_response(status, _detail(exc, status), headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.exception("unhandled error", extra={"path": request.path, "method": request.method})
        return problem_response(500, "The server failed to handle the request; the error has been logged.")


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
