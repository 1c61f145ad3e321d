"""Cluster providers: one small protocol, one implementation per tool (after kind's
`pkg/cluster/internal/providers/provider.go`). kind is the default; minikube the alternative.

Ownership. The lab deletes only clusters it created (pytest-kubernetes' `_created`), but kind offers no way to
put the lab's own labels on its node containers: the config has no container-label field, and kind itself
labels them `io.x-k8s.kind.cluster=<name>`. So ownership lives in a marker file,
`<state_dir>/clusters/<name>.json`:

1. written as ``{"state": "creating", "started_at": ...}`` right BEFORE `kind create cluster`, and only after
   observing that no cluster of that name exists;
2. confirmed as ``{"state": "created", "node_id": <control-plane container ID>}`` right after it succeeds,
   with the kind config the cluster was created from (``config``, and its ``config_sha256``).

A cluster is the lab's when the marker says "created" and the node container behind the name still has the
recorded ID (and, for kind, carries kind's cluster label with this name). A same-named cluster created later
by someone else has another ID, so a stale marker never hands the lab someone else's cluster. A "creating"
marker with an existing cluster means the lab died during or right after `kind create`: the cluster is the
lab's if its node container was created after the marker was written (see steps/cluster.py for what happens
next). A failed `kind create` cleans up after itself (no --retain), so the marker is dropped with it.

A kind cluster cannot change its port mappings, node image or kubeadm patches after creation. Every `up` that
reuses the cluster compares what the settings want now with what the cluster has: the ports its node container
publishes (`docker container inspect`, HostConfig.PortBindings) and the rest of the recorded config; a
difference is reported with what differs and how to apply it (recreate), as tilt-dev/ctlptl does for its
clusters.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import yaml

from lab import image_cache
from lab.core import names, versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import CommandFailed, ConfigError
from lab.core.runner import for_reading
from lab.manifests import kind as kind_manifests
from lab.tools import docker, kubectl
from lab.tools import kind as kind_tool
from lab.tools import minikube as minikube_tool

if TYPE_CHECKING:
    from lab.providers_eks import EksProvider

# Containers other lab components run; providers only wire them into the cluster network.
REGISTRY_CONTAINER = names.REGISTRY_CONTAINER
REGISTRY_CONTAINER_PORT = 5000  # registry:2 / distribution listens on 5000 inside its container
ECR_CONTAINER = names.ECR_CONTAINER
ECR_CONTAINER_PORT = 4566  # MiniStack's gateway port inside its container
GIT_CONTAINER = names.GIT_CONTAINER

CREATING = "creating"
CREATED = "created"
# Docker's clock (a VM on macOS/Windows) may differ a little from the host's.
CLOCK_SKEW = timedelta(seconds=120)


@dataclass(frozen=True)
class RegistryLink:
    """Pods pull ``host_alias/...`` (e.g. localhost:5001/lab-app); the nodes fetch from container:port instead."""

    host_alias: str
    container: str
    port: int


def default_registry_links(settings: Settings) -> list[RegistryLink]:
    """The registries the lab runs for the local target: its registry and, unless an endpoint is given, the
    ECR emulator. An external registry (settings.registry) is the user's to make reachable."""
    links: list[RegistryLink] = []
    if not settings.registry:
        links.append(RegistryLink(settings.registry_host, REGISTRY_CONTAINER, REGISTRY_CONTAINER_PORT))
    if settings.target == "local" and not settings.aws_endpoint_url:
        links.append(RegistryLink(f"localhost:{settings.emulator_port}", ECR_CONTAINER, ECR_CONTAINER_PORT))
    return links


def default_attached_containers(settings: Settings) -> list[str]:
    """Other lab containers pods must reach by name: the git server (unless an external remote is used)."""
    return [] if settings.gitops_remote else [GIT_CONTAINER]


# Ownership marker ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ownership:
    cluster: str
    provider: str
    state: str  # CREATING | CREATED
    started_at: str  # ISO 8601, UTC: when the lab began creating the cluster
    node_id: str = ""  # the node container's ID, once created
    confirmed_at: str = ""
    config: str = ""  # the cluster config it was created from (kind: the config file's text)
    config_sha256: str = ""


