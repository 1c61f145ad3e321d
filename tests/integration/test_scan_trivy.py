"""The image scan for real: the pinned trivy (built from its Go module by .ci/cluster/build-trivy) scans the real app
image that a real `ship --no-wait` builds FROM the local base image, against a real trivy database written by trivy-db's
own writer (.ci/trivy-testdb) that holds one synthetic CRITICAL advisory for the Debian 12 source package openssl.
No vulnerability database can be downloaded on the build machines; this one is real in format, synthetic in content.

    1. ship: trivy finds CVE-2099-0001 in the image's libssl3 → ScanBlocked (exit 16), nothing pushed (the registry
       has no such tag), no deploy commit (the GitOps remote holds only its seed);
    2. ship --allow-vulnerable CVE-2099-0001: pushed, and the deploy commit's Accepted-Risk trailer names it.

The trivy build takes far more than 6 minutes cold, so without it this test skips (saying how to build it), unless
LAB_REQUIRE_TRIVY=1. trivy is found on PATH or in the CI cache (~/.cache/gitops-lab/ci/trivy-<version>/bin).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest
import test_ship
from test_ship import make_ctx, remote_head, served_digest, sh, trailers_of

from lab.core import versions
from lab.core.errors import ScanBlocked
from lab.steps.ship import ship

pytestmark = pytest.mark.docker
app_repo, remote, cleanup = test_ship.app_repo, test_ship.remote, test_ship.cleanup  # its fixtures, used here

CI_CACHE = Path(os.environ.get("LAB_CI_CACHE", Path.home() / ".cache" / "gitops-lab" / "ci"))
VULN = "CVE-2099-0001"
FIXED = "3.0.99-1~deb12u1"  # newer than any openssl bookworm ships (3.0.x-1~deb12uN)


def find(name: str, part: str) -> Path | None:
    on_path = shutil.which(name)
    if on_path:
        return Path(on_path)
    built = sorted(CI_CACHE.glob(f"{part}/bin/{name}"), key=lambda p: p.stat().st_mtime)
    return built[-1] if built and (built[-1].parent.parent / ".done").is_file() else None


@pytest.fixture
def trivy_bin() -> Path:
    exe = find("trivy", f"trivy-{versions.TRIVY_VERSION}")
    testdb = find("trivy-testdb", "trivy-testdb-*")
    if exe is None or testdb is None:
        reason = (
            f"trivy {versions.TRIVY_VERSION} and trivy-testdb are not built (a cold build takes well over 6 minutes): "
            "run .ci/cluster/build-trivy"
        )
        if os.environ.get("LAB_REQUIRE_TRIVY") == "1":
            pytest.fail(f"LAB_REQUIRE_TRIVY=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    version = sh(exe, "--version").stdout
    assert f"Version: {versions.TRIVY_VERSION.removeprefix('v')}" in version, version
    return exe


def write_db(testdb: Path, cache_dir: Path) -> None:
    sh(testdb, "-cache-dir", cache_dir, "-package", "openssl", "-id", VULN, "-fixed", FIXED, "-severity", "CRITICAL")


def test_a_real_critical_finding_blocks_a_real_ship_until_the_risk_is_accepted(
    tmp_path: Path,
    app_repo: Path,
    remote: Path,
    registry: str,
    base_image: str,
    cleanup: list[str],
    trivy_bin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", f"{trivy_bin.parent}:{os.environ['PATH']}")
    testdb = find("trivy-testdb", "trivy-testdb-*")
    assert testdb is not None
    ctx = make_ctx(tmp_path, registry, remote, base_image, scan_severity="CRITICAL")
    write_db(testdb, ctx.settings.scanner_cache_dir)
    app_sha = sh("git", "-C", app_repo, "rev-parse", "HEAD").stdout.strip()

    first = datetime(2026, 12, 1, 12, 0, 0, tzinfo=UTC)
    tag = f"{app_sha[:7]}-20261201120000"
    cleanup.append(f"{registry}/lab-app:{tag}")
    with pytest.raises(ScanBlocked) as info:
        ship(ctx, app_root=app_repo, gate=(), no_wait=True, clock=lambda: first)
    err = info.value
    assert err.exit_code == 16
    listed = [line for line in err.findings if VULN in line]
    # The image has both binary packages of the source package openssl: trivy reports each.
    assert [line.split()[2] for line in listed] == ["libssl3", "openssl"], err.findings
    assert all("CRITICAL" in line and " 3.0." in line and f"fixed in {FIXED}" in line for line in listed)
    assert served_digest(registry, "lab-app", tag) is None  # nothing pushed
    seed_only = sh("git", "-C", remote, "log", "--format=%s", "main").stdout.splitlines()
    assert len(seed_only) == 1 and seed_only[0].startswith("seed:"), seed_only  # no deploy commit
    report = ctx.settings.state_dir / "scans" / f"{tag}.trivy.json"
    assert report.is_file() and f"trivy convert --format table {report}" in (err.hint or "")
    shown = subprocess.run(["trivy", "convert", "--format", "table", str(report)], capture_output=True, text=True)
    assert shown.returncode == 0 and VULN in shown.stdout, shown.stderr  # the hint's command works

    second = datetime(2026, 12, 1, 12, 0, 1, tzinfo=UTC)
    accepted = [VULN]
    result = ship(ctx, app_root=app_repo, gate=(), no_wait=True, clock=lambda: second, allow_vulnerable=accepted)
    cleanup.append(result.image)
    assert served_digest(registry, "lab-app", result.tag) == result.digest
    assert remote_head(remote) == result.gitops_commit
    trailers = trailers_of(remote)
    assert trailers["Image-Scan"].startswith(f"trivy {versions.TRIVY_VERSION.removeprefix('v')}, threshold CRITICAL")
    assert ": 0 blocking, 2 accepted" in trailers["Image-Scan"]
    message = sh("git", "-C", remote, "log", "-1", "--format=%B", "main").stdout
    parsed = sh("git", "interpret-trailers", "--parse", input=message).stdout.splitlines()
    risks = [line.removeprefix("Accepted-Risk: ") for line in parsed if line.startswith("Accepted-Risk: ")]
    assert [r.split()[:2] for r in risks] == [[VULN, "libssl3"], [VULN, "openssl"]], parsed
    assert all(r.endswith(f"(CRITICAL, fixed in {FIXED})") for r in risks)
