"""The GitOps repository with real git: a bare remote in tmp_path, real working clones, real `kubectl kustomize`.

No Docker and no cluster are needed, so these run wherever git runs. The registry lookup of promote and rollback is
the one injected piece (a dict of tags standing in for a registry; tests/integration/test_ship.py uses a real one).
Commit trailers are read back with `git interpret-trailers --parse`, independently of the lab's own parser.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from fakes import FakeRunner
from localservers import GitHttpServer, serve_git_http

from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.errors import ClusterUnreachable, ConfigError, GitOpsError, Interrupted, Refused, RegistryError
from lab.core.runner import DryRunRunner, SubprocessRunner
from lab.core.ui import UI
from lab.gitops.overlay import ImageSpec, overlay_file, read_image, set_image, validate_rendered
from lab.gitops.repo import Change, GitOpsRepo, default_workdir
from lab.gitops.watcher import EnvStatus
from lab.steps import release
from lab.steps.ship import gitops_repo
from lab.tools import git as gitcli
from lab.tools.kubectl import kubectl_binary

pytestmark = pytest.mark.integration  # real git and kubectl kustomize: `make integration`, not `make unit`

ROOT = Path(__file__).resolve().parents[2]
REPO = "localhost:5001/lab-app"
IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Dev",
    "GIT_AUTHOR_EMAIL": "dev@example.test",
    "GIT_COMMITTER_NAME": "Test Dev",
    "GIT_COMMITTER_EMAIL": "dev@example.test",
}


def digest_of(n: int) -> str:
    return "sha256:" + f"{n:x}".rjust(64, "0")


def sh(*argv: str | Path, cwd: Path | None = None, input: str | None = None) -> str:
    res = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **IDENTITY},
        check=False,
    )
    if res.returncode != 0:
        raise AssertionError(f"{argv} exited {res.returncode}:\n{res.stdout}\n{res.stderr}")
    return res.stdout


def remote_head(remote: Path) -> str | None:
    res = subprocess.run(
        ["git", "-C", str(remote), "rev-parse", "--verify", "-q", "refs/heads/main"], capture_output=True, text=True
    )
    return res.stdout.strip() or None


def trailers_of(remote: Path, sha: str) -> dict[str, list[str]]:
    """Trailers of a commit as git itself parses them (`git interpret-trailers --parse`)."""
    message = sh("git", "-C", remote, "log", "-1", "--format=%B", sha)
    out: dict[str, list[str]] = {}
    for line in sh("git", "interpret-trailers", "--parse", input=message).splitlines():
        key, _, value = line.partition(": ")
        out.setdefault(key, []).append(value)
    return out


def deploy_log(remote: Path, env: str) -> list[str]:
    """Shas of the commits on main whose Environment trailer is ENV, newest first (plain git, no lab code)."""
    out = sh("git", "-C", remote, "log", "--format=%H %(trailers:key=Environment,valueonly,separator=%x2C)", "main")
    return [line.split()[0] for line in out.splitlines() if line.split()[1:] == [env]]


def render_at(remote: Path, sha: str, env: str, scratch: Path) -> str:
    """`kubectl kustomize overlays/ENV` of the tree at SHA."""
    tree = scratch / sha[:12]
    tree.mkdir(parents=True)
    data = subprocess.run(
        ["git", "-C", str(remote), "archive", sha, "overlays"], capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        tar.extractall(tree, filter="data")
    res = subprocess.run([kubectl_binary(), "kustomize", str(tree / "overlays" / env)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    sh("git", "init", "--quiet", "--bare", "-b", "main", path)
    return path


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    """A copy of this project's overlays/ in a git repo of its own: the "app repo" that seeds the GitOps repo."""
    path = tmp_path / "app-repo"
    shutil.copytree(ROOT / "overlays", path / "overlays", ignore=shutil.ignore_patterns("__pycache__"))
    sh("git", "init", "--quiet", "-b", "main", path)
    sh("git", "-C", path, "config", "user.name", "Test Dev")  # who deploys: the app repo's git identity
    sh("git", "-C", path, "config", "user.email", "dev@example.test")
    sh("git", "-C", path, "add", "-A")
    sh("git", "-C", path, "commit", "--quiet", "-m", "app")
    return path


@pytest.fixture
def ctx(tmp_path: Path, remote: Path) -> Context:
    settings = load_settings(
        {"state_dir": tmp_path / "state", "gitops_remote": str(remote)}, environ={}, config_file=tmp_path / "none.toml"
    )
    return Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def new_repo(
    remote: Path, workdir: Path, app_repo: Path, *, runner: SubprocessRunner | None = None, **kw: object
) -> GitOpsRepo:
    return GitOpsRepo(
        runner or SubprocessRunner(),
        str(remote),
        workdir,
        app_repo / "overlays",
        "a" * 40,
        author=gitcli.Identity("Test Dev", "dev@example.test"),
        backoff=0.02,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def repo(ctx: Context, app_repo: Path) -> GitOpsRepo:
    """The working clone exactly as the steps make it (.lab/gitops-work of the test's state dir)."""
    return gitops_repo(ctx, app_root=app_repo)


def assert_clean(repo: GitOpsRepo) -> None:
    status = sh("git", "-C", repo.workdir, "status", "--porcelain")
    assert status == "", status
    assert sh("git", "-C", repo.workdir, "rev-parse", "HEAD") == sh(
        "git", "-C", repo.workdir, "rev-parse", "origin/main"
    )


# Seeding -------------------------------------------------------------------------------------------------
def test_open_seeds_an_empty_remote_once(remote: Path, repo: GitOpsRepo, app_repo: Path, tmp_path: Path) -> None:
    assert remote_head(remote) is None
    repo.open()
    head = remote_head(remote)
    assert head is not None
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").strip()
    assert sh("git", "-C", remote, "log", "--format=%s", "main").splitlines() == [
        f"seed: overlays from app repo {app_sha[:7]}"
    ]
    for env in ("dev", "staging", "prod"):
        seeded = sh("git", "-C", remote, "show", f"main:{overlay_file(env)}")
        assert seeded == (app_repo / overlay_file(env)).read_text()
    assert "README.md" in sh("git", "-C", remote, "ls-tree", "--name-only", "main")
    assert repo.workdir == default_workdir(tmp_path / "state")

    other = new_repo(remote, tmp_path / "other-clone", app_repo)
    other.open()  # the remote has main now: no second seed
    assert remote_head(remote) == head


# Bump ----------------------------------------------------------------------------------------------------
def test_bump_commits_the_overlay_with_trailers(remote: Path, repo: GitOpsRepo, tmp_path: Path) -> None:
    spec = ImageSpec(REPO, "abc1234-20261128101500", digest_of(1))
    committed = repo.bump("dev", spec, app_commit="b" * 40)
    assert committed.changed and committed.attempts == 1
    assert remote_head(remote) == committed.sha

    assert (
        sh("git", "-C", remote, "log", "-1", "--format=%s", "main").strip()
        == "deploy(dev): lab-app abc1234-20261128101500"
    )
    trailers = trailers_of(remote, committed.sha)
    assert trailers == {
        "App-Commit": ["b" * 40],
        "Image": [f"{REPO}:abc1234-20261128101500"],
        "Image-Digest": [digest_of(1)],
        "Environment": ["dev"],
        "Deployed-By": ["Test Dev <dev@example.test>"],
    }
    # Only dev's overlay changed, and only its image entry; comments survive the round trip.
    assert sh("git", "-C", remote, "diff", "--name-only", "main~1", "main").split() == [overlay_file("dev")]
    text = sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}")
    assert "# the image name used in base/deployment.yaml" in text
    assert read_image(text) == spec
    rendered = render_at(remote, committed.sha, "dev", tmp_path / "render")
    assert f"image: {REPO}:abc1234-20261128101500@{digest_of(1)}" in rendered
    validate_rendered(rendered, spec.reference)
    assert_clean(repo)

    # The lab's parser reads the same trailers back.
    [record] = repo.history("dev")
    assert (record.sha, record.app_commit, record.tag, record.digest) == (
        committed.sha,
        "b" * 40,
        spec.new_tag,
        digest_of(1),
    )


