"""Whether a kubeconfig names a context, without the kubernetes client (importing it costs 0.16 s).

`ship --no-wait` only tries the cluster on its way out (a refresh of dev); with no kubeconfig context for the lab's
cluster there is nothing to try, and the answer is the same ClusterUnreachable the client would give, sooner.

The files are the ones the kubernetes client reads (kubernetes-client/python 37.0.1 config/kube_config.py:
KUBE_CONFIG_DEFAULT_LOCATION is $KUBECONFIG or ~/.kube/config; KubeConfigMerger splits it on ':' (';' on Windows),
expands ~, skips paths that do not exist and merges the `contexts` lists by `name`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml


def kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The kubeconfig files that exist, in the order the client merges them."""
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG", "~/.kube/config")
    paths = [Path(os.path.expanduser(p)) for p in listed.split(os.pathsep) if p]
    return [p for p in paths if p.exists()]


def has_context(name: str, environ: Mapping[str, str] | None = None) -> bool | None:
    """True when a kubeconfig file names context NAME, False when none does (the client would refuse it), None
    when a file cannot be read as a kubeconfig (the client then says why)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in kubeconfig_paths(environ):
        try:
            data = yaml.load(path.read_text(), Loader=loader)  # noqa: S506 (a safe loader)
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        if data is None:
            continue
        if not isinstance(data, dict):
            return None
        for entry in data.get("contexts") or []:
            if isinstance(entry, dict) and entry.get("name") == name:
                return True
    return False
