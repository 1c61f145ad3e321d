"""The lab's notification receiver (lab/images/notify/receiver.py) seen from the host: the notifications Argo CD
posted to it, newest first, and the DORA figures the lab publishes to its /metrics.

The HTTP call is injectable (``get``/``put``): unit tests give canned answers, the integration test the real
container."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

TIMEOUT = 3.0  # seconds: the receiver answers on 127.0.0.1 in milliseconds

# (url, timeout) -> (status, parsed JSON body) ; raises OSError / requests.RequestException when nothing answers
Get = Callable[[str, float], tuple[int, Any]]
# (url, text, timeout) -> (status, body text)
Put = Callable[[str, str, float], tuple[int, str]]


class ReceiverUnreachable(Exception):
    """Nothing answered at the receiver's URL (refused, reset, timed out), or it answered something else."""


@dataclass(frozen=True)
class Notification:
    seq: int
    received_at: str
    app: str
    trigger: str
    sync: str = ""
    health: str = ""
    revision: str = ""
    phase: str = ""
    message: str = ""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Notification:
        def text(key: str) -> str:
            value = data.get(key)
            return "" if value is None else str(value)

        return cls(
            seq=int(data.get("seq") or 0),
            received_at=text("received_at"),
            app=text("app"),
            trigger=text("trigger"),
            sync=text("sync"),
            health=text("health"),
            revision=text("revision"),
            phase=text("phase"),
            message=text("message"),
        )

    def line(self) -> str:
        """One line for a terminal: time, app, trigger, then what Argo CD said."""
        what = ", ".join(
            part
            for part in (
                self.sync and f"sync {self.sync}",
                self.health and f"health {self.health}",
                self.revision and f"revision {self.revision[:7]}",
            )
            if part
        )
        message = " ".join(self.message.split())
        if len(message) > 120:
            message = message[:117] + "..."
        tail = " — ".join(part for part in (what, message) if part)
        return f"{self.received_at}  {self.app or '?'}  {self.trigger or '?'}" + (f"  {tail}" if tail else "")


@dataclass(frozen=True)
class Page:
    notifications: tuple[Notification, ...]  # newest first
    latest: int  # seq of the newest the receiver ever got (0: none yet)


def _get(url: str, timeout: float) -> tuple[int, Any]:
    resp = requests.get(url, timeout=timeout, allow_redirects=False)
    try:
        return resp.status_code, resp.json()
    except ValueError:
        return resp.status_code, None


def _put(url: str, text: str, timeout: float) -> tuple[int, str]:
    resp = requests.put(url, data=text.encode(), headers={"Content-Type": "text/plain"}, timeout=timeout)
    return resp.status_code, resp.text


@dataclass
class ReceiverClient:
    base_url: str  # http://127.0.0.1:<notify_port>
    get: Get = _get
    put: Put = _put
    timeout: float = TIMEOUT

    def notifications(self, *, after: int = 0, limit: int | None = None) -> Page:
        url = f"{self.base_url}/notifications?after={after}" + (f"&limit={limit}" if limit is not None else "")
        try:
            status, body = self.get(url, self.timeout)
        except (OSError, requests.RequestException) as exc:
            raise ReceiverUnreachable(f"GET {url}: {exc.__class__.__name__}") from exc
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("notifications"), list):
            raise ReceiverUnreachable(f"GET {url} answered HTTP {status}, not the receiver's JSON")
        items = tuple(Notification.from_json(item) for item in body["notifications"] if isinstance(item, dict))
        return Page(items, int(body.get("latest") or 0))

    def publish_dora(self, text: str) -> None:
        """PUT the lab_dora_* figures (Prometheus text format) for the receiver's /metrics to serve."""
        url = f"{self.base_url}/metrics/dora"
        try:
            status, body = self.put(url, text, self.timeout)
        except (OSError, requests.RequestException) as exc:
            raise ReceiverUnreachable(f"PUT {url}: {exc.__class__.__name__}") from exc
        if status not in (200, 204):
            raise ReceiverUnreachable(f"PUT {url} answered HTTP {status}: {body.strip()[:200]}")