def test_bump_of_the_same_image_commits_nothing(remote: Path, repo: GitOpsRepo) -> None:
    spec = ImageSpec(REPO, "t1")
    first = repo.bump("dev", spec, app_commit="b" * 40)
    again = repo.bump("dev", spec, app_commit="b" * 40)
    assert not again.changed and again.sha == first.sha == remote_head(remote)


def push_manual_change(remote: Path, tmp_path: Path, edit: Callable[[Path], None], message: str) -> str:
    """Someone edits the GitOps repo by hand (a plain git clone, no lab code) and pushes."""
    clone = tmp_path / f"manual-{time.monotonic_ns()}"
    sh("git", "clone", "--quiet", remote, clone)
    edit(clone)
    sh("git", "-C", clone, "add", "-A")
    sh("git", "-C", clone, "commit", "--quiet", "-m", message)
    sh("git", "-C", clone, "push", "--quiet", "origin", "HEAD:main")
    return sh("git", "-C", clone, "rev-parse", "HEAD").strip()


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        pytest.param("resources:\n  - ../base\n  - missing.yaml\n", "would not render", id="does-not-render"),
        pytest.param(
            "  - patch: |-\n      - op: add\n        path: /spec/replicaz\n        value: 2\n"
            "    target:\n      kind: Deployment\n",
            "Deployment/lab-app is not valid Kubernetes 1.36.0",
            id="invalid-field",
        ),
    ],
)
def test_an_overlay_that_would_not_render_or_validate_is_refused_before_commit(
    remote: Path, repo: GitOpsRepo, tmp_path: Path, breakage: str, expected: str
) -> None:
    repo.open()

    def edit(clone: Path) -> None:
        path = clone / overlay_file("dev")
        text = path.read_text()
        if breakage.startswith("resources:"):
            text = text.replace("resources:\n  - ../base\n", breakage)
        else:
            text = text.replace(
                "patches:\n  - path: service-nodeport.yaml\n", "patches:\n  - path: service-nodeport.yaml\n" + breakage
            )
        assert text != path.read_text()
        path.write_text(text)

    broken = push_manual_change(remote, tmp_path, edit, "hand edit")
    with pytest.raises(GitOpsError) as info:
        repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="b" * 40)
    assert "overlays/dev" in info.value.message and expected in info.value.message, info.value.message
    assert "nothing was committed" in (info.value.hint or "")
    assert remote_head(remote) == broken  # nothing pushed
    assert_clean(repo)


def test_check_bump_renders_and_validates_without_committing(remote: Path, repo: GitOpsRepo, tmp_path: Path) -> None:
    """What ship runs before it builds: the overlay with the planned image must render and validate; nothing is
    committed either way, and the clone is left clean."""
    repo.open()
    head = remote_head(remote)
    repo.check_bump("dev", ImageSpec(REPO, "planned"))
    assert remote_head(remote) == head and len(deploy_log(remote, "dev")) == 0
    assert_clean(repo)

    def edit(clone: Path) -> None:
        path = clone / overlay_file("dev")
        path.write_text(path.read_text().replace("resources:\n  - ../base\n", "resources:\n  - missing.yaml\n"))

    broken = push_manual_change(remote, tmp_path, edit, "hand edit")
    repo.open()
    with pytest.raises(GitOpsError, match="overlays/dev would not render"):
        repo.check_bump("dev", ImageSpec(REPO, "planned"))
    assert remote_head(remote) == broken
    assert_clean(repo)


class CountingRunner(SubprocessRunner):
    """A real runner that records every argv (to count the renders)."""

    def __init__(self) -> None:
        super().__init__()
        self.argvs: list[list[str]] = []

    def run(self, argv, **kw):  # type: ignore[no-untyped-def]
        self.argvs.append([str(a) for a in argv])
        return super().run(argv, **kw)

    def renders(self) -> int:
        return sum(1 for argv in self.argvs if "kustomize" in argv)


def test_a_change_checked_on_the_same_commit_is_not_rendered_twice(
    remote: Path, app_repo: Path, tmp_path: Path
) -> None:
    """ship checks dev's overlay before the build, then bumps it: on an unmoved remote the bump reuses that
    render; a new digest or a moved remote (here: to an overlay that no longer renders) is rendered again."""
    runner = CountingRunner()
    repo = new_repo(remote, tmp_path / "clone", app_repo, runner=runner)
    repo.open()
    repo.check_bump("dev", ImageSpec(REPO, "t1"))
    assert runner.renders() == 1
    repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    assert runner.renders() == 1 and dev_image(remote) == ImageSpec(REPO, "t1")

    repo.check_bump("dev", ImageSpec(REPO, "t2"))
    repo.bump("dev", ImageSpec(REPO, "t2", digest_of(2)), app_commit="2" * 40)  # --pin-digest: a new image
    assert runner.renders() == 3

    repo.check_bump("dev", ImageSpec(REPO, "t3"))
    assert runner.renders() == 4

    def edit(clone: Path) -> None:  # dev's kustomization.yaml stays as it was: only the commit tells the change
        path = clone / "overlays" / "base" / "deployment.yaml"
        path.write_text(path.read_text().replace("  minReadySeconds: 5\n", "  minReadySecondz: 5\n"))

    broken = push_manual_change(remote, tmp_path, edit, "hand edit during the build")
    with pytest.raises(GitOpsError, match="Deployment/lab-app is not valid"):
        repo.bump("dev", ImageSpec(REPO, "t3"), app_commit="3" * 40)
    assert runner.renders() == 5 and remote_head(remote) == broken


def test_a_remote_that_refuses_the_push_is_a_gitops_error_and_the_clone_stays_clean(
    remote: Path, repo: GitOpsRepo
) -> None:
    repo.open()
    before = remote_head(remote)
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'deploys are frozen today' >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(GitOpsError) as info:
        repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="b" * 40)
    message = info.value.message
    assert str(remote) in message
    assert "pre-receive hook declined" in message and "deploys are frozen today" in message
    assert remote_head(remote) == before
    assert_clean(repo)


# Concurrency ---------------------------------------------------------------------------------------------
def test_a_push_that_loses_a_race_is_reapplied_on_the_new_head(
    remote: Path, repo: GitOpsRepo, app_repo: Path, tmp_path: Path
) -> None:
    rival = new_repo(remote, tmp_path / "rival", app_repo)
    rival.open()
    repo.open()
    attempts: list[int] = []

    def plan(r: GitOpsRepo) -> Change:
        attempts.append(1)
        if len(attempts) == 1:  # between our fetch and our push, the rival ships
            rival.bump("dev", ImageSpec(REPO, "rival"), app_commit="c" * 40)
        current = r.read(overlay_file("dev"))
        assert current is not None
        spec = ImageSpec(REPO, "ours")
        return Change(
            "dev",
            "deploy(dev): lab-app ours\n",
            [("Environment", "dev")],
            spec.reference,
            new_text=set_image(current, spec),
        )

    committed = repo.commit_change(plan)
    assert committed.attempts == 2
    shas = deploy_log(remote, "dev")
    assert shas[0] == committed.sha and len(shas) == 2  # both commits are there, ours on top
    assert read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}")) == ImageSpec(REPO, "ours")
    assert_clean(repo)


WORKER = """
import sys, time
from pathlib import Path
from lab.gitops.overlay import ImageSpec
from lab.gitops.repo import GitOpsRepo
from lab.core.runner import SubprocessRunner
from lab.tools.git import Identity

remote, workdir, seed, tag, start = sys.argv[1:6]
repo = GitOpsRepo(SubprocessRunner(), remote, Path(workdir), Path(seed), "a" * 40,
                  author=Identity("worker " + tag, tag + "@example.test"), backoff=0.05, max_attempts=12)
repo.open()
while time.time() < float(start):
    time.sleep(0.002)
committed = repo.bump("dev", ImageSpec("localhost:5001/lab-app", tag), app_commit=tag.ljust(40, "0"))
print(committed.attempts)
"""


