"""`ship --no-wait` end to end with real components: a Docker build of the real app/ on the local base image, a
real registry (Debian's docker-registry), a bare GitOps remote, real `kubectl kustomize`. The app repo is a
temporary copy of this project's app/ and overlays/ committed to a git repo of its own, so the real tree is
never touched and the dirty check sees a clean tree.

Each test uses its own fixed clock, so the tag it would produce is known even when the pipeline stops early
(a failing gate must leave that tag absent from Docker and from the registry).

The ECR case runs against MiniStack (the venv's `ministack`, a local process on a free 127.0.0.1 port): its ECR
API and its registry V2 endpoint on the same port, as the lab's ECR emulator.
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
from typing import Any
from urllib.parse import quote

import pytest
import requests
from conftest import free_port
from localservers import serve_git_http

from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.errors import GitOpsError, QualityGateFailed, RegistryError
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI
from lab.gitops.overlay import ImageSpec, overlay_file, read_image
from lab.steps import release
from lab.steps.ship import gitops_repo, ship
from lab.tools import docker as docker_tool
from lab.tools import ecr
from lab.tools import registry as registry_api
from lab.tools.registry import MANIFEST_TYPES

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


def trailers_of(remote: Path) -> dict[str, str]:
    """The trailers of main's last commit, as git itself parses them."""
    message = sh("git", "-C", remote, "log", "-1", "--format=%B", "main").stdout
    return dict(
        line.split(": ", 1) for line in sh("git", "interpret-trailers", "--parse", input=message).stdout.splitlines()
    )


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


