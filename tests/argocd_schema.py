"""Validate Argo CD objects against the vendored v3.5.1 CRDs (tests/data/argocd): the CRD's openAPIV3Schema
with jsonschema, plus a strict walk that rejects any key the schema does not declare (the API server prunes
unknown fields silently, so a misspelt field would otherwise just vanish)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

DATA = Path(__file__).resolve().parent / "data" / "argocd"
CRD_FILES = {"Application": "application-crd.yaml", "AppProject": "appproject-crd.yaml"}
# The CRDs declare `metadata: {type: object}` only; these are the ObjectMeta fields the lab's objects may use.
METADATA_KEYS = {"name", "namespace", "labels", "annotations", "finalizers"}


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((DATA / CRD_FILES[kind]).read_text())
    assert crd["spec"]["names"]["kind"] == kind
    schema: dict[str, Any] = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def unknown_fields(value: Any, schema: dict[str, Any], path: str = "") -> list[str]:
    """Paths of keys in ``value`` that ``schema`` does not declare."""
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    problems: list[str] = []
    if isinstance(value, dict):
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        if path == ".metadata":
            return [f"{path}.{k}" for k in value if k not in METADATA_KEYS]
        for key, sub in value.items():
            where = f"{path}.{key}"
            if props is not None and key in props:
                problems += unknown_fields(sub, props[key], where)
            elif isinstance(extra, dict):
                problems += unknown_fields(sub, extra, where)
            else:
                problems.append(where)
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            problems += unknown_fields(item, schema["items"], f"{path}[{i}]")
    return problems


def crd_problems(doc: dict[str, Any]) -> list[str]:
    """Everything wrong with ``doc`` for its CRD: schema violations and undeclared fields."""
    schema = crd_schema(doc["kind"])
    validator = jsonschema.Draft7Validator(schema)
    problems = [
        f"{'.'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in validator.iter_errors(doc)
    ]
    problems += [f"unknown field {p}" for p in unknown_fields(doc, schema)]
    return problems
