"""JSON logs: one object per line on stdout (gunicorn's logs use the same formatter: app/gunicorn_logging.py).

Every line has ``ts`` (UTC, ISO 8601, milliseconds), ``level``, ``logger`` and ``message``, then any
``extra=`` fields the caller passed, and ``exc_info`` (the formatted traceback) when there is one.

Lines reach the process's stdout through ``write_line``: one ``os.write`` of the whole line, under a lock held
only around that system call (the logging module's per-handler lock, held around formatting, writing and
flushing, is not used: under gunicorn's threads it was the most contended lock of the process). A write of at
most ``PIPE_BUF`` bytes to a pipe, which is what the container runtime gives a container's stdout, is never
interleaved with another process's (POSIX), so the lines of gunicorn's workers, which share the pipe, stay whole.

gunicorn's access lines, one per request, go through ``ACCESS_LINES`` instead: a per-process buffer written
with one ``os.write`` when the next line would take it past PIPE_BUF, or ``ACCESS_FLUSH_SECONDS`` after its first
line, by a background thread. Each ``write(2)`` to the container's stdout pipe wakes its reader (the container
runtime); batching ~14 lines per write took the access line's cost in the container from ~45 to ~10 µs CPU per
request (bench/bench_app.py). Every other line flushes the buffer before it is written, so the order of one
process's lines is kept; the buffer is flushed when the process exits (atexit, and gunicorn's ``worker_exit``).
A process killed with SIGKILL loses at most its last ``ACCESS_FLUSH_SECONDS`` of access lines.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import select
import sys
import threading
import time
from typing import Any, TextIO

APP_LOGGER = "app"
# Attributes every LogRecord has; anything else on a record came from ``extra=`` and is emitted as a field.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


_ENCODER = json.JSONEncoder(ensure_ascii=False, default=str)
# One write(2) of at most this many bytes to a pipe is atomic (POSIX; 4096 on Linux).
PIPE_BUF = getattr(select, "PIPE_BUF", 512)
_second_cache: tuple[int, str] = (-1, "")


def timestamp(created: float) -> str:
    """``created`` (seconds since the epoch) as ``2026-01-02T03:04:05.678Z``: UTC, milliseconds.

    The same text as ``datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")`` with ``Z``, at
    a third of the cost: the date and time of day are formatted once per second.
    """
    global _second_cache
    seconds, micros = divmod(round(created * 1_000_000), 1_000_000)
    cached_seconds, prefix = _second_cache
    if seconds != cached_seconds:
        prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _second_cache = (seconds, prefix)  # one tuple: threads see the old pair or the new one, never a mix
    return f"{prefix}.{micros // 1000:03d}Z"


def write_line(line: str, fd: int | None = None) -> None:
    """Write ``line`` and a newline to ``fd`` (stdout's by default), after the buffered access lines.

    One ``os.write`` when it fits (and the rest, if the kernel takes less), under the process's one write lock,
    which is held only around the system call. Never raises for a closed or broken stdout: a log line is not
    worth a failed request.
    """
    data = line.encode("utf-8", "backslashreplace") + b"\n"
    if fd is None:
        fd = _stdout_fd()
        if fd is None:
            return
    with ACCESS_LINES.lock:
        ACCESS_LINES.write_pending()
        _write_all(fd, data)


def _write_all(fd: int, data: bytes) -> None:
    try:
        while data:
            data = data[os.write(fd, data) :]
    except OSError:
        pass


ACCESS_FLUSH_SECONDS = 0.05


class LineBuffer:
    """Lines of this process, written to stdout in batches of at most ``max_bytes`` (see the module docstring).

    ``lock`` is the process's write lock: every log write (``write_line`` too) happens under it, so a line
    longer than PIPE_BUF, which the kernel may write in pieces, is never cut by another thread's line.
    """

    def __init__(
        self, max_bytes: int = PIPE_BUF, max_delay: float = ACCESS_FLUSH_SECONDS, fd: int | None = None
    ) -> None:
        self.max_bytes = max_bytes
        self.max_delay = max_delay
        self.fd = fd  # None: the process's stdout
        self._reset()
        os.register_at_fork(after_in_child=self._reset)  # a forked worker starts empty, with a thread of its own

    def _reset(self) -> None:
        self.lock = threading.Lock()
        self._lines: list[bytes] = []
        self._size = 0
        self._pending = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self, line: str) -> None:
        """Queue ``line`` (a newline is added) for stdout; written within ``max_delay`` seconds, or sooner."""
        data = line.encode("utf-8", "backslashreplace") + b"\n"
        with self.lock:
            if self._size + len(data) > self.max_bytes:
                self.write_pending()
            if len(data) > self.max_bytes:
                fd = self._fd()
                if fd is not None:
                    _write_all(fd, data)
                return
            self._lines.append(data)
            self._size += len(data)
            first = len(self._lines) == 1
            if first and self._thread is None:
                self._thread = threading.Thread(target=self._run, name="gitops-lab-log-flush", daemon=True)
                self._thread.start()
        if first:
            self._pending.set()

    def flush(self) -> None:
        with self.lock:
            self.write_pending()

    def write_pending(self) -> None:
        """Write the queued lines in one ``os.write``; the caller holds ``lock``."""
        if self._lines:
            data = b"".join(self._lines)
            self._lines, self._size = [], 0
            fd = self._fd()
            if fd is not None:
                _write_all(fd, data)

    def _fd(self) -> int | None:
        return self.fd if self.fd is not None else _stdout_fd()

    def _run(self) -> None:
        while True:
            self._pending.wait()
            time.sleep(self.max_delay)
            self._pending.clear()  # before the flush: a line added after it sets the event again
            self.flush()


ACCESS_LINES = LineBuffer()
atexit.register(ACCESS_LINES.flush)


def _stdout_fd() -> int | None:
    stream = sys.__stdout__
    try:
        return stream.fileno() if stream is not None else None
    except (OSError, ValueError):
        return None


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object (no newlines inside: tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": timestamp(record.created),
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
        return _ENCODER.encode(entry)


class _NoLock:
    """What ``logging.Handler`` takes for its lock, doing nothing: ``write_line`` needs none."""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        return True

    def release(self) -> None:
        pass

    def __enter__(self) -> bool:
        return True

    def __exit__(self, *exc: object) -> None:
        pass

    def _at_fork_reinit(self) -> None:
        pass


class StdoutHandler(logging.StreamHandler[TextIO]):
    """Writes each record as one line to the process's stdout with ``write_line`` (no handler lock).

    When ``sys.stdout`` has been replaced (pytest's capture, ``contextlib.redirect_stdout``) the line goes to
    the replacement instead, under a lock, so that capture and redirections are honoured.
    """

    _fallback_lock = threading.Lock()

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    def createLock(self) -> None:  # logging.Handler calls it from __init__
        self.lock = _NoLock()  # type: ignore[assignment]

    @property
    def stream(self) -> TextIO:
        return sys.stdout

    @stream.setter
    def stream(self, value: TextIO) -> None:  # StreamHandler.__init__ assigns it; stdout is looked up instead
        pass

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            stream = sys.stdout
            if stream is sys.__stdout__:
                write_line(line)  # after the buffered access lines: one process's lines keep their order
            else:
                with self._fallback_lock:
                    stream.write(line + "\n")
                    stream.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


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