@pytest.mark.parametrize("shared_clone", [False, True], ids=["own-clones", "one-shared-clone"])
def test_concurrent_bumps_all_land_and_every_commit_renders(
    remote: Path, repo: GitOpsRepo, app_repo: Path, tmp_path: Path, shared_clone: bool
) -> None:
    """N processes bump dev at the same moment: every bump is a commit on main, none lost, none corrupt.

    With separate clones the push-retry loop resolves the races; with one shared clone the clone's lock
    serialises the processes."""
    repo.open()  # seeded once, before the race
    n = 6
    start = time.time() + 2.0
    tags = [f"w{i}-{shared_clone:d}" for i in range(n)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WORKER,
                str(remote),
                str(tmp_path / ("shared" if shared_clone else f"clone-{i}")),
                str(app_repo / "overlays"),
                tag,
                str(start),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for i, tag in enumerate(tags)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, results, strict=True):
        assert p.returncode == 0, f"worker failed:\n{out}\n{err}"
    attempts = [int(out.strip()) for out, _ in results]

    shas = deploy_log(remote, "dev")
    assert len(shas) == n, f"expected {n} deploy commits, got {len(shas)} (attempts per worker: {attempts})"
    history = sh("git", "-C", remote, "log", "--format=%H", "main").split()
    assert len(history) == n + 1  # the seed and one commit per worker: linear, nothing lost, nothing extra
    seen = []
    for sha in shas:
        text = sh("git", "-C", remote, "show", f"{sha}:{overlay_file('dev')}")
        entries = [e for e in (yaml.safe_load(text)["images"]) if e["name"] == "lab-app"]
        assert len(entries) == 1, text
        image = trailers_of(remote, sha)["Image"][0]
        assert f"{entries[0]['newName']}:{entries[0]['newTag']}" == image  # the overlay says what the trailer says
        seen.append(entries[0]["newTag"])
        rendered = render_at(remote, sha, "dev", tmp_path / "render")
        validate_rendered(rendered, image)
    assert sorted(seen) == sorted(tags)
    print(f"attempts per worker: {attempts}")


# Promote -------------------------------------------------------------------------------------------------
class FakeRegistry:
    """Tags and digests a registry would serve (the real registry is exercised in test_ship.py)."""

    def __init__(self, tags: dict[str, str]) -> None:
        self.tags = tags
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, host: str, name: str, tag: str) -> str | None:
        self.asked.append((host, name, tag))
        return self.tags.get(tag)


def test_promote_copies_the_exact_image_with_trailers(
    ctx: Context, remote: Path, repo: GitOpsRepo, tmp_path: Path
) -> None:
    spec = ImageSpec(REPO, "abc1234-20261128101500", digest_of(7))
    dev_commit = repo.bump("dev", spec, app_commit="b" * 40)
    reg = FakeRegistry({spec.new_tag: digest_of(7)})

    result = release.promote(ctx, "dev", "staging", lookup_digest=reg, repo=repo)
    assert result.changed and result.image == spec.reference and result.digest == digest_of(7)
    assert reg.asked == [("localhost:5001", "lab-app", spec.new_tag)]
    staging = sh("git", "-C", remote, "show", f"main:{overlay_file('staging')}")
    assert read_image(staging) == spec  # newName, tag and digest, exactly
    assert sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}") == sh(
        "git", "-C", remote, "show", f"{dev_commit.sha}:{overlay_file('dev')}"
    )
    trailers = trailers_of(remote, result.gitops_commit)
    assert trailers["Environment"] == ["staging"]
    assert trailers["Promoted-From"] == ["dev"]
    assert trailers["App-Commit"] == ["b" * 40]
    assert trailers["Image"] == [spec.tagged] and trailers["Image-Digest"] == [digest_of(7)]
    assert f"image: {spec.reference}" in render_at(remote, result.gitops_commit, "staging", tmp_path / "r")

    again = release.promote(ctx, "dev", "staging", lookup_digest=reg, repo=repo)
    assert not again.changed and remote_head(remote) == result.gitops_commit


def test_promote_refuses_what_is_not_in_the_registry_and_commits_nothing(
    ctx: Context, remote: Path, repo: GitOpsRepo
) -> None:
    repo.bump("dev", ImageSpec(REPO, "gone"), app_commit="b" * 40)
    before = remote_head(remote)
    with pytest.raises(RegistryError, match="has no lab-app:gone"):
        release.promote(ctx, "dev", "staging", lookup_digest=FakeRegistry({}), repo=repo)
    assert remote_head(remote) == before


def test_promote_refuses_a_tag_the_registry_serves_with_another_digest(
    ctx: Context, remote: Path, repo: GitOpsRepo
) -> None:
    repo.bump("dev", ImageSpec(REPO, "moved", digest_of(1)), app_commit="b" * 40)
    before = remote_head(remote)
    with pytest.raises(RegistryError, match="pins"):
        release.promote(ctx, "dev", "staging", lookup_digest=FakeRegistry({"moved": digest_of(2)}), repo=repo)
    assert remote_head(remote) == before


def test_promote_refuses_a_source_with_nothing_deployed(ctx: Context, remote: Path, repo: GitOpsRepo) -> None:
    repo.open()
    before = remote_head(remote)
    with pytest.raises(Refused, match="nothing deployed to dev"):
        release.promote(ctx, "dev", "staging", lookup_digest=FakeRegistry({"seed": digest_of(1)}), repo=repo)
    assert remote_head(remote) == before


@pytest.mark.parametrize(
    ("src", "dst", "says"),
    [("staging", "dev", "not forward"), ("prod", "staging", "not forward"), ("dev", "dev", "same environment")],
)
def test_promote_only_goes_forward(ctx: Context, remote: Path, repo: GitOpsRepo, src: str, dst: str, says: str) -> None:
    repo.open()
    before = remote_head(remote)
    with pytest.raises(Refused, match=says):
        release.promote(ctx, src, dst, lookup_digest=FakeRegistry({}), repo=repo)
    assert remote_head(remote) == before


def test_promote_pins_the_registrys_digest_when_the_source_is_not_pinned(
    ctx: Context, remote: Path, repo: GitOpsRepo, tmp_path: Path
) -> None:
    """promote copies tag and digest: staging runs exactly the manifest the registry serves now, whatever later
    happens to the tag."""
    repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40, digest=digest_of(1))
    result = release.promote(ctx, "dev", "staging", lookup_digest=FakeRegistry({"t1": digest_of(9)}), repo=repo)
    pinned = ImageSpec(REPO, "t1", digest_of(9))
    staging = read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('staging')}"))
    assert staging == pinned and result.image == pinned.reference and result.digest == digest_of(9)
    assert trailers_of(remote, result.gitops_commit)["Image-Digest"] == [digest_of(9)]
    assert f"image: {pinned.reference}" in render_at(remote, result.gitops_commit, "staging", tmp_path / "r")
    assert dev_image(remote) == ImageSpec(REPO, "t1")  # the source is left as it is


def test_unknown_environment_lists_the_valid_ones(ctx: Context, repo: GitOpsRepo) -> None:
    with pytest.raises(ConfigError) as info:
        release.promote(ctx, "dev", "qa", lookup_digest=FakeRegistry({}), repo=repo)
    assert "dev, staging, prod" in (info.value.hint or "")
    with pytest.raises(ConfigError):
        release.rollback(ctx, "qa", no_wait=True, lookup_digest=FakeRegistry({}), repo=repo)
    with pytest.raises(ConfigError):
        release.history(ctx, "qa", repo=repo)


# Rollback ------------------------------------------------------------------------------------------------
def dev_image(remote: Path) -> ImageSpec | None:
    return read_image(sh("git", "-C", remote, "show", f"main:{overlay_file('dev')}"))


