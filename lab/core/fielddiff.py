"""One field diff: the fields a desired object sets whose live value differs, as Argo CD's diff sees drift.

    object_diff(desired, live) -> list[FieldDiff]        # two Kubernetes objects (dicts as the API serves them)
    value_diff(desired, live, path="") -> list[(path, desired, live)]   # any two JSON-like values

Rules (argo-cd issues 4537 and 7611: a field git does not set is not a diff):
- only what ``desired`` sets is compared; keys only ``live`` has (defaults, status, annotations others add) are not;
- of an object: metadata.labels, metadata.annotations, spec and data (COMPARED, SECTIONS);
- a list whose items are all mappings with a ``name`` (containers, env, ports, volumes) is matched by name, as the
  Kubernetes strategic merge patch does; other lists are compared item by item and differ when their lengths do;
- a value ``live`` lacks is MISSING, shown as "(unset)"; a live object that does not exist is one
  FieldDiff(path="(object)", desired="present", live="missing").
Paths read like kubectl's: ``spec.template.spec.containers[name=app].image``, ``metadata.labels.app``, ``args[0]``.
Values are shown as strings (JSON for non-strings), cut to 80 characters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Final

MISSING: Final = object()  # the live side has no value at this path
COMPARED = ("labels", "annotations")  # of metadata
SECTIONS = ("spec", "data")  # top-level keys compared
SHOWN = 80  # characters of a value shown


@dataclass(frozen=True)
class FieldDiff:
    resource: str  # "Deployment/lab-app"
    path: str  # "spec.replicas", "spec.template.spec.containers[name=app].image", "(object)"
    desired: str
    live: str


def show(value: Any) -> str:
    if value is MISSING:
        return "(unset)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= SHOWN else text[: SHOWN - 3] + "..."


def value_diff(desired: Any, live: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """(path, desired value, live value) of every leaf DESIRED sets that LIVE does not equal (module docstring)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [(path, desired, live)]
        out: list[tuple[str, Any, Any]] = []
        for key, value in desired.items():
            out += value_diff(value, live.get(key, MISSING), f"{path}.{key}" if path else key)
        return out
    if isinstance(desired, list):
        if not isinstance(live, list):
            return [(path, desired, live)]
        if desired and all(isinstance(d, dict) and "name" in d for d in desired):
            by_name = {item.get("name"): item for item in live if isinstance(item, dict)}
            out = []
            for item in desired:
                out += value_diff(item, by_name.get(item["name"], MISSING), f"{path}[name={item['name']}]")
            return out
        if len(desired) != len(live):
            return [(path, desired, live)]
        out = []
        for i, (d, lv) in enumerate(zip(desired, live, strict=True)):
            out += value_diff(d, lv, f"{path}[{i}]")
        return out
    return [] if desired == live else [(path, desired, live)]


def object_diff(desired: dict[str, Any], live: dict[str, Any] | None) -> list[FieldDiff]:
    """The FieldDiffs of a Kubernetes object: what DESIRED (git) sets that LIVE (None: absent) differs in."""
    meta = desired.get("metadata") or {}
    resource = f"{desired.get('kind')}/{meta.get('name')}"
    if live is None:
        return [FieldDiff(resource, "(object)", "present", "missing")]
    pairs: list[tuple[str, Any, Any]] = []
    live_meta = live.get("metadata") or {}
    for key in COMPARED:
        if key in meta:
            pairs += value_diff(meta[key], live_meta.get(key, MISSING), f"metadata.{key}")
    for key in SECTIONS:
        if key in desired:
            pairs += value_diff(desired[key], live.get(key, MISSING), key)
    return [FieldDiff(resource, path, show(d), show(lv)) for path, d, lv in pairs]
