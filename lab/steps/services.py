"""The lab's service containers: the registry, the ECR emulator and the git server. observe -> compare -> act.

| observed (container by name)                                | action                                         |
|-------------------------------------------------------------|------------------------------------------------|
| absent                                                      | check the host port is free, create, wait      |
| the lab's, this cluster's, running, as wanted               | reuse                                          |
| the lab's, this cluster's, stopped                          | check the port, start, wait                    |
| the lab's, but built from another image or spec (label)     | say why, remove, create (data lives in volumes |
|                                                             | or on the host, so nothing is lost)            |
| the lab's, running, but its bind mount is not the host      | say why, remove, create (the git server after  |
| directory there now (a token written on the host is not     | `rm -rf .lab`: it would serve the deleted      |
| what the container reads)                                   | directory)                                     |
| not the lab's, or another cluster's                         | Conflict, unless force: say why, replace it    |

All three images are built locally FROM settings.base_image (no pull, so `up --offline` works after `cache`).
Containers publish on 127.0.0.1 only and start on Docker's default network: the cluster step connects them to
the `kind` network once kind has created it (lab/providers.py: wire_registry / attach). Creating that network
here is avoided on purpose: kind reuses any network named `kind` as it finds it, without the IPv6 subnet and
MTU it would have given it (kind pkg/cluster/internal/providers/docker/network.go, ensureNetwork).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lab.core import names, versions
from lab.core.config import ROOT, Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Conflict, NotReady, RegistryError
from lab.providers import (
    ECR_CONTAINER,
    ECR_CONTAINER_PORT,
    GIT_CONTAINER,
    REGISTRY_CONTAINER,
    REGISTRY_CONTAINER_PORT,
)
from lab.tools import docker, docker_objects, ecr, git, probes
from lab.tools.probes import HttpAnswer

GIT_CONTAINER_PORT = 8080  # nginx in lab/images/gitserver listens here
GITOPS_REPO = "gitops.git"

COMPONENT_REGISTRY = "registry"
COMPONENT_ECR = "ecr"
COMPONENT_GIT = "git"
COMPONENTS = (COMPONENT_REGISTRY, COMPONENT_ECR, COMPONENT_GIT)

CONTEXT_LABEL = names.CONTEXT_LABEL  # on images: digest of the build context, base image and build args
SPEC_LABEL = names.SPEC_LABEL  # on containers: digest of how the lab ran them (image, ports, mounts, env)
MOUNT_CHECK_FILE = ".gitops-lab-mount-check"  # written into bind-mounted host directories, read back in the container

REGISTRY_VOLUME = names.REGISTRY_VOLUME
ECR_STATE_VOLUME = names.ECR_STATE_VOLUME
ECR_HOOK = ROOT / "localstack" / "init_ecr.py"
ECR_HOOK_TARGET = "/etc/localstack/init/ready.d/init_ecr.py"  # both emulators run ready.d/*.py
LOCALSTACK_TOKEN_ENV = "LOCALSTACK_AUTH_TOKEN"  # noqa: S105 (the variable's name, not a secret)

# Readiness bounds (seconds). MiniStack answers in ~1 s, LocalStack in ~10-30 s (license check, boot).
REGISTRY_READY_TIMEOUT = 30.0
GIT_READY_TIMEOUT = 30.0
MINISTACK_READY_TIMEOUT = 60.0
LOCALSTACK_READY_TIMEOUT = 180.0


# Images ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ServiceImage:
    component: str
    ref: str
    context: Path
    dockerfile: Path
    build_args: Mapping[str, str] = field(default_factory=dict)

    def digest(self) -> str:
        """sha256 over the build context's files, the Dockerfile and the build args (base image included)."""
        h = hashlib.sha256()
        files = {p for p in self.context.rglob("*") if p.is_file() and _in_context(p)} | {self.dockerfile}
        for path in sorted(files):
            h.update(str(path.relative_to(self.context)).encode() + b"\0" + path.read_bytes() + b"\0")
        h.update(json.dumps(dict(self.build_args), sort_keys=True).encode())
        return h.hexdigest()[:16]


