"""gunicorn's logger class with JSON lines on stdout (kept apart so ``import app`` does not need gunicorn)."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from gunicorn.glogging import Logger as _GunicornLogger

from app.logs import ACCESS_LINES, JsonFormatter, StdoutHandler, timestamp

_json_str = json.encoder.encode_basestring  # the C encoder: a str as a JSON string, non-ASCII kept


class GunicornJsonLogger(_GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger with JSON on stdout: error log lines and one structured access line per request.

    Use it with ``logger_class = "app.gunicorn_logging.GunicornJsonLogger"``, ``errorlog = "-"`` and
    ``accesslog = "-"``. With the access log on stdout (``-``) and no logging config of gunicorn's own
    (``logconfig*``, ``syslog``), each access line is built directly as text and written in batches
    (``app.logs.ACCESS_LINES``): no LogRecord, no handler lock, one ``os.write`` per ~14 lines. The line is the
    same JSON object the ``gunicorn.access`` logger would write through ``JsonFormatter``. Otherwise the logging
    module writes it.
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self._direct_access = cfg.accesslog == "-" and not (
            cfg.logconfig or cfg.logconfig_dict or cfg.logconfig_json or cfg.syslog
        )

    def _set_handler(self, log: logging.Logger, output: str | None, fmt: logging.Formatter, stream: Any = None) -> None:
        if output == "-":
            # both logs to stdout, as JSON (gunicorn would send the error log to stderr in its own format)
            previous = self._get_gunicorn_handler(log)
            if previous:
                log.handlers.remove(previous)
            handler = StdoutHandler()
            handler.setFormatter(JsonFormatter())
            handler._gunicorn = True  # type: ignore[attr-defined]  # how gunicorn finds its own handlers
            log.addHandler(handler)
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
        method = str(environ.get("REQUEST_METHOD", "-"))
        path = str(environ.get("PATH_INFO", "-"))
        duration_ms = round(request_time.total_seconds() * 1000, 3)
        sent = getattr(resp, "sent", None)
        if getattr(self, "_direct_access", False) and sys.stdout is sys.__stdout__:
            status_json = str(status_code) if isinstance(status_code, int) else _json_str(status_code)
            ACCESS_LINES.add(
                f'{{"ts": "{timestamp(time.time())}", "level": "INFO", "logger": "gunicorn.access", '
                f'"message": {_json_str(f"{method} {path} {status_code}")}, "method": {_json_str(method)}, '
                f'"path": {_json_str(path)}, "query": {_json_str(str(environ.get("QUERY_STRING", "")))}, '
                f'"status": {status_json}, "duration_ms": {duration_ms!r}, '
                f'"bytes": {sent if isinstance(sent, int) else "null"}, '
                f'"remote_addr": {_json_str(str(environ.get("REMOTE_ADDR", "-")))}, '
                f'"user_agent": {_json_str(str(environ.get("HTTP_USER_AGENT", "-")))}, '
                f'"protocol": {_json_str(str(environ.get("SERVER_PROTOCOL", "-")))}}}'
            )
            return
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
                "duration_ms": duration_ms,
                "bytes": sent,
                "remote_addr": environ.get("REMOTE_ADDR", "-"),
                "user_agent": environ.get("HTTP_USER_AGENT", "-"),
                "protocol": environ.get("SERVER_PROTOCOL", "-"),
            },
        )
