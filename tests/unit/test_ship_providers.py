"""ship on minikube: the pushed image is loaded into the node, since minikube cannot pull the host's localhost:5001."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fakes import FakeRunner

from lab.components import node_ports
from lab.core.config import ROOT, Settings, load_settings
from lab.core.context import Context
from lab.core.ui import UI
from lab.providers import KindProvider, default_registry_links
from lab.steps import ship
from lab.tools.kubectl import kubectl_binary


def _app_repo(path: Path) -> Path:
    """A committed copy of overlays/ (a dry run reads the app repo for real, so it must be a clean repo)."""
    shutil.copytree(ROOT / "overlays", path / "overlays")
    identity = ["-c", "user.name=T", "-c", "user.email=t@x"]
    for argv in (["init", "--quiet", "-b", "main"], ["add", "-A"], [*identity, "commit", "--quiet", "-m", "app"]):
        subprocess.run(["git", "-C", str(path), *argv], check=True, capture_output=True)
    return path


def _settings(tmp_path: Path, provider: str) -> Settings:
    remote = tmp_path / "gitops.git"  # a dry run reads the GitOps repo too (a scratch copy): an empty one
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True, capture_output=True)
    return load_settings(
        {"state_dir": tmp_path / "state", "provider": provider, "gitops_remote": str(remote)},
        config_file=tmp_path / "none.toml",
        environ={},
    )


def _ship(tmp_path: Path, provider: str) -> tuple[FakeRunner, ship.ShipResult]:
    runner = FakeRunner(dry_run=True)
    ctx = Context(_settings(tmp_path, provider), runner, UI(quiet=True))
    result = ship.ship(ctx, app_root=_app_repo(tmp_path / "app-repo"), gate=(), no_wait=True)
    return runner, result


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_minikube_loads_the_pushed_image_before_the_bump(tmp_path: Path) -> None:
    runner, _ = _ship(tmp_path, "minikube")
    load = runner.assert_called("minikube", "image", "load")
    assert any(a.startswith("localhost:5001/lab-app:") for a in load.argv), runner.dump()
    assert runner.index("docker", "push") < runner.index("minikube", "image", "load"), runner.dump()


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_kind_pulls_through_the_registry_mapping(tmp_path: Path) -> None:
    runner, result = _ship(tmp_path, "kind")
    pushed = runner.assert_called("docker", "push").argv[-1]
    assert pushed == result.image and pushed.startswith("localhost:5001/lab-app:"), runner.dump()
    # dev's pods are given the very name the host pushed ...
    assert result.deployed_image == pushed
    # ... and nothing is side-loaded into a node: no `kind load`, no minikube
    assert not [c for c in runner.calls if "load" in c.argv[1:3] or c.argv[0] == "minikube"], runner.dump()

    # The mapping that makes that name pullable: on every kind node, containerd sends localhost:5001 to the lab's
    # registry container on the kind network (kind site/static/examples/kind-with-registry.sh).
    settings = _settings(tmp_path, "kind")
    provider = KindProvider(settings, node_ports=node_ports(settings))
    wiring = FakeRunner()
    wiring.script([provider.binary, "get", "nodes"], stdout="gitops-lab-control-plane\n")
    wiring.script(["docker", "exec", "gitops-lab-control-plane", "mkdir", "-p"])
    wiring.script(["docker", "exec", "-i", "gitops-lab-control-plane", "cp", "/dev/stdin"])
    wiring.script(["docker", "container", "inspect"], "[]\n", returncode=1, stderr="Error: No such container: x")
    wiring.script([kubectl_binary(), "--context", "kind-gitops-lab", "apply", "-f", "-"])
    provider.wire_registry(Context(settings, wiring, UI(quiet=True)), default_registry_links(settings))
    hosts = [c for c in wiring.calls if c.argv[-1] == "/etc/containerd/certs.d/localhost:5001/hosts.toml"]
    assert [(c.argv[:4], c.input) for c in hosts] == [
        (("docker", "exec", "-i", "gitops-lab-control-plane"), '[host."http://lab-registry:5000"]\n')
    ], wiring.dump()
