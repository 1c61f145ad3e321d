"""The rules of the GitOps commit secret scan (lab/tools/secretscan.py); the hook itself runs with real git in
tests/integration/test_secret_scan_git.py."""

from __future__ import annotations

import pytest

from lab.core.config import ROOT
from lab.tools.secretscan import scan_text

SECRET_DATA = """\
apiVersion: v1
kind: Secret
metadata:
  name: db
data:
  password: aHVudGVyMg==
"""
PEM = "key: |\n  -----BEGIN RSA PRIVATE KEY-----\n  MIIEowIBAAKCAQEA\n  -----END RSA PRIVATE KEY-----\n"
EMPTY_SECRET = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: filled-by-a-controller\ntype: Opaque\n"


@pytest.mark.parametrize(
    ("path", "text", "rule"),
    [
        ("overlays/dev/db.yaml", SECRET_DATA, "Kubernetes Secret/db with plaintext data (keys: password)"),
        ("overlays/dev/key.yaml", PEM, "Private Key (detect-secrets PrivateKeyDetector)"),
        ("overlays/dev/aws.env", "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n", "AWS Access Key"),
        ("overlays/dev/gh.yaml", "token: ghp_" + "a1B2c3D4e5" * 3 + "abcdef\n", "GitHub Token"),
    ],
)
def test_plaintext_secrets_are_found_with_file_line_and_rule(path: str, text: str, rule: str) -> None:
    found = scan_text(path, text)
    assert found and rule in str(found[0]) and str(found[0]).startswith(f"{path}:"), found
    assert "aHVudGVyMg" not in str(found[0]) and "AKIAIOSFODNN7EXAMPLE" not in str(found[0])  # never the value


def test_an_empty_secret_a_sealed_secret_and_the_labs_overlays_are_not_findings() -> None:
    assert scan_text("overlays/dev/s.yaml", EMPTY_SECRET) == []
    sealed = (
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nspec:\n  encryptedData:\n    token: AgBy3i4OJSWK+Pi==\n"
    )
    assert scan_text("overlays/dev/sealed.yaml", sealed) == []
    # What the lab itself commits: its overlays, with an image pinned by digest (hex would fool an entropy detector).
    for path in sorted((ROOT / "overlays").rglob("*.yaml")):
        text = path.read_text() + "\n# digest: sha256:" + "ab" * 32 + "\n"
        assert scan_text(str(path.relative_to(ROOT)), text) == [], path


def test_a_kustomize_secret_generator_is_a_finding() -> None:
    text = "resources: [../base]\nsecretGenerator:\n  - name: app\n    envs: [app.env]\n"
    (found,) = scan_text("overlays/dev/kustomization.yaml", text)
    assert found.line == 2 and "secretGenerator (app)" in found.rule