def _in_context(path: Path) -> bool:
    return path.suffix not in (".md", ".pyc") and "__pycache__" not in path.parts


def service_images(settings: Settings) -> list[ServiceImage]:
    """The images the lab builds for the services these settings run (an external registry, GitOps remote or
    AWS endpoint needs none; LocalStack's image is pulled instead: see build_service_images)."""
    images_dir = ROOT / "lab" / "images"
    base = {"BASE_IMAGE": settings.base_image}
    images: list[ServiceImage] = []
    if not settings.registry:
        images.append(
            ServiceImage(
                COMPONENT_REGISTRY,
                versions.REGISTRY_IMAGE,
                images_dir / "registry",
                images_dir / "registry" / "Dockerfile",
                {**base, "REGISTRY_SERIES": versions.REGISTRY_SERIES},
            )
        )
    if not settings.gitops_remote:
        images.append(
            ServiceImage(
                COMPONENT_GIT,
                versions.GITSERVER_IMAGE,
                images_dir / "gitserver",
                images_dir / "gitserver" / "Dockerfile",
                base,
            )
        )
    if settings.aws_emulator == "ministack" and not settings.aws_endpoint_url:
        images.append(
            ServiceImage(
                COMPONENT_ECR,
                versions.MINISTACK_IMAGE,
                ROOT / "localstack",
                ROOT / "localstack" / "Dockerfile.ministack",
                {**base, "MINISTACK_VERSION": versions.MINISTACK_VERSION},
            )
        )
    return images


def build_service_images(ctx: Context, *, rebuild: bool = False) -> dict[str, str]:
    """Build each service image unless an image with that tag and the same build context exists.

    Returns {image: "cached" | "built" | "stale" | "pulled"}. Offline, nothing is built or pulled: a missing image
    is an error, a stale one is used with a warning. LocalStack's image (when selected) is pulled, not built."""
    settings = ctx.settings
    done: dict[str, str] = {}
    for image in service_images(settings):
        digest = image.digest()
        found = docker_objects.image_inspect(ctx.runner, image.ref)
        current = docker_objects.image_labels(found).get(CONTEXT_LABEL) == digest
        if found is not None and current and not rebuild:
            done[image.ref] = "cached"
            continue
        if settings.offline:
            if found is None:
                raise ConfigError(
                    f"image {image.ref} is not built and the lab is offline",
                    hint="run `invoke cache` once while online (it builds the service images)",
                )
            ctx.ui.warn(f"{image.ref} was built from an older {image.context.name}/ and the lab is offline: using it")
            done[image.ref] = "stale"
            continue
        with ctx.ui.phase(f"Building {image.ref}") as phase:
            docker.build(
                ctx.runner,
                image.context,
                [image.ref],
                dockerfile=image.dockerfile,
                build_args=image.build_args,
                # Images are shared by every cluster of the lab: no cluster label.
                labels={docker.MANAGED_LABEL: "true", names.COMPONENT_LABEL: image.component, CONTEXT_LABEL: digest},
            )
            phase.note = f"FROM {settings.base_image}"
        done[image.ref] = "built"
    if settings.aws_emulator == "localstack" and not settings.aws_endpoint_url:
        if docker.image_exists(ctx.runner, versions.LOCALSTACK_IMAGE):
            done[versions.LOCALSTACK_IMAGE] = "cached"
        elif settings.offline:
            raise ConfigError(
                f"image {versions.LOCALSTACK_IMAGE} is not present and the lab is offline",
                hint="run `invoke cache` once while online, or use MiniStack: LAB_AWS_EMULATOR=ministack",
            )
        else:
            with ctx.ui.phase(f"Pulling {versions.LOCALSTACK_IMAGE}"):
                docker.pull(ctx.runner, versions.LOCALSTACK_IMAGE)
            done[versions.LOCALSTACK_IMAGE] = "pulled"
    return done


