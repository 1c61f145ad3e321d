"""The contract cases: each runs lab/tools (and the two argv built in lab/steps) against one side, the real daemon or
tests/fakes/docker.py's DockerFake, and returns what the lab parsed from the answers. test_docker_contract.py runs
every case on both sides and compares; test_contract_coverage.py checks that together the cases cover every
MODELLED entry (``covers`` must name exactly the entries a case makes the fake answer).

Every object a case makes on the real daemon has a name starting with ``side.prefix`` and the label
CONTRACT_LABEL=<run id>, and is removed by the Janitor in test_docker_contract.py (nothing else is touched)."""

from __future__ import annotations

import io
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fakes.docker import ENGINE_FORMAT, DockerFake

from lab import image_cache
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import CommandFailed, LabError
from lab.core.runner import Runner
from lab.core.ui import UI
from lab.providers.kind import _published_ports
from lab.steps import doctor as doctor_steps
from lab.steps.preflight import PORT_RE
from lab.tools import docker, docker_objects, pip

CONTRACT_LABEL = "gitops-lab.contract"
SLEEPER = ["sleep", "600"]  # keeps a contract container running; the Janitor removes it long before


@dataclass
class Side:
    """One side of the contract: a runner (real or over the fake) and where a case makes its objects."""

    runner: Runner
    fake: DockerFake | None
    prefix: str  # every object name starts with it (the same on both sides)
    run_id: str
    tmp: Path
    base_image: str
    free_ports: tuple[int, int] = (0, 0)
    registry: str | None = None  # host:port of a real registry (docker-registry) on 127.0.0.1
    made: dict[str, list[str]] = field(default_factory=dict)  # kind -> names, for the Janitor

    @property
    def label(self) -> dict[str, str]:
        return {CONTRACT_LABEL: self.run_id}

    def name(self, what: str) -> str:
        return f"{self.prefix}-{what}"

    def note(self, kind: str, name: str) -> str:
        self.made.setdefault(kind, []).append(name)
        return name

    def ctx(self) -> Context:
        return Context(Settings(state_dir=self.tmp / ".lab"), self.runner, UI(err=io.StringIO(), out=io.StringIO()))

    def network(self, what: str) -> str:
        """A network made outside lab/tools (the lab only connects to kind's): `docker network create`."""
        name = self.note("network", self.name(what))
        if self.fake is not None:
            self.fake.networks[name] = dict(self.label)
        else:
            subprocess.run(
                ["docker", "network", "create", "--label", f"{CONTRACT_LABEL}={self.run_id}", name],
                check=True,
                capture_output=True,
                timeout=60,
            )
        return name

    def ports(self) -> tuple[int, int]:
        """Two consecutive free ports on 127.0.0.1 (found once per run, the same for both sides)."""
        return self.free_ports


@dataclass(frozen=True)
class Case:
    name: str
    covers: frozenset[str]  # the MODELLED keys this case makes the fake answer
    run: Callable[[Side], dict[str, Any]]
    needs_registry: bool = False


CASES: dict[str, Case] = {}


def case(*covers: str, needs_registry: bool = False) -> Callable[[Callable[[Side], dict[str, Any]]], Any]:
    def register(fn: Callable[[Side], dict[str, Any]]) -> Callable[[Side], dict[str, Any]]:
        name = fn.__name__.removeprefix("case_")
        CASES[name] = Case(name, frozenset(covers), fn, needs_registry)
        return fn

    return register


def failed(fn: Callable[[], object]) -> str | None:
    """None when FN ran, else the error it raised and the docker command's exit code (not its words: they differ
    between Docker versions)."""
    try:
        fn()
    except CommandFailed as exc:
        return f"{type(exc).__name__} exit {exc.code}"
    except LabError as exc:
        return type(exc).__name__
    return None


