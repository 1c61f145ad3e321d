"""The schema cache of rendered objects (lab/gitops/schema_cache.py): ship's render of dev differs from the last one
only in the Deployment's image, which the schema cannot tell apart; everything else is validated again."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.core.errors import GitOpsError
from lab.gitops import overlay
from lab.gitops.overlay import validate_rendered
from lab.gitops.schema_cache import SchemaCache

CONFIGMAP = "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: lab-app-config}\ndata: {LOG_LEVEL: DEBUG}\n"


def deployment(image: str, extra: str = "") -> str:
    return f"""\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: lab-app
spec:
  selector:
    matchLabels: {{app: x}}
  template:
    metadata:
      labels: {{app: x}}
    spec:
      containers:
        - name: app
          image: {image}
{extra}"""


@pytest.fixture
def validated(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The kinds kubernetes-validate is asked about (the real validation runs)."""
    asked: list[str] = []
    real = overlay._validate_schema

    def counting(doc: dict[str, object]) -> None:
        asked.append(str(doc["kind"]))
        real(doc)  # type: ignore[arg-type]

    monkeypatch.setattr(overlay, "_validate_schema", counting)
    return asked


def test_a_new_image_in_an_object_found_valid_is_not_validated_again(tmp_path: Path, validated: list[str]) -> None:
    cache = SchemaCache(tmp_path / "cache")
    validate_rendered(deployment("r/lab-app:t1") + CONFIGMAP, "r/lab-app:t1", cache=cache)
    assert validated == ["Deployment", "ConfigMap"]
    validate_rendered(deployment("r/lab-app:t2") + CONFIGMAP, "r/lab-app:t2", cache=cache)
    assert validated == ["Deployment", "ConfigMap"]  # nothing new to validate
    # The image is still checked on every render, cached or not.
    with pytest.raises(GitOpsError, match="would run r/lab-app:t3, expected r/lab-app:t4"):
        validate_rendered(deployment("r/lab-app:t3"), "r/lab-app:t4", cache=cache)


def test_any_other_change_is_validated_and_an_invalid_object_is_never_remembered(
    tmp_path: Path, validated: list[str]
) -> None:
    cache = SchemaCache(tmp_path / "cache")
    validate_rendered(deployment("r/lab-app:t1"), "r/lab-app:t1", cache=cache)
    for _ in range(2):
        with pytest.raises(GitOpsError, match="not valid Kubernetes"):
            validate_rendered(deployment("r/lab-app:t1", "  replicaz: 2\n"), "r/lab-app:t1", cache=cache)
    assert validated == ["Deployment", "Deployment", "Deployment"]
    changed = deployment("r/lab-app:t1").replace("labels: {app: x}", "labels: {app: y}")
    validate_rendered(changed, "r/lab-app:t1", cache=cache)
    assert len(validated) == 4


def test_a_cache_that_cannot_be_written_only_costs_a_validation(tmp_path: Path, validated: list[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = SchemaCache(blocker / "cache")
    for _ in range(2):
        validate_rendered(deployment("r/lab-app:t1"), "r/lab-app:t1", cache=cache)
    assert validated == ["Deployment", "Deployment"]