# Probes (injectable) -----------------------------------------------------------------------------------
@dataclass
class Probes:
    """What the steps learn from the network and the clock; unit tests replace these."""

    port_free: Callable[[int], bool] = probes.port_free
    http_get: Callable[[str], HttpAnswer | None] = probes.http_get
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    ecr_client: Callable[[Settings], Any] = ecr.ecr_client


# Containers --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ContainerSpec:
    component: str
    name: str
    image: str
    host_port: int
    container_port: int
    port_setting: str  # the LAB_* variable that moves the host port
    ready_url: str
    ready: Callable[[HttpAnswer], bool]
    ready_timeout: float
    volumes: tuple[tuple[str, str], ...] = ()
    named_volumes: tuple[str, ...] = ()  # created first, with the lab's labels, so `down --volumes` finds them
    env: Mapping[str, str] = field(default_factory=dict)
    extra: tuple[str, ...] = ()

    def digest(self) -> str:
        data = [self.image, self.host_port, self.container_port, self.volumes, sorted(self.env.items()), self.extra]
        return hashlib.sha256(json.dumps(data, default=list).encode()).hexdigest()[:16]


def _status_ok(*codes: int) -> Callable[[HttpAnswer], bool]:
    return lambda answer: answer.status in codes


def _localstack_init_done(answer: HttpAnswer) -> bool:
    """GET /_localstack/init/ready answers {"completed": true, "scripts": [...]} once ready.d has run."""
    if answer.status != 200:
        return False
    try:
        return bool(json.loads(answer.body).get("completed"))
    except (ValueError, AttributeError):
        return False


def _labels(spec: ContainerSpec, settings: Settings) -> dict[str, str]:
    return {**docker.labels_for(spec.component, settings.cluster_name), SPEC_LABEL: spec.digest()}


def _host_port_binding(data: Mapping[str, Any], container_port: int) -> str:
    bindings = ((data.get("HostConfig") or {}).get("PortBindings") or {}).get(f"{container_port}/tcp") or []
    return ", ".join(f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}" for b in bindings)  # noqa: S104


def _drift(ctx: Context, spec: ContainerSpec, data: Mapping[str, Any]) -> str | None:
    """Why a lab container no longer matches what the lab would run now, or None."""
    labels = (data.get("Config") or {}).get("Labels") or {}
    if labels.get(SPEC_LABEL) != spec.digest():
        image = (data.get("Config") or {}).get("Image", "")
        published = _host_port_binding(data, spec.container_port) or "nothing"
        if image != spec.image:
            return f"it runs {image}, the lab now uses {spec.image}"
        if published != f"127.0.0.1:{spec.host_port}":
            return f"it publishes {published}, the lab now wants 127.0.0.1:{spec.host_port}"
        return "its settings (mounts, environment) differ from the lab's"
    image = docker_objects.image_inspect(ctx.runner, spec.image)
    if image and data.get("Image") and image.get("Id") and data.get("Image") != image.get("Id"):
        return f"{spec.image} was rebuilt since the container was created"
    return None


def _stale_bind_mount(ctx: Context, spec: ContainerSpec) -> str | None:
    """Why a running container no longer sees the host directory its bind mount names, or None.

    A bind mount holds the directory it was made from, not its path: after `rm -rf .lab` and a fresh .lab/git, the
    running git server still serves the deleted directory, and `docker inspect` shows the same Source path. So a
    fresh token is written into the host directory and read back through the container. (`docker start` mounts
    the path afresh, so only a running container can be stale.)"""
    if ctx.dry_run:
        return None
    for source, target in spec.volumes:
        host = Path(source)
        if not host.is_absolute() or not host.is_dir():  # named volumes and single files
            continue
        token = secrets.token_hex(8)
        (host / MOUNT_CHECK_FILE).write_text(token + "\n")
        seen = docker_objects.read_file(ctx.runner, spec.name, f"{target.split(':', 1)[0]}/{MOUNT_CHECK_FILE}")
        if (seen or "").strip() != token:
            return f"it serves a directory that is no longer {host} (removed or replaced while it ran)"
    return None