def test_rollback_reverts_the_last_deploy_then_the_one_before(ctx: Context, remote: Path, repo: GitOpsRepo) -> None:
    repo.bump("dev", ImageSpec(REPO, "t0", digest_of(0)), app_commit="0" * 40)
    t1 = repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    t2 = repo.bump("dev", ImageSpec(REPO, "t2"), app_commit="2" * 40, digest=digest_of(2))
    reg = FakeRegistry({"t0": digest_of(0), "t1": digest_of(1), "t2": digest_of(2)})

    first = release.rollback(ctx, "dev", no_wait=True, lookup_digest=reg, repo=repo)
    assert first.rolled_back == (t2.sha,)
    assert reg.asked == [("localhost:5001", "lab-app", "t1")]  # the image it goes back to is in the registry
    assert dev_image(remote) == ImageSpec(REPO, "t1", digest_of(1))
    body = sh("git", "-C", remote, "log", "-1", "--format=%B", "main")
    assert f"This reverts commit {t2.sha}" in body
    trailers = trailers_of(remote, first.gitops_commit)
    assert trailers["Rollback-Of"] == [t2.sha] and trailers["Environment"] == ["dev"]
    assert trailers["App-Commit"] == ["1" * 40]  # the app commit of the image that serves again
    # It is a real revert: exactly the inverse diff of t2.
    assert sh("git", "-C", remote, "diff", t1.sha, "main") == ""

    second = release.rollback(ctx, "dev", no_wait=True, lookup_digest=reg, repo=repo)
    assert second.rolled_back == (t1.sha,)
    assert dev_image(remote) == ImageSpec(REPO, "t0", digest_of(0))

    # Rolling back the first deploy would write `newTag: seed`, which no registry holds: refused, nothing pushed.
    before = remote_head(remote)
    with pytest.raises(Refused, match="back on the seed image") as info:
        release.rollback(ctx, "dev", no_wait=True, lookup_digest=reg, repo=repo)
    assert info.value.exit_code == 8 and "ship a fixed version" in (info.value.hint or "")
    assert remote_head(remote) == before and dev_image(remote) == ImageSpec(REPO, "t0", digest_of(0))
    assert_clean(repo)


@pytest.mark.parametrize("to", [False, True], ids=["revert", "to"])
def test_rollback_refuses_an_image_the_registry_does_not_hold(
    ctx: Context, remote: Path, repo: GitOpsRepo, to: bool
) -> None:
    t1 = repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    repo.bump("dev", ImageSpec(REPO, "t2"), app_commit="2" * 40)
    before = remote_head(remote)
    with pytest.raises(RegistryError, match="has no lab-app:t1") as info:
        release.rollback(
            ctx, "dev", to=t1.sha if to else None, no_wait=True, lookup_digest=FakeRegistry({"t2": "x"}), repo=repo
        )
    assert info.value.exit_code == 10 and "invoke history dev" in (info.value.hint or "")
    assert remote_head(remote) == before
    assert_clean(repo)


def test_rollback_refuses_a_pinned_image_the_registry_serves_under_another_digest(
    ctx: Context, remote: Path, repo: GitOpsRepo
) -> None:
    repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    repo.bump("dev", ImageSpec(REPO, "t2"), app_commit="2" * 40)
    before = remote_head(remote)
    with pytest.raises(RegistryError, match=f"serves {digest_of(5)} for lab-app:t1"):
        release.rollback(ctx, "dev", no_wait=True, lookup_digest=FakeRegistry({"t1": digest_of(5)}), repo=repo)
    assert remote_head(remote) == before


def test_rollback_to_a_deploy_is_one_commit_undoing_everything_after_it(
    ctx: Context, remote: Path, repo: GitOpsRepo
) -> None:
    t1 = repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40, digest=digest_of(1))
    t2 = repo.bump("dev", ImageSpec(REPO, "t2"), app_commit="2" * 40)
    t3 = repo.bump("dev", ImageSpec(REPO, "t3"), app_commit="3" * 40)
    reg = FakeRegistry({"t1": digest_of(1)})
    result = release.rollback(ctx, "dev", to=t1.sha[:7], no_wait=True, lookup_digest=reg, repo=repo)
    assert reg.asked == [("localhost:5001", "lab-app", "t1")]
    assert dev_image(remote) == ImageSpec(REPO, "t1")
    assert set(trailers_of(remote, result.gitops_commit)["Rollback-Of"]) == {t2.sha, t3.sha}
    assert sh("git", "-C", remote, "rev-list", "--count", f"{t3.sha}..main").strip() == "1"
    # Back to where we already are: nothing to do.
    again = release.rollback(ctx, "dev", to=t1.sha, no_wait=True, lookup_digest=reg, repo=repo)
    assert not again.rolled_back and again.gitops_commit == remote_head(remote) == result.gitops_commit


def test_rollback_refuses_a_commit_that_is_not_a_deploy_of_that_env(
    ctx: Context, remote: Path, repo: GitOpsRepo
) -> None:
    repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    seed = sh("git", "-C", remote, "rev-list", "--max-parents=0", "main").strip()
    before = remote_head(remote)
    reg = FakeRegistry({"t1": digest_of(1)})
    with pytest.raises(Refused, match="not a deploy commit of dev"):
        release.rollback(ctx, "dev", to=seed, no_wait=True, lookup_digest=reg, repo=repo)
    with pytest.raises(Refused, match="not a deploy commit of staging"):
        release.rollback(ctx, "staging", to=before, no_wait=True, lookup_digest=reg, repo=repo)
    with pytest.raises(Refused, match="not a commit"):
        release.rollback(ctx, "dev", to="0badc0de", no_wait=True, lookup_digest=reg, repo=repo)
    assert remote_head(remote) == before


# History -------------------------------------------------------------------------------------------------
def test_history_reads_the_audit_trail_back(ctx: Context, repo: GitOpsRepo) -> None:
    t1 = repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    t2 = repo.bump("dev", ImageSpec(REPO, "t2", digest_of(2)), app_commit="2" * 40)
    back = release.rollback(ctx, "dev", no_wait=True, lookup_digest=FakeRegistry({"t1": digest_of(1)}), repo=repo)
    promoted = release.promote(ctx, "dev", "staging", lookup_digest=FakeRegistry({"t1": digest_of(1)}), repo=repo)

    rows = release.history(ctx, "dev", repo=repo)
    assert [(r.gitops_commit, r.kind, r.tag) for r in rows] == [
        (back.gitops_commit[:7], "rollback", "t1"),
        (t2.sha[:7], "deploy", "t2"),
        (t1.sha[:7], "deploy", "t1"),
    ]
    assert rows[0].note == f"rollback of {t2.sha[:7]}"
    assert rows[1].note == f"undone by {back.gitops_commit[:7]}"
    assert (rows[2].app_commit, rows[2].digest, rows[2].who) == (
        "1111111",
        digest_of(1)[:19],
        "Test Dev <dev@example.test>",
    )

    [staging] = release.history(ctx, "staging", repo=repo)
    assert (staging.gitops_commit, staging.kind, staging.note, staging.tag) == (
        promoted.gitops_commit[:7],
        "promote",
        "from dev",
        "t1",
    )
    assert "History of dev" in ctx.ui.out.getvalue()  # type: ignore[attr-defined]