def make_ctx(tmp_path: Path, registry: str, remote: Path | str, base_image: str, **overrides: Any) -> Context:
    settings = load_settings(
        {
            "registry": registry,
            "base_image": base_image,
            "gitops_remote": str(remote),
            "state_dir": tmp_path / "state",
            "scan_severity": "off",  # the image scan runs for real in tests/integration/test_scan_trivy.py
            **overrides,
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
    assert trailers_of(remote) == {
        "App-Commit": app_sha,
        "Image": ref,
        "Image-Digest": result.digest,
        "Environment": "dev",
        "Deployed-By": "Ship Test <ship@example.test>",
        "Image-Scan": "not scanned (scan_severity=off from flag --scan-severity)",  # make_ctx: the scan is elsewhere
    }
    # promote asks the same registry (real HTTP) before copying the image to staging, tag and digest: staging pins
    # the digest the registry serves, although dev's overlay names the tag only.
    promoted = release.promote(ctx, "dev", "staging", app_root=app_repo)
    staging = read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('staging')}").stdout)
    assert staging == ImageSpec(dev.new_name, dev.new_tag, result.digest)
    assert promoted.digest == result.digest and promoted.image == f"{ref}@{result.digest}"
    assert registry_api.manifest_digest(registry, "lab-app", "no-such-tag") is None

    summary = ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    for stage in ("Quality gate", "Build", "Push", "Bump dev"):
        assert stage in summary, summary
    # The labels `invoke down` finds the lab's images by, set through the Dockerfile's LABEL step.
    labels = json.loads(sh("docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref).stdout)
    assert labels | docker_tool.labels_for("app", ctx.settings.cluster_name) == labels
    assert labels["org.opencontainers.image.revision"] == app_sha
    assert labels["org.opencontainers.image.version"] == tag

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
    # Nothing deployed: ship's first stage opened the GitOps repo (seeding the empty remote from overlays/, which
    # is what proves the remote accepts pushes before anything is built), but made no deploy commit.
    assert sh("git", "-C", remote, "log", "--format=%s", "main").stdout.splitlines() == [
        f"seed: overlays from app repo {app_sha[:7]}"
    ]


# A gate that fails only once the build beside it is running: it waits (bounded) for a `docker build` process whose
# command line names the tag, says so in a file, then fails as a test run would.
GATE_SEEING_THE_BUILD = """\
import os, sys, time
tag, seen = sys.argv[1], sys.argv[2]
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\\0")
        except OSError:
            continue
        if b"build" in argv and any(tag.encode() in a for a in argv):
            open(seen, "w").write(pid)
            print("2 failed, 40 passed")
            sys.exit(1)
    time.sleep(0.05)
sys.exit("no docker build with the tag ran beside the gate")
"""


def test_a_gate_failing_while_the_build_runs_beside_it_leaves_registry_and_gitops_repo_unchanged(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str]
) -> None:
    """The gate runs beside the build: when it fails with the build in flight, the build's image is removed,
    nothing is pushed, and the GitOps repo has no deploy commit."""
    seeded = make_ctx(tmp_path / "seed", registry, remote, base_image)
    gitops_repo(seeded, app_root=app_repo).open()
    head = remote_head(remote)
    ctx = make_ctx(tmp_path, registry, remote, base_image)
    now = datetime(2026, 11, 28, 10, 25, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    tag = f"{app_sha[:7]}-20261128102500"
    ref = f"{registry}/lab-app:{tag}"
    cleanup.append(ref)
    script, seen = tmp_path / "gate.py", tmp_path / "gate-saw-the-build"
    script.write_text(GATE_SEEING_THE_BUILD)
    with pytest.raises(QualityGateFailed) as info:
        ship(ctx, app_root=app_repo, gate=((sys.executable, str(script), tag, str(seen)),), no_wait=True,
             clock=lambda: now)  # fmt: skip
    assert seen.is_file(), "the gate never saw the build running beside it"
    assert "2 failed, 40 passed" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert "nothing was pushed or committed" in (info.value.hint or "")
    assert not image_present(ref)  # the image built beside the gate is removed
    assert served_digest(registry, "lab-app", tag) is None
    assert remote_head(remote) == head


def hook(remote: Path, message: str) -> None:
    """A pre-receive hook on the bare remote that refuses every push, as a protected branch or a freeze would."""
    path = remote / "hooks" / "pre-receive"
    path.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit 1\n")
    path.chmod(0o755)


def break_dev_overlay(remote: Path, tmp_path: Path) -> str:
    """A hand edit pushed to the GitOps remote that leaves overlays/dev unrenderable; returns the new head."""
    clone = tmp_path / "hand-edit"
    sh("git", "clone", "--quiet", remote, clone)
    path = clone / overlay_file("dev")
    path.write_text(path.read_text().replace("resources:\n  - ../base\n", "resources:\n  - missing.yaml\n"))
    sh("git", "-C", clone, "-c", "user.name=H", "-c", "user.email=h@x", "commit", "--quiet", "-am", "hand edit")
    sh("git", "-C", clone, "push", "--quiet", "origin", "HEAD:main")
    return sh("git", "-C", clone, "rev-parse", "HEAD").stdout.strip()


@pytest.mark.parametrize("fault", ["git-server-down", "remote-refuses", "overlay-broken"])
def test_a_gitops_remote_that_cannot_take_the_deploy_stops_ship_before_the_build(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str], fault: str
) -> None:
    """A git server that is down, a remote that refuses pushes (empty: the seed is refused), or a dev overlay that
    would not render with the new image: a GitOpsError before the gate, nothing built, nothing in the registry."""
    url: Path | str = remote
    before = None
    if fault == "git-server-down":
        url = f"http://127.0.0.1:{free_port()}/gitops.git"  # nothing listens there
    elif fault == "remote-refuses":
        hook(remote, "pushes are frozen")
    else:
        seeded = make_ctx(tmp_path / "seed", registry, remote, base_image)
        gitops_repo(seeded, app_root=app_repo).open()
        before = break_dev_overlay(remote, tmp_path)
    ctx = make_ctx(tmp_path, registry, url, base_image)
    now = datetime(2026, 11, 28, 10, 18, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    tag = f"{app_sha[:7]}-20261128101800"
    cleanup.append(f"{registry}/lab-app:{tag}")
    with pytest.raises(GitOpsError) as info:
        ship(ctx, app_root=app_repo, gate=FAILING_GATE, no_wait=True, clock=lambda: now)
    assert info.value.exit_code == 11
    expected = {
        "git-server-down": "cannot clone the GitOps repo",
        "remote-refuses": "refused the seed commit",
        "overlay-broken": "overlays/dev would not render",
    }[fault]
    assert expected in info.value.message, info.value.message
    assert "2 failed" not in ctx.ui.err.getvalue()  # type: ignore[attr-defined]  # the gate never ran
    assert not image_present(f"{registry}/lab-app:{tag}")
    assert served_digest(registry, "lab-app", tag) is None
    assert remote_head(remote) == before


def test_a_remote_refusing_the_deploy_commit_after_the_push_says_what_is_left(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str]
) -> None:
    """The one fault that can only show after the push (a seeded remote whose hook refuses the deploy commit):
    the error names the image it left in the registry, and git has no deploy commit."""
    seeded = make_ctx(tmp_path / "seed", registry, remote, base_image)
    gitops_repo(seeded, app_root=app_repo).open()
    head = remote_head(remote)
    hook(remote, "deploys are frozen today")
    ctx = make_ctx(tmp_path, registry, remote, base_image)
    now = datetime(2026, 11, 28, 10, 19, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    ref = f"{registry}/lab-app:{app_sha[:7]}-20261128101900"
    cleanup.append(ref)
    with pytest.raises(GitOpsError, match="deploys are frozen today") as info:
        ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, clock=lambda: now)
    digest = served_digest(registry, "lab-app", ref.rsplit(":", 1)[1])
    assert digest is not None and digest.startswith("sha256:")
    assert f"pushed {ref} ({digest}) to {registry}; no GitOps commit" in (info.value.hint or "")
    assert remote_head(remote) == head


# ECR: MiniStack's ECR API and registry on one port ---------------------------------------------------------
@pytest.fixture(scope="module")
def ministack(ministack_port: int) -> int:
    """The session's MiniStack process (tests/conftest.py); yields its port."""
    return ministack_port


def test_ship_to_the_ecr_emulator_records_the_digest_ecr_reports(
    tmp_path: Path, app_repo: Path, remote: Path, base_image: str, ministack: int, cleanup: list[str]
) -> None:
    """push_registry=ecr: ship creates the repository, pushes to MiniStack's registry and records the digest that
    describe_images reports too; the V2 API serves the same Docker-Content-Digest (what ship's check relies on)."""
    ctx = make_ctx(
        tmp_path,
        "",
        remote,
        base_image,
        push_registry="ecr",
        emulator_port=ministack,
        aws_endpoint_url=f"http://127.0.0.1:{ministack}",
    )
    now = datetime(2026, 11, 28, 10, 20, 0, tzinfo=UTC)
    result = ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, clock=lambda: now)
    host = f"localhost:{ministack}"
    cleanup.append(result.image)
    assert result.image == f"{host}/lab-app:{result.tag}" and result.digest.startswith("sha256:")

    assert ecr.describe_image(ecr.ecr_client(ctx.settings), "lab-app", result.tag) == result.digest
    assert served_digest(host, "lab-app", result.tag) == result.digest
    dev = read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}").stdout)
    assert dev == ImageSpec(f"{host}/lab-app", result.tag)
    assert trailers_of(remote)["Image-Digest"] == result.digest


