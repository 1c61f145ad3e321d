"""The kind provider: a cluster of Docker containers made by `kind create cluster` from a generated config.

Ownership is a marker file (ownership.py). A kind cluster cannot change its port mappings, node image or kubeadm
patches after creation. Every `up` that reuses the cluster compares what the settings want now with what the
cluster has: the ports its node container publishes (`docker container inspect`, HostConfig.PortBindings) and the
rest of the recorded config; a difference is reported with what differs and how to apply it (recreate), as
tilt-dev/ctlptl does for its clusters.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lab import image_cache
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError
from lab.core.runner import for_reading
from lab.manifests import kind as kind_manifests
from lab.providers.base import Capabilities, NodeIdentity, write_cluster_config
from lab.providers.ownership import MarkerOwnedCluster, container_identity, read_ownership
from lab.providers.wiring import attach_to
from lab.registries.base import RegistryLink
from lab.tools import docker, kubectl
from lab.tools import kind as kind_tool


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


class KindProvider(MarkerOwnedCluster):
    name = "kind"
    capabilities = Capabilities(
        ownership="marker",
        side_loads_images=True,
        reaches_host_registry="mirror",
        ui_port_forward=False,
        docker_nodes=True,
        installs_pinned_cli=True,
    )

    def __init__(
        self,
        settings: Settings,
        *,
        workers: int = 0,
        node_image: str | None = None,
        node_ports: Sequence[kind_manifests.PortMapping] | None = None,
    ) -> None:
        """NODE_IMAGE defaults to the digest-pinned node image; offline to the same image by its tag alone, which
        `up --offline` tags after checking the loaded image's ID (lab/image_cache.py): `docker load` drops the
        digest (moby/moby#22011), so kind would not find the pinned reference locally and would try to pull it
        (kind pkg/cluster/internal/providers/docker/images.go pulls unless `docker inspect --type=image` finds it).
        NODE_PORTS: what the cluster publishes on the host, from the lab's components (lab.components.node_ports);
        needed only to create the cluster or compare its config."""
        super().__init__(settings)
        self.workers = workers
        self._node_ports = None if node_ports is None else list(node_ports)
        if node_image is None:
            node_image = versions.KIND_NODE_IMAGE_TAG if settings.offline else versions.KIND_NODE_IMAGE
        if node_image not in (versions.KIND_NODE_IMAGE, versions.KIND_NODE_IMAGE_TAG) and "@sha256:" not in node_image:
            raise ConfigError(
                f"node image {node_image!r} is not pinned by digest", hint="use kindest/node:<tag>@sha256:<digest>"
            )
        self.node_image = node_image

    @property
    def node_ports(self) -> list[kind_manifests.PortMapping]:
        if self._node_ports is None:
            raise ConfigError(
                "the kind config needs the node ports the lab's components publish",
                hint="make the provider with lab.components.cluster.cluster_provider(settings)",
            )
        return self._node_ports

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
        return container_identity(ctx, f"{name}-control-plane", (kind_tool.CLUSTER_LABEL, name))

    def node_containers(self, ctx: Context) -> list[str]:
        """The node containers, found without kind: the query kind itself makes (`docker ps -a --filter
        label=io.x-k8s.kind.cluster=NAME`; kind pkg/cluster/internal/providers/docker/provider.go, ListNodes)."""
        return docker.list_containers(ctx.runner, {kind_tool.CLUSTER_LABEL: self.settings.cluster_name})

    def delete_command(self) -> str:
        return f"kind delete cluster --name {self.settings.cluster_name}"

    def remove_nodes_command(self, nodes: Sequence[str]) -> str | None:
        """What `kind delete cluster` does to the nodes (provider.go DeleteNodes: `docker rm -f -v`)."""
        return f"docker rm -f -v {' '.join(nodes)}"

    def render_config(self, *, cgroup_v1: bool = False) -> str:
        """The kind config; CGROUP_V1: the Docker host runs cgroup v1 (see kind_manifests.KUBELET_ALLOW_CGROUP_V1)."""
        if "@sha256:" in self.node_image:
            return kind_manifests.render_kind_config(
                self.settings,
                ports=self.node_ports,
                workers=self.workers,
                node_image=self.node_image,
                cgroup_v1=cgroup_v1,
            )
        # The pinned image by its tag alone (offline, verified by image ID): the manifest module accepts only
        # digest-pinned images, so render the pinned config and name the image by its tag.
        data = kind_manifests.kind_config(
            self.settings, ports=self.node_ports, workers=self.workers, cgroup_v1=cgroup_v1
        )
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
            for m in self.node_ports:
                has = published.get(m.container_port)
                if has != f"127.0.0.1:{m.host_port}":
                    what = m.what or m.name
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
        self._forget(ctx)

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
        attach_to(ctx, kind_tool.NETWORK, containers)
