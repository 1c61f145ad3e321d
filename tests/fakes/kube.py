"""One strict fake of lab.clients.kube.Cluster, the generic Kubernetes client: objects in memory, patches applied as the
API server applies them (merge patch: RFC 7386; strategic merge patch: lists of named objects merged by `name`,
the patchMergeKey of containers, env, ports; the `scale` subresource sets spec.replicas).

Strict: a kind, subresource or patch type lab.clients.kube does not handle is an error, as in the real client; a
patch of an object that does not exist is Conflict, as the real client maps the API's 404; and a fake made with
``writable=False`` fails any patch or delete. Every change is recorded as the lab.clients.kube request that made it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from lab.clients import kube
from lab.core.errors import Conflict

Obj = dict[str, Any]
Key = tuple[str, str, str]  # (kind, namespace, name)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """A merge patch in which lists of objects that all have a `name` merge item by item on it."""
    if isinstance(patch, list) and isinstance(target, list) and all(isinstance(i, dict) and "name" in i for i in patch):
        out = copy.deepcopy(target)
        for item in patch:
            at = next(
                (i for i, old in enumerate(out) if isinstance(old, dict) and old.get("name") == item["name"]), None
            )
            if at is None:
                out.append(copy.deepcopy(item))
            else:
                out[at] = strategic_merge_patch(out[at], item)
        return out
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = strategic_merge_patch(out.get(key), value)
    return out


@dataclass
class FakeKube:
    objects: dict[Key, Obj] = field(default_factory=dict)
    writable: bool = True
    context: str = "kind-gitops-lab"
    changes: list[kube.Request] = field(default_factory=list)

    def put(self, obj: Obj) -> None:
        """Store OBJ, of any kind: the cluster has them all; only the client's calls are limited to lab.clients.kube's
        kinds."""
        meta = obj["metadata"]
        self.objects[(obj["kind"], meta["namespace"], meta["name"])] = copy.deepcopy(obj)

    def object(self, kind: str, namespace: str, name: str) -> Obj:
        """The stored object itself (for assertions); KeyError when absent."""
        return self.objects[(kind, namespace, name)]

    def version(self) -> str:
        return "v1.36.1"

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        obj = self.objects.get((kube.known(kind), namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    def list(self, kind: str, namespace: str, label_selector: str = "") -> list[Obj]:
        kube.known(kind)
        return [
            copy.deepcopy(obj)
            for (k, ns, _), obj in sorted(self.objects.items())
            if (k, ns) == (kind, namespace) and kube.matches(obj, label_selector)
        ]

    def patch(self, kind: str, namespace: str, name: str, body: Obj, *, patch_type: str, subresource: str = "") -> None:
        kube.method_name("patch", kind, subresource)  # the real client's check of kind and subresource
        assert patch_type in kube.PATCH_TYPES, f"lab.clients.kube sends {kube.PATCH_TYPES}, not {patch_type}"
        assert self.writable, f"unscripted patch of {kind} {namespace}/{name}: this fake is read-only"
        key = (kind, namespace, name)
        if key not in self.objects:
            raise Conflict(f"{kind} {namespace}/{name} does not exist ({subresource or 'patch'})")
        self.changes.append(kube.Patch(kind, namespace, name, copy.deepcopy(body), patch_type, subresource))
        if subresource == "scale":  # the Scale object's spec.replicas is the Deployment's
            assert set(body) == {"spec"} and set(body["spec"]) == {"replicas"}, body
            self.objects[key]["spec"]["replicas"] = body["spec"]["replicas"]
            return
        apply = merge_patch if patch_type == kube.MERGE_PATCH else strategic_merge_patch
        self.objects[key] = apply(self.objects[key], body)

    def delete(self, kind: str, namespace: str, name: str) -> None:
        kube.known(kind)
        assert self.writable, f"unscripted delete of {kind} {namespace}/{name}: this fake is read-only"
        self.changes.append(kube.Delete(kind, namespace, name))
        self.objects.pop((kind, namespace, name), None)