def _state(side: Side, name: str) -> dict[str, Any]:
    state = docker.container_state(side.runner, name)
    labels = dict(state.labels or {})
    return {
        "exists": state.exists,
        "running": state.running,
        "labels": {k: v for k, v in labels.items() if k.startswith("gitops-lab.")},
        "networks": sorted(state.networks),
        "image": state.image,
        "managed": state.managed,
    }


def _dockerfile(side: Side, what: str) -> Path:
    context = side.tmp / f"ctx-{what}"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text("ARG BASE_IMAGE=scratch\nFROM ${BASE_IMAGE}\n")
    return context


def _build(side: Side, what: str, tags: list[str], labels: dict[str, str]) -> str:
    for tag in tags:
        side.note("image", tag)
    return docker.build(
        side.runner,
        _dockerfile(side, what),
        tags,
        build_args={"BASE_IMAGE": side.base_image},
        labels={**side.label, **labels},
    )


# The daemon -------------------------------------------------------------------------------------------------
@case(
    "version --format {{.Server.Version}}",
    f"version --format {ENGINE_FORMAT}",
    "info --format {{.CgroupVersion}}",
    "info --format {{json .}}",
)
def case_engine(side: Side) -> dict[str, Any]:
    """What doctor, the kind config and `kind load` read about the daemon."""
    checks = doctor_steps.check_docker(side.ctx())
    return {
        "ping": docker.ping(side.runner),
        "engine": docker.engine(side.runner),
        "save_platform": docker.save_platform(side.runner),
        "cgroup": docker.cgroup_version(side.runner),
        "doctor": [(c.name, c.ok, c.detail) for c in checks],
    }


# Containers -------------------------------------------------------------------------------------------------
@case(
    "run -d",
    "container inspect",
    "ps --format {{.Names}}",
    "ps --format {{.Ports}}",
    "exec",
    "stop",
    "start",
    "logs",
    "rm -f",
    "network inspect",
    "network connect",
    "volume create",
    "build",
)
def case_containers(side: Side) -> dict[str, Any]:
    """A service container's life: run with labels, ports, a bind mount, a named volume and a network; read its
    state, published ports and files; connect a second network; stop, start, remove; a name and a port clash."""
    out: dict[str, Any] = {}
    image = side.name("img") + ":1"
    _build(side, "img", [image], {"gitops-lab.from-image": "yes"})
    net, other = side.network("net"), side.network("other")
    volume = side.note("volume", side.name("vol"))
    docker_objects.create_volume(side.runner, volume, side.label)
    host_dir = side.tmp / "bind"
    host_dir.mkdir()
    (host_dir / "token").write_text("bound\n")
    first, second = side.ports()
    name = side.note("container", side.name("svc"))
    out["missing"] = docker.inspect_container(side.runner, name)
    out["network_exists"] = (docker.network_exists(side.runner, net), docker.network_exists(side.runner, name))
    container_id = docker.run_container(
        side.runner,
        name=name,
        image=image,
        labels={**side.label, "gitops-lab.component": "svc"},
        ports=[("127.0.0.1", first, 5000), ("127.0.0.1", second, 5001)],
        network=net,
        volumes=[(str(host_dir), "/srv/bind"), (volume, "/data")],
        env={"LAB_X": "1"},
        command=SLEEPER,
    )
    out["run_id"] = container_id
    out["state"] = _state(side, name)
    out["published"] = _published_ports(side.ctx(), name)
    out["listed"] = sorted(docker.list_containers(side.runner, side.label))
    ps = side.runner.run(
        [docker.DOCKER, "ps", "--filter", f"label={CONTRACT_LABEL}={side.run_id}", "--format", "{{.Ports}}"]
    )
    out["owned_ports"] = sorted(int(p) for p in PORT_RE.findall(ps.stdout))  # lab/steps/preflight.py owned_ports
    out["read_bound"] = docker_objects.read_file(side.runner, name, "/srv/bind/token")
    out["read_missing"] = docker_objects.read_file(side.runner, name, "/srv/bind/absent")
    docker.exec_in(side.runner, name, ["cp", "/dev/stdin", "/tmp/written"], input="from stdin\n")
    out["read_written"] = docker_objects.read_file(side.runner, name, "/tmp/written")
    docker.network_connect(side.runner, other, name)
    out["networks"] = _state(side, name)["networks"]
    out["connect_again"] = failed(lambda: docker.network_connect(side.runner, other, name))
    out["name_clash"] = failed(lambda: docker.run_container(side.runner, name=name, image=image, labels=side.label))
    clash = side.note("container", side.name("clash"))
    out["port_clash"] = failed(
        lambda: docker.run_container(
            side.runner, name=clash, image=image, labels=side.label, ports=[("127.0.0.1", first, 80)], command=SLEEPER
        )
    )
    out["clash_state"] = _state(side, clash)  # created, never started
    docker_objects.stop_container(side.runner, name, timeout=1)
    out["stopped"] = _state(side, name)["running"]
    out["read_stopped"] = docker_objects.read_file(side.runner, name, "/srv/bind/token")
    out["logs"] = docker_objects.logs_tail(side.runner, name)
    out["logs_missing"] = docker_objects.logs_tail(side.runner, side.name("nobody"))
    out["listed_stopped"] = sorted(docker.list_containers(side.runner, side.label))
    docker.start_container(side.runner, name)
    out["started"] = _state(side, name)["running"]
    out["removed"] = [docker.remove_container(side.runner, n) for n in (name, clash, name)]
    out["after"] = _state(side, name)
    out["listed_after"] = docker.list_containers(side.runner, side.label)
    return out


