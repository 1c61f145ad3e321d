"""The overlays Argo CD deploys: each environment's `overlays/<env>/kustomization.yaml` and its images[] entry for
lab-app, edited as round-trip YAML (comments, order and quoting kept), and the check of a rendered overlay.

- ImageSpec: one kustomize `images[]` entry (kustomize api/types/image.go: name, newName, newTag, digest);
- read_image / set_image: read and set lab-app's entry (set_image adds it when missing, drops a stale digest);
- add_resource: a file in the overlay's resources (the SealedSecret of `invoke secret set`);
- validate_rendered: a `kubectl kustomize` output is valid Kubernetes (kubernetes-validate, strict) and runs the
  expected image;
- make_tag: the tag of one build, `<sha7>-<UTC time>[-<seq>][-dirty]`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from lab.core import names, versions
from lab.core.errors import GitOpsError, ToolNotFound
from lab.gitops.schema_cache import SchemaCache
from lab.manifests import sealed_secrets

IMAGE_NAME = names.APP_NAME  # the image name in base/deployment.yaml that each overlay's images[] entry replaces
SEED_TAG = "seed"  # the tag in the app repo's overlays: nothing deployed yet
# Schema version for validation: the kind node image's minor release (kubernetes-validate ships x.y.0 schemas).
K8S_SCHEMA_VERSION = ".".join(versions.KUBERNETES_VERSION.split(".")[:2]) + ".0"


def overlay_file(env: str) -> str:
    return f"overlays/{env}/kustomization.yaml"


# Tags ------------------------------------------------------------------------------------------------
def make_tag(sha: str, now: datetime, *, dirty: bool = False, seq: int = 1) -> str:
    """`<sha7>-<UTC yyyymmddHHMMSS>[-<seq>][-dirty]`: one per build and never reused, so a pod never runs a stale
    image under a familiar tag (the Deployment uses imagePullPolicy IfNotPresent). SEQ 2, 3, ... tell apart builds
    of one commit in the same second (ship picks the first free one: lab/steps/ship.py, reserve_tag)."""
    if now.tzinfo is None:
        raise ValueError("make_tag needs an aware datetime (the clock must say which timezone)")
    if seq < 1:
        raise ValueError(f"make_tag: seq counts from 1, got {seq}")
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S")
    return f"{sha[:7]}-{stamp}" + (f"-{seq}" if seq > 1 else "") + ("-dirty" if dirty else "")


# The images[] entry of an overlay --------------------------------------------------------------------
@dataclass(frozen=True)
class ImageSpec:
    """One kustomize `images[]` entry (kustomize api/types/image.go: name, newName, newTag, digest)."""

    new_name: str
    new_tag: str = ""
    digest: str = ""

    @property
    def reference(self) -> str:
        """The image the rendered Deployment runs. kustomize v5 keeps both tag and digest (`name:tag@digest`)."""
        return self.new_name + (f":{self.new_tag}" if self.new_tag else "") + (f"@{self.digest}" if self.digest else "")

    @property
    def tagged(self) -> str:
        return self.new_name + (f":{self.new_tag}" if self.new_tag else "")


def _yaml() -> YAML:
    ry = YAML()  # round-trip: keeps comments, key order and quoting
    ry.preserve_quotes = True
    ry.indent(mapping=2, sequence=4, offset=2)  # the overlays' style: "images:\n  - name: ..."
    ry.width = 4096  # never re-wrap long lines
    return ry


def _load(text: str, where: str) -> CommentedMap:
    try:
        data = _yaml().load(text)
    except Exception as exc:  # ruamel raises several unrelated error types
        raise GitOpsError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, CommentedMap):
        raise GitOpsError(f"{where} is not a kustomization (no mapping at the top)")
    return data


def _image_entry(data: CommentedMap, where: str) -> CommentedMap | None:
    images = data.get("images")
    if images is None:
        return None
    if not isinstance(images, list):
        raise GitOpsError(f"{where}: images is not a list")
    entries = [e for e in images if isinstance(e, CommentedMap) and e.get("name") == IMAGE_NAME]
    if len(entries) > 1:
        raise GitOpsError(f"{where}: {len(entries)} images[] entries named {IMAGE_NAME}; keep exactly one")
    return entries[0] if entries else None


def read_image(text: str, where: str = "kustomization.yaml") -> ImageSpec | None:
    """The overlay's image for lab-app, or None when it has no images[] entry for it."""
    entry = _image_entry(_load(text, where), where)
    if entry is None:
        return None
    return ImageSpec(
        str(entry.get("newName") or IMAGE_NAME), str(entry.get("newTag") or ""), str(entry.get("digest") or "")
    )


