"""`invoke secret set` (lab/steps/secret.py) with real git, a bare remote in tmp_path and real `kubectl kustomize`;
the cluster's answers (the controller's Deployment, its certificate) scripted by argv, the certificate one made here
so the test can open what was committed. What reaches the remote is a SealedSecret holding only ciphertext that the
controller's key opens for lab-<env>/lab-app-secrets; setting it again rotates it; a plaintext Secret in the same
transaction is refused by the secret scan; a dry run computes the real commit and pushes nothing."""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa
from fakes import FakeRunner
from sealing_keys import self_signed, unseal
from test_gitops_git import new_repo, remote_head, sh

from lab.core.config import load_settings
from lab.core.context import Context
from lab.core.errors import SecretFound
from lab.core.runner import DryRunRunner, SubprocessRunner
from lab.core.ui import UI
from lab.gitops.overlay import add_resource, overlay_file, read_image
from lab.gitops.repo import Change, GitOpsRepo
from lab.manifests import sealed_secrets as m
from lab.steps import secret
from lab.tools.kubectl import kubectl_binary

pytestmark = pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
ROOT = Path(__file__).resolve().parents[2]
TOKEN = "tok-plaintext-7f3a9c"


@pytest.fixture(scope="module")
def keypair() -> tuple[rsa.RSAPrivateKey, str]:
    return self_signed()


def unseal_text(key: rsa.RSAPrivateKey, value: str, label: str) -> str:
    return unseal(key, value, label.encode()).decode()


PLAIN_SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: lab-app-secrets\nstringData:\n  write-token: hunter2\n"


class Cluster(FakeRunner):
    """The cluster's answers scripted; git and `kubectl kustomize` for real (a dry run's reads)."""

    def run(self, argv: Any, **kw: Any) -> Any:
        if argv[0] == "git" or list(argv[1:2]) == ["kustomize"]:
            return SubprocessRunner().run(argv, **kw)
        return super().run(argv, **kw)


def cluster_with(cert: str, kube_context: str) -> Cluster:
    runner = Cluster()
    kube = [kubectl_binary(), "--context", kube_context]
    runner.script([*kube, "get", "deployment", m.CONTROLLER], stdout='{"kind": "Deployment"}')
    runner.script([*kube, "get", "--raw", m.CERT_PATH], stdout=cert)
    return runner


class Watcher:
    def __init__(self) -> None:
        self.refreshed: list[str] = []

    def refresh(self, env: str) -> None:
        self.refreshed.append(env)


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    sh("git", "init", "--quiet", "--bare", "-b", "main", path)
    return path


@pytest.fixture
def app_repo(tmp_path: Path) -> Path:
    path = tmp_path / "app-repo"
    shutil.copytree(ROOT / "overlays", path / "overlays")
    sh("git", "init", "--quiet", "-b", "main", path)
    sh("git", "-C", path, "config", "user.name", "Test Dev")
    sh("git", "-C", path, "config", "user.email", "dev@example.test")
    sh("git", "-C", path, "add", "-A")
    sh("git", "-C", path, "commit", "--quiet", "-m", "app")
    return path


def make_ctx(tmp_path: Path, remote: Path, runner: Any) -> Context:
    settings = load_settings(
        {"state_dir": tmp_path / "state", "gitops_remote": str(remote)}, environ={}, config_file=tmp_path / "none.toml"
    )
    out = io.StringIO()
    return Context(settings, runner, UI(err=out, out=out))


def remote_file(remote: Path, path: str) -> str:
    return subprocess.run(
        ["git", "-C", str(remote), "show", f"main:{path}"], capture_output=True, text=True, check=True
    ).stdout