# Images -----------------------------------------------------------------------------------------------------
@case(
    "build",
    "image inspect --format {{.Id}}",
    "image inspect",
    "image ls --format {{.ID}}",
    "tag",
    "image rm",
    "run -d",
    "rm -f",
    "system df --format {{json .}}",
    "run --rm",
)
def case_images(side: Side) -> dict[str, Any]:
    """Build, tag, list by label, inspect, remove (and be refused while a container uses it)."""
    out: dict[str, Any] = {}
    one, two = side.name("built") + ":1", side.name("built") + ":2"
    built = _build(side, "built", [one, two], {"gitops-lab.kind": "service"})
    out["built"] = built
    out["ids"] = [docker.image_id(side.runner, ref) for ref in (one, two, built, side.name("absent") + ":1")]
    out["exists"] = [docker.image_exists(side.runner, ref) for ref in (one, side.name("absent") + ":1")]
    data = docker_objects.image_inspect(side.runner, one)
    out["labels"] = {k: v for k, v in docker_objects.image_labels(data).items() if k.startswith("gitops-lab.")}
    out["repo_tags"] = sorted((data or {}).get("RepoTags") or [])
    out["inspect_missing"] = docker_objects.image_inspect(side.runner, side.name("absent") + ":1")
    alias = side.note("image", side.name("alias") + ":latest")
    docker.tag(side.runner, side.base_image, alias)
    out["alias_is_base"] = docker.image_id(side.runner, alias) == docker.image_id(side.runner, side.base_image)
    out["alias_untagged_name"] = docker.image_id(side.runner, side.name("alias")) != ""  # name alone = :latest
    listed = docker_objects.list_images(side.runner, side.label)
    out["listed"] = [(i.id, sorted(i.tags), i.labels.get("gitops-lab.kind")) for i in listed]
    user = side.note("container", side.name("user"))
    docker.run_container(side.runner, name=user, image=one, labels=side.label, command=SLEEPER)
    out["rm_in_use"] = docker_objects.remove_image(side.runner, [built]) is not None
    out["rm_tag"] = docker_objects.remove_image(side.runner, [two])
    out["after_rm_tag"] = [docker.image_id(side.runner, ref) for ref in (one, two)]
    docker.remove_container(side.runner, user)
    out["rm_last"] = docker_objects.remove_image(side.runner, [one])
    out["after_rm_last"] = docker.image_exists(side.runner, built)
    out["rm_missing"] = docker_objects.remove_image(side.runner, [one]) is not None
    out["rm_alias"] = docker_objects.remove_image(side.runner, [alias])
    out["base_kept"] = docker.image_exists(side.runner, side.base_image)
    out["size_known"] = isinstance(docker_objects.images_size(side.runner), int)
    target = pip.image_python(side.runner, side.base_image)
    out["python"] = None if target is None else (target.abi[:3], bool(target.platforms))
    return out


