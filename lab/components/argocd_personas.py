"""The Argo CD personas (developer, senior, lead: lab/manifests/argocd.py PERSONAS) as local accounts with
generated passwords.

- The plaintext passwords live only in `.lab/argocd-personas.json` (mode 0600, made on the first `invoke up` and
  reused after, so the accounts keep their passwords): printed by `invoke dashboard` only, never logged.
- Argo CD gets bcrypt hashes in argocd-secret, keys `accounts.<name>.password` and `accounts.<name>.passwordMtime`
  (RFC 3339); the accounts themselves are `accounts.<name>: login` in argocd-cm (argo-cd v3.5.1
  util/settings/accounts.go, docs/operator-manual/user-management/index.md). Argo CD verifies with
  golang.org/x/crypto/bcrypt, which reads the `$2b$` hashes Python's bcrypt makes, at their own cost; the cost here is
  Argo CD's own minimum, bcrypt.DefaultCost 10 (util/password/password.go). Tokens issued before passwordMtime are
  rejected (util/session/sessionmanager.go), so the mtime is that of the password, kept in the file with it.
- The Secret is applied server-side under a field manager of its own: the install's apply of argocd-secret (no
  data) never owns these keys, so it cannot remove them, and this apply leaves Argo CD's `server.secretkey` alone.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bcrypt

from lab.core import names
from lab.core.context import Context
from lab.core.errors import Conflict
from lab.manifests import argocd as manifests
from lab.tools import kubectl

FILE_NAME = "argocd-personas.json"
FIELD_MANAGER = "gitops-lab-personas"
SECRET_NAME = "argocd-secret"  # noqa: S105 (install.yaml's Secret of Argo CD's own settings, not a password)
BCRYPT_COST = 10
PASSWORD_BYTES = 18  # 24 URL-safe characters


@dataclass(frozen=True)
class Persona:
    name: str
    password: str = field(repr=False)
    password_hash: str = field(repr=False)
    mtime: str  # RFC 3339, UTC


def personas_file(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


def load(state_dir: Path) -> dict[str, Persona] | None:
    """The personas in the state file; None when there is none yet (before the first `invoke up`)."""
    path = personas_file(state_dir)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as exc:
        raise Conflict(
            f"{path} is not the lab's personas file ({exc})",
            hint=f"remove it and run `invoke up` to make new passwords: rm {path} && invoke up",
        ) from exc
    return {
        name: Persona(name, entry["password"], entry["hash"], entry["mtime"])
        for name, entry in raw.items()
        if name in manifests.PERSONAS and isinstance(entry, dict) and {"password", "hash", "mtime"} <= set(entry)
    }


def new_persona(name: str, *, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> Persona:
    password = secrets.token_urlsafe(PASSWORD_BYTES)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=BCRYPT_COST)).decode()
    return Persona(name, password, hashed, now().strftime("%Y-%m-%dT%H:%M:%SZ"))


def _write(path: Path, personas: Mapping[str, Persona]) -> None:
    """Write with mode 0600 from the first byte (a new file, then renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(
        {p.name: {"password": p.password, "hash": p.password_hash, "mtime": p.mtime} for p in personas.values()},
        indent=2,
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text + "\n")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_file(state_dir: Path, *, make: Callable[[str], Persona] = new_persona) -> dict[str, Persona]:
    """The personas, one per PERSONAS entry: those in the file kept, missing ones generated; the file 0600."""
    path = personas_file(state_dir)
    found = load(state_dir) or {}
    personas = {name: found.get(name) or make(name) for name in manifests.PERSONAS}
    if personas != found or (path.stat().st_mode & 0o777) != 0o600:
        _write(path, personas)
    return personas


def secret_doc(personas: Mapping[str, Persona]) -> dict[str, Any]:
    """What this module owns of argocd-secret: each persona's password hash and its mtime."""
    data: dict[str, str] = {}
    for p in personas.values():
        data[f"accounts.{p.name}.password"] = base64.b64encode(p.password_hash.encode()).decode()
        data[f"accounts.{p.name}.passwordMtime"] = base64.b64encode(p.mtime.encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SECRET_NAME, "namespace": names.ARGOCD_NAMESPACE},
        "data": data,
    }


def ensure_personas(ctx: Context) -> dict[str, Persona] | None:
    """Make (or reuse) the personas' passwords and set their hashes in argocd-secret. A dry run writes no file and
    applies the Secret with every value redacted (the runner records it)."""
    state_dir = ctx.settings.state_dir
    with ctx.ui.phase("Argo CD personas: " + ", ".join(manifests.PERSONAS)) as phase:
        if ctx.dry_run:
            found = load(state_dir)
            personas = found if found and set(found) == set(manifests.PERSONAS) else None
            placeholder = {n: Persona(n, "", "<bcrypt hash>", "<now>") for n in manifests.PERSONAS}
            doc = manifests.redact([secret_doc(personas or placeholder)])[0]
            ctx.ui.info(f"   passwords: {personas_file(state_dir)} (mode 0600; " + ("kept)" if personas else "made)"))
        else:
            personas = ensure_file(state_dir)
            doc = secret_doc(personas)
        kubectl.apply_server_side(
            ctx.runner, ctx.settings.kube_context, manifest=manifests.dump(doc), field_manager=FIELD_MANAGER
        )
        phase.note = "; ".join(f"{p} syncs {', '.join(envs)}" for p, envs in ladder())
    return personas


def ladder() -> list[tuple[str, list[str]]]:
    """(persona, the environments it may sync), lowest first."""
    return [(p, [e.name for e in manifests.synced_envs(p)]) for p in manifests.PERSONAS]