def _check_port(ctx: Context, spec: ContainerSpec, probe: Probes) -> None:
    if probe.port_free(spec.host_port):
        return
    message = f"port {spec.host_port} on 127.0.0.1 is busy: {spec.name} cannot publish it"
    hint = (
        f"stop what listens there (`lsof -iTCP:{spec.host_port} -sTCP:LISTEN` or `ss -ltnp`), "
        f"or choose another port: {spec.port_setting}=<port>"
    )
    if ctx.dry_run:
        ctx.ui.warn(f"{message} ({hint})")
        return
    raise Conflict(message, hint=hint)


def _create(ctx: Context, spec: ContainerSpec, probe: Probes) -> None:
    _check_port(ctx, spec, probe)
    for volume in spec.named_volumes:
        if not docker_objects.volume_exists(ctx.runner, volume):
            docker_objects.create_volume(
                ctx.runner, volume, docker.labels_for(spec.component, ctx.settings.cluster_name)
            )
    docker.run_container(
        ctx.runner,
        name=spec.name,
        image=spec.image,
        labels=_labels(spec, ctx.settings),
        ports=[("127.0.0.1", spec.host_port, spec.container_port)],
        volumes=spec.volumes,
        env=spec.env,
        extra=spec.extra,
    )


def _wait_ready(ctx: Context, spec: ContainerSpec, probe: Probes) -> None:
    """Poll spec.ready_url until spec.ready(answer), bounded by spec.ready_timeout; fail fast if the container
    stops (an emulator that rejects its license exits, for instance)."""
    if ctx.dry_run:
        ctx.ui.info(f"  (dry run) would wait up to {spec.ready_timeout:g}s for GET {spec.ready_url}")
        return
    deadline = probe.clock() + spec.ready_timeout
    delay, last, polls = 0.1, "no answer yet", 0
    while True:
        answer = probe.http_get(spec.ready_url)
        if answer is not None:
            if spec.ready(answer):
                return
            last = f"HTTP {answer.status} {answer.body.strip()[:200]}"
        polls += 1
        if polls % 5 == 0 and not docker.container_state(ctx.runner, spec.name).running:
            logs = docker_objects.logs_tail(ctx.runner, spec.name)
            raise NotReady(
                f"container {spec.name}",
                "exited" + (f"; its last lines:\n{logs}" if logs else ""),
                spec.ready_timeout,
                hint=f"`docker logs {spec.name}` shows why",
            )
        if probe.clock() >= deadline:
            raise NotReady(
                f"{spec.name} (GET {spec.ready_url})",
                last,
                spec.ready_timeout,
                hint=f"`docker logs {spec.name}`; `docker rm -f {spec.name}` and `invoke up` start it afresh",
            )
        probe.sleep(delay)
        delay = min(delay * 2, 1.0)


def _ensure_container(ctx: Context, spec: ContainerSpec, *, force: bool, probe: Probes) -> str:
    """Make ``spec`` run; returns "created" | "reused" | "started" | "recreated" | "replaced"."""
    settings = ctx.settings
    data = docker.inspect_container(ctx.runner, spec.name)
    action = "created"
    if data is not None:
        labels = (data.get("Config") or {}).get("Labels") or {}
        running = bool((data.get("State") or {}).get("Running"))
        owner = labels.get(names.CLUSTER_LABEL, "")
        managed = labels.get(docker.MANAGED_LABEL) == "true"
        if not managed or owner != settings.cluster_name:
            whose = f"the lab's cluster {owner!r}" if managed else "something other than the lab"
            if not force:
                raise Conflict(
                    f"a container named {spec.name} exists and belongs to {whose}; leaving it untouched",
                    hint=f"remove it (`docker rm -f {spec.name}`)"
                    + (f", or `invoke down` with LAB_CLUSTER_NAME={owner}" if managed else "")
                    + ", or replace it with --force",
                )
            ctx.ui.warn(f"container {spec.name} belongs to {whose}; --force: replacing it")
            docker.remove_container(ctx.runner, spec.name)
            action = "replaced"
        elif (reason := _drift(ctx, spec, data)) is not None:
            ctx.ui.info(f"  {spec.name}: {reason}; recreating it (its data is kept)")
            docker_objects.stop_container(ctx.runner, spec.name)
            docker.remove_container(ctx.runner, spec.name)
            action = "recreated"
        elif running and (reason := _stale_bind_mount(ctx, spec)) is not None:
            ctx.ui.info(f"  {spec.name}: {reason}; recreating it on the directory there now")
            docker.remove_container(ctx.runner, spec.name)
            action = "recreated"
        elif running:
            return "reused"
        else:
            _check_port(ctx, spec, probe)
            docker.start_container(ctx.runner, spec.name)
            _wait_ready(ctx, spec, probe)
            return "started"
    _create(ctx, spec, probe)
    _wait_ready(ctx, spec, probe)
    return action