@case("build", "save", "image save", "load", "image rm", "image inspect --format {{.Id}}")
def case_archives(side: Side) -> dict[str, Any]:
    """`docker save`, `docker image save [--platform]` and `docker load`, and what the lab reads from the archive."""
    out: dict[str, Any] = {}
    ref = side.name("arch") + ":1"
    built = _build(side, "arch", [ref], {})
    whole, one = side.tmp / "whole.tar", side.tmp / "one.tar"
    docker.save(side.runner, [ref], whole)
    docker.save_image(side.runner, [ref], one, platform="linux/" + (docker.host_arch() or "amd64"))
    for label, path in (("whole", whole), ("one", one)):
        out[label] = {
            "ids": image_cache.archive_image_ids(path),
            "configs": image_cache.archive_config_digests(path),
        }
    out["built"] = built
    docker_objects.remove_image(side.runner, [ref])
    out["gone"] = docker.image_id(side.runner, ref)
    loaded = docker.load_archive(side.runner, whole)
    out["loaded"] = (loaded.refs, loaded.ids)
    out["back"] = docker.image_id(side.runner, ref)
    return out


@case("volume create", "volume inspect", "volume ls --format {{.Name}}", "volume rm", "run -d", "rm -f", "build")
def case_volumes(side: Side) -> dict[str, Any]:
    out: dict[str, Any] = {}
    a, b = side.note("volume", side.name("va")), side.note("volume", side.name("vb"))
    docker_objects.create_volume(side.runner, a, {**side.label, "gitops-lab.component": "a"})
    docker_objects.create_volume(side.runner, b, side.label)
    out["exists"] = [docker_objects.volume_exists(side.runner, n) for n in (a, side.name("vnone"))]
    out["listed"] = sorted(docker_objects.list_volumes(side.runner, side.label))
    out["listed_a"] = docker_objects.list_volumes(side.runner, {**side.label, "gitops-lab.component": "a"})
    image = side.name("vimg") + ":1"
    _build(side, "vimg", [image], {})
    user = side.note("container", side.name("vuser"))
    docker.run_container(
        side.runner, name=user, image=image, labels=side.label, volumes=[(a, "/data")], command=SLEEPER
    )
    out["rm_in_use"] = docker_objects.remove_volume(side.runner, a)
    docker.remove_container(side.runner, user)
    out["rm"] = [docker_objects.remove_volume(side.runner, n) for n in (a, b, a)]
    out["after"] = docker_objects.list_volumes(side.runner, side.label)
    return out


@case("build", "tag", "push", "pull", "image rm", "image inspect --format {{.Id}}", needs_registry=True)
def case_registry(side: Side) -> dict[str, Any]:
    """Push to a registry on 127.0.0.1 and pull it back (the only pull the suite makes: from that registry)."""
    assert side.registry is not None
    out: dict[str, Any] = {}
    local = side.name("push") + ":1"
    built = _build(side, "push", [local], {})
    remote = side.note("image", f"{side.registry}/{side.prefix}/app:1")
    docker.tag(side.runner, local, remote)
    digest = docker.push(side.runner, remote)
    out["digest_form"] = digest.startswith("sha256:") and len(digest) == 71
    docker_objects.remove_image(side.runner, [remote])
    out["gone"] = docker.image_id(side.runner, remote)
    docker.pull(side.runner, remote)
    out["pulled_is_built"] = docker.image_id(side.runner, remote) == built
    absent = f"{side.registry}/{side.prefix}/absent:1"
    out["push_missing"] = failed(lambda: docker.push(side.runner, absent))
    return out
