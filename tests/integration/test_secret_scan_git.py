"""The secret scan of the GitOps transaction (lab/gitops/repo.py _refuse_secrets, lab/tools/secretscan.py) with
real git, a bare remote in tmp_path and real `kubectl kustomize`: a plaintext secret in a commit the lab is about to
make is refused (SecretFound, exit 17) and the remote does not move; a SealedSecret and an ordinary deploy go through.
No Docker needed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from test_gitops_git import REPO, assert_clean, new_repo, remote_head, sh

from lab.core.errors import SecretFound
from lab.gitops.overlay import ImageSpec, overlay_file, set_image
from lab.gitops.repo import Change, GitOpsRepo

pytestmark = pytest.mark.integration  # real git / kubectl kustomize (tests/tiers.py)
ROOT = Path(__file__).resolve().parents[2]
# A Kubernetes Secret in plaintext (stringData), as someone might drop into an overlay.
PLAIN_SECRET = """\
apiVersion: v1
kind: Secret
metadata:
  name: app-token
type: Opaque
stringData:
  token: hunter2-not-a-real-token
"""
# A SealedSecret: only ciphertext (bitnami sealed-secrets pkg/apis/sealedsecrets/v1alpha1: spec.encryptedData).
SEALED = """\
apiVersion: bitnami.com/v1alpha1
kind: SealedSecret
metadata:
  name: app-token
spec:
  encryptedData:
    token: AgBy3i4OJSWK+PiTySYZZA9rO43cGDEq0123456789abcdefghijklmnopqrstuvwxyzABCDEFGH==
"""
AWS_KEY_LINE = "# aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    path = tmp_path / "gitops.git"
    sh("git", "init", "--quiet", "--bare", "-b", "main", path)
    return path


def app_repo_with(tmp_path: Path, extra: dict[str, str]) -> Path:
    app = tmp_path / "app"
    shutil.copytree(ROOT / "overlays", app / "overlays")
    for rel, text in extra.items():
        (app / rel).write_text(text)
    return app


def test_a_plaintext_secret_in_the_seed_is_refused_and_nothing_is_pushed(tmp_path: Path, remote: Path) -> None:
    app = app_repo_with(tmp_path, {"overlays/dev/token-secret.yaml": PLAIN_SECRET})
    repo = new_repo(remote, tmp_path / "work", app)
    with pytest.raises(SecretFound) as info:
        repo.open(seed=True)
    err = info.value
    assert err.exit_code == 17
    text = err.render()
    assert "overlays/dev/token-secret.yaml:6  Kubernetes Secret/app-token with plaintext stringData" in text
    assert "hunter2" not in text  # the finding names the secret, never shows it
    assert remote_head(remote) is None  # nothing reached the remote
    assert sh("git", "-C", repo.workdir, "status", "--porcelain") == ""  # and nothing is left half-done


def seeded(tmp_path: Path, remote: Path) -> GitOpsRepo:
    repo = new_repo(remote, tmp_path / "work", app_repo_with(tmp_path, {}))
    repo.open(seed=True)
    return repo


def test_a_secret_generator_in_a_change_is_refused(tmp_path: Path, remote: Path) -> None:
    repo = seeded(tmp_path, remote)
    before = remote_head(remote)
    image = ImageSpec(REPO, "abc1234-20261201000000")

    def plan(r: GitOpsRepo) -> Change:
        text = set_image(r.read(overlay_file("dev")) or "", image)
        text += "secretGenerator:\n  - name: app-token\n    literals:\n      - token=hunter2\n"
        return Change("dev", "deploy(dev): with a generated secret\n", [], image.reference, new_text=text)

    with pytest.raises(SecretFound, match="plaintext secret") as info:
        repo.commit_change(plan)
    assert "kustomize secretGenerator (app-token)" in info.value.render()
    assert remote_head(remote) == before
    assert_clean(repo)


def test_an_aws_key_is_refused_but_a_sealed_secret_and_a_deploy_go_through(tmp_path: Path, remote: Path) -> None:
    repo = seeded(tmp_path, remote)
    image = ImageSpec(REPO, "abc1234-20261201000001")

    def with_comment(r: GitOpsRepo) -> Change:
        text = AWS_KEY_LINE + set_image(r.read(overlay_file("dev")) or "", image)
        return Change("dev", "deploy(dev): key in a comment\n", [], image.reference, new_text=text)

    with pytest.raises(SecretFound) as info:
        repo.commit_change(with_comment)
    assert "overlays/dev/kustomization.yaml:1  AWS Access Key" in info.value.render()

    # A SealedSecret's ciphertext is what belongs in git: not refused (the file is committed with real git).
    (repo.workdir / "overlays" / "dev" / "sealed.yaml").write_text(SEALED)
    sh("git", "-C", repo.workdir, "add", "overlays/dev/sealed.yaml")
    repo._refuse_secrets("a SealedSecret")  # no error
    sh("git", "-C", repo.workdir, "reset", "--hard", "--quiet")
    sh("git", "-C", repo.workdir, "clean", "-fdq")

    done = repo.bump("dev", image, app_commit="b" * 40)
    assert done.changed and remote_head(remote) == done.sha