# Registry ----------------------------------------------------------------------------------------------
def registry_spec(settings: Settings) -> ContainerSpec:
    return ContainerSpec(
        component=COMPONENT_REGISTRY,
        name=REGISTRY_CONTAINER,
        image=versions.REGISTRY_IMAGE,
        host_port=settings.registry_port,
        container_port=REGISTRY_CONTAINER_PORT,
        port_setting="LAB_REGISTRY_PORT",
        ready_url=f"http://127.0.0.1:{settings.registry_port}/v2/",
        ready=_status_ok(200),
        ready_timeout=REGISTRY_READY_TIMEOUT,
        volumes=((REGISTRY_VOLUME, "/var/lib/docker-registry"),),
        named_volumes=(REGISTRY_VOLUME,),
    )


def ensure_registry(ctx: Context, *, force: bool = False, probe: Probes | None = None) -> str:
    """The registry the host pushes to (host:port). Starts the lab's own unless LAB_REGISTRY names one."""
    settings = ctx.settings
    probe = probe or Probes()
    if settings.registry:
        url = f"http://{settings.registry}/v2/"
        with ctx.ui.phase(f"Checking registry {settings.registry} (LAB_REGISTRY)") as phase:
            if ctx.dry_run:
                phase.note = f"(dry run) would GET {url}"
                return settings.registry
            answer = probe.http_get(url)
            # 401 is a registry that wants a login: it answers the V2 API all the same.
            if answer is None or answer.status not in (200, 401):
                got = "no answer" if answer is None else f"HTTP {answer.status}"
                raise RegistryError(
                    f"LAB_REGISTRY={settings.registry} does not answer GET {url} ({got})",
                    hint="start that registry, fix LAB_REGISTRY (host:port, plain HTTP), or unset it to let the lab "
                    "run its own",
                )
            phase.note = f"answers GET /v2/ over HTTP (HTTP {answer.status}); the lab starts no registry"
        return settings.registry
    spec = registry_spec(settings)
    with ctx.ui.phase(f"Ensuring registry {spec.name} (127.0.0.1:{spec.host_port})") as phase:
        phase.note = _ensure_container(ctx, spec, force=force, probe=probe)
    return settings.registry_host


# ECR emulator ------------------------------------------------------------------------------------------
def _hook_env(settings: Settings, keep_last: int) -> dict[str, str]:
    return {
        "LAB_ECR_REPOSITORIES": settings.image_name,
        "LAB_ECR_KEEP_LAST": str(keep_last),
        "LAB_ECR_SCAN_ON_PUSH": "true",
        "LAB_ECR_IMMUTABLE": "true",
        "LAB_ECR_REGION": settings.aws_region,
    }


