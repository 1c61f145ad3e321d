"""`invoke demo-netpol`'s GitOps side on real git and the real render: the allow commit and its `git revert` through
the lab's transaction (lab/gitops/repo.py: render + validate, secret scan, trailers, push) on a bare remote seeded
from this project's overlays/. kubectl and the network are the strict fakes of tests/unit/test_netpol.py; what the
fake network admits is read from `kubectl kustomize` of the remote at the revision Argo CD was told to sync."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml
from fakes import Clock, FakeRunner
from unit.test_netpol import Network, Watcher, scripted

from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.runner import DryRunRunner, SubprocessRunner
from lab.core.ui import UI
from lab.gitops.repo import GitOpsRepo
from lab.steps import netpol
from lab.steps.ship import gitops_repo
from lab.tools.kubectl import kubectl_binary

pytestmark = pytest.mark.integration  # real git and kubectl kustomize

ROOT = Path(__file__).resolve().parents[2]


def sh(*argv: str | Path) -> str:
    return subprocess.run([str(a) for a in argv], capture_output=True, text=True, check=True).stdout.strip()


def rendered(remote: Path, sha: str, env: str, scratch: Path) -> list[dict[str, object]]:
    tree = scratch / sha[:12]
    tree.mkdir(parents=True)
    data = subprocess.run(["git", "-C", str(remote), "archive", sha, "overlays"], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(data.stdout)) as tar:
        tar.extractall(tree, filter="data")
    out = sh(kubectl_binary(), "kustomize", tree / "overlays" / env)
    return [d for d in yaml.safe_load_all(out) if d]


class RenderedNetwork(Network):
    """Admits the client when the revision synced renders the demo's NetworkPolicy."""

    def __init__(self, repo: GitOpsRepo, remote: Path, scratch: Path, env: str) -> None:
        super().__init__(repo)  # type: ignore[arg-type]
        self.remote, self.scratch, self.env = remote, scratch, env
        self.policies: list[dict[str, object]] = []

    def synced(self, sha: str) -> None:
        docs = rendered(self.remote, sha, self.env, self.scratch)
        found = [d for d in docs if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == netpol.POLICY_NAME]  # type: ignore[index]
        self.policies = found
        self.allowed = bool(found)


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Context, FakeRunner, GitOpsRepo, Path]:
    remote = tmp_path / "gitops.git"
    sh("git", "init", "--quiet", "--bare", "-b", "main", remote)
    app = tmp_path / "app-repo"
    shutil.copytree(ROOT / "overlays", app / "overlays", ignore=shutil.ignore_patterns("__pycache__"))
    sh("git", "init", "--quiet", "-b", "main", app)
    sh("git", "-C", app, "-c", "user.name=T", "-c", "user.email=t@example.test", "add", "-A")
    sh("git", "-C", app, "-c", "user.name=T", "-c", "user.email=t@example.test", "commit", "--quiet", "-m", "app")
    settings = load_settings(
        {"state_dir": tmp_path / "state", "gitops_remote": str(remote)}, environ={}, config_file=tmp_path / "none.toml"
    )
    real = Context(settings, SubprocessRunner(), UI(err=io.StringIO(), out=io.StringIO()))
    repo = gitops_repo(real, app_root=app)
    repo.open()  # seeds the remote from overlays/, as `invoke up` does
    runner = FakeRunner()
    return Context(settings, runner, UI(err=io.StringIO(), out=io.StringIO())), runner, repo, remote


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_the_allow_renders_in_the_env_and_the_revert_removes_it(
    setup: tuple[Context, FakeRunner, GitOpsRepo, Path], tmp_path: Path, env: str
) -> None:
    ctx, runner, repo, remote = setup
    seed = sh("git", "-C", remote, "rev-parse", "main")
    network = RenderedNetwork(repo, remote, tmp_path / "renders", env)
    runner.responders.append(network.answer)
    scripted(runner)
    clock = Clock()

    result = netpol.demo_netpol(ctx, env, watcher=Watcher(network), repo=repo, clock=clock, sleep=clock.sleep)

    assert [p.outcome for p in (result.before, result.allowed, result.after)] == ["blocked", "allowed", "blocked"]
    log = sh("git", "-C", remote, "log", "--format=%H %s", f"{seed}..main").splitlines()
    assert [line.split(" ", 1)[1] for line in log] == [
        f"netpol({env}): revert the allow of {netpol.DEMO_NAMESPACE}",
        f"netpol({env}): allow {netpol.DEMO_NAMESPACE} to reach lab-app",
    ]
    assert [line.split()[0] for line in log] == [result.revert_commit, result.allow_commit]
    # the allow, as Argo CD renders it: in the env's namespace, admitting the demo namespace on the app port
    allow = rendered(remote, result.allow_commit, env, tmp_path / "check")
    (policy,) = (d for d in allow if d["metadata"]["name"] == netpol.POLICY_NAME)  # type: ignore[index]
    assert policy["metadata"]["namespace"] == f"lab-{env}"  # type: ignore[index]
    assert policy["spec"]["ingress"] == [  # type: ignore[index]
        {
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": netpol.DEMO_NAMESPACE}}}],
            "ports": [{"port": "http", "protocol": "TCP"}],
        }
    ]
    trailers = sh("git", "-C", remote, "log", "-1", "--format=%(trailers)", result.allow_commit)
    assert trailers.splitlines() == [f"Deployed-By: {repo.author}", "Lesson: demo-netpol"]
    # the revert is a real `git revert`: the tree is the seed's again
    assert sh("git", "-C", remote, "diff", seed, "main", "--stat") == ""
    assert sh("git", "-C", remote, "log", "-1", "--format=%b", "main").startswith(
        f"This reverts commit {result.allow_commit}."
    )


def test_a_dry_run_rehearses_both_commits_on_a_scratch_copy_and_leaves_the_remote_alone(
    setup: tuple[Context, FakeRunner, GitOpsRepo, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    real_ctx, _, _, remote = setup
    before = sh("git", "-C", remote, "rev-parse", "main")
    dry = DryRunRunner()
    ctx = Context(real_ctx.settings, dry, UI(err=io.StringIO(), out=io.StringIO()))
    repo = gitops_repo(ctx, app_root=ROOT)

    result = netpol.demo_netpol(ctx, "dev", watcher=None, repo=repo, clock=Clock(), sleep=Clock().sleep)

    assert sh("git", "-C", remote, "rev-parse", "main") == before  # nothing reached the remote
    assert result.allow_commit and result.revert_commit  # both commits were made, on the rehearsal's copy
    printed = capsys.readouterr().out
    kubectl = [line.split() for line in printed.splitlines() if line.startswith("$ ")]
    verbs = [words[4] for words in kubectl if words[1].endswith("kubectl") and words[2] == "--context"]
    assert verbs[:3] == ["delete", "apply", "wait"] and verbs.count("exec") == 3 and verbs[-1] == "delete", printed
