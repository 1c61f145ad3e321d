"""lab.clients.argocd_api over real HTTP: a server on 127.0.0.1 answering as Argo CD's grpc-gateway does (status
and `{"error", "code", "message"}`), a closed port, a server that does not answer in time. Each failure is a
LabError that says what happened; the token goes in the Authorization header only, and no proxy is used."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from lab.clients import argocd_api
from lab.clients.argocd_api import ArgoCDApi
from lab.core.errors import ArgoCDDenied, ClusterUnreachable, Conflict

pytestmark = pytest.mark.integration

ANSWERS: dict[str, tuple[int, dict[str, Any]]] = {
    "lab-dev": (200, {"metadata": {"name": "lab-dev"}}),
    "lab-prod": (
        403,
        {"error": "x", "code": 7, "message": "permission denied: applications, sync, p/lab-prod, sub: dev"},
    ),
    "lab-gone": (404, {"error": "x", "code": 5, "message": 'applications.argoproj.io "lab-gone" not found'}),
    "lab-busy": (400, {"error": "x", "code": 9, "message": "another operation is already in progress"}),
    "lab-slow": (200, {}),
}


class Handler(BaseHTTPRequestHandler):
    seen: ClassVar[list[tuple[str, dict[str, Any], str]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Handler.seen.append((self.path, body, self.headers.get("Authorization", "")))
        if self.path == "/api/v1/session":
            ok = body == {"username": "developer", "password": "right"}
            status, answer = (
                (200, {"token": "tok-123"}) if ok else (401, {"code": 16, "message": "Invalid username or password"})
            )
        else:
            name = self.path.split("/")[4]
            if name == "lab-slow":
                time.sleep(2)
            status, answer = ANSWERS[name]
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[ArgoCDApi]:
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")  # a proxy would refuse: the loopback is never proxied
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setattr(argocd_api, "SYNC_TIMEOUT", 0.5)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Handler.seen = []
    yield ArgoCDApi(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_a_login_then_an_allowed_sync_carries_the_token_in_the_header_only(api: ArgoCDApi) -> None:
    token = api.login("developer", "right", password_hint="h")
    assert token == "tok-123"
    api.sync("lab-dev", token, reason="invoke sync dev --as developer")
    [(path, login, auth), (sync_path, sync_body, sync_auth)] = Handler.seen
    assert (path, login, auth) == ("/api/v1/session", {"username": "developer", "password": "right"}, "")
    assert sync_path == "/api/v1/applications/lab-dev/sync" and sync_auth == "Bearer tok-123"
    assert sync_body == {
        "name": "lab-dev",
        "prune": True,
        "infos": [{"name": "reason", "value": "invoke sync dev --as developer"}],
    }


def test_a_wrong_password_is_argocds_401(api: ArgoCDApi) -> None:
    with pytest.raises(ArgoCDDenied) as info:
        api.login("developer", "wrong", password_hint="`invoke up` sets it again")
    assert info.value.status == 401 and info.value.exit_code == 18
    assert info.value.answer == "HTTP 401 Unauthenticated: Invalid username or password"
    assert info.value.hint == "`invoke up` sets it again" and "wrong" not in info.value.render()


@pytest.mark.parametrize(
    ("app", "error", "text"),
    [
        ("lab-prod", ArgoCDDenied, "HTTP 403 PermissionDenied: permission denied: applications, sync, p/lab-prod"),
        ("lab-gone", Conflict, "Argo CD has no Application lab-gone (HTTP 404 NotFound"),
        ("lab-busy", Conflict, "HTTP 400 FailedPrecondition: another operation is already in progress"),
        ("lab-slow", ClusterUnreachable, "did not answer POST /api/v1/applications/lab-slow/sync within 0.5s"),
    ],
)
def test_each_refusal_of_a_sync_is_a_lab_error_saying_what_argocd_answered(
    api: ArgoCDApi, app: str, error: type[Exception], text: str
) -> None:
    with pytest.raises(error) as info:
        api.sync(app, "tok-123")
    assert text in info.value.render(), info.value.render()  # type: ignore[attr-defined]
    assert "tok-123" not in info.value.render()  # type: ignore[attr-defined]


def test_nothing_listening_is_cluster_unreachable_with_a_hint() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    api = ArgoCDApi(f"http://127.0.0.1:{port}")
    with pytest.raises(ClusterUnreachable) as info:
        api.login("developer", "right", password_hint="h")
    assert f"does not answer on http://127.0.0.1:{port} (Connection refused)" in info.value.message
    assert info.value.hint == "is the lab up? `invoke status`"


def test_only_the_loopback_is_ever_asked() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        argocd_api.urllib_transport("POST", "http://10.0.0.1:8080/api/v1/session", {}, {}, 1.0)