class RecordingWatcher:
    """Stands in for Argo CD (whose client is tested on its own): records what the step asks, reports success."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def refresh(self, env: str) -> None:
        self.calls.append(("refresh", env))

    def sync(self, env: str) -> None:
        self.calls.append(("sync", env))

    def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
        self.calls.append(("wait", env, revision, image))
        return EnvStatus("Synced", "Healthy", revision, (image,))

    def status(self, env: str) -> EnvStatus:
        self.calls.append(("status", env))
        return EnvStatus("Synced", "Healthy", "", ())


class UnreachableWatcher(RecordingWatcher):
    """No cluster: every call is ClusterUnreachable."""

    def _down(self, what: str, env: str) -> ClusterUnreachable:
        self.calls.append((what, env))
        return ClusterUnreachable("cannot reach the Kubernetes API", hint="is the cluster running?")

    def refresh(self, env: str) -> None:
        raise self._down("refresh", env)

    def sync(self, env: str) -> None:
        raise self._down("sync", env)

    def status(self, env: str) -> EnvStatus:
        raise self._down("status", env)


def test_rollback_to_wait_with_no_cluster_changes_nothing(ctx: Context, remote: Path, repo: GitOpsRepo) -> None:
    """Asked before the revert: a second run cannot undo another deploy after a first one failed on the wait."""
    repo.bump("dev", ImageSpec(REPO, "good"), app_commit="1" * 40)
    repo.bump("dev", ImageSpec(REPO, "bad"), app_commit="2" * 40)
    before = remote_head(remote)
    watcher = UnreachableWatcher()
    for _ in range(2):
        with pytest.raises(ClusterUnreachable) as info:
            release.rollback(ctx, "dev", watcher=watcher, lookup_digest=FakeRegistry({"good": "x"}), repo=repo)
        assert info.value.exit_code == 12 and "nothing was changed" in (info.value.hint or "")
    assert remote_head(remote) == before and dev_image(remote) == ImageSpec(REPO, "bad")
    assert watcher.calls == [("status", "dev"), ("status", "dev")]


@pytest.mark.parametrize(("env", "trigger"), [("dev", "refresh"), ("staging", "sync")])
def test_rollback_no_wait_still_refreshes_and_tolerates_no_cluster(
    ctx: Context, remote: Path, repo: GitOpsRepo, env: str, trigger: str
) -> None:
    """Like ship --no-wait: the commit is pushed, Argo CD is told at once (dev refreshed, staging/prod synced), and
    a cluster that is not there is a warning."""
    repo.bump(env, ImageSpec(REPO, "good"), app_commit="1" * 40)
    repo.bump(env, ImageSpec(REPO, "bad"), app_commit="2" * 40)
    reg = FakeRegistry({"good": digest_of(1)})
    watcher = RecordingWatcher()
    result = release.rollback(ctx, env, watcher=watcher, no_wait=True, lookup_digest=reg, repo=repo)
    assert watcher.calls == [(trigger, env)]  # no status asked, no wait
    assert result.seconds_to_serving is None and result.gitops_commit == remote_head(remote)

    repo.bump(env, ImageSpec(REPO, "bad"), app_commit="2" * 40)
    down = UnreachableWatcher()
    result = release.rollback(ctx, env, watcher=down, no_wait=True, lookup_digest=reg, repo=repo)
    assert down.calls == [(trigger, env)]
    assert result.gitops_commit == remote_head(remote)
    assert read_image(sh("git", "-C", remote, "show", f"main:{overlay_file(env)}")) == ImageSpec(REPO, "good")
    warned = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert "no cluster reachable" in warned
    assert ("invoke sync staging" in warned) == (env == "staging")


@pytest.mark.parametrize("kind", [RecordingWatcher, UnreachableWatcher], ids=["cluster", "no-cluster"])
def test_rollback_no_wait_to_where_the_env_is_says_only_that(
    ctx: Context, remote: Path, repo: GitOpsRepo, kind: type[RecordingWatcher]
) -> None:
    """`rollback dev --to HEAD --no-wait`: nothing is committed, so nothing is pushed and Argo CD has nothing new."""
    repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    head = remote_head(remote)
    assert head is not None
    watcher = kind()
    result = release.rollback(
        ctx, "dev", to="HEAD", watcher=watcher, no_wait=True, lookup_digest=FakeRegistry({"t1": "x"}), repo=repo
    )
    assert result.gitops_commit == head == remote_head(remote) and result.rolled_back == ()
    said = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert f"dev already deploys {REPO}:t1: nothing to roll back" in said
    assert "pushed" not in said and "deploy the rollback" not in said, said
    assert watcher.calls == []


@pytest.mark.parametrize(("env", "trigger"), [("dev", "refresh"), ("staging", "sync")])
def test_rollback_syncs_and_reports_the_time_to_the_old_image(
    ctx: Context, remote: Path, repo: GitOpsRepo, env: str, trigger: str
) -> None:
    repo.bump(env, ImageSpec(REPO, "good"), app_commit="1" * 40)
    repo.bump(env, ImageSpec(REPO, "bad"), app_commit="2" * 40)
    watcher = RecordingWatcher()
    clock = iter([100.0, 112.5])
    reg = FakeRegistry({"good": digest_of(1)})
    result = release.rollback(ctx, env, watcher=watcher, lookup_digest=reg, repo=repo, monotonic=lambda: next(clock))
    # The cluster is asked first; dev syncs by itself once refreshed; staging and prod sync by hand.
    assert watcher.calls == [("status", env), (trigger, env), ("wait", env, result.gitops_commit, f"{REPO}:good")]
    assert result.gitops_commit == remote_head(remote)
    assert result.seconds_to_serving == 12.5
    assert "12.5s after the rollback started" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]


class StatusWatcher(RecordingWatcher):
    def __init__(self, status: EnvStatus) -> None:
        super().__init__()
        self._status = status

    def status(self, env: str) -> EnvStatus:
        return self._status


@pytest.mark.parametrize(
    ("status", "refusal"),
    [
        (EnvStatus("Synced", "Degraded", "", (f"{REPO}:t1",)), "dev is Degraded"),
        (EnvStatus("Synced", "Healthy", "", (f"{REPO}:t0",)), f"dev runs {REPO}:t0"),
        (EnvStatus("Synced", "Healthy", "", (f"{REPO}:t1",)), None),
    ],
)
def test_promote_with_a_cluster_copies_only_what_runs_healthy(
    ctx: Context, remote: Path, repo: GitOpsRepo, status: EnvStatus, refusal: str | None
) -> None:
    repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    before = remote_head(remote)
    reg = FakeRegistry({"t1": digest_of(1)})
    if refusal is None:
        result = release.promote(ctx, "dev", "staging", watcher=StatusWatcher(status), lookup_digest=reg, repo=repo)
        assert result.changed and remote_head(remote) == result.gitops_commit != before
        return
    with pytest.raises(Refused, match=refusal):
        release.promote(ctx, "dev", "staging", watcher=StatusWatcher(status), lookup_digest=reg, repo=repo)
    assert remote_head(remote) == before


def test_read_only_commands_do_not_seed_an_empty_remote(ctx: Context, remote: Path, repo: GitOpsRepo) -> None:
    assert release.history(ctx, "dev", repo=repo) == []
    with pytest.raises(Refused, match="empty: nothing deployed yet"):
        release.promote(ctx, "dev", "staging", lookup_digest=FakeRegistry({}), repo=repo)
    with pytest.raises(Refused, match="empty"):
        release.rollback(ctx, "dev", no_wait=True, lookup_digest=FakeRegistry({}), repo=repo)
    assert remote_head(remote) is None


def test_history_shows_argo_cds_syncs_and_what_is_live(ctx: Context, repo: GitOpsRepo) -> None:
    """Argo CD syncs whole commits: a later commit that changed only staging still deploys dev's last change."""
    t1 = repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    t2 = repo.bump("dev", ImageSpec(REPO, "t2", digest_of(2)), app_commit="2" * 40)
    staging = release.promote(ctx, "dev", "staging", lookup_digest=FakeRegistry({"t2": digest_of(2)}), repo=repo)
    synced = ((t1.sha, "2026-11-28T10:00:00Z"), (staging.gitops_commit, "2026-11-28T10:05:00Z"))
    watcher = StatusWatcher(EnvStatus("Synced", "Healthy", staging.gitops_commit, (f"{REPO}:t2",), synced))

    rows = release.history(ctx, "dev", watcher=watcher, repo=repo)
    assert [(r.gitops_commit, r.note) for r in rows] == [
        (t2.sha[:7], "synced by Argo CD 2026-11-28T10:05:00Z; live"),
        (t1.sha[:7], "synced by Argo CD 2026-11-28T10:00:00Z"),
    ]