def set_image(text: str, spec: ImageSpec, where: str = "kustomization.yaml") -> str:
    """TEXT with lab-app's images[] entry set to SPEC (added if missing); comments and layout are kept.

    A digest is written when SPEC has one and removed otherwise, so the entry never pins a stale digest.
    """
    data = _load(text, where)
    entry = _image_entry(data, where)
    if entry is None:
        if "images" not in data or data["images"] is None:
            data["images"] = CommentedSeq()
        entry = CommentedMap(name=IMAGE_NAME)
        data["images"].append(entry)
    entry["newName"] = spec.new_name
    if spec.new_tag:
        entry["newTag"] = DoubleQuotedScalarString(spec.new_tag)
    elif "newTag" in entry:
        del entry["newTag"]
    if spec.digest:
        entry["digest"] = spec.digest
    elif "digest" in entry:
        del entry["digest"]
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


def add_resource(text: str, resource: str, where: str = "kustomization.yaml") -> str:
    """TEXT with RESOURCE in its `resources` list (appended when missing; unchanged when there); layout kept."""
    data = _load(text, where)
    resources = data.get("resources")
    if resources is None:
        data["resources"] = resources = CommentedSeq()
    if not isinstance(resources, list):
        raise GitOpsError(f"{where}: resources is not a list")
    if resource in resources:
        return text
    resources.append(resource)
    out = io.StringIO()
    _yaml().dump(data, out)
    return out.getvalue()


# Validation of a rendered overlay --------------------------------------------------------------------
def validate_rendered(
    rendered: str, expected_image: str, *, where: str = "overlay", cache: SchemaCache | None = None
) -> list[dict[str, Any]]:
    """Check a `kubectl kustomize` output: every object valid for the cluster's Kubernetes version (strict:
    unknown fields are errors), and the lab-app Deployment runs EXPECTED_IMAGE. Returns the documents. CACHE: the
    objects found valid before are not validated again (lab/gitops/schema_cache.py); the image check always runs."""
    try:
        docs = [d for d in yaml.safe_load_all(rendered) if d]
    except yaml.YAMLError as exc:
        raise GitOpsError(f"{where} rendered to invalid YAML: {exc}") from exc
    images: list[str] = []
    for doc in docs:
        kind, name = doc.get("kind", "?"), (doc.get("metadata") or {}).get("name", "?")
        if doc.get("apiVersion") == sealed_secrets.API_VERSION and kind == sealed_secrets.KIND:
            _validate_sealed_secret(doc, where)  # a custom resource: upstream's CRD schema, not kubernetes-validate
            continue
        key = cache.key(doc, K8S_SCHEMA_VERSION) if cache is not None else ""
        try:
            if not (cache is not None and cache.known(key)):
                _validate_schema(doc)
                if cache is not None:
                    cache.remember(key)
        except SchemaInvalid as exc:
            cause = exc.cause
            first = str(cause).strip().splitlines()[0] if str(cause).strip() else cause.__class__.__name__
            raise GitOpsError(
                f"{where}: {kind}/{name} is not valid Kubernetes {K8S_SCHEMA_VERSION}: {first}",
                hint="nothing was committed; fix the overlay in the GitOps repo",
            ) from cause
        if kind == "Deployment" and name == IMAGE_NAME:
            containers = (((doc.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []
            images += [str(c.get("image", "")) for c in containers]
    if not images:
        raise GitOpsError(f"{where} renders no Deployment {IMAGE_NAME}", hint="nothing was committed")
    if expected_image not in images:
        raise GitOpsError(
            f"{where}: Deployment {IMAGE_NAME} would run {', '.join(images)}, expected {expected_image}",
            hint="is the images[] entry named lab-app (the image name in base/deployment.yaml)?",
        )
    return docs


def _validate_sealed_secret(doc: dict[str, Any], where: str) -> None:
    try:
        sealed_secrets.validate(doc)
    except sealed_secrets.InvalidSealedSecret as exc:
        name = (doc.get("metadata") or {}).get("name", "?")
        raise GitOpsError(
            f"{where}: SealedSecret/{name} is not valid for the SealedSecret CRD: {exc}",
            hint="nothing was committed; fix the overlay in the GitOps repo",
        ) from exc


class SchemaInvalid(Exception):
    """kubernetes-validate refused a document (CAUSE: its ValidationError or SchemaNotFoundError)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _validate_schema(doc: dict[str, Any]) -> None:
    """kubernetes-validate (strict), imported on first use: its import and schemas are most of a validation's cost."""
    try:
        import kubernetes_validate
    except ImportError as exc:  # a test extra today; the pipeline needs it at run time
        raise ToolNotFound("kubernetes-validate", hint="pip install kubernetes-validate") from exc
    try:
        kubernetes_validate.validate(doc, K8S_SCHEMA_VERSION, strict=True)
    except (kubernetes_validate.ValidationError, kubernetes_validate.SchemaNotFoundError) as exc:
        raise SchemaInvalid(exc) from exc
