"""A strict fake of Argo CD's API server for lab.clients.argocd_api (a Transport): the two requests the lab makes,
answered as argo-cd v3.5.1 answers them over grpc-gateway v1.16.0 (runtime/errors.go: body `{"error", "code",
"message"}`, Unauthenticated 401, PermissionDenied 403, NotFound 404, FailedPrecondition 400).

- `POST /api/v1/session {"username", "password"}`: the password is checked with bcrypt against the hash the lab put
  in argocd-secret (`accounts.<name>.password`, read through ``secret_data``), for accounts with `login` in
  ``accounts`` (argocd-cm); anything else is 401 "Invalid username or password" (util/session/sessionmanager.go).
- `POST /api/v1/applications/<name>/sync`: the Bearer token must be one this fake issued; then, as
  server/application/application.go Sync: `applications, get` (denied: 403 "permission denied"; allowed but absent:
  404), `applications, sync, <project>/<app>` (denied: 403 "permission denied: applications, sync, <obj>, sub:
  <user>, iat: <time>", util/rbac/rbac.go), an operation already set (400 "another operation is already in
  progress", util/argo/argo.go), then the Application's `operation` is set with initiatedBy.username the account.
- The policy is the argocd-rbac-cm data the lab generates, evaluated for the only line shapes the lab writes
  (`p, sub, res, act, obj, allow` with glob objects, `g, user, role`) plus the built-in role:readonly's
  `applications, get, */*`; any other line, path, method or body key is an AssertionError, as is a request to a
  host other than the loopback.
"""

from __future__ import annotations

import base64
import fnmatch
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

import bcrypt
from kubernetes.client.exceptions import ApiException

from lab.clients.argocd import ApplicationsApi
from lab.clients.argocd_api import Answer

SYNC_KEYS = {"name", "prune", "revision", "infos"}
READONLY = ("p", "role:readonly", "applications", "get", "*/*", "allow")


def _error(status: int, code: int, message: str) -> Answer:
    return Answer(status, {"error": message, "code": code, "message": message})


@dataclass
class FakeArgoCDServer:
    base_url: str
    rbac_cm: Mapping[str, str]  # argocd-rbac-cm data: policy.csv, policy.default
    argocd_cm: Mapping[str, str]  # argocd-cm data: accounts.<name>: login
    secret_data: Callable[[], Mapping[str, str]]  # argocd-secret's data (base64), as the lab applied it
    apps: ApplicationsApi
    project: str = "gitops-lab"
    refuse_connections: bool = False
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, account or "")
    syncs: list[tuple[str, str]] = field(default_factory=list)  # (app, account)
    _tokens: dict[str, str] = field(default_factory=dict)

    def __call__(
        self, method: str, url: str, body: dict[str, Any], headers: Mapping[str, str], timeout: float
    ) -> Answer:
        parts = urlsplit(url)
        assert parts.hostname in ("127.0.0.1", "localhost"), f"not the loopback: {url}"
        assert url.startswith(self.base_url), f"{url} is not on {self.base_url}"
        assert 0 < timeout <= 60, f"unbounded timeout {timeout}"
        assert parts.query == "" and "@" not in parts.netloc, f"nothing rides in the URL: {url}"
        if self.refuse_connections:
            raise ConnectionRefusedError(111, "Connection refused")
        path = parts.path
        if (method, path) == ("POST", "/api/v1/session"):
            assert set(body) == {"username", "password"}, body
            assert "Authorization" not in headers
            self.calls.append((method, path, ""))
            return self._login(str(body["username"]), str(body["password"]))
        prefix, suffix = "/api/v1/applications/", "/sync"
        if method == "POST" and path.startswith(prefix) and path.endswith(suffix):
            name = unquote(path[len(prefix) : -len(suffix)])
            assert set(body) <= SYNC_KEYS and body.get("name") == name, body
            user = self._user(headers)
            self.calls.append((method, path, user or ""))
            return self._sync(name, user, body)
        raise AssertionError(f"the fake Argo CD API does not model {method} {path}")

    # ---------------------------------------------------------------------------------------------- session
    def _login(self, username: str, password: str) -> Answer:
        capabilities = [c.strip() for c in self.argocd_cm.get(f"accounts.{username}", "").split(",")]
        encoded = self.secret_data().get(f"accounts.{username}.password")
        if not password:
            return _error(401, 16, "no password supplied")
        if "login" not in capabilities or not encoded:
            return _error(401, 16, "Invalid username or password")
        if not bcrypt.checkpw(password.encode(), base64.b64decode(encoded)):
            return _error(401, 16, "Invalid username or password")
        token = f"fake-jwt-{len(self._tokens)}-{username}"
        self._tokens[token] = username
        return Answer(200, {"token": token})

    def _user(self, headers: Mapping[str, str]) -> str | None:
        auth = headers.get("Authorization", "")
        return self._tokens.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None

    # ---------------------------------------------------------------------------------------------- RBAC
    def _lines(self) -> list[tuple[str, ...]]:
        lines = []
        for raw in self.rbac_cm.get("policy.csv", "").splitlines():
            if not raw.strip() or raw.lstrip().startswith("#"):
                continue
            parts = tuple(p.strip() for p in raw.split(","))
            ok = (parts[0] == "p" and len(parts) == 6 and parts[5] == "allow") or (parts[0] == "g" and len(parts) == 3)
            assert ok, f"the fake does not model the policy line {raw!r}"
            lines.append(parts)
        return lines

    def allowed(self, user: str, resource: str, action: str, obj: str) -> bool:
        lines = self._lines()
        subjects = {user} | {g[2] for g in lines if g[0] == "g" and g[1] == user}
        default = self.rbac_cm.get("policy.default", "")
        assert default in ("", "role:readonly"), f"the fake does not model policy.default {default!r}"
        if default:
            subjects.add(default)
            lines.append(READONLY)
        return any(
            p[0] == "p" and p[1] in subjects and p[2] == resource and p[3] == action and fnmatch.fnmatchcase(obj, p[4])
            for p in lines
        )

    # ---------------------------------------------------------------------------------------------- sync
    def _sync(self, name: str, user: str | None, body: dict[str, Any]) -> Answer:
        if user is None:
            return _error(401, 16, "no session information")
        obj = f"{self.project}/{name}"
        if not self.allowed(user, "applications", "get", obj):
            return _error(403, 7, "permission denied")
        try:
            app = self.apps.get(name)
        except ApiException as exc:
            if exc.status == 404:
                return _error(404, 5, f'applications.argoproj.io "{name}" not found')
            raise
        if not self.allowed(user, "applications", "sync", obj):
            return _error(
                403, 7, f"permission denied: applications, sync, {obj}, sub: {user}, iat: 2026-01-01T00:00:00Z"
            )
        if app.get("operation"):
            return _error(400, 9, "another operation is already in progress")
        policy = (app.get("spec") or {}).get("syncPolicy") or {}
        sync: dict[str, Any] = {"prune": bool(body.get("prune"))}
        if policy.get("syncOptions"):
            sync["syncOptions"] = list(policy["syncOptions"])
        operation: dict[str, Any] = {"initiatedBy": {"username": user}, "sync": sync}
        if body.get("infos"):
            operation["info"] = body["infos"]
        self.apps.patch(name, {"operation": operation})
        self.syncs.append((name, user))
        return Answer(200, json.loads(json.dumps(app)))
