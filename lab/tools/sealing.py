"""Sealing a value for the Sealed Secrets controller, in this process (the `cryptography` package), as upstream's
kubeseal does it: github.com/bitnami-labs/sealed-secrets v0.40.0 pkg/crypto/crypto.go HybridEncrypt.

    ciphertext = len(rsa_ciphertext) as 2 bytes, big-endian || rsa_ciphertext || aes_ciphertext
    rsa_ciphertext = RSA-OAEP(SHA-256, MGF1-SHA-256, label)(session key)     (Go's rsa.EncryptOAEP(sha256.New()...))
    aes_ciphertext = AES-256-GCM(session key, nonce = 12 zero bytes)(value)  (a fresh 32-byte key for each value)

The label binds the value to where it may be unsealed: "<namespace>/<name>" in the default strict scope
(pkg/apis/sealedsecrets/v1alpha1/sealedsecret_expansion.go EncryptionLabel); each value goes into
spec.encryptedData base64-encoded (StdEncoding). The certificate is the controller's: fetched through the API
server's service proxy (`kubectl get --raw`, as kubeseal --fetch-cert does with ProxyGet). No kubeseal binary
is needed; tests/integration/test_sealing_kubeseal.py checks this against the kubeseal built from the module.
"""

from __future__ import annotations

import base64
import os
import struct
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lab.core.runner import Runner

SESSION_KEY_BYTES = 32  # pkg/crypto/crypto.go sessionKeyBytes
NONCE = bytes(12)  # the session key is used once, so a zero nonce is safe (upstream's comment)


class BadCertificate(ValueError):
    """The text is not a PEM certificate with an RSA public key."""


def public_key(cert_pem: bytes) -> rsa.RSAPublicKey:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError as exc:
        raise BadCertificate(f"not a PEM certificate: {exc}") from exc
    key = cert.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise BadCertificate(f"the certificate's key is {type(key).__name__}, not RSA")
    return key


def strict_label(namespace: str, name: str) -> bytes:
    return f"{namespace}/{name}".encode()


def hybrid_encrypt(
    key: rsa.RSAPublicKey, plaintext: bytes, label: bytes, *, random: Callable[[int], bytes] = os.urandom
) -> bytes:
    session_key = random(SESSION_KEY_BYTES)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=label or None)
    rsa_ciphertext = key.encrypt(session_key, oaep)
    return struct.pack(">H", len(rsa_ciphertext)) + rsa_ciphertext + AESGCM(session_key).encrypt(NONCE, plaintext, None)


def seal_value(key: rsa.RSAPublicKey, value: bytes, *, namespace: str, name: str) -> str:
    """VALUE sealed for Secret NAME in NAMESPACE (strict scope), as it goes into spec.encryptedData."""
    return base64.b64encode(hybrid_encrypt(key, value, strict_label(namespace, name))).decode("ascii")


def fetch_cert(runner: Runner, kubectl: str, context: str, path: str, *, timeout: float = 30) -> bytes:
    """The controller's certificate (PEM) from PATH on the API server (its service proxy): `kubectl get --raw`."""
    argv = [kubectl, "--context", context, "get", "--raw", path, f"--request-timeout={int(timeout)}s"]
    return runner.run(argv, timeout=timeout + 10).stdout.encode()