def ecr_emulator_spec(
    settings: Settings, *, environ: Mapping[str, str] | None = None, keep_last: int = ecr.DEFAULT_KEEP_LAST
) -> ContainerSpec:
    """MiniStack (built) or LocalStack (pulled; needs LOCALSTACK_AUTH_TOKEN). Both run localstack/init_ecr.py."""
    env = os.environ if environ is None else environ
    port = settings.emulator_port
    hook = ((str(ECR_HOOK), f"{ECR_HOOK_TARGET}:ro"),)
    if settings.aws_emulator == "localstack":
        if not env.get(LOCALSTACK_TOKEN_ENV):
            raise ConfigError(
                "LocalStack needs LOCALSTACK_AUTH_TOKEN: ECR is not in LocalStack's free tier, and since 2026-03-23 "
                "the localstack/localstack image exits without a token",
                hint="use the free MiniStack emulator (LAB_AWS_EMULATOR=ministack, the default), or export "
                "LOCALSTACK_AUTH_TOKEN with a plan that includes ECR",
            )
        return ContainerSpec(
            component=COMPONENT_ECR,
            name=ECR_CONTAINER,
            image=versions.LOCALSTACK_IMAGE,
            host_port=port,
            container_port=ECR_CONTAINER_PORT,
            port_setting="LAB_EMULATOR_PORT",
            ready_url=f"http://127.0.0.1:{port}/_localstack/init/ready",
            ready=_localstack_init_done,
            ready_timeout=LOCALSTACK_READY_TIMEOUT,
            volumes=hook,
            env={"AWS_DEFAULT_REGION": settings.aws_region, **_hook_env(settings, keep_last)},
            # Passed by name: docker copies the value from the lab's environment, so the token never appears in
            # the command line, a dry run's output or `docker inspect`'s Args.
            extra=("-e", LOCALSTACK_TOKEN_ENV),
        )
    return ContainerSpec(
        component=COMPONENT_ECR,
        name=ECR_CONTAINER,
        image=versions.MINISTACK_IMAGE,
        host_port=port,
        container_port=ECR_CONTAINER_PORT,
        port_setting="LAB_EMULATOR_PORT",
        # 200 once the gateway serves and the ready.d hooks have run (ministack/app.py, _handle_ready_request).
        ready_url=f"http://127.0.0.1:{port}/_ministack/ready",
        ready=_status_ok(200),
        ready_timeout=MINISTACK_READY_TIMEOUT,
        volumes=((ECR_STATE_VOLUME, "/var/lib/ministack"), *hook),
        named_volumes=(ECR_STATE_VOLUME,),
        env={
            # MiniStack keeps state in memory; with PERSIST_STATE it saves it on shutdown and loads it on start
            # (ministack/core/persistence.py), so pushed images survive `docker restart`.
            "PERSIST_STATE": "1",
            "STATE_DIR": "/var/lib/ministack",
            "MINISTACK_REGION": settings.aws_region,
            **_hook_env(settings, keep_last),
        },
    )


def ensure_ecr_emulator(
    ctx: Context,
    *,
    force: bool = False,
    probe: Probes | None = None,
    environ: Mapping[str, str] | None = None,
    keep_last: int = ecr.DEFAULT_KEEP_LAST,
) -> str:
    """Run the ECR emulator (unless LAB_AWS_ENDPOINT_URL names one), wait until it is ready, and make sure the
    repository settings.image_name exists (scan on push, IMMUTABLE tags, lifecycle policy). Returns the endpoint.

    The container's ready hook creates the repository too, so it is back after a restart; doing it again from
    the host is idempotent and reports errors here. Tags are immutable: re-pushing an existing tag fails, which
    the lab's unique <sha7>-<timestamp> tags never do."""
    settings = ctx.settings
    probe = probe or Probes()
    if settings.target != "local":
        raise ConfigError("the ECR emulator is for the local target", hint="on LAB_TARGET=aws the lab uses ECR itself")
    if settings.aws_endpoint_url:
        ctx.ui.info(f"  using the AWS endpoint {settings.aws_endpoint_url} (LAB_AWS_ENDPOINT_URL): no emulator started")
    else:
        spec = ecr_emulator_spec(settings, environ=environ, keep_last=keep_last)
        title = f"Ensuring ECR emulator {spec.name} ({settings.aws_emulator}, 127.0.0.1:{spec.host_port})"
        with ctx.ui.phase(title) as phase:
            phase.note = _ensure_container(ctx, spec, force=force, probe=probe)
    with ctx.ui.phase(f"Ensuring ECR repository {settings.image_name}") as phase:
        if ctx.dry_run:
            phase.note = f"(dry run) scanOnPush, IMMUTABLE tags, keep the last {keep_last} images"
        else:
            client = probe.ecr_client(settings)
            phase.note = ecr.ensure_repository(client, settings.image_name, keep_last=keep_last)
    return settings.emulator_endpoint