def marker_path(settings: Settings) -> Path:
    return settings.state_dir / "clusters" / f"{settings.cluster_name}.json"


def read_ownership(settings: Settings) -> Ownership | None:
    path = marker_path(settings)
    try:
        data = json.loads(path.read_text())
        return Ownership(**{k: str(v) for k, v in data.items() if k in Ownership.__dataclass_fields__})
    except (OSError, ValueError, TypeError):
        return None


def write_ownership(settings: Settings, record: Ownership) -> None:
    """Write atomically (temp file + rename), so a crash never leaves half a marker."""
    path = marker_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(asdict(record), indent=2) + "\n")
    os.replace(tmp, path)


def forget_ownership(settings: Settings) -> None:
    marker_path(settings).unlink(missing_ok=True)


def _now() -> datetime:
    return datetime.now(UTC)


def parse_timestamp(text: str) -> datetime | None:
    """ISO 8601 as Docker prints it (nanoseconds, 'Z') -> aware datetime; None if unreadable."""
    text = text.strip()
    if not text:
        return None
    text = re.sub(r"(\.\d{6})\d+", r"\1", text).replace("Z", "+00:00")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NodeIdentity:
    """What tells this cluster instance apart from a later one with the same name."""

    id: str
    created: datetime | None


def write_cluster_config(ctx: Context, path: Path, text: str) -> Path:
    """Write a cluster config file the provider's CLI reads; a dry run shows it instead."""
    if ctx.dry_run:
        ctx.ui.manifest(str(path), text)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return path


def _published_ports(ctx: Context, container: str) -> dict[int, str] | None:
    """Container TCP port -> "hostIp:hostPort" the container publishes (HostConfig.PortBindings); None when
    there is no such container or Docker shows no bindings (a kind node always publishes its API server)."""
    data = docker.inspect_container(ctx.runner, container)
    bindings = ((data or {}).get("HostConfig") or {}).get("PortBindings")
    if not bindings or not isinstance(bindings, dict):
        return None
    out: dict[int, str] = {}
    for key, binds in bindings.items():
        port, _, proto = str(key).partition("/")
        if proto not in ("", "tcp") or not port.isdigit() or not binds:
            continue
        first = binds[0] if isinstance(binds[0], dict) else {}
        host_ip, host_port = first.get("HostIp") or "", first.get("HostPort") or ""
        out[int(port)] = f"{host_ip}:{host_port}" if host_ip else f"port {host_port} of every address"
    return out


def _same_images(had: Sequence[str], want: Sequence[str]) -> bool:
    """Same node images; a reference without a digest matches the same name:tag with one."""
    if len(had) != len(want):
        return False
    for a, b in zip(had, want, strict=True):
        if a != b and (("@" in a and "@" in b) or a.split("@", 1)[0] != b.split("@", 1)[0]):
            return False
    return True


def _container_identity(ctx: Context, container: str, label: tuple[str, str] | None = None) -> NodeIdentity | None:
    data = docker.inspect_container(ctx.runner, container)
    if not data or not data.get("Id"):
        return None
    if label is not None:
        labels = (data.get("Config") or {}).get("Labels") or {}
        if labels.get(label[0]) != label[1]:
            return None
    return NodeIdentity(str(data["Id"]), parse_timestamp(str(data.get("Created", ""))))


# The protocol ---------------------------------------------------------------------------------------------
class ClusterProvider(Protocol):
    name: str

    def exists(self, ctx: Context) -> bool: ...

    def identity(self, ctx: Context) -> NodeIdentity | None: ...

    def created_by_lab(self, ctx: Context) -> bool: ...

    def begun_by_lab(self, ctx: Context) -> bool: ...

    def ready(self, ctx: Context) -> bool: ...

    def create(self, ctx: Context) -> None: ...

    def adopt(self, ctx: Context) -> None: ...

    def config_drift(self, ctx: Context) -> list[str]: ...

    def delete(self, ctx: Context) -> None: ...

    def load_images(self, ctx: Context, images: Sequence[str]) -> None: ...

    def wire_registry(self, ctx: Context, registries: Sequence[RegistryLink]) -> None: ...

    def attach(self, ctx: Context, containers: Sequence[str]) -> None: ...

    def kubeconfig_context(self, ctx: Context) -> str: ...