# Local work in the working clone -------------------------------------------------------------------------
def local_work(repo: GitOpsRepo) -> str:
    """A commit made by hand in the lab's working clone (not pushed) and an uncommitted edit on top; returns the
    commit's sha."""
    work = repo.workdir
    (work / "NOTES.md").write_text("my notes\n")
    sh("git", "-C", work, "add", "NOTES.md")
    sh("git", "-C", work, "commit", "--quiet", "-m", "local notes")
    (work / "README.md").write_text("edited by hand\n")
    return sh("git", "-C", work, "rev-parse", "HEAD").strip()


def test_history_is_read_only_it_keeps_local_commits_and_edits(
    ctx: Context, remote: Path, repo: GitOpsRepo, app_repo: Path, tmp_path: Path
) -> None:
    """`invoke history` reads the remote's log (fetched into origin/main) and changes nothing in the clone."""
    t1 = repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    local = local_work(repo)
    rival = new_repo(remote, tmp_path / "rival", app_repo)
    t2 = rival.bump("dev", ImageSpec(REPO, "t2", digest_of(2)), app_commit="2" * 40)  # someone else deploys

    rows = release.history(ctx, "dev", repo=repo)
    assert [(r.gitops_commit, r.tag) for r in rows] == [(t2.sha[:7], "t2"), (t1.sha[:7], "t1")]  # the remote's
    work = repo.workdir
    assert sh("git", "-C", work, "rev-parse", "HEAD").strip() == local
    assert (work / "README.md").read_text() == "edited by hand\n"
    assert sh("git", "-C", work, "status", "--porcelain").splitlines() == [" M README.md"]
    assert remote_head(remote) == t2.sha


def test_a_task_that_resets_the_clone_keeps_local_work_on_a_branch_and_says_so(
    ctx: Context, remote: Path, repo: GitOpsRepo
) -> None:
    repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    local = local_work(repo)

    committed = repo.bump("dev", ImageSpec(REPO, "t2", digest_of(2)), app_commit="2" * 40)
    assert committed.changed and remote_head(remote) == committed.sha
    assert "NOTES.md" not in sh("git", "-C", remote, "ls-tree", "--name-only", "main")  # nothing of it pushed
    assert_clean(repo)

    work = repo.workdir
    [saved] = sh("git", "-C", work, "for-each-ref", "--format=%(refname:short)", "refs/heads/lab-saved/").split()
    # The branch holds the local commit and, on top of it, the uncommitted edit.
    assert sh("git", "-C", work, "rev-parse", f"{saved}~1").strip() == local
    assert sh("git", "-C", work, "show", f"{saved}:README.md") == "edited by hand\n"
    assert sh("git", "-C", work, "show", f"{saved}:NOTES.md") == "my notes\n"
    said = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert f"git -C {work} log {saved}" in said and "1 local commit" in said and "uncommitted" in said, said


def test_a_clean_clone_is_reset_without_saving_anything(ctx: Context, repo: GitOpsRepo) -> None:
    repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    repo.bump("dev", ImageSpec(REPO, "t2", digest_of(2)), app_commit="2" * 40)
    assert sh("git", "-C", repo.workdir, "branch", "--list", "lab-saved/*") == ""
    assert "lab-saved" not in ctx.ui.err.getvalue()  # type: ignore[attr-defined]


# Ctrl-C during a change -------------------------------------------------------------------------------------
class InterruptingRunner(SubprocessRunner):
    """A real runner that raises KeyboardInterrupt, as Ctrl-C does, at the next `git push` once armed: BEFORE running
    it (the commit never leaves the clone) or AFTER it ran (the commit is on the remote, git push did not return)."""

    def __init__(self, when: str) -> None:
        super().__init__()
        self.when = when
        self.armed = False

    def run(self, argv, **kw):  # type: ignore[no-untyped-def]
        if self.armed and "push" in [str(a) for a in argv]:
            self.armed = False
            if self.when == "after":
                super().run(argv, **kw)
            raise KeyboardInterrupt
        return super().run(argv, **kw)


def saved_branches(repo: GitOpsRepo) -> list[str]:
    return sh("git", "-C", repo.workdir, "for-each-ref", "--format=%(refname:short)", "refs/heads/lab-saved/").split()


@pytest.mark.parametrize("when", ["before", "after"])
def test_ctrl_c_during_the_push_says_whether_the_commit_reached_the_remote_and_leaves_no_local_commit(
    remote: Path, app_repo: Path, tmp_path: Path, when: str
) -> None:
    runner = InterruptingRunner(when)
    repo = new_repo(remote, tmp_path / "clone", app_repo, runner=runner)
    repo.open()  # seeded
    before = remote_head(remote)
    runner.armed = True
    caught: BaseException | None = None
    try:
        repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    except BaseException as exc:  # a bare KeyboardInterrupt is what the lab used to let through
        caught = exc
    assert isinstance(caught, Interrupted), repr(caught)
    assert caught.exit_code == 130
    message = caught.render()
    if when == "before":
        # Not there after the lab looked again for a moment; a push stopped mid-way may still land on a remote
        # that had the pack, so the lab says it cannot tell, and how to find out.
        assert remote_head(remote) == before
        assert "was not on the GitOps remote" in message and "`invoke history dev` shows whether it arrived" in message
        assert caught.pushed is None
    else:
        head = remote_head(remote)
        assert head != before and dev_image(remote) == ImageSpec(REPO, "t1")
        assert f"the commit {head[:7]} (deploy(dev): lab-app t1) had reached the GitOps remote" in message, message
        assert "`invoke history dev`" in message and caught.pushed is True
    assert_clean(repo)  # no unpushed commit left behind: HEAD is the remote head
    # ... so the next command does not stumble on it: nothing to keep aside, its own commit lands on top.
    committed = repo.bump("dev", ImageSpec(REPO, "t2"), app_commit="2" * 40)
    assert committed.changed and remote_head(remote) == committed.sha
    assert saved_branches(repo) == []


def test_ctrl_c_before_the_push_drops_the_half_made_change(remote: Path, app_repo: Path, tmp_path: Path) -> None:
    class RenderInterrupted(SubprocessRunner):
        armed = False

        def run(self, argv, **kw):  # type: ignore[no-untyped-def]
            if self.armed and "kustomize" in argv:
                raise KeyboardInterrupt
            return super().run(argv, **kw)

    runner = RenderInterrupted()
    repo = new_repo(remote, tmp_path / "clone", app_repo, runner=runner)
    repo.open()
    before = remote_head(remote)
    runner.armed = True
    caught: BaseException | None = None
    try:
        repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    except BaseException as exc:
        caught = exc
    assert isinstance(caught, Interrupted) and "before anything was pushed" in caught.message, repr(caught)
    assert remote_head(remote) == before
    assert_clean(repo)  # the edited overlay is gone


WORKER_INTERRUPTED = """
import sys
from pathlib import Path
from lab.core.errors import Interrupted
from lab.gitops.overlay import ImageSpec
from lab.gitops.repo import GitOpsRepo
from lab.core.runner import SubprocessRunner
from lab.tools.git import Identity

remote, workdir, seed = sys.argv[1:4]
repo = GitOpsRepo(SubprocessRunner(), remote, Path(workdir), Path(seed), "a" * 40, author=Identity("w", "w@x.test"))
try:
    repo.bump("dev", ImageSpec("localhost:5001/lab-app", "t1"), app_commit="1" * 40)
except Interrupted as exc:
    print(exc.render())
    sys.exit(exc.exit_code)
"""


