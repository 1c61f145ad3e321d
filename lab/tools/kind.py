"""The kind CLI: argv builders and output parsers. Every call goes through the Runner.

Flags as defined in kind's `pkg/cmd/kind/...` (create cluster: --name --config --image --retain --wait
--kubeconfig; get nodes/kubeconfig, delete cluster: --name; load docker-image IMAGE... --name). Informational
messages such as "No kind clusters found." go to stderr, so empty stdout means "none".
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from lab.runner import Runner

KIND = "kind"
# Label kind puts on every node container (kind pkg/cluster/internal/providers/docker/constants.go).
CLUSTER_LABEL = "io.x-k8s.kind.cluster"
# The Docker network kind creates and attaches nodes to (overridable only via KIND_EXPERIMENTAL_DOCKER_NETWORK).
NETWORK = "kind"
CREATE_TIMEOUT = 900.0  # seconds; pulling the node image on a slow link dominates

_VERSION_RE = re.compile(r"\bv?(\d+)\.(\d+)\.(\d+)([-+][0-9A-Za-z.+-]*)?")


def binary(state_dir: Path | None = None) -> str:
    """The kind to run: the lab's own (<state_dir>/bin/kind, installed by `ensure_kind --fix`), else PATH's."""
    if state_dir is not None:
        own = state_dir / "bin" / KIND
        if own.is_file():
            return str(own)
    return shutil.which(KIND) or KIND


def get_clusters(runner: Runner, *, kind: str = KIND) -> list[str]:
    res = runner.run([kind, "get", "clusters"], hint="is Docker running? `docker version`")
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def create_cluster(
    runner: Runner,
    name: str,
    config: Path,
    *,
    kind: str = KIND,
    wait: str = "120s",
    kubeconfig: Path | None = None,
) -> None:
    """`kind create cluster`; --wait blocks until the control plane is Ready (a Go duration, e.g. 120s)."""
    argv = [kind, "create", "cluster", "--name", name, "--config", str(config), "--wait", wait]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    runner.run(
        argv,
        timeout=CREATE_TIMEOUT,
        hint="see `docker logs <cluster>-control-plane`; low memory or a busy host port are the usual causes",
    )


def delete_cluster(runner: Runner, name: str, *, kind: str = KIND) -> None:
    runner.run([kind, "delete", "cluster", "--name", name], timeout=300)


def get_nodes(runner: Runner, name: str, *, kind: str = KIND) -> list[str]:
    """Node container names of a cluster (empty if it has none)."""
    res = runner.run([kind, "get", "nodes", "--name", name])
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def load_docker_image(runner: Runner, name: str, images: Sequence[str], *, kind: str = KIND) -> None:
    """Copy local images into every node (kind skips nodes that already hold the same image ID)."""
    if not images:
        return
    runner.run(
        [kind, "load", "docker-image", *images, "--name", name],
        timeout=1800,
        hint="the image must exist locally (`docker image ls`)",
    )


def get_kubeconfig(runner: Runner, name: str, *, kind: str = KIND, internal: bool = False) -> str:
    argv = [kind, "get", "kubeconfig", "--name", name]
    if internal:
        argv.append("--internal")
    return runner.run(argv).stdout


def version(runner: Runner, *, kind: str = KIND) -> str:
    """The version `kind version` prints, e.g. "v0.32.0" (empty if it cannot be read)."""
    return parse_version(runner.run([kind, "version"]).stdout)


def parse_version(output: str) -> str:
    """'kind v0.32.0 go1.25.5 linux/amd64' -> 'v0.32.0' (pre-releases keep their suffix: v0.33.0-alpha.12+abc)."""
    text = output.strip()
    if text.startswith("kind "):
        text = text[len("kind ") :]
    match = _VERSION_RE.search(text)
    if not match:
        return ""
    return "v" + ".".join(match.group(i) for i in (1, 2, 3)) + (match.group(4) or "")


def version_tuple(ver: str) -> tuple[int, int, int] | None:
    match = _VERSION_RE.search(ver)
    if not match:
        return None
    return int(match.group(1)), int(match.group(2)), int(match.group(3))