class _OwnedCluster:
    """Ownership bookkeeping shared by the providers (see the module docstring)."""

    name = ""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def identity(self, ctx: Context) -> NodeIdentity | None:
        raise NotImplementedError

    def created_by_lab(self, ctx: Context) -> bool:
        record = read_ownership(self.settings)
        if record is None or record.state != CREATED or record.provider != self.name:
            return False
        if not record.node_id:
            return True  # a provider that cannot name its node (non-Docker minikube driver): trust the marker
        ident = self.identity(ctx)
        return ident is not None and ident.id == record.node_id

    def begun_by_lab(self, ctx: Context) -> bool:
        """A "creating" marker and a node container no older than it: the lab's own unfinished creation."""
        record = read_ownership(self.settings)
        if record is None or record.state != CREATING or record.provider != self.name:
            return False
        ident = self.identity(ctx)
        started = parse_timestamp(record.started_at)
        if ident is None or ident.created is None or started is None:
            return True
        return ident.created >= started - CLOCK_SKEW

    def _begin(self, ctx: Context) -> None:
        if not ctx.dry_run:
            write_ownership(
                self.settings,
                Ownership(self.settings.cluster_name, self.name, CREATING, _now().isoformat(timespec="seconds")),
            )

    def adopt(self, ctx: Context) -> None:
        """Record the cluster as the lab's (after a successful create, or to finish a half-done one)."""
        if ctx.dry_run:
            return
        record = read_ownership(self.settings)
        ident = self.identity(ctx)
        config = self.created_from()
        write_ownership(
            self.settings,
            Ownership(
                self.settings.cluster_name,
                self.name,
                CREATED,
                record.started_at if record else _now().isoformat(timespec="seconds"),
                node_id=ident.id if ident else "",
                confirmed_at=_now().isoformat(timespec="seconds"),
                config=config,
                config_sha256=hashlib.sha256(config.encode()).hexdigest() if config else "",
            ),
        )

    def created_from(self) -> str:
        """The config the cluster was created from, for the ownership record ("" when there is none)."""
        return ""

    def config_drift(self, ctx: Context) -> list[str]:
        """What the settings want that the existing cluster does not have (one line each); [] when they agree."""
        return []

    def _create_owned(self, ctx: Context, run_create: Callable[[], None]) -> None:
        self._begin(ctx)
        try:
            run_create()
        except CommandFailed:
            # The tool cleans up a failed create; keep the marker only if something was left behind.
            if not ctx.dry_run and not self.exists(ctx):
                forget_ownership(self.settings)
            raise
        self.adopt(ctx)

    def exists(self, ctx: Context) -> bool:
        raise NotImplementedError

    def kubeconfig_context(self, ctx: Context) -> str:
        return self.settings.kube_context

    def ready(self, ctx: Context) -> bool:
        return kubectl.api_ready(ctx.runner, self.kubeconfig_context(ctx))

    def _attach_to(self, ctx: Context, network: str, containers: Sequence[str]) -> None:
        """Connect containers to the cluster's Docker network so pods and nodes resolve them by name."""
        for name in containers:
            state = docker.container_state(ctx.runner, name)
            if state.exists and network in state.networks:
                continue
            if state.exists or ctx.dry_run:
                docker.network_connect(ctx.runner, network, name)
            else:
                ctx.ui.warn(
                    f"container {name} does not exist yet; once it runs: `docker network connect {network} {name}`"
                )


