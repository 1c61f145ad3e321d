"""`invoke down --purge` against the real Docker daemon, with kind not on PATH (issue 9 items 6 and 26).

The daemon is shared, so the lab must see only what this test made: `OwnedOnly` adds this test's label to every
listing the lab makes (`docker ps`, `docker volume ls`, `docker image ls`) and fails the test, before running it,
on any removal of something this test did not create. The lab's code runs unchanged behind it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from servicekit import RUN_ID, TEST_LABEL, cleanup, docker

from lab.components.cluster import ClusterNotRemoved
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.runner import Result, SubprocessRunner
from lab.core.ui import UI
from lab.providers import CREATED, Ownership, marker_path, write_ownership
from lab.steps import lab

pytestmark = pytest.mark.docker

CLUSTER = f"itest-down-{RUN_ID}"
OWN = f"{TEST_LABEL}=down-{RUN_ID}"  # on everything this test creates, and on nothing else
NODE = f"{CLUSTER}-control-plane"
LISTINGS = (("ps",), ("volume", "ls"), ("image", "ls"))


@dataclass
class OwnedOnly:
    """The real runner, limited to this test's objects on the shared daemon (see the module docstring)."""

    owned: set[str] = field(default_factory=set)  # container and volume names, image refs and IDs this test made
    dry_run: bool = False
    inner: SubprocessRunner = field(default_factory=SubprocessRunner)

    def run(self, argv: Sequence[str], **kw: object) -> Result:
        args = [str(a) for a in argv]
        if Path(args[0]).name == "docker":
            cmd = tuple(args[1:])
            if any(cmd[: len(p)] == p for p in LISTINGS):
                args += ["--filter", f"label={OWN}"]
            targets: list[str] = []
            if cmd[:2] == ("rm", "-f"):
                targets = [a for a in cmd[2:] if not a.startswith("-")]
            elif cmd[:2] in (("image", "rm"), ("volume", "rm")):
                targets = list(cmd[2:])
            foreign = [t for t in targets if t not in self.owned]
            assert not foreign, f"the lab tried to remove what this test did not create: {foreign} ({args})"
        return self.inner.run(args, **kw)  # type: ignore[arg-type]


def build_image(tmp: Path, tag: str, base_image: str, labels: Mapping[str, str], megabytes: int) -> str:
    """An image FROM the base with a layer of MEGABYTES random bytes of its own; returns its ID."""
    context = tmp / tag.replace("/", "_").replace(":", "_")
    context.mkdir()
    (context / "Dockerfile").write_text(
        f"FROM {base_image}\nRUN head -c {megabytes * 1_000_000} /dev/urandom > /blob-{RUN_ID}\n"
    )
    argv = ["build", "--quiet", "-t", tag, "--label", OWN]
    for key, value in labels.items():
        argv += ["--label", f"{key}={value}"]
    return docker(*argv, str(context), timeout=600).stdout.strip()


@pytest.fixture
def no_kind_on_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """PATH holds docker and git only: `kind` cannot be found, as on a machine without it."""
    bin_dir = tmp_path / "path"
    bin_dir.mkdir()
    for tool in ("docker", "git"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed on PATH"
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))