# One tag, one image ------------------------------------------------------------------------------------------
def trailers_at(remote: Path, sha: str) -> dict[str, str]:
    message = sh("git", "-C", remote, "log", "-1", "--format=%B", sha).stdout
    return dict(
        line.split(": ", 1) for line in sh("git", "interpret-trailers", "--parse", input=message).stdout.splitlines()
    )


@pytest.mark.parametrize("state", ["one-state-dir", "two-machines"])
def test_two_ships_of_one_commit_in_one_second_never_share_a_tag(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str], state: str
) -> None:
    """Two ships of the same commit in the same second, with different content (two edits shipped with
    --allow-dirty): the second gets a tag of its own instead of overwriting the first's; every deploy commit names
    the digest the registry serves for its tag, and each ship reports its own commit. one-state-dir: the same
    .lab (the second sees the first's reservation); two-machines: separate .lab dirs (it sees the registry's tag)."""
    now = datetime(2026, 11, 28, 10, 21, 0, tzinfo=UTC)
    note = app_repo / "app" / "ship_note.py"
    results = []
    for n, text in enumerate(("first", "second")):
        ctx = make_ctx(
            tmp_path / (f"machine-{n}" if state == "two-machines" else "machine"), registry, remote, base_image
        )
        note.write_text(f"NOTE = {text!r}\n")
        result = ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, allow_dirty=True, clock=lambda: now)
        cleanup.append(result.image)
        results.append(result)
    first, second = results
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    assert first.tag == f"{app_sha[:7]}-20261128102100-dirty"
    assert second.tag == f"{app_sha[:7]}-20261128102100-2-dirty"
    assert first.digest != second.digest  # different content ...
    assert served_digest(registry, "lab-app", first.tag) == first.digest  # ... and the first tag still serves its own
    assert served_digest(registry, "lab-app", second.tag) == second.digest
    assert second.gitops_commit == remote_head(remote) != first.gitops_commit
    for result in results:
        trailers = trailers_at(remote, result.gitops_commit)
        assert trailers["Image"] == result.image
        assert trailers["Image-Digest"] == served_digest(registry, "lab-app", result.tag) == result.digest
    assert len(sh("git", "-C", remote, "log", "--format=%H", "main").stdout.split()) == 3  # seed + 2 deploys


