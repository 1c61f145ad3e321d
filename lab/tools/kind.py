"""The kind CLI: argv builders and output parsers. Every call goes through the Runner.

Flags as defined in kind's `pkg/cmd/kind/...` (create cluster: --name --config --image --retain --wait
--kubeconfig; get nodes/kubeconfig, delete cluster: --name; load image-archive ARCHIVE --name). Informational
messages such as "No kind clusters found." go to stderr, so empty stdout means "none".

Images reach the nodes as archives (`docker image save --platform` + `kind load image-archive`), not with
`kind load docker-image`: that one saves without a platform, which fails for multi-platform images on Docker's
containerd image store (kubernetes-sigs/kind#3795; the workaround is in kind's known issues, PR #4247).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

from lab.core.errors import ToolNotFound
from lab.core.runner import Runner
from lab.tools.docker import DOCKER

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
    try:
        res = runner.run([kind, "get", "clusters"], hint="is Docker running? `docker version`")
    except ToolNotFound as exc:  # the hint above is for a kind that runs and fails
        hint = "`invoke doctor --fix` installs the pinned kind into the state dir's bin/ (default .lab/bin)"
        raise ToolNotFound(kind, hint=hint) from exc
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
    runner.run(argv, timeout=CREATE_TIMEOUT, hint=create_failed_hint(name, config, kind=kind))


def create_failed_hint(name: str, config: Path, *, kind: str = KIND) -> str:
    """Advice after a failed `kind create cluster`. kind deletes the nodes of a failed create unless --retain
    (kind pkg/cluster/internal/create/create.go), so `docker logs` of the node only works on a retained one."""
    node = f"{name}-control-plane"
    return (
        "low memory or a busy host port are the usual causes; to see why, keep the node: "
        f"`{shlex.join([kind, 'create', 'cluster', '--name', name, '--config', str(config), '--retain'])}`, "
        f"then `docker logs {node}`, and `{shlex.join([kind, 'delete', 'cluster', '--name', name])}` after"
    )


def delete_cluster(runner: Runner, name: str, *, kind: str = KIND) -> None:
    runner.run([kind, "delete", "cluster", "--name", name], timeout=300)


def get_nodes(runner: Runner, name: str, *, kind: str = KIND) -> list[str]:
    """Node container names of a cluster (empty if it has none)."""
    res = runner.run([kind, "get", "nodes", "--name", name])
    return [line.strip() for line in res.stdout.splitlines() if line.strip()]


def load_image_archive(runner: Runner, name: str, archive: Path, *, kind: str = KIND) -> None:
    """Import a `docker save` archive into every node of cluster NAME (`ctr images import` on each node; kind
    pkg/cmd/kind/load/image-archive/image-archive.go). Unlike `load docker-image` it imports even where the node
    already has the image: callers check first (`node_image_id`)."""
    runner.run(
        [kind, "load", "image-archive", str(archive), "--name", name],
        timeout=1800,
        hint="see the ctr error above; `docker info` shows the image store (containerd or overlay2)",
    )


def node_image_id(runner: Runner, node: str, image: str) -> str:
    """The ID of IMAGE in a node's containerd, "" if absent: what `kind load docker-image` compares with the
    local image ID to skip nodes that have it (`crictl inspecti IMAGE` -> .status.id; kind
    pkg/cluster/nodeutils/util.go ImageID)."""
    res = runner.run([DOCKER, "exec", node, "crictl", "inspecti", image], check=False)
    if res.returncode != 0 or not res.stdout.strip():
        return ""
    try:
        data: Any = json.loads(res.stdout)
    except json.JSONDecodeError:
        return ""
    status = data.get("status") if isinstance(data, dict) else None
    return str(status.get("id") or "") if isinstance(status, dict) else ""


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