# Git server --------------------------------------------------------------------------------------------
def git_root(settings: Settings) -> Path:
    """Host directory of the bare repositories the git server serves (bind-mounted at /srv/git)."""
    return settings.state_dir / "git"


def gitops_repo_path(settings: Settings) -> Path:
    return git_root(settings) / GITOPS_REPO


def in_cluster_gitops_url(settings: Settings) -> str:
    """The GitOps repo as pods (Argo CD) reach it: the git server by name on the `kind` network; an external remote
    without its credentials (Argo CD reads them from the repository Secret)."""
    return (
        settings.gitops_url if settings.gitops_remote else f"http://{GIT_CONTAINER}:{GIT_CONTAINER_PORT}/{GITOPS_REPO}"
    )


def ensure_bare_repo(ctx: Context, path: Path | None = None, *, branch: str = "main") -> Path:
    """An empty bare repository (default: the GitOps repo) that accepts pushes over smart HTTP."""
    repo = path or gitops_repo_path(ctx.settings)
    if not (repo / "HEAD").is_file():
        if not ctx.dry_run:
            repo.parent.mkdir(parents=True, exist_ok=True)
        git.git(ctx.runner, None, "init", "--bare", "--quiet", "-b", branch, str(repo))
    # Anonymous push: git http-backend refuses receive-pack without REMOTE_USER unless this is set.
    git.git(ctx.runner, repo, "config", "http.receivepack", "true")
    return repo


def _user_flag() -> tuple[str, ...]:
    """Run as the host user so pushes write host-owned files (no uid on Windows: keep the image's user)."""
    getuid = getattr(os, "getuid", None)
    getgid = getattr(os, "getgid", None)
    if getuid is None or getgid is None:
        return ()
    return ("--user", f"{getuid()}:{getgid()}")


def git_server_spec(settings: Settings) -> ContainerSpec:
    port = settings.git_port
    return ContainerSpec(
        component=COMPONENT_GIT,
        name=GIT_CONTAINER,
        image=versions.GITSERVER_IMAGE,
        host_port=port,
        container_port=GIT_CONTAINER_PORT,
        port_setting="LAB_GIT_PORT",
        ready_url=f"http://127.0.0.1:{port}/{GITOPS_REPO}/info/refs?service=git-upload-pack",
        ready=_status_ok(200),
        ready_timeout=GIT_READY_TIMEOUT,
        volumes=((str(git_root(settings)), "/srv/git"),),
        extra=_user_flag(),
    )


def ensure_git_server(ctx: Context, *, force: bool = False, probe: Probes | None = None) -> str:
    """The GitOps repo URL the host pushes to. Runs the lab's git server unless LAB_GITOPS_REMOTE is set."""
    settings = ctx.settings
    if settings.gitops_remote:
        ctx.ui.info(f"  GitOps remote: {settings.gitops_url} (LAB_GITOPS_REMOTE): no git server started")
        return settings.gitops_url
    probe = probe or Probes()
    spec = git_server_spec(settings)
    with ctx.ui.phase(f"Ensuring git server {spec.name} (127.0.0.1:{spec.host_port})") as phase:
        ensure_bare_repo(ctx)
        phase.note = _ensure_container(ctx, spec, force=force, probe=probe)
    return settings.gitops_url


# All of them -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoints:
    registry: str  # host:port the host pushes to
    ecr_endpoint: str  # AWS API endpoint of the emulator
    gitops_url: str  # the GitOps repo as the host pushes to it
    gitops_url_in_cluster: str  # ... and as Argo CD reaches it


