"""A container registry's HTTP API (distribution / OCI distribution-spec v2), read-only.

Used to check, independently of `docker push`'s own report, which manifest digest the registry serves for a
tag, and that a tag exists before promoting it. `GET /v2/<name>/manifests/<reference>` answers with the
manifest and its digest in the `Docker-Content-Digest` header; 404 when the repository or tag is unknown
(distribution `docs/spec/api.md`, "Pulling an Image Manifest"; opencontainers/distribution-spec `spec.md`).
The Accept header lists every manifest type the lab can push: a registry must not convert the manifest to
another type (which would change its digest) when the client accepts the stored one.

Anonymous reads work on the lab's own registries (the local registry, MiniStack). Amazon ECR answers 401 without a
token: ask it through its API instead (lab.tools.ecr.describe_image); ``ecr_host`` recognises its hosts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from lab.core.errors import RegistryError

MANIFEST_TYPES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
)
TIMEOUT = 5.0  # seconds per request; a registry on localhost answers in milliseconds
# A private ECR registry: <12-digit account>.dkr.ecr[-fips].<region>.amazonaws.com (.com.cn in China). The same
# shape docker/login-action recognises as ECR (src/aws.ts, ecrRegistryRegex).
ECR_HOST = re.compile(r"(?P<account>[0-9]{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")


@dataclass(frozen=True)
class ImageRef:
    """`host[:port]/name[:tag][@digest]`, split. The lab's images always name a registry host."""

    host: str
    name: str
    tag: str = ""
    digest: str = ""

    @property
    def repository(self) -> str:
        return f"{self.host}/{self.name}"

    def __str__(self) -> str:
        return self.repository + (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")


def parse_ref(ref: str) -> ImageRef:
    """Split an image reference. The first path component is the registry host (it has a dot or a colon or
    is `localhost`, as in docker's reference grammar); references without one are refused."""
    rest, _, digest = ref.partition("@")
    host, sep, path = rest.partition("/")
    if not sep or not ("." in host or ":" in host or host == "localhost"):
        raise RegistryError(f"image reference {ref!r} names no registry host", hint="e.g. localhost:5001/lab-app:TAG")
    name, tag = path, ""
    last = path.rsplit("/", 1)[-1]
    if ":" in last:
        name, _, tag = path.rpartition(":")
    return ImageRef(host, name, tag, digest)


@dataclass(frozen=True)
class EcrHost:
    account: str
    region: str


def ecr_host(host: str) -> EcrHost | None:
    """Account and region when HOST (optionally with a port) is a private ECR registry, else None."""
    match = ECR_HOST.fullmatch(host.partition(":")[0])
    return EcrHost(match["account"], match["region"]) if match else None


def _base_url(host: str) -> str:
    # A lab registry on the loopback interface speaks plain HTTP (docker treats localhost as insecure-ok).
    return host if "://" in host else f"http://{host}"


def _session(host: str) -> requests.Session:
    session = requests.Session()
    hostname = urlsplit(_base_url(host)).hostname or ""
    # Never route a loopback registry through an HTTP(S)_PROXY from the environment.
    session.trust_env = hostname not in ("localhost", "127.0.0.1", "::1")
    return session


def ping(host: str, *, timeout: float = TIMEOUT) -> None:
    """`GET /v2/`: 200 (open) or 401 (auth needed) means a registry answers; anything else is RegistryError."""
    url = f"{_base_url(host)}/v2/"
    try:
        with _session(host) as session:
            resp = session.get(url, timeout=timeout)
    except requests.RequestException as exc:
        raise RegistryError(
            f"registry {host} is not reachable ({exc.__class__.__name__})",
            hint="start it with `invoke up` (or check settings.registry / push_registry)",
        ) from exc
    if resp.status_code not in (200, 401):
        raise RegistryError(f"registry {host} answered {resp.status_code} on /v2/", hint="is this a registry?")


def manifest_digest(host: str, name: str, reference: str, *, timeout: float = TIMEOUT) -> str | None:
    """The digest the registry serves for NAME:REFERENCE (a tag or a digest), or None if it has no such manifest.

    RegistryError when the registry cannot be reached or answers with an error other than 404.
    """
    url = f"{_base_url(host)}/v2/{name}/manifests/{reference}"
    try:
        with _session(host) as session:
            resp = session.get(url, headers={"Accept": ", ".join(MANIFEST_TYPES)}, timeout=timeout)
    except requests.RequestException as exc:
        raise RegistryError(
            f"registry {host} is not reachable ({exc.__class__.__name__})",
            hint="start it with `invoke up` (or check settings.registry / push_registry)",
        ) from exc
    if resp.status_code == 404:
        return None
    if resp.status_code != 200:
        raise RegistryError(f"registry {host}: GET {url} answered {resp.status_code}: {resp.text[:200].strip()}")
    digest = resp.headers.get("Docker-Content-Digest", "")
    if not digest:
        raise RegistryError(f"registry {host} sent no Docker-Content-Digest for {name}:{reference}")
    return digest
