"""The cluster component: the local cluster (kind, minikube) observe -> compare -> act, and EKS (eks_cluster.py).

| observed                                                 | action                                         |
|----------------------------------------------------------|------------------------------------------------|
| no cluster of that name                                  | write config, create, record ownership          |
| exists, the lab's (marker "created", same node ID)        | reuse, if it has the ports, node image and     |
|                                                          | patches the settings want; else Conflict: what |
|                                                          | differs, and how to recreate it                |
| exists, marker "creating", node not older than marker    | the lab died mid-create: adopt if the API       |
|                                                          | answers, else say why, delete and recreate      |
| exists, anything else                                    | Conflict (never touched), unless --force: use   |
|                                                          | it as is, without claiming it (`down` keeps it) |

Then the registries are wired in (hosts.toml on every node, network connect, ConfigMap) — idempotent, so a
rerun after a half-finished `up` completes the job. See lab/providers/ownership.py for the ownership marker.
"""

from __future__ import annotations

from collections.abc import Sequence

from lab.components.base import Component, Down, Row, StatusView, Up
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import CommandFailed, Conflict, ToolNotFound
from lab.providers import (
    ClusterProvider,
    DockerNetworked,
    LocalCluster,
    RegistryLink,
    default_attached_containers,
    default_registry_links,
    forget_ownership,
    local_provider_for,
    marker_path,
    provider_for,
    read_ownership,
)
from lab.tools import docker

LOAD_FAILED_HINT = (
    "run `invoke up` once online (the nodes pull the images). A 'content digest ... not found' error means Docker's "
    "containerd image store and a Docker older than 28 (no `docker image save --platform`): upgrade Docker, or turn "
    "the store off (daemon.json features.containerd-snapshotter=false; kubernetes-sigs/kind#3795), then `invoke cache`"
)

CREATED = "created"
REUSED = "reused"
ADOPTED = "adopted"
RECREATED = "recreated"
FORCED = "forced"


def ensure_cluster(
    ctx: Context,
    *,
    force: bool = False,
    workers: int = 0,
    registries: Sequence[RegistryLink] | None = None,
    attach: Sequence[str] | None = None,
    provider: LocalCluster | None = None,
) -> str:
    """Make sure the lab's cluster exists and can pull from the lab's registries. Returns what was done."""
    settings = ctx.settings
    links = list(registries) if registries is not None else default_registry_links(settings)
    extra = list(attach) if attach is not None else default_attached_containers(settings)
    prov = provider or cluster_provider(settings, workers=workers)
    name = settings.cluster_name
    with ctx.ui.phase(f'Ensuring cluster "{name}" ({prov.name})') as phase:
        action = _reconcile(ctx, prov, force=force)
        phase.note = action
    with ctx.ui.phase("Wiring registries into the cluster"):
        prov.wire_registry(ctx, links)
        prov.attach(ctx, extra)
    return action


def _reconcile(ctx: Context, prov: LocalCluster, *, force: bool) -> str:
    settings = ctx.settings
    name = settings.cluster_name
    if not prov.exists(ctx):
        if read_ownership(settings) is not None and not ctx.dry_run:
            ctx.ui.info(f"  dropping the ownership record of a cluster that no longer exists ({marker_path(settings)})")
            forget_ownership(settings)
        prov.create(ctx)
        return CREATED
    if prov.created_by_lab(ctx):
        _refuse_drift(ctx, prov)
        ctx.ui.info(f'  cluster "{name}" exists and was created by the lab: reusing it')
        return REUSED
    if prov.begun_by_lab(ctx):
        if prov.ready(ctx):
            ctx.ui.info(f'  cluster "{name}" was created by an interrupted run of the lab: adopting it')
            prov.adopt(ctx)
            _refuse_drift(ctx, prov)
            return ADOPTED
        ctx.ui.warn(
            f'cluster "{name}" is left over from an interrupted create by the lab and its API server does not '
            "answer: deleting it and creating it again"
        )
        prov.delete(ctx)
        prov.create(ctx)
        return RECREATED
    if force:
        ctx.ui.warn(
            f'cluster "{name}" was not created by the lab; --force: using it as it is '
            "(the lab does not claim it, so `down` will leave it in place)"
        )
        return FORCED
    raise Conflict(
        f'a {prov.name} cluster named "{name}" exists but was not created by the lab; leaving it untouched',
        hint=f"use another name (LAB_CLUSTER_NAME=...), delete it yourself (`{prov.delete_command()}`), "
        "or use it anyway with --force",
    )


def _refuse_drift(ctx: Context, prov: LocalCluster) -> None:
    """Conflict when the existing cluster lacks what the settings want: a kind cluster's port mappings, node image
    and kubeadm patches are fixed at creation, so e.g. a changed LAB_ARGOCD_PORT would print URLs that lead
    nowhere. Recreating applies them; the GitOps repo, the registry's images and the cache are kept by `down`."""
    drift = prov.config_drift(ctx)
    if drift:
        name = ctx.settings.cluster_name
        raise Conflict(
            f'cluster "{name}" was created with other settings than the lab has now: ' + "; ".join(drift),
            hint="recreate the cluster to apply them: `invoke down && invoke up` (the GitOps repo and the "
            "registry's images stay), or set the settings back",
        )


class ClusterNotRemoved(ToolNotFound):
    """The lab's cluster is there, but the tool that deletes it is not installed: the cluster was left as it is."""

    def __init__(self, tool: str, message: str, *, hint: str) -> None:
        super().__init__(tool, hint=hint)
        self.message = message
        self.args = (message,)


