"""`ship --no-wait` end to end with real components: a Docker build of the real app/ on the local base image, a
real registry (Debian's docker-registry), a bare GitOps remote, real `kubectl kustomize`. The app repo is a
temporary copy of this project's app/ and overlays/ committed to a git repo of its own, so the real tree is
never touched and the dirty check sees a clean tree.

Each test uses its own fixed clock, so the tag it would produce is known even when the pipeline stops early
(a failing gate must leave that tag absent from Docker and from the registry).
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from conftest import free_port

from lab.config import load_settings
from lab.context import Context
from lab.errors import QualityGateFailed, RegistryError
from lab.gitops import overlay_file, read_image
from lab.runner import SubprocessRunner
from lab.steps import release
from lab.steps.ship import ship
from lab.tools import registry as registry_api
from lab.tools.registry import MANIFEST_TYPES
from lab.ui import UI

pytestmark = pytest.mark.docker

ROOT = Path(__file__).resolve().parents[2]
PASSING_GATE = ((sys.executable, "-m", "compileall", "-q", "app"),)  # a real check of the copied app, fast
FAILING_GATE = ((sys.executable, "-c", "import sys; print('2 failed, 40 passed'); sys.exit(1)"),)


def sh(*argv: str | Path, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([str(a) for a in argv], input=input, capture_output=True, text=True, check=False)
    if check and res.returncode != 0:
        raise AssertionError(f"{argv} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res


def remote_head(remote: Path) -> str | None:
    return sh("git", "-C", remote, "rev-parse", "--verify", "-q", "refs/heads/main", check=False).stdout.strip() or None


def image_present(ref: str) -> bool:
    return sh("docker", "image", "inspect", ref, check=False).returncode == 0


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    if not (ROOT / "app" / "Dockerfile").is_file():
        pytest.fail("app/Dockerfile is missing: the app is built from the real app/ directory")
    path = tmp_path / "app-repo"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    shutil.copytree(ROOT / "app", path / "app", ignore=ignore)
    shutil.copytree(ROOT / "overlays", path / "overlays", ignore=ignore)
    sh("git", "init", "--quiet", "-b", "main", path)
    sh("git", "-C", path, "config", "user.name", "Ship Test")
    sh("git", "-C", path, "config", "user.email", "ship@example.test")
    sh("git", "-C", path, "add", "-A")
    sh("git", "-C", path, "commit", "--quiet", "-m", "app")
    return path


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    sh("git", "init", "--quiet", "--bare", "-b", "main", path)
    return path


def make_ctx(tmp_path: Path, registry: str, remote: Path, base_image: str) -> Context:
    settings = load_settings(
        {
            "registry": registry,
            "base_image": base_image,
            "gitops_remote": str(remote),
            "state_dir": tmp_path / "state",
        },
        environ={},
        config_file=tmp_path / "none.toml",
    )
    return Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))


@pytest.fixture
def cleanup() -> Iterator[list[str]]:
    """Images and containers to remove after the test (by the exact names the test made)."""
    names: list[str] = []
    yield names
    for name in names:
        sh("docker", "rm", "-f", name, check=False)
        sh("docker", "rmi", name, check=False)


def served_digest(registry: str, name: str, tag: str) -> str | None:
    resp = requests.get(
        f"http://{registry}/v2/{name}/manifests/{tag}", headers={"Accept": ", ".join(MANIFEST_TYPES)}, timeout=5
    )
    return resp.headers.get("Docker-Content-Digest") if resp.status_code == 200 else None


def test_ship_no_wait_builds_pushes_and_bumps_dev(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str]
) -> None:
    ctx = make_ctx(tmp_path, registry, remote, base_image)
    now = datetime(2026, 11, 28, 10, 15, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    result = ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, clock=lambda: now)

    tag = f"{app_sha[:7]}-20261128101500"
    ref = f"{registry}/lab-app:{tag}"
    cleanup.append(ref)
    assert (result.tag, result.image, result.app_commit) == (tag, ref, app_sha)

    # The registry serves the pushed tag under the digest ship recorded, and Docker agrees.
    assert result.digest.startswith("sha256:")
    assert served_digest(registry, "lab-app", tag) == result.digest
    repo_digests = json.loads(sh("docker", "image", "inspect", "--format", "{{json .RepoDigests}}", ref).stdout)
    assert f"{registry}/lab-app@{result.digest}" in repo_digests

    # dev's overlay in the GitOps remote points at it (seeded first, then one deploy commit).
    assert sh("git", "-C", remote, "log", "--format=%s", "main").stdout.splitlines() == [
        f"deploy(dev): lab-app {tag}",
        f"seed: overlays from app repo {app_sha[:7]}",
    ]
    dev = read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}").stdout)
    assert dev is not None and (dev.new_name, dev.new_tag, dev.digest) == (f"{registry}/lab-app", tag, "")
    assert result.gitops_commit == remote_head(remote)
    message = sh("git", "-C", remote, "log", "-1", "--format=%B", "main").stdout
    trailers = dict(
        line.split(": ", 1) for line in sh("git", "interpret-trailers", "--parse", input=message).stdout.splitlines()
    )
    assert trailers == {
        "App-Commit": app_sha,
        "Image": ref,
        "Image-Digest": result.digest,
        "Environment": "dev",
        "Deployed-By": "Ship Test <ship@example.test>",
    }
    # promote asks the same registry (real HTTP) before copying the image to staging.
    promoted = release.promote(ctx, "dev", "staging", app_root=app_repo)
    staging = read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('staging')}").stdout)
    assert staging == dev and promoted.digest == result.digest
    assert registry_api.manifest_digest(registry, "lab-app", "no-such-tag") is None

    summary = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    for stage in ("Quality gate", "Build", "Push", "Bump dev"):
        assert stage in summary, summary

    # The image runs, and reports the tag it was built as.
    port = free_port()
    container = f"lab-ship-test-{port}"
    cleanup.insert(0, container)
    sh("docker", "run", "-d", "--name", container, "-p", f"127.0.0.1:{port}:8000", ref)
    deadline = time.monotonic() + 60
    body: dict[str, str] = {}
    last = ""
    while time.monotonic() < deadline:
        try:
            resp = requests.get(f"http://127.0.0.1:{port}/version", timeout=2)
            if resp.status_code == 200:
                body = resp.json()
                break
            last = f"HTTP {resp.status_code}"
        except requests.RequestException as exc:
            last = exc.__class__.__name__
        time.sleep(0.3)
    assert body, f"/version never answered 200 (last: {last}); logs:\n" + sh("docker", "logs", container).stderr
    assert body["image_tag"] == tag
    assert body["commit"] == app_sha


def test_registry_down_builds_and_commits_nothing(
    tmp_path: Path, app_repo: Path, remote: Path, base_image: str, cleanup: list[str]
) -> None:
    down = f"localhost:{free_port()}"  # nothing listens there
    ctx = make_ctx(tmp_path, down, remote, base_image)
    now = datetime(2026, 11, 28, 10, 16, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    ref = f"{down}/lab-app:{app_sha[:7]}-20261128101600"
    cleanup.append(ref)
    with pytest.raises(RegistryError, match=f"registry {down} is not reachable") as info:
        ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, clock=lambda: now)
    assert info.value.exit_code == 10
    assert remote_head(remote) is None  # the GitOps remote is as it was: empty
    assert not image_present(ref)


def test_failing_quality_gate_builds_and_commits_nothing(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str]
) -> None:
    ctx = make_ctx(tmp_path, registry, remote, base_image)
    now = datetime(2026, 11, 28, 10, 17, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    tag = f"{app_sha[:7]}-20261128101700"
    cleanup.append(f"{registry}/lab-app:{tag}")
    with pytest.raises(QualityGateFailed) as info:
        ship(ctx, app_root=app_repo, gate=FAILING_GATE, no_wait=True, clock=lambda: now)
    assert info.value.exit_code == 9
    assert "2 failed, 40 passed" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]  # the gate's output is shown
    assert not image_present(f"{registry}/lab-app:{tag}")
    assert served_digest(registry, "lab-app", tag) is None
    assert remote_head(remote) is None
    assert not (tmp_path / "state" / "gitops-work").exists()
