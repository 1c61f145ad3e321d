"""A sealing key pair as the Sealed Secrets controller makes one (sealed-secrets v0.40.0 pkg/controller/keys.go: an
RSA key and a self-signed certificate), and the controller's decryption (pkg/crypto/crypto.go singleDecrypt), for
the tests of the lab's sealing."""

from __future__ import annotations

import base64
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID


def self_signed(key_size: int = 2048) -> tuple[rsa.RSAPrivateKey, str]:
    """A key of KEY_SIZE bits and its self-signed certificate (PEM), valid from a minute ago for a day."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sealed-secret")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM).decode()


def unseal(key: rsa.RSAPrivateKey, value: str, label: bytes) -> bytes:
    """pkg/crypto/crypto.go singleDecrypt, step for step: a 2-byte length, the RSA-OAEP(SHA-256, LABEL) session key,
    then AES-GCM with a zero nonce."""
    blob = base64.b64decode(value)
    n = int.from_bytes(blob[:2], "big")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=label)
    session = key.decrypt(blob[2 : 2 + n], oaep)
    return AESGCM(session).decrypt(bytes(12), blob[2 + n :], None)
