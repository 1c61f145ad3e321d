"""JSON logs: one object per line on stdout (gunicorn's logs use the same formatter: app/gunicorn_logging.py).

Every line has ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger`` and ``message``, then any
``extra=`` fields the caller passed, and ``exc_info`` (the formatted traceback) when there is one.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

APP_LOGGER = "app"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is emitted as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (no newlines inside: tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRS and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever ``sys.stdout`` is at emit time (so test capture and redirections are honoured)."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it; stdout is looked up instead
        pass


def configure_logging(level: str) -> logging.Logger:
    """Send the ``app`` logger (Flask's ``app.logger`` too) to stdout as JSON at ``level``; idempotent."""
    logger = logging.getLogger(APP_LOGGER)
    for handler in list(logger.handlers):
        if getattr(handler, "_gitops_lab", False):
            logger.removeHandler(handler)
    handler = StdoutHandler()
    handler.setFormatter(JsonFormatter())
    handler._gitops_lab = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False
    return logger
