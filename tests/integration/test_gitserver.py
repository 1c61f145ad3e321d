"""lab/images/gitserver: git http-backend behind nginx + fcgiwrap, serving host-owned bare repos over smart HTTP.

Checks what Argo CD's go-git client needs (the smart `info/refs` advertisement, protocol v2), clone and push
from the host as the lab does, and the lab's own `ensure_git_server` through the real Runner."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import free_port
from servicekit import ROOT, RUN_ID, build, cleaned_up, cleanup, docker, run, state, wait_http

from lab.components import git_server, services
from lab.core import versions
from lab.core.config import Settings
from lab.core.context import Context
from lab.core.runner import SubprocessRunner
from lab.core.ui import UI

pytestmark = pytest.mark.docker

CONTEXT = ROOT / "lab" / "images" / "gitserver"
GIT_ENV = {
    **os.environ,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_AUTHOR_NAME": "lab",
    "GIT_AUTHOR_EMAIL": "lab@example.invalid",
    "GIT_COMMITTER_NAME": "lab",
    "GIT_COMMITTER_EMAIL": "lab@example.invalid",
}


def git(*args: str, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, capture_output=True, text=True, timeout=120, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def pkt_lines(data: bytes) -> list[bytes]:
    """Split a pkt-line stream (gitprotocol-common(5)); flush-pkt 0000 becomes b""."""
    out, i = [], 0
    while i + 4 <= len(data):
        size = int(data[i : i + 4], 16)
        if size == 0:
            out.append(b"")
            i += 4
            continue
        out.append(data[i + 4 : i + size])
        i += size
    return out


@pytest.fixture(scope="module")
def image(base_image: str) -> Iterator[str]:
    with cleaned_up():
        yield build(CONTEXT, "gitserver", base_image)


@pytest.fixture(scope="module")
def owner() -> tuple[int, int]:
    """The uid:gid owning the bare repos. As root, use an unprivileged uid to prove `--user` is what makes pushes
    work (a laptop user is uid 1000-ish, not root)."""
    if os.getuid() == 0:
        return 1000, 1000
    return os.getuid(), os.getgid()


@pytest.fixture(scope="module")
def server(image: str, owner: tuple[int, int], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The git server on 127.0.0.1:<free port> serving a fresh host directory; yields (base URL, host dir)."""
    root = tmp_path_factory.mktemp("git")
    bare = root / "gitops.git"
    git("init", "--quiet", "--bare", "-b", "main", str(bare))
    git("-C", str(bare), "config", "http.receivepack", "true")
    if os.getuid() == 0:
        for path in [root, *root.rglob("*")]:
            os.chown(path, *owner)
    port = free_port()
    name = run(
        image, "git", port=port, container_port=8080, volumes=[(str(root), "/srv/git")], user=f"{owner[0]}:{owner[1]}"
    )
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/gitops.git/info/refs?service=git-upload-pack", container=name, timeout=30)
    yield base, root
    docker("rm", "-f", name, check=False)


def test_info_refs_is_the_smart_upload_pack_advertisement(server: tuple[str, Path]) -> None:
    base, _ = server
    resp = requests.get(f"{base}/gitops.git/info/refs?service=git-upload-pack", timeout=5)
    assert resp.status_code == 200
    # Smart HTTP, not a static file (a dumb server answers text/plain and ignores ?service=).
    assert resp.headers["Content-Type"] == "application/x-git-upload-pack-advertisement"
    lines = pkt_lines(resp.content)
    assert lines[0] == b"# service=git-upload-pack\n"
    assert lines[1] == b""  # flush after the service line
    assert resp.headers.get("Cache-Control", "").startswith("no-cache")


def test_protocol_v2_capability_advertisement(server: tuple[str, Path]) -> None:
    base, _ = server
    resp = requests.get(
        f"{base}/gitops.git/info/refs?service=git-upload-pack", headers={"Git-Protocol": "version=2"}, timeout=5
    )
    assert resp.status_code == 200
    lines = pkt_lines(resp.content)
    assert b"version 2\n" in lines, lines
    assert any(line.startswith(b"ls-refs") for line in lines)
    assert any(line.startswith(b"fetch") for line in lines)


def test_receive_pack_is_advertised_for_push(server: tuple[str, Path]) -> None:
    base, _ = server
    resp = requests.get(f"{base}/gitops.git/info/refs?service=git-receive-pack", timeout=5)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/x-git-receive-pack-advertisement"


def test_unknown_repo_is_404(server: tuple[str, Path]) -> None:
    base, _ = server
    assert requests.get(f"{base}/nope.git/info/refs?service=git-upload-pack", timeout=5).status_code == 404


def test_clone_commit_push_clone_again(server: tuple[str, Path], owner: tuple[int, int], tmp_path: Path) -> None:
    base, root = server
    url = f"{base}/gitops.git"
    work = tmp_path / "work"
    git("clone", "--quiet", url, str(work))  # empty repository: a warning, not an error
    (work / "kustomization.yaml").write_text("resources: []\n")
    git("add", "kustomization.yaml", cwd=work)
    git("commit", "--quiet", "-m", f"seed {RUN_ID}", cwd=work)
    git("push", "--quiet", "origin", "main", cwd=work)
    sha = git("rev-parse", "HEAD", cwd=work).stdout.strip()

    again = tmp_path / "again"
    git("clone", "--quiet", url, str(again))
    assert git("rev-parse", "HEAD", cwd=again).stdout.strip() == sha
    assert git("log", "-1", "--format=%s", cwd=again).stdout.strip() == f"seed {RUN_ID}"
    # The push wrote objects owned by the repo's owner, on the host.
    objects = [p for p in (root / "gitops.git" / "objects").rglob("*") if p.is_file()]
    assert objects and {(p.stat().st_uid, p.stat().st_gid) for p in objects} == {owner}

    for version in ("0", "2"):
        remote = git("-c", f"protocol.version={version}", "ls-remote", url).stdout
        assert f"{sha}\trefs/heads/main" in remote
        assert f"{sha}\tHEAD" in remote