def test_a_tag_overwritten_right_after_the_push_is_reported_and_nothing_is_committed(
    tmp_path: Path, app_repo: Path, remote: Path, registry: str, base_image: str, cleanup: list[str]
) -> None:
    """The race a check before the build cannot close (another machine pushes the same tag at the same moment):
    ship asks the registry after its push; when the tag serves another digest it says so and commits nothing."""
    ctx = make_ctx(tmp_path, registry, remote, base_image)
    now = datetime(2026, 11, 28, 10, 22, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    tag = f"{app_sha[:7]}-20261128102200"
    ref = f"{registry}/lab-app:{tag}"
    cleanup.append(ref)
    asked: list[str] = []

    def lookup(host: str, name: str, reference: str) -> str | None:
        asked.append(reference)
        if image_present(ref) and len(asked) == 2:  # after ship's push: another client pushes other content
            ours = sh("docker", "image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()
            cleanup.append(ours)  # untagged by the other client's build: removed by its ID
            sh("docker", "build", "-q", "-t", ref, "-", input=f"FROM {base_image}\nLABEL other=client\n")
            sh("docker", "push", ref)
        return registry_api.manifest_digest(host, name, reference)

    gitops_repo(make_ctx(tmp_path / "seed", registry, remote, base_image), app_root=app_repo).open()
    head = remote_head(remote)
    with pytest.raises(RegistryError) as info:
        ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, clock=lambda: now, lookup_digest=lookup)
    assert asked == [tag, tag]  # before the build (free?) and after the push (ours?)
    message = info.value.message
    assert f"{registry} serves {served_digest(registry, 'lab-app', tag)} for lab-app:{tag}" in message, message
    assert "another client pushed the same tag" in (info.value.hint or "")
    assert "nothing was committed" in (info.value.hint or "")
    assert remote_head(remote) == head


def test_ship_to_an_ecr_emulator_that_is_down_fails_before_the_gate_and_the_build(
    tmp_path: Path, app_repo: Path, remote: Path, base_image: str, cleanup: list[str]
) -> None:
    port = free_port()  # nothing listens there: the emulator is stopped
    ctx = make_ctx(tmp_path, "", remote, base_image, push_registry="ecr", emulator_port=port)
    now = datetime(2026, 11, 28, 10, 23, 0, tzinfo=UTC)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()
    ref = f"localhost:{port}/lab-app:{app_sha[:7]}-20261128102300"
    cleanup.append(ref)
    with pytest.raises(RegistryError) as info:
        ship(ctx, app_root=app_repo, gate=FAILING_GATE, no_wait=True, clock=lambda: now)
    assert info.value.exit_code == 10
    assert f"the ECR emulator does not answer at localhost:{port}" in info.value.message, info.value.message
    assert "`invoke up` starts it" in (info.value.hint or "") and "--registry local" in (info.value.hint or "")
    assert "2 failed" not in ctx.ui.err.getvalue()  # type: ignore[attr-defined]  # the gate never ran
    assert not image_present(ref)
    assert remote_head(remote) is None  # checked before the GitOps repo is even opened (and seeded)


def test_ship_to_a_gitops_remote_that_needs_a_password_shows_and_stores_it_nowhere(
    tmp_path: Path, app_repo: Path, registry: str, base_image: str, cleanup: list[str]
) -> None:
    password = "s3cr@t-Ship:42"
    root = tmp_path / "srv"
    sh("git", "init", "--quiet", "--bare", "-b", "main", root / "gitops.git")
    with serve_git_http(root, username="ada", password=password) as server:
        url = f"http://ada:{quote(password, safe='')}@127.0.0.1:{server.port}/gitops.git"
        ctx = make_ctx(tmp_path, registry, url, base_image)
        now = datetime(2026, 11, 28, 10, 24, 0, tzinfo=UTC)
        result = ship(ctx, app_root=app_repo, gate=PASSING_GATE, no_wait=True, clock=lambda: now)
        cleanup.append(result.image)
    assert server.denied and server.served
    assert result.gitops_commit == remote_head(root / "gitops.git")
    said = ctx.ui.err.getvalue() + ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert f"http://127.0.0.1:{server.port}/gitops.git" in said
    for secret in (password, quote(password, safe="")):
        assert secret not in said
        assert not [f for f in (tmp_path / "state").rglob("*") if f.is_file() and secret.encode() in f.read_bytes()]
    labels = sh("docker", "image", "inspect", "--format", "{{json .Config.Labels}}", result.image).stdout
    assert password not in labels
