"""The in-process sealing (lab/tools/sealing.py) checked against upstream's own kubeseal, built from the module
github.com/bitnami-labs/sealed-secrets v0.40.0 by .ci/cluster/build-sealed-secrets: what the lab seals, kubeseal's
disaster-recovery unseal (`--recovery-unseal`, the controller's own code path pkg/apis/sealedsecrets/v1alpha1
Unseal) opens with the private key; what kubeseal seals (`--raw`, strict scope), the lab's format reads the same.
The copy of upstream's CRD is compared with the module source. Skipped when kubeseal is not built (unless
LAB_REQUIRE_SEALED_SECRETS=1, as CI sets where it builds it)."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sealing_keys import self_signed

from lab.core import versions
from lab.manifests import sealed_secrets as manifests
from lab.manifests.argocd import dump
from lab.tools import sealing

pytestmark = pytest.mark.integration
CACHE = Path(os.environ.get("LAB_CI_CACHE", Path.home() / ".cache" / "gitops-lab" / "ci"))
KUBESEAL = CACHE / f"sealed-secrets-{versions.SEALED_SECRETS_VERSION}" / "bin" / "kubeseal"
MODULE = f"github.com/bitnami-labs/sealed-secrets@{versions.SEALED_SECRETS_VERSION}"


def _need(path: Path, what: str) -> None:
    if not path.exists():
        if os.environ.get("LAB_REQUIRE_SEALED_SECRETS") == "1":
            pytest.fail(f"{what} missing: {path}")
        pytest.skip(f"{what} not built here ({path}): run .ci/cluster/build-sealed-secrets")


@pytest.fixture(scope="module")
def keypair(tmp_path_factory: pytest.TempPathFactory) -> tuple[rsa.RSAPrivateKey, bytes, Path]:
    """A 4096-bit key and self-signed certificate, as the controller generates (pkg/controller/keys.go)."""
    key, cert = self_signed(4096)
    d = tmp_path_factory.mktemp("keys")
    pem = d / "key.pem"
    pem.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return key, cert.encode(), pem


def test_kubeseal_recovery_unseals_what_the_lab_sealed(keypair: tuple[rsa.RSAPrivateKey, bytes, Path]) -> None:
    _need(KUBESEAL, "kubeseal")
    _key, cert, pem = keypair
    public = sealing.public_key(cert)
    values = {"write-token": "tok-\u00e9-123", "other": "x" * 5000}
    encrypted = {
        k: sealing.seal_value(public, v.encode(), namespace="lab-dev", name="lab-app-secrets")
        for k, v in values.items()
    }
    doc = manifests.sealed_secret("lab-app-secrets", "lab-dev", encrypted)
    manifests.validate(doc)
    out = subprocess.run(
        [str(KUBESEAL), "--recovery-unseal", "--recovery-private-key", str(pem), "-o", "yaml"],
        input=dump(doc),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    secret = yaml.safe_load(out)
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "lab-app-secrets" and secret["metadata"]["namespace"] == "lab-dev"
    assert {k: base64.b64decode(v).decode() for k, v in secret["data"].items()} == values


def test_kubeseal_refuses_a_value_moved_to_another_namespace(keypair: tuple[rsa.RSAPrivateKey, bytes, Path]) -> None:
    """Strict scope: the label is namespace/name, so a copy in lab-prod does not open."""
    _need(KUBESEAL, "kubeseal")
    _key, cert, pem = keypair
    sealed = sealing.seal_value(sealing.public_key(cert), b"dev-only", namespace="lab-dev", name="lab-app-secrets")
    doc = manifests.sealed_secret("lab-app-secrets", "lab-prod", {"write-token": sealed})
    proc = subprocess.run(
        [str(KUBESEAL), "--recovery-unseal", "--recovery-private-key", str(pem), "-o", "yaml"],
        input=dump(doc),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert "dev-only" not in proc.stdout


def test_what_kubeseal_seals_opens_with_the_format_the_lab_writes(
    keypair: tuple[rsa.RSAPrivateKey, bytes, Path], tmp_path: Path
) -> None:
    _need(KUBESEAL, "kubeseal")
    key, cert, _pem = keypair
    (tmp_path / "cert.pem").write_bytes(cert)
    value = tmp_path / "value"
    value.write_text("from-kubeseal")
    sealed = subprocess.run(
        [
            str(KUBESEAL),
            "--raw",
            "--cert",
            str(tmp_path / "cert.pem"),
            "--namespace",
            "lab-dev",
            "--name",
            "lab-app-secrets",
            "--scope",
            "strict",
            "--from-file",
            str(value),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.strip()
    blob = base64.b64decode(sealed)
    (rsa_len,) = (int.from_bytes(blob[:2], "big"),)
    assert rsa_len == 512  # a 4096-bit RSA ciphertext
    session = key.decrypt(
        blob[2 : 2 + rsa_len],
        padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"lab-dev/lab-app-secrets"),
    )
    assert AESGCM(session).decrypt(sealing.NONCE, blob[2 + rsa_len :], None) == b"from-kubeseal"


def test_the_crd_copy_is_upstreams_file() -> None:
    found = subprocess.run(["go", "env", "GOMODCACHE"], capture_output=True, text=True, check=False).stdout.strip()
    source = Path(found) / MODULE / "helm" / "sealed-secrets" / "crds" / "bitnami.com_sealedsecrets.yaml"
    _need(source, "the sealed-secrets module source")
    copy = manifests.CRD_FILE.read_text(encoding="utf-8")
    body = "".join(line for line in copy.splitlines(keepends=True) if not line.startswith("# "))
    assert body == source.read_text(encoding="utf-8")
