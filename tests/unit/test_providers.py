"""Cluster providers and the cluster step against a scripted world (FakeRunner responders; no Docker)."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from fakes import FakeRunner
from fakes.docker import Container, DockerFake

from lab import providers
from lab.components import cluster as cluster_step
from lab.components import node_ports
from lab.core import versions
from lab.core.config import Settings, load_settings
from lab.core.context import Context
from lab.core.errors import CommandFailed, ConfigError, Conflict
from lab.core.runner import DryRunRunner, Result
from lab.core.ui import UI
from lab.manifests import kind as kind_manifests
from lab.providers import (
    CREATED,
    CREATING,
    KindProvider,
    MinikubeProvider,
    Ownership,
    RegistryLink,
    marker_path,
    provider_for,
    read_ownership,
    write_ownership,
)
from lab.tools.kubectl import kubectl_binary

NAME = "gitops-lab"
KUBECTL = kubectl_binary()


@dataclass
class World:
    """Docker containers, kind clusters and minikube profiles as the CLIs would report them."""

    docker: DockerFake = field(default_factory=DockerFake)  # the shared strict Docker fake
    kind_clusters: dict[str, list[str]] = field(default_factory=dict)
    profiles: set[str] = field(default_factory=set)
    api_ready: bool = True
    create_configs: list[str] = field(default_factory=list)
    fail_create: bool = False

    @property
    def containers(self) -> dict[str, Container]:
        return self.docker.containers

    def add_lab_containers(self) -> None:
        for name in ("lab-registry", "lab-ecr", "lab-git", "lab-notify"):
            self.docker.add_container(name, labels={"gitops-lab.managed": "true"})

    def add_kind_cluster(
        self, name: str, workers: int = 0, created: datetime | None = None, config: str | None = None
    ) -> None:
        """Nodes as kind creates them; the control-plane publishes the API server and CONFIG's port mappings
        (by default those of the lab's default settings)."""
        nodes = kind_manifests.node_names(name, workers)
        self.kind_clusters[name] = nodes
        self.docker.networks.setdefault("kind", {})  # kind makes its network
        ports = ["127.0.0.1:40000:6443"]
        config = config or kind_manifests.render_kind_config(Settings(), ports=node_ports(Settings()))
        for node_config in yaml.safe_load(config)["nodes"][:1]:
            for m in node_config.get("extraPortMappings", []):
                ports.append(f"{m['listenAddress']}:{m['hostPort']}:{m['containerPort']}")
        for i, node in enumerate(nodes):
            self.docker.add_container(
                node,
                "kindest/node",
                {"io.x-k8s.kind.cluster": name},
                ports if i == 0 else [],
                networks={"kind"},
                created=created or datetime.now(UTC),
            )

    def __call__(self, argv: tuple[str, ...], input: str | None) -> Result | None:
        tool = Path(argv[0]).name
        args = argv[1:]
        if tool == "kind":
            return self._kind(argv, args)
        if tool == "docker":
            return self.docker(argv, input)
        if tool == "kubectl" and "/readyz" in args:
            return Result(argv, 0 if self.api_ready else 1, "ok" if self.api_ready else "", "refused")
        if tool == "minikube":
            return self._minikube(argv, args)
        return None

    def _kind(self, argv: tuple[str, ...], args: tuple[str, ...]) -> Result | None:
        if args[:2] == ("get", "clusters"):
            return Result(argv, 0, "".join(f"{c}\n" for c in sorted(self.kind_clusters)))
        if args[:2] == ("get", "nodes"):
            return Result(argv, 0, "".join(f"{n}\n" for n in self.kind_clusters.get(_flag(args, "--name"), [])))
        if args[:2] == ("create", "cluster"):
            config = Path(_flag(args, "--config"))
            assert config.is_file(), "kind create ran before its config was written"
            text = config.read_text()
            self.create_configs.append(text)
            if self.fail_create:
                return Result(argv, 1, "", "ERROR: failed to create cluster")
            workers = text.count("role: worker")
            self.add_kind_cluster(_flag(args, "--name"), workers, config=text)
            return Result(argv, 0)
        if args[:2] == ("delete", "cluster"):
            for node in self.kind_clusters.pop(_flag(args, "--name"), []):
                self.containers.pop(node, None)
            return Result(argv, 0)
        return None

    def _minikube(self, argv: tuple[str, ...], args: tuple[str, ...]) -> Result | None:
        if args[:2] == ("profile", "list"):
            valid = [{"Name": p, "Status": "Running", "Config": {}} for p in sorted(self.profiles)]
            return Result(argv, 0, json.dumps({"invalid": [], "valid": valid}))
        if args[:1] == ("start",):
            profile = _flag(args, "-p")
            self.profiles.add(profile)
            self.docker.networks.setdefault(profile, {})
            self.docker.add_container(profile, "gcr.io/k8s-minikube/kicbase", networks={profile})
            return Result(argv, 0)
        if args[:1] == ("delete",):
            profile = _flag(args, "-p")
            self.profiles.discard(profile)
            self.containers.pop(profile, None)
            return Result(argv, 0)
        return None


def _flag(args: tuple[str, ...], name: str) -> str:
    return args[args.index(name) + 1]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return load_settings({"state_dir": tmp_path}, config_file=tmp_path / "none.toml", environ={})


@pytest.fixture
def world() -> World:
    w = World()
    w.add_lab_containers()
    return w


@pytest.fixture
def runner(world: World) -> FakeRunner:
    r = FakeRunner()
    r.responders.append(world)
    script_docker_host(r)
    return r


def script_docker_host(r: FakeRunner) -> None:
    """What a Docker host with cgroup v2 and fresh kind nodes answers (a test scripts its own answers on top):
    `docker info` reports cgroup 2, a node's containerd has none of the lab's images (crictl exits 1, "no such
    image"), and making the registry-config directory on a node succeeds."""
    r.script(["docker", "info", "--format", "{{.CgroupVersion}}"], "2\n")
    for node in (f"{NAME}-control-plane", f"{NAME}-worker"):
        r.script(["docker", "exec", node, "crictl", "inspecti"], returncode=1, stderr='no such image "x" present')
        r.script(["docker", "exec", node, "mkdir", "-p"])
        r.script(["docker", "exec", "-i", node, "cp", "/dev/stdin"])  # writes the registry's hosts.toml
    r.script(["docker", "image", "save"])  # the archive `kind load image-archive` reads
    r.script(["kind", "load", "image-archive"])
    r.script(["minikube", "image", "load"])
    r.script([KUBECTL, "--context", f"kind-{NAME}", "apply", "-f", "-"])  # the local-registry-hosting ConfigMap


@pytest.fixture(autouse=True)
def no_lab_kind(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Whatever kind the developer has installed, the fake answers as "kind".
    monkeypatch.setattr(providers.kind.kind_tool, "binary", lambda state_dir=None: "kind")
    yield


def make_ctx(settings: Settings, runner: FakeRunner | DryRunRunner) -> Context:
    return Context(settings, runner, UI(err=io.StringIO(), out=io.StringIO()))


def ui_text(ctx: Context) -> str:
    err = ctx.ui.err
    assert isinstance(err, io.StringIO)
    return err.getvalue()


def indexes(runner: FakeRunner, *prefix: str) -> list[int]:
    return [i for i, c in enumerate(runner.calls) if c.argv[: len(prefix)] == prefix]


DESTRUCTIVE = (("kind", "create"), ("kind", "delete"), ("docker", "exec"), ("docker", "network", "connect"))


def assert_nothing_changed(runner: FakeRunner) -> None:
    for prefix in DESTRUCTIVE:
        runner.assert_not_called(*prefix)
    assert not [c for c in runner.calls if c.argv[0] == KUBECTL and "apply" in c.argv], runner.dump()


# ensure_cluster ---------------------------------------------------------------------------------------------
def test_fresh_machine_full_sequence(settings: Settings, runner: FakeRunner, world: World) -> None:
    ctx = make_ctx(settings, runner)
    action = cluster_step.ensure_cluster(ctx, workers=1)
    assert action == cluster_step.CREATED

    # config written (the fake asserts the file exists when kind create runs) and is what kind got
    config_file = settings.state_dir / "kind-config.yaml"
    assert world.create_configs == [config_file.read_text()]
    create = runner.assert_called("kind", "create", "cluster")
    assert create.argv == (
        "kind", "create", "cluster", "--name", NAME, "--config", str(config_file), "--wait", "120s",
    )  # fmt: skip
    i_create = runner.index("kind", "create", "cluster")

    # hosts.toml on every node, for every registry
    nodes = [f"{NAME}-control-plane", f"{NAME}-worker"]
    expected = {
        "localhost:5001": '[host."http://lab-registry:5000"]\n',
        "localhost:4566": '[host."http://lab-ecr:4566"]\n',
    }
    copies = []
    for node in nodes:
        for alias, content in expected.items():
            mkdir = indexes(runner, "docker", "exec", node, "mkdir", "-p", f"/etc/containerd/certs.d/{alias}")
            cp = indexes(
                runner, "docker", "exec", "-i", node, "cp", "/dev/stdin", f"/etc/containerd/certs.d/{alias}/hosts.toml"
            )
            assert len(mkdir) == 1 and len(cp) == 1, runner.dump()
            assert mkdir[0] < cp[0]
            assert runner.calls[cp[0]].input == content
            copies.append(cp[0])
    assert i_create < min(copies), runner.dump()

    # registries connected after the node files, then the ConfigMap; the git server and the receiver are attached too
    connects = indexes(runner, "docker", "network", "connect", "kind")
    assert [runner.calls[i].argv[-1] for i in connects] == [
        "lab-registry",
        "lab-ecr",
        "lab-git",
        "lab-notify",
    ], runner.dump()
    assert max(copies) < min(connects)
    applies = [i for i, c in enumerate(runner.calls) if c.argv[:4] == (KUBECTL, "--context", f"kind-{NAME}", "apply")]
    assert len(applies) == 1, runner.dump()
    assert max(connects[:2]) < applies[0]
    assert "local-registry-hosting" in (runner.calls[applies[0]].input or "")
    assert 'host: "localhost:5001"' in (runner.calls[applies[0]].input or "")

    # ownership recorded with the control-plane's container ID
    record = read_ownership(settings)
    assert record is not None and record.state == CREATED and record.provider == "kind"
    assert record.node_id == world.containers[f"{NAME}-control-plane"].id


def test_second_run_creates_nothing(settings: Settings, runner: FakeRunner) -> None:
    cluster_step.ensure_cluster(make_ctx(settings, runner))
    runner.calls.clear()
    ctx = make_ctx(settings, runner)
    assert cluster_step.ensure_cluster(ctx) == cluster_step.REUSED
    runner.assert_not_called("kind", "create")
    runner.assert_not_called("kind", "delete")
    runner.assert_not_called("docker", "network", "connect")  # already connected
    assert "reusing it" in ui_text(ctx)


def test_foreign_cluster_is_a_conflict_and_untouched(settings: Settings, runner: FakeRunner, world: World) -> None:
    world.add_kind_cluster(NAME)
    ctx = make_ctx(settings, runner)
    with pytest.raises(Conflict) as exc:
        cluster_step.ensure_cluster(ctx)
    assert exc.value.exit_code == 6
    assert exc.value.hint and "--force" in exc.value.hint and f"kind delete cluster --name {NAME}" in exc.value.hint
    assert_nothing_changed(runner)
    assert read_ownership(settings) is None


def test_stale_marker_does_not_claim_a_same_named_foreign_cluster(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    # The lab once created "gitops-lab"; it was deleted by hand and someone created their own with that name.
    write_ownership(settings, Ownership(NAME, "kind", CREATED, "2020-01-01T00:00:00+00:00", node_id="f" * 64))
    world.add_kind_cluster(NAME)
    with pytest.raises(Conflict):
        cluster_step.ensure_cluster(make_ctx(settings, runner))
    assert_nothing_changed(runner)
    assert not cluster_step.delete_cluster(make_ctx(settings, runner))
    runner.assert_not_called("kind", "delete")


def test_force_uses_a_foreign_cluster_without_claiming_it(settings: Settings, runner: FakeRunner, world: World) -> None:
    world.add_kind_cluster(NAME)
    ctx = make_ctx(settings, runner)
    assert cluster_step.ensure_cluster(ctx, force=True) == cluster_step.FORCED
    runner.assert_not_called("kind", "create")
    runner.assert_not_called("kind", "delete")
    runner.assert_called("docker", "exec", "-i", f"{NAME}-control-plane", "cp")
    assert read_ownership(settings) is None
    assert "--force" in ui_text(ctx)
    # down still leaves it alone
    assert cluster_step.delete_cluster(make_ctx(settings, runner)) is False
    runner.assert_not_called("kind", "delete")


def test_resume_after_crash_right_after_create_adopts(settings: Settings, runner: FakeRunner, world: World) -> None:
    # The process wrote "creating", kind created the cluster, then the process died before confirming.
    started = datetime.now(UTC) - timedelta(minutes=3)
    write_ownership(settings, Ownership(NAME, "kind", CREATING, started.isoformat(timespec="seconds")))
    world.add_kind_cluster(NAME, created=started + timedelta(seconds=5))
    ctx = make_ctx(settings, runner)
    assert cluster_step.ensure_cluster(ctx) == cluster_step.ADOPTED
    runner.assert_not_called("kind", "create")
    runner.assert_not_called("kind", "delete")
    record = read_ownership(settings)
    assert record is not None and record.state == CREATED
    assert record.node_id == world.containers[f"{NAME}-control-plane"].id
    assert "interrupted" in ui_text(ctx)
    runner.assert_called("docker", "network", "connect", "kind", "lab-registry")


def test_resume_after_crash_during_create_recreates(settings: Settings, runner: FakeRunner, world: World) -> None:
    started = datetime.now(UTC) - timedelta(minutes=3)
    write_ownership(settings, Ownership(NAME, "kind", CREATING, started.isoformat(timespec="seconds")))
    world.add_kind_cluster(NAME, created=started + timedelta(seconds=5))
    world.api_ready = False  # half-made: the API server never came up
    ctx = make_ctx(settings, runner)
    assert cluster_step.ensure_cluster(ctx) == cluster_step.RECREATED
    assert runner.index("kind", "delete", "cluster") < runner.index("kind", "create", "cluster"), runner.dump()
    assert "deleting it and creating it again" in ui_text(ctx)
    record = read_ownership(settings)
    assert record is not None and record.state == CREATED


def test_creating_marker_older_than_cluster_is_not_enough(settings: Settings, runner: FakeRunner, world: World) -> None:
    # The cluster predates the lab's attempt by far: it is someone else's.
    started = datetime.now(UTC)
    write_ownership(settings, Ownership(NAME, "kind", CREATING, started.isoformat(timespec="seconds")))
    world.add_kind_cluster(NAME, created=started - timedelta(days=2))
    with pytest.raises(Conflict):
        cluster_step.ensure_cluster(make_ctx(settings, runner))
    assert_nothing_changed(runner)


def test_failed_create_drops_the_marker(settings: Settings, runner: FakeRunner, world: World) -> None:
    world.fail_create = True
    with pytest.raises(CommandFailed):
        cluster_step.ensure_cluster(make_ctx(settings, runner))
    assert not marker_path(settings).exists()


def test_failed_create_hint_names_this_cluster_and_commands_that_work_after_kind_cleaned_up(
    tmp_path: Path, world: World
) -> None:
    settings = load_settings(
        {"state_dir": tmp_path, "cluster_name": "lab-x"}, config_file=tmp_path / "none.toml", environ={}
    )
    world.fail_create = True
    runner = FakeRunner()
    runner.responders.append(world)
    script_docker_host(runner)
    with pytest.raises(CommandFailed) as info:
        cluster_step.ensure_cluster(make_ctx(settings, runner))
    hint = info.value.hint or ""
    assert "<" not in hint and ">" not in hint, hint
    # kind removed the failed node (no --retain): the hint keeps it first, then reads its logs, then cleans up.
    commands = [shlex.split(c) for c in re.findall(r"`([^`]+)`", hint)]
    config = str(settings.state_dir / "kind-config.yaml")
    assert commands == [
        ["kind", "create", "cluster", "--name", "lab-x", "--config", config, "--retain"],
        ["docker", "logs", "lab-x-control-plane"],
        ["kind", "delete", "cluster", "--name", "lab-x"],
    ], hint


# The cluster's config, remembered and compared on every `up` -------------------------------------------------
def _with(settings: Settings, **overrides: object) -> Settings:
    values = {"state_dir": settings.state_dir, **overrides}
    return load_settings(values, config_file=settings.state_dir / "none.toml", environ={})


def test_the_marker_remembers_the_config_the_cluster_was_created_from(settings: Settings, runner: FakeRunner) -> None:
    cluster_step.ensure_cluster(make_ctx(settings, runner))
    record = read_ownership(settings)
    text = (settings.state_dir / "kind-config.yaml").read_text()
    assert record is not None and record.config == text
    assert record.config_sha256 == hashlib.sha256(text.encode()).hexdigest()


def test_a_changed_argocd_port_is_refused_with_what_differs_and_how_to_apply_it(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    cluster_step.ensure_cluster(make_ctx(settings, runner))
    runner.calls.clear()
    moved = _with(settings, argocd_port=9090)
    with pytest.raises(Conflict) as info:
        cluster_step.ensure_cluster(make_ctx(moved, runner))
    err = info.value
    assert "Argo CD UI: the cluster publishes node port 30080 on 127.0.0.1:8080, the settings want 127.0.0.1:9090" in (
        err.message
    ), err.message
    assert "dev app" not in err.message, "only what differs"
    assert "`invoke down && invoke up`" in (err.hint or "")
    assert_nothing_changed(runner)

    # The hint works: down deletes the lab's cluster, up creates it with the new mapping.
    cluster_step.delete_cluster(make_ctx(moved, runner))
    assert cluster_step.ensure_cluster(make_ctx(moved, runner)) == cluster_step.CREATED
    ports = world.containers[f"{NAME}-control-plane"].inspect()["HostConfig"]["PortBindings"]
    assert ports["30080/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "9090"}]
    assert cluster_step.ensure_cluster(make_ctx(moved, runner)) == cluster_step.REUSED


def test_a_cluster_from_before_the_config_was_remembered_is_checked_by_its_published_ports(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    cluster_step.ensure_cluster(make_ctx(_with(settings, argocd_port=8090), runner))
    record = read_ownership(settings)
    assert record is not None
    write_ownership(settings, dataclasses.replace(record, config="", config_sha256=""))  # an older lab's marker
    assert cluster_step.ensure_cluster(make_ctx(_with(settings, argocd_port=8090), runner)) == cluster_step.REUSED
    with pytest.raises(Conflict, match=r"Argo CD UI: the cluster publishes node port 30080 on 127\.0\.0\.1:8090, "):
        cluster_step.ensure_cluster(make_ctx(settings, runner))


def test_an_older_node_image_is_reported_but_the_verified_offline_copy_of_the_pinned_one_is_not(
    settings: Settings, runner: FakeRunner
) -> None:
    cluster_step.ensure_cluster(make_ctx(settings, runner))
    assert cluster_step.ensure_cluster(make_ctx(_with(settings, offline=True), runner)) == cluster_step.REUSED
    record = read_ownership(settings)
    assert record is not None
    old = "kindest/node:v1.35.0@sha256:" + "0" * 64
    write_ownership(settings, dataclasses.replace(record, config=record.config.replace(versions.KIND_NODE_IMAGE, old)))
    with pytest.raises(Conflict, match=rf"node image: the cluster runs {re.escape(old)}; the lab pins"):
        cluster_step.ensure_cluster(make_ctx(settings, runner))


def test_the_cgroup_patch_is_compared_only_when_docker_reports_the_cgroup_version(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    world.docker.cgroup = ""  # a daemon that does not report it
    cluster_step.ensure_cluster(make_ctx(settings, runner))  # Docker said nothing: created without the patch
    assert cluster_step.ensure_cluster(make_ctx(settings, runner)) == cluster_step.REUSED
    world.docker.cgroup = "1"
    with pytest.raises(Conflict, match="without the cgroup v1 kubelet patch"):
        cluster_step.ensure_cluster(make_ctx(settings, runner))


def test_marker_of_a_vanished_cluster_is_dropped_then_recreated(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    write_ownership(settings, Ownership(NAME, "kind", CREATED, "2020-01-01T00:00:00+00:00", node_id="a" * 64))
    assert cluster_step.ensure_cluster(make_ctx(settings, runner)) == cluster_step.CREATED
    record = read_ownership(settings)
    assert record is not None and record.node_id == world.containers[f"{NAME}-control-plane"].id


def test_missing_registry_container_is_warned_not_connected(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    del world.containers["lab-ecr"]
    ctx = make_ctx(settings, runner)
    cluster_step.ensure_cluster(ctx)
    runner.assert_not_called("docker", "network", "connect", "kind", "lab-ecr")
    runner.assert_called("docker", "network", "connect", "kind", "lab-registry")
    assert "lab-ecr does not exist yet" in ui_text(ctx)


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_dry_run_prints_the_fresh_machine_plan(settings: Settings) -> None:
    out = io.StringIO()
    runner = DryRunRunner(out=out)
    ctx = make_ctx(settings, runner)
    cluster_step.ensure_cluster(ctx)
    assert not (settings.state_dir / "kind-config.yaml").exists()
    assert not marker_path(settings).exists()
    shown = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert "kind-config.yaml" in shown and "kind: Cluster" in shown
    printed = out.getvalue()
    assert "kind create cluster --name gitops-lab" in printed
    assert "docker exec -i gitops-lab-control-plane cp /dev/stdin" in printed
    assert "docker network connect kind lab-registry" in printed
    assert "local-registry-hosting" in printed


# delete_cluster ---------------------------------------------------------------------------------------------
def test_delete_only_the_lab_cluster(settings: Settings, runner: FakeRunner, world: World) -> None:
    cluster_step.ensure_cluster(make_ctx(settings, runner))
    ctx = make_ctx(settings, runner)
    assert cluster_step.delete_cluster(ctx) is True
    runner.assert_called("kind", "delete", "cluster", "--name", NAME)
    assert NAME not in world.kind_clusters
    assert not marker_path(settings).exists()
    assert "the lab created it" in ui_text(ctx)


def test_delete_tolerates_absence(settings: Settings, runner: FakeRunner) -> None:
    assert cluster_step.delete_cluster(make_ctx(settings, runner)) is False
    assert cluster_step.delete_cluster(make_ctx(settings, runner)) is False
    runner.assert_not_called("kind", "delete")


def test_delete_leaves_a_foreign_cluster(settings: Settings, runner: FakeRunner, world: World) -> None:
    world.add_kind_cluster(NAME)
    ctx = make_ctx(settings, runner)
    assert cluster_step.delete_cluster(ctx) is False
    runner.assert_not_called("kind", "delete")
    assert NAME in world.kind_clusters
    assert "not created by the lab" in ui_text(ctx)


def test_delete_removes_the_leftover_of_an_interrupted_create(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    started = datetime.now(UTC) - timedelta(minutes=1)
    write_ownership(settings, Ownership(NAME, "kind", CREATING, started.isoformat(timespec="seconds")))
    world.add_kind_cluster(NAME, created=started + timedelta(seconds=2))
    assert cluster_step.delete_cluster(make_ctx(settings, runner)) is True
    runner.assert_called("kind", "delete", "cluster", "--name", NAME)


# minikube ---------------------------------------------------------------------------------------------------
@pytest.fixture
def mk_settings(tmp_path: Path) -> Settings:
    return load_settings(
        {"state_dir": tmp_path, "provider": "minikube"}, config_file=tmp_path / "none.toml", environ={}
    )


def test_minikube_sequence(mk_settings: Settings, runner: FakeRunner, world: World) -> None:
    ctx = make_ctx(mk_settings, runner)
    assert cluster_step.ensure_cluster(ctx) == cluster_step.CREATED
    start = runner.assert_called("minikube", "start")
    # No registry addon (it pulls two images, so fails offline) and no insecure registries: images reach
    # minikube by `minikube image load`.
    assert start.argv == ("minikube", "start", "-p", NAME, "--driver", "docker"), runner.dump()
    runner.assert_not_called("minikube", "addons")
    i_start = runner.index("minikube", "start")
    connects = indexes(runner, "docker", "network", "connect", NAME)
    assert i_start < min(connects), runner.dump()
    assert [runner.calls[i].argv[-1] for i in connects] == ["lab-registry", "lab-ecr", "lab-git", "lab-notify"]
    # no kind recipe on minikube
    runner.assert_not_called("docker", "exec")
    assert not [c for c in runner.calls if c.argv[0] == KUBECTL and "apply" in c.argv], runner.dump()
    assert not (mk_settings.state_dir / "kind-config.yaml").exists()
    record = read_ownership(mk_settings)
    assert record is not None and record.provider == "minikube" and record.node_id == world.containers[NAME].id

    runner.calls.clear()
    assert cluster_step.ensure_cluster(make_ctx(mk_settings, runner)) == cluster_step.REUSED
    runner.assert_not_called("minikube", "start")

    assert cluster_step.delete_cluster(make_ctx(mk_settings, runner)) is True
    runner.assert_called("minikube", "delete", "-p", NAME)
    assert NAME not in world.profiles


def test_minikube_foreign_profile_conflict(mk_settings: Settings, runner: FakeRunner, world: World) -> None:
    world.profiles.add(NAME)
    with pytest.raises(Conflict) as exc:
        cluster_step.ensure_cluster(make_ctx(mk_settings, runner))
    assert exc.value.hint and f"minikube delete -p {NAME}" in exc.value.hint
    runner.assert_not_called("minikube", "start")
    runner.assert_not_called("minikube", "delete")


def test_minikube_load_images_one_call_per_image(mk_settings: Settings, runner: FakeRunner) -> None:
    MinikubeProvider(mk_settings).load_images(make_ctx(mk_settings, runner), ["a:1", "b:2"])
    assert runner.commands == [f"minikube image load a:1 -p {NAME}", f"minikube image load b:2 -p {NAME}"]


# provider plumbing --------------------------------------------------------------------------------------------
ENGINE = ("docker", "version", "--format", "{{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}")


def _local_images(world: World, ids: dict[str, str]) -> None:
    for ref, image_id in ids.items():
        world.docker.images[ref] = {"Id": image_id, "Config": {"Labels": {}}}


def _engine(world: World, api: str, arch: str) -> None:
    world.docker.api_version, world.docker.arch = api, arch


def test_kind_load_images_saves_one_platform_and_loads_the_archive(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    world.add_kind_cluster(NAME)
    _engine(world, "1.51", "arm64")
    _local_images(world, {"lab-app:1": "sha256:" + "a" * 64, "redis:8": "sha256:" + "b" * 64})
    prov = KindProvider(settings, node_ports=node_ports(settings))
    prov.load_images(make_ctx(settings, runner), ["lab-app:1", "redis:8"])
    archive = str(prov.load_archive_path)
    save = runner.assert_called("docker", "image", "save")
    assert save.argv == ("docker", "image", "save", "--platform", "linux/arm64", "-o", archive, "lab-app:1", "redis:8")
    runner.assert_called("kind", "load", "image-archive", archive, "--name", NAME)
    assert runner.index("docker", "image", "save") < runner.index("kind", "load", "image-archive"), runner.dump()
    runner.assert_not_called("kind", "load", "docker-image")
    assert not prov.load_archive_path.exists(), "the temporary archive is removed"


def test_kind_load_images_skips_images_every_node_has(settings: Settings, runner: FakeRunner, world: World) -> None:
    world.add_kind_cluster(NAME, workers=1)
    _engine(world, "1.51", "amd64")
    app, redis = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    _local_images(world, {"lab-app:1": app, "redis:8": redis})
    # lab-app:1 is on both nodes with the local ID; redis:8 only on the control plane.
    for node in (f"{NAME}-control-plane", f"{NAME}-worker"):
        world.containers[node].image_ids["lab-app:1"] = app  # what `crictl inspecti` in the node says
    world.containers[f"{NAME}-control-plane"].image_ids["redis:8"] = redis
    prov = KindProvider(settings, node_ports=node_ports(settings), workers=1)
    prov.load_images(make_ctx(settings, runner), ["lab-app:1", "redis:8"])
    save = runner.assert_called("docker", "image", "save")
    assert save.argv[-1] == "redis:8" and "lab-app:1" not in save.argv, runner.dump()

    runner.calls.clear()
    world.containers[f"{NAME}-worker"].image_ids["redis:8"] = redis
    prov.load_images(make_ctx(settings, runner), ["lab-app:1", "redis:8"])
    runner.assert_not_called("docker", "image", "save")
    runner.assert_not_called("kind", "load")


def test_kind_load_images_on_a_daemon_without_save_platform(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    world.add_kind_cluster(NAME)
    _engine(world, "1.41", "amd64")  # Docker 20.10: `--platform` would be refused
    _local_images(world, {"redis:8": "sha256:" + "b" * 64})
    prov = KindProvider(settings, node_ports=node_ports(settings))
    prov.load_images(make_ctx(settings, runner), ["redis:8"])
    save = runner.assert_called("docker", "image", "save")
    assert "--platform" not in save.argv, runner.dump()
    runner.assert_called("kind", "load", "image-archive", str(prov.load_archive_path))


def test_kind_load_images_retries_without_platform_when_the_cli_lacks_it(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    world.add_kind_cluster(NAME)
    _engine(world, "1.51", "amd64")
    runner.script_once(["docker", "image", "save", "--platform"], returncode=125, stderr="unknown flag: --platform")
    _local_images(world, {"redis:8": "sha256:" + "b" * 64})
    KindProvider(settings, node_ports=node_ports(settings)).load_images(make_ctx(settings, runner), ["redis:8"])
    saves = runner.find("docker", "image", "save")
    assert ["--platform" in c.argv for c in saves] == [True, False], runner.dump()
    runner.assert_called("kind", "load", "image-archive")


def test_kind_load_images_failure_is_a_command_failure_and_the_archive_goes(
    settings: Settings, runner: FakeRunner, world: World
) -> None:
    world.add_kind_cluster(NAME)
    _engine(world, "1.51", "amd64")
    runner.script(["kind", "load", "image-archive"], returncode=1, stderr="ctr: content digest sha256:x: not found")
    _local_images(world, {"redis:8": "sha256:" + "b" * 64})
    prov = KindProvider(settings, node_ports=node_ports(settings))
    with pytest.raises(CommandFailed) as info:
        prov.load_images(make_ctx(settings, runner), ["redis:8"])
    assert "content digest" in info.value.stderr_tail
    assert not prov.load_archive_path.exists()


def test_kind_config_names_the_node_image_by_tag_only_offline(tmp_path: Path) -> None:
    def node_images(offline: bool, **kw: str) -> set[str]:
        s = load_settings({"state_dir": tmp_path, "offline": offline}, config_file=tmp_path / "n.toml", environ={})
        config = yaml.safe_load(KindProvider(s, node_ports=node_ports(s), workers=1, **kw).render_config())  # type: ignore[arg-type]
        return {node["image"] for node in config["nodes"]}

    assert node_images(False) == {versions.KIND_NODE_IMAGE}, "online: pinned by digest"
    assert node_images(True) == {versions.KIND_NODE_IMAGE_TAG} == {"kindest/node:v1.36.1"}
    other = "kindest/node:v1.35.0@sha256:" + "c" * 64
    assert node_images(True, node_image=other) == {other}
    with pytest.raises(ConfigError, match="not pinned"):
        node_images(False, node_image="kindest/node:latest")


def test_provider_for(settings: Settings, mk_settings: Settings, tmp_path: Path) -> None:
    assert isinstance(provider_for(settings), KindProvider)
    assert isinstance(provider_for(mk_settings), MinikubeProvider)
    assert provider_for(settings).kubeconfig_context(make_ctx(settings, FakeRunner())) == f"kind-{NAME}"
    assert provider_for(mk_settings).kubeconfig_context(make_ctx(mk_settings, FakeRunner())) == NAME
    aws = load_settings({"state_dir": tmp_path, "target": "aws"}, config_file=tmp_path / "none.toml", environ={})
    from lab.providers.eks import EksProvider

    assert isinstance(provider_for(aws), EksProvider)


def test_default_registry_links(tmp_path: Path) -> None:
    def links(**overrides: object) -> list[RegistryLink]:
        s = load_settings({"state_dir": tmp_path, **overrides}, config_file=tmp_path / "n.toml", environ={})
        return providers.default_registry_links(s)

    assert links() == [
        RegistryLink("localhost:5001", "lab-registry", 5000),
        RegistryLink("localhost:4566", "lab-ecr", 4566),
    ]
    assert links(registry_port=5050)[0] == RegistryLink("localhost:5050", "lab-registry", 5000)
    assert links(registry="registry.example:5000") == [RegistryLink("localhost:4566", "lab-ecr", 4566)]
    assert links(aws_endpoint_url="http://10.0.0.1:4566") == [RegistryLink("localhost:5001", "lab-registry", 5000)]


def test_unreadable_marker_counts_as_none(settings: Settings) -> None:
    path = marker_path(settings)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert read_ownership(settings) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28T07:40:00.123456789Z", datetime(2026, 11, 28, 7, 40, 0, 123456, tzinfo=UTC)),
        ("2026-11-28T07:40:00Z", datetime(2026, 11, 28, 7, 40, 0, tzinfo=UTC)),
        ("2026-11-28T07:40:00+00:00", datetime(2026, 11, 28, 7, 40, 0, tzinfo=UTC)),
        ("", None),
        ("yesterday", None),
    ],
)
def test_parse_timestamp(text: str, expected: datetime | None) -> None:
    assert providers.parse_timestamp(text) == expected


def test_kind_not_on_path_is_tool_not_found_with_a_hint_to_install_it_not_to_start_docker() -> None:
    from lab.core.errors import ToolNotFound
    from lab.tools import kind as kind_tool

    with pytest.raises(ToolNotFound) as info:
        kind_tool.get_clusters(FakeRunner(missing={"kind"}))
    assert "invoke doctor --fix" in (info.value.hint or "") and "Docker" not in (info.value.hint or "")


@pytest.mark.parametrize("target,provider", [("local", "kind"), ("local", "minikube"), ("aws", "kind")])
def test_a_providers_capabilities_say_which_role_protocols_it_implements(
    settings: Settings, target: str, provider: str
) -> None:
    """The steps ask capabilities (no cluster needed) and then use the role protocols: the two must agree."""
    s = dataclasses.replace(settings, target=target, provider=provider)
    cls = providers.provider_class(s)
    caps = providers.capabilities_for(s)
    assert caps is cls.capabilities
    made = providers.provider_for(s) if target == "local" else cls.__new__(cls)
    assert isinstance(made, providers.SideLoader) == caps.side_loads_images
    assert isinstance(made, providers.DockerNetworked) == caps.docker_nodes
    assert isinstance(made, providers.MarkerOwned) == (caps.ownership == "marker")
    assert (caps.reaches_host_registry == "load") == (provider == "minikube" and target == "local")
