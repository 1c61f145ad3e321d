"""A strict fake of the lab's notification receiver (lab/images/notify/receiver.py) for ReceiverClient's ``get``/
``put``: GET /notifications?after=&limit= and PUT /metrics/dora answer as the receiver does; any other request
raises. ``down`` makes every request fail as a refused connection does. Notifications may be scheduled to arrive
at a time of a fake clock (``arrive(at, ...)``), for --follow."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests


class UnmodelledRequest(AssertionError):
    pass


@dataclass
class FakeReceiver:
    base_url: str = "http://127.0.0.1:8095"
    clock: Callable[[], float] = lambda: 0.0
    down: bool = False
    items: list[dict[str, Any]] = field(default_factory=list)  # oldest first, each with its seq
    pending: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    dora: str = ""
    requests: list[str] = field(default_factory=list)
    seq: int = 0

    def add(self, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        item = {"seq": self.seq, "received_at": f"2026-12-01T15:00:{self.seq:02d}Z", **fields}
        self.items.append(item)
        return item

    def arrive(self, at: float, **fields: Any) -> None:
        self.pending.append((at, fields))

    def restart(self) -> None:
        """The container restarted: it keeps messages in memory only."""
        self.items.clear()
        self.seq = 0

    def _deliver(self) -> None:
        now = self.clock()
        due = [p for p in self.pending if p[0] <= now]
        self.pending = [p for p in self.pending if p[0] > now]
        for _, fields in sorted(due, key=lambda p: p[0]):
            self.add(**fields)

    def get(self, url: str, timeout: float) -> tuple[int, Any]:
        self.requests.append(f"GET {url}")
        if self.down:
            raise requests.ConnectionError(f"refused: {url}")
        parts = urlsplit(url)
        if f"{parts.scheme}://{parts.netloc}" != self.base_url or parts.path != "/notifications":
            raise UnmodelledRequest(f"the fake receiver does not model GET {url}")
        self._deliver()
        query = parse_qs(parts.query)
        after = int(query.get("after", ["0"])[0])
        newer = [item for item in reversed(self.items) if item["seq"] > after]
        if "limit" in query:
            newer = newer[: int(query["limit"][0])]
        return 200, {"notifications": newer, "latest": self.seq, "kept": len(self.items), "keep": 200}

    def put(self, url: str, text: str, timeout: float) -> tuple[int, str]:
        self.requests.append(f"PUT {url}")
        if self.down:
            raise requests.ConnectionError(f"refused: {url}")
        if url != f"{self.base_url}/metrics/dora":
            raise UnmodelledRequest(f"the fake receiver does not model PUT {url}")
        self.dora = text
        return 204, ""
