"""The minikube CLI: argv builders and output parsers. Every call goes through the Runner.

`-p/--profile` selects the cluster; `profile list -o json` prints {"valid": [...], "invalid": [...]} with
profiles as {"Name", "Status", "Config"} (minikube cmd/minikube/cmd/config/profile_list.go).

Images reach minikube by `minikube image load` (see lab/steps/ship.py), so the lab uses neither the registry
addon (which would pull docker.io/registry and gcr.io/k8s-minikube/kube-registry-proxy: minikube
pkg/minikube/assets/addons.go, and fail offline) nor `--insecure-registry`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from lab.core.runner import Runner

MINIKUBE = "minikube"
START_TIMEOUT = 900.0  # seconds; the first start downloads the kicbase image and Kubernetes binaries


@dataclass(frozen=True)
class Profile:
    name: str
    status: str
    valid: bool


def start(
    runner: Runner,
    profile: str,
    *,
    driver: str | None = "docker",
    addons: Sequence[str] = (),
    kubernetes_version: str | None = None,
) -> None:
    argv = [MINIKUBE, "start", "-p", profile]
    if driver:
        argv += ["--driver", driver]
    if kubernetes_version:
        argv += ["--kubernetes-version", kubernetes_version]
    for addon in addons:
        argv += ["--addons", addon]
    runner.run(argv, timeout=START_TIMEOUT, hint=f"`minikube logs -p {profile}` shows why the start failed")


def delete(runner: Runner, profile: str) -> None:
    runner.run([MINIKUBE, "delete", "-p", profile], timeout=300)


def image_load(runner: Runner, profile: str, images: Sequence[str]) -> None:
    # One image per call: older minikube releases read only the first argument.
    for image in images:
        runner.run([MINIKUBE, "image", "load", image, "-p", profile], timeout=1800)


def profile_list(runner: Runner) -> list[Profile]:
    """All profiles minikube knows (valid and invalid); [] when there are none or the output is unreadable."""
    res = runner.run([MINIKUBE, "profile", "list", "-o", "json"], check=False)
    return parse_profile_list(res.stdout)


def parse_profile_list(output: str) -> list[Profile]:
    try:
        data: Any = json.loads(output) if output.strip() else {}
    except json.JSONDecodeError:
        return []
    if not isinstance(data, dict):
        return []
    profiles: list[Profile] = []
    for key, valid in (("valid", True), ("invalid", False)):
        for item in data.get(key) or []:
            if isinstance(item, dict) and item.get("Name"):
                profiles.append(Profile(str(item["Name"]), str(item.get("Status", "")), valid))
    return profiles


def status(runner: Runner, profile: str) -> dict[str, Any]:
    """`minikube status -o json` (Host, Kubelet, APIServer, Kubeconfig); {} if the profile does not answer.

    minikube encodes "not running" in a non-zero exit code, so the output is read whatever the code.
    """
    res = runner.run([MINIKUBE, "status", "-p", profile, "-o", "json"], check=False)
    try:
        data = json.loads(res.stdout) if res.stdout.strip() else {}
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def version(runner: Runner) -> str:
    """'v1.38.1' from `minikube version --short` (empty if unreadable)."""
    match = re.search(r"v\d+\.\d+\.\d+\S*", runner.run([MINIKUBE, "version", "--short"]).stdout)
    return match.group(0) if match else ""