def node_containers(ctx: Context, prov: ClusterProvider) -> list[str]:
    """The cluster's node containers as Docker lists them: what can be seen of a local cluster without its tool."""
    if isinstance(prov, DockerNetworked):
        return prov.node_containers(ctx)
    return []


def _not_removed(
    prov: ClusterProvider, name: str, missing: ToolNotFound, nodes: Sequence[str], retry: str
) -> ClusterNotRemoved:
    """What to tell the user when the lab's cluster is there and its tool is not: commands that work without it."""
    tool = prov.name
    install = f"install {tool}" + (" (`invoke doctor --fix`)" if prov.capabilities.installs_pinned_cli else "")
    hint = f"{install} and run `{retry}` again"
    remove = prov.remove_nodes_command(nodes) if isinstance(prov, DockerNetworked) else None
    if remove:
        hint += f", or remove its nodes as `{prov.name} delete cluster` would: `{remove}`"
    return ClusterNotRemoved(
        missing.tool, f'{tool} cluster "{name}" not removed: {tool} is not installed or not on PATH', hint=hint
    )


def delete_cluster(ctx: Context, *, provider: ClusterProvider | None = None, retry: str = "invoke down") -> bool:
    """Delete the lab's cluster; leave alone any cluster the lab did not create. True if one was deleted.

    Without the provider's CLI (kind, minikube) the nodes are looked up through Docker: no nodes, nothing to do;
    the lab's cluster there raises ClusterNotRemoved, whose hint (with RETRY, the command to run again) works."""
    settings = ctx.settings
    prov = provider or provider_for(settings)
    name = settings.cluster_name
    with ctx.ui.phase(f'Deleting cluster "{name}" ({prov.name})') as phase:
        try:
            exists = prov.exists(ctx)
        except ToolNotFound as exc:
            nodes = node_containers(ctx, prov)
            if nodes and (prov.created_by_lab(ctx) or prov.begun_by_lab(ctx)):
                phase.note = f"not removed: {prov.name} is not installed"
                raise _not_removed(prov, name, exc, nodes, retry) from exc
            exists = bool(nodes)  # someone else's cluster is left alone below, as with the tool
        if not exists:
            if not ctx.dry_run:
                forget_ownership(settings)
            phase.note = "not found, nothing to delete"
            return False
        if prov.created_by_lab(ctx):
            record = read_ownership(settings)
            since = f" on {record.started_at}" if record else ""
            ctx.ui.info(f'  deleting cluster "{name}": the lab created it{since} ({marker_path(settings)})')
        elif prov.begun_by_lab(ctx):
            ctx.ui.info(f'  deleting cluster "{name}": left over from an interrupted create by the lab')
        else:
            ctx.ui.warn(f'cluster "{name}" was not created by the lab: leaving it in place')
            phase.note = "not the lab's, left alone"
            return False
        prov.delete(ctx)
        return True


def cluster_provider(settings: Settings, *, workers: int = 0) -> LocalCluster:
    """The local cluster's provider, with the node ports the lab's components publish (kind maps them)."""
    from lab.components import node_ports  # the component list imports this module

    return local_provider_for(settings, workers=workers, node_ports=node_ports(settings))


def side_load(run: Up, what: str, images: Sequence[str]) -> None:
    """Copy IMAGES (those Docker has) into the cluster's nodes, when its provider side-loads images. Online a
    failure only costs time (the pods use imagePullPolicy IfNotPresent, so nodes pull); offline it is fatal."""
    ctx, settings = run.ctx, run.settings
    prov = run.provider
    if prov is None or not prov.capabilities.side_loads_images:
        return
    present = [img for img in images if ctx.dry_run or docker.image_exists(ctx.runner, img)]
    if not present:
        return
    with ctx.ui.phase(f"Loading {what} into the cluster") as phase:
        try:
            prov.load_images(ctx, present)
            phase.note = f"{len(present)} image(s): nodes will not pull them"
        except CommandFailed as exc:
            if settings.offline:
                raise CommandFailed(
                    exc.argv,
                    exc.code,
                    exc.stderr_tail,
                    what=f"loading the {what} into the cluster failed; offline, the nodes cannot pull them",
                    hint=LOAD_FAILED_HINT,
                ) from exc
            last = exc.stderr_tail.splitlines()[-1] if exc.stderr_tail else f"exit code {exc.code}"
            ctx.ui.warn(f"could not load the {what} into the cluster ({last}): the nodes will pull them")
            phase.note = "not loaded: the nodes pull them"


def cluster_row(view: StatusView) -> Row:
    state = "ready" if view.reachable else "not answering" if view.exists else "absent"
    return ("cluster", f"{view.provider_name}: {state}{view.seen}", view.ctx.settings.kube_context)


class ClusterComponent(Component):
    """The local cluster: created (or reused) after the services, so their containers can be attached to it."""

    name = "cluster"

    def images(self, settings: Settings) -> list[str]:
        return [versions.KIND_NODE_IMAGE]  # saved by `cache` for every provider: switching to kind offline works

    def ensure(self, run: Up) -> None:
        run.provider = run.provider or cluster_provider(run.settings)
        run.made[self.name] = ensure_cluster(run.ctx, force=run.force, provider=run.provider)

    def status_rows(self, view: StatusView) -> list[Row]:
        return [cluster_row(view)]

    def remove(self, run: Down) -> None:
        try:
            delete_cluster(run.ctx, retry=run.retry)
        except ClusterNotRemoved as exc:  # everything else is removed all the same; `down` raises it at the end
            run.left = exc
