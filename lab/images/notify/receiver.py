"""The lab's notification receiver: a small HTTP server (standard library only) for Argo CD's webhook notifications.

    POST /notifications      one notification: a JSON object (the lab's templates send app, trigger, sync, health,
                             revision, phase, message, finishedAt); any other body is kept as its text in "message"
    GET  /notifications      {"notifications": [newest first], "latest": <seq of the newest>, "kept": n, "keep": N};
                             ?after=SEQ: only those newer than SEQ; ?limit=K: at most K
    GET  /metrics            Prometheus text format: lab_notifications_received_total{app, trigger}, and the
                             lab_dora_* figures last PUT to /metrics/dora
    PUT  /metrics/dora       replace those figures (Prometheus text format; only # lines and lab_dora_* samples)
    GET  /healthz            "ok"

Messages are kept in memory, the last NOTIFY_KEEP (default 200): the container runs read-only and a restart forgets
them. Bodies above MAX_BODY bytes are refused (413).
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections import Counter, deque
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

MAX_BODY = 64 * 1024
MAX_FIELD = 2000  # characters kept of each field of a notification
DORA_PREFIX = "lab_dora_"


class Store:
    """The last KEEP notifications, the counters by (app, trigger) and the DORA text; thread-safe."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.lock = threading.Lock()
        self.items: deque[dict[str, Any]] = deque(maxlen=keep)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.seq = 0
        self.dora = ""

    def add(self, fields: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.seq += 1
            item = {"seq": self.seq, "received_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), **fields}
            self.items.append(item)
            self.counts[(str(fields.get("app", "")), str(fields.get("trigger", "")))] += 1
            return item

    def since(self, after: int, limit: int | None) -> dict[str, Any]:
        with self.lock:
            newer = [item for item in reversed(self.items) if item["seq"] > after]
            return {
                "notifications": newer[:limit] if limit is not None else newer,
                "latest": self.seq,
                "kept": len(self.items),
                "keep": self.keep,
            }

    def metrics(self) -> str:
        with self.lock:
            lines = [
                "# HELP lab_notifications_received_total Argo CD notifications the lab's receiver got, by app and "
                "trigger.",
                "# TYPE lab_notifications_received_total counter",
            ]
            for (app, trigger), count in sorted(self.counts.items()):
                lines.append(
                    f'lab_notifications_received_total{{app="{_label(app)}",trigger="{_label(trigger)}"}} {count}'
                )
            text = "\n".join(lines) + "\n"
            return text + self.dora


def _label(value: str) -> str:
    """A Prometheus label value, escaped as the text format wants (backslash, double quote, line feed)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def parse_notification(body: bytes) -> dict[str, Any]:
    """The fields of one notification: a JSON object's string, number and bool values (each cut to MAX_FIELD
    characters); anything else is its text, as "message"."""
    text = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return {"message": text.strip()[:MAX_FIELD]}
    fields: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("seq", "received_at"):
            continue
        if isinstance(value, str):
            fields[str(key)[:100]] = value.strip()[:MAX_FIELD]
        elif isinstance(value, bool | int | float):
            fields[str(key)[:100]] = value
    return fields


def check_dora(text: str) -> str | None:
    """Why TEXT is not a set of lab_dora_* figures in Prometheus text format, or None."""
    for number, line in enumerate(text.splitlines(), 1):
        if line and not line.startswith("#") and not line.startswith(DORA_PREFIX):
            return f"line {number} is not a comment or a {DORA_PREFIX}* sample: {line[:80]!r}"
    return None


class Handler(BaseHTTPRequestHandler):
    server_version = "lab-notify/1"
    store: Store  # set on the class by serve()

    def _send(self, status: int, body: str, content_type: str = "application/json") -> None:
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, json.dumps({"error": message}) + "\n")

    def _body(self) -> bytes | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._error(413, f"a body of at most {MAX_BODY} bytes (Content-Length) is accepted")
            self.close_connection = True
            return None
        return self.rfile.read(length)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/healthz":
            self._send(200, "ok\n", "text/plain")
        elif url.path == "/metrics":
            self._send(200, self.store.metrics(), "text/plain; version=0.0.4; charset=utf-8")
        elif url.path == "/notifications":
            query = parse_qs(url.query)
            try:
                after = int(query.get("after", ["0"])[0])
                limit = int(query["limit"][0]) if "limit" in query else None
            except ValueError:
                self._error(400, "after and limit are whole numbers")
                return
            self._send(200, json.dumps(self.store.since(after, limit)) + "\n")
        else:
            self._error(404, "GET /notifications, /metrics or /healthz")

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/notifications":
            self._error(404, "POST /notifications")
            return
        body = self._body()
        if body is None:
            return
        item = self.store.add(parse_notification(body))
        self._send(201, json.dumps({"seq": item["seq"]}) + "\n")

    def do_PUT(self) -> None:
        if urlsplit(self.path).path != "/metrics/dora":
            self._error(404, "PUT /metrics/dora")
            return
        body = self._body()
        if body is None:
            return
        text = body.decode("utf-8", errors="replace")
        why = check_dora(text)
        if why is not None:
            self._error(400, why)
            return
        with self.store.lock:
            self.store.dora = text if not text or text.endswith("\n") else text + "\n"
        self._send(204, "")

    def log_message(self, format: str, *args: Any) -> None:
        sys.stderr.write(f"{self.address_string()} {format % args}\n")


def serve(port: int, keep: int) -> None:
    Handler.store = Store(keep)
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)  # noqa: S104 (inside the container; published on 127.0.0.1)
    server.daemon_threads = True
    sys.stderr.write(f"lab-notify: listening on :{port}, keeping the last {keep} notifications\n")
    server.serve_forever()


if __name__ == "__main__":
    serve(int(os.environ.get("NOTIFY_PORT", "8080")), max(1, int(os.environ.get("NOTIFY_KEEP", "200"))))
