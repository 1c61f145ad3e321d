"""The service-container steps (registry, ECR emulator, git server) against a scripted Docker (no daemon).

The shared strict Docker fake (tests/fakes/docker.py) answers the docker CLI the way the daemon would and keeps the
resulting state, so a second `ensure_*` sees what the first made.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeRunner
from fakes.docker import DockerFake
from fakeworld import FakeECR

from lab.components import ecr_emulator, services
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.errors import ConfigError, Conflict, NotReady, RegistryError
from lab.core.runner import DryRunRunner, Result
from lab.core.ui import UI
from lab.tools.docker import labels_for
from lab.tools.probes import HttpAnswer

CLUSTER = "gitops-lab"
TOKEN = "ls-secret-token-value"


def add_foreign(world: DockerFake, name: str, labels: dict[str, str] | None = None, running: bool = True) -> None:
    """A container something other than the lab made, publishing port 5001."""
    world.add_container(name, "registry:2", labels, ["0.0.0.0:5001:5000"], running=running)


@dataclass
class Net:
    """What the host network looks like: busy ports, and which URLs answer (default: all, HTTP 200)."""

    busy: set[int] = field(default_factory=set)
    down: set[str] = field(default_factory=set)
    answers: dict[str, HttpAnswer] = field(default_factory=dict)
    requested: list[str] = field(default_factory=list)
    now: float = 0.0

    def http_get(self, url: str) -> HttpAnswer | None:
        self.requested.append(url)
        if any(url.startswith(d) for d in self.down):
            return None
        return self.answers.get(url, HttpAnswer(200, '{"completed": true}'))

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def world() -> DockerFake:
    return DockerFake()


@pytest.fixture
def net() -> Net:
    return Net()


@pytest.fixture
def ecr_fake() -> FakeECR:
    return FakeECR()


def make_ctx(tmp_path: Path, world: DockerFake, **overrides: Any) -> tuple[Context, FakeRunner]:
    runner = FakeRunner()
    runner.responders.append(world)
    runner.script(["git", "init", "--bare", "--quiet"])  # the git server's repository (quiet: no output)
    bare = str(tmp_path / ".lab" / "git" / "gitops.git")
    runner.script(["git", "-C", bare, "config"])  # `git config KEY VALUE` prints nothing
    settings = Settings(state_dir=tmp_path / ".lab", base_image="lab-base:bookworm", **overrides)
    return Context(settings, runner, UI(err=io.StringIO(), out=io.StringIO())), runner


def probes_for(net: Net, ecr_fake: FakeECR) -> services.Probes:
    return services.Probes(
        port_free=lambda port: port not in net.busy,
        http_get=net.http_get,
        sleep=net.sleep,
        clock=lambda: net.now,
        ecr_client=lambda _settings: ecr_fake,
    )


def runs(runner: FakeRunner) -> list[tuple[str, ...]]:
    return [c.argv for c in runner.find("docker", "run")]


def run_of(runner: FakeRunner, name: str) -> tuple[str, ...]:
    found = [argv for argv in runs(runner) if argv[argv.index("--name") + 1] == name]
    assert len(found) == 1, f"expected one docker run of {name}\n{runner.dump()}"
    return found[0]


# Fresh machine, then a second run --------------------------------------------------------------------------
def test_fresh_machine_builds_images_and_starts_all_three(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world)
    endpoints = services.ensure_services(ctx, probe=probes_for(net, ecr_fake))

    builds = runner.find("docker", "build")
    assert {c.argv[c.argv.index("-t") + 1] for c in builds} == {
        versions.REGISTRY_IMAGE,
        versions.GITSERVER_IMAGE,
        versions.NOTIFY_IMAGE,
        versions.MINISTACK_IMAGE,
    }, runner.dump()
    for c in builds:
        assert "BASE_IMAGE=lab-base:bookworm" in c.argv, runner.dump()
        assert "gitops-lab.managed=true" in c.argv
    # Every build happens before the first container starts.
    assert max(runner.calls.index(c) for c in builds) < runner.index("docker", "run"), runner.dump()

    registry = run_of(runner, "lab-registry")
    assert "127.0.0.1:5001:5000" in registry
    assert "lab-registry-data:/var/lib/docker-registry" in registry
    for key, value in labels_for("registry", CLUSTER).items():
        assert f"{key}={value}" in registry
    assert world.volumes["lab-registry-data"]["gitops-lab.cluster"] == CLUSTER

    emulator = run_of(runner, "lab-ecr")
    assert emulator[-1] == versions.MINISTACK_IMAGE
    assert "127.0.0.1:4566:4566" in emulator
    assert f"{services.ECR_HOOK}:{services.ECR_HOOK_TARGET}:ro" in emulator
    assert "LAB_ECR_REPOSITORIES=lab-app" in emulator
    repo = ecr_fake.repositories["lab-app"]
    assert repo["imageTagMutability"] == "IMMUTABLE"
    assert repo["imageScanningConfiguration"] == {"scanOnPush": True}
    rule = json.loads(ecr_fake.policies["lab-app"])["rules"][0]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 30}
    assert rule["action"] == {"type": "expire"}

    gitrun = run_of(runner, "lab-git")
    bare = tmp_path / ".lab" / "git" / "gitops.git"
    assert f"{tmp_path / '.lab' / 'git'}:/srv/git" in gitrun
    assert "127.0.0.1:3000:8080" in gitrun
    assert gitrun[gitrun.index("--user") + 1].count(":") == 1
    init = runner.index("git", "init", "--bare", "--quiet", "-b", "main", str(bare))
    runner.assert_called("git", "-C", str(bare), "config", "http.receivepack", "true")
    assert init < runner.calls.index(runner.find("docker", "run")[2]), runner.dump()

    # Only 127.0.0.1, never another interface.
    for argv in runs(runner):
        assert all(argv[i + 1].startswith("127.0.0.1:") for i, a in enumerate(argv) if a == "-p"), argv
    # Each service was polled until ready.
    assert "http://127.0.0.1:5001/v2/" in net.requested
    assert "http://127.0.0.1:4566/_ministack/ready" in net.requested
    assert "http://127.0.0.1:3000/gitops.git/info/refs?service=git-upload-pack" in net.requested
    assert endpoints == services.Endpoints(
        "localhost:5001", "http://127.0.0.1:4566", "http://127.0.0.1:3000/gitops.git", "http://lab-git:8080/gitops.git"
    )


def test_second_run_reuses_everything(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world)
    probe = probes_for(net, ecr_fake)
    services.ensure_services(ctx, probe=probe)
    first = len(runner.calls)

    services.ensure_services(ctx, probe=probe)
    again = runner.calls[first:]
    assert not [c for c in again if c.argv[:2] in (("docker", "run"), ("docker", "build"), ("docker", "rm"))], (
        runner.dump()
    )
    notes = [p.note for p in ctx.ui.phases if p.title.startswith("Ensuring") and "repository" not in p.title]
    assert notes[-3:] == ["reused", "reused", "reused"], notes
    repo_phases = [p.note for p in ctx.ui.phases if "ECR repository" in p.title]
    assert repo_phases == ["created", "exists"]  # found and kept the second time


def test_git_server_serving_a_removed_state_dir_is_recreated_on_the_new_one(tmp_path, world, net, ecr_fake):
    """`rm -rf .lab` while the git server runs: its bind mount keeps the deleted directory (same Source path in
    `docker inspect`). The next ensure must notice and recreate it on the directory there now."""
    import shutil

    ctx, runner = make_ctx(tmp_path, world)
    probe = probes_for(net, ecr_fake)
    services.build_service_images(ctx)
    services.ensure_git_server(ctx, probe=probe)
    assert services.ensure_git_server(ctx, probe=probe) and ctx.ui.phases[-1].note == "reused"

    shutil.rmtree(tmp_path / ".lab")
    mark = len(runner.calls)
    services.ensure_git_server(ctx, probe=probe)
    assert ctx.ui.phases[-1].note == "recreated", runner.dump()
    assert [c.argv for c in runner.calls[mark:] if c.argv[:2] == ("docker", "rm")] == [
        ("docker", "rm", "-f", services.GIT_CONTAINER)
    ]
    assert "no longer" in ctx.ui.err.getvalue() + ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    git = world.containers[services.GIT_CONTAINER]
    assert git.binds and all(b.current() for b in git.binds), "the new container mounts the directory there now"
    # and the recreated one is reused afterwards
    services.ensure_git_server(ctx, probe=probe)
    assert ctx.ui.phases[-1].note == "reused", runner.dump()


def test_stopped_container_is_started_not_recreated(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world)
    probe = probes_for(net, ecr_fake)
    services.build_service_images(ctx)
    services.ensure_registry(ctx, probe=probe)
    world.containers["lab-registry"].running = False
    mark = len(runner.calls)

    assert services.ensure_registry(ctx, probe=probe) == "localhost:5001"
    runner.assert_called("docker", "start", "lab-registry")
    assert not [c for c in runner.calls[mark:] if c.argv[:2] in (("docker", "run"), ("docker", "rm"))], runner.dump()
    assert world.containers["lab-registry"].running
    assert ctx.ui.phases[-1].note == "started"


def test_changed_port_recreates_the_container_and_says_why(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world)
    probe = probes_for(net, ecr_fake)
    services.build_service_images(ctx)
    services.ensure_registry(ctx, probe=probe)

    moved = Context(Settings(state_dir=ctx.settings.state_dir, registry_port=5055), runner, ctx.ui)
    mark = len(runner.calls)
    services.ensure_registry(moved, probe=probe)
    # this ensure_registry removed the old container, then ran the new one
    assert runner.index("docker", "rm", "-f", "lab-registry", start=mark) < runner.index("docker", "run", start=mark)
    assert "127.0.0.1:5055:5000" in run_of_last(runner, "lab-registry")
    assert moved.ui.phases[-1].note == "recreated"
    assert "5055" in moved.ui.err.getvalue()  # type: ignore[attr-defined]


def run_of_last(runner: FakeRunner, name: str) -> tuple[str, ...]:
    return [argv for argv in runs(runner) if argv[argv.index("--name") + 1] == name][-1]


def test_rebuilt_image_recreates_the_container(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world)
    probe = probes_for(net, ecr_fake)
    services.build_service_images(ctx)
    services.ensure_registry(ctx, probe=probe)
    world.images[versions.REGISTRY_IMAGE]["Id"] = "sha256:" + "9" * 64  # e.g. `invoke cache --rebuild`

    services.ensure_registry(ctx, probe=probe)
    runner.assert_called("docker", "rm", "-f", "lab-registry")
    assert world.containers["lab-registry"].image_id == "sha256:" + "9" * 64


# Conflicts --------------------------------------------------------------------------------------------------
def test_foreign_container_is_a_conflict_and_left_alone(tmp_path, world, net, ecr_fake):
    add_foreign(world, "lab-registry")
    ctx, runner = make_ctx(tmp_path, world)
    with pytest.raises(Conflict) as err:
        services.ensure_registry(ctx, probe=probes_for(net, ecr_fake))
    assert "lab-registry" in err.value.message and "something other than the lab" in err.value.message
    assert "--force" in (err.value.hint or "")
    runner.assert_not_called("docker", "rm")
    runner.assert_not_called("docker", "run")


def test_force_replaces_a_foreign_container(tmp_path, world, net, ecr_fake):
    add_foreign(world, "lab-registry")
    ctx, runner = make_ctx(tmp_path, world)
    services.build_service_images(ctx)  # the image `docker run` starts (the fake does not pull)
    services.ensure_registry(ctx, force=True, probe=probes_for(net, ecr_fake))
    assert runner.index("docker", "rm", "-f", "lab-registry") < runner.index("docker", "run")
    assert world.containers["lab-registry"].labels["gitops-lab.managed"] == "true"
    assert ctx.ui.phases[-1].note == "replaced"


def test_container_of_another_lab_cluster_is_a_conflict(tmp_path, world, net, ecr_fake):
    add_foreign(world, "lab-git", labels_for("git", "other-lab"))
    ctx, runner = make_ctx(tmp_path, world)
    with pytest.raises(Conflict) as err:
        services.ensure_git_server(ctx, probe=probes_for(net, ecr_fake))
    assert "other-lab" in err.value.message
    assert "LAB_CLUSTER_NAME=other-lab" in (err.value.hint or "")
    runner.assert_not_called("docker", "rm")


def test_busy_port_is_a_conflict_naming_port_and_setting(tmp_path, world, net, ecr_fake):
    net.busy.add(3000)
    ctx, runner = make_ctx(tmp_path, world)
    with pytest.raises(Conflict) as err:
        services.ensure_git_server(ctx, probe=probes_for(net, ecr_fake))
    assert "3000" in err.value.message
    assert "LAB_GIT_PORT" in (err.value.hint or "")
    runner.assert_not_called("docker", "run")


def test_busy_port_also_blocks_restarting_a_stopped_container(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world)
    probe = probes_for(net, ecr_fake)
    services.build_service_images(ctx)
    services.ensure_registry(ctx, probe=probe)
    world.containers["lab-registry"].running = False
    net.busy.add(5001)
    with pytest.raises(Conflict, match="5001"):
        services.ensure_registry(ctx, probe=probe)
    runner.assert_not_called("docker", "start")


# External registry / remote ---------------------------------------------------------------------------------
def test_lab_registry_set_starts_no_registry_and_checks_v2(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world, registry="registry.example:5000")
    assert services.ensure_registry(ctx, probe=probes_for(net, ecr_fake)) == "registry.example:5000"
    assert net.requested == ["http://registry.example:5000/v2/"]
    assert not runs(runner), runner.dump()
    assert "over HTTP" in ctx.ui.phases[-1].note


def test_lab_registry_that_does_not_answer_is_a_registry_error(tmp_path, world, net, ecr_fake):
    net.down.add("http://registry.example:5000")
    ctx, runner = make_ctx(tmp_path, world, registry="registry.example:5000")
    with pytest.raises(RegistryError, match=r"registry\.example:5000"):
        services.ensure_registry(ctx, probe=probes_for(net, ecr_fake))
    assert not runs(runner)


def test_lab_registry_asking_for_login_counts_as_answering(tmp_path, world, net, ecr_fake):
    net.answers["http://registry.example:5000/v2/"] = HttpAnswer(401, "")
    ctx, _ = make_ctx(tmp_path, world, registry="registry.example:5000")
    services.ensure_registry(ctx, probe=probes_for(net, ecr_fake))


def test_gitops_remote_set_starts_no_git_server(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world, gitops_remote="https://git.example/lab/gitops.git")
    assert services.ensure_git_server(ctx, probe=probes_for(net, ecr_fake)) == "https://git.example/lab/gitops.git"
    runner.assert_not_called("git", "init")
    assert not runs(runner)
    assert services.in_cluster_gitops_url(ctx.settings) == "https://git.example/lab/gitops.git"


# LocalStack -------------------------------------------------------------------------------------------------
def test_localstack_without_token_is_a_config_error(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world, aws_emulator="localstack")
    with pytest.raises(ConfigError) as err:
        services.ensure_ecr_emulator(ctx, probe=probes_for(net, ecr_fake), environ={})
    assert "free tier" in err.value.message and "2026-03-23" in err.value.message
    assert "ministack" in (err.value.hint or "").lower()
    assert not runs(runner)


def test_localstack_with_token_passes_it_by_name_only(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world, aws_emulator="localstack")
    done = services.build_service_images(ctx)
    assert done[versions.LOCALSTACK_IMAGE] == "pulled"
    assert versions.MINISTACK_IMAGE not in done
    services.ensure_ecr_emulator(ctx, probe=probes_for(net, ecr_fake), environ={"LOCALSTACK_AUTH_TOKEN": TOKEN})
    argv = run_of(runner, "lab-ecr")
    assert argv[-1] == versions.LOCALSTACK_IMAGE
    assert argv[argv.index("LOCALSTACK_AUTH_TOKEN") - 1] == "-e"
    assert not [c for c in runner.calls if any(TOKEN in a for a in c.argv)], runner.dump()
    assert "http://127.0.0.1:4566/_localstack/init/ready" in net.requested
    assert "lab-app" in ecr_fake.repositories


def test_localstack_waits_for_init_hooks_to_complete(tmp_path, world, net, ecr_fake):
    url = "http://127.0.0.1:4566/_localstack/init/ready"
    net.answers[url] = HttpAnswer(200, '{"completed": false, "scripts": []}')
    ctx, _ = make_ctx(tmp_path, world, aws_emulator="localstack")
    services.build_service_images(ctx)  # the image `docker run` starts (the fake does not pull)
    with pytest.raises(NotReady) as err:
        services.ensure_ecr_emulator(ctx, probe=probes_for(net, ecr_fake), environ={"LOCALSTACK_AUTH_TOKEN": "t"})
    assert '"completed": false' in err.value.last_state
    assert net.now <= ecr_emulator.LOCALSTACK_READY_TIMEOUT + 1.0  # bounded


def test_emulator_that_exits_fails_fast_with_its_logs(tmp_path, world, net, ecr_fake):
    net.down.add("http://127.0.0.1:4566")

    def exited(args: tuple[str, ...], _input: str | None) -> Result | None:
        if args[:2] == ("docker", "run") and "lab-ecr" in args:
            world(args, _input)
            world.containers["lab-ecr"].running = False
            world.containers["lab-ecr"].logs = "License activation failed\n"
            return Result(args, 0, "id", "")
        return None

    ctx, runner = make_ctx(tmp_path, world)
    services.build_service_images(ctx)  # the image `docker run` starts (the fake does not pull)
    runner.responders.insert(0, exited)
    with pytest.raises(NotReady) as err:
        services.ensure_ecr_emulator(ctx, probe=probes_for(net, ecr_fake))
    assert "exited" in err.value.last_state and "License activation failed" in err.value.last_state
    assert net.now < 5.0  # did not wait for the full timeout
    assert not ecr_fake.repositories


def test_ecr_emulator_skipped_when_an_endpoint_is_given(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world, aws_endpoint_url="http://127.0.0.1:4599")
    assert services.ensure_ecr_emulator(ctx, probe=probes_for(net, ecr_fake)) == "http://127.0.0.1:4599"
    assert not runs(runner)
    assert "lab-app" in ecr_fake.repositories


# Images -----------------------------------------------------------------------------------------------------
def test_images_are_rebuilt_only_when_their_context_changes(tmp_path, world):
    ctx, runner = make_ctx(tmp_path, world)
    assert set(services.build_service_images(ctx).values()) == {"built"}
    assert set(services.build_service_images(ctx).values()) == {"cached"}
    world.images[versions.GITSERVER_IMAGE]["Config"]["Labels"][services.CONTEXT_LABEL] = "older"
    done = services.build_service_images(ctx)
    assert done[versions.GITSERVER_IMAGE] == "built"
    assert done[versions.REGISTRY_IMAGE] == "cached"
    assert world.builds == 5, runner.dump()  # four built, then the git server's again


def test_only_the_images_of_services_the_lab_runs_are_built(tmp_path, world):
    ctx, _ = make_ctx(tmp_path, world, registry="registry.example:5000", gitops_remote="https://git.example/g.git")
    # The receiver always runs (the target's Argo CD posts to it); no registry or git server is built.
    assert list(services.build_service_images(ctx)) == [versions.NOTIFY_IMAGE, versions.MINISTACK_IMAGE]


def test_image_digest_depends_on_base_image(tmp_path):
    a = services.service_images(Settings(base_image="a:1"))[0].digest()
    b = services.service_images(Settings(base_image="b:1"))[0].digest()
    assert a != b


def test_offline_missing_image_is_an_error_and_stale_image_is_used(tmp_path, world):
    ctx, runner = make_ctx(tmp_path, world, offline=True)
    with pytest.raises(ConfigError, match="offline"):
        services.build_service_images(ctx)
    runner.assert_not_called("docker", "build")

    online, _ = make_ctx(tmp_path, world)
    services.build_service_images(online)
    world.images[versions.REGISTRY_IMAGE]["Config"]["Labels"][services.CONTEXT_LABEL] = "older"
    builds = world.builds
    assert services.build_service_images(ctx)[versions.REGISTRY_IMAGE] == "stale"
    assert world.builds == builds


# down -------------------------------------------------------------------------------------------------------
def test_delete_removes_only_this_clusters_labelled_containers(tmp_path, world, net, ecr_fake):
    ctx, runner = make_ctx(tmp_path, world)
    services.ensure_services(ctx, probe=probes_for(net, ecr_fake))
    add_foreign(world, "someone-elses-registry")
    add_foreign(world, "other-lab-git", labels_for("git", "other-lab"))

    removed = services.delete_services(ctx)
    assert sorted(removed) == ["lab-ecr", "lab-git", "lab-registry"]
    assert sorted(world.containers) == ["other-lab-git", "someone-elses-registry"]
    assert "lab-registry-data" in world.volumes  # data kept unless asked
    runner.assert_called("docker", "stop", "--time", "10", "lab-ecr")

    assert services.delete_services(ctx) == []  # twice is fine


def test_delete_with_volumes_removes_labelled_volumes(tmp_path, world, net, ecr_fake):
    ctx, _ = make_ctx(tmp_path, world)
    services.ensure_services(ctx, probe=probes_for(net, ecr_fake))
    world.volumes["foreign"] = {}
    removed = services.delete_services(ctx, volumes=True)
    assert "volume lab-registry-data" in removed and "volume lab-ecr-state" in removed
    assert list(world.volumes) == ["foreign"]


# Dry run -------------------------------------------------------------------------------------------
def test_dry_run_prints_the_plan_for_a_fresh_machine(tmp_path, net, ecr_fake):
    out = io.StringIO()
    runner = DryRunRunner(out=out)
    settings = Settings(state_dir=tmp_path / ".lab", base_image="lab-base:bookworm")
    ctx = Context(settings, runner, UI(err=io.StringIO(), out=io.StringIO()))
    services.ensure_services(ctx, probe=probes_for(net, ecr_fake))
    plan = out.getvalue()
    for expected in ("docker build", "docker run -d --name lab-registry", "--name lab-ecr", "--name lab-git"):
        assert expected in plan, plan
    assert "git init --bare --quiet -b main" in plan
    assert not (tmp_path / ".lab").exists()  # nothing written
    assert not ecr_fake.repositories  # no API call
    assert not net.requested  # no waiting