def wait_for(path: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout}s"
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("hook_name", "accept"),
    [("pre-receive", False), ("pre-receive", True), ("post-receive", True)],
    ids=["pre-receive-refuses", "pre-receive-accepts-later", "post-receive"],
)
def test_a_real_sigint_during_the_push_reports_what_reached_the_remote(
    remote: Path, repo: GitOpsRepo, app_repo: Path, tmp_path: Path, hook_name: str, accept: bool
) -> None:
    """SIGINT to a process whose `git push` hangs in the remote's hook: in pre-receive (the ref is not updated yet;
    once the lab has answered, the hook refuses, or accepts: the remote already had the pack, so the commit lands
    after the lab looked), or in post-receive (the ref is updated, git push has not returned yet). Where the lab
    cannot know, it must not claim that the commit did not reach the remote."""
    repo.open()  # seeded
    before = remote_head(remote)
    hanging, done, release_ = tmp_path / "hanging", tmp_path / "hook-done", tmp_path / "release"
    hook = remote / "hooks" / hook_name
    hook.write_text(
        f"#!/bin/sh\ncat >/dev/null\ntouch '{hanging}'\ni=0\n"
        f"while [ $i -lt 200 ] && [ ! -e '{release_}' ]; do sleep 0.05; i=$((i+1)); done\n"
        f"touch '{done}'\nexit {0 if accept else 1}\n"
    )
    hook.chmod(0o755)
    workdir = tmp_path / "worker-clone"
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER_INTERRUPTED, str(remote), str(workdir), str(app_repo / "overlays")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    try:
        wait_for(hanging, 60)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        release_.touch()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        wait_for(done, 15)  # the hook (a child of the remote's receive-pack) has ended
    assert proc.returncode == 130, f"{out}\n{err}"
    if hook_name == "pre-receive":
        # The hook has ended, but receive-pack updates the ref only after it: an accepting hook's update may still
        # be on its way (bounded wait); a refusing hook's never comes.
        deadline = time.monotonic() + 15
        while accept and remote_head(remote) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (remote_head(remote) != before) is accept  # after the lab answered, the remote decided
        assert "did not reach" not in out and "nothing changed in the GitOps repo" not in out, out
        assert "was not on the GitOps remote" in out and "can still land" in out, out
        assert "`invoke history dev` shows whether it arrived" in out, out
    else:
        head = remote_head(remote)
        assert head != before
        assert f"the commit {head[:7]} (deploy(dev): lab-app t1) had reached the GitOps remote" in out, out
    worker = new_repo(remote, workdir, app_repo)
    assert sh("git", "-C", workdir, "status", "--porcelain") == ""
    assert sh("git", "-C", workdir, "rev-parse", "HEAD") == sh("git", "-C", workdir, "rev-parse", "origin/main")
    assert saved_branches(worker) == []


# A GitOps remote that needs a password -----------------------------------------------------------------------
PASSWORD = "s3cr@t-Pa55:word"  # '@' and ':' must be percent-encoded in a URL; git decodes them


@pytest.fixture
def auth_server(tmp_path: Path) -> Iterator[GitHttpServer]:
    """A smart-HTTP git server requiring ada:PASSWORD, serving an empty bare gitops.git."""
    root = tmp_path / "srv"
    sh("git", "init", "--quiet", "--bare", "-b", "main", root / "gitops.git")
    with serve_git_http(root, username="ada", password=PASSWORD) as server:
        yield server


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose git config stores every credential git uses in ~/.git-credentials (credential.helper=store)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.delenv("GIT_CONFIG_GLOBAL", raising=False)
    return home


def auth_ctx(tmp_path: Path, url: str) -> Context:
    settings = load_settings(
        {"state_dir": tmp_path / "state", "gitops_remote": url}, environ={}, config_file=tmp_path / "none.toml"
    )
    return Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))


def holding(root: Path, secret: str) -> list[str]:
    """Files under ROOT whose bytes contain SECRET (plain or percent-encoded)."""
    needles = {secret.encode(), quote(secret, safe="").encode()}
    return [str(f) for f in root.rglob("*") if f.is_file() and any(n in f.read_bytes() for n in needles)]


def test_a_password_in_the_remote_url_authenticates_git_and_is_written_nowhere(
    tmp_path: Path, auth_server: GitHttpServer, user_home: Path, app_repo: Path
) -> None:
    clean = f"http://127.0.0.1:{auth_server.port}/gitops.git"
    ctx = auth_ctx(tmp_path, f"http://ada:{quote(PASSWORD, safe='')}@127.0.0.1:{auth_server.port}/gitops.git")
    assert ctx.settings.gitops_url == clean
    repo = gitops_repo(ctx, app_root=app_repo)
    assert repo.url == clean
    committed = repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)  # clone, seed, bump
    [row] = release.history(ctx, "dev", repo=repo)

    served = tmp_path / "srv" / "gitops.git"
    assert remote_head(served) == committed.sha and row.gitops_commit == committed.sha[:7]
    assert auth_server.denied and auth_server.served  # the server did ask for the password, and got it
    assert sh("git", "-C", repo.workdir, "remote", "get-url", "origin").strip() == clean
    assert holding(tmp_path / "state", PASSWORD) == []  # .git/config, reflogs, FETCH_HEAD: no password
    assert not (user_home / ".git-credentials").exists()  # the user's own helpers never saw it
    said = ctx.ui.err.getvalue() + ctx.ui.out.getvalue()  # type: ignore[attr-defined]
    assert clean in said and PASSWORD not in said and quote(PASSWORD, safe="") not in said, said


def test_a_wrong_password_is_an_error_that_does_not_show_it(
    tmp_path: Path, auth_server: GitHttpServer, user_home: Path, app_repo: Path
) -> None:
    wrong = "not-the-Passw0rd"
    ctx = auth_ctx(tmp_path, f"http://ada:{wrong}@127.0.0.1:{auth_server.port}/gitops.git")
    with pytest.raises(GitOpsError, match="cannot clone the GitOps repo") as info:
        gitops_repo(ctx, app_root=app_repo).open()
    text = info.value.render()
    assert "Authentication failed" in text and wrong not in text, text
    assert auth_server.served == []


def test_a_clone_an_older_lab_made_with_the_password_in_its_url_loses_it(
    tmp_path: Path, auth_server: GitHttpServer, user_home: Path, app_repo: Path
) -> None:
    with_password = f"http://ada:{quote(PASSWORD, safe='')}@127.0.0.1:{auth_server.port}/gitops.git"
    ctx = auth_ctx(tmp_path, with_password)
    gitops_repo(ctx, app_root=app_repo).open()  # seeds
    workdir = default_workdir(tmp_path / "state")
    sh("git", "-C", workdir, "remote", "set-url", "origin", with_password)  # what the lab used to store
    assert holding(workdir / ".git", PASSWORD)

    repo = gitops_repo(ctx, app_root=app_repo)
    repo.open()
    assert holding(workdir / ".git", PASSWORD) == []
    said = ctx.ui.err.getvalue()  # type: ignore[attr-defined]
    assert "switching its origin" in said and PASSWORD not in said and quote(PASSWORD, safe="") not in said, said
    assert saved_branches(repo) == []  # same remote: nothing to keep aside
    repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    assert dev_image(tmp_path / "srv" / "gitops.git") == ImageSpec(REPO, "t1")


# Dry runs: the real code path on a scratch copy of the remote; nothing pushed ----------------------------------
def dry_run_of(ctx: Context) -> tuple[Context, io.StringIO]:
    """The same settings with the dry run's runner; commands, shown commits and progress go to one stream."""
    out = io.StringIO()
    return Context(ctx.settings, DryRunRunner(out=out), UI(err=out, out=out)), out


def clone_state(repo: GitOpsRepo) -> tuple[str, str]:
    return sh("git", "-C", repo.workdir, "rev-parse", "HEAD"), sh("git", "-C", repo.workdir, "status", "--porcelain")