@pytest.fixture
def lab_objects(base_image: str, tmp_path: Path) -> Iterator[OwnedOnly]:
    """What an `up` and a `ship` leave, made by hand under this test's label: a kind node, two service containers,
    a volume, a service image and an app image of this cluster, and an app image of another cluster."""
    runner = OwnedOnly()
    lab_labels = {"gitops-lab.managed": "true", "gitops-lab.cluster": CLUSTER}
    try:
        docker("run", "-d", "--name", NODE, "--label", OWN, "--label", f"io.x-k8s.kind.cluster={CLUSTER}",
               base_image, "sleep", "infinity")  # fmt: skip
        for component in ("registry", "git"):
            name = f"gitops-lab-test-down-{component}-{RUN_ID}"
            labels = [f"--label={k}={v}" for k, v in {**lab_labels, "gitops-lab.component": component}.items()]
            docker("run", "-d", "--name", name, "--label", OWN, *labels, base_image, "sleep", "infinity")
            runner.owned.add(name)
        volume = f"gitops-lab-test-down-data-{RUN_ID}"
        docker("volume", "create", "--label", OWN, *[f"--label={k}={v}" for k, v in lab_labels.items()], "--label",
               "gitops-lab.component=registry", volume)  # fmt: skip
        runner.owned.update({NODE, volume})
        service = f"gitops-lab-test/down-service:{RUN_ID}"
        app = f"gitops-lab-test/down-app:{RUN_ID}"
        other = f"gitops-lab-test/down-app-other:{RUN_ID}"
        rebuilt = f"gitops-lab-test/down-app:{RUN_ID}-rebuilt"
        ids = [
            build_image(
                tmp_path, service, base_image, {"gitops-lab.managed": "true", "gitops-lab.component": "git"}, 3
            ),
            build_image(tmp_path, app, base_image, {**lab_labels, "gitops-lab.component": "app"}, 2),
        ]
        # A second build of the same app commit: another image, sharing every layer of the first (a unique size of 0
        # for both, although removing the two frees their 2 MB layer).
        ids.append(
            docker("build", "--quiet", "-t", rebuilt, "--label", OWN, "--label", "rebuild=1",
                   *[f"--label={k}={v}" for k, v in {**lab_labels, "gitops-lab.component": "app"}.items()],
                   str(tmp_path / app.replace("/", "_").replace(":", "_")), timeout=600).stdout.strip()
        )  # fmt: skip
        build_image(tmp_path, other, base_image, {"gitops-lab.managed": "true", "gitops-lab.cluster": "other"}, 1)
        runner.owned.update([service, app, rebuilt, *ids])
        yield runner
    finally:
        cleanup(OWN)


def images_of_this_run() -> set[str]:
    out = docker("image", "ls", "--filter", f"label={OWN}", "--format", "{{.Repository}}:{{.Tag}}").stdout
    return set(out.split())


def test_down_purge_without_kind_removes_all_but_the_cluster_then_its_hint_finishes(
    lab_objects: OwnedOnly, no_kind_on_path: None, base_image: str, tmp_path: Path
) -> None:
    runner = lab_objects
    state = tmp_path / ".lab"
    settings = Settings(state_dir=state, cluster_name=CLUSTER, base_image=base_image)
    node_id = docker("container", "inspect", "--format", "{{.Id}}", NODE).stdout.strip()
    write_ownership(settings, Ownership(CLUSTER, "kind", CREATED, "2026-01-01T00:00:00+00:00", node_id=node_id))
    (state / "git" / "gitops.git").mkdir(parents=True)
    ctx = Context(settings, runner, UI(quiet=True))

    with pytest.raises(ClusterNotRemoved) as info:
        lab.down(ctx, purge=True)
    err = info.value
    assert err.exit_code == 3 and err.message.startswith(f'kind cluster "{CLUSTER}" not removed'), err.render()
    listed = docker("ps", "-a", "--filter", f"label={OWN}", "--format", "{{.Names}}").stdout.split()
    assert listed == [NODE], "the service containers are gone, the node stays"
    assert docker("volume", "ls", "-q", "--filter", f"label={OWN}").stdout.split() == []
    left = images_of_this_run()
    assert left == {f"gitops-lab-test/down-app-other:{RUN_ID}"}, "the lab's images of this cluster are gone"
    assert docker("image", "inspect", base_image, check=False).returncode == 0, "the base image stays"
    [phase] = [p for p in ctx.ui.phases if p.title == "Removing the images the lab built"]
    freed = re.fullmatch(r"3 removed, ([0-9.]+) MB freed", phase.note)
    assert freed and 4.9 <= float(freed.group(1)) < 5.5, phase.note  # 3 MB + the 2 MB the two app builds share
    assert sorted(str(p.relative_to(state)) for p in state.rglob("*")) == ["clusters", f"clusters/{CLUSTER}.json"]
    assert marker_path(settings).is_file()

    command = re.search(r"`(docker rm [^`]+)`", err.hint or "")
    assert command is not None, err.hint
    subprocess.run(shlex.split(command.group(1)), check=True, capture_output=True, timeout=120, env=os.environ)
    assert docker("container", "inspect", NODE, check=False).returncode != 0

    ctx = Context(settings, runner, UI(quiet=True))
    lab.down(ctx, purge=True)  # no cluster any more: finishes
    assert not state.exists()