class KindProvider(_OwnedCluster):
    name = "kind"

    def __init__(self, settings: Settings, *, workers: int = 0, node_image: str | None = None) -> None:
        """NODE_IMAGE defaults to the digest-pinned node image; offline to the same image by its tag alone, which
        `up --offline` tags after checking the loaded image's ID (lab/image_cache.py): `docker load` drops the
        digest (moby/moby#22011), so kind would not find the pinned reference locally and would try to pull it
        (kind pkg/cluster/internal/providers/docker/images.go pulls unless `docker inspect --type=image` finds it)."""
        super().__init__(settings)
        self.workers = workers
        if node_image is None:
            node_image = versions.KIND_NODE_IMAGE_TAG if settings.offline else versions.KIND_NODE_IMAGE
        if node_image not in (versions.KIND_NODE_IMAGE, versions.KIND_NODE_IMAGE_TAG) and "@sha256:" not in node_image:
            raise ConfigError(
                f"node image {node_image!r} is not pinned by digest", hint="use kindest/node:<tag>@sha256:<digest>"
            )
        self.node_image = node_image

    @property
    def binary(self) -> str:
        return kind_tool.binary(self.settings.state_dir)

    @property
    def config_path(self) -> Path:
        return self.settings.state_dir / "kind-config.yaml"

    def exists(self, ctx: Context) -> bool:
        return self.settings.cluster_name in kind_tool.get_clusters(ctx.runner, kind=self.binary)

    def identity(self, ctx: Context) -> NodeIdentity | None:
        name = self.settings.cluster_name
        return _container_identity(ctx, f"{name}-control-plane", (kind_tool.CLUSTER_LABEL, name))

    def node_containers(self, ctx: Context) -> list[str]:
        """The node containers, found without kind: the query kind itself makes (`docker ps -a --filter
        label=io.x-k8s.kind.cluster=NAME`; kind pkg/cluster/internal/providers/docker/provider.go, ListNodes)."""
        return docker.list_containers(ctx.runner, {kind_tool.CLUSTER_LABEL: self.settings.cluster_name})

    def remove_nodes_command(self, nodes: Sequence[str]) -> str:
        """What `kind delete cluster` does to the nodes (provider.go DeleteNodes: `docker rm -f -v`)."""
        return f"docker rm -f -v {' '.join(nodes)}"

    def render_config(self, *, cgroup_v1: bool = False) -> str:
        """The kind config; CGROUP_V1: the Docker host runs cgroup v1 (see kind_manifests.KUBELET_ALLOW_CGROUP_V1)."""
        if "@sha256:" in self.node_image:
            return kind_manifests.render_kind_config(
                self.settings, workers=self.workers, node_image=self.node_image, cgroup_v1=cgroup_v1
            )
        # The pinned image by its tag alone (offline, verified by image ID): the manifest module accepts only
        # digest-pinned images, so render the pinned config and name the image by its tag.
        data = kind_manifests.kind_config(self.settings, workers=self.workers, cgroup_v1=cgroup_v1)
        for node in data["nodes"]:
            node["image"] = self.node_image
        return kind_manifests.dump_kind_config(data)

    def desired_config(self, ctx: Context) -> str:
        """The config this host needs: with the cgroup v1 patch when Docker reports cgroup v1."""
        return self.render_config(cgroup_v1=docker.cgroup_version(for_reading(ctx.runner)) == "1")  # a read

    def create(self, ctx: Context) -> None:
        config = write_cluster_config(ctx, self.config_path, self.desired_config(ctx))

        def run() -> None:
            kind_tool.create_cluster(ctx.runner, self.settings.cluster_name, config, kind=self.binary)

        self._create_owned(ctx, run)

    def created_from(self) -> str:
        """The config file `kind create` read (written right before it, also by an interrupted run)."""
        try:
            return self.config_path.read_text()
        except OSError:
            return ""

    def config_drift(self, ctx: Context) -> list[str]:
        """Port mappings as the node container publishes them, and node images, node roles and kubeadm patches
        as recorded at creation, against what the settings want now. A node image named by its tag alone (the
        verified offline copy of the pinned image) matches the pinned reference; the kubeadm patches are
        compared only when Docker reports the cgroup version they depend on."""
        if ctx.dry_run:
            return []
        cgroup = docker.cgroup_version(for_reading(ctx.runner))
        want = yaml.safe_load(self.render_config(cgroup_v1=cgroup == "1"))
        drift = []
        published = _published_ports(ctx, kind_manifests.node_names(self.settings.cluster_name)[0])
        if published is not None:
            for m in kind_manifests.port_mappings(self.settings):
                has = published.get(m.container_port)
                if has != f"127.0.0.1:{m.host_port}":
                    what = "Argo CD UI" if m.name == "argocd" else f"{m.name} app"
                    drift.append(
                        f"{what}: the cluster publishes node port {m.container_port} on {has or 'no host port'}, "
                        f"the settings want 127.0.0.1:{m.host_port}"
                    )
        record = read_ownership(self.settings)
        had: Any = yaml.safe_load(record.config) if record is not None and record.config else None
        if not isinstance(had, dict):
            return drift
        had_nodes = [n for n in had.get("nodes") or [] if isinstance(n, dict)]
        roles = ([str(n.get("role")) for n in had_nodes], [str(n.get("role")) for n in want["nodes"]])
        if roles[0] != roles[1]:
            drift.append(f"nodes: the cluster has {', '.join(roles[0])}; the settings want {', '.join(roles[1])}")
        images = (sorted({str(n.get("image")) for n in had_nodes}), sorted({str(n["image"]) for n in want["nodes"]}))
        if not _same_images(images[0], images[1]):
            drift.append(f"node image: the cluster runs {', '.join(images[0])}; the lab pins {', '.join(images[1])}")
        patches = (had.get("kubeadmConfigPatches") or [], want.get("kubeadmConfigPatches") or [])
        if cgroup and patches[0] != patches[1]:
            drift.append(
                "kubeadm patches: the cluster was created "
                + ("with" if patches[0] else "without")
                + " the cgroup v1 kubelet patch (failCgroupV1: false), Docker now reports cgroup v"
                + cgroup
            )
        return drift

    def delete(self, ctx: Context) -> None:
        kind_tool.delete_cluster(ctx.runner, self.settings.cluster_name, kind=self.binary)
        if not ctx.dry_run:
            forget_ownership(self.settings)

    @property
    def load_archive_path(self) -> Path:
        return self.settings.state_dir / "tmp" / f"kind-load-{self.settings.cluster_name}.tar"

    @property
    def config_ids_path(self) -> Path:
        return self.settings.state_dir / image_cache.CONFIG_IDS_NAME

    def _missing(self, ctx: Context, images: Sequence[str], platform: str | None) -> dict[str, str]:
        """IMAGE -> local image ID ("" if none) for the IMAGES some node lacks. A node has an image when its ID
        there (crictl) is the local image ID, as `kind load docker-image` checks (kind
        pkg/cmd/kind/load/docker-image/docker-image.go): right on Docker's classic store, where that ID is the
        config digest; or the config digest an earlier load of this local image recorded (the containerd image
        store's ID is the manifest's or index's digest instead; see lab/image_cache.py)."""
        nodes = self.nodes(ctx)
        known = image_cache.read_config_ids(self.config_ids_path)
        missing = {}
        for image in images:
            local = docker.image_id(ctx.runner, image)
            same = {local, known.get(image_cache.config_key(local, platform), local)} if local else set()
            if not local or any(kind_tool.node_image_id(ctx.runner, node, image) not in same for node in nodes):
                missing[image] = local
        return missing

    def load_images(self, ctx: Context, images: Sequence[str]) -> None:
        """Copy local images into every node, as one single-platform archive: `docker image save --platform`
        + `kind load image-archive` (kind's documented workaround for the containerd image store, PR #4247;
        kubernetes-sigs/kind#3795). Images every node already holds are skipped; after a load the config digests
        the archive carried are recorded for that check. CommandFailed when it fails."""
        platform = docker.save_platform(ctx.runner)
        missing = {image: "" for image in images} if ctx.dry_run else self._missing(ctx, images, platform)
        if not missing:
            return
        archive = self.load_archive_path
        if not ctx.dry_run:
            archive.parent.mkdir(parents=True, exist_ok=True)
        try:
            docker.save_image(ctx.runner, list(missing), archive, platform=platform)
            kind_tool.load_image_archive(ctx.runner, self.settings.cluster_name, archive, kind=self.binary)
            if not ctx.dry_run:
                self._remember_configs(archive, missing, platform)
        finally:
            if not ctx.dry_run:
                archive.unlink(missing_ok=True)

    def _remember_configs(self, archive: Path, loaded: dict[str, str], platform: str | None) -> None:
        """Record local image ID -> the config digest the loaded ARCHIVE gave it, where the two differ."""
        configs = image_cache.archive_config_digests(archive)
        known = image_cache.read_config_ids(self.config_ids_path)
        learned = {
            image_cache.config_key(local, platform): configs[image_cache.familiar(image)]
            for image, local in loaded.items()
            if local and configs.get(image_cache.familiar(image), local) != local
        }
        if learned and any(known.get(k) != v for k, v in learned.items()):
            image_cache.write_config_ids(self.config_ids_path, {**known, **learned})

    def nodes(self, ctx: Context) -> list[str]:
        found = kind_tool.get_nodes(ctx.runner, self.settings.cluster_name, kind=self.binary)
        if not found and ctx.dry_run:  # show the plan for the nodes the config will create
            return kind_manifests.node_names(self.settings.cluster_name, self.workers)
        return found

    def wire_registry(self, ctx: Context, registries: Sequence[RegistryLink]) -> None:
        """kind's local-registry recipe: hosts.toml per node and registry, network connect, KEP-1755 ConfigMap."""
        for node in self.nodes(ctx):
            for link in registries:
                directory = kind_manifests.hosts_dir(link.host_alias)
                docker.exec_in(ctx.runner, node, ["mkdir", "-p", directory])
                docker.exec_in(
                    ctx.runner,
                    node,
                    ["cp", "/dev/stdin", f"{directory}/hosts.toml"],
                    input=kind_manifests.hosts_toml(link.container, link.port),
                )
        self.attach(ctx, [link.container for link in registries])
        kubectl.apply(
            ctx.runner,
            self.kubeconfig_context(ctx),
            kind_manifests.local_registry_hosting(self.settings.registry_host),
        )

    def attach(self, ctx: Context, containers: Sequence[str]) -> None:
        self._attach_to(ctx, kind_tool.NETWORK, containers)


