"""Which rendered objects were already found valid by the Kubernetes schema: validating costs about a second
(kubernetes-validate's import and its JSON schemas), and ship renders dev's overlay on every run, where the only
change is the Deployment's image.

A key is the sha256 of the object, as canonical JSON with every container's `image` blanked, the schema version and
kubernetes-validate's version. The image is blanked because the schema cannot tell one image string from another
(`io.k8s.api.core.v1.Container.image` is a plain string): an object valid with one image is valid with any. What the
image must be is checked apart from the schema, on every render (validate_rendered: the Deployment must run the
expected image). Each known key is an empty file under the cache directory, so concurrent ships need no lock.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

KEY_FORMAT = "1"  # part of every key: a change in how keys are made invalidates the old ones


def _blank_images(doc: dict[str, Any]) -> dict[str, Any]:
    """DOC with the image of every container and init container of a pod template (or pod) set to ""."""
    out = copy.deepcopy(doc)
    specs = [out.get("spec")]
    template = (out.get("spec") or {}).get("template") if isinstance(out.get("spec"), dict) else None
    if isinstance(template, dict):
        specs.append(template.get("spec"))
    for spec in specs:
        if not isinstance(spec, dict):
            continue
        for field in ("containers", "initContainers", "ephemeralContainers"):
            for container in spec.get(field) or []:
                if isinstance(container, dict) and "image" in container:
                    container["image"] = ""
    return out


@dataclass(frozen=True)
class SchemaCache:
    directory: Path

    def key(self, doc: dict[str, Any], schema_version: str) -> str:
        try:
            validator = metadata.version("kubernetes-validate")
        except metadata.PackageNotFoundError:
            validator = "unknown"
        canonical = json.dumps(_blank_images(doc), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(f"{KEY_FORMAT}\0{validator}\0{schema_version}\0{canonical}".encode()).hexdigest()

    def known(self, key: str) -> bool:
        return (self.directory / key).is_file()

    def remember(self, key: str) -> None:
        with contextlib.suppress(OSError):  # a cache that cannot be written only costs the next run a validation
            self.directory.mkdir(parents=True, exist_ok=True)
            (self.directory / key).touch()
