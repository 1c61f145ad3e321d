"""`make check`'s policy stage (.ci/policy/check): checkov on the rendered overlays, the generated Argo CD objects and
the Dockerfiles, with every finding accepted by name and reason in .ci/policy/accepted.yaml. Runs the real checkov
(the venv `make check` creates: .venv/checkov); skipped without it, except in CI (env CI set)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from lab.core.config import ROOT

CHECK = ROOT / ".ci" / "policy" / "check"
ACCEPTED = ROOT / ".ci" / "policy" / "accepted.yaml"
CHECKOV = ROOT / ".venv" / "checkov" / "bin" / "checkov"

pytestmark = [
    pytest.mark.integration,  # runs checkov and kubectl kustomize (tests/tiers.py)
    pytest.mark.skipif(
        not CHECKOV.is_file() and not os.environ.get("CI"), reason=f"{CHECKOV} missing: `make check` installs it"
    ),
]


def run_check(accepted: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, str(CHECK), "--checkov", str(CHECKOV), "--accepted", str(accepted)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=600)


def test_every_accepted_finding_has_a_reason() -> None:
    entries = yaml.safe_load(ACCEPTED.read_text())["accepted"]
    assert entries and all(len(str(e["reason"]).split()) >= 10 and e["resources"] for e in entries)


def test_a_finding_not_accepted_and_an_entry_that_matches_nothing_both_fail(tmp_path: Path) -> None:
    entries = yaml.safe_load(ACCEPTED.read_text())["accepted"]
    kept = [e for e in entries if e["check"] != "CKV_K8S_11"]  # CPU limits: now unaccounted for
    kept.append({"check": "CKV_K8S_8", "resources": ["Deployment.lab-dev.lab-app"], "reason": "stale entry"})
    changed = tmp_path / "accepted.yaml"
    changed.write_text(yaml.safe_dump({"accepted": kept}))
    proc = run_check(changed)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for env in ("dev", "staging", "prod"):
        assert f"CKV_K8S_11 Deployment.lab-{env}.lab-app (/overlay-{env}.yaml:" in proc.stderr, proc.stderr
    assert "CKV_K8S_8 Deployment.lab-dev.lab-app is accepted but checkov does not report it" in proc.stderr
    # The file as committed accounts for every finding.
    proc = run_check(ACCEPTED)
    assert proc.returncode == 0 and "all accepted with a reason" in proc.stdout, proc.stdout + proc.stderr
