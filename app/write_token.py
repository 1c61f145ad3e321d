"""The write token: the app's one runtime secret, which protects the write endpoints (POST and DELETE on /items).

``APP_WRITE_TOKEN_FILE`` names a file holding the token: in the cluster, the key ``write-token`` of the Secret
``lab-app-secrets``, which the Sealed Secrets controller makes from the SealedSecret that ``invoke secret set
write-token --env ENV`` commits to the environment's overlay (docs/secrets.md); the Deployment mounts that Secret as
an optional volume (overlays/base/deployment.yaml), so the pod starts before the Secret exists.

- no file configured (the setting empty: tests, bench, `docker run`): writes are open, as they always were;
- configured, but no file there (the Secret does not exist yet, or the sealed-secrets component is off): writes are
  open too, and ``GET /`` says so (``"write_protection": "open"``);
- the file exists: a write must send ``Authorization: Bearer <token>``; a missing or wrong token is a 401 problem
  (constant-time comparison, hmac.compare_digest). An empty file refuses every write: no token matches it.

The file is read on every write, so a rotated token takes effect without a restart: the kubelet replaces a mounted
Secret's files when the Secret changes (an atomic swap of the volume's ``..data`` link), up to its sync period plus
its cache delay later (Kubernetes docs, "Using Secrets as files from a Pod": mounted Secrets are updated
automatically, not for subPath mounts). Rolling the Deployment instead would take effect sooner but restarts every
pod on each rotation; a read of one small file per write costs far less than that.
"""

from __future__ import annotations

import hmac

from flask import Response, request

from app.problems import problem_response

UNAUTHORIZED = "urn:gitops-lab:problem:unauthorized"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_TOKEN_BYTES = 4096


def read_token(path: str) -> bytes | None:
    """The token in PATH (surrounding whitespace dropped), or None when PATH is empty or no such file exists."""
    if not path:
        return None
    try:
        with open(path, "rb") as f:
            return f.read(MAX_TOKEN_BYTES).strip()
    except (FileNotFoundError, IsADirectoryError):
        return None


def protection(path: str) -> str:
    """What `GET /` reports as write_protection: "token" when writes need the token, "open" when they do not."""
    return "token" if read_token(path) is not None else "open"


def check(path: str) -> Response | None:
    """None when this request may proceed; the 401 problem response otherwise."""
    if request.method not in WRITE_METHODS:
        return None
    expected = read_token(path)
    if expected is None:
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, sent = header.partition(" ")
    given = sent.strip().encode() if scheme.lower() == "bearer" else b""
    # compare_digest's time does not depend on the values' contents (at most on their lengths: Python's hmac docs).
    # An unreadable file (PermissionError) is a 500: writes fail closed.
    if expected and given and hmac.compare_digest(given, expected):
        return None
    detail = (
        "This endpoint needs the write token: send 'Authorization: Bearer <token>'."
        if not given
        else "The write token is wrong (or was rotated)."
    )
    return problem_response(
        401,
        detail,
        type_=UNAUTHORIZED,
        title="Write token required",
        headers={"WWW-Authenticate": 'Bearer realm="lab-app"'},
    )