def test_runs_unprivileged_and_stops_promptly(image: str, owner: tuple[int, int], tmp_path: Path) -> None:
    port = free_port()
    name = run(
        image,
        "git-stop",
        port=port,
        container_port=8080,
        volumes=[(str(tmp_path), "/srv/git")],
        user=f"{owner[0]}:{owner[1]}",
    )
    wait_http(f"http://127.0.0.1:{port}/healthz", container=name, timeout=30)
    assert docker("exec", name, "id", "-u").stdout.strip() == str(owner[0])
    started = time.monotonic()
    docker("stop", "--time", "10", name)
    assert time.monotonic() - started < 8, "TERM is not handled: docker waited for the kill timeout"
    assert state(name)["State"]["ExitCode"] in (0, 143)  # type: ignore[index]


def test_ensure_git_server_after_rm_rf_of_the_state_dir_serves_the_new_directory(
    image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rm -rf .lab` while the git server runs: its bind mount keeps the deleted directory, and `docker inspect`
    still shows the same Source path. The lab's step must recreate it so that it serves the new .lab/git."""
    name = f"gitops-lab-test-git-rmrf-{RUN_ID}"  # a name of this test's own on the shared daemon
    monkeypatch.setattr(versions, "GITSERVER_IMAGE", image)
    monkeypatch.setattr(git_server, "GIT_CONTAINER", name)
    cluster = f"itest-rmrf-{RUN_ID}"
    state_dir = tmp_path / ".lab"
    settings = Settings(state_dir=state_dir, git_port=free_port(), cluster_name=cluster)
    ctx = Context(settings, SubprocessRunner(), UI(quiet=True))
    url = f"http://127.0.0.1:{settings.git_port}/gitops.git"
    try:
        services.ensure_git_server(ctx)
        first_id = state(name)["Id"]
        work = tmp_path / "work"
        git("clone", "--quiet", url, str(work))
        (work / "README").write_text("before\n")
        git("add", "README", cwd=work)
        git("commit", "--quiet", "-m", "before", cwd=work)
        git("push", "--quiet", "origin", "main", cwd=work)

        shutil.rmtree(state_dir)
        services.ensure_git_server(ctx)  # makes a fresh, empty .lab/git/gitops.git
        assert ctx.ui.phases[-1].note == "recreated"
        assert state(name)["Id"] != first_id
        # It serves the directory on disk now: the new, empty repository accepts a push that lands there.
        again = tmp_path / "again"
        git("init", "--quiet", "-b", "main", str(again))
        (again / "README").write_text("after\n")
        git("add", "README", cwd=again)
        git("commit", "--quiet", "-m", "after", cwd=again)
        git("push", "--quiet", url, "main", cwd=again)
        log = git("--git-dir", str(state_dir / "git" / "gitops.git"), "log", "--format=%s").stdout.strip()
        assert log == "after"

        services.ensure_git_server(ctx)
        assert ctx.ui.phases[-1].note == "reused"
    finally:
        cleanup(f"gitops-lab.cluster={cluster}")  # only its container: the module's image serves the later tests


def test_ensure_git_server_through_the_lab(image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab's step with the real Runner: bare repo under .lab/git, container as the host user, push works."""
    if docker("container", "inspect", services.GIT_CONTAINER, check=False).returncode == 0:
        pytest.skip(f"a container named {services.GIT_CONTAINER} exists (a running lab?): not touching it")
    monkeypatch.setattr(versions, "GITSERVER_IMAGE", image)
    cluster = f"itest-{RUN_ID}"
    settings = Settings(state_dir=tmp_path / ".lab", git_port=free_port(), cluster_name=cluster)
    ctx = Context(settings, SubprocessRunner(), UI(quiet=True))
    with cleaned_up(f"gitops-lab.cluster={cluster}"):
        url = services.ensure_git_server(ctx)
        assert url == f"http://127.0.0.1:{settings.git_port}/gitops.git"
        labels = state(services.GIT_CONTAINER)["Config"]["Labels"]  # type: ignore[index]
        assert labels["gitops-lab.managed"] == "true" and labels["gitops-lab.cluster"] == cluster
        assert (tmp_path / ".lab" / "git" / "gitops.git" / "HEAD").is_file()

        work = tmp_path / "work"
        git("clone", "--quiet", url, str(work))
        (work / "README").write_text("lab\n")
        git("add", "README", cwd=work)
        git("commit", "--quiet", "-m", "first", cwd=work)
        git("push", "--quiet", "origin", "main", cwd=work)

        assert services.ensure_git_server(ctx) == url  # idempotent: reused
        assert ctx.ui.phases[-1].note == "reused"
        assert services.delete_services(ctx) == [services.GIT_CONTAINER]
        # The repo survives the container: it lives on the host.
        assert git("--git-dir", str(tmp_path / ".lab" / "git" / "gitops.git"), "log", "--format=%s").stdout.strip() == (
            "first"
        )
