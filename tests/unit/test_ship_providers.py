"""ship on minikube: the pushed image is loaded into the node, since minikube cannot pull the host's localhost:5001."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fakes import FakeRunner

from lab.config import ROOT, load_settings
from lab.context import Context
from lab.steps import ship
from lab.ui import UI


def _app_repo(path: Path) -> Path:
    """A committed copy of overlays/ (a dry run reads the app repo for real, so it must be a clean repo)."""
    shutil.copytree(ROOT / "overlays", path / "overlays")
    identity = ["-c", "user.name=T", "-c", "user.email=t@x"]
    for argv in (["init", "--quiet", "-b", "main"], ["add", "-A"], [*identity, "commit", "--quiet", "-m", "app"]):
        subprocess.run(["git", "-C", str(path), *argv], check=True, capture_output=True)
    return path


def _ship(tmp_path: Path, provider: str) -> FakeRunner:
    remote = tmp_path / "gitops.git"  # a dry run reads the GitOps repo too (a scratch copy): an empty one
    subprocess.run(["git", "init", "--quiet", "--bare", "-b", "main", str(remote)], check=True, capture_output=True)
    settings = load_settings(
        {"state_dir": tmp_path / "state", "provider": provider, "gitops_remote": str(remote)},
        config_file=tmp_path / "none.toml",
        environ={},
    )
    runner = FakeRunner(dry_run=True)
    ctx = Context(settings, runner, UI(quiet=True))
    ship.ship(ctx, app_root=_app_repo(tmp_path / "app-repo"), gate=(), no_wait=True)
    return runner


def test_minikube_loads_the_pushed_image_before_the_bump(tmp_path: Path) -> None:
    runner = _ship(tmp_path, "minikube")
    load = runner.assert_called("minikube", "image", "load")
    assert any(a.startswith("localhost:5001/lab-app:") for a in load.argv), runner.dump()
    assert runner.index("docker", "push") < runner.index("minikube", "image", "load"), runner.dump()


def test_kind_pulls_through_the_registry_mapping(tmp_path: Path) -> None:
    runner = _ship(tmp_path, "kind")
    runner.assert_called("docker", "push")
    runner.assert_not_called("minikube")