def test_rollback_dry_run_shows_the_revert_it_would_push_and_pushes_nothing(
    ctx: Context, remote: Path, repo: GitOpsRepo, app_repo: Path
) -> None:
    repo.bump("dev", ImageSpec(REPO, "t1", digest_of(1)), app_commit="1" * 40)
    t2 = repo.bump("dev", ImageSpec(REPO, "t2"), app_commit="2" * 40, digest=digest_of(2))
    before, clone = remote_head(remote), clone_state(repo)
    dry, out = dry_run_of(ctx)
    reg, watcher = FakeRegistry({}), RecordingWatcher()

    result = release.rollback(dry, "dev", watcher=watcher, lookup_digest=reg, app_root=app_repo)

    # Computed from the remote's real history: the revert of t2, back to t1 as t1's deploy pinned it.
    assert result.rolled_back == (t2.sha,) and result.image == ImageSpec(REPO, "t1", digest_of(1)).reference
    text = out.getvalue()
    assert "rollback(dev): lab-app t1" in text and f"This reverts commit {t2.sha}" in text, text
    assert f"Rollback-Of: {t2.sha}" in text and "Environment: dev" in text
    assert '-    newTag: "t2"' in text and '+    newTag: "t1"' in text
    assert f"$ GIT_TERMINAL_PROMPT=0 git -C {repo.workdir} push --porcelain origin HEAD:refs/heads/main" in text
    # Nothing changed anywhere: not the remote, not the working clone; neither Argo CD nor the registry was asked,
    # and the dry run says so instead of pretending.
    assert remote_head(remote) == before and clone_state(repo) == clone
    assert watcher.calls == [] and reg.asked == []
    assert "Refresh dev in Argo CD — skipped (dry run" in text
    assert "Wait for dev to run localhost:5001/lab-app:t1@" in text and "skipped (dry run: the real run waits" in text
    assert "the real run refuses unless it serves it" in text
    assert "no deploy left" not in text


def test_rollback_dry_run_refuses_what_the_real_run_refuses(ctx: Context, remote: Path, repo: GitOpsRepo) -> None:
    repo.bump("dev", ImageSpec(REPO, "t0"), app_commit="0" * 40)
    dry, _ = dry_run_of(ctx)
    with pytest.raises(Refused, match="back on the seed image"):
        release.rollback(dry, "dev", no_wait=True, lookup_digest=FakeRegistry({}), app_root=ROOT)


def test_promote_dry_run_shows_the_real_bump_and_pushes_nothing(
    ctx: Context, remote: Path, repo: GitOpsRepo, app_repo: Path
) -> None:
    dev = repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40, digest=digest_of(1))
    before, clone = remote_head(remote), clone_state(repo)
    dry, out = dry_run_of(ctx)
    watcher = RecordingWatcher()

    result = release.promote(dry, "dev", "staging", watcher=watcher, lookup_digest=FakeRegistry({}), app_root=app_repo)

    assert result.changed and result.image == f"{REPO}:t1"
    text = out.getvalue()
    assert "promote(staging): lab-app t1 from dev" in text and f"GitOps commit {dev.sha[:7]}" in text, text
    assert "Promoted-From: dev" in text and "App-Commit: " + "1" * 40 in text
    assert '-    newTag: "seed"' in text and '+    newTag: "t1"' in text
    assert "nothing to commit" not in text
    assert remote_head(remote) == before and clone_state(repo) == clone and watcher.calls == []
    assert "Check dev is Healthy and runs it — skipped (dry run" in text
    assert "Check the registry has localhost:5001/lab-app:t1 — skipped (dry run" in text


def test_a_dry_run_on_an_unreachable_remote_fails_as_the_real_run(ctx: Context, tmp_path: Path, app_repo: Path) -> None:
    """Only `up` plans for a remote it cannot read yet (it starts the lab's git server first: test_lab_up)."""
    from dataclasses import replace

    from lab.steps.ship import ship

    gone = Context(replace(ctx.settings, gitops_remote=str(tmp_path / "no-such.git")), ctx.runner, ctx.ui)
    dry, _ = dry_run_of(gone)
    with pytest.raises(GitOpsError, match="cannot clone the GitOps repo"):
        release.promote(dry, "dev", "staging", lookup_digest=FakeRegistry({}), app_root=app_repo)
    with pytest.raises(GitOpsError, match="cannot clone the GitOps repo"):
        release.rollback(dry, "dev", no_wait=True, lookup_digest=FakeRegistry({}), app_root=app_repo)
    with pytest.raises(GitOpsError, match="cannot clone the GitOps repo"):
        ship(dry, app_root=app_repo, gate=(), no_wait=True, allow_dirty=True)
    assert not (tmp_path / "state").exists()


def test_up_dry_run_plans_the_first_deploy_from_the_gitops_repo(
    ctx: Context, remote: Path, repo: GitOpsRepo, app_repo: Path
) -> None:
    """An `up` interrupted after the first ship: dev deploys t1, staging and prod still have the seed. Its dry run
    reads that from the remote and plans exactly the promotions the real `up` would commit."""
    from lab.steps import lab

    repo.bump("dev", ImageSpec(REPO, "t1"), app_commit="1" * 40, digest=digest_of(1))
    before = remote_head(remote)
    dry, out = dry_run_of(ctx)

    assert lab._first_deploy(dry, app_repo) is None  # dev has an image: nothing is built

    text = out.getvalue()
    subjects = re.findall(r"^# --- GitOps commit \w{7} (.*?) \(dry run: not pushed", text, re.M)
    assert subjects == ["promote(staging): lab-app t1 from dev", "promote(prod): lab-app t1 from staging"], text
    assert "docker build" not in text and "nothing to commit" not in text
    assert remote_head(remote) == before


class ClusterReads(FakeRunner):
    """A dry run's reads: git and `kubectl kustomize` for real, the cluster's answers scripted by argv."""

    def run(self, argv: Any, **kw: Any) -> Any:
        if argv[0] == "git" or list(argv[1:2]) == ["kustomize"]:
            return SubprocessRunner().run(argv, **kw)
        return super().run(argv, **kw)


def sync_dry_run(ctx: Context, app_repo: Path, reads: ClusterReads) -> tuple[str, Context]:
    out = io.StringIO()
    dry = Context(ctx.settings, DryRunRunner(out=out, reads=reads), UI(err=out, out=out))
    from lab.steps import lab

    lab.sync(dry, "staging", app_root=app_repo)
    return out.getvalue(), dry


def test_sync_dry_run_diffs_for_real_against_the_live_cluster(
    ctx: Context, remote: Path, repo: GitOpsRepo, app_repo: Path
) -> None:
    repo.bump("staging", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    kube = [kubectl_binary(), "--context", ctx.settings.kube_context]
    reads = ClusterReads()
    reads.script([*kube, "get", "--raw", "/readyz"], stdout="ok")
    reads.script([*kube, "get", "namespace", "lab-staging"], stdout='{"kind": "Namespace"}')
    reads.script(
        [*kube, "diff"], returncode=1, stdout="-        image: localhost:5001/lab-app:seed\n+        image: x:t1\n"
    )

    text, dry = sync_dry_run(ctx, app_repo, reads)

    diff = reads.assert_called(*kube, "diff", "-f", "-")
    assert f"image: {REPO}:t1" in (diff.input or "")  # what it diffed: staging as the GitOps repo has it now
    assert "+        image: x:t1" in text and "no differences" not in text, text
    assert dry.ui.phases[0].note == "differences above"
    # The sync itself is only shown: the requests to Argo CD's API server as staging's persona, nothing sent.
    assert '/api/v1/session {"username": "senior", "password": "<redacted>"}' in text, text
    assert "/api/v1/applications/lab-staging/sync (Authorization: Bearer <token>)" in text, text
    reads.assert_not_called(*kube, "patch")


def test_sync_dry_run_without_a_cluster_says_it_did_not_diff(
    ctx: Context, remote: Path, repo: GitOpsRepo, app_repo: Path
) -> None:
    repo.bump("staging", ImageSpec(REPO, "t1"), app_commit="1" * 40)
    reads = ClusterReads()
    reads.script([kubectl_binary()], returncode=1, stderr="The connection to the server was refused")

    text, dry = sync_dry_run(ctx, app_repo, reads)

    assert f"image: {REPO}:t1" in text  # the rendered overlay: what a sync would apply
    assert "no differences" not in text and "✓ Diff: staging" not in text, text
    phase = dry.ui.phases[0]
    assert phase.skipped and phase.note.startswith("skipped (dry run: no cluster answers on context kind-gitops-lab")
    reads.assert_not_called(kubectl_binary(), "--context", "kind-gitops-lab", "diff")
