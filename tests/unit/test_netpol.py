"""`invoke demo-netpol` (lab/steps/netpol.py) against the strict FakeRunner (every kubectl command scripted, the
connection checks answered by a fake network that follows what Argo CD last synced) and a GitOps repo fake that
applies each planned Change to a dict of files. tests/integration/test_netpol_git.py runs the same plans on real git
with the real render; tests/e2e/test_netpol.py runs the demo on the real cluster."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field

import pytest
from fakes import Clock, FakeRunner

from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.errors import Refused
from lab.core.runner import Result
from lab.core.ui import UI
from lab.gitops.overlay import ImageSpec, overlay_file
from lab.gitops.repo import Change, Committed, Planner
from lab.gitops.watcher import EnvStatus
from lab.steps import netpol
from lab.tools import git
from lab.tools.kubectl import kubectl_binary

IMAGE = ImageSpec("localhost:5001/lab-app", "abc1234-1700000000")
KUSTOMIZATION = "# dev\nresources:\n  - ../base # the shared base\nimages:\n  - name: lab-app\n    newTag: x\n"
POLICY_PATH = f"overlays/dev/{netpol.POLICY_FILE}"
KUBECTL = (kubectl_binary(), "--context", "kind-gitops-lab")


@dataclass
class FakeRepo:
    """The GitOps repo as files per commit: commit_change applies the Change its plan returns (a revert restores
    the files before that commit)."""

    files: dict[str, str]
    author: git.Identity = field(default_factory=lambda: git.Identity("Lab", "lab@example.test"))
    commits: list[tuple[str, Change, dict[str, str]]] = field(default_factory=list)  # sha, change, files after
    opened: bool = False
    fail_revert: bool = False

    def open(self, *, seed: bool = True, read_only: bool = False) -> None:
        self.opened = True

    def read(self, path: str, rev: str | None = None) -> str | None:
        return self.files.get(path)

    def image(self, env: str, rev: str | None = None) -> ImageSpec | None:
        return IMAGE

    def commit_change(self, plan: Planner, *, seed: bool = True) -> Committed:
        change = plan(self)  # type: ignore[arg-type]
        if change is None:
            return Committed("head", 1, changed=False)
        if change.revert is not None:
            if self.fail_revert:
                raise Refused("git revert does not apply cleanly")
            index = next(i for i, (sha, _, _) in enumerate(self.commits) if sha == change.revert)
            before = self.commits[index - 1][2] if index else self.seed
            files = dict(before)
        else:
            files = dict(self.files)
            assert change.new_text is not None
            files[overlay_file(change.env)] = change.new_text
            for path, text in change.files.items():
                if text is None:
                    files.pop(path, None)
                else:
                    files[path] = text
        sha = f"{len(self.commits) + 1:040x}"
        self.commits.append((sha, change, files))
        self.files = files
        return Committed(sha, 1)

    def __post_init__(self) -> None:
        self.seed = dict(self.files)

    def has_policy(self, sha: str) -> bool:
        files = next(f for s, _, f in self.commits if s == sha)
        return POLICY_PATH in files and netpol.POLICY_FILE in files[overlay_file("dev")]


@dataclass
class Network:
    """What the cluster enforces: the client reaches the app when the synced revision has the allow policy, after
    LAG more checks (a controller applying it)."""

    repo: FakeRepo
    enforces: bool = True
    allowed: bool = False
    lag: int = 0
    pending: int = 0
    probes: list[str] = field(default_factory=list)

    def synced(self, sha: str) -> None:
        self.allowed = self.repo.has_policy(sha)
        self.pending = self.lag

    def answer(self, argv: tuple[str, ...], _input: str | None) -> Result | None:
        if "exec" not in argv:
            return None
        if self.pending:
            self.pending -= 1
            reachable = not self.allowed
        else:
            reachable = self.allowed or not self.enforces
        line = "allowed HTTP 200" if reachable else "blocked no answer within 3 s (the packets were dropped)"
        self.probes.append(line.split()[0])
        return Result(argv, 0, line + "\n", "")


@dataclass
class Watcher:
    network: Network
    calls: list[tuple[str, ...]] = field(default_factory=list)

    def refresh(self, env: str) -> None:
        self.calls.append(("refresh", env))

    def sync(self, env: str) -> None:
        self.calls.append(("sync", env))

    def wait_synced(self, env: str, revision: str, image: str, timeout: float) -> EnvStatus:
        self.calls.append(("wait", env, revision, image))
        self.network.synced(revision)
        return EnvStatus("Synced", "Healthy", revision, (image,))

    def status(self, env: str) -> EnvStatus:
        raise AssertionError("the demo does not ask for a status")


def scripted(runner: FakeRunner) -> None:
    """The kubectl commands the demo runs, answered as kubectl does (apply and delete print what they did)."""
    runner.script([*KUBECTL, "delete", "namespace", netpol.DEMO_NAMESPACE, "--ignore-not-found"])
    created = "namespace/lab-netpol-demo created\npod/netpol-client created\n"
    runner.script([*KUBECTL, "apply", "-f", "-"], stdout=created)
    runner.script([*KUBECTL, "wait", f"pod/{netpol.CLIENT_POD}"], stdout="pod/netpol-client condition met\n")


def make(tmp_path: object, *, dry_run: bool = False) -> tuple[Context, FakeRunner, io.StringIO]:
    settings = load_settings({}, environ={}, config_file=None)
    runner = FakeRunner(dry_run=dry_run)
    err = io.StringIO()
    return Context(settings, runner, UI(err=err, out=err)), runner, err


@pytest.fixture
def repo() -> FakeRepo:
    return FakeRepo({overlay_file("dev"): KUSTOMIZATION})


def test_the_demo_is_refused_then_allowed_by_a_commit_then_refused_after_its_revert(repo: FakeRepo) -> None:
    ctx, runner, err = make(None)
    network = Network(repo, lag=2)
    runner.responders.append(network.answer)
    scripted(runner)
    watcher = Watcher(network)
    clock = Clock()

    result = netpol.demo_netpol(ctx, "dev", watcher=watcher, repo=repo, clock=clock, sleep=clock.sleep)

    assert [p.outcome for p in (result.before, result.allowed, result.after)] == ["blocked", "allowed", "blocked"]
    assert network.probes == ["blocked", "blocked", "blocked", "allowed", "allowed", "allowed", "blocked"]
    allow, revert = (sha for sha, _, _ in repo.commits)
    assert (result.allow_commit, result.revert_commit) == (allow, revert)
    # dev auto-syncs: refreshed and waited for, each commit at the image dev runs
    assert watcher.calls == [
        ("refresh", "dev"),
        ("wait", "dev", allow, IMAGE.reference),
        ("refresh", "dev"),
        ("wait", "dev", revert, IMAGE.reference),
    ]
    assert result.seconds_to_allow == 2.0 and result.seconds_to_block == 2.0  # two 1 s retries each
    assert repo.files == repo.seed  # the revert put git back as it was
    assert runner.calls[-1].argv == (*KUBECTL, "delete", "namespace", netpol.DEMO_NAMESPACE, "--ignore-not-found")
    out = err.getvalue()
    assert "1. Connect to lab-app.lab-dev.svc.cluster.local:80" in out and "blocked: no answer within 3 s" in out


def test_the_allow_commit_adds_the_policy_with_the_lab_trailers_and_lists_it(repo: FakeRepo) -> None:
    ctx, runner, _ = make(None)
    network = Network(repo)
    runner.responders.append(network.answer)
    scripted(runner)
    clock = Clock()
    netpol.demo_netpol(ctx, "dev", watcher=Watcher(network), repo=repo, clock=clock, sleep=clock.sleep)

    _, allow, files = repo.commits[0]
    assert allow.trailers == [("Deployed-By", "Lab <lab@example.test>"), ("Lesson", "demo-netpol")]
    assert allow.expected_image == IMAGE.reference
    assert files[overlay_file("dev")].startswith("# dev\nresources:\n  - ../base # the shared base\n")
    assert f"  - {netpol.POLICY_FILE}\n" in files[overlay_file("dev")]
    assert files[POLICY_PATH] == netpol.allow_policy()
    _, revert, _ = repo.commits[1]
    assert revert.revert == repo.commits[0][0] and revert.trailers == allow.trailers


def test_a_cluster_that_does_not_enforce_policies_is_refused_with_nothing_committed(repo: FakeRepo) -> None:
    ctx, runner, _ = make(None)
    network = Network(repo, enforces=False)
    runner.responders.append(network.answer)
    scripted(runner)
    clock = Clock()
    with pytest.raises(Refused, match="does not enforce NetworkPolicy"):
        netpol.demo_netpol(ctx, "dev", watcher=Watcher(network), repo=repo, clock=clock, sleep=clock.sleep)
    assert repo.commits == []
    assert runner.calls[-1].argv[-3:] == ("namespace", netpol.DEMO_NAMESPACE, "--ignore-not-found")


def test_an_allow_that_never_takes_effect_is_reverted_and_the_pod_removed(repo: FakeRepo) -> None:
    ctx, runner, _ = make(None)
    network = Network(repo, lag=1000)  # never opens
    runner.responders.append(network.answer)
    scripted(runner)
    clock = Clock()
    with pytest.raises(Refused, match="after the allow was synced, the client's connection was blocked"):
        netpol.demo_netpol(ctx, "dev", watcher=Watcher(network), repo=repo, clock=clock, sleep=clock.sleep)
    assert [c.revert for _, c, _ in repo.commits] == [None, repo.commits[0][0]]  # the allow, then its revert
    assert repo.files == repo.seed
    assert clock.now <= netpol.SETTLE + 1  # a bounded wait
    assert runner.calls[-1].argv[-3:] == ("namespace", netpol.DEMO_NAMESPACE, "--ignore-not-found")


def test_a_revert_that_fails_says_how_to_finish_and_the_next_run_removes_the_policy_first(repo: FakeRepo) -> None:
    ctx, runner, _ = make(None)
    network = Network(repo)
    runner.responders.append(network.answer)
    scripted(runner)
    clock = Clock()
    repo.fail_revert = True
    with pytest.raises(Refused) as info:
        netpol.demo_netpol(ctx, "dev", watcher=Watcher(network), repo=repo, clock=clock, sleep=clock.sleep)
    assert info.value.hint == (
        f"the allow policy is still in {POLICY_PATH} of the GitOps repo: run `invoke demo-netpol --env dev` again, "
        "it removes it first"
    )
    assert POLICY_PATH in repo.files

    repo.fail_revert = False  # the hint's command
    result = netpol.demo_netpol(ctx, "dev", watcher=Watcher(network), repo=repo, clock=clock, sleep=clock.sleep)
    removal = repo.commits[1][1]
    assert removal.files == {POLICY_PATH: None} and netpol.POLICY_FILE not in (removal.new_text or "")
    assert result.before is not None and result.before.outcome == "blocked"
    assert repo.files == repo.seed


def test_staging_is_synced_by_the_demo(tmp_path: object) -> None:
    repo = FakeRepo({overlay_file("staging"): KUSTOMIZATION.replace("dev", "staging")})
    repo.has_policy = lambda sha: (
        POLICY_PATH.replace("dev", "staging")
        in dict(  # type: ignore[method-assign]
            (s, f) for s, _, f in repo.commits
        )[sha]
    )
    ctx, runner, _ = make(None)
    network = Network(repo)
    runner.responders.append(network.answer)
    scripted(runner)
    clock = Clock()
    watcher = Watcher(network)
    result = netpol.demo_netpol(ctx, "staging", watcher=watcher, repo=repo, clock=clock, sleep=clock.sleep)
    assert [c[0] for c in watcher.calls] == ["sync", "wait", "sync", "wait"]
    assert result.allowed is not None and result.allowed.outcome == "allowed"


def test_a_dry_run_prints_every_kubectl_command_and_commits_through_the_repo(repo: FakeRepo) -> None:
    ctx, runner, err = make(None, dry_run=True)
    result = netpol.demo_netpol(ctx, "dev", watcher=None, repo=repo, clock=Clock(), sleep=Clock().sleep)
    verbs = [c.argv[3] for c in runner.calls]
    assert verbs == ["delete", "apply", "wait", "exec", "exec", "exec", "delete"]
    assert [c.revert is not None for _, c, _ in repo.commits] == [False, True]  # the transaction, rehearsed
    assert result.before is not None and result.before.outcome == ""
    assert "dry run: the real run expects blocked" in err.getvalue()
    assert "dry run: Argo CD is not asked" in err.getvalue()


def test_the_client_pod_meets_the_lab_pod_security_settings() -> None:
    docs = [json.loads(d) for d in netpol.client_manifest(IMAGE.reference).split("\n---\n")]
    namespace, pod = docs
    assert namespace["metadata"]["name"] == pod["metadata"]["namespace"] == netpol.DEMO_NAMESPACE
    spec = pod["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True and spec["securityContext"]["runAsUser"] == 10001
    (c,) = spec["containers"]
    assert c["image"] == IMAGE.reference and c["imagePullPolicy"] == "IfNotPresent"
    assert c["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert "memory" in c["resources"]["limits"]


@pytest.mark.parametrize(
    ("stdout", "outcome"),
    [
        ("allowed HTTP 200\n", "allowed"),
        ("blocked no answer within 3 s (the packets were dropped)\n", "blocked"),
        ("error gaierror [Errno -2] Name or service not known\n", "error"),
        ("", "error"),
        ("Traceback ...\n", "error"),
    ],
)
def test_probe_output_is_parsed(stdout: str, outcome: str) -> None:
    assert netpol.parse_probe(stdout).outcome == outcome


def test_the_probe_script_runs_and_reports_a_port_nobody_answers_on() -> None:
    """The script itself, run by this Python against a closed local port: `error ConnectionRefusedError`."""
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: connections are refused
        out = subprocess.run(
            [sys.executable, "-c", netpol.probe_script("127.0.0.1", port, 1)], capture_output=True, text=True
        ).stdout
    assert netpol.parse_probe(out) == netpol.Probe("error", "ConnectionRefusedError [Errno 111] Connection refused")


def test_with_resource_adds_once_and_removes_keeping_comments() -> None:
    added = netpol.with_resource(KUSTOMIZATION, "x.yaml", present=True)
    assert added == KUSTOMIZATION.replace("../base # the shared base\n", "../base # the shared base\n  - x.yaml\n")
    assert netpol.with_resource(added, "x.yaml", present=True) == added
    assert netpol.with_resource(added, "x.yaml", present=False) == KUSTOMIZATION
