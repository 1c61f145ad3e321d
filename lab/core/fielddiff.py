"""Which fields that a desired object sets have a different live value: drift as Argo CD's diff sees it.

Pure data: two objects as plain dicts (the rendered manifest and the object as the API serves it), no Kubernetes.
Only what the desired object sets is compared: fields only the live object has (server defaults, `status`,
annotations others add) are not drift. Argo CD compares the same way: a field git does not set, such as an env
var added by hand, is not a diff (argo-cd issues 4537, 7611). Lists of objects that all carry a `name` (containers,
env, ports) are matched by name, as the Kubernetes API's patchMergeKey matches them; other lists by position.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

MISSING = object()
COMPARED_METADATA = ("labels", "annotations")  # of metadata; plus the top-level spec and data
COMPARED_TOP = ("spec", "data")
SHOWN = 80  # characters of a value shown before it is cut with "..."


@dataclass(frozen=True)
class FieldDiff:
    resource: str  # "Deployment/lab-app"
    path: str  # "spec.replicas", "spec.template.spec.containers[name=app].image", "(object)"
    desired: str
    live: str


def show(value: Any) -> str:
    """A value as the diff shows it: strings as they are, anything else as sorted JSON; "(unset)" when absent."""
    if value is MISSING:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def differences(desired: Any, live: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, desired, live) for every leaf that DESIRED sets and LIVE does not match (MISSING when absent)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [(path, desired, live)]
        out: list[tuple[str, Any, Any]] = []
        for key, value in desired.items():
            out += differences(value, live.get(key, MISSING), f"{path}.{key}" if path else key)
        return out
    if isinstance(desired, list):
        return _list_differences(desired, live, path)
    return [] if desired == live else [(path, desired, live)]


def _list_differences(desired: list[Any], live: Any, path: str) -> list[tuple[str, Any, Any]]:
    if not isinstance(live, list):
        return [(path, desired, live)]
    out: list[tuple[str, Any, Any]] = []
    if desired and all(isinstance(d, dict) and "name" in d for d in desired):
        by_name = {item.get("name"): item for item in live if isinstance(item, dict)}
        for item in desired:
            out += differences(item, by_name.get(item["name"], MISSING), f"{path}[name={item['name']}]")
        return out
    if len(desired) != len(live):
        return [(path, desired, live)]
    for i, (d, lv) in enumerate(zip(desired, live, strict=True)):
        out += differences(d, lv, f"{path}[{i}]")
    return out


def field_diff(desired: Obj, live: Obj | None) -> list[FieldDiff]:
    """The fields DESIRED sets (metadata labels and annotations, spec, data) whose value in LIVE differs;
    one "(object)" entry when LIVE is None (the object is missing)."""
    meta = desired.get("metadata") or {}
    resource = f"{desired.get('kind')}/{meta.get('name')}"
    if live is None:
        return [FieldDiff(resource, "(object)", "present", "missing")]
    pairs: list[tuple[str, Any, Any]] = []
    live_meta = live.get("metadata") or {}
    for key in COMPARED_METADATA:
        if key in meta:
            pairs += differences(meta[key], live_meta.get(key, MISSING), f"metadata.{key}")
    for key in COMPARED_TOP:
        if key in desired:
            pairs += differences(desired[key], live.get(key, MISSING), key)
    return [FieldDiff(resource, path, show(d), show(lv)) for path, d, lv in pairs]