def remote_history(remote: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(remote), "log", "-p", "--all", "--format=%H %s%n%b"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def test_secret_set_commits_only_ciphertext_the_controller_key_opens_and_setting_again_rotates(
    tmp_path: Path, remote: Path, app_repo: Path, keypair: tuple[rsa.RSAPrivateKey, str]
) -> None:
    key, cert = keypair
    probe = make_ctx(tmp_path, remote, None)
    ctx = make_ctx(tmp_path, remote, cluster_with(cert, probe.settings.kube_context))
    repo = new_repo(remote, tmp_path / "work", app_repo)
    watcher = Watcher()

    done = secret.set_secret(ctx, "write-token", "dev", TOKEN.encode(), watcher=watcher, repo=repo, no_wait=True)  # type: ignore[arg-type]

    assert done.changed and remote_head(remote) == done.commit
    assert watcher.refreshed == ["dev"]  # dev auto-syncs: Argo CD is asked to refresh now
    doc = yaml.safe_load(remote_file(remote, "overlays/dev/sealed-secret.yaml"))
    assert (doc["kind"], doc["metadata"]) == ("SealedSecret", {"name": "lab-app-secrets", "namespace": "lab-dev"})
    first = doc["spec"]["encryptedData"]["write-token"]
    assert unseal_text(key, first, "lab-dev/lab-app-secrets") == TOKEN
    assert TOKEN not in remote_history(remote)  # no commit, message or trailer holds the plaintext
    kustomization = remote_file(remote, overlay_file("dev"))
    assert "- sealed-secret.yaml" in kustomization
    assert read_image(kustomization) is not None  # the image entry and its comments are kept
    log = sh("git", "-C", remote, "log", "-1", "--format=%s%n%(trailers)")
    assert "secret(dev): seal write-token into lab-app-secrets" in log
    assert "Sealed-Secret: lab-dev/lab-app-secrets:write-token" in log

    # Rotation is setting it again; another key set later is kept beside it.
    secret.set_secret(ctx, "other", "dev", b"second-key", watcher=watcher, repo=repo, no_wait=True)  # type: ignore[arg-type]
    rotated = secret.set_secret(ctx, "write-token", "dev", b"rotated", watcher=watcher, repo=repo, no_wait=True)  # type: ignore[arg-type]
    data = yaml.safe_load(remote_file(remote, "overlays/dev/sealed-secret.yaml"))["spec"]["encryptedData"]
    assert unseal_text(key, data["write-token"], "lab-dev/lab-app-secrets") == "rotated"
    assert unseal_text(key, data["other"], "lab-dev/lab-app-secrets") == "second-key"
    assert remote_head(remote) == rotated.commit
    assert remote_file(remote, overlay_file("dev")).count("sealed-secret.yaml") == 1


def test_staging_is_committed_and_the_next_command_is_its_manual_sync(
    tmp_path: Path, remote: Path, app_repo: Path, keypair: tuple[rsa.RSAPrivateKey, str]
) -> None:
    key, cert = keypair
    probe = make_ctx(tmp_path, remote, None)
    ctx = make_ctx(tmp_path, remote, cluster_with(cert, probe.settings.kube_context))
    watcher = Watcher()
    secret.set_secret(
        ctx,
        "write-token",
        "staging",
        b"s",
        watcher=watcher,
        repo=new_repo(remote, tmp_path / "w", app_repo),  # type: ignore[arg-type]
    )
    assert watcher.refreshed == []  # staging syncs by hand only
    doc = yaml.safe_load(remote_file(remote, "overlays/staging/sealed-secret.yaml"))
    assert unseal_text(key, doc["spec"]["encryptedData"]["write-token"], "lab-staging/lab-app-secrets") == "s"
    assert "invoke sync staging" in ctx.ui.err.getvalue()  # type: ignore[attr-defined]


def test_a_plaintext_secret_in_the_same_transaction_is_refused_by_the_secret_scan(
    tmp_path: Path, remote: Path, app_repo: Path
) -> None:
    repo = new_repo(remote, tmp_path / "work", app_repo)
    repo.open(seed=True)
    before = remote_head(remote)

    def plan(r: GitOpsRepo) -> Change:
        current = r.read(overlay_file("dev")) or ""
        image = read_image(current)
        assert image is not None
        return Change(
            "dev",
            "secret(dev): a plain Secret\n",
            [],
            image.reference,
            new_text=add_resource(current, "plain.yaml"),
            files={"overlays/dev/plain.yaml": PLAIN_SECRET},
        )

    with pytest.raises(SecretFound) as info:
        repo.commit_change(plan)
    assert "Kubernetes Secret/lab-app-secrets with plaintext stringData" in info.value.render()
    assert "hunter2" not in info.value.render()
    assert remote_head(remote) == before


def test_a_dry_run_seals_and_shows_the_real_commit_and_pushes_nothing(
    tmp_path: Path, remote: Path, app_repo: Path, keypair: tuple[rsa.RSAPrivateKey, str]
) -> None:
    _key, cert = keypair
    new_repo(remote, tmp_path / "seed", app_repo).open(seed=True)
    before = remote_head(remote)
    probe = make_ctx(tmp_path, remote, None)
    out = io.StringIO()
    reads = cluster_with(cert, probe.settings.kube_context)
    ctx = Context(probe.settings, DryRunRunner(out=out, reads=reads), UI(err=out, out=out))

    done = secret.set_secret(ctx, "write-token", "dev", TOKEN.encode(), watcher=Watcher(), app_root=app_repo)  # type: ignore[arg-type]

    assert done.changed
    assert remote_head(remote) == before  # nothing reached the remote
    text = out.getvalue()
    assert "git" in text and "push" in text  # the push the real run would make, printed
    assert TOKEN not in text
    reads.assert_called(kubectl_binary(), "--context", probe.settings.kube_context, "get", "--raw", m.CERT_PATH)


def test_the_platform_manifests_commit_is_secret_scanned_too(tmp_path: Path, remote: Path, app_repo: Path) -> None:
    """commit_files (platform/monitoring, platform/sealed-secrets) goes through the same scan as the overlays."""
    repo = new_repo(remote, tmp_path / "work", app_repo)
    repo.open(seed=True)
    before = remote_head(remote)
    with pytest.raises(SecretFound) as info:
        repo.commit_files("platform/x", {"secret.yaml": PLAIN_SECRET}, "platform(x): a plain Secret\n")
    assert "platform/x/secret.yaml" in info.value.render()
    assert remote_head(remote) == before
    done = repo.commit_files("platform/sealed-secrets", m.repo_files(), "platform(sealed-secrets): manifests\n")
    assert done.changed and remote_head(remote) == done.sha  # upstream's manifests hold no secret


def test_a_deploy_after_secret_set_renders_and_validates_the_sealed_secret_beside_the_app(
    tmp_path: Path, remote: Path, app_repo: Path, keypair: tuple[rsa.RSAPrivateKey, str]
) -> None:
    """kubernetes-validate knows no SealedSecret: the overlay's check validates it against upstream's CRD schema
    instead, so `invoke ship` keeps working once an environment holds one."""
    from lab.gitops.overlay import ImageSpec

    _key, cert = keypair
    probe = make_ctx(tmp_path, remote, None)
    ctx = make_ctx(tmp_path, remote, cluster_with(cert, probe.settings.kube_context))
    repo = new_repo(remote, tmp_path / "work", app_repo)
    secret.set_secret(ctx, "write-token", "dev", b"t", watcher=Watcher(), repo=repo, no_wait=True)  # type: ignore[arg-type]

    done = repo.bump("dev", ImageSpec("localhost:5001/lab-app", "abc1234-20261201000000"), app_commit="c" * 40)

    assert done.changed and remote_head(remote) == done.sha
    assert "sealed-secret.yaml" in remote_file(remote, overlay_file("dev"))