def ensure_services(ctx: Context, *, force: bool = False, probe: Probes | None = None) -> Endpoints:
    """Build the images, then registry, ECR emulator and git server, for the local target."""
    settings = ctx.settings
    if settings.target != "local":
        raise ConfigError("the lab's service containers are for the local target", hint="LAB_TARGET=local")
    probe = probe or Probes()
    build_service_images(ctx)
    registry = ensure_registry(ctx, force=force, probe=probe)
    endpoint = ensure_ecr_emulator(ctx, force=force, probe=probe)
    url = ensure_git_server(ctx, force=force, probe=probe)
    return Endpoints(registry, endpoint, url, in_cluster_gitops_url(settings))


def delete_services(ctx: Context, *, volumes: bool = False) -> list[str]:
    """Remove the lab's service containers of this cluster (found by label); with ``volumes``, their labelled
    volumes too (registry blobs, emulator state). Containers or volumes without the lab's labels, and the bare
    repos under .lab/git, are left alone. Returns what was removed."""
    settings = ctx.settings
    removed: list[str] = []
    with ctx.ui.phase("Removing the lab's service containers") as phase:
        for component in COMPONENTS:
            labels = docker.labels_for(component, settings.cluster_name)
            for name in docker.list_containers(ctx.runner, labels):
                if component == COMPONENT_ECR:
                    docker_objects.stop_container(ctx.runner, name)  # MiniStack saves its state on SIGTERM
                if docker.remove_container(ctx.runner, name):
                    removed.append(name)
            if volumes:
                for volume in docker_objects.list_volumes(ctx.runner, labels):
                    if docker_objects.remove_volume(ctx.runner, volume):
                        removed.append(f"volume {volume}")
        phase.note = ", ".join(removed) if removed else "nothing to remove"
    return removed


@dataclass(frozen=True)
class ImageRemoval:
    removed: tuple[str, ...] = ()  # references (or IDs) of the images removed
    kept: tuple[tuple[str, str], ...] = ()  # (reference, why) of the lab's images Docker refused to remove
    freed: int | None = None  # bytes (None: the daemon did not say)


def delete_images(ctx: Context) -> ImageRemoval:
    """Remove the images the lab built (labelled gitops-lab.managed=true): the service images, shared by the lab's
    clusters, and the app images of this cluster (another cluster's carry its name). The base image and the images
    the lab pulls (kind node, Argo CD) are not the lab's and stay; an image some container still uses stays too.

    Reports what was freed: the image store's size (`docker system df`) before less after. (The sum of the images'
    unique sizes would miss the layers they share among themselves: two builds of one commit share all of theirs.)"""
    settings, runner = ctx.settings, ctx.runner
    with ctx.ui.phase("Removing the images the lab built") as phase:
        base = docker.image_id(runner, settings.base_image)
        images = [
            image
            for image in docker_objects.list_images(runner, {docker.MANAGED_LABEL: "true"})
            if image.labels.get(names.CLUSTER_LABEL, settings.cluster_name) == settings.cluster_name
            and image.id != base
        ]
        if ctx.dry_run:
            phase.note = "(dry run) each image the command above lists, except the base image, by `docker image rm`"
            return ImageRemoval()
        if not images:
            phase.note = "none found"
            return ImageRemoval(freed=0)
        before = docker_objects.images_size(runner)
        removed: list[str] = []
        kept: list[tuple[str, str]] = []
        for image in images:
            why = docker_objects.remove_image(runner, image.refs)
            if why is not None:
                kept.append((image.refs[0], why))
                continue
            removed += image.refs
        after = docker_objects.images_size(runner) if removed else before
        freed = max(0, before - after) if before is not None and after is not None else None
        for ref, why in kept:
            ctx.ui.warn(f"kept {ref}: {why}")
        if removed:
            ctx.ui.info("  removed " + ", ".join(removed))
        amount = f"{docker_objects.human_size(freed)} freed" if freed is not None else "freed: unknown"
        phase.note = f"{len(images) - len(kept)} removed, {amount}" + (f", {len(kept)} kept" if kept else "")
        return ImageRemoval(tuple(removed), tuple(kept), freed)
