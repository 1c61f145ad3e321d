"""gunicorn's logger class with JSON lines on stdout (kept apart so ``import app`` does not need gunicorn)."""

from __future__ import annotations

import logging
import sys
from typing import Any

from gunicorn.glogging import Logger as _GunicornLogger

from app.logs import JsonFormatter


class GunicornJsonLogger(_GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger with JSON on stdout: error log lines and one structured access line per request.

    Use it with ``logger_class = "app.gunicorn_logging.GunicornJsonLogger"``, ``errorlog = "-"`` and
    ``accesslog = "-"``.
    """

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: logging.Formatter, stream: Any = None) -> None:
        if output == "-":
            # both logs to stdout, as JSON (gunicorn would send the error log to stderr in its own format)
            super()._set_handler(log, output, JsonFormatter(), stream=sys.stdout)
        else:
            super()._set_handler(log, output, JsonFormatter(), stream=stream)

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if not self.access_log_enabled:
            return
        status = resp.status
        if isinstance(status, str):
            status = status.split(None, 1)[0]
        try:
            status_code: int | str = int(status)
        except (TypeError, ValueError):
            status_code = str(status)
        method = environ.get("REQUEST_METHOD", "-")
        path = environ.get("PATH_INFO", "-")
        self.access_log.info(
            "%s %s %s",
            method,
            path,
            status_code,
            extra={
                "method": method,
                "path": path,
                "query": environ.get("QUERY_STRING", ""),
                "status": status_code,
                "duration_ms": round(request_time.total_seconds() * 1000, 3),
                "bytes": getattr(resp, "sent", None),
                "remote_addr": environ.get("REMOTE_ADDR", "-"),
                "user_agent": environ.get("HTTP_USER_AGENT", "-"),
                "protocol": environ.get("SERVER_PROTOCOL", "-"),
            },
        )
