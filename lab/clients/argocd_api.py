"""Argo CD's own API server, over HTTP on 127.0.0.1: a session for a local account, then a sync as that account.
Unlike lab/clients/argocd.py (the Kubernetes API), every request here passes Argo CD's RBAC (argocd-rbac-cm).

Upstream (argo-cd v3.5.1):
- `POST /api/v1/session` with `{"username", "password"}` answers `{"token"}` (server/session/session.proto,
  SessionCreateRequest / SessionResponse); a wrong password is gRPC Unauthenticated "Invalid username or password"
  (util/session/sessionmanager.go VerifyUsernamePassword).
- `POST /api/v1/applications/{name}/sync` with an ApplicationSyncRequest body (`name`, `prune`, `revision`,
  `infos[].name|value`; server/application/application.proto), the token as `Authorization: Bearer <token>`
  (server/server.go). Sync checks `applications, get` then `applications, sync, <project>/<app>`
  (server/application/application.go Sync) and answers gRPC PermissionDenied "permission denied: applications,
  sync, <project>/<app>, sub: <user>, ..." (util/rbac/rbac.go EnforceErr); sync options and retry come from the
  app's spec.syncPolicy there. Another operation running is FailedPrecondition (util/argo/argo.go).
- gRPC codes reach HTTP as grpc-gateway v1.16.0 maps them (runtime/errors.go: Unauthenticated 401,
  PermissionDenied 403, NotFound 404, FailedPrecondition 400), body `{"error", "code", "message"}`.

The token and the password are never logged, printed or put in a URL: they travel in the request body and header.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from lab.core.errors import ArgoCDDenied, ClusterUnreachable, Conflict, LabError

LOGIN_TIMEOUT = 15.0  # seconds; Argo CD adds up to 0.5 s of noise to every login (sessionmanager.go)
SYNC_TIMEOUT = 30.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")
REDACTED = "<redacted>"
GRPC_CODES = {
    3: "InvalidArgument",
    5: "NotFound",
    7: "PermissionDenied",
    9: "FailedPrecondition",
    16: "Unauthenticated",
}

Json = dict[str, Any]


@dataclass(frozen=True)
class Answer:
    status: int
    body: Json


class Transport(Protocol):
    """One HTTP request with a JSON body; the answer whatever its status. OSError when nothing answers."""

    def __call__(self, method: str, url: str, body: Json, headers: Mapping[str, str], timeout: float) -> Answer: ...


def _parse(raw: bytes) -> Json:
    try:
        parsed = json.loads(raw or b"{}")
    except ValueError:
        return {"message": raw.decode(errors="replace").strip()[:300]}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def urllib_transport(method: str, url: str, body: Json, headers: Mapping[str, str], timeout: float) -> Answer:
    """The real transport: urllib, no proxy (the API is on the loopback), loopback hosts only."""
    host = urlsplit(url).hostname or ""
    if host not in LOOPBACK:
        raise ValueError(f"the lab talks to Argo CD on the loopback only, not {host!r}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(  # noqa: S310 (an http URL on the loopback, checked above)
        url, data=json.dumps(body).encode(), method=method, headers={"Content-Type": "application/json", **headers}
    )
    try:
        with opener.open(request, timeout=timeout) as response:
            return Answer(response.status, _parse(response.read()))
    except urllib.error.HTTPError as exc:
        with exc:
            return Answer(exc.code, _parse(exc.read()))
    except urllib.error.URLError as exc:
        raise exc.reason if isinstance(exc.reason, OSError) else OSError(str(exc.reason)) from exc


@dataclass
class RecordingTransport:
    """A Transport for a dry run: shows each request (password and token redacted), sends nothing, and answers as
    Argo CD does when it allows the request."""

    show: Callable[[str], None]
    calls: list[str] = field(default_factory=list)

    def __call__(self, method: str, url: str, body: Json, headers: Mapping[str, str], timeout: float) -> Answer:
        shown = {k: REDACTED if k == "password" else v for k, v in body.items()}
        auth = " (Authorization: Bearer <token>)" if "Authorization" in headers else ""
        self.calls.append(call := f"{method} {url}{auth} {json.dumps(shown)}")
        self.show(call)
        if url.endswith("/api/v1/session"):
            return Answer(200, {"token": REDACTED})
        return Answer(200, {"metadata": {"name": body.get("name", "")}})


def _message(answer: Answer) -> str:
    return str(answer.body.get("message") or answer.body.get("error") or f"HTTP {answer.status}")


def describe(answer: Answer) -> str:
    """`HTTP 403 PermissionDenied: permission denied: ...` as Argo CD answered."""
    code = answer.body.get("code")
    name = GRPC_CODES.get(code, f"gRPC code {code}") if isinstance(code, int) else ""
    return f"HTTP {answer.status}{' ' + name if name else ''}: {_message(answer)}"


@dataclass
class ArgoCDApi:
    """Argo CD's REST API at BASE_URL (http://127.0.0.1:<argocd_port>)."""

    base_url: str
    transport: Transport = urllib_transport
    unreachable_hint: str = "is the lab up? `invoke status`"

    def _call(self, method: str, path: str, body: Json, headers: Mapping[str, str], timeout: float) -> Answer:
        url = self.base_url.rstrip("/") + path
        try:
            return self.transport(method, url, body, headers, timeout)
        except TimeoutError as exc:
            raise ClusterUnreachable(
                f"Argo CD's API server at {self.base_url} did not answer {method} {path} within {timeout:g}s",
                hint=self.unreachable_hint,
            ) from exc
        except OSError as exc:
            raise ClusterUnreachable(
                f"Argo CD's API server does not answer on {self.base_url} ({exc.strerror or exc})",
                hint=self.unreachable_hint,
            ) from exc

    def login(self, username: str, password: str, *, password_hint: str) -> str:
        """A session token for a local account. ArgoCDDenied (401) when Argo CD refuses the password."""
        answer = self._call("POST", "/api/v1/session", {"username": username, "password": password}, {}, LOGIN_TIMEOUT)
        if answer.status == 200 and isinstance(answer.body.get("token"), str) and answer.body["token"]:
            return str(answer.body["token"])
        if answer.status == 401:
            raise ArgoCDDenied(
                f"Argo CD refused the login of {username}", answer.status, describe(answer), hint=password_hint
            )
        raise self._unexpected("POST /api/v1/session", answer)

    def sync(self, app: str, token: str, *, prune: bool = True, reason: str | None = None) -> Json:
        """Start a sync of APP as the token's account. ArgoCDDenied carries Argo CD's 401/403 answer."""
        body: Json = {"name": app, "prune": prune}
        if reason:
            body["infos"] = [{"name": "reason", "value": reason}]
        path = f"/api/v1/applications/{quote(app, safe='')}/sync"
        answer = self._call("POST", path, body, {"Authorization": f"Bearer {token}"}, SYNC_TIMEOUT)
        if answer.status == 200:
            return answer.body
        if answer.status in (401, 403):
            raise ArgoCDDenied(f"Argo CD refused the sync of {app}", answer.status, describe(answer))
        if answer.status == 404:
            raise Conflict(
                f"Argo CD has no Application {app} ({describe(answer)})",
                hint="run `invoke up` to install Argo CD and the apps",
            )
        if answer.status == 400:
            raise Conflict(
                f"Argo CD did not start the sync of {app}: {describe(answer)}",
                hint="wait for the running operation (`invoke status`), then sync again",
            )
        raise self._unexpected(f"POST {path}", answer)

    def _unexpected(self, what: str, answer: Answer) -> LabError:
        if answer.status == 404:
            return ClusterUnreachable(
                f"no Argo CD API at {self.base_url}: {what} answered {describe(answer)}", hint=self.unreachable_hint
            )
        return ClusterUnreachable(
            f"Argo CD's API server answered {what} with {describe(answer)}", hint=self.unreachable_hint
        )
