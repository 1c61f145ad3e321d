"""What `invoke ship --no-wait` imports: the kubernetes client (0.16 s) only when there is a cluster to ask.

Each case runs in a fresh interpreter (sys.modules of this one has everything): it imports tasks.py as invoke does,
makes the task's context (tasks.make_context, with LAB_TIMINGS set), and runs ship's no-wait path with the tasks'
own watcher. The processes it would start are scripted (tests/fakes.py FakeRunner: no Docker, no registry), the
GitOps repo is a stand-in; the kubeconfig is a real file (or none), read as the kubernetes client reads it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = """\
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[1] + "/tests"]
import tasks
from fakes import FakeRunner
from lab.gitops.repo import Committed
from lab.steps import ship as ship_steps
from lab.tools import registry

class Repo:
    def open(self): pass
    def check_bump(self, env, spec): pass
    def bump(self, env, spec, **kw): return Committed("c" * 40, 1)

digest = "sha256:" + "ab" * 32
registry.ping = lambda host, timeout=5.0: None
runner = FakeRunner()
runner.script(["git", "-C", sys.argv[2], "rev-parse"], stdout="0123456789abcdef0123456789abcdef01234567\\n")
runner.script(["git", "-C", sys.argv[2], "status", "--porcelain"], stdout="")
runner.script(["git", "-C", sys.argv[2], "remote", "get-url", "origin"], returncode=2, stderr="error: No such remote")
runner.script(["true"])
runner.script(["docker", "build"], stdout="sha256:" + "11" * 32 + "\\n")
runner.script(["docker", "push"], stdout=f"t: digest: {digest} size: 1\\n")
runner.script(["trivy", "--version"], stdout="Version: 0.74.0\\n")  # the image scan (lab/steps/scan.py)
runner.script(["trivy", "image"], stdout=open(sys.argv[1] + "/tests/data/trivy/clean.json").read())
ctx = tasks.make_context(base_image="lab-base:bookworm")
ctx.runner = runner
pushed = lambda: any(c.argv[:2] == ("docker", "push") for c in runner.calls)
ship_steps.ship(ctx, app_root=__import__("pathlib").Path(sys.argv[2]), gate=(("true",),), no_wait=True,
                watcher=tasks._watcher(ctx), repo=Repo(), lookup_digest=lambda h, n, t: digest if pushed() else None)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("kubernetes", "boto3", "botocore"))))
"""


def ship_no_wait(tmp_path: Path, kubeconfig: Path) -> tuple[list[str], str, dict[str, object]]:
    """(the kubernetes/boto3 modules imported, stderr, the LAB_TIMINGS file) of one ship --no-wait."""
    app = tmp_path / "app-repo"
    (app / "app").mkdir(parents=True, exist_ok=True)
    (app / "app" / "Dockerfile").write_text("FROM scratch\n")
    timings = tmp_path / "timings.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAB_")}
    env |= {"KUBECONFIG": str(kubeconfig), "LAB_STATE_DIR": str(tmp_path / "state"), "LAB_TIMINGS": str(timings)}
    res = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(ROOT), str(app)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout.splitlines()[-1]), res.stderr, json.loads(timings.read_text())


def test_ship_no_wait_without_a_cluster_never_imports_the_kubernetes_client(tmp_path: Path) -> None:
    modules, err, timings = ship_no_wait(tmp_path, tmp_path / "no-such-kubeconfig")
    assert modules == []  # neither kubernetes nor boto3/botocore
    # The refresh was still tried, and is only a warning, as the client's own failure would be.
    assert "no cluster reachable (no usable kubeconfig context 'kind-gitops-lab'" in err, err
    assert "the commit is pushed; Argo CD deploys it once it runs" in err
    titles = [p["title"] for p in timings["phases"]]  # type: ignore[index]
    assert titles[:2] == ["Check the app tree", "Check the registry, reserve the tag"], titles
    assert "Quality gate" in titles
    assert titles[-1] == "Refresh dev in Argo CD", titles


def test_ship_no_wait_with_the_labs_context_asks_the_cluster_through_the_client(tmp_path: Path) -> None:
    """The other side: a kubeconfig that names the lab's context (its API server down) makes the refresh load the
    client and try; the failure is the same warning."""
    kubeconfig = tmp_path / "kubeconfig"
    server = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind-gitops-lab\n"
        f"clusters:\n- name: kind-gitops-lab\n  cluster: {{server: '{server}', insecure-skip-tls-verify: true}}\n"
        "contexts:\n- name: kind-gitops-lab\n  context: {cluster: kind-gitops-lab, user: kind-gitops-lab}\n"
        "users:\n- name: kind-gitops-lab\n  user: {token: not-a-secret}\n"
    )
    modules, err, _ = ship_no_wait(tmp_path, kubeconfig)
    assert "kubernetes" in modules
    assert "no cluster reachable" in err and "the commit is pushed" in err, err
