"""Network probes from the host, on 127.0.0.1 only: is a TCP port free to publish, does an HTTP endpoint answer.

Steps take these as injectable functions, so unit tests decide what the network looks like."""

from __future__ import annotations

import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass

import requests

HTTP_TIMEOUT = 3.0  # seconds per request: the lab's services answer on localhost in milliseconds


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on host:port, i.e. Docker can publish it there (a bind test, as `docker run` does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sys.platform.startswith("linux"):
            # On Linux a port left in TIME_WAIT can be listened on again, one with a listener cannot. (On BSD/macOS
            # SO_REUSEADDR would also let 127.0.0.1 bind beside a 0.0.0.0 listener, hiding a busy port.)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str = ""
    headers: Mapping[str, str] | None = None


def http_get(url: str, *, headers: Mapping[str, str] | None = None, timeout: float = HTTP_TIMEOUT) -> HttpAnswer | None:
    """GET url without following redirects; None when nothing answers (refused, reset, timed out)."""
    try:
        resp = requests.get(url, headers=dict(headers or {}), timeout=timeout, allow_redirects=False)
    except requests.RequestException:
        return None
    return HttpAnswer(resp.status_code, resp.text[:4096], dict(resp.headers))