class MinikubeProvider(_OwnedCluster):
    """minikube with the Docker driver: its node is a container named after the profile, on a Docker
    network of the same name. No local-registry-hosting ConfigMap (that is kind's recipe), no registry addon
    and no insecure registries: images reach the node by `minikube image load` (lab/steps/ship.py)."""

    name = "minikube"
    driver = "docker"

    @property
    def profile(self) -> str:
        return self.settings.cluster_name

    def exists(self, ctx: Context) -> bool:
        return any(p.name == self.profile for p in minikube_tool.profile_list(ctx.runner))

    def identity(self, ctx: Context) -> NodeIdentity | None:
        return _container_identity(ctx, self.profile)

    def node_containers(self, ctx: Context) -> list[str]:
        """The node container (named after the profile), found without minikube."""
        return [self.profile] if docker.container_state(ctx.runner, self.profile).exists else []

    def create(self, ctx: Context) -> None:
        def run() -> None:
            minikube_tool.start(ctx.runner, self.profile, driver=self.driver)

        self._create_owned(ctx, run)

    def delete(self, ctx: Context) -> None:
        minikube_tool.delete(ctx.runner, self.profile)
        if not ctx.dry_run:
            forget_ownership(self.settings)

    def load_images(self, ctx: Context, images: Sequence[str]) -> None:
        minikube_tool.image_load(ctx.runner, self.profile, images)

    def wire_registry(self, ctx: Context, registries: Sequence[RegistryLink]) -> None:
        """Only the network: pods cannot pull the host's localhost:<port> on minikube, so images are loaded."""
        self.attach(ctx, [link.container for link in registries])

    def attach(self, ctx: Context, containers: Sequence[str]) -> None:
        self._attach_to(ctx, self.profile, containers)


def provider_for(settings: Settings, *, workers: int = 0) -> KindProvider | MinikubeProvider | EksProvider:
    if settings.target == "aws":
        from lab.providers_eks import EksProvider  # imported here: providers_eks imports this module

        return EksProvider(settings)
    if settings.target != "local":
        raise ConfigError(
            f"no local cluster provider for target {settings.target!r}",
            hint="kind and minikube serve target=local; the aws target uses EKS",
        )
    if settings.provider == "kind":
        return KindProvider(settings, workers=workers)
    if settings.provider == "minikube":
        return MinikubeProvider(settings)  # registries: wired by ensure_cluster, not at minikube's start
    raise ConfigError(f"unknown provider {settings.provider!r}", hint="valid values: kind, minikube")


__all__ = [
    "ClusterProvider",
    "KindProvider",
    "MinikubeProvider",
    "NodeIdentity",
    "Ownership",
    "RegistryLink",
    "default_attached_containers",
    "default_registry_links",
    "provider_for",
    "write_cluster_config",
]
